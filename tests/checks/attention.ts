// Decoder attention (kernels/attention.wgsl) against the float64 reference, forward (out and the
// log-sum-exp it keeps for the backward) and d(q, k, v): shared by tests/attention.test.ts (Node)
// and the web page's op checks (tests/web/op_checks.ts).
import { attention, attentionForward, attentionGrid, type AttentionOptions } from '../../src/runtime/ops/attention.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { roundHalf } from '../../src/runtime/half.js';
import { f16Tol, type Precision, type Tol } from '../../src/runtime/reference/check.js';
import { attentionRef, attentionRefBackward, attentionRefF16Terms, type AttnShape } from '../../src/runtime/reference/attention.js';
import { randn } from '../inputs.js';
import { near } from './run.js';

export const HEADS = 8;

// Tolerances (measured worst cases on lavapipe in brackets). Every output element is a
// softmax-weighted mean (|out| ≤ max|v| = 1) summed in f32 over up to 16,384 keys with a
// max-shifted online sum: [2.2e-6 with the large logits, ≤ 7e-7 otherwise].
export const FWD_TOL = { atol: 1e-5, rtol: 1e-5 };
// lse is a max plus the log of an f32 sum; |lse| reaches ~40 with the large logits.
export const LSE_TOL = { atol: 1e-5, rtol: 1e-6 };
// Gradients are f32 sums (over up to 16,384 rows) of products whose terms can exceed the result
// (dS = P (dP − Δ) cancels), so the error scales with the size of the gradient tensor: atol =
// GRAD_REL · max|want| per tensor plus GRAD_REL relative [worst 3.6e-6 · max|want|], and never
// below GRAD_FLOOR: with one key the exact dQ is 0 and dP − Δ (dot products of hd terms of size
// ~1) rounds to ~1e-7 [2.1e-7].
export const GRAD_REL = 2e-5;
export const GRAD_FLOOR = 2e-6;

// f16 storage (q, k, v, out, dO, dq, dk, dv and the span partials in f16; logits, softmax, lse,
// Δ and sums in f32). Inputs and dO are rounded to f16 before the reference sees them.
// - forward: one rounding of the output (f16Tol); with spans (`splits` > 1) each span's output,
//   a convex combination of v, is rounded before the f32 merge: + u16·max|v|;
// - lse: f32 from the same (rounded) inputs: LSE_TOL;
// - backward: Δ_i = dO_i·O_i reads O as stored in f16, off by ≤ u16·(|O|(1 + FWD rtol) + FWD atol
//   + the span term): attentionRefF16Terms carries that through dS in float64 (`rowDot`), and each
//   gradient's atol gains its largest element; with spans, each partial dq / dk / dv is rounded
//   before the f32 sum: + u16·max of the sums of absolute terms (`absSum`); the gradient's own
//   store: f16Tol.
const U16 = 2 ** -11;

export interface Case extends AttnShape { lo?: number; hi?: number; opts?: AttentionOptions }

// (Nq, Nk): self-attention of 19 / 11 class tokens, token→image and image→token at 224 px
// (3136 image tokens), odd lengths, and a single row.
const PAIRS: [number, number][] = [[1, 1], [19, 19], [11, 11], [19, 3136], [3136, 19], [19, 977], [977, 11]];
export const CASES: Case[] = PAIRS.flatMap(([nq, nk], i) => [16, 32].map((hd) => ({ B: 1 + ((i + hd / 16) % 2), nq, nk, heads: HEADS, hd })));
/** Logits of about ±30 (token→image) and ±15 (image→token), with their seeds. */
export const LARGE_LOGITS: [Case, number][] = [
  [{ B: 1, nq: 19, nk: 977, heads: HEADS, hd: 16, lo: -6, hi: 6 }, 7],
  [{ B: 1, nq: 977, nk: 19, heads: HEADS, hd: 32, lo: -4.5, hi: 4.5 }, 8],
];

/** Inputs whose logits q·k/sqrt(hd) have a standard deviation of about 2 (|x| < 2.5). */
function inputs(c: Case, seed: number): { q: Float64Array; k: Float64Array; v: Float64Array } {
  const D = c.heads * c.hd;
  const lo = c.lo ?? -2.5;
  const hi = c.hi ?? 2.5;
  return { q: randn(c.B * c.nq * D, seed, lo, hi), k: randn(c.B * c.nk * D, seed + 1, lo, hi), v: randn(c.B * c.nk * D, seed + 2) };
}

function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
}

const plus = (t: Tol, atol: number): Tol => ({ atol: t.atol + atol, rtol: t.rtol });

export const caseName = (c: Case): string =>
  `attention B${c.B} Nq${c.nq} Nk${c.nk} hd${c.hd}${c.opts?.subgroups === false ? ' (no subgroups)' : ''}${c.opts?.splits ? ` splits ${c.opts.splits}` : ''}`;

export async function checkAttention(r: Runtime, c: Case, seed: number, fail: (message: string) => void, precision: Precision = 'f32'): Promise<void> {
  const f16 = precision === 'f16';
  const name = caseName(c) + (f16 ? ' (f16)' : '');
  const D = c.heads * c.hd;
  const x = inputs(c, seed);
  if (f16) for (const key of ['q', 'k', 'v'] as const) x[key] = x[key].map(roundHalf);
  const q = r.tensor(x.q, [c.B, c.nq, D], precision);
  const k = r.tensor(x.k, [c.B, c.nk, D], precision);
  const v = r.tensor(x.v, [c.B, c.nk, D], precision);
  for (const t of [q, k, v]) t.requiresGrad = true;
  try {
    const want = attentionRef(c, x.q, x.k, x.v);
    const fwd = r.withoutGrad(() => attentionForward(q, k, v, c.heads, c.opts));
    near(`${name}: lse`, await fwd.lse.read(), want.lse, LSE_TOL, fail);
    fwd.out.release();
    fwd.lse.release();

    const out = attention(q, k, v, c.heads, c.opts);
    const bh = c.B * c.heads;
    const spanTerm = f16 && attentionGrid(c.nq, c.nk, bh, c.hd, c.opts?.splits).splits > 1 ? U16 * maxAbs(x.v) : 0;
    near(`${name}: forward`, await out.read(), want.out, f16 ? plus(f16Tol(FWD_TOL), spanTerm) : FWD_TOL, fail);
    const dOutData = randn(want.out.length, seed + 3);
    if (f16) dOutData.forEach((g, i) => { dOutData[i] = roundHalf(g); });
    const dOut = r.tensor(dOutData, out.shape, precision);
    r.backward(out, dOut);
    const wantGrads = attentionRefBackward(c, x.q, x.k, x.v, dOutData);
    const terms = f16 ? attentionRefF16Terms(c, x.q, x.k, x.v, dOutData, U16 * (1 + FWD_TOL.rtol), FWD_TOL.atol + spanTerm) : undefined;
    const split = [attentionGrid(c.nq, c.nk, bh, c.hd, c.opts?.splits).splits, ...Array(2).fill(attentionGrid(c.nk, c.nq, bh, c.hd, c.opts?.splits).splits)] as number[];
    for (const [i, t] of [q, k, v].entries()) {
      if (!t.grad) { fail(`${name}: d${'qkv'[i]} missing`); continue; }
      const tol = { atol: Math.max(GRAD_FLOOR, GRAD_REL * maxAbs(wantGrads[i]!)), rtol: GRAD_REL };
      const f16Terms = terms ? maxAbs(terms.rowDot[i]!) + (split[i]! > 1 ? U16 * maxAbs(terms.absSum[i]!) : 0) : 0;
      near(`${name}: d${'qkv'[i]}`, await t.grad.read(), wantGrads[i]!, terms ? plus(f16Tol(tol), f16Terms) : tol, fail);
    }
    out.release();
    dOut.release();
  } finally {
    for (const t of [q, k, v]) { t.grad?.release(); t.release(); }
    r.tape.clear();
  }
}
