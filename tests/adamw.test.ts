import { describe, expect, it } from 'vitest';
import { AdamW, gradStats } from '../src/runtime/ops/adamw.js';
import { expectClose, numel, randn, testFail, useRuntime } from './harness.js';
import { adamwRefInit, adamwRefStep, adamwRefStepF32, gradStatsRef, type AdamWRefHyper } from '../src/runtime/reference/adamw.js';
import {
  checkAdamWSteps, checkGradStats, checkState, cleanup, makeParams as makeParamsOn, NORM_CASES, NORM_TOL, setGrad, SHAPES, STEP_CONFIGS,
} from './checks/adamw.js';

// Cases, tolerances and the norm and six-step checks: tests/checks/adamw.ts (the web page runs them too).
const rt = useRuntime();
const makeParams = (seed: number) => makeParamsOn(rt(), seed);

describe('gradStats: global norm', () => {
  NORM_CASES.forEach((c, k) => it(c.name, async () => { await checkGradStats(rt(), c, k, testFail); }));
});

describe('AdamW vs float64 torch algorithm, 6 steps', () => {
  STEP_CONFIGS.forEach((c, k) => it(c.name, async () => { await checkAdamWSteps(rt(), c, k, testFail); }));
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
    await checkState(s.name, opt, ref, testFail);
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
