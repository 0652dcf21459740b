// Opening datasets by name: `openDataset('lapa', DIR, 'train', 512, opts)` for the on-disk sets and
// `openFromSpec` for a plain-data description that can cross to a worker thread (prefetch.ts).
// DIR may be the common root (holding CelebAMask-HQ/, LaPa/, helen/) or the dataset folder itself.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Dataset as LabelSet } from '../../model/config.js';
import { CelebDataset } from './celeb.js';
import type { Dataset } from './dataset.js';
import type { BadSamplePolicy, FileDataset, FileDatasetOptions, Split } from './file_dataset.js';
import { HelenDataset } from './helen.js';
import { LapaDataset } from './lapa.js';
import { SyntheticDataset } from './synthetic_dataset.js';

export type DatasetName = 'celeb' | 'lapa' | 'helen';

/** The folder under the common root, as the official code expects it. */
export const DATASET_FOLDERS: Record<DatasetName, string> = { celeb: 'CelebAMask-HQ', lapa: 'LaPa', helen: 'helen' };

/** The split the official training validates on (Helen: test). */
export function validationSplit(name: DatasetName): Split {
  return name === 'helen' ? 'test' : 'val';
}

/** dataDir/<official folder> when it exists, else dataDir itself. */
export function datasetRoot(name: DatasetName, dataDir: string): string {
  const sub = join(dataDir, DATASET_FOLDERS[name]);
  return existsSync(sub) ? sub : dataDir;
}

export function openDataset(name: DatasetName, dataDir: string, split: Split, res: number, opts: FileDatasetOptions = {}): FileDataset {
  if (!existsSync(dataDir)) throw new Error(`--data-dir ${dataDir}: no such directory`);
  const root = datasetRoot(name, dataDir);
  switch (name) {
    case 'celeb': return new CelebDataset(root, split, res, opts);
    case 'lapa': return new LapaDataset(root, split, res, opts);
    case 'helen': return new HelenDataset(root, split, res, opts);
    default: throw new Error(`unknown dataset ${String(name)}: expected celeb, lapa or helen`);
  }
}

/** A dataset as plain data (structured-clonable), so a worker thread can open the same one. */
export type DatasetSpec =
  | { kind: DatasetName; dataDir: string; split: Split; res: number; onBad: BadSamplePolicy; augment?: boolean; seed: number }
  | { kind: 'synthetic'; split: 'train' | 'val'; length: number; res: number; labels: LabelSet; seed: number };

export function openFromSpec(spec: DatasetSpec): Dataset {
  if (spec.kind === 'synthetic') return new SyntheticDataset(spec.split, spec.length, spec.res, spec.labels, spec.seed);
  return openDataset(spec.kind, spec.dataDir, spec.split, spec.res, {
    onBad: spec.onBad, seed: spec.seed, ...(spec.augment !== undefined ? { augment: spec.augment } : {}),
  });
}
