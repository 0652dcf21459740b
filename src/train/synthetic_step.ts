// A training set-up for measuring, not learning: synthetic weights, AdamW (lr 1e-4, weight decay
// 1e-5), a Trainer without stochastic depth (every step does the same work) and random batches.
// The benchmarks (bench/suites/model.ts, bench/profile.ts) and `npm run doctor` time steps with it.
import { makeConfig, type SegFaceConfig } from '../model/config.js';
import { syntheticParams, type ParamStore } from '../model/params.js';
import { AdamW } from '../runtime/ops/adamw.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Batch } from './data/dataset.js';
import { MultiStepLR } from './schedule.js';
import { Trainer } from './trainer.js';

/** A normalised-looking random image batch with random labels over the config's classes. */
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

export interface ModelUnderTest { cfg: SegFaceConfig; params: ParamStore; optim: AdamW; trainer: Trainer; classes: number; release(): void }

/** Synthetic weights, AdamW (lr 1e-4, weight decay 1e-5) and a Trainer without stochastic depth. */
export function buildModel(rt: Runtime, backbone: string, seed = 1): ModelUnderTest {
  const cfg = makeConfig(backbone, 'celeb');
  const params = syntheticParams(rt, cfg, seed);
  const optim = new AdamW(params.params(), { lr: 1e-4, weightDecay: 1e-5 });
  const trainer = new Trainer(rt, params, optim, new MultiStepLR(1e-4, []), seed, false);
  return {
    cfg, params, optim, trainer, classes: 19,
    release() {
      optim.destroy();
      params.release();
    },
  };
}
