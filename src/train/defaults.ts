// The settings of a training run and their defaults. A recipe (TrainRecipe) gives a default for
// every setting; the recipes themselves are data in src/train/presets.ts, and TRAIN_DEFAULTS is the
// `default` preset. `segface train` shows these in --help and fills what a flag leaves out from the
// chosen preset; a TrainingRun made from code does the same. Where synthetic faces and real datasets
// differ, both are given.
import type { Dataset } from '../model/config.js';
import type { BadSamplePolicy } from './data/file_dataset.js';
import { PRESETS } from './presets.js';

/** Learning-rate schedule: warm-up + per-step cosine (WarmupCosineLR) or per-epoch ×0.1 (MultiStepLR). */
export type ScheduleKind = 'cosine' | 'step';

/** The settings of one run; saved in its checkpoint so that a resumed run continues as it was. */
export interface TrainSettings {
  dataset: Dataset;
  model: string;
  res: number;
  batch: number;
  epochs: number;
  lr: number;
  weightDecay: number;
  schedule: ScheduleKind;
  /** MultiStepLR epochs (×0.1 at each); schedule 'step' only. */
  milestones: number[];
  /** Linear warm-up optimizer steps before the cosine decay; schedule 'cosine' only. */
  warmupSteps: number;
  /** The learning rate the cosine decays to at the run's last step; schedule 'cosine' only. */
  minLr: number;
  /** Stochastic-depth rate of the last Swin block (block k of N drops with rate·k/(N−1));
   *  undefined: the backbone's official rate (src/model/config.ts). */
  dropPath?: number;
  /** Clip the global gradient norm to this before each AdamW step (torch's clip_grad_norm_); undefined: no clipping. */
  clipGrad?: number;
  seed: number;
  /** Synthetic split sizes. */
  trainSize: number;
  valSize: number;
  evalEvery: number;
  /** Stop after this many consecutive non-finite steps (each one is skipped, the weights untouched). */
  maxBadSteps: number;
  /** Real dataset root; undefined: the built-in synthetic faces. */
  dataDir: string | undefined;
  badSamples: BadSamplePolicy;
  /** Activation storage: f32, or f16 mixed precision (f32 masters and AdamW, dynamic loss scaling). */
  precision: 'f32' | 'f16';
}

/** Defaults for every setting; where synthetic faces and real datasets differ, one value each. */
export interface TrainRecipe {
  /** One line for --help and the README. */
  summary: string;
  dataset: Dataset;
  model: string;
  res: number;
  batch: number;
  epochs: number;
  weightDecay: number;
  seed: number;
  trainSize: number;
  valSize: number;
  evalEvery: number;
  maxBadSteps: number;
  badSamples: BadSamplePolicy;
  precision: 'f32' | 'f16';
  warmupSteps: number;
  /** Cosine floor; a smaller learning rate given lowers it to that rate. */
  minLr: number;
  synthetic: DataRecipe;
  real: DataRecipe;
}

export interface DataRecipe {
  lr: number; schedule: ScheduleKind; milestones: readonly number[]; workers: number;
  /** Stochastic-depth rate; undefined: the backbone's official rate. */
  dropPath?: number;
  /** Global gradient-norm clipping; undefined: none. */
  clipGrad?: number;
}

/** The `default` preset (src/train/presets.ts): what a run uses for every setting not given. */
export const TRAIN_DEFAULTS: TrainRecipe = PRESETS.default!;

/** Complete settings from partial ones: what is not given comes from `recipe` (default TRAIN_DEFAULTS). */
export function withDefaults(given: Partial<TrainSettings>, recipe: TrainRecipe = TRAIN_DEFAULTS): TrainSettings {
  const dataDir = given.dataDir === 'synthetic' ? undefined : given.dataDir;
  const kind = dataDir === undefined ? recipe.synthetic : recipe.real;
  const d = recipe;
  const lr = given.lr ?? kind.lr;
  // Milestones given ask for MultiStepLR unless a schedule is named too.
  const schedule = given.schedule ?? (given.milestones !== undefined ? 'step' : kind.schedule);
  return {
    dataset: given.dataset ?? d.dataset, model: given.model ?? d.model, res: given.res ?? d.res, batch: given.batch ?? d.batch,
    epochs: given.epochs ?? d.epochs, lr, weightDecay: given.weightDecay ?? d.weightDecay, schedule,
    milestones: given.milestones ?? [...kind.milestones], warmupSteps: given.warmupSteps ?? d.warmupSteps,
    minLr: given.minLr ?? Math.min(d.minLr, lr), dropPath: given.dropPath ?? kind.dropPath,
    clipGrad: given.clipGrad ?? kind.clipGrad, seed: given.seed ?? d.seed, trainSize: given.trainSize ?? d.trainSize,
    valSize: given.valSize ?? d.valSize, evalEvery: given.evalEvery ?? d.evalEvery, maxBadSteps: given.maxBadSteps ?? d.maxBadSteps,
    dataDir, badSamples: given.badSamples ?? d.badSamples, precision: given.precision ?? d.precision,
  };
}

/** Loader threads by default: none on synthetic faces (drawn fast), 2 for decoding real images. */
export function defaultWorkers(dataDir: string | undefined, recipe: TrainRecipe = TRAIN_DEFAULTS): number {
  return dataDir === undefined ? recipe.synthetic.workers : recipe.real.workers;
}
