import { describe, expect, it } from 'vitest';
import { accumulateInPlace, affine, binary, cast, type BinaryKind } from '../src/runtime/ops/elementwise.js';
import { sumLastDim, sumLeading } from '../src/runtime/ops/reduce.js';
import { checkOp, checkRefGradient, expectClose, numel, PRECISIONS, randn, useRuntime, type Tol } from './harness.js';
import { f16Tol } from '../src/runtime/reference/check.js';
import { roundHalf } from '../src/runtime/half.js';
import { binaryRef, binaryRefBackward, sumColsRef, sumRowsRef } from '../src/runtime/reference/elementwise.js';

const rt = useRuntime();
// Elementwise results are one f32 rounding from the float64 reference.
const TOL = { atol: 1e-6, rtol: 1e-6 };

const BINARY_CASES: { a: number[]; b: number[] }[] = [
  { a: [1], b: [1] },
  { a: [7, 13], b: [7, 13] },
  { a: [3, 5, 31], b: [31] },
  { a: [5, 31], b: [2, 5, 31] },
  { a: [2, 3, 1000], b: [3, 1000] },
  { a: [70001], b: [70001] },
  // lengths that are multiples of 4 take the vec4 kernel: no broadcast, a or b broadcast, and a
  // last workgroup that is partly past the end
  { a: [64, 36], b: [64, 36] },
  { a: [12], b: [5, 12] },
  { a: [70004], b: [70004] },
];

/**
 * f16 tolerance of a broadcast mul's gradients: d(small) = Σ_r g_r·big_r, where each product
 * g_r·big_r is stored in f16 (the mul kernel) before sumLeading adds them in f32. Each stored
 * product is off by up to u16·|g_r·big_r| (u16 = 2^-11), so the sum is off by up to
 * u16·Σ_r|g_r·big_r|: atol takes its largest value over the gradient's elements, on top of the f32
 * tolerance and the final rounding (f16Tol). g is the upstream gradient checkCase draws (seed 1001).
 */
function mulGradTolF16(kind: BinaryKind, a: Float64Array, b: Float64Array): Tol {
  const base = f16Tol({ atol: 1e-5, rtol: 1e-5 });
  if (kind !== 'mul' || a.length === b.length) return base;
  const [big, small] = a.length > b.length ? [a, b] : [b, a];
  const g = randn(big.length, 1001);
  const absSum = new Float64Array(small.length);
  for (let i = 0; i < big.length; i++) absSum[i % small.length] += Math.abs(g[i]! * big[i]!);
  return { atol: base.atol + 2 ** -11 * Math.max(...absSum), rtol: base.rtol };
}

describe.each(PRECISIONS)('binary add/sub/mul with broadcasting (%s)', (precision) => {
  for (const kind of ['add', 'sub', 'mul'] as BinaryKind[]) {
    for (const [i, s] of BINARY_CASES.entries()) {
      it(`${kind} [${s.a}] with [${s.b}]`, async () => {
        const a = randn(numel(s.a), 10 + i);
        const b = randn(numel(s.b), 20 + i);
        await checkOp(rt(), {
          name: `${kind} [${s.a}]·[${s.b}]`,
          inputs: [{ data: a, shape: s.a }, { data: b, shape: s.b }],
          run: ([x, y]) => binary(kind, x!, y!),
          ref: ([x, y]) => binaryRef(kind, x!, y!),
          refBackward: ([x, y], g) => binaryRefBackward(kind, x!, y!, g),
          fwdTol: TOL,
          // broadcast gradients are sums of up to ~1000 terms in f32
          gradTol: { atol: 1e-5, rtol: 1e-5 },
          f16: { gradTol: mulGradTolF16(kind, a, b) },
        }, precision);
      });
    }
  }
  it('reference backward matches finite differences', () => {
    for (const kind of ['add', 'sub', 'mul'] as BinaryKind[]) {
      checkRefGradient(kind, [randn(15, 1), randn(5, 2)], ([x, y]) => binaryRef(kind, x!, y!), ([x, y], g) => binaryRefBackward(kind, x!, y!, g));
    }
  });
});

describe.each(PRECISIONS)('accumulateInPlace (gradient accumulation, %s)', (precision) => {
  const round = precision === 'f16' ? roundHalf : (v: number) => v;
  for (const n of [4099, 70004]) {   // the scalar kernel, and the vec4 one with a partial last workgroup
    it(`dst += src over ${n} elements`, async () => {
      const dstData = randn(n, 11).map(round);
      const srcData = randn(n, 12).map(round);
      const dst = rt().tensor(dstData, [n], precision);
      const src = rt().tensor(srcData, [n], precision);
      accumulateInPlace(dst, src);
      expectClose('accumulate', await dst.read(), dstData.map((v, i) => v + srcData[i]!), precision === 'f16' ? f16Tol(TOL) : TOL);
      dst.release();
      src.release();
    });
  }
});

describe.each(PRECISIONS)('affine (%s)', (precision) => {
  it('alpha x + beta over 1000 elements', async () => {
    await checkOp(rt(), {
      name: 'affine', inputs: [{ data: randn(1000, 3), shape: [10, 100] }],
      run: ([x]) => affine(x!, -2.5, 0.75),
      ref: ([x]) => x!.map((v) => -2.5 * v + 0.75),
      refBackward: (_, g) => [g.map((v) => -2.5 * v)],
      fwdTol: TOL,
    }, precision);
  });
});

describe.each(PRECISIONS)('sum reductions (%s)', (precision) => {
  const SHAPES = [[1, 1], [1, 7], [13, 1], [3, 97], [600, 5], [257, 300], [2, 3, 64]];
  for (const shape of SHAPES) {
    const cols = shape[shape.length - 1]!;
    it(`sumLastDim [${shape}]`, async () => {
      await checkOp(rt(), {
        name: 'sumLastDim', inputs: [{ data: randn(numel(shape), 5), shape }],
        run: ([x]) => sumLastDim(x!),
        ref: ([x]) => sumRowsRef(x!, cols),
        refBackward: ([x], g) => [x!.map((_, i) => g[Math.floor(i / cols)]!)],
        fwdTol: { atol: 1e-5, rtol: 1e-5 },
      }, precision);
    });
    it(`sumLeading [${shape}]`, async () => {
      await checkOp(rt(), {
        name: 'sumLeading', inputs: [{ data: randn(numel(shape), 6), shape }],
        run: ([x]) => sumLeading(x!, 1),
        ref: ([x]) => sumColsRef(x!, cols),
        refBackward: ([x], g) => [x!.map((_, i) => g[i % cols]!)],
        fwdTol: { atol: 1e-5, rtol: 1e-5 },
      }, precision);
    });
  }
  it('reference backward matches finite differences', () => {
    checkRefGradient('sumRows', [randn(12, 3)], ([x]) => sumRowsRef(x!, 4), ([x], g) => [x!.map((_, i) => g[Math.floor(i / 4)]!)]);
    checkRefGradient('sumCols', [randn(12, 3)], ([x]) => sumColsRef(x!, 4), ([x], g) => [x!.map((_, i) => g[i % 4]!)]);
  });
});

describe('cast f32 <-> f16', () => {
  // f32 -> f16 is one rounding to nearest even: exactly the host's roundHalf (runtime/half.ts),
  // which rounds ties to even and sends |x| >= 65520 to ±Inf. f16 -> f32 is exact.
  const edges = [0, -0, 1, -1, 65504, 65519, 65520, -70000, 1e30, 2 ** -24, 2 ** -25, 1.5 * 2 ** -25, 2 ** -14,
    1 + 2 ** -11, 1 + 3 * 2 ** -11, 0.1, -3.3333333, 1e-7];
  const data = Float64Array.from([...edges, ...randn(70001 - edges.length, 31, -100, 100)].map((v) => Math.fround(v)));
  it.each(PRECISIONS)('f32 -> %s rounds like the host, and back', async (to) => {
    if (!rt().device.hasF16) { expect(() => cast(rt().tensor(data, [data.length]), 'f16')).toThrow(/shader-f16/); return; }
    const x = rt().tensor(data, [data.length]);
    const y = cast(x, to);
    expect(y.dtype).toBe(to);
    const back = cast(y, 'f32');
    const want = to === 'f16' ? Array.from(data, roundHalf) : Array.from(data);
    expect(Array.from(await y.read())).toEqual(want);
    expect(Array.from(await back.read())).toEqual(want);
    for (const t of [x, y, back]) t.release();
  });
  it('casts gradients back: d(cast to f16) is the f16 gradient widened', async () => {
    await checkOp(rt(), {
      name: 'cast to f16', inputs: [{ data: randn(999, 8), shape: [999], dtype: 'f32' }],
      run: ([x]) => cast(x!, 'f16'),
      ref: ([x]) => x!.map(roundHalf),
      refBackward: (_, g) => [g],
      fwdTol: { atol: 0, rtol: 0 },
    }, 'f16');
  });
  it('a value beyond 65504 becomes Inf in f16', async () => {
    if (!rt().device.hasF16) return expect(() => cast(rt().tensor([1], [1]), 'f16')).toThrow(/shader-f16/);
    const x = rt().tensor([65504, 40000, -40000, 1], [4], 'f16');
    const y = binary('add', x, x);
    expect(Array.from(await y.read())).toEqual([Infinity, Infinity, -Infinity, 2]);
    x.release();
    y.release();
  });
});

describe('f16 tensors', () => {
  it('upload rounds to nearest even, pads odd counts to 4 bytes, and reads back exactly', async () => {
    if (!rt().device.hasF16) return;
    for (const n of [1, 3, 4, 1001]) {
      const data = randn(n, n, -70000, 70000);
      const t = rt().tensor(data, [n], 'f16');
      expect(t.bytes).toBe(Math.ceil(n / 2) * 4);
      expect(Array.from(await t.read())).toEqual(Array.from(data, roundHalf));
      const filled = rt().full([n], 1 / 3, 'f16');
      expect(Array.from(await filled.read())).toEqual(new Array(n).fill(roundHalf(1 / 3)));
      t.release();
      filled.release();
    }
  });
});
