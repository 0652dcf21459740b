// One batch from a dataset with the bad-sample policy applied: the work a prefetch worker does
// (decode + crop/augment + resize + normalise), also callable on the main thread. Under 'skip' a
// sample that fails to load leaves the batch (which gets smaller; an all-bad batch is empty) and
// is reported; under 'stop' the error propagates, naming the file.
import { toNormalizedCHW } from '../image/index.js';
import type { Batch, Dataset, Sample } from './dataset.js';
import { BadSampleError, type BadSamplePolicy, type SkippedSample } from './file_dataset.js';

export interface LoadedBatch {
  /** Undefined when every sample of the batch was skipped. */
  batch?: Batch;
  /** The dataset indices asked for. */
  indices: number[];
  skipped: SkippedSample[];
}

/** A Batch from decoded samples (all res × res); labels must lie in [0, classes) or be 255. */
export function batchFromSamples(samples: readonly Sample[], res: number, classes: number, dsName: string): Batch {
  const px = res * res;
  const images = new Float32Array(samples.length * 3 * px);
  const labels = new Int32Array(samples.length * px);
  const landmarks = new Float32Array(samples.length * 10);
  let allLandmarks = samples.length > 0;
  samples.forEach((s, b) => {
    if (s.image.length !== px * 3 || s.labels.length !== px) throw new Error(`${dsName}: sample ${s.name} is not ${res}×${res}`);
    if (s.landmarks5) landmarks.set(s.landmarks5, b * 10);
    else allLandmarks = false;
    images.set(toNormalizedCHW(s.image, res, res), b * 3 * px);
    for (let i = 0; i < px; i++) {
      const v = s.labels[i]!;
      if (v >= classes && v !== 255) throw new Error(`${dsName}: sample ${s.name}: label ${v} at pixel ${i} is outside [0, ${classes})`);
      labels[b * px + i] = v;
    }
  });
  return { images, labels, size: samples.length, names: samples.map((s) => s.name), ...(allLandmarks ? { landmarks } : {}) };
}

export function loadBatch(ds: Dataset, indices: readonly number[], epoch: number, onBad: BadSamplePolicy): LoadedBatch {
  const samples: Sample[] = [];
  const skipped: SkippedSample[] = [];
  for (const i of indices) {
    try {
      samples.push(ds.get(i, epoch));
    } catch (e) {
      if (!(e instanceof BadSampleError)) throw e;
      if (onBad === 'stop') throw new BadSampleError(e.sample, `${e.message} (use --bad-samples skip to leave such samples out)`);
      skipped.push({ name: e.sample, reason: e.message });
    }
  }
  return { indices: [...indices], skipped, ...(samples.length > 0 ? { batch: batchFromSamples(samples, ds.res, ds.classes, ds.name) } : {}) };
}

/** Consecutive batches over [0, length) in order (evaluation); the last one may be short. */
export function sequentialBatches(length: number, batch: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < length; i += batch) out.push(Array.from({ length: Math.min(batch, length - i) }, (_, j) => i + j));
  return out;
}
