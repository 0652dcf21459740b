import { describe, it } from 'vitest';
import { accumulateInPlace, affine, binary, type BinaryKind } from '../src/runtime/ops/elementwise.js';
import { sumLastDim, sumLeading } from '../src/runtime/ops/reduce.js';
import { checkOp, checkRefGradient, expectClose, numel, randn, useRuntime } from './harness.js';
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

describe('binary add/sub/mul with broadcasting', () => {
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
        });
      });
    }
  }
  it('reference backward matches finite differences', () => {
    for (const kind of ['add', 'sub', 'mul'] as BinaryKind[]) {
      checkRefGradient(kind, [randn(15, 1), randn(5, 2)], ([x, y]) => binaryRef(kind, x!, y!), ([x, y], g) => binaryRefBackward(kind, x!, y!, g));
    }
  });
});

describe('accumulateInPlace (gradient accumulation)', () => {
  for (const n of [4099, 70004]) {   // the scalar kernel, and the vec4 one with a partial last workgroup
    it(`dst += src over ${n} elements`, async () => {
      const dstData = randn(n, 11);
      const srcData = randn(n, 12);
      const dst = rt().tensor(dstData, [n]);
      const src = rt().tensor(srcData, [n]);
      accumulateInPlace(dst, src);
      expectClose('accumulate', await dst.read(), dstData.map((v, i) => v + srcData[i]!), TOL);
      dst.release();
      src.release();
    });
  }
});

describe('affine', () => {
  it('alpha x + beta over 1000 elements', async () => {
    await checkOp(rt(), {
      name: 'affine', inputs: [{ data: randn(1000, 3), shape: [10, 100] }],
      run: ([x]) => affine(x!, -2.5, 0.75),
      ref: ([x]) => x!.map((v) => -2.5 * v + 0.75),
      refBackward: (_, g) => [g.map((v) => -2.5 * v)],
      fwdTol: TOL,
    });
  });
});

describe('sum reductions', () => {
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
      });
    });
    it(`sumLeading [${shape}]`, async () => {
      await checkOp(rt(), {
        name: 'sumLeading', inputs: [{ data: randn(numel(shape), 6), shape }],
        run: ([x]) => sumLeading(x!, 1),
        ref: ([x]) => sumColsRef(x!, cols),
        refBackward: ([x], g) => [x!.map((_, i) => g[i % cols]!)],
        fwdTol: { atol: 1e-5, rtol: 1e-5 },
      });
    });
  }
  it('reference backward matches finite differences', () => {
    checkRefGradient('sumRows', [randn(12, 3)], ([x]) => sumRowsRef(x!, 4), ([x], g) => [x!.map((_, i) => g[Math.floor(i / 4)]!)]);
    checkRefGradient('sumCols', [randn(12, 3)], ([x]) => sumColsRef(x!, 4), ([x], g) => [x!.map((_, i) => g[i % 4]!)]);
  });
});
