// The default recipe of a training run, as data: every setting a run takes, with its default.
// `segface train` shows these in --help and fills what a flag leaves out from here; a TrainingRun
// made from code does the same. Where synthetic faces and real datasets differ, both are given.
import type { Dataset } from '../model/config.js';
import type { BadSamplePolicy } from './data/file_dataset.js';

/** The settings of one run; saved in its checkpoint so that a resumed run continues as it was. */
export interface TrainSettings {
  dataset: Dataset;
  model: string;
  res: number;
  batch: number;
  epochs: number;
  lr: number;
  weightDecay: number;
  /** MultiStepLR epochs (×0.1 at each). */
  milestones: number[];
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
  synthetic: { lr: number; milestones: readonly number[]; workers: number };
  real: { lr: number; milestones: readonly number[]; workers: number };
}

export const TRAIN_DEFAULTS: TrainRecipe = {
  dataset: 'celeb',
  model: 'tiny',
  res: 64,
  batch: 4,
  epochs: 10,
  weightDecay: 1e-5,
  seed: 1,
  trainSize: 384,
  valSize: 64,
  evalEvery: 1,
  maxBadSteps: 5,
  badSamples: 'stop',
  precision: 'f32',
  /** Synthetic faces: a fast recipe that visibly learns within minutes on a CPU. */
  synthetic: { lr: 1e-3, milestones: [], workers: 0 },
  /** Real datasets: the official recipe (AdamW 1e-4, ×0.1 at epochs 80 and 200). */
  real: { lr: 1e-4, milestones: [80, 200], workers: 2 },
};

/** Complete settings from partial ones: what is not given comes from `recipe` (default TRAIN_DEFAULTS). */
export function withDefaults(given: Partial<TrainSettings>, recipe: TrainRecipe = TRAIN_DEFAULTS): TrainSettings {
  const dataDir = given.dataDir === 'synthetic' ? undefined : given.dataDir;
  const kind = dataDir === undefined ? recipe.synthetic : recipe.real;
  const d = recipe;
  return {
    dataset: given.dataset ?? d.dataset, model: given.model ?? d.model, res: given.res ?? d.res, batch: given.batch ?? d.batch,
    epochs: given.epochs ?? d.epochs, lr: given.lr ?? kind.lr, weightDecay: given.weightDecay ?? d.weightDecay,
    milestones: given.milestones ?? [...kind.milestones], seed: given.seed ?? d.seed, trainSize: given.trainSize ?? d.trainSize,
    valSize: given.valSize ?? d.valSize, evalEvery: given.evalEvery ?? d.evalEvery, maxBadSteps: given.maxBadSteps ?? d.maxBadSteps,
    dataDir, badSamples: given.badSamples ?? d.badSamples, precision: given.precision ?? d.precision,
  };
}

/** Loader threads by default: none on synthetic faces (drawn fast), 2 for decoding real images. */
export function defaultWorkers(dataDir: string | undefined, recipe: TrainRecipe = TRAIN_DEFAULTS): number {
  return dataDir === undefined ? recipe.synthetic.workers : recipe.real.workers;
}
