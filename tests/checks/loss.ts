// The fused segmentation loss (kernels/loss.wgsl): w_ce·cross-entropy + w_dice·Dice over the
// logits, forward (total, CE, Dice and the count of labels outside [0, K)) and d(logits) against
// the float64 reference: shared by tests/loss.test.ts (Node) and the web page's op checks
// (tests/web/op_checks.ts).
import { crossEntropy, diceLoss, readSegLoss, segLoss, type LossKernelOptions, type LossWeights, type SegLossResult } from '../../src/runtime/ops/loss.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { segLossRef, segLossRefBackward } from '../../src/runtime/reference/loss.js';
import { roundHalf } from '../../src/runtime/half.js';
import { f16Tol, type Precision } from '../../src/runtime/reference/check.js';
import { randn, rng } from '../inputs.js';
import { near } from './run.js';

// Loss values are f32 sums of up to 16k per-pixel terms (hierarchical: 16 per invocation, 64 per
// workgroup, then the workgroup rows), each term a few roundings of exp/log away from float64.
export const VALUE_TOL = { atol: 1e-6, rtol: 2e-6 };
// The Dice sums I, Z are f32 sums of p values; Y are exact integer counts.
export const SUMS_TOL = { atol: 1e-5, rtol: 2e-6 };
// d(logits) elements are O(1/N); f32 softmax errors are ~1e-7 absolute in p, so the atol is taken
// relative to the largest reference gradient element (set per case in `gradTol`).
const GRAD_RTOL = 1e-5;
export const gradTol = (want: Float64Array): { atol: number; rtol: number } => {
  let m = 0;
  for (const v of want) m = Math.max(m, Math.abs(v));
  return { atol: 2e-6 * m, rtol: GRAD_RTOL };
};

// f16 logits (mixed precision): the logits are rounded to f16 before the reference sees them,
// the kernels compute in f32 as in the f32 build, and the loss values and Dice sums stay f32: the
// same VALUE_TOL / SUMS_TOL. d(logits) is stored in f16 once: f16Tol(gradTol), whose 2^-25 is what
// remains of the O(1/N) elements below f16's normal range (2^-14) without loss scaling.

export interface Case {
  name: string;
  B: number; K: number; H: number; W: number;
  /** label generator: defaults to uniform over [0, K) */
  labels?: (n: number, K: number, r: () => number) => number[];
  opts?: LossKernelOptions;
  weights?: LossWeights;
  fn?: 'segLoss' | 'crossEntropy' | 'diceLoss';
}

/** Uniform labels with four outside [0, K): -1, K, 255 and the most negative i32. */
export const badLabels = (n: number, K: number, r: () => number): number[] => {
  const l = Array.from({ length: n }, () => Math.floor(r() * K));
  l[0] = -1; l[5] = K; l[n - 1] = 255; l[17] = -2147483648;
  return l;
};

/** segLoss with its default weights 0.5/0.5 unless stated. */
export const CASES: Case[] = [
  { name: 'B=1 K=11 7x5', B: 1, K: 11, H: 7, W: 5 },
  { name: 'B=2 K=19 7x5', B: 2, K: 19, H: 7, W: 5 },
  { name: 'B=2 K=11 9x13, 8 invocations x 3 pixels (many workgroups)', B: 2, K: 11, H: 9, W: 13, opts: { workgroupSize: 8, pixelsPerThread: 3 } },
  { name: 'B=2 K=19 16x16, workgroup 128 (two reduction rounds)', B: 2, K: 19, H: 16, W: 16, opts: { workgroupSize: 128, pixelsPerThread: 2 } },
  { name: 'B=2 K=19 weights 0.3/1.7', B: 2, K: 19, H: 6, W: 7, weights: { ceWeight: 0.3, diceWeight: 1.7 } },
  {
    name: 'B=2 K=19, only classes 0, 3, 18 present', B: 2, K: 19, H: 8, W: 9,
    labels: (n, _K, r) => Array.from({ length: n }, () => [0, 3, 18][Math.floor(r() * 3)]!),
  },
  { name: 'B=1 K=19 128x128', B: 1, K: 19, H: 128, W: 128 },
  { name: 'B=5 K=2 128x128, one pixel per workgroup (2-D grid fold)', B: 5, K: 2, H: 128, W: 128, opts: { workgroupSize: 1, pixelsPerThread: 1 } },
];

/** The single terms and labels outside [0, K), with their seeds. */
export const TERM_CASES: [Case, number][] = [
  [{ name: 'crossEntropy B=2 K=11 7x5', B: 2, K: 11, H: 7, W: 5, fn: 'crossEntropy' }, 300],
  [{ name: 'crossEntropy B=1 K=19 17x3', B: 1, K: 19, H: 17, W: 3, fn: 'crossEntropy' }, 310],
  [{ name: 'diceLoss B=2 K=11 7x5', B: 2, K: 11, H: 7, W: 5, fn: 'diceLoss' }, 320],
  [{ name: 'diceLoss B=1 K=19 17x3, half the classes absent', B: 1, K: 19, H: 17, W: 3, fn: 'diceLoss', labels: (n, _K, r) => Array.from({ length: n }, () => 2 * Math.floor(r() * 9)) }, 330],
  [{ name: 'segLoss B=2 K=11 7x5, 4 labels outside [0, K)', B: 2, K: 11, H: 7, W: 5, labels: badLabels }, 400],
];

function makeLabels(c: Case, seed: number): number[] {
  const r = rng(seed);
  const n = c.B * c.H * c.W;
  return c.labels ? c.labels(n, c.K, r) : Array.from({ length: n }, () => Math.floor(r() * c.K));
}

function runLoss(c: Case, logits: Tensor, labels: Tensor): SegLossResult {
  if (c.fn === 'crossEntropy') return crossEntropy(logits, labels, c.opts);
  if (c.fn === 'diceLoss') return diceLoss(logits, labels, c.opts);
  return segLoss(logits, labels, c.weights, c.opts);
}

function weightsOf(c: Case): LossWeights {
  if (c.fn === 'crossEntropy') return { ceWeight: 1, diceWeight: 0 };
  if (c.fn === 'diceLoss') return { ceWeight: 0, diceWeight: 1 };
  return c.weights ?? { ceWeight: 0.5, diceWeight: 0.5 };
}

export async function checkLoss(r: Runtime, c: Case, seed: number, fail: (message: string) => void, precision: Precision = 'f32'): Promise<void> {
  const HW = c.H * c.W;
  const x = randn(c.B * c.K * HW, seed, -3, 3);
  if (precision === 'f16') x.forEach((v, i) => { x[i] = roundHalf(v); });
  const lab = makeLabels(c, seed + 1);
  const w = weightsOf(c);
  const want = segLossRef(x, lab, c.B, c.K, HW, w.ceWeight, w.diceWeight);
  const logits = r.tensor(x, [c.B, c.K, c.H, c.W], precision);
  logits.requiresGrad = true;
  const labels = r.tensor(lab, [c.B, c.H, c.W], 'i32');
  const res = runLoss(c, logits, labels);
  const dTotal = randn(1, seed + 2, 0.5, 2);
  const seedT = r.tensor(dTotal, [1]);
  try {
    const got = await readSegLoss(res, false);
    if (got.badLabels !== want.bad) fail(`${c.name}: ${got.badLabels} bad labels counted, expected ${want.bad}`);
    near(`${c.name}: total`, [got.total], [want.total], VALUE_TOL, fail);
    near(`${c.name}: ce`, [got.ce], [want.ce], VALUE_TOL, fail);
    near(`${c.name}: dice`, [got.dice], [want.dice], VALUE_TOL, fail);
    r.backward(res.total, seedT);
    const wantGrad = segLossRefBackward(x, lab, c.B, c.K, HW, w.ceWeight, w.diceWeight, dTotal[0]);
    if (!logits.grad) fail(`${c.name}: d(logits) missing`);
    else near(`${c.name}: d(logits)${precision === 'f16' ? ' (f16)' : ''}`, await logits.grad.read(), wantGrad, precision === 'f16' ? f16Tol(gradTol(wantGrad)) : gradTol(wantGrad), fail);
  } finally {
    for (const t of [res.total, res.ce, res.dice, res.badLabels, seedT, logits, labels]) t.release();
    logits.grad?.release();
    logits.grad = null;
    r.tape.clear();
  }
}
