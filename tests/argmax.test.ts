// argmaxChannels (kernels/argmax.wgsl): class ids packed as bytes, against a float64 host argmax
// on random scores (ties to the lowest class; a comparison with NaN is false). Outputs are
// NaN/-0x7fffffff-poisoned before the kernel runs, so an unwritten word shows. The op has no
// backward: class ids are not differentiable, and nothing is recorded on the tape.
import { describe, expect, it } from 'vitest';
import { argmaxChannels, readClasses } from '../src/runtime/ops/argmax.js';
import { numel, PRECISIONS, randn, useRuntime } from './harness.js';
import { roundHalf } from '../src/runtime/half.js';
import type { Precision } from '../src/runtime/reference/check.js';
import { argmaxClasses } from '../src/runtime/reference/argmax.js';

const rt = useRuntime();

/** In f16 the scores are rounded to f16 first (the host argmax sees the same values; NaN stays NaN). */
function check(shape: [number, number, ...number[]], scores: Float64Array, precision: Precision = 'f32'): Promise<void> {
  return (async () => {
    const [B, K] = shape;
    const P = numel(shape) / (B * K);
    const values = precision === 'f16' ? scores.map(roundHalf) : scores;
    const x = rt().tensor(values, shape, precision);
    x.requiresGrad = true;
    const tapeBefore = rt().tape.length;
    const packed = argmaxChannels(x);
    expect(packed.shape).toEqual([Math.ceil((B * P) / 4)]);
    expect(rt().tape.length).toBe(tapeBefore);
    expect(packed.requiresGrad).toBe(false);
    const got = await readClasses(packed, B * P);
    const want = argmaxClasses(Float32Array.from(values), B, K, P);
    let bad = -1;
    for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) { bad = i; break; }
    expect(bad, bad < 0 ? '' : `pixel ${bad}: class ${got[bad]}, expected ${want[bad]}`).toBe(-1);
    packed.release();
    x.release();
  })();
}

/** check() in `precision`; on an adapter without shader-f16 an f16 run must be refused naming the feature. */
function checkIn(precision: Precision, shape: [number, number, ...number[]], scores: Float64Array): Promise<void> {
  if (precision === 'f16' && !rt().device.hasF16) return expect(check(shape, scores, precision)).rejects.toThrow(/shader-f16/);
  return check(shape, scores, precision);
}

describe('argmaxChannels', () => {
  for (const precision of PRECISIONS) {
    it(`matches the host argmax on random scores (odd pixel counts, one class, many classes; ${precision})`, async () => {
      const cases: [number, number, ...number[]][] = [[2, 19, 7, 9], [1, 11, 64, 64], [3, 1, 5, 5], [1, 200, 3], [5, 4, 1, 3]];
      for (const [i, shape] of cases.entries()) await checkIn(precision, shape, randn(numel(shape), 100 + i, -4, 4));
    });

    it(`breaks ties toward the lowest class, and NaN scores never win after class 0 (${precision})`, async () => {
      const shape: [number, number, number] = [2, 6, 37];
      const v = randn(numel(shape), 7, 0, 3).map(Math.floor);   // integers 0..2: many ties
      for (let i = 0; i < v.length; i += 5) v[i] = NaN;
      await checkIn(precision, shape, v);
    });
  }

  it('refuses class counts that do not fit a byte', () => {
    const x = rt().tensor(new Float32Array(257), [1, 257, 1]);
    expect(() => argmaxChannels(x)).toThrow(/257 classes; ids must fit a byte/);
    x.release();
  });
});

describe('rt.readMany', () => {
  it('reads several tensors of both dtypes in one readback', async () => {
    const r = rt();
    const a = r.tensor(randn(7, 1), [7]);
    const b = r.tensor([3, -1, 2147483647], [3], 'i32');
    const c = r.tensor(randn(64 * 3, 2), [64, 3]);
    const before = r.counters.readbacks;
    const [ga, gb, gc] = await r.readMany([a, b, c]);
    expect(r.counters.readbacks - before).toBe(1);
    expect(Array.from(ga!)).toEqual(Array.from(await a.read()));
    expect(gb).toBeInstanceOf(Int32Array);
    expect(Array.from(gb!)).toEqual([3, -1, 2147483647]);
    expect(Array.from(gc!)).toEqual(Array.from(Float32Array.from(randn(64 * 3, 2))));
    for (const t of [a, b, c]) t.release();
  });
});
