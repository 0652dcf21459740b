// Matmul checks against the float64 reference, shared by tests/matmul.test.ts (Node, lavapipe) and
// the web page's op checks (tests/web/op_checks.ts, Chromium's adapter).
import { matmul, type MatmulVariant } from '../../src/runtime/ops/matmul.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import type { Tol } from '../../src/runtime/reference/check.js';
import { randn } from '../inputs.js';
import { checkCase } from './run.js';
import { matmulRef, matmulRefBackward, type MatmulShape } from '../../src/runtime/reference/matmul.js';

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

export async function checkMatmul(r: Runtime, c: Case, seed: number, fail: (message: string) => void): Promise<void> {
  const { s } = c;
  const a = randn(s.batch * s.M * s.K, seed);
  const b = randn((s.batchedB ? s.batch : 1) * s.K * s.N, seed + 1);
  const bias = randn(s.N, seed + 2);
  const dOut = randn(s.batch * s.M * s.N, 1001);   // the upstream gradient checkOp draws (its seed 1 + 1000)
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
  }, fail);
}

