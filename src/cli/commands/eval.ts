// `segface eval --checkpoint FILE|RUN_DIR [--data-dir DIR|synthetic] [--dataset celeb|lapa|helen]
//   [--split val|test|train] [--res N] [--batch N] [--json OUT.json] [--landmarks-warp on|off]
//   [--bad-samples skip|stop] [--workers N]`
// The official metrics (inference.py; src/train/metrics.ts) of a checkpoint on a dataset split:
// one confusion matrix over every image, per-class F1 and IoU, mean F1 (classes 1..K−1), mIoU,
// pixel accuracy, and Helen's merged F1s. Without --data-dir (or with `synthetic`) it evaluates on
// the built-in synthetic validation split of the run that wrote the checkpoint (its resolution,
// split size and seed come from the checkpoint), so it works right after `segface train`.
// The official loaders drop the last incomplete batch (drop_last=True); that subset's figures are
// reported alongside when the last batch is incomplete.
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADAPTER_FLAG, NO_TUNE_FLAG, PRECISION_FLAG, type Command } from '../args.js';
import { CLASS_NAMES, type Dataset as LabelSet } from '../../model/config.js';
import { segfaceClasses } from '../../model/classes.js';
import { inferConfig, loadParams } from '../../model/params.js';
import { readStateDict } from '../../model/weights_file.js';
import { readSafetensorsMetadata } from '../../runtime/formats/safetensors.js';
import { openRuntime } from '../runtime.js';
import { CHECKPOINT_FILE } from '../../train/checkpoint.js';
import { sequentialBatches } from '../../train/data/batches.js';
import { describeSkipped, FileDataset, type SkippedSample, type Split } from '../../train/data/file_dataset.js';
import { openFromSpec, validationSplit, type DatasetSpec } from '../../train/data/open.js';
import { BatchPrefetcher } from '../../train/data/prefetch.js';
import { ConfusionMatrix, HELEN_MERGES, type MetricResults } from '../../train/metrics.js';

export const command: Command = {
  name: 'eval',
  summary: 'the official metrics (per-class F1, mean F1, mIoU, pixel accuracy) of a checkpoint on a dataset split',
  usage: ['--checkpoint FILE|RUN_DIR [options]'],
  flags: {
    checkpoint: { type: 'string', value: 'FILE|DIR', exists: 'any', help: `.safetensors / official .pt weights, or a run directory (its ${CHECKPOINT_FILE})` },
    'data-dir': { type: 'string', value: 'DIR', help: "dataset root (holding CelebAMask-HQ/, LaPa/ or helen/, or that folder itself);\nomitted or 'synthetic': the built-in synthetic val split of the checkpoint's run" },
    dataset: { type: 'string', choices: ['celeb', 'lapa', 'helen'], help: 'label set (default: from the checkpoint; 11 classes -> lapa)' },
    split: { type: 'string', choices: ['val', 'test', 'train'], help: 'dataset split (default val; Helen: test)' },
    res: { type: 'int', min: 4, help: "input resolution (default: the training run's, else 512)" },
    batch: { type: 'int', default: 4, help: 'images per forward' },
    json: { type: 'string', value: 'FILE', help: 'also write the metrics as JSON' },
    'landmarks-warp': { type: 'string', choices: ['on', 'off'], help: "LaPa's landmark-guided warp (default on for lapa)" },
    'bad-samples': { type: 'string', choices: ['skip', 'stop'], default: 'stop', help: 'leave bad samples out (counted) or stop at the first, naming the file' },
    workers: { type: 'int', min: 0, help: 'loader worker threads (default 2 with --data-dir, else 0)' },
    'val-size': { type: 'int', help: "synthetic split size (default: the training run's, else 64)" },
    seed: { type: 'int', min: 0, help: "synthetic split seed (default: the training run's, else 1)" },
    precision: PRECISION_FLAG,
    adapter: ADAPTER_FLAG,
    'no-tune': NO_TUNE_FLAG,
  },
  async run(args) {
    const checkpoint = args.need<string>('checkpoint');
    const ckptPath = statSync(checkpoint).isDirectory() ? join(checkpoint, CHECKPOINT_FILE) : checkpoint;
    if (!existsSync(ckptPath)) args.fail(`--checkpoint ${checkpoint}: ${ckptPath} does not exist`);
    const batchSize = args.int('batch')!;
    // A training checkpoint remembers its run's arguments (resolution, synthetic split, seed).
    let trainArgs: { res?: number; valSize?: number; seed?: number } = {};
    if (ckptPath.endsWith('.safetensors')) {
      const raw = readSafetensorsMetadata(ckptPath).segface_train_state;
      if (raw) trainArgs = (JSON.parse(raw) as { args?: typeof trainArgs }).args ?? {};
    }
    const res = args.int('res') ?? trainArgs.res ?? 512;
    if (res % 4 !== 0) args.fail(`--res ${res}: must be a multiple of 4`);
    const dataDir = args.str('data-dir');
    const synthetic = dataDir === undefined || dataDir === 'synthetic';
    // The weights and the dataset are read and checked before the GPU opens.
    const state = readStateDict(ckptPath);
    const cfg = inferConfig(new Map([...state].map(([k, t]) => [k, t.shape])), ckptPath);
    const dataset = (args.str('dataset') as LabelSet | undefined) ?? cfg.dataset;
    const names = CLASS_NAMES[dataset];
    if (names.length !== CLASS_NAMES[cfg.dataset].length) args.fail(`--dataset ${dataset} has ${names.length} classes, the checkpoint ${CLASS_NAMES[cfg.dataset].length}`);
    const warp = (args.str('landmarks-warp') ?? (dataset === 'lapa' ? 'on' : 'off')) === 'on';
    if (warp && cfg.dataset !== 'lapa') args.fail(`--landmarks-warp on: only LaPa models warp (this checkpoint is ${cfg.dataset})`);
    const split: Split = (args.str('split') as Split | undefined) ?? (synthetic ? 'val' : validationSplit(dataset));
    const spec: DatasetSpec = synthetic
      ? {
        kind: 'synthetic', split: split === 'train' ? 'train' : 'val', res, labels: dataset,
        length: args.int('val-size') ?? trainArgs.valSize ?? 64, seed: args.int('seed') ?? trainArgs.seed ?? 1,
      }
      : { kind: dataset, dataDir: dataDir!, split, res, onBad: args.str('bad-samples') as 'skip' | 'stop', seed: 0, augment: false };
    const ds = ((): ReturnType<typeof openFromSpec> => {
      try { return openFromSpec(spec); } catch (e) { return args.fail((e as Error).message); }
    })();
    const skipped: SkippedSample[] = ds instanceof FileDataset ? [...ds.skipped] : [];
    const workers = args.int('workers') ?? (synthetic ? 0 : 2);

    const rt = await openRuntime(args);
    const params = loadParams(rt, cfg, state, ckptPath);
    console.log(`adapter ${rt.device.name}; ${cfg.backbone}/${dataset} from ${ckptPath}; ${ds.name}: ${ds.length} images at ${res} px` +
      `${warp ? ', landmark warp on' : ''}${skipped.length ? `; ${describeSkipped(skipped)}` : ''}`);
    const cm = new ConfusionMatrix(names.length);
    const dropLast = new ConfusionMatrix(names.length); // the official drop_last=True subset
    const jobs = sequentialBatches(ds.length, batchSize).map((indices) => ({ indices, epoch: 0 }));
    const loader = new BatchPrefetcher(spec, { workers });
    let images = 0, dropLastImages = 0;
    const t0 = performance.now();
    try {
      for await (const lb of loader.batches(jobs)) {
        skipped.push(...lb.skipped);
        const b = lb.batch;
        if (!b) continue;
        if (warp && !b.landmarks) throw new Error(`${ds.name}: batch ${b.names.join(', ')} has no landmarks; use --landmarks-warp off`);
        const input = rt.tensor(b.images, [b.size, 3, res, res]);
        const { classes: pred } = await segfaceClasses(params, input, { ...(warp ? { landmarks: b.landmarks } : {}), precision: args.precision() });
        input.release();
        cm.add(b.labels, pred);
        images += b.size;
        if (lb.indices.length === batchSize) { dropLast.add(b.labels, pred); dropLastImages += b.size; }
        if (process.stdout.isTTY) process.stdout.write(`\r${images}/${ds.length} images`);
      }
    } finally {
      await loader.close();
    }
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
    const json = args.str('json');
    if (json) {
      const out = {
        checkpoint: ckptPath, backbone: cfg.backbone, dataset, dataDir: synthetic ? 'synthetic' : dataDir, split, datasetName: ds.name,
        res, batch: batchSize, landmarksWarp: warp, images, seconds,
        skipped, units: 'f1 and meanF1 are fractions (NaN -> null: class absent in gt and prediction); iou, mIoU and accuracies are percent',
        metrics: summary(cm.results(merges)),
        ...(incomplete ? { officialSubset: { images: dropLastImages, ...summary(sub) } } : {}),
        confusion: cm.toJSON(),
      };
      writeFileSync(json, JSON.stringify(out, null, 2) + '\n');
      console.log(`metrics: ${json}`);
    }
    params.release();
    rt.destroy();
  },
};
