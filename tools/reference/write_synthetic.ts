// Writes the synthetic faces of a training recipe once, for tools/reference/train_synthetic.py:
//   npx tsx tools/reference/write_synthetic.ts --preset default --seed 1 --out DIR/synthetic.safetensors
// The file holds exactly what `npm run train` feeds the network: train.images / val.images (N, 3,
// H, W) float32, already normalised (ImageNet mean/std, as the loader does), train.labels /
// val.labels (N, H, W) int32 in CelebAMask-HQ's class order, and order (epochs, steps, batch) int32:
// the sample indices of every step (the run's seeded shuffle). Metadata "recipe" is the run's settings
// (the preset with the seed, as `segface train` makes them) as JSON, so the PyTorch side trains the same recipe on the same samples in the same order.
// (A lossless tensor dump rather than CelebAMask-HQ's folders: their images are JPEGs, which would
// change the pixels the two trainers see.)
import { parseArgs } from 'node:util';
import { writeSafetensors } from '../../src/runtime/formats/safetensors.js';
import { epochBatches, makeBatch } from '../../src/train/data/dataset.js';
import { SyntheticDataset } from '../../src/train/data/synthetic_dataset.js';
import { withDefaults } from '../../src/train/defaults.js';
import { presetNamed } from '../../src/train/presets.js';

const { values: v } = parseArgs({ options: {
  preset: { type: 'string', default: 'default' }, seed: { type: 'string', default: '1' }, out: { type: 'string' },
  epochs: { type: 'string' }, 'train-size': { type: 'string' }, batch: { type: 'string' },
} });
if (!v.out) { console.error('usage: npx tsx tools/reference/write_synthetic.ts --preset NAME --seed N [--epochs N] [--train-size N] [--batch N] --out FILE.safetensors'); process.exit(2); }
const seed = Number(v.seed);
// The run's settings exactly as `segface train --preset NAME --seed N [--epochs N --train-size N --batch N]` makes them on synthetic faces.
const preset = withDefaults({
  seed, ...(v.epochs ? { epochs: Number(v.epochs) } : {}), ...(v['train-size'] ? { trainSize: Number(v['train-size']) } : {}),
  ...(v.batch ? { batch: Number(v.batch) } : {}),
}, presetNamed(v.preset!));
const split = (name: 'train' | 'val', n: number): { images: Float32Array; labels: Int32Array } => {
  const ds = new SyntheticDataset(name, n, preset.res, 'celeb', seed);
  const b = makeBatch(ds, Array.from({ length: n }, (_, i) => i));
  return { images: b.images, labels: b.labels };
};
const train = split('train', preset.trainSize), val = split('val', preset.valSize);
const orders = Array.from({ length: preset.epochs }, (_, e) => epochBatches(preset.trainSize, preset.batch, seed, e));
const steps = orders[0]!.length;
const r = preset.res;
writeSafetensors(v.out, {
  'train.images': { shape: [preset.trainSize, 3, r, r], data: train.images },
  'train.labels': { shape: [preset.trainSize, r, r], data: train.labels },
  'val.images': { shape: [preset.valSize, 3, r, r], data: val.images },
  'val.labels': { shape: [preset.valSize, r, r], data: val.labels },
  order: { shape: [preset.epochs, steps, preset.batch], data: Int32Array.from(orders.flat(2)) },
}, { recipe: JSON.stringify({ ...preset, preset: v.preset }) });
console.log(`${v.out}: ${preset.trainSize} train / ${preset.valSize} val at ${r} px, ${preset.epochs} epochs × ${steps} steps of ${preset.batch}`);
