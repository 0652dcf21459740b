// Training against PyTorch (tools/reference/train_ref.py, Debian's python3-torch 1.13):
// (a) AdamW + MultiStepLR against torch.optim.AdamW + lr_scheduler.MultiStepLR on the same
//     gradients, step by step (zero, huge, tiny and missing gradients; with and without clipping);
// (b) four training steps of the tiny SegFace (32 px, batch 2, stochastic depth off) from the shared
//     synthetic initialisation on the same images and labels, against a float64 PyTorch run that
//     the engine follows step by step: losses, gradients, weights and moments of every step.
// python3-torch is required (bash scripts/setup.sh --tests); a missing python fails the test.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/model/config.js';
import { segfaceForward } from '../../src/model/segface.js';
import { syntheticParams } from '../../src/model/params.js';
import { AdamW } from '../../src/runtime/ops/adamw.js';
import { segLoss } from '../../src/runtime/ops/loss.js';
import { readSafetensors, readSafetensorsMetadata, writeSafetensors, type StWrite } from '../../src/runtime/formats/safetensors.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { epochBatches, makeBatch } from '../../src/train/data/dataset.js';
import { SyntheticDataset } from '../../src/train/data/synthetic_dataset.js';
import { MultiStepLR } from '../../src/train/schedule.js';
import { randn, useRuntime } from '../harness.js';

const rt = useRuntime();
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'optim-ref-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function trainRef(mode: 'optim' | 'train', inputs: string, out: string, config: object): void {
  try {
    execFileSync('/usr/bin/python3', [join(root, 'tools/reference/train_ref.py'), mode, '--inputs', inputs, '--out', out, '--config', JSON.stringify(config)],
      { env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' }, stdio: 'pipe' });
  } catch (e) {
    throw new Error(`tools/reference/train_ref.py ${mode} failed (is python3-torch installed? run: bash scripts/setup.sh --tests):\n${(e as { stderr?: Buffer }).stderr?.toString() ?? e}`);
  }
}

// float32 and torch.optim.AdamW's defaults, for both parts below
const U32 = 2 ** -24;                 // float32 unit roundoff
/** Half the spacing of float32's subnormals: the absolute error of one rounding below 2^-126. */
const SUBNORMAL_HALF_SPACING = 2 ** -150;
const BETA1 = 0.9;
const BETA2 = 0.999;
const EPS = 1e-8;

// ---- (a) the optimizer alone

// Both sides run AdamW in float32 from the same float32 inputs, with different operation orders
// (torch: p·(1 − lr·wd), then m.mul_(β1).add_(g), v.mul_(β2).addcmul_(g, g), (√v/√bc2) + eps and
// addcdiv; ours: one fused expression per quantity, 1/√bc2 folded into the step size; torch's clip
// scales g in place, ours inside the update). The bound follows each side's roundings through the
// recursion, per element, in float64 (optimBound below): with u = 2^-24, each step adds
//   m: 3 roundings per side of the terms β1|m| + (1−β1)|g|, so 6u of them;
//   v: 4 per side of β2·v + (1−β2)g²: 8u;
//   p: 2 per side of |p| (the decay product and the subtraction): 4u|p|, plus lr times the update's
//      error: its 10 roundings per side (bias corrections, √, + eps, ÷, × lr): 20u|û|, and what the
//      moments' differences make of it: dm/(bc1·den) + |û|·dden/den;
// and carries the previous differences forward (×β1, ×β2, ×(1 − lr·wd)). Clipping: torch's norm is
// a float32 sum of n squares, relative error ≤ n·u/2 (γ_n of positive terms, halved by the √),
// then the coefficient's division and the in-place product: ρ = (n/2 + 2)·u relative on g.

interface OptimState { p: Float64Array; m: Float64Array; v: Float64Array; dp: Float64Array; dm: Float64Array; dv: Float64Array; t: number }

/** One AdamW step in float64 on `st` with the float32 gradient `g` scaled by `clip`; the bounds grow as above. */
function optimBound(st: OptimState, g: Float64Array, h: { lr: number; wd: number; clip: number; rho: number }): void {
  const [b1, b2, eps, u] = [BETA1, BETA2, EPS, U32];
  st.t++;
  const bc1 = 1 - b1 ** st.t;
  const bc2 = 1 - b2 ** st.t;
  for (let k = 0; k < g.length; k++) {
    const gk = g[k]! * h.clip;
    const [m0, v0] = [st.m[k]!, st.v[k]!];
    st.m[k] = b1 * m0 + (1 - b1) * gk;
    st.v[k] = b2 * v0 + (1 - b2) * gk * gk;
    st.dm[k] = b1 * st.dm[k]! + 6 * u * (b1 * Math.abs(m0) + (1 - b1) * Math.abs(gk)) + (1 - b1) * h.rho * Math.abs(gk);
    st.dv[k] = b2 * st.dv[k]! + 8 * u * (b2 * v0 + (1 - b2) * gk * gk) + (1 - b2) * 2 * h.rho * gk * gk;
    const root = Math.sqrt(st.v[k]! / bc2);
    const den = root + eps;
    const upd = st.m[k]! / bc1 / den;
    const dden = root > 0 ? st.dv[k]! / (2 * bc2 * root) : Math.sqrt(st.dv[k]! / bc2);
    const dupd = st.dm[k]! / bc1 / den + Math.abs(upd) * dden / den + 20 * u * Math.abs(upd);
    st.p[k] = st.p[k]! * (1 - h.lr * h.wd) - h.lr * upd;
    st.dp[k] = st.dp[k]! * (1 - h.lr * h.wd) + 4 * u * Math.abs(st.p[k]!) + h.lr * dupd;
  }
}

/** Asserts |got − want| ≤ bound element by element; returns the worst ratio. */
function expectWithin(what: string, got: ArrayLike<number>, want: ArrayLike<number>, bound: ArrayLike<number>): number {
  let worst = 0;
  for (let k = 0; k < want.length; k++) {
    const err = Math.abs(got[k]! - want[k]!);
    worst = Math.max(worst, err / bound[k]!);
    if (!(err <= bound[k]!)) expect(err, `${what}[${k}]: ${got[k]} vs torch ${want[k]}, bound ${bound[k]}`).toBeLessThanOrEqual(bound[k]!);
  }
  return worst;
}
const SHAPES = [[7], [33, 5], [1001], [4]];

/** Step s's gradient of parameter i, or null (p.grad is None). */
function gradient(s: number, i: number): Float64Array | null {
  const n = SHAPES[i]!.reduce((a, b) => a * b, 1);
  if (i === 3 && s === 2) return null;                           // no gradient: torch skips the parameter
  if (i === 1 && s === 1) return new Float64Array(n);            // all-zero gradient: decay and moments still move
  const g = randn(n, 1000 + 10 * s + i);
  if (i === 2 && s === 3) return g.map((x) => x * 1e4);          // a huge step
  if (i === 0 && s >= 4) return g.map((x) => x * 1e-6);          // tiny gradients (≈ eps scale after bias correction)
  return g;
}

function setGrad(p: Tensor, data: Float64Array | null): void {
  p.grad?.release();
  p.grad = data ? p.rt.untracked(() => p.rt.tensor(data, p.shape)) : null;
}

describe('AdamW + MultiStepLR against torch.optim', () => {
  for (const maxNorm of [undefined, 1.0]) {
    it(`6 steps, milestones [2, 4]${maxNorm ? `, clip_grad_norm_ ${maxNorm}` : ''}`, async () => {
      const STEPS = 6;
      const config = { lr: 1e-2, weight_decay: 1e-2, milestones: [2, 4], gamma: 0.1, steps: STEPS, ...(maxNorm ? { max_norm: maxNorm } : {}) };
      const init = SHAPES.map((s, i) => randn(s.reduce((a, b) => a * b, 1), 500 + i));
      const inputs = new Map<string, StWrite>();
      init.forEach((x, i) => inputs.set(`param.${i}`, { shape: SHAPES[i]!, data: Float32Array.from(x) }));
      for (let s = 0; s < STEPS; s++) {
        SHAPES.forEach((shape, i) => {
          const g = gradient(s, i);
          if (g) inputs.set(`grad.${s}.${i}`, { shape, data: Float32Array.from(g) });
        });
      }
      const tag = maxNorm ? 'clip' : 'plain';
      writeSafetensors(join(dir, `optim_${tag}_in.safetensors`), inputs);
      trainRef('optim', join(dir, `optim_${tag}_in.safetensors`), join(dir, `optim_${tag}_out.safetensors`), config);
      const ref = readSafetensors(join(dir, `optim_${tag}_out.safetensors`));
      const meta = readSafetensorsMetadata(join(dir, `optim_${tag}_out.safetensors`));

      const params = init.map((x, i) => rt().parameter(x, SHAPES[i]!, `p${i}`));
      const opt = new AdamW(params, { lr: config.lr, weightDecay: config.weight_decay, maxGradNorm: maxNorm });
      const schedule = new MultiStepLR(config.lr, config.milestones, config.gamma);
      const zeros = (n: number): Float64Array => new Float64Array(n);
      const exact: OptimState[] = init.map((x) => ({ p: Float64Array.from(Float32Array.from(x)), m: zeros(x.length), v: zeros(x.length), dp: zeros(x.length), dm: zeros(x.length), dv: zeros(x.length), t: 0 }));
      const lrs: number[] = [];
      let worst = 0;
      for (let s = 0; s < STEPS; s++) {
        params.forEach((p, i) => setGrad(p, gradient(s, i)));
        lrs.push(schedule.lrAt(s));
        const r = opt.step({ lr: schedule.lrAt(s) });
        expect(await opt.checkStep(r)).toBe(true);
        for (const t of [r.norm, r.nonFinite, r.clipScale]) t.release();
        const g32 = SHAPES.map((_, i) => { const g = gradient(s, i); return g && Float64Array.from(Float32Array.from(g)); });
        const n = g32.reduce((a, g) => a + (g?.length ?? 0), 0);
        const norm = Math.sqrt(g32.reduce((a, g) => a + (g ? g.reduce((b, x) => b + x * x, 0) : 0), 0));
        const clip = maxNorm ? Math.min(1, maxNorm / (norm + 1e-6)) : 1;
        const rho = clip < 1 ? (n / 2 + 2) * U32 : 0;
        for (const [i, p] of params.entries()) {
          const g = g32[i];
          if (g) optimBound(exact[i]!, g, { lr: schedule.lrAt(s), wd: config.weight_decay, clip, rho });
          worst = Math.max(worst, expectWithin(`step ${s} param ${i}`, await p.read(), ref.get(`step${s}.param.${i}`)!.data, exact[i]!.dp.map((d, k) => d + U32 * Math.abs(exact[i]!.p[k]!))));
        }
      }
      expect(lrs).toEqual(JSON.parse(meta.lrs!));                 // torch's scheduler: the same lr at every step (float64)
      expect(opt.steps).toEqual(JSON.parse(meta.steps!));        // per-parameter step counts, the skipped one included
      for (const [i] of params.entries()) {
        worst = Math.max(worst, expectWithin(`exp_avg ${i}`, await opt.expAvg[i]!.read(), ref.get(`exp_avg.${i}`)!.data, exact[i]!.dm));
        worst = Math.max(worst, expectWithin(`exp_avg_sq ${i}`, await opt.expAvgSq[i]!.read(), ref.get(`exp_avg_sq.${i}`)!.data, exact[i]!.dv));
      }
      console.log(`AdamW vs torch (${tag}): worst |difference| / derived bound over 6 steps, weights and moments = ${worst.toExponential(2)}`);
      opt.destroy();
      for (const p of params) { setGrad(p, null); p.release(); }
    }, 120_000);
  }
});

// ---- (b) training steps of the tiny model, teacher-forced against a float64 PyTorch run
//
// Why float64 and teacher forcing: a float32 PyTorch reference rounds differently on every CPU
// (OpenBLAS picks its kernels per core type), and Adam turns rounding into ±lr moves wherever a
// gradient is at its own rounding level, so free-running float32 trajectories drift apart by an
// amount no tolerance can bound on every machine. Here the reference is float64 (its rounding is
// 1e-9 of ours: the same on every CPU), and before each step the engine is loaded with the
// reference's state (weights and moments, rounded to float32 by train_ref.py so both sides start
// from the same numbers). Each comparison is then one step's float32 rounding on our side, and
// every bound below follows from it.
// Our gradient against the exact (float64) one, per tensor, RMS over its elements, against the
// RMS error of PyTorch's float32 evaluation of the same step at the same weights (rounding32,
// computed by train_ref.py on this machine's OpenBLAS kernels). Both are float32 evaluations of the
// same forward and backward, rounding every op once; they differ in how their sums are ordered, and
// that decides the constant, so the bound is PyTorch's error times two derived factors:
// - Order. In the random-walk model of rounding (each rounding an independent error of at most u
//   times the partial sum it rounds), a sequential float32 sum of n terms errs by u·√(Σ_k S_k²),
//   at most √n times what a pairwise or blocked sum of the same terms does (u·|S|·√(log n)).
//   PyTorch's CPU sums are blocked (OpenBLAS micro-kernels, vectorised cascade reductions); ours
//   accumulate sequentially in one lane, the longest being the hypernetwork product's backward
//   over one image's H·W output positions (SEQ_MAX; the ConvTranspose weight gradients sum 512,
//   the bias column sums chunks of 256). Factor √SEQ_MAX.
// - Sample size. PyTorch's error on one tensor is a sample: its RMS over n elements is a χ²_n
//   variable, which falls below its scale σ by √(n/χ²_n(p)) with probability p. With p = 1e-4
//   per tensor and step that is 1.02 for 30k elements, 1.8 for 32 and 11.9 for the 4-element
//   decoder biases, where a lucky small sample was what once failed a fixed factor. (A false
//   failure also needs our error at its full order bound; measured, it stays below 0.2 of it.)
// Detection: a wiring bug (a sign, a factor, a transposed weight, a missing path) errs by ≥ 1e-2
// of the gradient's RMS (the op tests catch finer errors, against their own derived bounds); the
// test asserts that every bound stays below that on every tensor whose gradient does not vanish
// in exact arithmetic (rms(g) above 1e-6 of the model's: invariances such as the last hypernetwork
// bias, whose exact gradient is 0, are pure rounding on both sides).
const SAMPLE_P = 1e-4;
const DETECTABLE = 1e-2;
// The losses: one forward at identical weights, scalars; the order factor against PyTorch's float32
// error, floored at the order factor times 4 roundings of the loss (a mean of positive terms whose
// logits round by a few u); a scalar has no sample-size factor to give, so the floor carries it.
const LOSS_ROUNDINGS = 4;

/** ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; relative error below 1e-13). */
function lnGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61503916999185,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  x -= 1;
  let a = c[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** P(χ²_n ≤ x): the regularised lower incomplete gamma P(n/2, x/2), by its power series. */
function chiSquareCdf(n: number, x: number): number {
  const s = n / 2;
  const z = x / 2;
  let term = 1 / s;
  let sum = term;
  for (let k = 1; k < 10_000 && term > sum * 1e-16; k++) { term *= z / (s + k); sum += term; }
  return Math.exp(s * Math.log(z) - z - lnGamma(s)) * sum;
}

/** √(n / χ²_n(p)): how far below its scale an RMS over n samples falls with probability p. */
function sampleFactor(n: number, p = SAMPLE_P): number {
  let lo = 0;
  let hi = n;
  for (let i = 0; i < 200; i++) { const mid = (lo + hi) / 2; if (chiSquareCdf(n, mid) < p) lo = mid; else hi = mid; }
  return Math.sqrt(n / lo);
}

/** torch.optim.AdamW's update direction m̂ / (√v̂ + eps) for one element, in float64. */
function adamDirection(mPrev: number, vPrev: number, g: number, step: number): { m: number; v: number; u: number } {
  const m = BETA1 * mPrev + (1 - BETA1) * g;
  const v = BETA2 * vPrev + (1 - BETA2) * g * g;
  const u = (m / (1 - BETA1 ** step)) / (Math.sqrt(v) / Math.sqrt(1 - BETA2 ** step) + EPS);
  return { m, v, u };
}

const rms = (a: ArrayLike<number>, b?: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - (b ? b[i]! : 0)) ** 2;
  return Math.sqrt(s / Math.max(a.length, 1));
};

describe('tiny SegFace training steps against PyTorch (float64, teacher-forced)', () => {
  it('4 steps at 32 px, batch 2, lr 1e-3 with a milestone at step 2: losses, gradients, weights and moments', async () => {
    const RES = 32;
    const SEED = 5;
    const STEPS = 4;
    const ORDER = Math.sqrt(RES * RES);   // √SEQ_MAX: the longest sequential sum (see above)
    const cfg = makeConfig('tiny', 'celeb');
    const config = { backbone: 'tiny', dataset: 'celeb', seed: SEED, lr: 1e-3, weight_decay: 1e-5, milestones: [2], gamma: 0.1 };
    const data = new SyntheticDataset('train', 2 * STEPS, RES, 'celeb', 11);
    const batches = epochBatches(data.length, 2, 11, 0).map((idx) => makeBatch(data, idx));
    const images = new Float32Array(STEPS * 2 * 3 * RES * RES);
    const labels = new Int32Array(STEPS * 2 * RES * RES);
    batches.forEach((b, s) => { images.set(b.images, s * b.images.length); labels.set(b.labels, s * b.labels.length); });
    writeSafetensors(join(dir, 'train_in.safetensors'), {
      images: { shape: [STEPS, 2, 3, RES, RES], data: images }, labels: { shape: [STEPS, 2, RES, RES], data: labels },
    });
    trainRef('train', join(dir, 'train_in.safetensors'), join(dir, 'train_out.safetensors'), config);
    const ref = readSafetensors(join(dir, 'train_out.safetensors'));
    const meta = readSafetensorsMetadata(join(dir, 'train_out.safetensors'));
    const refLosses = JSON.parse(meta.losses!) as number[][];
    const refLosses32 = JSON.parse(meta.losses32!) as number[][];
    const rounding32 = JSON.parse(meta.rounding32!) as Record<string, number[]>;
    const at = (key: string): Float32Array => {
      const t = ref.get(key);
      if (!t) throw new Error(`train_ref.py output lacks ${key}`);
      return t.data as Float32Array;
    };

    const params = syntheticParams(rt(), cfg, SEED);
    const trainable = params.params();
    const optim = new AdamW(trainable, { lr: config.lr, weightDecay: config.weight_decay });
    const schedule = new MultiStepLR(config.lr, config.milestones, config.gamma);
    expect(Array.from({ length: STEPS }, (_, s) => schedule.lrAt(s))).toEqual(JSON.parse(meta.lrs!));
    // the shared synthetic initialisation: the reference's step-0 weights are ours, bit for bit
    for (const spec of params.specs) {
      const key = spec.kind === 'buffer' ? spec.name : `step0.param.${spec.name}`;
      expect(Array.from(await params.get(spec.name).read()), spec.name).toEqual(Array.from(at(key)));
    }

    let worstLoss = 0;
    const gradRatios: [number, string][] = [];
    const detection: [number, string][] = [];     // bound / rms(g) where the gradient does not vanish
    let worstWeight = 0;              // worst |Δp| / bound over all elements and steps
    let worstWeightName = '';
    let undetermined = 0;             // elements whose gradient sign our rounding can flip (|δ| ≥ |g|)
    let elements = 0;
    for (let s = 0; s < STEPS; s++) {
      const lr = schedule.lrAt(s);
      // load the reference state
      for (const [i, p] of trainable.entries()) {
        rt().write(p, at(`step${s}.param.${p.name}`));
        rt().write(optim.expAvg[i]!, at(`step${s}.exp_avg.${p.name}`));
        rt().write(optim.expAvgSq[i]!, at(`step${s}.exp_avg_sq.${p.name}`));
        optim.steps[i] = ref.has(`step${s}.grad.${p.name}`) ? s : 0;
      }
      // forward, loss and backward as Trainer.step records them (stochastic depth off)
      const loss = rt().scope(() => {
        const x = rt().tensor(batches[s]!.images, [2, 3, RES, RES]);
        const y = rt().tensor(batches[s]!.labels, [2, RES, RES], 'i32');
        return segLoss(segfaceForward(params, x, { train: false }), y);
      });
      rt().backward(loss.total);
      const got = [await loss.total.item(), await loss.ce.item(), await loss.dice.item()];
      for (const t of [loss.total, loss.ce, loss.dice, loss.badLabels]) t.release();
      got.forEach((v, k) => {
        const want = refLosses[s]![k]!;
        const bound = ORDER * Math.max(Math.abs(refLosses32[s]![k]! - want), LOSS_ROUNDINGS * U32 * Math.abs(want));
        worstLoss = Math.max(worstLoss, Math.abs(v - want) / bound);
        expect(Math.abs(v - want), `step ${s} loss ${['total', 'ce', 'dice'][k]}: ${v} vs float64 ${want} (bound ${bound.toExponential(2)})`).toBeLessThanOrEqual(bound);
      });
      const grads = new Map<string, Float32Array | null>();
      for (const p of trainable) grads.set(p.name!, p.grad ? (await p.grad.read()) as Float32Array : null);
      const r = optim.step({ lr });
      expect(await optim.checkStep(r)).toBe(true);
      for (const t of [r.norm, r.nonFinite, r.clipScale]) t.release();
      rt().zeroGrad(trainable);

      const next = s + 1 < STEPS ? `step${s + 1}` : 'final';
      const modelRms = Math.sqrt(trainable.reduce((a, p) => {
        const g64 = ref.get(`step${s}.grad.${p.name}`)?.data;
        return a + (g64 ? rms(g64) ** 2 * g64.length : 0);
      }, 0) / trainable.reduce((a, p) => a + p.size, 0));
      for (const [i, p] of trainable.entries()) {
        const name = p.name!;
        const g = grads.get(name)!;
        const refGradKey = `step${s}.grad.${name}`;
        // the final Swin norm SegFace never uses: no gradient on either side, never stepped
        expect(g === null, `${name}: gradient present on our side iff on torch's`).toBe(!ref.has(refGradKey));
        const p0 = at(`step${s}.param.${name}`);
        const [pOurs, mOurs, vOurs] = [await p.read(), await optim.expAvg[i]!.read(), await optim.expAvgSq[i]!.read()];
        const [pRef, mRef, vRef] = [at(`${next}.param.${name}`), at(`${next}.exp_avg.${name}`), at(`${next}.exp_avg_sq.${name}`)];
        if (g === null) {
          expect(Array.from(pOurs), `${name}: untouched`).toEqual(Array.from(p0));
          continue;
        }
        const g64 = at(refGradKey);
        const gradErr = rms(g, g64);
        const gradBound = ORDER * sampleFactor(g.length) * rounding32[name]![s]!;
        const describe = `step ${s} ${name}: RMS(ours − float64) ${gradErr.toExponential(2)}, float32 torch ${rounding32[name]![s]!.toExponential(2)}, ` +
          `bound ${gradBound.toExponential(2)}, rms(g) ${rms(g64).toExponential(2)}`;
        gradRatios.push([gradErr / gradBound, describe]);
        if (rms(g64) > 1e-6 * modelRms) detection.push([gradBound / rms(g64), describe]);
        // Per element: given our gradient g' = g + δ, exact arithmetic would move p by
        // lr·(u(g') − u(g)) away from the reference (u: Adam's direction from the loaded moments);
        // our float32 update then rounds: p·(1 − lr·wd) and the subtraction (≤ 2 u|p|), the moment
        // updates, √, bias corrections, + eps, ÷ and × lr (≤ 10 u of lr·|u|, with m taken as the
        // sum of its terms' magnitudes); the reference was rounded to float32 once (u|p|).
        const mPrev = at(`step${s}.exp_avg.${name}`);
        const vPrev = at(`step${s}.exp_avg_sq.${name}`);
        const step = s + 1;
        for (let k = 0; k < g.length; k++) {
          const exact = adamDirection(mPrev[k]!, vPrev[k]!, g64[k]!, step);
          const ours = adamDirection(mPrev[k]!, vPrev[k]!, g[k]!, step);
          const delta = g[k]! - g64[k]!;
          if (Math.abs(delta) >= Math.abs(g64[k]!)) undetermined++;
          // m's two terms can cancel: its roundings are relative to the terms, so is u's
          const mTerms = BETA1 * Math.abs(mPrev[k]!) + (1 - BETA1) * Math.max(Math.abs(g[k]!), Math.abs(g64[k]!));
          const uTerms = (mTerms / (1 - BETA1 ** step)) / (Math.sqrt(Math.min(ours.v, exact.v) / (1 - BETA2 ** step)) + EPS);
          const pBound = lr * Math.abs(ours.u - exact.u) + U32 * (3 * Math.abs(pRef[k]!) + 10 * lr * uTerms);
          const pErr = Math.abs(pOurs[k]! - pRef[k]!);
          if (pErr / pBound > worstWeight) { worstWeight = pErr / pBound; worstWeightName = `${name}[${k}] (step ${s})`; }
          if (pErr > pBound) expect(pErr, `step ${s} ${name}[${k}]: |Δp| (gradient ${g[k]} vs float64 ${g64[k]})`).toBeLessThanOrEqual(pBound);
          // m = β1·m + (1−β1)·g and v = β2·v + (1−β2)·g²: our gradient's share, the float32
          // rounding of the reference gradient we were given (u|g|), up to 4 roundings relative to
          // the terms (which can cancel), and the reference's own rounding to float32
          const gRef = Math.abs(g64[k]!);
          // Below 2^-126 float32 is subnormal: a rounding errs by up to half its spacing, 2^-150,
          // absolute rather than relative, once per rounding (squared gradients reach 1e-44).
          const mBound = (1 - BETA1) * (Math.abs(delta) + U32 * gRef) + 3 * U32 * (BETA1 * Math.abs(mPrev[k]!) + (1 - BETA1) * Math.abs(g[k]!)) + U32 * Math.abs(mRef[k]!) + 5 * SUBNORMAL_HALF_SPACING;
          const vBound = Math.abs(ours.v - exact.v) + (1 - BETA2) * 2 * U32 * gRef ** 2 + 4 * U32 * (BETA2 * vPrev[k]! + (1 - BETA2) * g[k]! ** 2) + U32 * vRef[k]! + 6 * SUBNORMAL_HALF_SPACING;
          if (Math.abs(mOurs[k]! - mRef[k]!) > mBound) expect(Math.abs(mOurs[k]! - mRef[k]!), `step ${s} ${name}[${k}]: |Δ exp_avg|`).toBeLessThanOrEqual(mBound);
          if (Math.abs(vOurs[k]! - vRef[k]!) > vBound) expect(Math.abs(vOurs[k]! - vRef[k]!), `step ${s} ${name}[${k}]: |Δ exp_avg_sq|`).toBeLessThanOrEqual(vBound);
        }
        elements += g.length;
      }
    }
    gradRatios.sort((a, b) => b[0] - a[0]);
    console.log(gradRatios.slice(0, 12).map(([r, w]) => `${r.toFixed(3)} ${w}`).join('\n'));
    expect(gradRatios.filter(([r]) => r > 1).map(([, w]) => w), 'gradients beyond their rounding bound').toEqual([]);
    detection.sort((a, b) => b[0] - a[0]);
    expect(detection.filter(([r]) => r >= DETECTABLE).map(([, w]) => w), 'bounds too loose to see a wrong gradient').toEqual([]);
    console.log(`tiny training vs float64 torch, teacher-forced, ${STEPS} steps: losses within ${worstLoss.toFixed(3)} of their bounds; ` +
      `gradient RMS error within ${gradRatios[0]![0].toFixed(3)} of its bound (worst ${gradRatios[0]![1]}); ` +
      `the loosest bound is ${detection[0]![0].toExponential(2)} of its gradient's RMS (${detection.length} tensor-steps with a non-vanishing gradient); ` +
      `weights within ${worstWeight.toFixed(3)} of their per-element bounds (worst ${worstWeightName}); ` +
      `${undetermined} of ${elements} element-steps had a gradient at our rounding level (Adam direction set by rounding, bound ≈ 2·lr)`);
    params.release();
    optim.destroy();
  }, 600_000);
});
