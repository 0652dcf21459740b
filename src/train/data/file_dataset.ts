// What the three on-disk face-parsing datasets (celeb.ts, lapa.ts, helen.ts) share: the split and
// bad-sample policy, resizing to the model resolution (images with Pillow's BICUBIC, labels with
// NEAREST, as the official loaders do through torchvision), label range checks whose errors name
// the file and the pixel, and the bookkeeping of samples skipped while indexing.
//
// Bad samples. 'stop' (default): the first problem throws, naming the file. 'skip': problems found
// while indexing (a missing label, mask, landmark file or entry) drop the sample from the dataset
// and are listed in `skipped`; problems found while loading (a corrupt image, a label value
// outside [0, K), mismatched sizes) make `get` throw a `BadSampleError`, which the batch loader
// (batches.ts) catches in 'skip' mode: the sample leaves its batch and is counted.
import { existsSync } from 'node:fs';
import { readImage, readLabelMap, resizeBicubicPIL, resizeNearestPIL } from '../image/index.js';
import type { Dataset, Sample } from './dataset.js';

export type BadSamplePolicy = 'skip' | 'stop';
export type Split = 'train' | 'val' | 'test';

export interface SkippedSample {
  name: string;
  reason: string;
}

export interface FileDatasetOptions {
  /** What to do with a bad sample (default 'stop'). */
  onBad?: BadSamplePolicy;
  /** Training augmentation (LaPa's random affine); default: on for LaPa's train split only. */
  augment?: boolean;
  /** Seed of the augmentation (per (seed, epoch, index)). */
  seed?: number;
}

/** A sample that cannot be loaded; the message names the file. */
export class BadSampleError extends Error {
  constructor(readonly sample: string, message: string) {
    super(message);
    this.name = 'BadSampleError';
  }
}

export abstract class FileDataset implements Dataset {
  abstract readonly name: string;
  abstract readonly classes: number;
  readonly onBad: BadSamplePolicy;
  readonly seed: number;
  /** Samples dropped while indexing ('skip' policy). */
  readonly skipped: SkippedSample[] = [];

  constructor(readonly root: string, readonly split: Split, readonly res: number, opts: FileDatasetOptions) {
    if (!Number.isInteger(res) || res < 4 || res % 4 !== 0) throw new Error(`dataset: resolution ${res} must be a positive multiple of 4`);
    this.onBad = opts.onBad ?? 'stop';
    this.seed = opts.seed ?? 0;
  }

  abstract get length(): number;
  /** The sample's name (as the official loaders name it). */
  abstract sampleName(index: number): string;
  /** Loads a sample; throws BadSampleError for a bad file. `epoch` seeds the augmentation. */
  protected abstract load(index: number, epoch: number): Sample;

  get(index: number, epoch = 0): Sample {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) throw new Error(`${this.name}: index ${index} out of range [0, ${this.length})`);
    const name = this.sampleName(index);
    try {
      return this.load(index, epoch);
    } catch (e) {
      if (e instanceof BadSampleError) throw e;
      throw new BadSampleError(name, (e as Error).message);
    }
  }

  /** An indexing problem: throws under 'stop', records it and returns true (drop) under 'skip'. */
  protected dropAtIndex(name: string, reason: string): true {
    if (this.onBad === 'stop') throw new Error(`${this.name}: ${reason} (use --bad-samples skip to leave such samples out)`);
    this.skipped.push({ name, reason });
    return true;
  }

  /** A required file, or an indexing problem naming it. */
  protected requireFile(name: string, path: string, what: string): boolean {
    if (existsSync(path)) return true;
    this.dropAtIndex(name, `${path}: ${what} missing`);
    return false;
  }
}

/** Throws if a label map holds a value outside [0, classes), naming the file and the pixel. */
/** An image and its label map of the same size, every label checked against the class count. */
export function readImageAndLabels(imagePath: string, labelPath: string, classes: number): { rgb: Uint8Array; labels: Uint8Array; w: number; h: number } {
  const img = readImage(imagePath);
  const lab = readLabelMap(labelPath);
  const { width: w, height: h } = img;
  if (lab.width !== w || lab.height !== h) throw new Error(`${labelPath}: label map is ${lab.width}×${lab.height} but ${imagePath} is ${w}×${h}`);
  checkLabelRange(lab.data, w, classes, labelPath);
  return { rgb: img.rgb, labels: lab.data, w, h };
}

export function checkLabelRange(labels: Uint8Array, width: number, classes: number, file: string): void {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]! >= classes) {
      throw new Error(`${file}: label value ${labels[i]} at pixel (${i % width}, ${Math.floor(i / width)}) is outside [0, ${classes})`);
    }
  }
}

/** Image (BICUBIC) and labels (NEAREST) resized to res × res, as torchvision's Resize on PIL images. */
export function toResolution(rgb: Uint8Array, labels: Uint8Array, w: number, h: number, res: number): { image: Uint8Array; labels: Uint8Array } {
  return { image: resizeBicubicPIL(rgb, w, h, res, res), labels: resizeNearestPIL(labels, w, h, res, res) };
}

/** The official 5 points of LaPa/Helen as float32 (x, y) pairs. */
export function fivePoints(points: readonly (readonly [number, number])[]): Float32Array {
  return Float32Array.from(points.flat());
}

/** "1,234 ok; 2 skipped: a (why), b (why)" for logs. */
export function describeSkipped(skipped: readonly SkippedSample[], max = 5): string {
  if (skipped.length === 0) return 'none skipped';
  const shown = skipped.slice(0, max).map((s) => `${s.name}: ${s.reason}`).join('; ');
  return `${skipped.length} skipped (${shown}${skipped.length > max ? `; … ${skipped.length - max} more` : ''})`;
}
