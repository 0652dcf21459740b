// Training recipes as data. Each preset is a complete TrainRecipe (src/train/defaults.ts); the
// `default` one is TRAIN_DEFAULTS, what `segface train` / `npm run train` runs with no flags on the
// built-in synthetic faces; `--preset long` trains 1.6 times as long. Any flag given
// overrides its field. With --data-dir the model, resolution, batch and epochs still come from the
// preset, but the learning rate and schedule are the official recipe (AdamW 1e-4, ×0.1 at epochs
// 80, 200) unless --lr/--milestones are given (warm-up + cosine is for synthetic data), with the
// backbone's own stochastic depth and no gradient clipping unless --drop-path/--clip-grad are given.
//
// Synthetic schedule: linear warm-up over `warmupSteps` optimizer steps from lr·0.01, then a cosine
// decay to `minLr` at the last step (src/train/schedule.ts, WarmupCosineLR). Why these values: the
// README's "Training on synthetic faces" section.
import type { TrainRecipe } from './defaults.js';

const DEFAULT: TrainRecipe = {
  summary: '1200 steps at 64 px: 4 min 21-27 s measured on 2 idle CPU cores (lavapipe), 59.8 % mean F1',
  dataset: 'celeb',
  model: 'mini',
  res: 64,
  batch: 4,
  epochs: 4,
  weightDecay: 1e-5,
  seed: 1,
  trainSize: 1200,
  valSize: 64,
  evalEvery: 1,
  maxBadSteps: 5,
  badSamples: 'stop',
  precision: 'f32',
  warmupSteps: 40,
  minLr: 2e-5,
  /** Synthetic faces: a fast recipe that visibly learns within minutes on a CPU; no stochastic depth
   *  (every step deterministic, and faster learning on a short run), gradient norm clipped to 1, lr
   *  1.5e-3 (at 2e-3 runs hit loss spikes, clipped or not, that set them back: seed 2 lost about 150
   *  steps to one; 1.5e-3 ended seeds 1 and 2 at 59.8 and 58.9 % against 51.5 and 44.8). */
  synthetic: { lr: 1.5e-3, schedule: 'cosine', milestones: [], workers: 0, dropPath: 0, clipGrad: 1 },
  /** Real datasets: the official recipe (AdamW 1e-4, ×0.1 at epochs 80 and 200). */
  real: { lr: 1e-4, schedule: 'step', milestones: [80, 200], workers: 2 },
};

export const PRESETS: Readonly<Record<string, TrainRecipe>> = {
  default: DEFAULT,
  long: {
    ...DEFAULT,
    summary: '1920 steps at 64 px on 768 faces (10 epochs), lr 2e-3: 70.9 % mean F1',
    trainSize: 768, epochs: 10, warmupSteps: 80, synthetic: { ...DEFAULT.synthetic, lr: 2e-3 },
  },
};

/** The preset called `name`; the message names the flag and the choices. */
export function presetNamed(name: string): TrainRecipe {
  const p = PRESETS[name];
  if (!p) throw new Error(`--preset ${name}: expected one of ${Object.keys(PRESETS).join(', ')}`);
  return p;
}
