// Matmul checks against the float64 reference, shared by tests/matmul.test.ts (Node, lavapipe) and
// the web page's op checks (tests/web/op_checks.ts, Chromium's adapter).
import { matmul, type MatmulVariant } from '../../src/runtime/ops/matmul.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { f16Tol, type Precision, type Tol } from '../../src/runtime/reference/check.js';
import { roundHalf } from '../../src/runtime/half.js';
import { randn } from '../inputs.js';
import { checkCase } from './run.js';
import { matmulRef, matmulRefBackward, type MatmulShape } from '../../src/runtime/reference/matmul.js';
import { geluRefBackward } from '../../src/runtime/reference/activation.js';

// Tolerance. An f32 dot product of L terms, in any summation order, differs from the exact value
// by at most about λ·√L·u·Σ|terms| with high probability (Higham & Mary's probabilistic bound;
// u = 2^-24, λ = 4), and rigorously by L·u·Σ|terms|. So each output or gradient tensor gets
// atol = 4·√L·u·max Σ|terms|, with Σ|terms| from the float64 reference on |inputs| and L the
// contraction length (K for the output; N, batch·M and batch·M for dA, dB, dbias; +1 for the bias).
export const U = 2 ** -24;
export const tolFor = (L: number, maxAbsSum: number): Tol => ({ atol: 4 * Math.sqrt(L + 1) * U * maxAbsSum, rtol: 0 });
export const maxOf = (x: ArrayLike<number>): number => { let m = 0; for (let i = 0; i < x.length; i++) m = Math.max(m, x[i]!); return m; };
export const abs = (x: Float64Array): Float64Array => x.map(Math.abs);

export const VARIANTS: MatmulVariant[] = ['naive', 'tiled', 'wgmem', 'subgroup'];
// (M, N, K): 1, odd primes, exact tiles, and one past the tile in every dimension.
export const SHAPES: [number, number, number][] = [[1, 1, 1], [7, 13, 5], [31, 97, 67], [64, 64, 64], [65, 33, 129]];
export const BATCH = 3;

/** variant: a family (its default shape on this adapter) or a tuning candidate's name. */
export interface Case { s: MatmulShape; lead: number[]; bias: boolean; variant: string }

export const aShape = (c: Case): number[] => [...c.lead, ...(c.s.transA ? [c.s.K, c.s.M] : [c.s.M, c.s.K])];
export const bShape = (c: Case): number[] => [...(c.s.batchedB ? c.lead : []), ...(c.s.transB ? [c.s.N, c.s.K] : [c.s.K, c.s.N])];

/**
 * f16 (inputs rounded to f16, so the reference sees what the kernel sees; f32 accumulation): the
 * f32 bound plus the output's rounding (f16Tol). One gradient path stores partials: a shared b
 * under transA sums per-item products, each rounded to f16 (≤ u16·|partial|), so dB may be off by
 * a further u16·Σ|terms|, at most u16 (2^-11) times the gradients' largest Σ|terms|.
 */
function f16Tols(s: MatmulShape, fwd: Tol, grad: Tol, gradAbsMax: number): { fwdTol: Tol; gradTol: Tol } {
  const perItem = !s.batchedB && s.transA && s.batch > 1;
  const g = f16Tol(grad);
  return { fwdTol: f16Tol(fwd), gradTol: { atol: g.atol + (perItem ? 2 ** -11 * gradAbsMax : 0), rtol: g.rtol } };
}

export async function checkMatmul(r: Runtime, c: Case, seed: number, fail: (message: string) => void, precision: Precision = 'f32'): Promise<void> {
  const { s } = c;
  const round = (x: Float64Array): Float64Array => (precision === 'f16' ? x.map(roundHalf) : x);
  const a = round(randn(s.batch * s.M * s.K, seed));
  const b = round(randn((s.batchedB ? s.batch : 1) * s.K * s.N, seed + 1));
  const bias = round(randn(s.N, seed + 2));
  const dOut = round(randn(s.batch * s.M * s.N, 1001));   // the upstream gradient checkOp draws (its seed 1 + 1000)
  // Σ|terms| per element, from the reference on absolute values.
  const fwdAbs = maxOf(matmulRef(s, abs(a), abs(b), c.bias ? abs(bias) : undefined));
  const gradAbs = matmulRefBackward(s, abs(a), abs(b), abs(dOut), c.bias).map(maxOf);
  const rows = s.batch * s.M;
  const gradL = Math.max(s.N, rows);
  await checkCase(r, {
    name: `${c.variant} ${JSON.stringify(s)} bias ${c.bias}`,
    seed: 1,
    inputs: [
      { data: a, shape: aShape(c) },
      { data: b, shape: bShape(c) },
      ...(c.bias ? [{ data: bias, shape: [s.N] }] : []),
    ],
    run: ([x, y, z]) => matmul(x!, y!, { transA: s.transA, transB: s.transB, bias: z, variant: c.variant }),
    ref: ([x, y, z]) => matmulRef(s, x!, y!, z),
    refBackward: ([x, y], g) => matmulRefBackward(s, x!, y!, g, c.bias),
    fwdTol: tolFor(s.K + (c.bias ? 1 : 0), fwdAbs),
    // one tolerance for all gradients: the longest contraction and the largest Σ|terms|
    gradTol: tolFor(gradL, Math.max(...gradAbs)),
    f16: f16Tols(s, tolFor(s.K + (c.bias ? 1 : 0), fwdAbs), tolFor(gradL, Math.max(...gradAbs)), Math.max(...gradAbs)),
  }, fail, precision);
}


// GELU after a matmul (the fused epilogue). Kernel GELU: |error| ≤ 3e-7 + 1e-6·|value| for gelu and
// gelu' (tests/activation.test.ts); |gelu'| ≤ 1.13 and |gelu''| ≤ 0.8 carry an error e_z in the
// pre-activation z into 1.13·e_z in gelu(z) and 0.8·e_z in gelu'(z).
export const GELU_SLOPE = 1.13;
export const GELU_CURVE = 0.8;
export const GELU_ABS = 3e-7;
export const GELU_REL = 1e-6;

/**
 * Tolerances for out = gelu(op(a)·op(b) + bias) and its gradients, from the float64 reference on
 * |inputs|: e_z = atol of the plain matmul; forward atol 1.13·e_z + 3e-7 (rtol 1e-6); dZ = dY·gelu'(z)
 * then errs by e_dZ = |dY|·(0.8·e_z + 3e-7 + 1.13e-6) + u·|dZ|, which each gradient's contraction
 * carries with its Σ|other operand| (the reference backward with dOut = 1), on top of its own rounding.
 */
export function geluMatmulTols(s: MatmulShape, a: Float64Array, b: Float64Array, bias: Float64Array, dOut: Float64Array): { fwdTol: Tol; gradTol: Tol } {
  const z = matmulRef(s, a, b, bias);
  const ez = tolFor(s.K + 1, maxOf(matmulRef(s, abs(a), abs(b), abs(bias)))).atol;
  const dZ = geluRefBackward(z, dOut);
  const eDz = maxOf(abs(dOut)) * (GELU_CURVE * ez + GELU_ABS + GELU_REL * GELU_SLOPE) + U * maxOf(abs(dZ));
  const own = matmulRefBackward(s, abs(a), abs(b), abs(dZ), true).map(maxOf);
  const carried = matmulRefBackward(s, abs(a), abs(b), new Float64Array(dOut.length).fill(1), true).map(maxOf);
  const rows = s.batch * s.M;
  const lengths = [s.N, rows, rows];
  const gradAtol = Math.max(...own.map((o, i) => tolFor(lengths[i]!, o).atol + eDz * carried[i]!));
  return { fwdTol: { atol: GELU_SLOPE * ez + GELU_ABS, rtol: GELU_REL }, gradTol: { atol: gradAtol, rtol: 0 } };
}
