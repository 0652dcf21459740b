// `npm run eval -- --checkpoint FILE|RUN_DIR [--data-dir DIR|synthetic] [--dataset celeb|lapa|helen]
//   [--split val|test|train] [--res N] [--batch N] [--json OUT.json] [--landmarks-warp on|off]
//   [--bad-samples skip|stop] [--workers N]`
// The official metrics (inference.py; src/train/metrics.ts) of a checkpoint on a dataset split:
// one confusion matrix over every image, per-class F1 and IoU, mean F1 (classes 1..K−1), mIoU,
// pixel accuracy, and Helen's merged F1s. Without --data-dir (or with `synthetic`) it evaluates on
// the built-in synthetic validation split of the run that wrote the checkpoint (its resolution,
// split size and seed come from the checkpoint), so it works right after `npm run train`.
// The official loaders drop the last incomplete batch (drop_last=True); that subset's figures are
// reported alongside when the last batch is incomplete.
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CLASS_NAMES, type Dataset as LabelSet } from '../../model/config.js';
import { segfaceForward } from '../../model/segface.js';
import { loadWeightsFile } from '../../model/weights_file.js';
import { readSafetensorsMetadata } from '../../runtime/safetensors.js';
import { Runtime } from '../../runtime/runtime.js';
import { announceAdapter } from '../../runtime/host_gpu.js';
import { CHECKPOINT_FILE } from '../checkpoint.js';
import { sequentialBatches } from '../data/batches.js';
import { describeSkipped, FileDataset, type SkippedSample, type Split } from '../data/file_dataset.js';
import { openFromSpec, validationSplit, type DatasetSpec } from '../data/open.js';
import { BatchPrefetcher } from '../data/prefetch.js';
import { ConfusionMatrix, HELEN_MERGES, type MetricResults } from '../metrics.js';
import { argmaxClasses } from '../trainer.js';

const USAGE = `usage: npm run eval -- --checkpoint FILE|RUN_DIR [options]
  --checkpoint FILE|DIR   .safetensors / official .pt weights, or a run directory (its ${CHECKPOINT_FILE})
  --data-dir DIR          dataset root (holding CelebAMask-HQ/, LaPa/ or helen/, or that folder itself);
                          omitted or 'synthetic': the built-in synthetic val split of the checkpoint's run
  --dataset NAME          celeb, lapa or helen (default: from the checkpoint; 11 classes -> lapa)
  --split S               val or test (default val; Helen: test), or train
  --res N                 input resolution (default: the training run's, else 512)
  --batch N               images per forward (default 4)
  --json FILE             also write the metrics as JSON
  --landmarks-warp on|off LaPa's landmark-guided warp (default on for lapa)
  --bad-samples skip|stop leave bad samples out (counted) or stop at the first, naming the file (default stop)
  --workers N             loader worker threads (default 2 with --data-dir, else 0)
  --val-size N / --seed N synthetic split size and seed (default: the training run's, else 64 / 1)
  --adapter I|NAME        WebGPU adapter`;

function fail(msg: string): never {
  console.error(`error: ${msg}\n${USAGE}`);
  process.exit(2);
}

const { values: v } = parseArgs({
  options: {
    checkpoint: { type: 'string' }, 'data-dir': { type: 'string' }, dataset: { type: 'string' }, split: { type: 'string' },
    res: { type: 'string' }, batch: { type: 'string', default: '4' }, json: { type: 'string' }, 'landmarks-warp': { type: 'string' },
    'bad-samples': { type: 'string', default: 'stop' }, workers: { type: 'string' }, 'val-size': { type: 'string' }, seed: { type: 'string' },
    adapter: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false },
  },
});
if (v.help) { console.log(USAGE); process.exit(0); }
const int = (flag: string, s: string, min = 1): number => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) fail(`--${flag} ${s}: expected an integer >= ${min}`);
  return n;
};
if (!v.checkpoint) fail('--checkpoint is required');
const ckptPath = existsSync(v.checkpoint) && statSync(v.checkpoint).isDirectory() ? join(v.checkpoint, CHECKPOINT_FILE) : v.checkpoint;
if (!existsSync(ckptPath)) fail(`--checkpoint ${v.checkpoint}: ${ckptPath} does not exist`);
if (v.dataset !== undefined && !['celeb', 'lapa', 'helen'].includes(v.dataset)) fail(`--dataset ${v.dataset}: expected celeb, lapa or helen`);
if (v.split !== undefined && !['train', 'val', 'test'].includes(v.split)) fail(`--split ${v.split}: expected val, test or train`);
if (v['bad-samples'] !== 'skip' && v['bad-samples'] !== 'stop') fail(`--bad-samples ${v['bad-samples']}: expected skip or stop`);
if (v['landmarks-warp'] !== undefined && !['on', 'off'].includes(v['landmarks-warp'])) fail(`--landmarks-warp ${v['landmarks-warp']}: expected on or off`);
const batchSize = int('batch', v.batch!);

// A training checkpoint remembers its run's arguments (resolution, synthetic split, seed).
let trainArgs: { res?: number; valSize?: number; seed?: number } = {};
if (ckptPath.endsWith('.safetensors')) {
  const raw = readSafetensorsMetadata(ckptPath).segface_train_state;
  if (raw) trainArgs = (JSON.parse(raw) as { args?: typeof trainArgs }).args ?? {};
}
const res = v.res !== undefined ? int('res', v.res, 4) : trainArgs.res ?? 512;
if (res % 4 !== 0) fail(`--res ${res}: must be a multiple of 4`);
const synthetic = v['data-dir'] === undefined || v['data-dir'] === 'synthetic';

const adapter = v.adapter === undefined ? undefined : /^\d+$/.test(v.adapter) ? Number(v.adapter) : v.adapter;
const rt = await Runtime.create(adapter === undefined ? {} : { adapter });
announceAdapter(rt.device.adapter);
let loaded: ReturnType<typeof loadWeightsFile>;
try {
  loaded = loadWeightsFile(rt, ckptPath);
} catch (e) {
  fail((e as Error).message);
}
const { params, cfg } = loaded;
const dataset = (v.dataset as LabelSet | undefined) ?? cfg.dataset;
const names = CLASS_NAMES[dataset];
if (names.length !== CLASS_NAMES[cfg.dataset].length) fail(`--dataset ${dataset} has ${names.length} classes, the checkpoint ${CLASS_NAMES[cfg.dataset].length}`);
const warp = (v['landmarks-warp'] ?? (dataset === 'lapa' ? 'on' : 'off')) === 'on';
if (warp && cfg.dataset !== 'lapa') fail(`--landmarks-warp on: only LaPa models warp (this checkpoint is ${cfg.dataset})`);
const split: Split = (v.split as Split | undefined) ?? (synthetic ? 'val' : validationSplit(dataset));
const spec: DatasetSpec = synthetic
  ? {
    kind: 'synthetic', split: split === 'train' ? 'train' : 'val', res, labels: dataset,
    length: v['val-size'] !== undefined ? int('val-size', v['val-size']) : trainArgs.valSize ?? 64,
    seed: v.seed !== undefined ? int('seed', v.seed, 0) : trainArgs.seed ?? 1,
  }
  : { kind: dataset, dataDir: v['data-dir']!, split, res, onBad: v['bad-samples'] as 'skip' | 'stop', seed: 0, augment: false };
let ds: ReturnType<typeof openFromSpec>;
try {
  ds = openFromSpec(spec);
} catch (e) {
  fail((e as Error).message);
}
const skipped: SkippedSample[] = ds instanceof FileDataset ? [...ds.skipped] : [];
const workers = v.workers !== undefined ? int('workers', v.workers, 0) : synthetic ? 0 : 2;
console.log(`adapter ${rt.device.name}; ${cfg.backbone}/${dataset} from ${ckptPath}; ${ds.name}: ${ds.length} images at ${res} px` +
  `${warp ? ', landmark warp on' : ''}${skipped.length ? `; ${describeSkipped(skipped)}` : ''}`);

const cm = new ConfusionMatrix(names.length);
const dropLast = new ConfusionMatrix(names.length); // the official drop_last=True subset
const jobs = sequentialBatches(ds.length, batchSize).map((indices) => ({ indices, epoch: 0 }));
const loader = new BatchPrefetcher(spec, { workers });
let images = 0, dropLastImages = 0;
const t0 = performance.now();
for await (const lb of loader.batches(jobs)) {
  skipped.push(...lb.skipped);
  const b = lb.batch;
  if (!b) continue;
  if (warp && !b.landmarks) fail(`${ds.name}: batch ${b.names.join(', ')} has no landmarks; use --landmarks-warp off`);
  const logits = rt.withoutGrad(() => rt.scope(() =>
    segfaceForward(params, rt.tensor(b.images, [b.size, 3, res, res]), warp ? { landmarks: b.landmarks } : {})));
  const data = (await logits.read()) as Float32Array;
  logits.release();
  const pred = argmaxClasses(data, b.size, names.length, res * res);
  cm.add(b.labels, pred);
  images += b.size;
  if (lb.indices.length === batchSize) { dropLast.add(b.labels, pred); dropLastImages += b.size; }
  if (process.stdout.isTTY) process.stdout.write(`\r${images}/${ds.length} images`);
}
await loader.close();
const seconds = (performance.now() - t0) / 1000;
if (process.stdout.isTTY) process.stdout.write('\n');
const merges = dataset === 'helen' ? HELEN_MERGES : {};
console.log(cm.formatTable(names, merges));
const incomplete = dropLastImages !== images;
const sub = dropLast.results(merges);
if (incomplete) console.log(`official subset (drop_last, batch ${batchSize}: ${dropLastImages} images): Mean F1 ${(sub.meanF1 * 100).toFixed(2)}, mIoU ${sub.mIoU.toFixed(2)}`);
if (skipped.length) console.log(`bad samples left out: ${describeSkipped(skipped)}`);
console.log(`${images} images in ${seconds.toFixed(1)} s`);

const summary = (r: MetricResults): object => ({
  classes: names.map((n, k) => ({ name: n, f1: r.f1[k], iou: r.iou[k] })),
  meanF1: r.meanF1, mIoU: r.mIoU, pixelAccuracy: r.pixelAccuracy, meanAccuracy: r.meanAccuracy, pixels: r.pixels,
  ...(Object.keys(r.merged).length ? { merged: r.merged } : {}),
});
if (v.json) {
  const out = {
    checkpoint: ckptPath, backbone: cfg.backbone, dataset, dataDir: synthetic ? 'synthetic' : v['data-dir'], split, datasetName: ds.name,
    res, batch: batchSize, landmarksWarp: warp, images, seconds,
    skipped, units: 'f1 and meanF1 are fractions (NaN -> null: class absent in gt and prediction); iou, mIoU and accuracies are percent',
    metrics: summary(cm.results(merges)),
    ...(incomplete ? { officialSubset: { images: dropLastImages, ...summary(sub) } } : {}),
    confusion: cm.toJSON(),
  };
  writeFileSync(v.json, JSON.stringify(out, null, 2) + '\n');
  console.log(`metrics: ${v.json}`);
}
params.release();
rt.destroy();
