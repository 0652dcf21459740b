// TrainingRun in-process: a run stopped after its first step (as Ctrl-C does) and resumed ends
// with exactly the weights, moments and step log of an uninterrupted run; settings come from
// TRAIN_DEFAULTS where not given, and a resumed run refuses to change a fixed setting; the
// warm-up + cosine schedule resumes exactly, and a checkpoint older than schedules resumes as MultiStepLR
// (and one without a stochastic-depth rate or clipping with the backbone's rate and no clipping).
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors } from '../../src/runtime/formats/safetensors.js';
import { CHECKPOINT_FILE, loadCheckpoint } from '../../src/train/checkpoint.js';
import { TRAIN_DEFAULTS } from '../../src/train/defaults.js';
import { SettingsError, TrainingRun, type StepRecord } from '../../src/train/run.js';
import { MultiStepLR } from '../../src/train/schedule.js';

const dir = mkdtempSync(join(tmpdir(), 'training-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SETTINGS = { model: 'tiny', dataset: 'lapa' as const, res: 32, batch: 2, trainSize: 4, valSize: 2, epochs: 2, seed: 5, warmupSteps: 1 };
const steps = (runDir: string): number[] => readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n')
  .map((l) => JSON.parse(l) as { kind: string; step?: number }).filter((m) => m.kind === 'train').map((m) => m.step!);

describe('TrainingRun', () => {
  it('stopped after one step and resumed, it ends exactly where an uninterrupted run ends', async () => {
    const a = join(dir, 'interrupted');
    const first = await TrainingRun.open({ dir: a, settings: SETTINGS, quiet: true, stopOnSigint: false,
      onStep: (s: StepRecord) => { if (s.step === 1) first.requestStop(); } });
    expect(first.settings.lr).toBe(TRAIN_DEFAULTS.synthetic.lr);            // not given: the default recipe
    expect(first.settings.weightDecay).toBe(TRAIN_DEFAULTS.weightDecay);
    expect(first.settings.schedule).toBe('cosine');                        // synthetic faces: warm-up + cosine (over the 4 steps)
    expect(first.settings.dropPath).toBe(TRAIN_DEFAULTS.synthetic.dropPath); // synthetic faces: the recipe's stochastic depth
    expect(first.cfg.stochasticDepth).toBe(TRAIN_DEFAULTS.synthetic.dropPath);
    expect(first.optim.maxGradNorm).toBe(TRAIN_DEFAULTS.synthetic.clipGrad);  // and its gradient clipping
    const r1 = await first.run();
    first.close();
    expect(r1.outcome).toBe('interrupted');
    expect([r1.state.epoch, r1.state.batchInEpoch, r1.state.globalStep]).toEqual([0, 1, 1]);

    await expect(TrainingRun.open({ dir: a, resume: true, settings: { res: 64 }, quiet: true })).rejects.toThrow(SettingsError);
    const resumed = await TrainingRun.open({ dir: a, resume: true, quiet: true, stopOnSigint: false });
    expect(resumed.settings).toEqual(first.settings);                      // the saved run's settings
    const r2 = await resumed.run();
    resumed.close();
    expect(r2.outcome).toBe('finished');
    expect([r2.state.epoch, r2.state.batchInEpoch, r2.state.globalStep]).toEqual([2, 0, 4]);
    expect(steps(a)).toEqual([1, 2, 3, 4]);                                 // every step ran once
    expect(Number.isFinite(r2.meanF1)).toBe(true);

    const b = join(dir, 'straight');
    const straight = await TrainingRun.open({ dir: b, settings: SETTINGS, quiet: true, stopOnSigint: false });
    const r3 = await straight.run();
    straight.close();
    expect(r3.state.globalStep).toBe(4);
    const want = loadCheckpoint(b);
    const got = loadCheckpoint(a);
    for (const [name, t] of want.weights) expect(Array.from(got.weights.get(name)!.data), name).toEqual(Array.from(t.data));
    for (const [name, t] of want.expAvgSq) expect(Array.from(got.expAvgSq.get(name)!.data), name).toEqual(Array.from(t.data));
    expect(got.state.args).toMatchObject({ schedule: 'cosine', warmupSteps: 1 });
    expect(got.state.stepsPerEpoch).toBe(2);

    // A checkpoint saved before schedules were named (no schedule, warm-up or floor) resumes as MultiStepLR.
    const c = join(dir, 'old');
    mkdirSync(c);
    const { schedule: _s, warmupSteps: _w, minLr: _m, dropPath: _d, clipGrad: _c, ...oldArgs } = want.state.args;
    const { stepsPerEpoch: _p, ...oldState } = want.state;
    writeSafetensors(join(c, CHECKPOINT_FILE), readSafetensors(join(b, CHECKPOINT_FILE)), { segface_train_state: JSON.stringify({ ...oldState, args: oldArgs }) });
    const old = await TrainingRun.open({ dir: c, resume: true, quiet: true, stopOnSigint: false, settings: { epochs: 3 } });
    expect(old.settings.schedule).toBe('step');
    expect(old.trainer.schedule).toBeInstanceOf(MultiStepLR);
    expect(old.settings.dropPath).toBeUndefined();                        // no rate saved: the backbone's own
    expect(old.cfg.stochasticDepth).toBe(0.2);                            // tiny's official rate
    expect(old.optim.maxGradNorm).toBeUndefined();                        // no clipping saved: none
    old.close();
  }, 300_000);
});
