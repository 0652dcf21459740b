// Training steps: resuming from a checkpoint continues with the same losses as an uninterrupted
// run, and a non-finite step leaves the weights untouched.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/model/config.js';
import { loadParams, syntheticParams, type ParamStore } from '../../src/model/params.js';
import { AdamW } from '../../src/runtime/ops/adamw.js';
import { CHECKPOINT_VERSION, loadCheckpoint, restoreOptimizer, saveCheckpoint } from '../../src/train/checkpoint.js';
import { epochBatches, makeBatch } from '../../src/train/data/dataset.js';
import { SyntheticDataset } from '../../src/train/data/synthetic_dataset.js';
import { MultiStepLR } from '../../src/train/schedule.js';
import { Trainer } from '../../src/train/trainer.js';
import { useRuntime } from '../harness.js';

const rt = useRuntime();
const dir = mkdtempSync(join(tmpdir(), 'trainer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const RES = 32;
const cfg = makeConfig('tiny', 'lapa');
const data = new SyntheticDataset('train', 8, RES, 'lapa', 3);
const batches = epochBatches(data.length, 2, 3, 0);

function setup(params: ParamStore): { trainer: Trainer; optim: AdamW } {
  const optim = new AdamW(params.params(), { lr: 1e-3, weightDecay: 1e-5 });
  return { optim, trainer: new Trainer(rt(), params, optim, new MultiStepLR(1e-3, [1]), 3) };
}

async function weights(p: ParamStore): Promise<Float32Array[]> {
  return Promise.all(p.params().map(async (t) => (await t.read()) as Float32Array));
}

describe('trainer', () => {
  it('resume gives the same losses and weights as an uninterrupted run (within float rounding)', async () => {
    const straight = syntheticParams(rt(), cfg, 9);
    const a = setup(straight);
    const lossesA: number[] = [];
    for (let s = 0; s < 4; s++) lossesA.push((await a.trainer.step(makeBatch(data, batches[s]!), RES, 0, s)).total);

    const first = syntheticParams(rt(), cfg, 9);
    const b = setup(first);
    const lossesB: number[] = [];
    for (let s = 0; s < 2; s++) lossesB.push((await b.trainer.step(makeBatch(data, batches[s]!), RES, 0, s)).total);
    await saveCheckpoint(dir, first, b.optim, { version: CHECKPOINT_VERSION, epoch: 0, batchInEpoch: 2, globalStep: 2, optimSteps: [...b.optim.steps], skippedSteps: 0, args: {} });
    const ck = loadCheckpoint(dir);
    const resumed = loadParams(rt(), cfg, ck.weights, dir);
    const c = setup(resumed);
    restoreOptimizer(c.optim, resumed, ck, dir);
    for (let s = 2; s < 4; s++) lossesB.push((await c.trainer.step(makeBatch(data, batches[s]!), RES, 0, s)).total);

    expect(lossesB).toEqual(lossesA);            // bit-identical: same kernels, same order
    const wa = await weights(straight);
    const wc = await weights(resumed);
    wa.forEach((w, i) => expect(Array.from(wc[i]!)).toEqual(Array.from(w)));
    for (const p of [straight, first, resumed]) p.release();
    for (const o of [a.optim, b.optim, c.optim]) o.destroy();
  }, 600_000);

  it('a step with a non-finite loss is skipped on the GPU: weights unchanged', async () => {
    const params = syntheticParams(rt(), cfg, 4);
    const { trainer, optim } = setup(params);
    const before = await weights(params);
    const bad = makeBatch(data, batches[0]!);
    bad.images[17] = NaN;
    const r = await trainer.step(bad, RES, 0, 0);
    expect(r.applied).toBe(false);
    expect(Number.isFinite(r.total)).toBe(false);
    const after = await weights(params);
    after.forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(before[i]!)));
    expect(optim.steps.every((s) => s === 0)).toBe(true);
    const before2 = { ...rt().counters };
    const good = await trainer.step(makeBatch(data, batches[1]!), RES, 0, 1);
    expect(good.applied).toBe(true);
    // the whole step comes back in one readback
    expect(rt().counters.readbacks - before2.readbacks).toBe(1);
    params.release();
    optim.destroy();
  }, 600_000);
});
