// Datasets and batching: a dataset yields RGB images and label maps at the model resolution;
// batches are normalised NCHW float32 images and int32 labels, in a seeded per-epoch order.
import { toNormalizedCHW } from '../image/index.js';
import { rng } from '../random.js';

export interface Sample {
  /** res·res·3 RGB, row-major. */
  image: Uint8Array;
  /** res·res class ids. */
  labels: Uint8Array;
  /** The 5 LaPa landmarks (x, y) in pixels, when the dataset has them. */
  landmarks5?: Float32Array;
  name: string;
}

export interface Dataset {
  readonly name: string;
  readonly length: number;
  readonly res: number;
  readonly classes: number;
  /** `epoch` seeds per-epoch training augmentation (datasets without augmentation ignore it). */
  get(index: number, epoch?: number): Sample;
}

export interface Batch {
  /** (B, 3, res, res) normalised with the ImageNet mean and std. */
  images: Float32Array;
  /** (B, res, res). */
  labels: Int32Array;
  size: number;
  names: string[];
  /** (B, 5, 2) landmark pixel coordinates, when every sample of the batch has them. */
  landmarks?: Float32Array;
}

export function makeBatch(ds: Dataset, indices: readonly number[]): Batch {
  const px = ds.res * ds.res;
  const images = new Float32Array(indices.length * 3 * px);
  const labels = new Int32Array(indices.length * px);
  const names: string[] = [];
  const landmarks = new Float32Array(indices.length * 10);
  let allLandmarks = true;
  indices.forEach((idx, b) => {
    const s = ds.get(idx);
    if (s.landmarks5) landmarks.set(s.landmarks5, b * 10);
    else allLandmarks = false;
    if (s.image.length !== px * 3 || s.labels.length !== px) throw new Error(`${ds.name}: sample ${s.name} is not ${ds.res}×${ds.res}`);
    images.set(toNormalizedCHW(s.image, ds.res, ds.res), b * 3 * px);
    for (let i = 0; i < px; i++) {
      const v = s.labels[i]!;
      if (v >= ds.classes && v !== 255) throw new Error(`${ds.name}: sample ${s.name}: label ${v} at pixel ${i} is outside [0, ${ds.classes})`);
      labels[b * px + i] = v;
    }
    names.push(s.name);
  });
  return { images, labels, size: indices.length, names, ...(allLandmarks ? { landmarks } : {}) };
}

/** The order of epoch `epoch`: a seeded shuffle of [0, length) (Fisher–Yates). */
export function epochOrder(length: number, seed: number, epoch: number): number[] {
  const order = Array.from({ length }, (_, i) => i);
  const r = rng((seed * 1_000_003 + epoch) >>> 0);
  for (let i = length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** Batches of an epoch, dropping the last incomplete one (drop_last=True, as the official loader). */
export function epochBatches(length: number, batch: number, seed: number, epoch: number): number[][] {
  const order = epochOrder(length, seed, epoch);
  const out: number[][] = [];
  for (let i = 0; i + batch <= length; i += batch) out.push(order.slice(i, i + batch));
  return out;
}
