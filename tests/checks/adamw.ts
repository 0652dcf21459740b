// AdamW (kernels/adamw.wgsl) against torch's algorithm in float64: the global gradient norm with
// clipping (gradStats), and six steps with a changing learning rate, decoupled weight decay and
// a parameter without a gradient, comparing the parameters and both moments. Shared by
// tests/adamw.test.ts (Node) and the web page's op checks (tests/web/op_checks.ts).
import { AdamW, gradStats, type GradStatsOptions } from '../../src/runtime/ops/adamw.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { adamwRefInit, adamwRefStep, gradStatsRef, type AdamWRefHyper } from '../../src/runtime/reference/adamw.js';
import { numel, randn } from '../inputs.js';
import { near } from './run.js';

// The norm is an f32 sum of squares in ≤ 3 levels (8 vec4s per invocation, 64 per workgroup, the
// rows); relative error a few f32 ulps.
export const NORM_TOL = { atol: 0, rtol: 1e-6 };
// Parameters: each step rounds p twice in f32 (decay, update), ≤ 6e-8 relative each; 6 steps and
// the f32 update (≈ lr·O(1), itself ~1e-7 relative) stay well under 1e-6 relative + 1e-7 absolute.
export const PARAM_TOL = { atol: 1e-7, rtol: 1e-6 };
// m can cancel towards 0 (gradients of both signs), so its atol is 1e-7 of the O(1) gradients;
// v is a positive sum, relative error a few ulps.
export const M_TOL = { atol: 1e-7, rtol: 1e-6 };
export const V_TOL = { atol: 1e-12, rtol: 1e-6 };

export const SHAPES = [[7], [33, 5], [1001], [20001]];   // the last: 3 AdamW workgroups, the third partial

export interface NormCase { name: string; shapes: number[][]; opts?: GradStatsOptions }
export const NORM_CASES: NormCase[] = [
  { name: 'one element', shapes: [[1]] },
  { name: 'three tensors', shapes: [[7], [33, 5], [1001]] },
  { name: 'large tensor', shapes: [[70001], [3]] },
  { name: 'many rows (2 invocations x 1 vec4 per workgroup)', shapes: [[7], [33, 5], [1001]], opts: { workgroupSize: 2, vec4sPerThread: 1 } },
];

export interface StepConfig { name: string; h: AdamWRefHyper; noGradAt?: [step: number, param: number] }
export const STEP_CONFIGS: StepConfig[] = [
  { name: 'no weight decay', h: { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 } },
  { name: 'weight decay 0.1', h: { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 } },
  { name: 'SegFace: lr 1e-4, wd 1e-5', h: { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-5 } },
  { name: 'clipping active (max_norm 1)', h: { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, maxNorm: 1 } },
  { name: 'clipping inactive (max_norm 1e3), other betas', h: { lr: 3e-3, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.05, maxNorm: 1e3 } },
  { name: 'a parameter without gradient at step 3', h: { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 }, noGradAt: [3, 1] },
];

export function setGrad(p: Tensor, data: Float64Array | null): void {
  p.grad?.release();
  p.grad = data ? p.rt.untracked(() => p.rt.tensor(data, p.shape)) : null;
}

export function makeParams(r: Runtime, seed: number): { params: Tensor[]; init: Float64Array[] } {
  const init = SHAPES.map((s, i) => randn(numel(s), seed + i));
  const params = init.map((x, i) => r.parameter(x, SHAPES[i]!, `p${i}`));
  return { params, init };
}

export function cleanup(opt: AdamW, params: Tensor[]): void {
  opt.destroy();
  for (const p of params) { setGrad(p, null); p.release(); }
}

/** Parameters, exp_avg and exp_avg_sq of every tensor, and the step counters, against the reference. */
export async function checkState(what: string, opt: AdamW, ref: ReturnType<typeof adamwRefInit>, fail: (message: string) => void): Promise<void> {
  for (let i = 0; i < opt.params.length; i++) {
    near(`${what}: param ${i}`, await opt.params[i]!.read(), ref.p[i]!, PARAM_TOL, fail);
    near(`${what}: exp_avg ${i}`, await opt.expAvg[i]!.read(), ref.m[i]!, M_TOL, fail);
    near(`${what}: exp_avg_sq ${i}`, await opt.expAvgSq[i]!.read(), ref.v[i]!, V_TOL, fail);
  }
  if (opt.steps.join() !== ref.step.join()) fail(`${what}: step counters [${opt.steps}], expected [${ref.step}]`);
}

/** gradStats on case `k`: the norm and the clip scale, without and with max_norm 0.5. */
export async function checkGradStats(r: Runtime, c: NormCase, k: number, fail: (message: string) => void): Promise<void> {
  const data = c.shapes.map((s, i) => randn(numel(s), 40 + 10 * k + i, -2, 2));
  const grads = data.map((d, i) => r.tensor(d, c.shapes[i]!));
  try {
    for (const maxNorm of [undefined, 0.5]) {
      const want = gradStatsRef(data, maxNorm);
      const s = gradStats(grads, { ...c.opts, maxNorm });
      near(`${c.name}: norm`, [await s.norm.item()], [want.norm], NORM_TOL, fail);
      near(`${c.name}: clip scale`, [await s.clipScale.item()], [want.scale], NORM_TOL, fail);
      const nonFinite = await s.nonFinite.item();
      if (nonFinite !== 0) fail(`${c.name}: non-finite flag ${nonFinite} on finite gradients`);
      for (const t of [s.norm, s.nonFinite, s.clipScale]) t.release();
    }
  } finally {
    for (const g of grads) g.release();
  }
}

/** Six AdamW steps of config `k` (the lr changes every step, as under a schedule). */
export async function checkAdamWSteps(r: Runtime, c: StepConfig, k: number, fail: (message: string) => void): Promise<void> {
  const { params, init } = makeParams(r, 100 * k);
  const ref = adamwRefInit(init);
  const opt = new AdamW(params, { lr: c.h.lr, betas: [c.h.beta1, c.h.beta2], eps: c.h.eps, weightDecay: c.h.weightDecay, maxGradNorm: c.h.maxNorm });
  try {
    for (let step = 1; step <= 6; step++) {
      const lr = c.h.lr * (1 - 0.1 * step);
      const grads = SHAPES.map((s, i) => (c.noGradAt?.[0] === step && c.noGradAt[1] === i ? null : randn(numel(s), 1000 * k + 10 * step + i, -1.5, 1.5)));
      grads.forEach((g, i) => setGrad(params[i]!, g));
      const want = adamwRefStep(ref, grads, { ...c.h, lr });
      const res = opt.step({ lr });
      near(`${c.name}: step ${step}: grad norm`, [await res.norm.item()], [want.norm], NORM_TOL, fail);
      if (!(await opt.checkStep(res))) fail(`${c.name}: step ${step} skipped on finite gradients`);
      for (const t of [res.norm, res.nonFinite, res.clipScale]) t.release();
    }
    await checkState(c.name, opt, ref, fail);
  } finally {
    cleanup(opt, params);
  }
}
