// Helen (root/helen): train/ and test/ hold NAME_image.jpg and NAME_label.png; landmarks.txt lines
// hold 136 numbers (68 points, float32) then the file name NAME. As the official loader:
//   * sample names: every file of the split folder with `_image`, `_label`, `_viz` removed and the
//     extension dropped, deduplicated and sorted; a missing image, label or landmarks entry is an
//     indexing problem; the val split reads test/ (the official validation set);
//   * points are halved (float64), then a square crop around them:
//       xy = f32(min), zz = f32(max), wh = f32(zz − xy + 1), centre = int32(xy + wh/2) (float32),
//       side = int(max(wh)·1.2) (float64), x1 = centre − side//2, x2 = x1 + side,
//       clipped to the image; the landmarks shifted by the clipped corner;
//   * image (BICUBIC) and labels (NEAREST) resized to res; landmarks scaled by res/w, res/h;
//     5 points = mean of 36..41, mean of 42..47, 30, 48, 54 (float64 sums), stored as float32.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CLASS_NAMES } from '../../model/config.js';
import type { Sample } from './dataset.js';
import { FileDataset, readImageAndLabels, fivePoints, toResolution, type FileDatasetOptions, type Split } from './file_dataset.js';

interface HelenEntry {
  name: string;
  image: string;
  label: string;
  /** 68 (x, y) pairs, float32. */
  landmarks: Float32Array;
}

/** landmarks.txt → name → 136 float32 values; malformed lines are errors naming the file and line. */
export function parseHelenLandmarks(text: string, file: string): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  text.split('\n').forEach((line, i) => {
    const tok = line.trim().split(/\s+/).filter((s) => s.length > 0);
    if (tok.length === 0) return;
    const values = tok.slice(0, 136).map(Number);
    if (tok.length < 137 || values.some((v) => !Number.isFinite(v))) {
      throw new Error(`${file}:${i + 1}: expected 136 numbers then a file name, found ${tok.length} fields`);
    }
    out.set(tok[tok.length - 1]!, Float32Array.from(values));
  });
  return out;
}

/** The official crop box and the landmarks relative to it (float64), for an image of w × h. */
export function helenCrop(landmarks: Float32Array, w: number, h: number): { x1: number; y1: number; x2: number; y2: number; points: Float64Array } {
  const n = landmarks.length / 2;
  const pts = Float64Array.from(landmarks, (v) => v * 0.5);
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (let i = 0; i < n; i++) {
    minX = Math.min(minX, pts[2 * i]!); maxX = Math.max(maxX, pts[2 * i]!);
    minY = Math.min(minY, pts[2 * i + 1]!); maxY = Math.max(maxY, pts[2 * i + 1]!);
  }
  const f = Math.fround;
  const xy = [f(minX), f(minY)], zz = [f(maxX), f(maxY)];
  const wh = [f(f(zz[0]! - xy[0]!) + 1), f(f(zz[1]! - xy[1]!) + 1)];
  const centre = [Math.trunc(f(xy[0]! + f(wh[0]! / 2))), Math.trunc(f(xy[1]! + f(wh[1]! / 2)))];
  const side = Math.trunc(Math.max(wh[0]!, wh[1]!) * 1.2);
  const half = Math.floor(side / 2);
  const x1 = Math.max(0, centre[0]! - half), y1 = Math.max(0, centre[1]! - half);
  const x2 = Math.min(w, centre[0]! - half + side), y2 = Math.min(h, centre[1]! - half + side);
  for (let i = 0; i < n; i++) { pts[2 * i] = pts[2 * i]! - x1; pts[2 * i + 1] = pts[2 * i + 1]! - y1; }
  return { x1, y1, x2, y2, points: pts };
}

function crop(data: Uint8Array, w: number, c: number, x1: number, y1: number, x2: number, y2: number): Uint8Array {
  const cw = x2 - x1;
  const out = new Uint8Array(cw * (y2 - y1) * c);
  for (let y = y1; y < y2; y++) out.set(data.subarray((y * w + x1) * c, (y * w + x2) * c), (y - y1) * cw * c);
  return out;
}

export class HelenDataset extends FileDataset {
  readonly name: string;
  readonly classes = CLASS_NAMES.helen.length;
  private readonly entries: HelenEntry[] = [];

  constructor(root: string, split: Split, res: number, opts: FileDatasetOptions = {}) {
    super(root, split, res, opts);
    const folder = split === 'train' ? 'train' : 'test';
    this.name = `helen-${folder}`;
    const lmFile = join(root, 'landmarks.txt');
    let text: string;
    try {
      text = readFileSync(lmFile, 'utf8');
    } catch (e) {
      throw new Error(`Helen: cannot read ${lmFile}: ${(e as Error).message}`);
    }
    const landmarks = parseHelenLandmarks(text, lmFile);
    const dir = join(root, folder);
    let files: string[];
    try {
      files = readdirSync(dir);
    } catch (e) {
      throw new Error(`Helen: cannot list ${dir}: ${(e as Error).message} (expected ROOT/helen/${folder}/NAME_image.jpg)`);
    }
    const names = [...new Set(files.map((f) => {
      const base = f.replace(/(_image|_label|_viz)/g, '');
      const dot = base.lastIndexOf('.');
      return dot >= 0 ? base.slice(0, dot) : base;
    }))].sort();
    for (const name of names) {
      const image = join(dir, `${name}_image.jpg`);
      const label = join(dir, `${name}_label.png`);
      if (!this.requireFile(name, image, 'image') || !this.requireFile(name, label, 'label map')) continue;
      const lm = landmarks.get(name);
      if (!lm) { this.dropAtIndex(name, `${lmFile}: no landmarks for ${name}`); continue; }
      this.entries.push({ name, image, label, landmarks: lm });
    }
    if (this.entries.length === 0) throw new Error(`Helen: no usable samples in ${dir}`);
  }

  get length(): number {
    return this.entries.length;
  }

  sampleName(index: number): string {
    return this.entries[index]!.name;
  }

  protected load(index: number): Sample {
    const e = this.entries[index]!;
    const img = readImageAndLabels(e.image, e.label, this.classes);
    const { w, h } = img;
    const { x1, y1, x2, y2, points } = helenCrop(e.landmarks, w, h);
    if (x2 <= x1 || y2 <= y1) throw new Error(`${e.image}: the crop around the landmarks (${x1}, ${y1})..(${x2}, ${y2}) is empty for a ${w}×${h} image`);
    const rgb = crop(img.rgb, w, 3, x1, y1, x2, y2);
    const labels = crop(img.labels, w, 1, x1, y1, x2, y2);
    const cw = x2 - x1, ch = y2 - y1;
    const res = this.res;
    const sx = res / cw, sy = res / ch;
    const p = (k: number): [number, number] => [points[2 * k]! * sx, points[2 * k + 1]! * sy];
    const mean6 = (from: number): [number, number] => {
      let x = 0, y = 0;
      for (let k = from; k < from + 6; k++) { const [px, py] = p(k); x += px; y += py; }
      return [x / 6, y / 6];
    };
    const out = toResolution(rgb, labels, cw, ch, res);
    return { ...out, landmarks5: fivePoints([mean6(36), mean6(42), p(30), p(48), p(54)]), name: e.name };
  }
}
