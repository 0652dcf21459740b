// Flat groups (src/runtime/flat.ts): the layout (odd sizes, aligned offsets, padding), parameters
// moved into one buffer without changing a value, ops reading parameter slots, backward leaving
// gradients in their slots, AdamW's three-dispatch step over the whole group, and padding that is
// poisoned with NaN and never read as data. Also the f16 copy of the parameters that the optimizer
// keeps in step.
import { describe, expect, it } from 'vitest';
import { asDtype, FlatGroup, FlatLayout, flatAlign } from '../src/runtime/flat.js';
import { decodeHalf, encodeHalf } from '../src/runtime/half.js';
import { AdamW } from '../src/runtime/ops/adamw.js';
import { add } from '../src/runtime/ops/elementwise.js';
import { matmul } from '../src/runtime/ops/matmul.js';
import { adamwRefInit, adamwRefStep, type AdamWRefHyper } from '../src/runtime/reference/adamw.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { M_TOL, PARAM_TOL, V_TOL } from './checks/adamw.js';
import { expectClose, numel, randn, useRuntime } from './harness.js';

const rt = useRuntime();

describe('FlatLayout', () => {
  it('odd sizes: offsets on the alignment, padding up to the next slot, nothing overlaps', () => {
    const sizes = [1, 7, 128, 129, 0, 3, 1001];
    const L = new FlatLayout(sizes, 128);
    expect(L.offsets).toEqual([0, 128, 256, 384, 640, 768, 896]);
    expect(L.total).toBe(896 + 1024);
    sizes.forEach((n, i) => {
      expect(L.offsets[i]! % 128).toBe(0);
      expect(L.spanOf(i)).toBeGreaterThanOrEqual(Math.max(n, 1));
    });
    // every element is data of exactly one slot or padding, once
    const owner = new Int32Array(L.total).fill(-2);
    sizes.forEach((n, i) => { for (let k = 0; k < n; k++) { expect(owner[L.offsets[i]! + k]).toBe(-2); owner[L.offsets[i]! + k] = i; } });
    for (const [a, b] of L.pads()) for (let k = a; k < b; k++) { expect(owner[k]).toBe(-2); owner[k] = -1; }
    expect(Array.from(owner).includes(-2)).toBe(false);
    expect(L.pads()[0]).toEqual([1, 128]);
  });

  it('refuses an alignment that vec4 kernels cannot use', () => {
    expect(() => new FlatLayout([3], 6)).toThrow(/multiple of 4/);
  });

  it('segments: whole slots in order, each within one binding, covering every slot; a slot too large for one is refused', () => {
    const sizes = [1, 7, 128, 129, 0, 3, 1001];
    const L = new FlatLayout(sizes, 128, 1024);
    expect(new FlatLayout(sizes, 128).segments).toEqual([{ first: 0, end: 7, start: 0, span: L.total }]);
    expect(L.segments.length).toBeGreaterThan(1);
    let next = 0;
    for (const seg of L.segments) {
      expect(seg.first).toBe(next);
      expect(seg.start).toBe(L.offsets[seg.first]);
      expect(seg.span).toBe((L.offsets[seg.end] ?? L.total) - seg.start);
      expect(seg.span).toBeLessThanOrEqual(1024);
      for (let i = seg.first; i < seg.end; i++) expect(L.segmentOf(i)).toBe(L.segments.indexOf(seg));
      next = seg.end;
    }
    expect(next).toBe(sizes.length);
    expect(() => new FlatLayout(sizes, 128, 512)).toThrow(/tensor 6 \(1001 elements\) is larger than one storage binding \(512 elements\)/);
  });
});

// A little model over three parameters of odd sizes: L = Σ_r Σ_o (x Wᵀ + b)[r, o] · v[o]
const R = 3;
const IN = 7;
const OUT = 5;
const SHAPES = [[OUT, IN], [OUT], [OUT, 1]];
const ADAM: AdamWRefHyper = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, maxNorm: 0.5 };
// Gradients: dW[o, i] = v[o] Σ_r x[r, i], db[o] = R·v[o], dv[o] = Σ_r y[r, o]: sums of ≤ 8 f32
// products of magnitude ≤ 2 (|x|, |W|, |b|, |v| ≤ 1): error ≤ 8 u · 8 · 2 < 1e-5 absolute.
const GRAD_TOL = { atol: 1e-5, rtol: 0 };

function lossOf(x: Tensor, [w, b, v]: Tensor[]): Tensor {
  const r = rt();
  const y = matmul(x, w!, { transB: true, bias: b! });           // (R, OUT)
  const yv = matmul(y, v!);                                      // (R, 1)
  return matmul(r.tensor(new Float64Array(R).fill(1), [1, R]), yv); // (1, 1)
}

function refGrads(x: Float64Array, [w, b, v]: Float64Array[]): Float64Array[] {
  const dW = new Float64Array(OUT * IN);
  const db = new Float64Array(OUT);
  const dv = new Float64Array(OUT);
  for (let o = 0; o < OUT; o++) {
    for (let i = 0; i < IN; i++) for (let r = 0; r < R; r++) dW[o * IN + i] += v![o]! * x[r * IN + i]!;
    db[o] = R * v![o]!;
    for (let r = 0; r < R; r++) {
      let y = b![o]!;
      for (let i = 0; i < IN; i++) y += x[r * IN + i]! * w![o * IN + i]!;
      dv[o] += y;
    }
  }
  return [dW, db, dv];
}

/** `step`'s dispatches, which must be 3 (outputs are not poisoned meanwhile: poisoning is a fill dispatch per output). */
function countDispatches<T>(step: () => T, what: string): T {
  const r = rt();
  r.poisonOutputs = false;
  const before = r.counters.dispatches;
  try {
    const res = step();
    expect(r.counters.dispatches - before, what).toBe(3);
    return res;
  } finally {
    r.poisonOutputs = true;
  }
}

/** Reads a whole flat buffer (data and padding). */
async function readWhole(group: FlatGroup, storage: Tensor['storage']): Promise<Float32Array> {
  const r = rt();
  const whole = r.untracked(() => r.view(storage, [group.layout.total], 'f32', 0, 4 * group.layout.total));
  const data = (await whole.read()) as Float32Array;
  whole.release();
  return data;
}

describe('a flat group under ops, backward and AdamW', () => {
  it('keeps values and aligns every slot (f32 and f16) on minStorageBufferOffsetAlignment', async () => {
    const r = rt();
    const init = SHAPES.map((s, i) => randn(numel(s), 60 + i));
    const params = init.map((d, i) => r.parameter(d, SHAPES[i]!, `p${i}`));
    const group = FlatGroup.adopt(r, params, 'test');
    const align = r.device.limits.minStorageBufferOffsetAlignment;
    expect(group.layout.align).toBe(flatAlign(r));
    for (const [i, p] of params.entries()) {
      expect(p.byteOffset % align, `${p.name} f32 offset`).toBe(0);
      expect((group.layout.offsets[i]! * 2) % align, `${p.name} f16 offset`).toBe(0);
      expect(p.flat).toEqual({ group, index: i, role: 'param' });
      expectClose(`${p.name} after the move`, await p.read(), init[i]!, { atol: 0, rtol: 0 });
    }
    for (const p of params) p.release();
    group.release();
  });

  it('poisoned padding: gradients land in their slots, the step is 3 dispatches and matches float64, padding stays unread', async () => {
    const r = rt();
    const init = SHAPES.map((s, i) => randn(numel(s), 70 + i));
    const x64 = randn(R * IN, 80);
    const params = init.map((d, i) => r.parameter(d, SHAPES[i]!, `p${i}`));
    const opt = new AdamW(params, { lr: ADAM.lr, betas: [ADAM.beta1, ADAM.beta2], eps: ADAM.eps, weightDecay: ADAM.weightDecay, maxGradNorm: ADAM.maxNorm });
    const { group } = opt;
    expect(group.layout.pads().length).toBeGreaterThan(0);
    const ref = adamwRefInit(init);
    for (let step = 1; step <= 3; step++) {
      // NaN in every padding element of parameters, gradients and moments before each step
      for (const buf of [group.params, group.gradBuffer()]) group.poisonPadding(buf, NaN);
      for (const m of [opt.expAvg[0]!, opt.expAvgSq[0]!]) {
        const whole = r.untracked(() => r.view(m.storage, [group.layout.total], 'f32', 0, 4 * group.layout.total));
        const data = (await whole.read()) as Float32Array;
        for (const [a, b] of group.layout.pads()) data.fill(NaN, a, b);
        r.write(whole, data);
        whole.release();
      }
      const x = r.tensor(x64, [R, IN]);
      const loss = r.scope(() => lossOf(x, params));
      r.backward(loss);
      loss.release();
      x.release();
      const want = refGrads(x64, ref.p.map((p) => Float64Array.from(p, Math.fround)));
      for (const [i, p] of params.entries()) {
        expect(p.grad?.flat, `${p.name}: gradient in its slot`).toEqual({ group, index: i, role: 'grad' });
        expectClose(`step ${step} gradient ${p.name}`, await p.grad!.read(), want[i]!, GRAD_TOL);
      }
      const got = await Promise.all(params.map(async (p) => Float64Array.from(await p.grad!.read())));
      const res = countDispatches(() => opt.step(), 'gradient stats (2) + the update (1)');
      expect(await res.nonFinite.item(), 'NaN padding is not a non-finite gradient').toBe(0);
      const stats = adamwRefStep(ref, got, ADAM);
      expectClose(`step ${step} norm`, [await res.norm.item()], [stats.norm], { atol: 0, rtol: 1e-6 });
      expect(await opt.checkStep(res)).toBe(true);
      for (const t of [res.norm, res.nonFinite, res.clipScale]) t.release();
      r.zeroGrad(params);
    }
    for (const [i, p] of params.entries()) {
      expectClose(`param ${i}`, await p.read(), ref.p[i]!, PARAM_TOL);
      expectClose(`exp_avg ${i}`, await opt.expAvg[i]!.read(), ref.m[i]!, M_TOL);
      expectClose(`exp_avg_sq ${i}`, await opt.expAvgSq[i]!.read(), ref.v[i]!, V_TOL);
    }
    // the update wrote padding back unchanged: still NaN
    const whole = await readWhole(group, group.params.storage);
    for (const [a, b] of group.layout.pads()) for (let k = a; k < b; k++) expect(whole[k], `padding element ${k}`).toBeNaN();
    opt.destroy();
    for (const p of params) p.release();
  });

  it('the step stays 3 dispatches for 60 parameter tensors', async () => {
    const r = rt();
    const shapes = Array.from({ length: 60 }, (_, i) => [1 + ((i * 37) % 300)]);
    const params = shapes.map((s, i) => r.parameter(randn(s[0]!, 90 + i), s, `q${i}`));
    const opt = new AdamW(params, { lr: 1e-3 });
    params.forEach((p, i) => { p.grad = r.untracked(() => r.tensor(randn(p.size, 200 + i), p.shape)); });
    const res = countDispatches(() => opt.step(), '60 tensors: still 3');
    expect(await opt.checkStep(res)).toBe(true);
    for (const t of [res.norm, res.nonFinite, res.clipScale]) t.release();
    opt.destroy();
    for (const p of params) { p.grad?.release(); p.grad = null; p.release(); }
  });
});

/** Backward of the little model run in f16 through the parameters' f16 copies (v used twice). */
function f16Backward(x64: Float64Array, ps: Tensor[]): void {
  const r = rt();
  const x = r.tensor(x64, [R, IN], 'f16');
  const loss = r.scope(() => {
    const y = matmul(x, asDtype(ps[0]!, 'f16'), { transB: true, bias: asDtype(ps[1]!, 'f16') });
    const yv = add(matmul(y, asDtype(ps[2]!, 'f16')), matmul(y, asDtype(ps[2]!, 'f16')));
    return matmul(r.tensor(new Float64Array(R).fill(1), [1, R], 'f16'), yv);
  });
  r.backward(loss);
  loss.release();
  x.release();
}

describe('a flat group larger than one storage binding', () => {
  // swin_base's 88 M parameters take 352 MB per flat buffer, lavapipe binds at most 128 MiB: the
  // group runs in segments (one dispatch each). Forced here with segments of one slot's span.
  it('runs in segments with the bits of one segment: gradient norm, clipped update, f16 copy, widened f16 gradients', async () => {
    const r = rt();
    if (!r.device.hasF16) throw new Error(`adapter ${r.device.adapter.name} has no shader-f16; this suite needs it`);
    const init = SHAPES.map((s, i) => randn(numel(s), 140 + i));
    const x64 = randn(R * IN, 150);
    const widest = Math.max(...SHAPES.map((_, i) => new FlatLayout(SHAPES.map(numel), flatAlign(r)).spanOf(i)));
    const train = async (segmentElements?: number): Promise<{ segments: number; norms: number[]; params: number[][]; half: number[][] }> => {
      const params = init.map((d, i) => r.parameter(d, SHAPES[i]!, `s${i}`));
      const group = FlatGroup.adopt(r, params, 'segments', segmentElements ? { segmentElements } : {});
      const opt = new AdamW(params, { lr: 1e-2, weightDecay: 0.1, maxGradNorm: 0.5 });
      expect(opt.group).toBe(group);
      const norms: number[] = [];
      for (let step = 0; step < 3; step++) {
        f16Backward(x64, params);
        const res = opt.step({ gradScale: 4 });
        expect(await opt.checkStep(res)).toBe(true);
        norms.push(await res.norm.item());
        for (const t of [res.norm, res.nonFinite, res.clipScale]) t.release();
        r.zeroGrad(params);
      }
      const out = {
        segments: group.layout.segments.length, norms,
        params: await Promise.all(params.map(async (p) => Array.from(await p.read()))),
        half: await Promise.all(params.map(async (p) => { const h = asDtype(p, 'f16'); const v = Array.from(await h.read()); h.release(); return v; })),
      };
      opt.destroy();
      group.release();
      for (const p of params) p.release();
      return out;
    };
    const one = await train();
    const split = await train(widest);
    expect(one.segments).toBe(1);
    expect(split.segments).toBe(SHAPES.length);
    expect(split.norms).toEqual(one.norms);
    expect(one.norms[0]).toBeGreaterThan(0.5);   // the clip is active
    expect(split.params).toEqual(one.params);
    expect(split.half).toEqual(one.half);
  });
});

describe('the f16 copy of a flat group', () => {
  it('is the parameters rounded to f16, kept in step by AdamW, recast after a host write; its gradients reach the f32 slots exactly', async () => {
    const r = rt();
    if (!r.device.hasF16) throw new Error(`adapter ${r.device.adapter.name} has no shader-f16; this suite needs it`);
    const init = SHAPES.map((s, i) => randn(numel(s), 110 + i));
    const params = init.map((d, i) => r.parameter(d, SHAPES[i]!, `h${i}`));
    const opt = new AdamW(params, { lr: 1e-2 });
    const halfOf = async (p: Tensor): Promise<Float32Array> => {
      const h = asDtype(p, 'f16');
      expect(h.dtype).toBe('f16');
      const v = (await h.read()) as Float32Array;
      h.release();
      return v;
    };
    const rounded = (d: ArrayLike<number>): number[] => Array.from(decodeHalf(encodeHalf(d), d.length));
    for (const [i, p] of params.entries()) expect(Array.from(await halfOf(p)), `${p.name} first cast`).toEqual(rounded(init[i]!));
    // a backward through the f16 copy: W and b get one f16 gradient each (widened together at the
    // end of backward), v two (widened and summed in f32 as they come); the f32 gradients in the
    // slots equal, bit for bit, those of loose parameters cast per use
    const x64 = randn(R * IN, 120);
    const backwardOf = (ps: Tensor[]): void => f16Backward(x64, ps);
    const loose = init.map((d, i) => r.parameter(d, SHAPES[i]!, `loose${i}`));
    backwardOf(loose);
    backwardOf(params);
    for (const [i, p] of params.entries()) {
      expect(p.grad?.flat, `${p.name}: f32 gradient in its slot`).toEqual({ group: opt.group, index: i, role: 'grad' });
      expect(Array.from(await p.grad!.read()), `${p.name}: gradient`).toEqual(Array.from(await loose[i]!.grad!.read()));
    }
    r.zeroGrad(loose);
    for (const p of loose) p.release();
    const res = countDispatches(() => opt.step(), 'the f16 copy is written by the update itself');
    expect(await opt.checkStep(res)).toBe(true);
    for (const t of [res.norm, res.nonFinite, res.clipScale]) t.release();
    r.zeroGrad(params);
    for (const p of params) {
      const now = await p.read();
      const before = r.counters.dispatches;
      expect(Array.from(await halfOf(p)), `${p.name} after the step`).toEqual(rounded(now));
      expect(r.counters.dispatches - before, 'no cast per use').toBe(0);
    }
    // a host write makes the copy stale: the next use recasts the whole group once
    const fresh = randn(numel(SHAPES[1]!), 130);
    r.write(params[1]!, Float32Array.from(fresh));
    expect(Array.from(await halfOf(params[1]!))).toEqual(rounded(fresh));
    opt.destroy();
    for (const p of params) p.release();
  });
});
