import { describe, expect, it } from 'vitest';
import { activation, activationBackward, type ActivationKind } from '../src/runtime/ops/activation.js';
import { expandIncludes } from '../src/runtime/kernel.js';
import { kernelSource } from '../src/runtime/kernel_source.js';
import { checkOp, checkRefGradient, numel, PRECISIONS, randn, useRuntime } from './harness.js';
import type { Precision } from '../src/runtime/reference/check.js';
import { erfcRef, erfRef, geluRef, geluRefBackward, reluRef, reluRefBackward } from '../src/runtime/reference/activation.js';

const rt = useRuntime();

// ReLU is exact (a select); its gradient is dy or 0, exact as well.
const RELU_TOL = { atol: 0, rtol: 0 };
// GELU: the kernel's erfc fit has fractional error < 1.2e-7 and its exp is range-reduced exactly
// (see kernels/activation.wgsl), so errors do not grow with |x|. Measured over 2^20 points in
// [-14, 14] on lavapipe: relative error ≤ 5.8e-7 (forward) and ≤ 6.8e-7 (backward) wherever the
// result is above 1e-30, except where gelu'(x) crosses zero (x ≈ -0.75): there its two terms
// (~0.5·erfc and x·φ, each ~0.2) cancel and the absolute error is ≤ 2.2e-7. Hence rtol 1e-6 and
// atol 3e-7 (dy is in [-1, 1]).
const GELU_TOL = { atol: 3e-7, rtol: 1e-6 };

/**
 * Values across [-10, 10] plus exact zero, tiny, near-zero and huge magnitudes of both signs; in
 * f16 the huge ones stop at 6e4 (f16's largest is 65504: beyond, the input itself would be ±Inf,
 * and gelu(-Inf) = -Inf·0 is NaN in any precision).
 */
function activationInputs(n: number, seed: number, precision: Precision = 'f32'): Float64Array {
  const special = [0, 1e-30, 1e-7, 1e-3, 0.5, 0.75, 1, 2.5, 3, 5.5, 8, 9.99, 13, 20, 100, 1e4, 1e10, 1e30, 3e38]
    .map((v) => (precision === 'f16' ? Math.min(v, 6e4) : v));
  const out = randn(n, seed, -10, 10);
  let k = 0;
  for (const v of special) {
    for (const s of [1, -1]) if (k < n) out[k++] = Math.fround(s * v);
  }
  return out;
}

const SHAPES = [[1], [3], [4], [5, 7], [2, 3, 50], [4099], [8, 56, 56]];
const KINDS: { kind: ActivationKind; ref: typeof reluRef; refBackward: typeof reluRefBackward; tol: typeof GELU_TOL }[] = [
  { kind: 'relu', ref: reluRef, refBackward: reluRefBackward, tol: RELU_TOL },
  { kind: 'gelu', ref: geluRef, refBackward: geluRefBackward, tol: GELU_TOL },
];

describe.each(PRECISIONS)('activations forward and backward (%s)', (precision) => {
  for (const { kind, ref, refBackward, tol } of KINDS) {
    for (const [i, shape] of SHAPES.entries()) {
      it(`${kind} [${shape}]`, async () => {
        await checkOp(rt(), {
          name: `${kind} [${shape}]`,
          inputs: [{ data: activationInputs(numel(shape), 30 + i, precision), shape }],
          run: ([x]) => activation(kind, x!),
          ref: ([x]) => ref(x!),
          refBackward: ([x], g) => [refBackward(x!, g)],
          fwdTol: tol,
          seed: i,
        }, precision);
      });
    }
  }

  it('relu gradient at exactly 0 is 0; relu keeps NaN', async () => {
    const r = rt();
    const x = r.tensor([0, -0, NaN, 2, -2], [5]);
    const dy = r.tensor([1, 1, 1, 1, 1], [5]);
    expect(Array.from(await activationBackward('relu', x, dy).read())).toEqual([0, 0, 0, 1, 0]);
    const y = Array.from(await activation('relu', x).read());
    expect(y.slice(3)).toEqual([2, 0]);
    expect(Number.isNaN(y[2]!)).toBe(true);
  });

  it('gelu at ±inf and tiny inputs', async () => {
    const r = rt();
    const x = r.tensor([Infinity, 1e-38, -1e-38, 1e-45], [4]);
    const y = await activation('gelu', x).read();
    expect(y[0]).toBe(Infinity);
    // gelu(x) ≈ x/2 for tiny x
    expect(y[1]).toBeCloseTo(Math.fround(1e-38) / 2, 50);
    expect(y[2]).toBeCloseTo(Math.fround(-1e-38) / 2, 50);
    const dx = await activationBackward('gelu', r.tensor([Infinity, -Infinity, 0, 0], [4]), r.tensor([1, 1, 1, 1], [4])).read();
    expect([dx[0], dx[1]]).toEqual([1, 0]);   // exact: erfc underflows to 0, x·φ(x) is clamped to 16·0
    expect(Math.abs(dx[2]! - 0.5)).toBeLessThan(GELU_TOL.rtol * 0.5);   // gelu'(0) = 1/2
  });

  it('grid folding: 65537 workgroups of one vec4, forward and backward', async () => {
    const shape = [4 * 65537 - 2];
    await checkOp(rt(), {
      name: 'gelu folded grid',
      inputs: [{ data: activationInputs(numel(shape), 77, precision), shape }],
      run: ([x]) => activation('gelu', x!, { workgroupSize: 1 }),
      ref: ([x]) => geluRef(x!),
      refBackward: ([x], g) => [geluRefBackward(x!, g)],
      fwdTol: GELU_TOL,
    }, precision);
  });
});

describe('activation references', () => {
  it('erf and erfc match known float64 values', () => {
    // from CPython's math.erf / math.erfc
    const known: [number, number, number][] = [
      [0.5, 0.5204998778130465, 0.4795001221869535],
      [1, 0.8427007929497149, 0.15729920705028513],
      [2, 0.9953222650189527, 0.004677734981047265],
      [3, 0.9999779095030014, 2.2090496998585438e-05],
      [5, 0.9999999999984626, 1.5374597944280351e-12],
      [10, 1, 2.088487583762545e-45],
      [1e-8, 1.1283791670955126e-08, 0.9999999887162083],
    ];
    for (const [z, erf, erfc] of known) {
      expect(Math.abs(erfRef(z) - erf) / erf, `erf(${z})`).toBeLessThan(1e-14);
      expect(Math.abs(erfcRef(z) - erfc) / erfc, `erfc(${z})`).toBeLessThan(1e-13);
      expect(Math.abs(erfcRef(-z) - (2 - erfc)), `erfc(-${z})`).toBeLessThan(1e-15);
    }
  });
  it('reference backward matches finite differences', () => {
    checkRefGradient('gelu', [randn(40, 4, -6, 6)], ([x]) => geluRef(x!), ([x], g) => [geluRefBackward(x!, g)]);
    // ReLU away from the kink (|x| ≥ 0.1 so ±h never crosses 0)
    const x = randn(40, 5).map((v) => (v >= 0 ? v + 0.1 : v - 0.1));
    checkRefGradient('relu', [x], ([v]) => reluRef(v!), ([v], g) => [reluRefBackward(v!, g)]);
  });
});

// GELU's maths has one home, kernels/gelu.wgsl, pulled into the activation and matmul kernels by a
// last line `// #include gelu.wgsl` (src/runtime/kernel.ts expandIncludes).
describe('shared kernel text (// #include)', () => {
  const files: Record<string, string> = { 'a.wgsl': 'fn f() {}\n// #include b.wgsl\n', 'b.wgsl': 'fn g() {}', 'c.wgsl': '// #include b.wgsl' };
  const read = (name: string): string => files[name] ?? expect.fail(`no ${name}`);
  it('replaces the include line with the file, keeping the lines before it', () => {
    expect(expandIncludes(files['a.wgsl']!, read, 'a.wgsl')).toBe('fn f() {}\nfn g() {}\n');
    expect(expandIncludes('// not an include: #include b.wgsl', read, 'x')).toBe('// not an include: #include b.wgsl');
  });
  it('refuses nested includes, naming the file and line', () => {
    expect(() => expandIncludes('\n// #include c.wgsl', read, 'kernels/x.wgsl')).toThrow(/kernels\/x.wgsl:2: c.wgsl includes another file/);
  });
  it('activation.wgsl and matmul.wgsl both take GELU from gelu.wgsl', () => {
    for (const f of ['activation.wgsl', 'matmul.wgsl']) {
      expect(kernelSource(f).trimEnd().endsWith('// #include gelu.wgsl')).toBe(true);
      expect(kernelSource(f)).not.toMatch(/fn two_phi/);
    }
    expect(kernelSource('gelu.wgsl')).toMatch(/fn gelu4\(/);
  });
});
