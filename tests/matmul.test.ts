import { describe, expect, it } from 'vitest';
import { adapterFacts } from '../src/runtime/adapter.js';
import { gemm, matmul, matmulCandidates, matmulDefault, matmulKernel, type GemmSums, type MatmulVariant } from '../src/runtime/ops/matmul.js';
import type { Runtime } from '../src/runtime/runtime.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { checkOp, checkRefGradient, expectClose, PRECISIONS, randn, useRuntime } from './harness.js';
import type { Precision } from '../src/runtime/reference/check.js';
import { abs, BATCH, checkMatmul as checkMatmulWith, geluMatmulTols, maxOf, SHAPES, tolFor, VARIANTS, type Case } from './checks/matmul.js';
import { geluRef, geluRefBackward } from '../src/runtime/reference/activation.js';
import { aIndex, bIndex, matmulRef, matmulRefBackward, matmulRefLarge, type MatmulShape } from '../src/runtime/reference/matmul.js';

const rt = useRuntime();
const checkMatmul = (r: Runtime, c: Case, seed: number, precision: Precision = 'f32') => {
  if (precision === 'f16' && !r.device.hasF16) return expect(checkMatmulWith(r, c, seed, (m) => expect.fail(m), precision)).rejects.toThrow(/shader-f16/);
  return checkMatmulWith(r, c, seed, (m) => expect.fail(m), precision);
};

/**
 * Whether this adapter can run a kernel. One it cannot (subgroups of another size, or none) must be
 * refused by name, with the reason: that is what the test then checks, instead of skipping.
 */
function runsHere(r: Runtime, variant: string): boolean {
  try {
    matmulKernel(variant, r.device.facts);
    return true;
  } catch (e) {
    expect((e as Error).message).toMatch(/^matmul: kernel \S+ cannot run on this adapter: /);
    return false;
  }
}

/** The kernel a name compiles to here (entry + constants): names for other adapters may coincide. */
const kernelId = (r: Runtime, variant: string): string => {
  const k = matmulKernel(variant, r.device.facts);
  return `${k.variant} ${JSON.stringify(k.constants)}`;
};

// Every tuning candidate of the adapters the engine knows: lavapipe (software, 8 lanes), the
// browser's SwiftShader (4 lanes), GPUs with 32 / 64 / 128 lanes, and no subgroups. The families'
// defaults run the full grid above; the other shapes run below, each where this adapter can.
const KNOWN_ADAPTERS = [
  { architecture: 'software', description: 'llvmpipe', subgroupMinSize: 8, subgroupMaxSize: 8, features: ['subgroups'] },
  { description: 'SwiftShader', subgroupMinSize: 4, subgroupMaxSize: 4, features: ['subgroups'] },
  ...[32, 64, 128].map((n) => ({ vendor: 'gpu', subgroupMinSize: n, subgroupMaxSize: n, features: ['subgroups'] })),
  { vendor: 'gpu', features: [] },
];
const ALL_CANDIDATES = [...new Set(KNOWN_ADAPTERS.flatMap((a) => matmulCandidates(adapterFacts(a))))];
// The 4-broadcast-lane subgroup kernels (SwiftShader's) also run on 8-lane subgroups, so lavapipe tests them.
const OTHER_SHAPES = [...new Set([...ALL_CANDIDATES, 'subgroup:R8:W64:L4', 'subgroup:R16:W64:L4', 'subgroup:R8:W32'])];

// f16 runs the odd shapes and the one past the tile in every dimension (SHAPES 1 and 4), which
// take every bounds path, to keep the suite's time in check (f16 storage changes no indexing).
const F16_SHAPES = [1, 4];
for (const [variant, precision] of VARIANTS.flatMap((v) => PRECISIONS.map((p) => [v, p] as const))) {
  describe(`matmul ${variant} (${precision}): forward and backward against float64`, () => {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const bias of [false, true]) {
          for (const batchedB of [true, false]) {
            const name = `${transA ? 'Aᵀ' : 'A'}·${transB ? 'Bᵀ' : 'B'}${bias ? ' + bias' : ''}, a (3, ·, ·), b ${batchedB ? '(3, ·, ·)' : 'shared (·, ·)'}`;
            it(name, async () => {
              if (!runsHere(rt(), variant)) return;
              for (const [i, [M, N, K]] of SHAPES.entries()) {
                if (precision === 'f16' && !F16_SHAPES.includes(i)) continue;
                const s: MatmulShape = { batch: BATCH, M, N, K, batchedB, transA, transB };
                await checkMatmul(rt(), { s, lead: [BATCH], bias, variant }, 100 * i + 7, precision);
              }
            });
          }
        }
      }
    }
    it('plain 2-D and 4-D (2, 3, ·, ·) operands', async () => {
      if (!runsHere(rt(), variant)) return;
      await checkMatmul(rt(), { s: { batch: 1, M: 37, N: 20, K: 12, batchedB: false, transA: false, transB: true }, lead: [], bias: true, variant }, 11, precision);
      await checkMatmul(rt(), { s: { batch: 6, M: 9, N: 11, K: 8, batchedB: true, transA: true, transB: false }, lead: [2, 3], bias: false, variant }, 12, precision);
      await checkMatmul(rt(), { s: { batch: 6, M: 9, N: 12, K: 7, batchedB: false, transA: false, transB: false }, lead: [2, 3], bias: true, variant }, 13, precision);
    });
  });
}

// Every other candidate (tile shapes, broadcast lanes) at the odd shapes, all transposes, bias:
// each kernel this adapter compiles once (names for other adapters may coincide here; the families'
// defaults ran the full grid above), and every one it cannot run refused by name.
describe('matmul: every tuning candidate against float64', () => {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      it(`${transA ? 'Aᵀ' : 'A'}·${transB ? 'Bᵀ' : 'B'} + bias, b batched and shared`, async () => {
        const r = rt();
        const seen = new Set(VARIANTS.filter((v) => runsHere(r, v)).map((v) => kernelId(r, v)));
        let ran = 0;
        for (const variant of OTHER_SHAPES) {
          if (!runsHere(r, variant) || seen.has(kernelId(r, variant))) continue;
          seen.add(kernelId(r, variant));
          ran++;
          for (const [i, [M, N, K]] of [[64, 64, 64], [65, 33, 129]].entries()) {
            for (const batchedB of [true, false]) {
              await checkMatmul(r, { s: { batch: BATCH, M: M!, N: N!, K: K!, batchedB, transA, transB }, lead: [BATCH], bias: true, variant }, 50 + i);
            }
          }
        }
        expect(ran).toBeGreaterThan(0);
      }, 600_000);   // about 15 kernels built per transpose pair: minutes on a cold shader cache and a busy lavapipe
    }
  }
  it("covers this adapter's candidates", () => {
    for (const c of matmulCandidates(rt().device.facts)) expect(OTHER_SHAPES).toContain(c);
  });
});

// The bias gradient fused into the weight-gradient product (kernels/matmul.wgsl DB): a gemm with
// `sums` also returns Σ_k op(A)(m, k) ('a') or Σ_k op(B)(k, n) ('b') from the same dispatch. Every
// kernel this adapter compiles, in the form the dW products use (transposed A: dCᵀ, or Xᵀ with B =
// dC), at a shape that leaves every tile partly empty (M, N, K odd: the scalar load paths) and one
// of multiples of 4 (the vec4 paths), both over several tiles in each direction. The ':D0' form (the
// sums in reduce passes of their own) and the naive kernel run all four transpose pairs. (The op
// tests' every-candidate sweep also checks dbias through the fused path: shared b, bias.)
// Bound: a sum of K terms in any order is within tolFor(K, Σ|terms|) (tests/checks/matmul.ts), with
// |terms| = |operand|; the product's own bound as in the op tests.
describe('matmul: fused bias-gradient sums, every candidate against float64', () => {
  const kSums = (s: MatmulShape, x: Float64Array, of: GemmSums): Float64Array => {
    const len = of === 'a' ? s.M : s.N;
    const out = new Float64Array(len);
    for (let i = 0; i < len; i++) {
      for (let k = 0; k < s.K; k++) out[i] += of === 'a' ? x[aIndex(s, 0, i, k)]! : x[bIndex(s, 0, k, i)]!;
    }
    return out;
  };
  /** One gemm with sums against float64; `fused`: whether no reduce pass may run besides it (the batch profiler names each dispatch's op). */
  const checkSums = async (r: Runtime, variant: string, of: GemmSums, s: MatmulShape, seed: number, fused: boolean): Promise<void> => {
    const { M, N, K, transA, transB } = s;
    const a = randn(M * K, seed);
    const b = randn(K * N, seed + 1);
    const ta = r.tensor(a, transA ? [K, M] : [M, K]);
    const tb = r.tensor(b, transB ? [N, K] : [K, N]);
    const out = r.empty([M, N]);
    await r.sync();
    r.batch.startProfiling();
    let sums: Tensor;
    try {
      sums = gemm({ out, a: ta, b: tb, M, N, K, batch: 1, strideA: M * K, strideB: 0, transA, transB, sums: of }, variant, 'gemm_sums_test');
    } finally {
      const ops = (await r.batch.stopProfiling()).map((t) => t.op);
      expect(ops.filter((op) => op === 'sum_cols' || op === 'sum_rows').length > 0, `reduce passes beside ${variant}: ${ops.join(', ')}`).toBe(!fused);
      expect(ops.filter((op) => op === 'gemm_sums_test')).toHaveLength(1);
    }
    const what = `${variant} ${transA ? 'Aᵀ' : 'A'}·${transB ? 'Bᵀ' : 'B'} ${M}×${N}×${K} sums of ${of}`;
    expectClose(`${what}: product`, await out.read(), matmulRef(s, a, b), tolFor(K, maxOf(matmulRef(s, abs(a), abs(b)))));
    const summed = of === 'a' ? a : b;
    expectClose(`${what}: sums`, await sums.read(), kSums(s, summed, of), tolFor(K, maxOf(kSums(s, abs(summed), of))));
    for (const t of [ta, tb, out, sums]) t.release();
  };
  const SUM_SHAPES = [[65, 33, 129], [68, 36, 132]] as const;
  for (const of of ['a', 'b'] as const) {
    it(`sums of ${of === 'a' ? "op(A)'s rows" : "op(B)'s columns"}: every kernel, Aᵀ·B`, async () => {
      const r = rt();
      const seen = new Set<string>();
      for (const variant of [...VARIANTS, ...OTHER_SHAPES]) {
        if (!runsHere(r, variant) || seen.has(kernelId(r, variant))) continue;
        seen.add(kernelId(r, variant));
        for (const [i, [M, N, K]] of SUM_SHAPES.entries()) {
          await checkSums(r, variant, of, { batch: 1, M, N, K, batchedB: false, transA: true, transB: false }, 300 + 10 * i, true);
        }
      }
    }, 600_000);   // every kernel built with DB at two alignments: minutes on a cold shader cache
  }
  it('naive and the :D0 form (sums apart): every transpose pair, both sums', async () => {
    const r = rt();
    for (const variant of ['naive', `${matmulDefault(r.device.facts)}:D0`]) {
      for (const of of ['a', 'b'] as const) {
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            for (const [i, [M, N, K]] of SUM_SHAPES.entries()) {
              await checkSums(r, variant, of, { batch: 1, M, N, K, batchedB: false, transA, transB }, 500 + 10 * i, variant === 'naive');
            }
          }
        }
      }
    }
  }, 600_000);
  it('refuses sums on a batched product or with an epilogue, naming the op', () => {
    const r = rt();
    const t = r.zeros([2, 4, 4]);
    expect(() => gemm({ out: t, a: t, b: t, M: 4, N: 4, K: 4, batch: 2, strideA: 16, strideB: 16, transA: false, transB: false, sums: 'a' }, 'tiled', 'op_x'))
      .toThrow(/^op_x: fused sums need one batch item and no epilogue \(batch 2\)$/);
    expect(() => matmulKernel('tiled:D1', r.device.facts)).toThrow(/D takes only 0/);
    t.release();
  });
});

// The fused skip connection: out = A·op(B) + bias + residual, as a transformer block's projection
// uses it; d(residual) = dOut exactly. One more term per output in the tolerance.
describe('matmul: fused residual epilogue against float64', () => {
  for (const variant of VARIANTS) {
    it(variant, async () => {
      if (!runsHere(rt(), variant)) return;
      for (const [i, [M, N, K]] of [[7, 13, 5], [65, 33, 129]].entries()) {
        for (const transB of [false, true]) {
          const s: MatmulShape = { batch: BATCH, M: M!, N: N!, K: K!, batchedB: false, transA: false, transB };
          const a = randn(BATCH * s.M * s.K, 60 + i);
          const b = randn(s.K * s.N, 61 + i);
          const bias = randn(s.N, 62 + i);
          const res = randn(BATCH * s.M * s.N, 63 + i);
          const dOut = randn(BATCH * s.M * s.N, 1001);
          const plain = matmulRef(s, abs(a), abs(b), abs(bias));
          const fwdAbs = maxOf(plain.map((x, j) => x + Math.abs(res[j]!)));
          const gradAbs = matmulRefBackward(s, abs(a), abs(b), abs(dOut), true).map(maxOf);
          await checkOp(rt(), {
            name: `${variant} residual ${JSON.stringify(s)}`,
            seed: 1,
            inputs: [
              { data: a, shape: [BATCH, s.M, s.K] },
              { data: b, shape: transB ? [s.N, s.K] : [s.K, s.N] },
              { data: bias, shape: [s.N] },
              { data: res, shape: [BATCH, s.M, s.N] },
            ],
            run: ([x, y, z, r]) => matmul(x!, y!, { transB, bias: z, residual: r, variant }),
            ref: ([x, y, z, r]) => matmulRef(s, x!, y!, z).map((v, j) => v + r![j]!),
            refBackward: ([x, y], g) => [...matmulRefBackward(s, x!, y!, g, true), Float64Array.from(g)],
            fwdTol: tolFor(s.K + 2, fwdAbs),
            gradTol: tolFor(Math.max(s.N, BATCH * s.M), Math.max(...gradAbs)),
          });
        }
      }
    });
  }
  it('rejects a residual of another shape, naming it', () => {
    const r = rt();
    expect(() => matmul(r.zeros([2, 3]), r.zeros([3, 4]), { residual: r.zeros([2, 5]) })).toThrow(/matmul: residual \[2, 5\] must have the output's shape \[2, 4\]/);
  });
});

// GELU in the epilogue: out = gelu(op(a)·op(b) + bias), the pre-activation kept for the backward
// (dZ = dY ⊙ gelu'(Z), then the plain products). The epilogue sits in the kernels' shared store
// (after the k loop, whatever the operand layout), so one odd shape per kernel covers it: M and N
// past a tile and N not a multiple of 4 (partial vec4 stores), a batch, and the model's transB.
// Every family, and every other candidate this adapter runs (pipelines are slow to build on lavapipe).
describe('matmul: fused GELU epilogue against float64', () => {
  const geluCase = async (r: Runtime, variant: string, s: MatmulShape, seed: number): Promise<void> => {
    const a = randn(s.batch * s.M * s.K, seed, -2, 2);
    const b = randn((s.batchedB ? s.batch : 1) * s.K * s.N, seed + 1);
    const bias = randn(s.N, seed + 2);
    const dOut = randn(s.batch * s.M * s.N, 1001);   // checkOp's upstream gradient (its seed 1 + 1000)
    const lead = s.batch > 1 ? [s.batch] : [];
    await checkOp(r, {
      name: `${variant} gelu ${JSON.stringify(s)}`,
      seed: 1,
      inputs: [
        { data: a, shape: [...lead, ...(s.transA ? [s.K, s.M] : [s.M, s.K])] },
        { data: b, shape: [...(s.batchedB ? lead : []), ...(s.transB ? [s.N, s.K] : [s.K, s.N])] },
        { data: bias, shape: [s.N] },
      ],
      run: ([x, y, z]) => matmul(x!, y!, { transA: s.transA, transB: s.transB, bias: z, activation: 'gelu', variant }),
      ref: ([x, y, z]) => geluRef(matmulRef(s, x!, y!, z)),
      refBackward: ([x, y, z], g) => matmulRefBackward(s, x!, y!, geluRefBackward(matmulRef(s, x!, y!, z), g), true),
      ...geluMatmulTols(s, a, b, bias, dOut),
    });
  };
  for (const variant of VARIANTS) {
    it(variant, async () => {
      if (!runsHere(rt(), variant)) return;
      await geluCase(rt(), variant, { batch: BATCH, M: 65, N: 37, K: 33, batchedB: false, transA: false, transB: true }, 70);
    });
  }
  it('every other candidate', async () => {
    const r = rt();
    const seen = new Set(VARIANTS.filter((v) => runsHere(r, v)).map((v) => kernelId(r, v)));
    for (const variant of OTHER_SHAPES) {
      if (!runsHere(r, variant) || seen.has(kernelId(r, variant))) continue;
      seen.add(kernelId(r, variant));
      await geluCase(r, variant, { batch: 1, M: 65, N: 37, K: 33, batchedB: false, transA: false, transB: true }, 90);
    }
  }, 600_000);   // about 15 kernels, each built three times (forward, dA, dB): minutes on a busy lavapipe
  it('inference keeps no pre-activation; activation and residual together are refused', async () => {
    const r = rt();
    const labels: string[] = [];
    const empty = r.empty.bind(r);
    r.empty = (shape, dtype, label) => { labels.push(label ?? ''); return empty(shape, dtype, label); };
    try {
      const x = r.tensor(randn(6 * 5, 3), [6, 5]);
      const w = r.parameter(randn(4 * 5, 4), [4, 5]);
      const y = r.withoutGrad(() => matmul(x, w, { transB: true, activation: 'gelu' }));
      // 5 terms of |x| < 1 plus GELU's own error: 5·4·√6·u ≈ 3e-6 at most
      expectClose('gelu(x·wᵀ) without grad', await y.read(), geluRef(matmulRef({ batch: 1, M: 6, N: 4, K: 5, batchedB: false, transA: false, transB: true }, randn(30, 3), randn(20, 4))), { atol: 4e-6, rtol: 1e-6 });
      expect(labels).toEqual(['matmul']);
      for (const t of [x, w, y]) t.release();
    } finally {
      r.empty = empty;
    }
    expect(() => matmul(r.zeros([2, 3]), r.zeros([3, 4]), { activation: 'gelu', residual: r.zeros([2, 4]) })).toThrow(/matmul: activation and residual together/);
  });
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

  it('defaults per adapter, and a pin on the runtime forces one kernel', () => {
    const dev = rt().device;
    const plan = matmulKernel(matmulDefault(dev.facts), dev.facts);
    if (dev.facts.software && dev.facts.fixedSubgroupSize === 8) {
      expect(plan.variant).toBe('subgroup');
      expect(plan.constants).toEqual({ SG: 8, ROWS: 16, WG: 64, L: 8 });
    }
    if (!dev.hasSubgroups) expect(plan.variant).toBe('tiled');
    // Software adapters start from lavapipe's measured shape (4-lane SwiftShader: with 4 broadcast lanes).
    expect(matmulKernel(matmulDefault(adapterFacts({ description: 'SwiftShader', subgroupMinSize: 4, subgroupMaxSize: 4, features: ['subgroups'] })), adapterFacts({ description: 'SwiftShader', subgroupMinSize: 4, subgroupMaxSize: 4, features: ['subgroups'] })).constants).toEqual({ SG: 4, ROWS: 16, WG: 64, L: 4 });
    expect(matmulDefault(adapterFacts({ vendor: 'nvidia', subgroupMinSize: 32, subgroupMaxSize: 32, features: ['subgroups'] }))).toBe('subgroup:R8:W128');
    expect(matmulDefault(adapterFacts({ vendor: 'intel', subgroupMinSize: 8, subgroupMaxSize: 32, features: ['subgroups'] }))).toBe('tiled:W64:N8');
    // Record which entry points run: the forced variant in forward and backward alike.
    const r = rt();
    const entries: string[] = [];
    const dispatch = r.dispatch.bind(r);
    r.dispatch = (decl, args) => { entries.push(decl.entry); dispatch(decl, args); };
    r.tuner.pin('matmul', 'naive');
    try {
      const x = r.parameter(randn(15, 1), [3, 5]);
      const out = matmul(x, r.tensor(randn(15, 2), [5, 3]));
      r.backward(out, r.tensor(randn(9, 3), [3, 3]));
      expect(entries.filter((e) => e.startsWith('matmul'))).toEqual(['matmul_naive', 'matmul_naive']);
      out.release(); x.grad!.release(); x.release();
    } finally {
      r.tuner.pin('matmul', undefined);
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
  for (const variant of ['tiled', 'wgmem', 'subgroup'] as MatmulVariant[]) {
    it(variant, async () => {
      const r = rt();
      if (!runsHere(r, variant)) return;
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
