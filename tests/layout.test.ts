import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { concat, padAxis, permute, slice, transpose } from '../src/runtime/ops/layout.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { checkOp, checkRefGradient, numel, randn, useRuntime } from './harness.js';
import type { Precision } from '../src/runtime/reference/check.js';
import { concatRef, concatRefBackward, permuteRef, permuteRefBackward, sliceRef, sliceRefBackward } from '../src/runtime/reference/layout.js';

const rt = useRuntime();
// Layout ops copy 32-bit values (16-bit ones in f16), forward and backward: results must be bit-exact.
const EXACT = { atol: 0, rtol: 0 };
// A gradient summed from two uses of one input (concat([x, x])) is one f32 addition of two f32
// values: at most half an ulp of the exact sum, i.e. 2^-24 relative.
const ONE_SUM = { atol: 0, rtol: 2 ** -24 };

/** Every permutation of 0..n-1. */
function permutations(n: number): number[][] {
  if (n === 1) return [[0]];
  const out: number[][] = [];
  for (const p of permutations(n - 1)) for (let i = 0; i <= p.length; i++) out.push([...p.slice(0, i), n - 1, ...p.slice(i)]);
  return out;
}

const norm = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

// ---- permute ------------------------------------------------------------------------------------

const PERMUTE_CASES: { shape: number[]; perms: number[][] }[] = [
  { shape: [7], perms: [[0]] },
  { shape: [1], perms: [[0]] },
  { shape: [5, 3], perms: permutations(2) },
  { shape: [1, 9], perms: [[1, 0]] },
  { shape: [2, 3, 5], perms: permutations(3) },
  { shape: [3, 1, 13], perms: permutations(3) },
  { shape: [2, 3, 5, 7], perms: permutations(4) },
  { shape: [1, 1, 1, 1], perms: [[0, 1, 2, 3], [3, 2, 1, 0], [0, 2, 1, 3], [0, 3, 1, 2]] },
  { shape: [3, 1, 13, 2], perms: [[0, 1, 2, 3], [3, 2, 1, 0], [0, 2, 1, 3], [0, 3, 1, 2], [0, 2, 3, 1], [1, 3, 0, 2], [2, 0, 3, 1]] },
  { shape: [1, 4, 1, 6], perms: [[2, 1, 3, 0], [0, 3, 2, 1]] },
  // The moderately large case: NCHW <-> NHWC-like and a transpose of the last two dims.
  { shape: [2, 64, 56, 56], perms: [[0, 2, 3, 1], [0, 3, 1, 2], [0, 1, 3, 2]] },
];

function checkPermute(shape: number[], perm: number[], seed: number, precision: Precision = 'f32'): Promise<void> {
  return checkOp(rt(), {
    name: `permute [${shape}] by [${perm}]`,
    inputs: [{ data: randn(numel(shape), seed), shape }],
    run: ([x]) => permute(x!, perm),
    ref: ([x]) => permuteRef(x!, shape, perm),
    refBackward: (_, g) => [permuteRefBackward(shape, perm, g)],
    fwdTol: EXACT,
    f16: { fwdTol: EXACT, gradTol: EXACT },
  }, precision);
}

describe('permute', () => {
  for (const [ci, c] of PERMUTE_CASES.entries()) {
    for (const [pi, perm] of c.perms.entries()) {
      it(`[${c.shape}] by [${perm}]`, () => checkPermute(c.shape, perm, 100 * ci + pi + 1));
    }
  }
  it('output shape and transpose', async () => {
    const x = rt().tensor(randn(30, 3), [2, 3, 5]);
    const y = permute(x, [2, 0, 1]);
    expect(y.shape).toEqual([5, 2, 3]);
    const t = transpose(x, -1, 0);
    expect(t.shape).toEqual([5, 3, 2]);
    expect(Array.from(await t.read())).toEqual(Array.from(permuteRef(randn(30, 3), [2, 3, 5], [2, 1, 0])));
    for (const v of [x, y, t]) v.release();
  });
  it('i32 tensors', async () => {
    const data = Float64Array.from({ length: 60 }, (_, i) => i * 7 - 200);
    await checkOp(rt(), {
      name: 'permute i32', inputs: [{ data, shape: [3, 4, 5], dtype: 'i32' }],
      run: ([x]) => permute(x!, [2, 0, 1]), ref: ([x]) => permuteRef(x!, [3, 4, 5], [2, 0, 1]), fwdTol: EXACT,
    });
  });
  it('reference backward matches finite differences', () => {
    for (const perm of [[2, 0, 1], [1, 2, 0], [0, 2, 1]]) {
      checkRefGradient(`permute [${perm}]`, [randn(24, 4)], ([x]) => permuteRef(x!, [2, 3, 4], perm), (_, g) => [permuteRefBackward([2, 3, 4], perm, g)]);
    }
    checkRefGradient('permute [0,3,1,2]', [randn(24, 5)], ([x]) => permuteRef(x!, [1, 2, 3, 4], [0, 3, 1, 2]), (_, g) => [permuteRefBackward([1, 2, 3, 4], [0, 3, 1, 2], g)]);
  });
  it('bad inputs throw errors naming permute', () => {
    const x5 = rt().tensor(randn(32, 1), [2, 2, 2, 2, 2]);
    expect(() => permute(x5, [0, 1, 2, 3, 4])).toThrow(/permute: .*rank 5.*1\.\.4/);
    const x = rt().tensor(randn(6, 1), [2, 3]);
    expect(() => permute(x, [0])).toThrow(/permute: \[0\] is not a permutation/);
    expect(() => permute(x, [1, 1])).toThrow(/permute: \[1, 1\] is not a permutation/);
    expect(() => permute(x, [0, 2])).toThrow(/permute/);
    expect(() => transpose(x, 0, 2)).toThrow(/transpose: axis 2 out of range/);
    x5.release();
    x.release();
  });
});

// ---- concat -------------------------------------------------------------------------------------

/** Pieces of `base` with the given lengths along `axis`. */
const CONCAT_CASES: { base: number[]; axis: number; lens: number[] }[] = [
  { base: [5], axis: 0, lens: [3, 1] },
  { base: [5], axis: -1, lens: [1, 4, 2, 7] },
  { base: [4, 6], axis: 0, lens: [1, 3, 2] },
  { base: [4, 6], axis: 1, lens: [5, 1] },
  { base: [4, 6], axis: -1, lens: [2, 3, 1, 4] },
  { base: [3, 4, 5], axis: 0, lens: [2, 1] },
  { base: [3, 4, 5], axis: 1, lens: [1, 2, 3] },
  { base: [3, 4, 5], axis: 2, lens: [4, 1, 1, 2] },
  { base: [2, 3, 4, 5], axis: 0, lens: [1, 2, 1] },
  { base: [2, 3, 4, 5], axis: 1, lens: [3, 1] },
  { base: [2, 3, 4, 5], axis: 2, lens: [2, 1, 3, 1] },
  { base: [2, 3, 4, 5], axis: 3, lens: [1, 6] },
  { base: [2, 3, 4, 5], axis: -2, lens: [5, 2] },
  { base: [1, 3, 7, 2], axis: 1, lens: [2, 1, 3] },   // outer == 1 but not axis 0
  { base: [2, 3, 4, 5, 2], axis: 4, lens: [1, 2] },   // rank 5: concat is rank-agnostic
];

function checkConcat(c: (typeof CONCAT_CASES)[number], seed: number, precision: Precision = 'f32'): Promise<void> {
  const ax = norm(c.axis, c.base.length);
  const shapes = c.lens.map((l) => c.base.map((d, i) => (i === ax ? l : d)));
  return checkOp(rt(), {
    name: `concat axis ${c.axis} of ${shapes.map((s) => `[${s}]`).join(' ')}`,
    inputs: shapes.map((shape, j) => ({ data: randn(numel(shape), seed + j), shape })),
    run: (xs) => concat(xs, c.axis),
    ref: (xs) => concatRef(xs, shapes, ax),
    refBackward: (_, g) => concatRefBackward(shapes, ax, g),
    fwdTol: EXACT,
    f16: { fwdTol: EXACT, gradTol: EXACT },
  }, precision);
}

describe('concat', () => {
  for (const [ci, c] of CONCAT_CASES.entries()) {
    it(`${c.lens.length} pieces of [${c.base}] along axis ${c.axis} with lengths [${c.lens}]`, () => checkConcat(c, 1000 + 10 * ci));
  }
  for (const axis of [0, 1, 2]) {
    it(`one input used twice along axis ${axis} (gradients summed)`, async () => {
      const shape = [3, 4, 5];
      await checkOp(rt(), {
        name: `concat([x, x], ${axis})`,
        inputs: [{ data: randn(60, 50 + axis), shape }],
        run: ([x]) => concat([x!, x!], axis),
        ref: ([x]) => concatRef([x!, x!], [shape, shape], axis),
        refBackward: (_, g) => {
          const [a, b] = concatRefBackward([shape, shape], axis, g);
          return [a!.map((v, i) => v + b![i]!)];
        },
        fwdTol: EXACT, gradTol: ONE_SUM,
      });
    });
  }
  it('only inputs that need a gradient get one', async () => {
    const r = rt();
    const a = r.parameter(randn(6, 1), [2, 3]);
    const b = r.tensor(randn(4, 2), [2, 2]);
    const y = concat([a, b], 1);
    r.backward(y, r.tensor(randn(10, 3), [2, 5]));
    expect(b.grad).toBeNull();
    expect(Array.from(await a.grad!.read())).toEqual(Array.from(concatRefBackward([[2, 3], [2, 2]], 1, randn(10, 3))[0]!));
    r.zeroGrad([a]);
    for (const t of [a, b, y]) t.release();
  });
  it('i32 tensors', async () => {
    const i32 = (n: number, k: number): Float64Array => Float64Array.from({ length: n }, (_, i) => i * k - 31);
    await checkOp(rt(), {
      name: 'concat i32', inputs: [{ data: i32(12, 3), shape: [3, 4], dtype: 'i32' }, { data: i32(6, -5), shape: [3, 2], dtype: 'i32' }],
      run: (xs) => concat(xs, 1), ref: (xs) => concatRef(xs, [[3, 4], [3, 2]], 1), fwdTol: EXACT,
    });
  });
  it('reference backward matches finite differences', () => {
    const shapes = [[2, 1, 3], [2, 3, 3], [2, 2, 3]];
    for (const axis of [1]) {
      checkRefGradient('concat', shapes.map((s, j) => randn(numel(s), 60 + j)), (xs) => concatRef(xs, shapes, axis), (_, g) => concatRefBackward(shapes, axis, g));
    }
    const rows = [[1, 4], [3, 4]];
    checkRefGradient('concat axis 0', rows.map((s, j) => randn(numel(s), 70 + j)), (xs) => concatRef(xs, rows, 0), (_, g) => concatRefBackward(rows, 0, g));
  });
  it('bad inputs throw errors naming concat, the axis and the shapes', () => {
    const r = rt();
    const a = r.tensor(randn(6, 1), [2, 3]);
    const b = r.tensor(randn(8, 2), [2, 4]);
    const c = r.tensor(randn(6, 3), [3, 2]);
    const v = r.tensor(randn(6, 4), [6]);
    const i = r.tensor([1, 2, 3, 4, 5, 6], [2, 3], 'i32');
    expect(() => concat([a, b], 0)).toThrow(/concat: along axis 0, input 1 has shape \[2, 4\] but input 0 has shape \[2, 3\]/);
    expect(() => concat([a, b, c], -1)).toThrow(/concat: along axis -1, input 2 has shape \[3, 2\] but input 0 has shape \[2, 3\]/);
    expect(() => concat([a, v], 0)).toThrow(/concat: along axis 0, input 1 has shape \[6\]/);
    expect(() => concat([a, b], 2)).toThrow(/concat: axis 2 out of range for rank 2/);
    expect(() => concat([a, b], -3)).toThrow(/concat: axis -3 out of range/);
    expect(() => concat([], 0)).toThrow(/concat: no tensors/);
    expect(() => concat([a, i], 0)).toThrow(/concat: .*dtypes differ/);
    for (const t of [a, b, c, v, i]) t.release();
  });
});

async function checkPadAxis(): Promise<void> {
  for (const [axis, before, after] of [[0, 1, 2], [1, 0, 3], [2, 2, 0], [-1, 1, 1], [0, 0, 0]] as const) {
    const shape = [2, 3, 4];
    const ax = norm(axis, 3);
    const padded = shape.map((d, i) => (i === ax ? d + before + after : d));
    await checkOp(rt(), {
      name: `padAxis axis ${axis} (${before}, ${after})`,
      inputs: [{ data: randn(24, 500 + ax), shape }],
      run: ([x]) => padAxis(x!, axis, before, after),
      ref: ([x]) => sliceRefBackward(padded, ax, before, shape[ax]!, x!),
      refBackward: (_, g) => [sliceRef(g, padded, ax, before, shape[ax]!)],
      fwdTol: EXACT,
    });
  }
}

// ---- slice and padAxis --------------------------------------------------------------------------

const SLICE_SHAPE = [3, 4, 5, 6];
/** (start, length) at the start, in the middle, at the end, and the whole axis. */
function windows(dim: number): [number, number][] {
  return [[0, 1], [0, 2], [1, dim - 2], [dim - 1, 1], [dim - 2, 2], [0, dim]];
}

function checkSlice(shape: number[], axis: number, start: number, length: number, seed: number, precision: Precision = 'f32'): Promise<void> {
  const ax = norm(axis, shape.length);
  return checkOp(rt(), {
    name: `slice [${shape}] axis ${axis} [${start}, +${length})`,
    inputs: [{ data: randn(numel(shape), seed), shape }],
    run: ([x]) => slice(x!, axis, start, length),
    ref: ([x]) => sliceRef(x!, shape, ax, start, length),
    refBackward: (_, g) => [sliceRefBackward(shape, ax, start, length, g)],
    fwdTol: EXACT,
    f16: { fwdTol: EXACT, gradTol: EXACT },
  }, precision);
}

const SLICE_EXTRA: [number[], number, number, number][] = [[[9], 0, 2, 5], [[1, 7, 3], 1, 3, 4], [[5, 1, 2], 1, 0, 1], [[3, 4, 5, 6, 2], 3, 2, 3], [[2, 700], 1, 3, 650]];

describe('slice', () => {
  for (const axis of [0, 1, 2, 3, -1, -3]) {
    const ax = norm(axis, SLICE_SHAPE.length);
    for (const [start, length] of windows(SLICE_SHAPE[ax]!)) {
      it(`[${SLICE_SHAPE}] axis ${axis} [${start}, +${length})`, () => checkSlice(SLICE_SHAPE, axis, start, length, 200 + 10 * ax + start));
    }
  }
  for (const [shape, axis, start, length] of SLICE_EXTRA) {
    it(`[${shape}] axis ${axis} [${start}, +${length})`, () => checkSlice(shape, axis, start, length, 300 + start));
  }
  it('slices of one tensor: gradients summed where they overlap', async () => {
    const shape = [4, 6];
    await checkOp(rt(), {
      name: 'slice overlap',
      inputs: [{ data: randn(24, 400), shape }],
      run: ([x]) => rt().scope(() => concat([slice(x!, 1, 0, 4), slice(x!, 1, 2, 4)], 0)),
      ref: ([x]) => concatRef([sliceRef(x!, shape, 1, 0, 4), sliceRef(x!, shape, 1, 2, 4)], [[4, 4], [4, 4]], 0),
      refBackward: (_, g) => {
        const [ga, gb] = concatRefBackward([[4, 4], [4, 4]], 0, g);
        const a = sliceRefBackward(shape, 1, 0, 4, ga!);
        const b = sliceRefBackward(shape, 1, 2, 4, gb!);
        return [a.map((v, i) => v + b[i]!)];
      },
      fwdTol: EXACT, gradTol: ONE_SUM,
    });
  });
  it('padAxis, the adjoint of slice', () => checkPadAxis());
  it('i32 tensors', async () => {
    const data = Float64Array.from({ length: 60 }, (_, i) => 3 * i - 77);
    await checkOp(rt(), {
      name: 'slice i32', inputs: [{ data, shape: [3, 4, 5], dtype: 'i32' }],
      run: ([x]) => slice(x!, 2, 1, 3), ref: ([x]) => sliceRef(x!, [3, 4, 5], 2, 1, 3), fwdTol: EXACT,
    });
  });
  it('reference backward matches finite differences', () => {
    for (const [axis, start, length] of [[0, 1, 1], [1, 0, 2], [2, 2, 2]]) {
      checkRefGradient(`slice axis ${axis}`, [randn(36, 80 + axis)], ([x]) => sliceRef(x!, [3, 3, 4], axis!, start!, length!), (_, g) => [sliceRefBackward([3, 3, 4], axis!, start!, length!, g)]);
    }
  });
  it('bad inputs throw errors naming slice', () => {
    const x: Tensor = rt().tensor(randn(12, 1), [3, 4]);
    expect(() => slice(x, 1, 3, 2)).toThrow(/slice: \[3, 3 \+ 2\) is out of bounds for axis 1 .*length 4/);
    expect(() => slice(x, 0, -1, 1)).toThrow(/slice: .*out of bounds/);
    expect(() => slice(x, 0, 0, 4)).toThrow(/slice: .*out of bounds for axis 0/);
    expect(() => slice(x, 0, 0.5, 1)).toThrow(/slice: .*out of bounds/);
    expect(() => slice(x, 2, 0, 1)).toThrow(/slice: axis 2 out of range for rank 2/);
    expect(() => slice(x, -3, 0, 1)).toThrow(/slice: axis -3 out of range/);
    expect(() => padAxis(x, 0, -1, 0)).toThrow(/padAxis: padding/);
    x.release();
  });
});

describe('zero-size tensors', () => {
  it('permute, concat and slice with an empty dim', async () => {
    await checkPermute([2, 0, 3], [2, 0, 1], 1);
    const shapes = [[2, 3], [2, 0], [2, 1]];
    await checkOp(rt(), {
      name: 'concat with an empty piece',
      inputs: shapes.map((shape, j) => ({ data: randn(numel(shape), 40 + j), shape })),
      run: (xs) => concat(xs, 1), ref: (xs) => concatRef(xs, shapes, 1),
      refBackward: (_, g) => concatRefBackward(shapes, 1, g), fwdTol: EXACT,
    });
    // An empty slice: the gradient is all zeros, written by the window kernel alone.
    await checkSlice([3, 4], 1, 2, 0, 41);
  });
});

// ---- elements per invocation --------------------------------------------------------------------

// The kernels walk K consecutive elements per invocation with carries; the default K depends on
// the adapter, so every K the engine uses (1 on GPUs, 64 on CPU adapters) and an odd one that
// leaves partial chunks and wraps several dims within one chunk are forced here.
for (const k of [1, 7, 64]) {
  describe(`kernels with ${k} elements per invocation`, () => {
    beforeAll(() => { rt().tuner.pin('layout', String(k)); });
    afterAll(() => { rt().tuner.pin('layout', undefined); });
    for (const [ci, c] of PERMUTE_CASES.entries()) {
      if (c.shape.length < 3) continue;
      for (const [pi, perm] of c.perms.entries()) {
        it(`permute [${c.shape}] by [${perm}]`, () => checkPermute(c.shape, perm, 7000 + 100 * ci + pi));
      }
    }
    for (const [ci, c] of CONCAT_CASES.entries()) {
      it(`concat of [${c.base}] along axis ${c.axis} with lengths [${c.lens}]`, () => checkConcat(c, 8000 + 10 * ci));
    }
    for (const axis of [0, 1, 2, 3]) {
      for (const [start, length] of windows(SLICE_SHAPE[axis]!)) {
        it(`slice [${SLICE_SHAPE}] axis ${axis} [${start}, +${length})`, () => checkSlice(SLICE_SHAPE, axis, start, length, 9000 + 10 * axis + start));
      }
    }
    for (const [shape, axis, start, length] of SLICE_EXTRA) {
      it(`slice [${shape}] axis ${axis} [${start}, +${length})`, () => checkSlice(shape, axis, start, length, 9500 + start));
    }
    it('padAxis', () => checkPadAxis());
  });
}

describe('layout ops on f16 tensors (2-byte elements, odd offsets; bit-exact)', () => {
  for (const [ci, c] of PERMUTE_CASES.entries()) {
    it(`permute [${c.shape}] by [${c.perms.at(-1)}]`, () => checkPermute(c.shape, c.perms.at(-1)!, 100 * ci + 1, 'f16'));
  }
  for (const [ci, c] of CONCAT_CASES.entries()) {
    it(`concat of [${c.base}] along axis ${c.axis} with lengths [${c.lens}]`, () => checkConcat(c, 1000 + 10 * ci, 'f16'));
  }
  for (const axis of [0, 3]) {
    for (const [start, length] of windows(SLICE_SHAPE[axis]!)) {
      it(`slice [${SLICE_SHAPE}] axis ${axis} [${start}, +${length})`, () => checkSlice(SLICE_SHAPE, axis, start, length, 200 + 10 * axis + start, 'f16'));
    }
  }
  for (const [shape, axis, start, length] of SLICE_EXTRA) {
    it(`slice [${shape}] axis ${axis} [${start}, +${length})`, () => checkSlice(shape, axis, start, length, 300 + start, 'f16'));
  }
});
