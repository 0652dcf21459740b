import { describe, expect, it } from 'vitest';
import { attention, attentionForward, type AttentionOptions } from '../src/runtime/ops/attention.js';
import { selectBranches } from '../src/runtime/kernel.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { checkRefGradient, expectClose, randn, useRuntime } from './harness.js';
import { attentionRef, attentionRefBackward, type AttnShape } from '../src/runtime/reference/attention.js';

const rt = useRuntime();
const HEADS = 8;

// Tolerances (measured worst cases on lavapipe in brackets). Every output element is a
// softmax-weighted mean (|out| ≤ max|v| = 1) summed in f32 over up to 16,384 keys with a
// max-shifted online sum: [2.2e-6 with the large logits, ≤ 7e-7 otherwise].
const FWD_TOL = { atol: 1e-5, rtol: 1e-5 };
// lse is a max plus the log of an f32 sum; |lse| reaches ~40 with the large logits.
const LSE_TOL = { atol: 1e-5, rtol: 1e-6 };
// Gradients are f32 sums (over up to 16,384 rows) of products whose terms can exceed the result
// (dS = P (dP − Δ) cancels), so the error scales with the size of the gradient tensor: atol =
// GRAD_REL · max|want| per tensor plus GRAD_REL relative [worst 3.6e-6 · max|want|], and never
// below GRAD_FLOOR: with one key the exact dQ is 0 and dP − Δ (dot products of hd terms of size
// ~1) rounds to ~1e-7 [2.1e-7].
const GRAD_REL = 2e-5;
const GRAD_FLOOR = 2e-6;

interface Case extends AttnShape { lo?: number; hi?: number; opts?: AttentionOptions }

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

async function checkAttention(r: Runtime, c: Case, seed: number): Promise<void> {
  const name = `attention B${c.B} Nq${c.nq} Nk${c.nk} hd${c.hd}${c.opts?.subgroups === false ? ' (no subgroups)' : ''}${c.opts?.splits ? ` splits ${c.opts.splits}` : ''}`;
  const D = c.heads * c.hd;
  const x = inputs(c, seed);
  const q = r.tensor(x.q, [c.B, c.nq, D]);
  const k = r.tensor(x.k, [c.B, c.nk, D]);
  const v = r.tensor(x.v, [c.B, c.nk, D]);
  for (const t of [q, k, v]) t.requiresGrad = true;
  const want = attentionRef(c, x.q, x.k, x.v);

  const fwd = r.withoutGrad(() => attentionForward(q, k, v, c.heads, c.opts));
  expectClose(`${name}: lse`, await fwd.lse.read(), want.lse, LSE_TOL);
  fwd.out.release();
  fwd.lse.release();

  const out = attention(q, k, v, c.heads, c.opts);
  expectClose(`${name}: forward`, await out.read(), want.out, FWD_TOL);
  const dOutData = randn(want.out.length, seed + 3);
  const dOut = r.tensor(dOutData, out.shape);
  r.backward(out, dOut);
  const wantGrads = attentionRefBackward(c, x.q, x.k, x.v, dOutData);
  for (const [i, t] of [q, k, v].entries()) {
    expect(t.grad, `${name}: d${'qkv'[i]} missing`).not.toBeNull();
    const atol = Math.max(GRAD_FLOOR, GRAD_REL * maxAbs(wantGrads[i]!));
    expectClose(`${name}: d${'qkv'[i]}`, await t.grad!.read(), wantGrads[i]!, { atol, rtol: GRAD_REL });
  }
  for (const t of [q, k, v]) { t.grad?.release(); t.release(); }
  out.release();
  dOut.release();
  r.tape.clear();
}

// (Nq, Nk): self-attention of 19 / 11 class tokens, token→image and image→token at 224 px
// (3136 image tokens), odd lengths, and a single row.
const PAIRS: [number, number][] = [[1, 1], [19, 19], [11, 11], [19, 3136], [3136, 19], [19, 977], [977, 11]];
const CASES: Case[] = PAIRS.flatMap(([nq, nk], i) => [16, 32].map((hd) => ({ B: 1 + ((i + hd / 16) % 2), nq, nk, heads: HEADS, hd })));

describe('attention reference', () => {
  it('backward matches finite differences', () => {
    for (const s of [{ B: 1, nq: 3, nk: 4, heads: 2, hd: 4 }, { B: 2, nq: 5, nk: 2, heads: 1, hd: 8 }]) {
      const D = s.heads * s.hd;
      const xs = [randn(s.B * s.nq * D, 1, -2, 2), randn(s.B * s.nk * D, 2, -2, 2), randn(s.B * s.nk * D, 3)];
      checkRefGradient(`attention ${JSON.stringify(s)}`, xs, ([q, k, v]) => attentionRef(s, q!, k!, v!).out,
        ([q, k, v], g) => attentionRefBackward(s, q!, k!, v!, g), { samples: 16 });
    }
  });
});

for (const subgroups of [true, false]) {
  describe(`attention forward and backward, ${subgroups ? 'subgroup kernels' : 'fallback without subgroups'}`, () => {
    for (const [i, c] of CASES.entries()) {
      it(`B ${c.B} Nq ${c.nq} Nk ${c.nk} hd ${c.hd}`, async (ctx) => {
        if (subgroups && !rt().device.hasSubgroups) ctx.skip();
        await checkAttention(rt(), { ...c, opts: { subgroups } }, 100 + 10 * i);
      });
    }
    it('large logits (about ±30)', async (ctx) => {
      if (subgroups && !rt().device.hasSubgroups) ctx.skip();
      await checkAttention(rt(), { B: 1, nq: 19, nk: 977, heads: HEADS, hd: 16, lo: -6, hi: 6, opts: { subgroups } }, 7);
      await checkAttention(rt(), { B: 1, nq: 977, nk: 19, heads: HEADS, hd: 32, lo: -4.5, hi: 4.5, opts: { subgroups } }, 8);
    });
  });
}

describe('attention spans', () => {
  it('forced single span and many spans agree with the reference', async () => {
    await checkAttention(rt(), { B: 1, nq: 19, nk: 3136, heads: HEADS, hd: 16, opts: { splits: 1 } }, 11);
    await checkAttention(rt(), { B: 2, nq: 3136, nk: 19, heads: HEADS, hd: 16, opts: { splits: 7 } }, 12);
    await checkAttention(rt(), { B: 1, nq: 19, nk: 19, heads: HEADS, hd: 32, opts: { splits: 3 } }, 13);
  });
  it('token→image at 512 px: Nq 19, Nk 16,384', async () => {
    await checkAttention(rt(), { B: 1, nq: 19, nk: 16384, heads: HEADS, hd: 16 }, 14);
  });
});

describe('attention shape checks', () => {
  it('names the op and the shapes', () => {
    const r = rt();
    const q = r.zeros([1, 4, 128]);
    const k = r.zeros([1, 5, 128]);
    const v = r.zeros([1, 6, 128]);
    expect(() => attention(q, k, v, 8)).toThrow(/attention: q \[1, 4, 128\], k \[1, 5, 128\], v \[1, 6, 128\]/);
    expect(() => attention(q, k, k, 3)).toThrow(/attention: 3 heads do not divide D = 128/);
    expect(() => attention(q, k, k, 2)).toThrow(/head dim 64/);
    for (const t of [q, k, v]) t.release();
  });
});

describe('kernel file variants (// #if subgroups blocks, src/runtime/kernel.ts)', () => {
  it('keeps the taken branch and blanks the rest, line numbers unchanged', () => {
    const src = ['a', '// #if subgroups', 'b', '// #else', 'c', '// #endif', 'd'].join('\n');
    expect(selectBranches(src, { subgroups: true }, 'f')).toBe(['a', '', 'b', '', '', '', 'd'].join('\n'));
    expect(selectBranches(src, { subgroups: false }, 'f')).toBe(['a', '', '', '', 'c', '', 'd'].join('\n'));
    expect(() => selectBranches('// #if nope\n// #endif', { subgroups: true }, 'f')).toThrow(/f:1: unknown flag/);
    expect(() => selectBranches('// #if subgroups\n', { subgroups: true }, 'f')).toThrow(/unterminated/);
  });
});
