// LaPa's RoI tanh warp (docs/segface-model.md, "LaPa's landmark warp"): the official SegFaceLapa aligns
// each face to a 5-point template with a least-squares similarity M, samples the image through a
// tanh-compressed grid, runs the network on the warped image and samples the logits back:
//
//   x_w      = grid_sample(x, grid)           grid     (B, res, res, 2): warped pixel -> input
//   logits_w = net(x_w)                                                  (B, K, res, res)
//   logits   = grid_sample(logits_w, inv)     inv      (B, H, W, 2): input pixel -> warped
//
// All grid_samples are bilinear, padding 'zeros', align_corners=False. The grids are computed on
// the host in float64 and rounded to float32 once (the official code builds them with torch; the
// values agree to float32 rounding); they are constants (no gradient), so backward flows through
// both samplings into the image and the network only. Coordinates are pixel indices (x right, y
// down); the normalisation p/size·2 − 1 (not (2p + 1)/size − 1) is the official one and makes
// each sampling land half a pixel up-left of p, which this port reproduces exactly.
import { gridSample } from '../runtime/ops/resample.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Tensor } from '../runtime/tensor.js';

/** The 5-point template at 512 px: left eye, right eye, nose tip, left and right mouth corner (image left first). */
export const LAPA_TEMPLATE_512: readonly (readonly [number, number])[] = [[196, 226], [316, 226], [256, 286], [220, 360.4], [292, 360.4]];

/** |c| beyond this is tanh-compressed (RoI tanh warping). */
const ROI = 0.2;
/** atanh's argument is clamped to ±this. */
const ATANH_CLAMP = 0.999;

/** Template T = P·(res − 1)/512 as (5, 2) (x, y) pairs, float64. */
export function lapaTemplate(res: number): Float64Array {
  const t = new Float64Array(10);
  LAPA_TEMPLATE_512.forEach(([x, y], k) => { t[2 * k] = (x * (res - 1)) / 512; t[2 * k + 1] = (y * (res - 1)) / 512; });
  return t;
}

/**
 * The 5 SegFace points from LaPa's 106 landmarks (212 numbers, (x, y) pairs): mean of points 74
 * and 104 (left eye centre), mean of 83 and 105 (right eye centre), 54 (nose tip), 84 and 90
 * (mouth corners); 0-based indices.
 */
export function lapaFivePoints(points106: ArrayLike<number>): Float64Array {
  if (points106.length !== 212) throw new Error(`lapaFivePoints: ${points106.length} numbers, expected 212 (106 (x, y) points)`);
  const pt = (i: number, d: number): number => points106[2 * i + d]!;
  const out = new Float64Array(10);
  for (let d = 0; d < 2; d++) {
    out[d] = (pt(74, d) + pt(104, d)) / 2;
    out[2 + d] = (pt(83, d) + pt(105, d)) / 2;
    out[4 + d] = pt(54, d);
    out[6 + d] = pt(84, d);
    out[8 + d] = pt(90, d);
  }
  return out;
}

/**
 * Least-squares similarity M (3×3 row-major, float64) mapping the 5 landmarks src (x, y) onto
 * the template at `res`: with centred src s and dst d, a = Σ d·s / Σ|s|², b = Σ (dx·sy − dy·sx) / Σ|s|²,
 * M = [[a, b, tx], [−b, a, ty], [0, 0, 1]], tx = mdx − a·msx − b·msy, ty = mdy + b·msx − a·msy.
 */
export function similarityToTemplate(src: ArrayLike<number>, res: number): Float64Array {
  const op = 'similarityToTemplate';
  if (src.length !== 10) throw new Error(`${op}: ${src.length} numbers, expected 10 (5 landmarks (x, y))`);
  for (let i = 0; i < 10; i++) if (!Number.isFinite(src[i]!)) throw new Error(`${op}: landmark ${i >> 1} has a non-finite coordinate ${src[i]}`);
  const dst = lapaTemplate(res);
  let msx = 0, msy = 0, mdx = 0, mdy = 0;
  for (let k = 0; k < 5; k++) { msx += src[2 * k]!; msy += src[2 * k + 1]!; mdx += dst[2 * k]!; mdy += dst[2 * k + 1]!; }
  msx /= 5; msy /= 5; mdx /= 5; mdy /= 5;
  let ss = 0, num = 0, cross = 0;
  for (let k = 0; k < 5; k++) {
    const sx = src[2 * k]! - msx, sy = src[2 * k + 1]! - msy, dx = dst[2 * k]! - mdx, dy = dst[2 * k + 1]! - mdy;
    ss += sx * sx + sy * sy;
    num += dx * sx + dy * sy;
    cross += dx * sy - dy * sx;
  }
  if (!(ss > 0)) throw new Error(`${op}: the 5 landmarks coincide; no similarity maps them onto the template`);
  const a = num / ss, b = cross / ss;
  return Float64Array.of(a, b, mdx - a * msx - b * msy, -b, a, mdy + b * msx - a * msy, 0, 0, 1);
}

/** Inverse of a 3×3 matrix (row-major, float64) by cofactors. */
export function invert3(m: ArrayLike<number>): Float64Array {
  const [a, b, c, d, e, f, g, h, i] = Array.from(m) as [number, number, number, number, number, number, number, number, number];
  const A = e * i - f * h, B = f * g - d * i, C = d * h - e * g;
  const det = a * A + b * B + c * C;
  if (!(Math.abs(det) > 0) || !Number.isFinite(det)) throw new Error(`invert3: singular matrix (det ${det})`);
  return Float64Array.of(A / det, (c * h - b * i) / det, (b * f - c * e) / det, B / det, (a * i - c * g) / det, (c * d - a * f) / det,
    C / det, (b * g - a * h) / det, (a * e - b * d) / det);
}

/** Applies a 3×3 homogeneous map to (x, y), dividing by w. */
function apply3(m: Float64Array, x: number, y: number): [number, number] {
  const w = m[6]! * x + m[7]! * y + m[8]!;
  return [(m[0]! * x + m[1]! * y + m[2]!) / w, (m[3]! * x + m[4]! * y + m[5]!) / w];
}

/** The RoI tanh expansion of a normalised coordinate (identity on [−0.2, 0.2]). */
function roiAtanh(c: number): number {
  const clamp = (v: number): number => Math.min(Math.max(v, -ATANH_CLAMP), ATANH_CLAMP);
  if (c > ROI) return Math.atanh(clamp((c - ROI) / (1 - ROI))) * (1 - ROI) + ROI;
  if (c < -ROI) return Math.atanh(clamp((c + ROI) / (1 - ROI))) * (1 - ROI) - ROI;
  return c;
}

/** Its inverse, the RoI tanh compression. */
function roiTanh(c: number): number {
  if (c > ROI) return Math.tanh((c - ROI) / (1 - ROI)) * (1 - ROI) + ROI;
  if (c < -ROI) return Math.tanh((c + ROI) / (1 - ROI)) * (1 - ROI) - ROI;
  return c;
}

/**
 * The warp grid (res, res, 2) of one image of size inW×inH for similarity M: output pixel (x, y)
 * -> c = (x, y)/res·2 − 1 -> RoI atanh -> p = (c + 1)/2·res -> q = M⁻¹p -> q/(inW, inH)·2 − 1.
 */
export function warpGrid(m: ArrayLike<number>, res: number, inW: number, inH: number): Float32Array {
  const minv = invert3(m);
  const grid = new Float32Array(res * res * 2);
  const cx = Float64Array.from({ length: res }, (_, i) => ((roiAtanh((i / res) * 2 - 1) + 1) / 2) * res);
  for (let y = 0; y < res; y++) {
    for (let x = 0; x < res; x++) {
      const [qx, qy] = apply3(minv, cx[x]!, cx[y]!);
      grid[2 * (y * res + x)] = (qx / inW) * 2 - 1;
      grid[2 * (y * res + x) + 1] = (qy / inH) * 2 - 1;
    }
  }
  return grid;
}

/**
 * The inverse grid (H, W, 2) of one W×H image for similarity M and warped size res: pixel (x, y)
 * -> p = M(x, y, 1) -> c = p/res·2 − 1 -> RoI tanh (the official ((c + 1)/2·res)/res·2 − 1 round
 * trip is the identity in float64).
 */
export function inverseWarpGrid(m: ArrayLike<number>, res: number, W: number, H: number): Float32Array {
  const mm = Float64Array.from(m);
  const grid = new Float32Array(H * W * 2);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const [px, py] = apply3(mm, x, y);
      grid[2 * (y * W + x)] = roiTanh((px / res) * 2 - 1);
      grid[2 * (y * W + x) + 1] = roiTanh((py / res) * 2 - 1);
    }
  }
  return grid;
}

/** Checks a (B, 5, 2) landmark array for an op; messages name the op. */
export function checkLandmarks(op: string, landmarks: ArrayLike<number>, batch: number): void {
  if (landmarks.length !== batch * 10) throw new Error(`${op}: landmarks hold ${landmarks.length} numbers, expected (B, 5, 2) = ${batch * 10} for batch ${batch}`);
}

/** Host grids of a batch: warp (B, res, res, 2) and inverse (B, H, W, 2), images W×H = res×res. */
export function warpGrids(landmarks: ArrayLike<number>, batch: number, res: number): { grid: Float32Array; inv: Float32Array } {
  checkLandmarks('warpGrids', landmarks, batch);
  const grid = new Float32Array(batch * res * res * 2);
  const inv = new Float32Array(batch * res * res * 2);
  for (let b = 0; b < batch; b++) {
    const m = similarityToTemplate(Array.from({ length: 10 }, (_, i) => landmarks[10 * b + i]!), res);
    grid.set(warpGrid(m, res, res, res), b * res * res * 2);
    inv.set(inverseWarpGrid(m, res, res, res), b * res * res * 2);
  }
  return { grid, inv };
}

/**
 * x_w = grid_sample(x, grid); logits = grid_sample(net(x_w), inv) on the GPU, for a square image
 * batch (B, C, res, res) and landmarks (B, 5, 2) in its pixel coordinates. `record` sees the grids,
 * the warped image and the un-warped logits as warp.grid, warp.inv_grid, warp.image, warp.logits.
 */
export function lapaWarped(rt: Runtime, image: Tensor, landmarks: ArrayLike<number>, net: (warped: Tensor) => Tensor,
  record?: (name: string, t: Tensor) => void): Tensor {
  const op = 'lapaWarp';
  if (image.rank !== 4) throw new Error(`${op}: image ${image.describe()} must be (B, C, H, W)`);
  const [B, , H, W] = image.shape as [number, number, number, number];
  if (H !== W) throw new Error(`${op}: image ${image.describe()} must be square (the template is defined for res × res)`);
  checkLandmarks(op, landmarks, B);
  const host = warpGrids(landmarks, B, H);
  const grid = rt.tensor(host.grid, [B, H, W, 2]);
  const inv = rt.tensor(host.inv, [B, H, W, 2]);
  record?.('warp.grid', grid);
  record?.('warp.inv_grid', inv);
  const warped = gridSample(image, grid);
  grid.release();
  record?.('warp.image', warped);
  const logitsWarped = net(warped);
  warped.release();
  const logits = gridSample(logitsWarped, inv);
  logitsWarped.release();
  inv.release();
  record?.('warp.logits', logits);
  return logits;
}
