import { describe, expect, it } from 'vitest';
import { attention } from '../src/runtime/ops/attention.js';
import { selectBranches } from '../src/runtime/kernel.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { checkRefGradient, randn, testFail, useRuntime } from './harness.js';
import type { Precision } from '../src/runtime/reference/check.js';
import { attentionRef, attentionRefBackward } from '../src/runtime/reference/attention.js';
import { CASES, checkAttention as checkShared, HEADS, LARGE_LOGITS, type Case } from './checks/attention.js';

// Cases, tolerances and the check itself: tests/checks/attention.ts (the web page runs them too).
const rt = useRuntime();
const checkAttention = (r: Runtime, c: Case, seed: number, precision: Precision = 'f32'): Promise<void> => {
  if (precision === 'f16' && !r.device.hasF16) return expect(checkShared(r, c, seed, testFail, precision)).rejects.toThrow(/shader-f16/);
  return checkShared(r, c, seed, testFail, precision);
};

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
      for (const [c, seed] of LARGE_LOGITS) await checkAttention(rt(), { ...c, opts: { subgroups } }, seed);
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

// f16 storage (the kernels' f16 build; tolerances derived in tests/checks/attention.ts): every
// case on this device's default kernels, and spans forced in both directions.
describe('attention forward and backward in f16', () => {
  for (const [i, c] of CASES.entries()) {
    it(`B ${c.B} Nq ${c.nq} Nk ${c.nk} hd ${c.hd}`, () => checkAttention(rt(), c, 100 + 10 * i, 'f16'));
  }
  it('large logits (about ±30)', async () => {
    for (const [c, seed] of LARGE_LOGITS) await checkAttention(rt(), c, seed, 'f16');
  });
  it('forced single span and many spans', async () => {
    await checkAttention(rt(), { B: 1, nq: 19, nk: 3136, heads: HEADS, hd: 16, opts: { splits: 1 } }, 11, 'f16');
    await checkAttention(rt(), { B: 2, nq: 3136, nk: 19, heads: HEADS, hd: 16, opts: { splits: 7 } }, 12, 'f16');
    await checkAttention(rt(), { B: 1, nq: 19, nk: 19, heads: HEADS, hd: 32, opts: { splits: 3 } }, 13, 'f16');
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
