// Pre-tuning: measure every kernel tuning unit a training step of one configuration meets, so
// that later runs (train, predict, eval, bench) start on the tuned kernels.
//
// It runs one forward + loss + backward + AdamW step of the configuration on synthetic weights and a
// synthetic batch: each op asks the runtime's tuner for its unit (runtime/tuner.ts), new units are
// queued, and the step's loss readback measures them, with the batch empty (never inside the
// step). A second step then checks that every unit met has a winner. Results go to the runtime's
// tuning store (Node: ~/.cache/segface-webgpu/), keyed by adapter, driver and kernel checksums.
import { makeConfig } from '../model/config.js';
import { syntheticParams } from '../model/params.js';
import { AdamW } from '../runtime/ops/adamw.js';
import type { Runtime } from '../runtime/runtime.js';
import type { TuneProgress, TuneRecord } from '../runtime/tuner.js';
import type { Batch } from './data/dataset.js';
import { MultiStepLR } from './schedule.js';
import { Trainer } from './trainer.js';

/** A deterministic synthetic batch: images in [-2, 2), labels uniform over the classes. */
export function syntheticBatch(res: number, batch: number, classes: number, seed: number): Batch {
  const px = res * res;
  const images = new Float32Array(batch * 3 * px);
  const labels = new Int32Array(batch * px);
  let s = seed >>> 0;
  const next = (): number => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
  for (let i = 0; i < images.length; i++) images[i] = 4 * next() - 2;
  for (let i = 0; i < labels.length; i++) labels[i] = Math.floor(next() * classes);
  return { images, labels, size: batch, names: Array.from({ length: batch }, (_, i) => `synthetic${i}`) };
}

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
  const cfg = makeConfig(opts.backbone, 'celeb');
  const params = syntheticParams(rt, cfg, 1);
  const optim = new AdamW(params.params(), { lr: 1e-4, weightDecay: 1e-5 });
  const trainer = new Trainer(rt, params, optim, new MultiStepLR(1e-4, []), 1, false);
  const batch = syntheticBatch(opts.res, opts.batch ?? 1, 19, 7);
  const wasEnabled = rt.tuner.enabled;
  const wasProgress = rt.tuner.onMeasured;
  rt.tuner.enabled = true;
  const measured: TuneRecord[] = [];
  rt.tuner.onMeasured = (done, total, rec) => { measured.push(rec); opts.onUnit?.(done, total, rec); };
  try {
    await trainer.step(batch, opts.res, 0, 0);
    await rt.tunePending();
    await trainer.step(batch, opts.res, 0, 1);
    await rt.tunePending();
  } finally {
    rt.tuner.enabled = wasEnabled;
    rt.tuner.onMeasured = wasProgress;
    params.release();
    for (const t of [...optim.expAvg, ...optim.expAvgSq]) t.release();
    await rt.sync();
  }
  return { measured, known: rt.tuner.list() };
}
