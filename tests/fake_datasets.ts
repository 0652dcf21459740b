// Tiny fake datasets in the official on-disk layouts, for tests and the input-pipeline benchmark:
// procedural images (smooth colour gradients + seeded noise, so JPEG and the resamplers have
// something to do), label maps of nested rectangles, and landmarks inside the image. Every file is
// a pure function of (seed, sample index, size).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encode as encodeJpeg } from 'jpeg-js';
import { encodePng } from '../src/train/image/index.js';
import { rng } from '../src/train/random.js';
import { CELEB_PARTS } from '../src/train/data/celeb.js';

export interface FakeImage {
  width: number;
  height: number;
  rgb: Uint8Array;
}

export function fakeImage(width: number, height: number, seed: number): FakeImage {
  const r = rng(seed);
  const rgb = new Uint8Array(width * height * 3);
  const phase = [r() * 6, r() * 6, r() * 6];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        const v = 128 + 90 * Math.sin(phase[c]! + (x * (c + 1)) / (width / 3) + (y * (3 - c)) / (height / 2)) + 30 * (r() - 0.5);
        rgb[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return { width, height, rgb };
}

/** Nested rectangles with class ids 1..classes−1 on background 0. */
export function fakeLabels(width: number, height: number, classes: number, seed: number): Uint8Array {
  const r = rng(seed ^ 0x5bd1e995);
  const out = new Uint8Array(width * height);
  for (let k = 1; k < classes; k++) {
    const x0 = Math.floor(r() * width * 0.8), y0 = Math.floor(r() * height * 0.8);
    const x1 = Math.min(width, x0 + 1 + Math.floor(r() * width * 0.5)), y1 = Math.min(height, y0 + 1 + Math.floor(r() * height * 0.5));
    for (let y = y0; y < y1; y++) out.fill(k, y * width + x0, y * width + x1);
  }
  return out;
}

/** n (x, y) points inside a w × h image. */
export function fakePoints(n: number, w: number, h: number, seed: number): number[] {
  const r = rng(seed ^ 0x27d4eb2f);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(Number((w * (0.15 + 0.7 * r())).toFixed(3)), Number((h * (0.15 + 0.7 * r())).toFixed(3)));
  return out;
}

export function jpegBytes(img: FakeImage, quality = 92): Uint8Array {
  const rgba = new Uint8Array(img.width * img.height * 4);
  for (let i = 0; i < img.width * img.height; i++) {
    rgba[4 * i] = img.rgb[3 * i]!; rgba[4 * i + 1] = img.rgb[3 * i + 1]!; rgba[4 * i + 2] = img.rgb[3 * i + 2]!; rgba[4 * i + 3] = 255;
  }
  return encodeJpeg({ data: rgba, width: img.width, height: img.height }, quality).data;
}

function write(path: string, bytes: Uint8Array | string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, bytes);
}

export interface FakeOptions {
  width?: number;
  height?: number;
  seed?: number;
  /** LaPa/Helen label maps: class count (11). */
  classes?: number;
  /**
   * Store images as PNG bytes under the official .jpg names (every decoder sniffs the content):
   * lossless, so comparisons with another decoder (Pillow's libjpeg) are not blurred by IDCT rounding.
   */
  lossless?: boolean;
}

function imageBytes(img: FakeImage, o: FakeOptions): Uint8Array {
  return o.lossless ? encodePng(img) : jpegBytes(img);
}

/** root/LaPa/<split>/{images,labels,landmarks}; returns the stems written. */
export function writeFakeLapa(root: string, split: string, count: number, o: FakeOptions = {}): string[] {
  const w = o.width ?? 40, h = o.height ?? 48, seed = o.seed ?? 1;
  const dir = join(root, 'LaPa', split);
  const stems: string[] = [];
  for (let i = 0; i < count; i++) {
    const stem = `img_${split}_${String(i).padStart(3, '0')}`;
    const s = seed * 1000 + i;
    write(join(dir, 'images', `${stem}.jpg`), imageBytes(fakeImage(w, h, s), o));
    write(join(dir, 'labels', `${stem}.png`), encodePng({ width: w, height: h, gray: fakeLabels(w, h, o.classes ?? 11, s) }));
    write(join(dir, 'landmarks', `${stem}.txt`), `106\n${fakePoints(106, w, h, s).join(' ')}\n`);
    stems.push(stem);
  }
  return stems;
}

/** root/helen/{train,test}/NAME_{image.jpg,label.png} and root/helen/landmarks.txt (appended). */
export function writeFakeHelen(root: string, splits: Record<string, number>, o: FakeOptions = {}): string[] {
  const w = o.width ?? 48, h = o.height ?? 40, seed = o.seed ?? 2;
  const lines: string[] = [];
  const names: string[] = [];
  for (const [split, count] of Object.entries(splits)) {
    for (let i = 0; i < count; i++) {
      const name = `${100 + i}_${split}`;
      const s = seed * 1000 + i + (split === 'train' ? 0 : 500);
      const dir = join(root, 'helen', split);
      write(join(dir, `${name}_image.jpg`), imageBytes(fakeImage(w, h, s), o));
      write(join(dir, `${name}_label.png`), encodePng({ width: w, height: h, gray: fakeLabels(w, h, o.classes ?? 11, s) }));
      // Landmarks are stored at twice the image scale (the loader halves them).
      lines.push(`${fakePoints(68, w, h, s).map((v) => (2 * v).toFixed(3)).join(' ')} ${name}`);
      names.push(name);
    }
  }
  write(join(root, 'helen', 'landmarks.txt'), lines.join('\n') + '\n');
  return names;
}

/**
 * root/CelebAMask-HQ with `count` HQ images (ids 0..count−1, 64×64 images, 512×512 part masks),
 * the mapping and partition files; groups cycle train, val, test, train, … Only parts in
 * `parts(id)` get a mask file (default: skin, nose and hair).
 */
export function writeFakeCeleb(root: string, count: number, o: FakeOptions & { parts?: (id: number) => readonly string[] } = {}): void {
  const dir = join(root, 'CelebAMask-HQ');
  const size = o.width ?? 64, seed = o.seed ?? 3;
  const mapping = ['idx\torig_idx\torig_file'];
  const partition: string[] = [];
  for (let id = 0; id < count; id++) {
    const orig = `${String(id * 7 + 1).padStart(6, '0')}.jpg`;
    mapping.push(`${id}\t${id * 7}\t${orig}`);
    partition.push(`${orig} ${id % 3}`);
    write(join(dir, 'CelebA-HQ-img', `${id}.jpg`), jpegBytes(fakeImage(size, size, seed * 1000 + id)));
    const parts = o.parts?.(id) ?? ['skin', 'nose', 'hair'];
    parts.forEach((part, j) => {
      if (!(CELEB_PARTS as readonly string[]).includes(part)) throw new Error(`writeFakeCeleb: unknown part ${part}`);
      const r = rng(seed * 7919 + id * 31 + j);
      const m = new Uint8Array(512 * 512);
      const x0 = Math.floor(r() * 300), y0 = Math.floor(r() * 300), side = 100 + Math.floor(r() * 200);
      for (let y = y0; y < Math.min(512, y0 + side); y++) m.fill(255, y * 512 + x0, y * 512 + Math.min(512, x0 + side));
      write(join(dir, 'CelebAMask-HQ-mask-anno', String(Math.floor(id / 2000)), `${String(id).padStart(5, '0')}_${part}.png`), encodePng({ width: 512, height: 512, gray: m }));
    });
  }
  // An original file that is not in CelebA-HQ: the partition lists it, the loader skips it.
  partition.push(`999999.jpg 0`);
  write(join(dir, 'CelebA-HQ-to-CelebA-mapping.txt'), mapping.join('\n') + '\n');
  write(join(dir, 'list_eval_partition.txt'), partition.join('\n') + '\n');
}
