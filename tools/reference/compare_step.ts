// One training step of the default recipe's model, engine against a float64 PyTorch step
// (tools/reference/train_ref.py train): the loss and every parameter's gradient, side by side.
//   npx tsx tools/reference/compare_step.ts [--res 64] [--batch 4] [--seed 1]
// Prints the three losses (engine, PyTorch float64, PyTorch float32) and, per tensor, the RMS error
// of our gradient against float64 relative to the gradient's RMS, next to PyTorch float32's own
// (rounding32); the 12 worst ratios first. Stochastic depth is off (as in the default recipe), so
// both sides compute exactly the same function. A tensor whose exact gradient is zero (an
// invariance: the softmax ignores a shift shared by every logit) shows relative errors of 1e8 and
// more on both sides: pure rounding.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeConfig } from '../../src/model/config.js';
import { syntheticParams } from '../../src/model/params.js';
import { segfaceForward } from '../../src/model/segface.js';
import { readSafetensors, readSafetensorsMetadata, writeSafetensors } from '../../src/runtime/formats/safetensors.js';
import { segLoss } from '../../src/runtime/ops/loss.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { epochBatches, makeBatch } from '../../src/train/data/dataset.js';
import { SyntheticDataset } from '../../src/train/data/synthetic_dataset.js';
import { PRESETS } from '../../src/train/presets.js';

const D = PRESETS.default!;
const { values: v } = parseArgs({ options: { res: { type: 'string', default: String(D.res) }, batch: { type: 'string', default: String(D.batch) }, seed: { type: 'string', default: '1' } } });
const RES = Number(v.res), B = Number(v.batch), SEED = Number(v.seed);
const dir = mkdtempSync(join(tmpdir(), 'compare-step-'));
const cfg = makeConfig(D.model, 'celeb');
cfg.stochasticDepth = 0;
const data = new SyntheticDataset('train', B, RES, 'celeb', SEED);
const batch = makeBatch(data, epochBatches(data.length, B, SEED, 0)[0]!);
writeSafetensors(join(dir, 'in.safetensors'), { images: { shape: [1, B, 3, RES, RES], data: batch.images }, labels: { shape: [1, B, RES, RES], data: batch.labels } });
execFileSync('/usr/bin/python3', [join(import.meta.dirname, 'train_ref.py'), 'train', '--inputs', join(dir, 'in.safetensors'), '--out', join(dir, 'out.safetensors'), '--config',
  JSON.stringify({ backbone: D.model, dataset: 'celeb', seed: SEED, lr: 1e-4, weight_decay: 1e-5, milestones: [], gamma: 0.1 })], { stdio: ['ignore', 'inherit', 'ignore'] });
const ref = readSafetensors(join(dir, 'out.safetensors'));
const meta = readSafetensorsMetadata(join(dir, 'out.safetensors'));
const rounding32 = JSON.parse(meta.rounding32!) as Record<string, number[]>;

const rt = await Runtime.create();
const params = syntheticParams(rt, cfg, SEED);
const loss = rt.scope(() => segLoss(segfaceForward(params, rt.tensor(batch.images, [B, 3, RES, RES]), { train: false }), rt.tensor(batch.labels, [B, RES, RES], 'i32')));
rt.backward(loss.total);
console.log(`${D.model} at ${RES} px, batch ${B}, seed ${SEED}; loss [total, ce, dice]: engine ${JSON.stringify([await loss.total.item(), await loss.ce.item(), await loss.dice.item()])}, ` +
  `PyTorch float64 ${meta.losses}, float32 ${meta.losses32}`);
const rows: [number, string][] = [];
for (const p of params.params()) {
  const g64 = ref.get(`step0.grad.${p.name}`)?.data;
  if (!g64 || !p.grad) { console.log(`${p.name}: no gradient (engine ${p.grad ? 'has one' : 'none'}, PyTorch ${g64 ? 'has one' : 'none'})`); continue; }
  const g = await p.grad.read();
  let err = 0, norm = 0, dot = 0, ours = 0;
  for (let i = 0; i < g.length; i++) { err += (g[i]! - g64[i]!) ** 2; norm += g64[i]! ** 2; dot += g[i]! * g64[i]!; ours += g[i]! ** 2; }
  const rel = Math.sqrt(err / norm), torchRel = rounding32[p.name!]![0]! / Math.sqrt(norm / g.length);
  rows.push([rel / torchRel, `${p.name}: ours ${rel.toExponential(2)}, PyTorch float32 ${torchRel.toExponential(2)}, cosine to float64 ${(dot / Math.sqrt(norm * ours)).toFixed(7)}`]);
}
rows.sort((a, b) => b[0] - a[0]);
console.log('relative gradient error (RMS error / RMS gradient), worst ratio ours / PyTorch float32 first:');
for (const [r, line] of rows.slice(0, 12)) console.log(`${r.toFixed(2)}×  ${line}`);
const cosine = (line: string): number => Number(line.split('cosine to float64 ')[1]);
const apart = rows.filter(([, l]) => !(cosine(l) >= 0.999999));
const rest = rows.filter(([, l]) => cosine(l) >= 0.999999);
console.log(`${rows.length} tensors: cosine to float64 >= 0.999999 on ${rest.length}, worst ratio among them ${Math.max(...rest.map(([r]) => r)).toFixed(2)}×; ` +
  `below: ${apart.map(([, l]) => l.split(':')[0]).join(', ') || 'none'}`);
rt.destroy?.();
process.exit(0);
