// LaPa (root/LaPa/{train,val,test}/): images/NAME.jpg, labels/NAME.png (0..10),
// landmarks/NAME.txt = "106" then 106 (x, y) pairs in original-image pixels. As the official loader:
//   * samples are the .jpg files of images/ (name = file name up to its first '.'), here sorted;
//     sample name `split.NAME`; a missing label or landmark file, or a landmark file that is not
//     106 + 212 numbers, is an indexing problem;
//   * train: random affine on the original-size image/labels/landmarks (augment.ts), then resize;
//     the 5 points (mean of 74 & 104, mean of 83 & 105, 54, 84, 90) in float64 from the moved
//     landmarks scaled by (res/w, res/h);
//   * val/test: resize only; 5 points from the float32 landmarks: (a + b) summed in float32,
//     halved and scaled in float64, stored as float32.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CLASS_NAMES } from '../../model/config.js';
import { affineImageAndLabels, affinePoints, lapaAugmentParams } from './augment.js';
import type { Sample } from './dataset.js';
import { FileDataset, readImageAndLabels, fivePoints, toResolution, type FileDatasetOptions, type Split } from './file_dataset.js';

interface LapaEntry {
  name: string;
  image: string;
  label: string;
  /** 106 (x, y) pairs, float32 as the official loader stores them. */
  landmarks: Float32Array;
}

/** Parses a LaPa landmark file; errors name it. */
export function parseLapaLandmarks(text: string, file: string): Float32Array {
  const v = text.split(/\s+/).filter((s) => s.length > 0).map(Number);
  if (v[0] !== 106 || v.length !== 106 * 2 + 1) {
    throw new Error(`${file}: expected the number 106 followed by 212 coordinates, found ${v.length} numbers starting with ${v[0]}`);
  }
  const bad = v.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) throw new Error(`${file}: value ${bad} is not a number`);
  return Float32Array.from(v.slice(1));
}

export class LapaDataset extends FileDataset {
  readonly name: string;
  readonly classes = CLASS_NAMES.lapa.length;
  readonly augment: boolean;
  private readonly entries: LapaEntry[] = [];

  constructor(root: string, split: Split, res: number, opts: FileDatasetOptions = {}) {
    super(root, split, res, opts);
    this.name = `lapa-${split}`;
    this.augment = opts.augment ?? split === 'train';
    const dir = join(root, split);
    const imagesDir = join(dir, 'images');
    let files: string[];
    try {
      files = readdirSync(imagesDir);
    } catch (e) {
      throw new Error(`LaPa: cannot list ${imagesDir}: ${(e as Error).message} (expected ROOT/LaPa/${split}/images/*.jpg)`);
    }
    for (const f of files.filter((f) => f.endsWith('.jpg')).sort()) {
      const stem = f.split('.')[0]!;
      const name = `${split}.${stem}`;
      const image = join(imagesDir, `${stem}.jpg`);
      const label = join(dir, 'labels', `${stem}.png`);
      const lm = join(dir, 'landmarks', `${stem}.txt`);
      if (!this.requireFile(name, image, 'image') || !this.requireFile(name, label, 'label map') || !this.requireFile(name, lm, 'landmark file')) continue;
      let landmarks: Float32Array;
      try {
        landmarks = parseLapaLandmarks(readFileSync(lm, 'utf8'), lm);
      } catch (e) {
        this.dropAtIndex(name, (e as Error).message);
        continue;
      }
      this.entries.push({ name, image, label, landmarks });
    }
    if (this.entries.length === 0) throw new Error(`LaPa: no usable samples in ${imagesDir}`);
  }

  get length(): number {
    return this.entries.length;
  }

  sampleName(index: number): string {
    return this.entries[index]!.name;
  }

  protected load(index: number, epoch: number): Sample {
    const e = this.entries[index]!;
    const img = readImageAndLabels(e.image, e.label, this.classes);
    const { w, h } = img;
    const res = this.res;
    const sx = res / w, sy = res / h;
    const lm = e.landmarks;
    if (this.augment) {
      const p = lapaAugmentParams(this.seed, epoch, index);
      const moved = affineImageAndLabels(img.rgb, img.labels, w, h, p);
      const pts = affinePoints(lm, w, h, p);
      for (let i = 0; i < pts.length; i += 2) { pts[i] = pts[i]! * sx; pts[i + 1] = pts[i + 1]! * sy; }
      const at = (k: number): [number, number] => [pts[2 * k]!, pts[2 * k + 1]!];
      const mid = (a: number, b: number): [number, number] => [(pts[2 * a]! + pts[2 * b]!) / 2, (pts[2 * a + 1]! + pts[2 * b + 1]!) / 2];
      const { image, labels } = toResolution(moved.rgb, moved.labels, w, h, res);
      return { image, labels, landmarks5: fivePoints([mid(74, 104), mid(83, 105), at(54), at(84), at(90)]), name: e.name };
    }
    const mid = (a: number, b: number): [number, number] => [
      (Math.fround(lm[2 * a]! + lm[2 * b]!) / 2) * sx, (Math.fround(lm[2 * a + 1]! + lm[2 * b + 1]!) / 2) * sy];
    const at = (k: number): [number, number] => [lm[2 * k]! * sx, lm[2 * k + 1]! * sy];
    const { image, labels } = toResolution(img.rgb, img.labels, w, h, res);
    return { image, labels, landmarks5: fivePoints([mid(74, 104), mid(83, 105), at(54), at(84), at(90)]), name: e.name };
  }
}
