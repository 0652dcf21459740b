// `npm run eval` end to end: a tiny LaPa checkpoint on a fake LaPa val split (landmark warp on by
// default) and a Helen run (merged F1s), each against a confusion matrix computed here directly
// from the same forward passes (same counts exactly, same printed table, same JSON numbers); the
// synthetic default (no --data-dir) runs out of the box; a bad --data-dir fails naming the path.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CLASS_NAMES, makeConfig } from '../../src/model/config.js';
import { segfaceForward } from '../../src/model/segface.js';
import { loadWeightsFile } from '../../src/model/weights_file.js';
import { loadBatch, sequentialBatches } from '../../src/train/data/batches.js';
import { writeFakeHelen, writeFakeLapa } from '../fake_datasets.js';
import { openDataset, type DatasetName } from '../../src/train/data/open.js';
import { ConfusionMatrix, HELEN_MERGES } from '../../src/train/metrics.js';
import { argmaxClasses } from '../../src/runtime/reference/argmax.js';
import { useRuntime } from '../harness.js';
import { writeSyntheticWeights } from './weights_fixture.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'eval-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const tsx = join(root, 'node_modules/.bin/tsx');
const segface = join(root, 'src/cli/segface.ts');
const rt = useRuntime();
const RES = 32;
const BATCH = 2;

function checkpoint(): string {
  const cfg = makeConfig('tiny', 'lapa');
  const path = join(dir, 'tiny_lapa.safetensors');
  writeSyntheticWeights(path, cfg, 4);
  return path;
}

/** The confusion matrix computed in-process: same loader, same forward, same argmax. */
async function direct(ckpt: string, name: DatasetName, dataDir: string, split: 'val' | 'test', warp: boolean): Promise<ConfusionMatrix> {
  const { params } = loadWeightsFile(rt(), ckpt);
  const ds = openDataset(name, dataDir, split, RES);
  const cm = new ConfusionMatrix(ds.classes);
  for (const indices of sequentialBatches(ds.length, BATCH)) {
    const b = loadBatch(ds, indices, 0, 'stop').batch!;
    const logits = rt().withoutGrad(() => rt().scope(() =>
      segfaceForward(params, rt().tensor(b.images, [b.size, 3, RES, RES]), warp ? { landmarks: b.landmarks } : {})));
    const pred = argmaxClasses((await logits.read()) as Float32Array, b.size, ds.classes, RES * RES);
    logits.release();
    cm.add(b.labels, pred);
  }
  params.release();
  return cm;
}

function run(args: string[]): string {
  return execFileSync(tsx, [segface, 'eval', ...args], { cwd: root, stdio: 'pipe' }).toString();
}

interface EvalJson {
  images: number; landmarksWarp: boolean; split: string;
  metrics: { meanF1: number; mIoU: number; pixelAccuracy: number; classes: { name: string; f1: number | null }[]; merged?: Record<string, number> };
  officialSubset?: { images: number };
  confusion: { classes: number; hist: number[] };
}

describe('npm run eval', () => {
  const ckpt = checkpoint();

  it('LaPa val (warp on by default): table and JSON equal the directly computed confusion matrix', async () => {
    const data = join(dir, 'lapa');
    writeFakeLapa(data, 'val', 3, { width: 40, height: 48 });
    const json = join(dir, 'lapa.json');
    const out = run(['--checkpoint', ckpt, '--data-dir', data, '--dataset', 'lapa', '--res', String(RES), '--batch', String(BATCH), '--json', json]);
    const cm = await direct(ckpt, 'lapa', data, 'val', true);
    const j = JSON.parse(readFileSync(json, 'utf8')) as EvalJson;
    expect(j.landmarksWarp).toBe(true);
    expect(j.images).toBe(3);
    expect(j.confusion.hist).toEqual(Array.from(cm.hist));
    const r = cm.results();
    expect(j.metrics.meanF1).toBe(r.meanF1);
    expect(j.metrics.mIoU).toBe(r.mIoU);
    expect(j.metrics.pixelAccuracy).toBe(r.pixelAccuracy);
    expect(j.metrics.classes.map((c) => c.name)).toEqual(CLASS_NAMES.lapa);
    expect(out).toContain(cm.formatTable(CLASS_NAMES.lapa));
    expect(j.officialSubset?.images).toBe(2); // drop_last with batch 2 leaves out the third image
  }, 300_000);

  it('Helen (test split, no warp): merged F1s as the matrix computes them', async () => {
    const data = join(dir, 'helen');
    writeFakeHelen(data, { test: 2 }, { width: 48, height: 40 });
    const json = join(dir, 'helen.json');
    const out = run(['--checkpoint', ckpt, '--data-dir', data, '--dataset', 'helen', '--res', String(RES), '--batch', String(BATCH), '--json', json]);
    const cm = await direct(ckpt, 'helen', data, 'test', false);
    const j = JSON.parse(readFileSync(json, 'utf8')) as EvalJson;
    expect(j.split).toBe('test');
    expect(j.landmarksWarp).toBe(false);
    expect(j.confusion.hist).toEqual(Array.from(cm.hist));
    expect(j.metrics.merged).toEqual(cm.results(HELEN_MERGES).merged);
    expect(out).toContain(cm.formatTable(CLASS_NAMES.helen as string[], HELEN_MERGES));
    expect(j.officialSubset).toBeUndefined();
  }, 300_000);

  it('runs on the synthetic val split without --data-dir', () => {
    const out = run(['--checkpoint', ckpt, '--res', String(RES), '--val-size', '4', '--dataset', 'lapa']);
    expect(out).toMatch(/synthetic-lapa-val: 4 images/);
    expect(out).toMatch(/Mean F1 \(classes 1\.\.10\)/);
  }, 300_000);

  it('a missing --data-dir fails naming it', () => {
    const r = spawnSync(tsx, [segface, 'eval', '--checkpoint', ckpt, '--data-dir', join(dir, 'nowhere'), '--dataset', 'lapa', '--res', String(RES)], { cwd: root });
    expect(r.status).toBe(2);
    expect(r.stderr.toString()).toMatch(/nowhere: no such directory/);
  }, 120_000);
});
