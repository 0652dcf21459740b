// Shifted-window attention (kernels/window_attention.wgsl), Swin V1 (ws 7, relative position bias)
// and Swin V2 (ws 8, cosine attention with a clamped per-head logit scale), forward and d(qkv,
// qkv bias, bias table, logit scale) against the float64 reference: shared by
// tests/window_attention.test.ts (Node) and the web page's op checks (tests/web/op_checks.ts).
import { defaultWindowAttentionPath, windowAttention, type WindowAttentionPath } from '../../src/runtime/ops/window_attention.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { f16Tol, type Precision, type Tol } from '../../src/runtime/reference/check.js';
import { roundHalf } from '../../src/runtime/half.js';
import { windowAttentionRef, windowAttentionRefBackward, windowAttentionRefRowDotBound, type WaCfg } from '../../src/runtime/reference/window_attention.js';
import { randn } from '../inputs.js';
import { checkCase } from './run.js';

// Tolerances, f32 kernel vs float64 reference (inputs: q, k, v in [-2, 2], table in [-1.5, 1.5]).
// V1 logits are O(1): each is a 32-term f32 dot product (relative error ~1e-7 · sqrt(32)), and the
// output is a convex combination of v, so forward errors are ~1e-6 (measured <= 9e-7 on outputs up
// to 1.9). Gradients add dS = P (dP - D), where D cancels the P-weighted mean of dP, and d(table)
// sums windows × N² such terms (the 56×56 case: 64 windows × 2401 pairs; measured <= 7e-6 on
// values up to 29, d(qkv) <= 9e-7).
export const V1_FWD_TOL: Tol = { atol: 5e-6, rtol: 1e-5 };
export const V1_GRAD_TOL: Tol = { atol: 2e-5, rtol: 1e-4 };
// V2 logits reach ~±20 (τ up to 100 times cosines, + 16σ): the dot-product rounding is scaled by
// τ, so every error is ~10× V1's (measured: forward <= 6.4e-6, d(qkv) <= 4.4e-5 on values up to
// 16, d(logit_scale) <= 1.1e-4 on values up to 64, d(table) <= 4e-5 on values up to 36).
export const V2_FWD_TOL: Tol = { atol: 3e-5, rtol: 1e-4 };
export const V2_GRAD_TOL: Tol = { atol: 2e-4, rtol: 1e-3 };

// f16 storage (qkv, out, d(out), d(qkv) in f16; logits, softmax, lse, sums, parameters and
// partials f32). The forward rounds its output once: f16Tol(fwd). The backward reads o as stored
// in f16 for D_i = dO_i·o_i, so D errs by up to u16·Σ_d |dO_id|·(|o_id| + fwd atol + fwd rtol·|o_id|),
// and that error reaches every gradient through dS_ij = P_ij (dP_ij − D_i):
// windowAttentionRefRowDotBound carries it through in float64 with absolute values, per element;
// each input's atol gains that bound's largest element. d(qkv) is stored in f16 (f16Tol); d(bias),
// d(table) and d(logit_scale) are f32 sums of f32 partials (their f32 tolerance plus the D term).
export function f16GradTols(c: Case, d: ReturnType<typeof caseData>, f32Grad: Tol, fwd: Tol, dOut: Float64Array): Tol[] {
  const b = windowAttentionRefRowDotBound(d.qkv.map(roundHalf), d.bias, d.table, d.ls, d.cfg, dOut, 2 ** -11 * (1 + fwd.rtol), fwd.atol);
  const maxOf = (a: Float64Array): number => a.reduce((m, x) => Math.max(m, x), 0);
  const plus = (t: Tol, bound: Float64Array): Tol => ({ atol: t.atol + maxOf(bound), rtol: t.rtol });
  return [plus(f16Tol(f32Grad), b.dqkv), plus(f32Grad, b.dBias), plus(f32Grad, b.dTable), ...(c.v2 ? [plus(f32Grad, b.dLogitScale)] : [])];
}

export interface Case {
  name: string; v2: boolean; B: number; H: number; W: number; heads: number; shift: number; hd?: number;
  /** Run on the subgroup kernels only (each extra pipeline costs a long cold compile). */
  subgroupsOnly?: boolean;
}

export const V1_CASES: Case[] = [
  { name: '14x14 unshifted, 2 heads', v2: false, B: 1, H: 14, W: 14, heads: 2, shift: 0 },
  { name: '14x14 shifted, batch 2', v2: false, B: 2, H: 14, W: 14, heads: 2, shift: 3 },
  { name: '8x8 -> 14 padded, shifted', v2: false, B: 1, H: 8, W: 8, heads: 1, shift: 3 },
  { name: '16x16 -> 21 padded, shifted, 3 heads', v2: false, B: 1, H: 16, W: 16, heads: 3, shift: 3 },
  { name: '13x13 -> 14 padded (200 px), 4 heads', v2: false, B: 1, H: 13, W: 13, heads: 4, shift: 3 },
  { name: '13x13 -> 14 padded, unshifted', v2: false, B: 2, H: 13, W: 13, heads: 2, shift: 0 },
  { name: '7x7 one window: shift disabled', v2: false, B: 1, H: 7, W: 7, heads: 2, shift: 3 },
  { name: '1x1 one token (48 padded)', v2: false, B: 2, H: 1, W: 1, heads: 1, shift: 3 },
  { name: '9x15 non-square, batch 2', v2: false, B: 2, H: 9, W: 15, heads: 2, shift: 3 },
  { name: '5x20: shift on x only', v2: false, B: 1, H: 5, W: 20, heads: 1, shift: 3 },
  { name: 'hd 16, 14x14 shifted', v2: false, B: 1, H: 14, W: 14, heads: 2, shift: 3, hd: 16, subgroupsOnly: true },
];

export const V2_CASES: Case[] = [
  { name: '16x16 shifted, 2 heads', v2: true, B: 1, H: 16, W: 16, heads: 2, shift: 4 },
  { name: '16x16 unshifted, batch 2', v2: true, B: 2, H: 16, W: 16, heads: 2, shift: 0 },
  { name: '8x8 one window: shift disabled', v2: true, B: 1, H: 8, W: 8, heads: 2, shift: 4 },
  { name: '7x7 -> 8 padded, one window', v2: true, B: 1, H: 7, W: 7, heads: 3, shift: 4 },
  { name: '13x13 -> 16 padded, shifted, 4 heads', v2: true, B: 1, H: 13, W: 13, heads: 4, shift: 4 },
  { name: '9x15 non-square, batch 2', v2: true, B: 2, H: 9, W: 15, heads: 2, shift: 4 },
  { name: '1x1 one token (63 padded)', v2: true, B: 1, H: 1, W: 1, heads: 1, shift: 4 },
];

/** logit_scale per head: ln 10, ln 30, ln 100 + 0.5 (clamped: zero gradient), ln 3. */
export const LOGIT_SCALES = [Math.log(10), Math.log(30), Math.log(100) + 0.5, Math.log(3)];

export function caseData(c: Case, seed: number): { cfg: WaCfg; qkv: Float64Array; bias: Float64Array; table: Float64Array; ls: Float64Array | null; ws: number } {
  const ws = c.v2 ? 8 : 7;
  const hd = c.hd ?? 32;
  const C = c.heads * hd;
  const cfg: WaCfg = { B: c.B, H: c.H, W: c.W, C, heads: c.heads, ws, shift: c.shift };
  const T = (2 * ws - 1) ** 2;
  return {
    cfg, ws,
    qkv: randn(c.B * c.H * c.W * 3 * C, seed, -2, 2),
    bias: randn(3 * C, seed + 1, -1, 1),
    table: randn(T * c.heads, seed + 2, -1.5, 1.5),
    ls: c.v2 ? Float64Array.from({ length: c.heads }, (_, h) => Math.fround(LOGIT_SCALES[h % 4]!)) : null,
  };
}

/** One case on `path` (default: this device's), forward and every input's gradient, with qkv stored in `precision`. */
export async function checkWindowAttention(r: Runtime, c: Case, seed: number, fail: (message: string) => void, path?: WindowAttentionPath, precision: Precision = 'f32'): Promise<void> {
  const d = caseData(c, seed);
  const { cfg } = d;
  const inputs = [
    { data: d.qkv, shape: [c.B, c.H, c.W, 3 * cfg.C] },
    // the parameters stay f32 in both precisions (the model's f32 masters)
    { data: d.bias, shape: [3 * cfg.C], dtype: 'f32' as const },
    { data: d.table, shape: [(2 * d.ws - 1) ** 2, c.heads], dtype: 'f32' as const },
    ...(d.ls ? [{ data: d.ls, shape: [c.heads, 1, 1], dtype: 'f32' as const }] : []),
  ];
  const fwdTol = c.v2 ? V2_FWD_TOL : V1_FWD_TOL;
  const gradTol = c.v2 ? V2_GRAD_TOL : V1_GRAD_TOL;
  // the upstream gradient the check draws (tests/checks/run.ts), as rounded in an f16 run
  const dOut = randn(c.B * c.H * c.W * cfg.C, seed + 1000).map(roundHalf);
  await checkCase(r, {
    name: `${c.v2 ? 'V2' : 'V1'} ${c.name} (${path ?? defaultWindowAttentionPath(r)})`,
    inputs,
    run: ([qkv, bias, table, ls]) => windowAttention(qkv!, table!, { ws: d.ws, heads: c.heads, shift: c.shift, qkvBias: bias!, ...(ls ? { logitScale: ls } : {}), ...(path ? { path } : {}) }),
    ref: ([qkv, bias, table, ls]) => windowAttentionRef(qkv!, bias!, table!, ls ?? null, cfg),
    refBackward: ([qkv, bias, table, ls], g) => {
      const res = windowAttentionRefBackward(qkv!, bias!, table!, ls ?? null, cfg, g);
      return [res.dqkv, res.dBias, res.dTable, ...(ls ? [res.dLogitScale] : [])];
    },
    fwdTol,
    gradTol,
    ...(precision === 'f16' ? { f16: { gradTol: f16GradTols(c, d, gradTol, fwdTol, dOut) } } : {}),
    seed,
  }, fail, precision);
}
