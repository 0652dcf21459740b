import { describe, expect, it } from 'vitest';
import { AdamW, gradStats, type GradStatsOptions } from '../src/runtime/ops/adamw.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { expectClose, numel, randn, useRuntime } from './harness.js';
import { adamwRefInit, adamwRefStep, adamwRefStepF32, gradStatsRef, type AdamWRefHyper } from '../src/runtime/reference/adamw.js';

const rt = useRuntime();

// The norm is an f32 sum of squares in ≤ 3 levels (8 vec4s per invocation, 64 per workgroup, the
// rows); relative error a few f32 ulps.
const NORM_TOL = { atol: 0, rtol: 1e-6 };
// Parameters: each step rounds p twice in f32 (decay, update), ≤ 6e-8 relative each; 6 steps and
// the f32 update (≈ lr·O(1), itself ~1e-7 relative) stay well under 1e-6 relative + 1e-7 absolute.
const PARAM_TOL = { atol: 1e-7, rtol: 1e-6 };
// m can cancel towards 0 (gradients of both signs), so its atol is 1e-7 of the O(1) gradients;
// v is a positive sum, relative error a few ulps.
const M_TOL = { atol: 1e-7, rtol: 1e-6 };
const V_TOL = { atol: 1e-12, rtol: 1e-6 };

const SHAPES = [[7], [33, 5], [1001], [20001]];   // the last: 3 AdamW workgroups, the third partial

function setGrad(p: Tensor, data: Float64Array | null): void {
  p.grad?.release();
  p.grad = data ? p.rt.untracked(() => p.rt.tensor(data, p.shape)) : null;
}

function makeParams(seed: number): { params: Tensor[]; init: Float64Array[] } {
  const init = SHAPES.map((s, i) => randn(numel(s), seed + i));
  const params = init.map((x, i) => rt().parameter(x, SHAPES[i]!, `p${i}`));
  return { params, init };
}

async function expectState(what: string, opt: AdamW, ref: ReturnType<typeof adamwRefInit>): Promise<void> {
  for (let i = 0; i < opt.params.length; i++) {
    expectClose(`${what}: param ${i}`, await opt.params[i]!.read(), ref.p[i]!, PARAM_TOL);
    expectClose(`${what}: exp_avg ${i}`, await opt.expAvg[i]!.read(), ref.m[i]!, M_TOL);
    expectClose(`${what}: exp_avg_sq ${i}`, await opt.expAvgSq[i]!.read(), ref.v[i]!, V_TOL);
  }
  expect(opt.steps, `${what}: step counters`).toEqual(ref.step);
}

function cleanup(opt: AdamW, params: Tensor[]): void {
  opt.destroy();
  for (const p of params) { setGrad(p, null); p.release(); }
}

describe('gradStats: global norm', () => {
  const cases: { name: string; shapes: number[][]; opts?: GradStatsOptions }[] = [
    { name: 'one element', shapes: [[1]] },
    { name: 'three tensors', shapes: [[7], [33, 5], [1001]] },
    { name: 'large tensor', shapes: [[70001], [3]] },
    { name: 'many rows (2 invocations x 1 vec4 per workgroup)', shapes: [[7], [33, 5], [1001]], opts: { workgroupSize: 2, vec4sPerThread: 1 } },
  ];
  cases.forEach((c, k) => it(c.name, async () => {
    const data = c.shapes.map((s, i) => randn(numel(s), 40 + 10 * k + i, -2, 2));
    const grads = data.map((d, i) => rt().tensor(d, c.shapes[i]!));
    for (const maxNorm of [undefined, 0.5]) {
      const want = gradStatsRef(data, maxNorm);
      const s = gradStats(grads, { ...c.opts, maxNorm });
      expectClose(`${c.name}: norm`, [await s.norm.item()], [want.norm], NORM_TOL);
      expectClose(`${c.name}: clip scale`, [await s.clipScale.item()], [want.scale], NORM_TOL);
      expect(await s.nonFinite.item()).toBe(0);
      for (const t of [s.norm, s.nonFinite, s.clipScale]) t.release();
    }
    for (const g of grads) g.release();
  }));
});

describe('AdamW vs float64 torch algorithm, 6 steps', () => {
  const configs: { name: string; h: AdamWRefHyper; noGradAt?: [step: number, param: number] }[] = [
    { name: 'no weight decay', h: { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 } },
    { name: 'weight decay 0.1', h: { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 } },
    { name: 'SegFace: lr 1e-4, wd 1e-5', h: { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-5 } },
    { name: 'clipping active (max_norm 1)', h: { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, maxNorm: 1 } },
    { name: 'clipping inactive (max_norm 1e3), other betas', h: { lr: 3e-3, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.05, maxNorm: 1e3 } },
    { name: 'a parameter without gradient at step 3', h: { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 }, noGradAt: [3, 1] },
  ];
  configs.forEach((c, k) => it(c.name, async () => {
    const { params, init } = makeParams(100 * k);
    const ref = adamwRefInit(init);
    const opt = new AdamW(params, { lr: c.h.lr, betas: [c.h.beta1, c.h.beta2], eps: c.h.eps, weightDecay: c.h.weightDecay, maxGradNorm: c.h.maxNorm });
    for (let step = 1; step <= 6; step++) {
      const lr = c.h.lr * (1 - 0.1 * step);   // a schedule: the lr changes every step
      const grads = SHAPES.map((s, i) => (c.noGradAt?.[0] === step && c.noGradAt[1] === i ? null : randn(numel(s), 1000 * k + 10 * step + i, -1.5, 1.5)));
      grads.forEach((g, i) => setGrad(params[i]!, g));
      const want = adamwRefStep(ref, grads, { ...c.h, lr });
      const r = opt.step({ lr });
      expectClose(`step ${step}: grad norm`, [await r.norm.item()], [want.norm], NORM_TOL);
      expect(await opt.checkStep(r)).toBe(true);
      for (const t of [r.norm, r.nonFinite, r.clipScale]) t.release();
    }
    await expectState(c.name, opt, ref);
    cleanup(opt, params);
  }));
});

describe('AdamW follows torch\'s float32 operation order', () => {
  // Against torch's op order emulated in f32: identical bits on lavapipe (measured: 0 ulp after 20
  // steps); a GPU that contracts mul+add into fma may differ by an ulp or two per step.
  const F32_TOL = { atol: 1e-9, rtol: 5e-7 };
  it('12 steps, wd 0.1, lr 1e-2', async () => {
    const { params, init } = makeParams(9000);
    const ref = adamwRefInit(init);
    const h: AdamWRefHyper = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };
    const opt = new AdamW(params, { lr: h.lr, weightDecay: h.weightDecay });
    for (let step = 1; step <= 12; step++) {
      const grads = SHAPES.map((s, i) => randn(numel(s), 9100 + 10 * step + i, -1.5, 1.5));
      grads.forEach((g, i) => setGrad(params[i]!, g));
      adamwRefStepF32(ref, grads, h);
      const r = opt.step();
      for (const t of [r.norm, r.nonFinite, r.clipScale]) t.release();
    }
    for (let i = 0; i < params.length; i++) {
      expectClose(`param ${i}`, await params[i]!.read(), ref.p[i]!, F32_TOL);
      expectClose(`exp_avg ${i}`, await opt.expAvg[i]!.read(), ref.m[i]!, F32_TOL);
      expectClose(`exp_avg_sq ${i}`, await opt.expAvgSq[i]!.read(), ref.v[i]!, F32_TOL);
    }
    cleanup(opt, params);
  });
});

describe('non-finite gradients: flag set, step skipped on the GPU', () => {
  const spots: { name: string; param: number; index: number; value: number }[] = [
    { name: 'NaN at the first element', param: 0, index: 0, value: NaN },
    { name: '+Inf in the middle of a 2-D tensor', param: 1, index: 81, value: Infinity },
    { name: '-Inf at the last element (tail of a partial vec4)', param: 2, index: 1000, value: -Infinity },
  ];
  spots.forEach((s, k) => it(s.name, async () => {
    const h: AdamWRefHyper = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, maxNorm: 2 };
    const { params, init } = makeParams(7000 + k);
    const ref = adamwRefInit(init);
    const opt = new AdamW(params, { lr: h.lr, weightDecay: h.weightDecay, maxGradNorm: h.maxNorm });
    const stepWith = async (grads: Float64Array[]): Promise<boolean> => {
      grads.forEach((g, i) => setGrad(params[i]!, g));
      adamwRefStep(ref, grads, h);
      const r = opt.step();
      const readsBefore = rt().counters.readbacks;
      const applied = await opt.checkStep(r);
      expect(rt().counters.readbacks - readsBefore, 'the flag is one readback').toBe(1);
      for (const t of [r.norm, r.nonFinite, r.clipScale]) t.release();
      return applied;
    };
    const good = (step: number): Float64Array[] => SHAPES.map((sh, i) => randn(numel(sh), 500 * k + 10 * step + i));
    expect(await stepWith(good(1))).toBe(true);
    const before = await Promise.all([...params, ...opt.expAvg, ...opt.expAvgSq].map((t) => t.read()));
    const bad = good(2);
    bad[s.param]![s.index] = s.value;
    expect(await stepWith(bad)).toBe(false);
    const after = await Promise.all([...params, ...opt.expAvg, ...opt.expAvgSq].map((t) => t.read()));
    after.forEach((a, i) => expect(Array.from(a), `tensor ${i} untouched`).toEqual(Array.from(before[i]!)));
    expect(opt.steps).toEqual(SHAPES.map(() => 1));
    expect(await stepWith(good(3))).toBe(true);   // the next step is step 2 for torch too
    await expectState(s.name, opt, ref);
    cleanup(opt, params);
  }));

  it('NaN in buffer padding past the end of a gradient is ignored', async () => {
    const r = rt();
    // The pool hands the released buffer of a NaN-filled [1004] to the next [1001] tensor.
    const junk = r.full([1004], NaN);
    junk.release();
    const data = randn(1001, 3);
    const g = r.tensor(data, [1001]);
    const s = gradStats([g]);
    expect(await s.nonFinite.item()).toBe(0);
    expectClose('norm', [await s.norm.item()], [gradStatsRef([data]).norm], NORM_TOL);
    for (const t of [s.norm, s.nonFinite, s.clipScale, g]) t.release();
  });
});

describe('memory', () => {
  it('repeated steps do not grow the pool', async () => {
    const r = rt();
    const { params } = makeParams(4242);
    const opt = new AdamW(params, { lr: 1e-3, maxGradNorm: 1 });
    let live = 0;
    let allocated = 0;
    for (let step = 0; step < 4; step++) {
      SHAPES.forEach((s, i) => setGrad(params[i]!, randn(numel(s), 50 + 10 * step + i)));
      const res = opt.step();
      expect(await opt.checkStep(res)).toBe(true);
      for (const t of [res.norm, res.nonFinite, res.clipScale]) t.release();
      await r.sync();
      if (step === 1) { live = r.memory().bytesLive; allocated = r.memory().bytesAllocated; }
      if (step > 1) {
        expect(r.memory().bytesLive, `step ${step}: live bytes`).toBe(live);
        expect(r.memory().bytesAllocated, `step ${step}: allocated bytes`).toBe(allocated);
      }
    }
    cleanup(opt, params);
  });
});
