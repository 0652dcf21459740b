// f16 mixed-precision training: dynamic loss scaling, and a short run whose loss curve tracks f32's.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/model/config.js';
import { syntheticParams } from '../../src/model/params.js';
import { AdamW } from '../../src/runtime/ops/adamw.js';
import { epochBatches, makeBatch } from '../../src/train/data/dataset.js';
import { SyntheticDataset } from '../../src/train/data/synthetic_dataset.js';
import { LossScaler } from '../../src/train/loss_scale.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { TrainingRun, type StepRecord } from '../../src/train/run.js';
import { MultiStepLR } from '../../src/train/schedule.js';
import { Trainer, type StepResult } from '../../src/train/trainer.js';
import { useRuntime } from '../harness.js';

const rt = useRuntime();

describe('LossScaler', () => {
  it('halves on a skipped step, doubles after growthInterval finite ones, and restores its state', () => {
    const s = new LossScaler({ growthInterval: 3 });
    expect(s.scale).toBe(2 ** 16);
    s.update(false);
    expect(s.scale).toBe(2 ** 15);
    for (let i = 0; i < 2; i++) s.update(true);
    expect(s.scale).toBe(2 ** 15);
    s.update(true);
    expect(s.scale).toBe(2 ** 16);
    s.update(true);
    const t = new LossScaler();
    t.restore(s.state());
    expect(t.state()).toEqual({ scale: 2 ** 16, goodSteps: 1 });
    const floor = new LossScaler({ init: 2 });
    floor.update(false); floor.update(false);
    expect(floor.scale).toBe(1);
  });
});

describe('training in f16 against f32 (tiny, 32 px, batch 2, synthetic LaPa)', () => {
  const RES = 32;
  const STEPS = 16;
  const cfg = makeConfig('tiny', 'lapa');
  const data = new SyntheticDataset('train', 8, RES, 'lapa', 3);
  const batches = epochBatches(data.length, 2, 3, 0);

  /** Pool peak of the steps above what lived before them (weights, moments), per precision: reported. */
  const stepPeak: Record<string, number> = {};
  async function run(precision: 'f32' | 'f16', seed: number): Promise<StepResult[]> {
    const params = syntheticParams(rt(), cfg, 9);
    const optim = new AdamW(params.params(), { lr: 1e-3, weightDecay: 1e-5 });
    const trainer = new Trainer(rt(), params, optim, new MultiStepLR(1e-3, [100]), seed);
    trainer.precision = precision;
    const out: StepResult[] = [];
    await rt().sync();
    rt().pool.resetPeak();
    const base = rt().memory().bytesLive;
    for (let s = 0; s < STEPS; s++) out.push(await trainer.step(makeBatch(data, batches[s % batches.length]!), RES, 0, s));
    stepPeak[precision] = rt().memory().bytesPeak - base;
    params.release();
    optim.destroy();
    return out;
  }

  it('an overflowing f16 backward sets the non-finite flag: the step is skipped, weights kept, the scale halves', async () => {
    const params = syntheticParams(rt(), cfg, 9);
    const optim = new AdamW(params.params(), { lr: 1e-3, weightDecay: 1e-5 });
    const trainer = new Trainer(rt(), params, optim, new MultiStepLR(1e-3, [100]), 3);
    trainer.precision = 'f16';
    // d(loss) = 2^40 makes the f16 gradients of the activations exceed 65504: Inf
    trainer.scaler.restore({ scale: 2 ** 40, goodSteps: 5 });
    const before = await Promise.all(params.params().map((t) => t.read()));
    const r = await trainer.step(makeBatch(data, batches[0]!), RES, 0, 0);
    expect(r.applied).toBe(false);
    expect(r.scale).toBe(2 ** 40);
    expect(trainer.scaler.state()).toEqual({ scale: 2 ** 39, goodSteps: 0 });
    const after = await Promise.all(params.params().map((t) => t.read()));
    after.forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(before[i]!)));
    expect(optim.steps.every((n) => n === 0)).toBe(true);
    params.release();
    optim.destroy();
  }, 300_000);

  // The band: three f32 runs from the same init whose drop-path masks differ (trainer seeds 3, 4,
  // 5) spread by up to W = max over steps of (max − min) across the seeds; the f16 run (seed 3)
  // must stay within W of the seeds' mean at every step, and within W/2 of its own seed's f32 run
  // (same masks: what f16 storage alone changes must be under half of what other masks change).
  // Measured on lavapipe (synthetic LaPa, so through the warp's f16 grid_sample): W = 0.0146, the
  // f16 run's largest distance from the mean 0.0125 and from its own seed's f32 run 0.0041; no
  // step skipped, the scale stayed at 2^16.
  it('the f16 loss curve stays within the spread of three f32 seeds', async () => {
    const f32 = [await run('f32', 3), await run('f32', 4), await run('f32', 5)];
    const f16 = await run('f16', 3);
    const at = (s: number): number[] => f32.map((r) => r[s]!.total);
    const width = Math.max(...Array.from({ length: STEPS }, (_, s) => Math.max(...at(s)) - Math.min(...at(s))));
    let worst = 0;
    let ownSeed = 0;
    for (let s = 0; s < STEPS; s++) {
      const mean = at(s).reduce((a, b) => a + b, 0) / 3;
      worst = Math.max(worst, Math.abs(f16[s]!.total - mean));
      ownSeed = Math.max(ownSeed, Math.abs(f16[s]!.total - at(s)[0]!));
      expect(Math.abs(f16[s]!.total - at(s)[0]!), `step ${s}: f16 ${f16[s]!.total}, f32 same seed ${at(s)[0]}`).toBeLessThanOrEqual(width / 2);
      expect(Math.abs(f16[s]!.total - mean), `step ${s}: f16 ${f16[s]!.total}, f32 ${at(s).join(', ')}`).toBeLessThanOrEqual(width);
      expect(f16[s]!.scale).toBeGreaterThanOrEqual(1);
    }
    const skipped = f16.filter((r) => !r.applied).length;
    console.log(`training step pool peak above weights and moments: f32 ${(stepPeak.f32! / 2 ** 20).toFixed(2)} MiB, f16 ${(stepPeak.f16! / 2 ** 20).toFixed(2)} MiB`);
    console.log(`f16 vs f32 seeds over ${STEPS} steps: band width ${width.toExponential(2)}, f16's largest distance from the mean ${worst.toExponential(2)} (from its own seed's f32 run ${ownSeed.toExponential(2)}), ${skipped} step(s) skipped, final scale ${f16[STEPS - 1]!.scale}`);
    expect(f16.every((r) => Number.isFinite(r.total))).toBe(true);
    expect(f16[STEPS - 1]!.total).toBeLessThan(f16[0]!.total);   // it trains
  }, 900_000);
});

describe('a training run with --precision f16', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mixed-precision-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  it('logs the loss scale per step, saves it in the checkpoint and resumes with it', async () => {
    const settings = { model: 'tiny', dataset: 'lapa' as const, res: 32, batch: 2, trainSize: 4, valSize: 2, epochs: 2, seed: 5, precision: 'f16' as const };
    const runDir = join(dir, 'run');
    const first = await TrainingRun.open({ dir: runDir, settings, quiet: true, stopOnSigint: false,
      onStep: (s: StepRecord) => { if (s.step === 1) first.requestStop(); } });
    first.trainer.scaler.restore({ scale: 2 ** 40, goodSteps: 0 });   // the first step overflows: skipped, scale halves
    const r1 = await first.run();
    first.close();
    expect(r1.state.skippedSteps).toBe(1);
    expect(loadCheckpoint(runDir).state.lossScale).toEqual({ scale: 2 ** 39, goodSteps: 0 });
    const resumed = await TrainingRun.open({ dir: runDir, resume: true, quiet: true, stopOnSigint: false });
    expect(resumed.settings.precision).toBe('f16');
    expect(resumed.trainer.scaler.scale).toBe(2 ** 39);
    resumed.trainer.scaler.restore({ scale: 2 ** 16, goodSteps: 0 });   // the regular start from here on
    const r2 = await resumed.run();
    resumed.close();
    expect(r2.outcome).toBe('finished');
    const log = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; scale?: number; applied?: boolean; loss?: number })
      .filter((m) => m.kind === 'train');
    expect(log.map((m) => m.scale)).toEqual([2 ** 40, 2 ** 16, 2 ** 16, 2 ** 16]);
    expect(log.map((m) => m.applied)).toEqual([false, true, true, true]);
    expect(log.every((m) => Number.isFinite(m.loss))).toBe(true);
    expect(loadCheckpoint(runDir).state.lossScale).toEqual({ scale: 2 ** 16, goodSteps: 3 });
  }, 600_000);
});
