// The built-in synthetic face-parsing dataset as a `Dataset`: train and val splits that never share
// a sample, drawn on demand (a 128 px sample takes a few milliseconds).
import type { Dataset as DatasetName } from '../../model/config.js';
import { CLASS_NAMES } from '../../model/config.js';
import type { Dataset, Sample } from './dataset.js';
import { syntheticSample, syntheticSplit } from './synthetic.js';

export class SyntheticDataset implements Dataset {
  readonly name: string;
  readonly classes: number;
  private readonly indices: number[];

  constructor(split: 'train' | 'val', readonly length: number, readonly res: number, readonly dataset: DatasetName, readonly seed: number) {
    this.name = `synthetic-${dataset}-${split}`;
    this.classes = CLASS_NAMES[dataset].length;
    this.indices = syntheticSplit(split, length);
  }

  get(i: number): Sample {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) throw new Error(`${this.name}: index ${i} out of range [0, ${this.length})`);
    return syntheticSample(this.indices[i]!, { res: this.res, dataset: this.dataset, seed: this.seed });
  }
}
