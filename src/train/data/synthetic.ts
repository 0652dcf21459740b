// Synthetic face-parsing samples: procedurally drawn faces with exact labels, so training runs
// with no dataset on disk. Every sample is a pure function of (index, seed, res): shapes are
// signed-distance functions in "face units" (face half-width ≈ 1, y down), placed by a random
// similarity (rotation ±12°, scale 0.9–1.15, translation ±4 %) and painted back to front. The image is
// anti-aliased (coverage from the signed distance); a pixel's label is the part whose shape holds
// the pixel centre among the parts painted on top there, so labels always match the picture.
//
// Left/right: "l_"/"left" parts are drawn on the IMAGE-left side (the person's right), the
// observer's convention of the LaPa 106-point landmarks (the spec's 5-point template puts the
// first eye at x=196 < 316). The spec does not pin down CelebAMask-HQ's l_eye side; only the class
// order matters for training, and this file uses one convention for all three datasets.
// LaPa/Helen: ears are face skin; neck, cloth and accessories are background (LaPa has no
// accessory classes, so they are only drawn for celeb). The geometry and colours of a sample do
// not depend on the dataset: the same (index, seed) draws the same face with another label set.
import type { Dataset } from '../../model/config.js';
import { rng } from '../random.js';
import type { Sample } from './dataset.js';

// ---------------------------------------------------------------------------- parts and labels

/** Drawn parts; the ids are the CelebAMask-HQ label ids (official order). */
const P = {
  bg: 0, neck: 1, skin: 2, cloth: 3, lEar: 4, rEar: 5, lBrow: 6, rBrow: 7, lEye: 8, rEye: 9, nose: 10,
  mouth: 11, lowerLip: 12, upperLip: 13, hair: 14, glasses: 15, hat: 16, earring: 17, necklace: 18,
} as const;
/** Paints the image only (glass tint, shading), leaving labels as they are. */
const IMAGE_ONLY = 255;

/** Part id → label id of each dataset. LaPa/Helen: bg 0, face 1, lb 2, rb 3, le 4, re 5, nose 6, ul 7, im 8, ll 9, hair 10. */
const LABEL_OF: Record<Dataset, Uint8Array> = {
  celeb: Uint8Array.from({ length: 19 }, (_, i) => i),
  lapa: Uint8Array.from([0, 0, 1, 0, 1, 1, 2, 3, 4, 5, 6, 8, 9, 7, 10, 0, 0, 0, 0]),
  helen: Uint8Array.from([0, 0, 1, 0, 1, 1, 2, 3, 4, 5, 6, 8, 9, 7, 10, 0, 0, 0, 0]),
};

// ---------------------------------------------------------------------------- shapes (face units)

/** Signed distance (approximate, in face units): < 0 inside. */
type Sdf = (x: number, y: number) => number;
type Rgb = readonly [number, number, number];

/** Rotated ellipse; distance by a first-order (k−1)/|∇k| estimate. */
function ellipse(cx: number, cy: number, rx: number, ry: number, rot = 0): Sdf {
  const c = Math.cos(rot), s = Math.sin(rot);
  const irx2 = 1 / (rx * rx), iry2 = 1 / (ry * ry), inner = -Math.min(rx, ry);
  return (x, y) => {
    const dx = x - cx, dy = y - cy;
    const u = c * dx + s * dy, v = c * dy - s * dx;
    const k = Math.sqrt(u * u * irx2 + v * v * iry2);
    const g = Math.sqrt(u * u * irx2 * irx2 + v * v * iry2 * iry2);
    return g > 1e-9 ? (k * (k - 1)) / g : inner;
  };
}

/** Ellipse whose horizontal radius shrinks linearly to (1 − taper)·rx at the bottom (a jaw). */
function egg(rx: number, ry: number, taper: number): Sdf {
  const irx2 = 1 / (rx * rx), iry2 = 1 / (ry * ry), t = taper / ry;
  return (x, y) => {
    const u = x / (1 - (y <= 0 ? 0 : y >= ry ? taper : t * y));
    const uu = u * u * irx2, vv = y * y * iry2;
    const k = Math.sqrt(uu + vv), g = Math.sqrt(uu * irx2 + vv * iry2);
    return g > 1e-9 ? (k * (k - 1)) / g : -rx;
  };
}

/** Ellipse bent along a parabola: v → v + bend·u² in its own frame (brows). */
function bentEllipse(cx: number, cy: number, rx: number, ry: number, bend: number, rot: number): Sdf {
  const base = ellipse(0, 0, rx, ry);
  const c = Math.cos(rot), s = Math.sin(rot);
  return (x, y) => {
    const dx = x - cx, dy = y - cy;
    const u = c * dx + s * dy, v = c * dy - s * dx;
    return base(u, v + bend * u * u);
  };
}

/** Axis-aligned box (exact distance). */
function box(x0: number, y0: number, x1: number, y1: number): Sdf {
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2, hx = (x1 - x0) / 2, hy = (y1 - y0) / 2;
  return (x, y) => {
    const qx = Math.abs(x - cx) - hx, qy = Math.abs(y - cy) - hy;
    return Math.sqrt(Math.max(qx, 0) ** 2 + Math.max(qy, 0) ** 2) + Math.min(Math.max(qx, qy), 0);
  };
}

/** Segment (x0,y0)–(x1,y1) thickened by r (exact). */
function capsule(x0: number, y0: number, x1: number, y1: number, r: number): Sdf {
  const ex = x1 - x0, ey = y1 - y0, ee = ex * ex + ey * ey;
  return (x, y) => {
    const px = x - x0, py = y - y0;
    const t = Math.min(1, Math.max(0, (px * ex + py * ey) / ee));
    return Math.sqrt((px - t * ex) ** 2 + (py - t * ey) ** 2) - r;
  };
}

/** Simple polygon (exact distance; sign by even–odd crossings). */
function polygon(pts: readonly (readonly [number, number])[]): Sdf {
  const n = pts.length;
  return (x, y) => {
    let d2 = Infinity, inside = false;
    for (let i = 0, j = n - 1; i < n; j = i++) {
      const [ax, ay] = pts[i]!, [bx, by] = pts[j]!;
      const ex = bx - ax, ey = by - ay, px = x - ax, py = y - ay;
      const t = Math.min(1, Math.max(0, (px * ex + py * ey) / (ex * ex + ey * ey)));
      d2 = Math.min(d2, (px - t * ex) ** 2 + (py - t * ey) ** 2);
      if ((ay > y) !== (by > y) && x < ax + ((y - ay) * ex) / ey) inside = !inside;
    }
    return inside ? -Math.sqrt(d2) : Math.sqrt(d2);
  };
}

/** Region between two curves top(x) < y < bottom(x), |x − cx| < hw (vertical-distance estimate). */
function between(cx: number, hw: number, top: (t: number) => number, bottom: (t: number) => number): Sdf {
  return (x, y) => {
    const t = (x - cx) / hw;
    const tc = Math.min(1, Math.max(-1, t));
    return Math.max(top(tc) - y, y - bottom(tc), (Math.abs(t) - 1) * hw);
  };
}

const union = (...f: Sdf[]): Sdf => (x, y) => { let d = Infinity; for (const g of f) d = Math.min(d, g(x, y)); return d; };
const intersect = (a: Sdf, b: Sdf): Sdf => (x, y) => Math.max(a(x, y), b(x, y));
const subtract = (a: Sdf, b: Sdf): Sdf => (x, y) => Math.max(a(x, y), -b(x, y));
const ring = (a: Sdf, halfWidth: number): Sdf => (x, y) => Math.abs(a(x, y)) - halfWidth;
/** The region higher in the image than the curve y = f(x) (y grows downwards): y < f(x). */
const upper = (f: (x: number) => number): Sdf => (x, y) => y - f(x);
/** The region lower in the image than the curve: y > f(x). */
const lower = (f: (x: number) => number): Sdf => (x, y) => f(x) - y;

// ---------------------------------------------------------------------------- canvas

let scratch = new Float32Array(0);

/** res·res RGB float image + labels; face units map to pixels by a similarity (pose). */
class Canvas {
  readonly img: Float32Array;
  readonly labels: Uint8Array;
  // pixel centre → face units: fx = a·px + b·py + c, fy = −b·px + a·py + d
  private readonly a: number; private readonly b: number; private readonly c: number; private readonly d: number;

  constructor(readonly res: number, private readonly labelOf: Uint8Array,
    readonly cx: number, readonly cy: number, readonly scale: number, readonly rot: number) {
    // the float image is scratch (sample generation is synchronous), reused to spare the GC
    if (scratch.length !== res * res * 3) scratch = new Float32Array(res * res * 3);
    this.img = scratch;
    this.labels = new Uint8Array(res * res);
    const cs = Math.cos(rot) / scale, sn = Math.sin(rot) / scale;
    this.a = cs; this.b = sn;
    this.c = -(cs * cx + sn * cy);
    this.d = sn * cx - cs * cy;
  }

  /** Face units → continuous pixel coordinates. */
  toPixel(x: number, y: number): [number, number] {
    const cs = Math.cos(this.rot) * this.scale, sn = Math.sin(this.rot) * this.scale;
    return [this.cx + cs * x - sn * y, this.cy + sn * x + cs * y];
  }

  /**
   * Paint shape `sd` (bounded by the face-unit box [x0, x1]×[y0, y1]) with `color`, scaled per
   * pixel by `shade(x, y)` and blended with `alpha`; pixels whose centre is inside get `part`.
   */
  paint(sd: Sdf, bounds: readonly [number, number, number, number], color: Rgb, part: number,
    shade?: (x: number, y: number) => number, alpha = 1): void {
    const [x0, y0, x1, y1] = bounds;
    let px0 = Infinity, py0 = Infinity, px1 = -Infinity, py1 = -Infinity;
    for (const [fx, fy] of [[x0, y0], [x1, y0], [x0, y1], [x1, y1]] as const) {
      const [px, py] = this.toPixel(fx, fy);
      px0 = Math.min(px0, px); px1 = Math.max(px1, px); py0 = Math.min(py0, py); py1 = Math.max(py1, py);
    }
    const res = this.res, s = this.scale;
    const ix0 = Math.max(0, Math.floor(px0) - 1), ix1 = Math.min(res - 1, Math.ceil(px1) + 1);
    const iy0 = Math.max(0, Math.floor(py0) - 1), iy1 = Math.min(res - 1, Math.ceil(py1) + 1);
    const label = part === IMAGE_ONLY ? IMAGE_ONLY : this.labelOf[part]!;
    const [r, g, b] = color;
    const img = this.img, labels = this.labels;
    for (let py = iy0; py <= iy1; py++) {
      const Y = py + 0.5;
      for (let px = ix0; px <= ix1; px++) {
        const X = px + 0.5;
        const fx = this.a * X + this.b * Y + this.c, fy = -this.b * X + this.a * Y + this.d;
        const dist = sd(fx, fy) * s; // pixels
        if (dist >= 0.5) continue;
        const cov = (dist <= -0.5 ? 1 : 0.5 - dist) * alpha;
        const k = shade ? shade(fx, fy) : 1;
        const i = py * res + px;
        img[3 * i] += (r * k - img[3 * i]!) * cov;
        img[3 * i + 1] += (g * k - img[3 * i + 1]!) * cov;
        img[3 * i + 2] += (b * k - img[3 * i + 2]!) * cov;
        if (dist < 0 && label !== IMAGE_ONLY) labels[i] = label;
      }
    }
  }
}

// ---------------------------------------------------------------------------- random helpers

type Rand = () => number;
const uni = (r: Rand, lo: number, hi: number): number => lo + (hi - lo) * r();
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const mixRgb = (a: Rgb, b: Rgb, t: number): Rgb => [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
const jitter = (r: Rand, c: Rgb, amt: number): Rgb => [c[0] + uni(r, -amt, amt), c[1] + uni(r, -amt, amt), c[2] + uni(r, -amt, amt)];
const scaleRgb = (c: Rgb, k: number): Rgb => [c[0] * k, c[1] * k, c[2] * k];
const randomRgb = (r: Rand): Rgb => [uni(r, 0, 255), uni(r, 0, 255), uni(r, 0, 255)];

const SKIN: Rgb[] = [[255, 224, 196], [241, 194, 160], [224, 172, 125], [198, 134, 66], [141, 85, 36], [92, 56, 30]];
const HAIR: Rgb[] = [[20, 16, 14], [55, 36, 24], [100, 66, 40], [196, 160, 100], [150, 60, 30], [170, 170, 170], [60, 60, 150]];
const IRIS: Rgb[] = [[70, 40, 20], [40, 90, 160], [60, 110, 60], [110, 110, 120], [25, 20, 15]];

/** 32-bit mix of (seed, index) into the seed of one sample (murmur3 finaliser). */
function sampleSeed(seed: number, index: number): number {
  let h = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ (index >>> 0);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

// ---------------------------------------------------------------------------- public API

export interface SyntheticOptions {
  /** Image side in pixels (default 128). */
  res?: number;
  /** Label set (default celeb). */
  dataset?: Dataset;
  /** Seed of the whole synthetic corpus (default 0). */
  seed?: number;
}

export interface SyntheticSample extends Sample {
  /**
   * (5, 2) pixel coordinates with pixel (i, j)'s centre at (i, j), the convention of the LaPa
   * annotations and of the warp: image-left eye centre, image-right eye centre, nose tip,
   * image-left mouth corner, image-right mouth corner.
   */
  landmarks5: Float32Array;
}

/** Val indices start here, so train [0, n) and val never share a sample for n < 2^30. */
export const SYNTHETIC_VAL_OFFSET = 2 ** 30;

/** The sample indices of a split: train 0..count−1, val SYNTHETIC_VAL_OFFSET + 0..count−1. */
export function syntheticSplit(name: 'train' | 'val', count: number): number[] {
  if (!Number.isInteger(count) || count < 0 || count > SYNTHETIC_VAL_OFFSET) throw new Error(`syntheticSplit: bad count ${count}`);
  const start = name === 'train' ? 0 : SYNTHETIC_VAL_OFFSET;
  return Array.from({ length: count }, (_, i) => start + i);
}

/** Draw sample `index` of the synthetic corpus `seed` at `res`×`res` with `dataset`'s labels. */
export function syntheticSample(index: number, opts: SyntheticOptions = {}): SyntheticSample {
  const res = opts.res ?? 128, dataset = opts.dataset ?? 'celeb', seed = opts.seed ?? 0;
  if (!Number.isInteger(res) || res < 8) throw new Error(`syntheticSample: res ${res} must be an integer >= 8`);
  if (!Number.isInteger(index) || index < 0 || index >= 2 ** 32) throw new Error(`syntheticSample: bad index ${index}`);
  const labelOf = LABEL_OF[dataset];
  if (!labelOf) throw new Error(`syntheticSample: unknown dataset ${dataset}`);
  const r = rng(sampleSeed(seed, index));

  // pose: face centre, pixels per face unit, rotation
  const rot = (uni(r, -12, 12) * Math.PI) / 180;
  const scale = uni(r, 0.9, 1.15) * res * 0.33;
  const cv = new Canvas(res, labelOf, res * (0.5 + uni(r, -0.04, 0.04)), res * (0.44 + uni(r, -0.04, 0.04)), scale, rot);

  paintBackground(cv, r);
  const landmarks = paintFace(cv, r, dataset === 'celeb');
  const image = finish(cv, r);
  const landmarks5 = new Float32Array(10);
  // Landmarks in pixel-index coordinates (pixel i's centre is i, as in the LaPa annotations and the
  // warp's grid); the canvas paints pixel i at the continuous coordinate i + 0.5.
  landmarks.forEach(([x, y], k) => {
    const [px, py] = cv.toPixel(x, y);
    [landmarks5[2 * k], landmarks5[2 * k + 1]] = [px - 0.5, py - 0.5];
  });
  return { image, labels: cv.labels, landmarks5, name: `synthetic_${seed}_${index}` };
}

// ---------------------------------------------------------------------------- drawing

function paintBackground(cv: Canvas, r: Rand): void {
  const kind = Math.floor(r() * 3);
  const c0 = randomRgb(r), c1 = randomRgb(r);
  const ang = uni(r, 0, 2 * Math.PI), gx = Math.cos(ang) / cv.res, gy = Math.sin(ang) / cv.res;
  const waves = Array.from({ length: 3 }, () => [uni(r, -0.3, 0.3), uni(r, -0.3, 0.3), uni(r, 0, 6.3)] as const);
  const img = cv.img, res = cv.res;
  // blotches: sin(a·x + b·y + p) = sin(a·x)·cos(b·y + p) + cos(a·x)·sin(b·y + p), tabulated per row/column
  const tab = (f: (w: readonly [number, number, number], i: number) => number): Float64Array[] =>
    waves.map((w) => Float64Array.from({ length: res }, (_, i) => f(w, i)));
  const k = 64 / res;
  const sinX = kind === 2 ? tab(([a], i) => Math.sin(a * k * i)) : [], cosX = kind === 2 ? tab(([a], i) => Math.cos(a * k * i)) : [];
  const sinY = kind === 2 ? tab(([, b, p], i) => Math.sin(b * k * i + p)) : [], cosY = kind === 2 ? tab(([, b, p], i) => Math.cos(b * k * i + p)) : [];
  for (let y = 0; y < res; y++) {
    for (let x = 0; x < res; x++) {
      let t = 0;
      if (kind === 1) t = Math.min(1, Math.max(0, 0.5 + (x - res / 2) * gx + (y - res / 2) * gy));
      else if (kind === 2) {
        for (let w = 0; w < 3; w++) t += sinX[w]![x]! * cosY[w]![y]! + cosX[w]![x]! * sinY[w]![y]!;
        t = 0.5 + t / 6;
      }
      const i = 3 * (y * res + x);
      img[i] = c0[0] + (c1[0] - c0[0]) * t; img[i + 1] = c0[1] + (c1[1] - c0[1]) * t; img[i + 2] = c0[2] + (c1[2] - c0[2]) * t;
    }
  }
}

/** Paints hair, body, face, features and (celeb) accessories; returns the 5 landmarks in face units. */
function paintFace(cv: Canvas, r: Rand, accessories: boolean): [number, number][] {
  // ---- random appearance (drawn in a fixed order, independent of the dataset)
  const skin = jitter(r, mixRgb(pick(r, SKIN), pick(r, SKIN), r()), 10);
  const hairC = r() < 0.1 ? randomRgb(r) : jitter(r, pick(r, HAIR), 12);
  const irisC = jitter(r, pick(r, IRIS), 15);
  const lipC = mixRgb(skin, [190, 60, 80], uni(r, 0.5, 0.85));
  const clothC = randomRgb(r);
  const frx = uni(r, 0.88, 1.0), fry = uni(r, 1.18, 1.32), taper = uni(r, 0.1, 0.3);
  const ey = uni(r, -0.2, -0.08), ex = uni(r, 0.34, 0.42), erx = uni(r, 0.18, 0.22), ery = uni(r, 0.08, 0.11), etilt = uni(r, -0.12, 0.12);
  const gazeX = uni(r, -0.3, 0.3), gazeY = uni(r, -0.2, 0.2);
  const by = ey - uni(r, 0.2, 0.27), brx = uni(r, 0.21, 0.26), bry = uni(r, 0.055, 0.08), bend = uni(r, 0.5, 2), btilt = uni(r, -0.2, 0.15);
  const noseY = ey + uni(r, 0.3, 0.4), noseW = uni(r, 0.11, 0.17);
  const mouthY = noseY + uni(r, 0.26, 0.34), mw = uni(r, 0.2, 0.29), hu = uni(r, 0.07, 0.1), hl = uni(r, 0.08, 0.12);
  const open = r() < 0.6 ? uni(r, 0.04, 0.09) : 0, smile = uni(r, -0.04, 0.06);
  const earRx = uni(r, 0.12, 0.16), earRy = uni(r, 0.22, 0.29), earY = ey + uni(r, 0.08, 0.16);
  const neckW = uni(r, 0.33, 0.45), shoulderY = fry + uni(r, 0, 0.25), collarRx = neckW + uni(r, 0.05, 0.25), collarRy = uni(r, 0.12, 0.35);
  const style = pick(r, ['short', 'short', 'long', 'long', 'fringe', 'buzz'] as const);
  const fringe = style === 'fringe' || (style === 'long' && r() < 0.4);
  const hairLen = uni(r, 0.8, 2.2), hairPad = uni(r, 0.08, 0.2), hairline = uni(r, -0.75, -0.55), temple = uni(r, 0.25, 0.6);
  const strandAng = uni(r, 0, Math.PI), strandF = uni(r, 25, 45);
  const hasGlasses = r() < 0.35, hasHat = r() < 0.25, hasEarrings = r() < 0.4, hasNecklace = r() < 0.35;
  const glassC = r() < 0.5 ? jitter(r, [30, 30, 30], 20) : randomRgb(r), lensRy = uni(r, 0.14, 0.18), frameW = uni(r, 0.035, 0.05);
  const hatC = randomRgb(r), hatY = uni(r, -0.78, -0.55), brimRx = frx + uni(r, 0.3, 0.55);
  const metal: Rgb = r() < 0.5 ? [230, 200, 90] : [200, 200, 210];
  const pendant = r() < 0.5, chainRy = uni(r, 0.3, 0.45), crownRy = uni(r, 0.55, 0.75);

  const mouthLine = (t: number): number => mouthY - smile * t * t;
  const s1 = (t: number): number => Math.max(0, 1 - t * t);
  const sx = (strandF * Math.cos(strandAng)) / (2 * Math.PI), sy = (strandF * Math.sin(strandAng)) / (2 * Math.PI);
  const strands = (x: number, y: number): number => { // triangle wave across the strands
    const f = x * sx + y * sy;
    return 0.87 + 0.52 * Math.abs(f - Math.floor(f) - 0.5);
  };
  const darker = scaleRgb(skin, 0.85);

  // ---- hair behind the head and body
  const hairTop = -fry - hairPad;
  if (style === 'long') {
    const back = union(ellipse(0, -0.1, frx + hairPad + 0.1, fry + hairPad), box(-frx - hairPad - 0.1, 0, frx + hairPad + 0.1, hairLen));
    cv.paint(back, [-frx - 0.5, hairTop - 0.2, frx + 0.5, hairLen + 0.1], scaleRgb(hairC, 0.8), P.hair, strands);
  }
  cv.paint(box(-neckW, 0.2, neckW, shoulderY + 2), [-neckW, 0.2, neckW, shoulderY + 2], darker, P.neck);
  const cloth = subtract(lower((x) => shoulderY + 0.15 * x * x), ellipse(0, shoulderY - 0.05, collarRx, collarRy));
  cv.paint(cloth, [-4, shoulderY - 0.1, 4, shoulderY + 4], clothC, P.cloth, (_x, y) => 1 - 0.15 * Math.min(1, (y - shoulderY) / 2));
  if (accessories && hasNecklace) {
    const ny = shoulderY - 0.2, nrx = neckW + 0.05, nry = chainRy;
    const chain = intersect(ring(ellipse(0, ny, nrx, nry), 0.05), lower(() => ny + 0.05));
    const shape = pendant ? union(chain, ellipse(0, ny + nry + 0.05, 0.07, 0.09)) : chain;
    cv.paint(shape, [-nrx - 0.1, ny, nrx + 0.1, ny + nry + 0.15], metal, P.necklace);
  }

  // ---- ears (+ earrings), face
  for (const side of [-1, 1] as const) {
    const part = side < 0 ? P.lEar : P.rEar;
    const ecx = side * (frx + 0.02);
    cv.paint(ellipse(ecx, earY, earRx, earRy, side * 0.15), [ecx - earRx - 0.1, earY - earRy - 0.1, ecx + earRx + 0.1, earY + earRy + 0.1], darker, part);
    cv.paint(ellipse(ecx + side * 0.03, earY, earRx * 0.5, earRy * 0.6), [ecx - earRx, earY - earRy, ecx + earRx, earY + earRy], scaleRgb(skin, 0.7), part);
    if (accessories && hasEarrings) {
      const ry = earY + earRy + 0.05;
      cv.paint(ellipse(ecx + side * 0.02, ry, 0.09, 0.12), [ecx - 0.2, ry - 0.2, ecx + 0.2, ry + 0.2], metal, P.earring);
    }
  }
  cv.paint(egg(frx, fry, taper), [-frx - 0.1, -fry - 0.1, frx + 0.1, fry + 0.1], skin, P.skin,
    (x, y) => 1 - 0.12 * Math.min(1, (x * x) / (frx * frx) + Math.max(0, y / fry) ** 4));

  // ---- nose
  const tipB = noseY + 0.07;
  const nose = polygon([[-0.045, ey + 0.02], [0.045, ey + 0.02], [noseW * 0.55, noseY - 0.08], [noseW, noseY + 0.02],
    [noseW * 0.6, tipB], [0, tipB + 0.015], [-noseW * 0.6, tipB], [-noseW, noseY + 0.02], [-noseW * 0.55, noseY - 0.08]]);
  cv.paint(nose, [-noseW - 0.05, ey, noseW + 0.05, tipB + 0.05], scaleRgb(skin, 0.93), P.nose, (x) => 1 - 0.3 * Math.abs(x));
  for (const side of [-1, 1]) {
    const nx = side * noseW * 0.45;
    cv.paint(ellipse(nx, noseY + 0.03, noseW * 0.22, 0.025), [nx - 0.1, noseY - 0.05, nx + 0.1, noseY + 0.1], scaleRgb(skin, 0.45), P.nose);
  }

  // ---- eyes (white, iris, pupil, lid line) and brows
  for (const side of [-1, 1] as const) {
    const eyePart = side < 0 ? P.lEye : P.rEye, browPart = side < 0 ? P.lBrow : P.rBrow;
    const cx = side * ex, tilt = side * etilt;
    const eye = ellipse(cx, ey, erx, ery, tilt);
    const bb = [cx - erx - 0.05, ey - ery - 0.05, cx + erx + 0.05, ey + ery + 0.05] as const;
    cv.paint(eye, bb, [235, 232, 228], eyePart);
    const ir = ery * 0.95, ix = cx + gazeX * erx * 0.4, iy = ey + gazeY * ery * 0.3;
    cv.paint(intersect(ellipse(ix, iy, ir, ir), eye), bb, irisC, eyePart, (x, y) => 1.15 - 0.5 * Math.sqrt((x - ix) ** 2 + (y - iy) ** 2) / ir);
    cv.paint(intersect(ellipse(ix, iy, ir * 0.45, ir * 0.45), eye), bb, [10, 10, 12], eyePart);
    cv.paint(intersect(ring(eye, 0.012), upper((x) => ey + (x - cx) * Math.tan(tilt))), bb, [30, 22, 20], IMAGE_ONLY);
    const bcx = side * (ex + 0.02);
    cv.paint(bentEllipse(bcx, by, brx, bry, bend, side * btilt), [bcx - brx - 0.05, by - 0.15, bcx + brx + 0.05, by + 0.15], mixRgb(hairC, [25, 20, 18], 0.5), browPart);
  }

  // ---- lips and inner mouth
  const mb = [-mw - 0.05, mouthY - 0.2, mw + 0.05, mouthY + 0.2] as const;
  const bow = (t: number): number => 1 - 0.35 * Math.exp(-(t * t) / 0.02);
  cv.paint(between(0, mw, (t) => mouthLine(t) - hu * Math.sqrt(s1(t)) * bow(t), (t) => mouthLine(t) - open * s1(t)), mb, lipC, P.upperLip);
  cv.paint(between(0, mw, (t) => mouthLine(t) + open * s1(t), (t) => mouthLine(t) + hl * Math.sqrt(s1(t))), mb, scaleRgb(lipC, 1.06), P.lowerLip);
  if (open > 0) {
    const inner = between(0, mw, (t) => mouthLine(t) - open * s1(t), (t) => mouthLine(t) + open * s1(t));
    cv.paint(inner, mb, [70, 20, 25], P.mouth);
    cv.paint(intersect(inner, upper((x) => mouthLine(x / mw) - open * s1(x / mw) + open * 0.7)), mb, [225, 220, 205], P.mouth);
  }

  // ---- hair on top (cap with hairline or fringe, side locks for long hair)
  {
    const pad = style === 'buzz' ? 0.04 : hairPad;
    const line = fringe
      ? (x: number): number => by - 0.02 + 0.04 * Math.sin(x * 14) + temple * 0.3 * x * x
      : (x: number): number => hairline + temple * x * x;
    const cap = intersect(ellipse(0, -0.1, frx + pad, fry + pad - 0.1), upper(line));
    const parts = style === 'long' ? union(cap, box(-frx - pad, -0.3, -frx + 0.08, hairLen), box(frx - 0.08, -0.3, frx + pad, hairLen)) : cap;
    cv.paint(parts, [-frx - 0.4, hairTop - 0.1, frx + 0.4, style === 'long' ? hairLen : 0.5], hairC, P.hair, strands);
  }

  // ---- glasses, hat
  if (accessories && hasGlasses) {
    const lrx = erx + 0.09;
    for (const side of [-1, 1]) {
      const lens = ellipse(side * ex, ey + 0.01, lrx, lensRy);
      const b = [side * ex - lrx - 0.1, ey - lensRy - 0.1, side * ex + lrx + 0.1, ey + lensRy + 0.1] as const;
      cv.paint(lens, b, [200, 220, 240], IMAGE_ONLY, undefined, 0.15);
      cv.paint(ring(lens, frameW), b, glassC, P.glasses);
      cv.paint(capsule(side * (ex + lrx), ey, side * frx * 0.97, earY - 0.05, frameW), [-frx - 0.1, ey - 0.3, frx + 0.1, ey + 0.3], glassC, P.glasses);
    }
    cv.paint(capsule(-ex + lrx, ey - 0.02, ex - lrx, ey - 0.02, frameW), [-ex, ey - 0.1, ex, ey + 0.1], glassC, P.glasses);
  }
  if (accessories && hasHat) {
    const crown = intersect(ellipse(0, hatY, frx + 0.18, crownRy), upper(() => hatY));
    const hat = union(crown, ellipse(0, hatY, brimRx, 0.08));
    cv.paint(hat, [-brimRx - 0.1, hatY - 0.9, brimRx + 0.1, hatY + 0.2], hatC, P.hat, (_x, y) => 1 - 0.2 * (hatY - y));
  }

  return [[-ex, ey], [ex, ey], [0, noseY + 0.02], [-mw, mouthLine(-1)], [mw, mouthLine(1)]];
}

/** Lighting gradient and pixel noise, then quantise to RGB bytes. */
function finish(cv: Canvas, r: Rand): Uint8Array {
  const res = cv.res, img = cv.img;
  const ang = uni(r, 0, 2 * Math.PI), light = uni(r, 0, 0.3), noise = uni(r, 0, 4);
  const lx = (Math.cos(ang) * light) / res, ly = (Math.sin(ang) * light) / res;
  const out = new Uint8ClampedArray(res * res * 3); // clamps and rounds on store
  let s = ((r() * 4294967296) >>> 0) || 1; // xorshift32 for the per-pixel noise
  for (let y = 0; y < res; y++) {
    for (let x = 0; x < res; x++) {
      const k = 1 + (x - res / 2) * lx + (y - res / 2) * ly;
      for (let c = 0; c < 3; c++) {
        s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
        const i = 3 * (y * res + x) + c;
        out[i] = img[i]! * k + noise * (((s >>> 0) / 4294967296) * 2 - 1);
      }
    }
  }
  return new Uint8Array(out.buffer);
}
