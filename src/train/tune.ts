// Pre-tuning: measure every kernel tuning unit a training step of one configuration meets, so
// that later runs (train, predict, eval, bench) start on the tuned kernels.
//
// It runs one forward + loss + backward + AdamW step of the configuration on synthetic weights and a
// synthetic batch: each op asks the runtime's tuner for its unit (runtime/tuner.ts), new units are
// queued, and the step's loss readback measures them, with the batch empty (never inside the
// step). A second step then checks that every unit met has a winner. Results go to the runtime's
// tuning store (Node: ~/.cache/segface-webgpu/), keyed by adapter, driver and kernel checksums.
import type { Runtime } from '../runtime/runtime.js';
import type { TuneProgress, TuneRecord } from '../runtime/tuner.js';
import { buildModel, syntheticBatch } from './synthetic_step.js';

export interface PretuneOptions {
  backbone: string;
  res: number;
  batch?: number;
  /** Called after each unit is measured. */
  onUnit?: TuneProgress;
}

export interface PretuneResult {
  /** Units measured now. */
  measured: TuneRecord[];
  /** Every unit the runtime knows after the run (measured now or cached before). */
  known: TuneRecord[];
}

/** Runs two training steps of the configuration with tuning on; returns what was measured. */
export async function pretuneTrainingStep(rt: Runtime, opts: PretuneOptions): Promise<PretuneResult> {
  const model = buildModel(rt, opts.backbone);
  const batch = syntheticBatch(opts.res, opts.batch ?? 1, model.classes, 7);
  const wasEnabled = rt.tuner.enabled;
  const wasProgress = rt.tuner.onMeasured;
  rt.tuner.enabled = true;
  const measured: TuneRecord[] = [];
  rt.tuner.onMeasured = (done, total, rec) => { measured.push(rec); opts.onUnit?.(done, total, rec); };
  try {
    await model.trainer.step(batch, opts.res, 0, 0);
    await rt.tunePending();
    await model.trainer.step(batch, opts.res, 0, 1);
    await rt.tunePending();
  } finally {
    rt.tuner.enabled = wasEnabled;
    rt.tuner.onMeasured = wasProgress;
    model.release();
    await rt.sync();
  }
  return { measured, known: rt.tuner.list() };
}
