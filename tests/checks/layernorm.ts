// LayerNorm checks against the float64 reference, shared by tests/layernorm.test.ts (Node) and the
// web page's op checks (tests/web/op_checks.ts).
import { layerNorm, type LayerNormOptions } from '../../src/runtime/ops/layernorm.js';
import { rowThreads } from '../../src/runtime/ops/softmax.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { numel, randn } from '../inputs.js';
import { checkCase } from './run.js';
import { layerNormRef, layerNormRefBackward } from '../../src/runtime/reference/layernorm.js';

// Tolerances. LayerNorm's f32 error scales with each row's conditioning: x − mean carries an
// absolute error of a few ulp of max|x| (the mean's summation), which x̂ = (x − mean)·rstd
// multiplies by rstd, and dx multiplies by rstd once more. So with U = 2^-24, κ = max rstd,
// X = max|x|, W = max|w| of a case, the measured worst errors against float64 (per row, over
// 48 random cases with C = 1..768, offsets 0..10, rstd up to ~10^3) are
//   |Δy| ≤ 2.0·U·κ·X·W + 1e-6|y|,   |Δdx| ≤ 3.1·U·κ²·X·W + 1e-6|dx|   (dy in [-1, 1]),
//   |Δmean| ≤ 2.2·U·X,   |Δrstd| ≤ 2.5·U·rstd.
// The tolerances take twice those constants. For a well-conditioned Swin-like row (κ ≈ 1, X ≈ 2,
// W = 1.5) they are atol 7e-7 on y and 1.1e-6 on dx.
export const U = 2 ** -24;
// dw, db are column sums over all rows (chunks of 64, then the chunk sums): a sum of f32 terms errs
// in proportion to Σ|terms| (not to the result, which may cancel), measured ≤ 1.7e-8·Σ|terms|; each
// term also carries x̂'s error above. So atol = 1e-7·Σ_r|term| + 4U·Σ_r |dy|·rstd_r·X_r, the
// largest over columns of dw and db.
export function tolerances(x: Float64Array, w: Float64Array, eps: number, dy: Float64Array) {
  const cols = w.length;
  const { mean, rstd } = layerNormRef(x, w, new Float64Array(cols), eps);
  const W = Math.max(...w.map(Math.abs));
  const X = x.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
  const kappa = rstd.reduce((a, v) => Math.max(a, v), 0);
  const sumW = new Float64Array(cols);
  const sumB = new Float64Array(cols);
  const xhatErr = new Float64Array(cols);
  for (let i = 0; i < x.length; i++) {
    const r = Math.floor(i / cols);
    let rowX = 0;
    for (let c = 0; c < cols; c++) rowX = Math.max(rowX, Math.abs(x[r * cols + c]!));
    sumW[i % cols] += Math.abs(dy[i]! * (x[i]! - mean[r]!) * rstd[r]!);
    sumB[i % cols] += Math.abs(dy[i]!);
    xhatErr[i % cols] += 4 * U * Math.abs(dy[i]!) * rstd[r]! * rowX;
  }
  let params = 0;
  for (let c = 0; c < cols; c++) params = Math.max(params, 1e-7 * sumW[c]! + xhatErr[c]!, 1e-7 * sumB[c]!);
  return {
    y: { atol: 4 * U * kappa * X * W, rtol: 1e-6 },
    dx: { atol: 6 * U * kappa * kappa * X * W, rtol: 1e-6 },
    mean: { atol: 4.4 * U * X, rtol: 0 },
    rstd: { atol: 0, rtol: 5 * U },
    params: { atol: params, rtol: 1e-6 },
  };
}

/** `ramp`: rows are (c − (C−1)/2)·1.5 plus noise in [-0.5, 0.5], so every row is well conditioned. */
export interface Case { shape: number[]; eps: number; offset?: number; ramp?: boolean }
export const CASES: Case[] = [
  { shape: [3, 1], eps: 1e-5 },   // C = 1: x̂ = 0, y = b, dx = 0, dw = 0, db = Σ dy (as PyTorch)
  { shape: [4, 2], eps: 1e-6 },
  { shape: [7, 3], eps: 1e-5 },
  { shape: [5, 128], eps: 1e-5 },
  { shape: [2, 13, 97], eps: 1e-6 },
  { shape: [6, 768], eps: 1e-5 },
  { shape: [3136, 128], eps: 1e-5 },                // a Swin stage-1 image: 49 chunks of dw/db partials
  { shape: [3136, 128], eps: 1e-6, offset: 3 },    // rows with |mean| ≫ 0
];

export const inputsOf = (c: Case, i: number) => {
  const cols = c.shape[c.shape.length - 1]!;
  return {
    cols,
    x: randn(numel(c.shape), 60 + i, -2, 2).map((v, j) =>
      Math.fround(c.ramp ? ((j % cols) - (cols - 1) / 2) * 1.5 + v / 4 : v + (c.offset ?? 0))),
    w: randn(cols, 70 + i, -1.5, 1.5),
    b: randn(cols, 80 + i),
  };
};

/** Forward and dx (w, b frozen), then forward and dw, db (x frozen), each with its own tolerance. */
export async function checkLayerNorm(r: Runtime, c: Case, i: number, fail: (message: string) => void, opts: LayerNormOptions = {}): Promise<void> {
  const { cols, x, w, b } = inputsOf(c, i);
  const label = `layerNorm [${c.shape}] eps ${c.eps}${c.offset ? ` offset ${c.offset}` : ''}, ${opts.threadsPerRow ?? rowThreads(cols).tpr} per row`;
  const seed = i;
  // checkOp draws dOut from randn(n, seed + 1000); recompute it for the tolerances
  const tol = tolerances(x, w, c.eps, randn(x.length, seed + 1000));
  for (const part of ['dx', 'params'] as const) {
    await checkCase(r, {
      name: `${label} (${part})`,
      inputs: [
        { data: x, shape: c.shape, grad: part === 'dx' },
        { data: w, shape: [cols], grad: part === 'params' },
        { data: b, shape: [cols], grad: part === 'params' },
      ],
      run: ([xt, wt, bt]) => layerNorm(xt!, wt!, bt!, c.eps, opts),
      ref: ([xv, wv, bv]) => layerNormRef(xv!, wv!, bv!, c.eps).y,
      refBackward: ([xv, wv], g) => layerNormRefBackward(xv!, wv!, c.eps, g),
      fwdTol: tol.y,
      gradTol: part === 'dx' ? tol.dx : tol.params,
      seed,
    }, fail);
  }
}

