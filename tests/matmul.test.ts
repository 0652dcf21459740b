import { describe, expect, it } from 'vitest';
import { matmul, matmulPlan, overrideMatmulPlan, setMatmulVariant, type MatmulVariant } from '../src/runtime/ops/matmul.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { checkRefGradient, expectClose, randn, useRuntime } from './harness.js';
import { BATCH, checkMatmul as checkMatmulWith, SHAPES, tolFor, VARIANTS, type Case } from './checks/matmul.js';
import { matmulRef, matmulRefBackward, matmulRefLarge, type MatmulShape } from '../src/runtime/reference/matmul.js';

const rt = useRuntime();
const checkMatmul = (r: Runtime, c: Case, seed: number) => checkMatmulWith(r, c, seed, (m) => expect.fail(m));

const skipUnsupported = (variant: MatmulVariant, ctx: { skip: () => void }): void => {
  const dev = rt().device;
  if (variant === 'subgroup' && !(dev.hasSubgroups && dev.adapter.subgroupMinSize === dev.adapter.subgroupMaxSize && dev.adapter.subgroupMinSize >= 8)) ctx.skip();
};

for (const variant of VARIANTS) {
  describe(`matmul ${variant}: forward and backward against float64`, () => {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const bias of [false, true]) {
          for (const batchedB of [true, false]) {
            const name = `${transA ? 'Aᵀ' : 'A'}·${transB ? 'Bᵀ' : 'B'}${bias ? ' + bias' : ''}, a (3, ·, ·), b ${batchedB ? '(3, ·, ·)' : 'shared (·, ·)'}`;
            it(name, async (ctx) => {
              skipUnsupported(variant, ctx);
              for (const [i, [M, N, K]] of SHAPES.entries()) {
                const s: MatmulShape = { batch: BATCH, M, N, K, batchedB, transA, transB };
                await checkMatmul(rt(), { s, lead: [BATCH], bias, variant }, 100 * i + 7);
              }
            });
          }
        }
      }
    }
    it('plain 2-D and 4-D (2, 3, ·, ·) operands', async (ctx) => {
      skipUnsupported(variant, ctx);
      await checkMatmul(rt(), { s: { batch: 1, M: 37, N: 20, K: 12, batchedB: false, transA: false, transB: true }, lead: [], bias: true, variant }, 11);
      await checkMatmul(rt(), { s: { batch: 6, M: 9, N: 11, K: 8, batchedB: true, transA: true, transB: false }, lead: [2, 3], bias: false, variant }, 12);
      await checkMatmul(rt(), { s: { batch: 6, M: 9, N: 12, K: 7, batchedB: false, transA: false, transB: false }, lead: [2, 3], bias: true, variant }, 13);
    });
  });
}

// The other tile shapes of the kernels (the ones the table gives other adapters): 8 rows per
// subgroup in workgroups of 4 subgroups, and tiled workgroups of 128 with 16 invocations along N.
describe('matmul: other tile shapes (8 rows per subgroup; tiled 128 × 16)', () => {
  for (const variant of ['tiled', 'subgroup'] as MatmulVariant[]) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        it(`${variant} ${transA ? 'Aᵀ' : 'A'}·${transB ? 'Bᵀ' : 'B'} + bias, b batched and shared`, async (ctx) => {
          skipUnsupported(variant, ctx);
          const r = rt();
          overrideMatmulPlan(r.device, { rule: 'test', variant, tiled: { WG: 128, WG_N: 16 }, subgroup: { SG: 8, ROWS: 8, WG: 32 } });
          try {
            for (const [i, [M, N, K]] of [[64, 64, 64], [65, 33, 129]].entries()) {
              for (const batchedB of [true, false]) {
                await checkMatmul(r, { s: { batch: BATCH, M: M!, N: N!, K: K!, batchedB, transA, transB }, lead: [BATCH], bias: true, variant }, 50 + i);
              }
            }
          } finally { overrideMatmulPlan(r.device, undefined); }
        });
      }
    }
  }
});

describe('matmul: details', () => {
  it('a gradient only for the inputs that need one', async () => {
    const r = rt();
    const x = r.tensor(randn(5 * 6, 1), [5, 6]);
    const w = r.parameter(randn(6 * 4, 2), [6, 4]);
    const out = matmul(x, w);
    r.backward(out, r.tensor(randn(20, 3), [5, 4]));
    expect(x.grad).toBeNull();
    expectClose('dW', await w.grad!.read(), matmulRefBackward({ batch: 1, M: 5, N: 4, K: 6, batchedB: false, transA: false, transB: false }, randn(30, 1), randn(24, 2), randn(20, 3), false)[1]!, tolFor(5, 5));   // 5 terms of size < 1
    out.release(); x.release(); w.grad!.release(); w.release();
  });

  it('K = 0 gives the bias (or zeros); M = 0 gives an empty output', async () => {
    const r = rt();
    const out = matmul(r.zeros([3, 0]), r.zeros([0, 5]), { bias: r.tensor([1, 2, 3, 4, 5], [5]) });
    expect(Array.from(await out.read())).toEqual([1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5]);
    expect(matmul(r.zeros([0, 4]), r.zeros([4, 5])).shape).toEqual([0, 5]);
  });

  it('checks shapes at the op boundary, naming matmul and the shapes', () => {
    const r = rt();
    const t = (...shape: number[]) => r.zeros(shape);
    expect(() => matmul(t(2, 3), t(4, 5))).toThrow(/matmul: inner dimensions differ: a \[2, 3\].*b \[4, 5\]/);
    expect(() => matmul(t(2, 3), t(5, 4), { transB: true })).toThrow(/matmul: inner dimensions differ.*\[5, 4\].*transB/);
    expect(() => matmul(t(2, 4, 3), t(3, 3, 5))).toThrow(/matmul: batch dims of a \[2, 4, 3\] and b \[3, 3, 5\] differ/);
    expect(() => matmul(t(4, 3), t(2, 3, 5))).toThrow(/matmul: batch dims/);
    expect(() => matmul(t(3), t(3, 5))).toThrow(/matmul: a \[3\] and b \[3, 5\] must both have rank 2/);
    expect(() => matmul(t(2, 3), t(3, 5), { bias: t(4) })).toThrow(/matmul: bias \[4\] must be \(N\) = \[5\]/);
  });

  it('plans per adapter, and setMatmulVariant forces one', () => {
    const dev = rt().device;
    const plan = matmulPlan(dev);
    if (dev.adapter.isFallbackAdapter && dev.hasSubgroups && dev.adapter.subgroupMaxSize === 8) {
      expect(plan.variant).toBe('subgroup');
      expect(plan.subgroup).toEqual({ SG: 8, ROWS: 16, WG: 64 });
    }
    if (!dev.hasSubgroups) expect(plan.variant).toBe('tiled');
    // Record which entry points run: the forced variant in forward and backward alike.
    const r = rt();
    const entries: string[] = [];
    const dispatch = r.dispatch.bind(r);
    r.dispatch = (decl, args) => { entries.push(decl.entry); dispatch(decl, args); };
    setMatmulVariant('naive');
    try {
      const x = r.parameter(randn(15, 1), [3, 5]);
      const out = matmul(x, r.tensor(randn(15, 2), [5, 3]));
      r.backward(out, r.tensor(randn(9, 3), [3, 3]));
      expect(entries.filter((e) => e.startsWith('matmul'))).toEqual(['matmul_naive', 'matmul_naive']);
      out.release(); x.grad!.release(); x.release();
    } finally {
      setMatmulVariant(undefined);
      r.dispatch = dispatch;
    }
  });

  it('reference backward matches finite differences', () => {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const batchedB of [false, true]) {
          const s: MatmulShape = { batch: 2, M: 3, N: 4, K: 5, batchedB, transA, transB };
          checkRefGradient(`matmul ${JSON.stringify(s)}`, [randn(30, 1), randn(batchedB ? 40 : 20, 2), randn(4, 3)],
            ([a, b, bias]) => matmulRef(s, a!, b!, bias), ([a, b], g) => matmulRefBackward(s, a!, b!, g, true));
        }
      }
    }
  });
});

describe('matmul 1024 × 1024 × 1024 (fast variants, forward)', () => {
  const n = 1024;
  const a = Float32Array.from(randn(n * n, 5));
  const b = Float32Array.from(randn(n * n, 6));
  let ref: { out: Float64Array; maxAbsSum: number } | undefined;
  for (const variant of ['tiled', 'subgroup'] as MatmulVariant[]) {
    it(variant, async (ctx) => {
      skipUnsupported(variant, ctx);
      const r = rt();
      const out = r.withoutGrad(() => matmul(r.tensor(a, [n, n]), r.tensor(b, [n, n]), { variant }));
      const got = await out.read();
      ref ??= matmulRefLarge(n, n, n, a, b);
      // Σ|a·b| over 1024 terms of |x| < 1 is about 256, so atol = 4·√1024·u·max Σ|a·b| ≈ 2e-3,
      // about 2e-4 of the outputs' RMS (√(1024/9) ≈ 10.7).
      expectClose(`matmul ${variant} 1024³`, got, ref.out, tolFor(n, ref.maxAbsSum));
      out.release();
    });
  }
});
