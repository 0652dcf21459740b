// LaPa training augmentation exactly as the official loader: a random rotation, scale and
// translation drawn per sample, applied with torchvision 0.14's `F.affine` to the ORIGINAL-size
// PIL image (BICUBIC) and label map (NEAREST), zero fill, shear 0, about the image centre; the
// landmarks get the same map. Parameters are a pure function of (seed, epoch, index), so a resumed
// run draws the same augmentation as an uninterrupted one.
//
// torchvision (PIL path): centre c = (w·0.5, h·0.5); `_get_inverse_affine_matrix` gives the
// OUTPUT → INPUT map  in = M·(out − c − t)/scale + c  with M = [[cos θ, sin θ], [−sin θ, cos θ]],
// θ = radians(angle), as six doubles a[0..5] (x_in = a0·x + a1·y + a2), each step evaluated in the
// order torchvision writes it. Pillow's Image.transform(AFFINE) then samples at output pixel
// centres (x + 0.5, y + 0.5):
//   * BICUBIC → ImagingGenericTransform + bicubic_filter32RGB / bicubic_filter8: outside
//     [0, w) × [0, h) → fill 0; else 4×4 taps around (x_in − 0.5, y_in − 0.5), edge-clamped, with
//     Pillow's cubic (a = −1 form: p1 = v2, p2 = v3 − v1, p3 = 2(v1 − v2) + v3 − v4,
//     p4 = −v1 + v2 − v3 + v4), rows first then the column, clamped to [0, 255] and TRUNCATED.
//   * NEAREST → ImagingTransformAffine: if a1 = a3 = 0 the scale path (ImagingScaleAffine);
//     otherwise, when the four corners map inside ±32768, 16.16 fixed point (affine_fixed:
//     coefficients FLOOR(v·65536 + 0.5), source = acc >> 16, accumulated by integer adds), else
//     the double-precision incremental path. Sources outside the image → 0.
// Landmarks (the official apply_affine_transform_to_landmarks): ((p − c) @ R(−angle))·scale + (c + t),
// R(a) = [[cos a, −sin a], [sin a, cos a]]: the forward map of the same transform.
import { rng } from '../random.js';

export interface AffineParams {
  /** Degrees, counter-clockwise on screen (torchvision's convention). */
  angle: number;
  scale: number;
  /** Pixels (x, y). */
  translate: readonly [number, number];
}

/** The LaPa recipe's ranges: angle U(−30, 30), scale U(0.5, 3), translation U(−20, 20) px per axis. */
export const LAPA_AUGMENT = { maxAngle: 30, minScale: 0.5, maxScale: 3, maxShift: 20 } as const;

/** A 32-bit seed from (seed, epoch, index): distinct streams for every sample of every epoch. */
export function sampleSeed(seed: number, epoch: number, index: number): number {
  let h = Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca77) ^ Math.imul(index + 1, 0xc2b2ae3d);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The augmentation of sample `index` in epoch `epoch` (random.uniform(a, b) = a + (b − a)·u). */
export function lapaAugmentParams(seed: number, epoch: number, index: number): AffineParams {
  const r = rng(sampleSeed(seed, epoch, index));
  const { maxAngle, minScale, maxScale, maxShift } = LAPA_AUGMENT;
  const angle = -maxAngle + 2 * maxAngle * r();
  const scale = minScale + (maxScale - minScale) * r();
  const tx = -maxShift + 2 * maxShift * r();
  const ty = -maxShift + 2 * maxShift * r();
  return { angle, scale, translate: [tx, ty] };
}

/** torchvision's _get_inverse_affine_matrix(center=(w/2, h/2), angle, translate, scale, shear=0). */
export function inverseAffineMatrix(w: number, h: number, p: AffineParams): number[] {
  const rot = p.angle * (Math.PI / 180); // math.radians
  const cx = w * 0.5, cy = h * 0.5;
  const [tx, ty] = p.translate;
  // shear 0: a = cos, b = −sin, c = sin, d = cos exactly (the tan(0)·… terms are ±0).
  const a = Math.cos(rot), b = -Math.sin(rot), c = Math.sin(rot), d = Math.cos(rot);
  const m = [d, -b, 0, -c, a, 0].map((x) => x / p.scale);
  m[2] = m[2]! + (m[0]! * (-cx - tx) + m[1]! * (-cy - ty));
  m[5] = m[5]! + (m[3]! * (-cx - tx) + m[4]! * (-cy - ty));
  m[2] = m[2]! + cx;
  m[5] = m[5]! + cy;
  return m;
}

/** The forward map of the same transform on points (x, y), as the official loader moves landmarks. */
export function affinePoints(points: ArrayLike<number>, w: number, h: number, p: AffineParams): Float64Array {
  const ar = -p.angle * (Math.PI / 180); // np.deg2rad(-angle)
  const cos = Math.cos(ar), sin = Math.sin(ar);
  const cx = w / 2, cy = h / 2;
  const ox = cx + p.translate[0], oy = cy + p.translate[1];
  const out = new Float64Array(points.length);
  for (let i = 0; i + 1 < points.length; i += 2) {
    const dx = points[i]! - cx, dy = points[i + 1]! - cy;
    out[i] = (dx * cos + dy * sin) * p.scale + ox; // row vector @ [[cos, −sin], [sin, cos]]
    out[i + 1] = (dx * -sin + dy * cos) * p.scale + oy;
  }
  return out;
}

function channels(src: Uint8Array, w: number, h: number, fn: string): number {
  const c = src.length / (w * h);
  if (c !== 1 && c !== 3) throw new Error(`${fn}: ${src.length} bytes is not ${w}×${h}×C for C in {1, 3}`);
  return c;
}

/** Pillow's BICUBIC macro (its a = −1 cubic through v1..v4 at offset d from v2), same operation order. */
function cubic(v1: number, v2: number, v3: number, v4: number, d: number): number {
  const p2 = -v1 + v3;
  const p3 = 2 * (v1 - v2) + v3 - v4;
  const p4 = -v1 + v2 - v3 + v4;
  return v2 + d * (p2 + d * (p3 + d * p4));
}

/** Pillow's Image.transform(size, AFFINE, a, BICUBIC) of an 8-bit 'L' or 'RGB' image, same size out. */
export function affineBicubicPIL(src: Uint8Array, w: number, h: number, a: readonly number[]): Uint8Array {
  const C = channels(src, w, h, 'affineBicubicPIL');
  const out = new Uint8Array(w * h * C);
  const [a0, a1, a2, a3, a4, a5] = a as [number, number, number, number, number, number];
  const stride = w * C;
  for (let y = 0; y < h; y++) {
    const yc = y + 0.5;
    for (let x = 0; x < w; x++) {
      const xc = x + 0.5;
      let xin = a0 * xc + a1 * yc + a2;
      let yin = a3 * xc + a4 * yc + a5;
      if (xin < 0 || xin >= w || yin < 0 || yin >= h) continue; // fill 0
      xin -= 0.5;
      yin -= 0.5;
      const fx = Math.floor(xin), fy = Math.floor(yin);
      const dx = xin - fx, dy = yin - fy;
      const ix = fx - 1, iy = fy - 1;
      // Column offsets clamped to the image (XCLIP); the first row clamped (YCLIP), later rows
      // outside the image repeat the previous row's value (same as clamping).
      const x0 = (ix < 0 ? 0 : ix < w ? ix : w - 1) * C;
      const x1 = (ix + 1 < 0 ? 0 : ix + 1 < w ? ix + 1 : w - 1) * C;
      const x2 = (ix + 2 < w ? ix + 2 : w - 1) * C;
      const x3 = (ix + 3 < w ? ix + 3 : w - 1) * C;
      const r0 = (iy < 0 ? 0 : iy < h ? iy : h - 1) * stride;
      const ok1 = iy + 1 >= 0 && iy + 1 < h, ok2 = iy + 2 >= 0 && iy + 2 < h, ok3 = iy + 3 < h;
      const r1 = (iy + 1) * stride, r2 = (iy + 2) * stride, r3 = (iy + 3) * stride;
      const o = (y * w + x) * C;
      for (let b = 0; b < C; b++) {
        const v1 = cubic(src[r0 + x0 + b]!, src[r0 + x1 + b]!, src[r0 + x2 + b]!, src[r0 + x3 + b]!, dx);
        const v2 = ok1 ? cubic(src[r1 + x0 + b]!, src[r1 + x1 + b]!, src[r1 + x2 + b]!, src[r1 + x3 + b]!, dx) : v1;
        const v3 = ok2 ? cubic(src[r2 + x0 + b]!, src[r2 + x1 + b]!, src[r2 + x2 + b]!, src[r2 + x3 + b]!, dx) : v2;
        const v4 = ok3 ? cubic(src[r3 + x0 + b]!, src[r3 + x1 + b]!, src[r3 + x2 + b]!, src[r3 + x3 + b]!, dx) : v3;
        const v = cubic(v1, v2, v3, v4, dy);
        out[o + b] = v <= 0 ? 0 : v >= 255 ? 255 : v | 0; // (UINT8) truncation of 0 < v < 255
      }
    }
  }
  return out;
}

/** Pillow's Image.transform(size, AFFINE, a, NEAREST) of an 8-bit image (1 or 3 channels), same size out. */
export function affineNearestPIL(src: Uint8Array, w: number, h: number, a: readonly number[]): Uint8Array {
  const C = channels(src, w, h, 'affineNearestPIL');
  const out = new Uint8Array(w * h * C);
  const copy = (o: number, xin: number, yin: number): void => {
    const s = (yin * w + xin) * C;
    for (let b = 0; b < C; b++) out[o + b] = src[s + b]!;
  };
  const coord = (v: number): number => (v < 0 ? -1 : Math.trunc(v)); // COORD
  if (a[1] === 0 && a[3] === 0) {
    // ImagingScaleAffine: pretabulated columns, rows advanced by repeated addition.
    const xintab = new Int32Array(w).fill(-1);
    let xo = a[2]! + a[0]! * 0.5;
    for (let x = 0; x < w; x++) {
      const xin = coord(xo);
      if (xin >= 0 && xin < w) xintab[x] = xin;
      xo += a[0]!;
    }
    let yo = a[5]! + a[4]! * 0.5;
    for (let y = 0; y < h; y++) {
      const yi = coord(yo);
      if (yi >= 0 && yi < h) for (let x = 0; x < w; x++) if (xintab[x]! >= 0) copy((y * w + x) * C, xintab[x]!, yi);
      yo += a[4]!;
    }
    return out;
  }
  const fits = (x: number, y: number): boolean => Math.abs(x * a[0]! + y * a[1]! + a[2]!) < 32768 && Math.abs(x * a[3]! + y * a[4]! + a[5]!) < 32768;
  if (fits(0, 0) && fits(w, h) && fits(0, h) && fits(w, 0)) {
    // affine_fixed: 16.16 fixed point, integer accumulation.
    const fix = (v: number): number => Math.floor(v * 65536 + 0.5);
    const f0 = fix(a[0]!), f1 = fix(a[1]!), f3 = fix(a[3]!), f4 = fix(a[4]!);
    let f2 = fix(a[2]! + a[0]! * 0.5 + a[1]! * 0.5);
    let f5 = fix(a[5]! + a[3]! * 0.5 + a[4]! * 0.5);
    for (let y = 0; y < h; y++) {
      let xx = f2, yy = f5;
      for (let x = 0; x < w; x++) {
        const xin = xx >> 16;
        if (xin >= 0 && xin < w) {
          const yin = yy >> 16;
          if (yin >= 0 && yin < h) copy((y * w + x) * C, xin, yin);
        }
        xx = (xx + f0) | 0;
        yy = (yy + f3) | 0;
      }
      f2 = (f2 + f1) | 0;
      f5 = (f5 + f4) | 0;
    }
    return out;
  }
  // Double-precision incremental path (corners beyond ±32768).
  let xo = a[2]! + a[1]! * 0.5 + a[0]! * 0.5;
  let yo = a[5]! + a[4]! * 0.5 + a[3]! * 0.5;
  for (let y = 0; y < h; y++) {
    let xx = xo, yy = yo;
    for (let x = 0; x < w; x++) {
      const xin = coord(xx);
      if (xin >= 0 && xin < w) {
        const yin = coord(yy);
        if (yin >= 0 && yin < h) copy((y * w + x) * C, xin, yin);
      }
      xx += a[0]!;
      yy += a[3]!;
    }
    xo += a[1]!;
    yo += a[4]!;
  }
  return out;
}

/** F.affine of an image (BICUBIC) and its label map (NEAREST) with the same parameters. */
export function affineImageAndLabels(rgb: Uint8Array, labels: Uint8Array, w: number, h: number, p: AffineParams): { rgb: Uint8Array; labels: Uint8Array } {
  const m = inverseAffineMatrix(w, h, p);
  return { rgb: affineBicubicPIL(rgb, w, h, m), labels: affineNearestPIL(labels, w, h, m) };
}
