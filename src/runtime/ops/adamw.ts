// AdamW exactly as torch.optim.AdamW (default, non-capturable path), with the global gradient norm,
// optional clipping (torch.nn.utils.clip_grad_norm_) and a NaN/Inf check, all on the GPU
// (kernels/adamw.wgsl). One step = one grad_stats_partial dispatch per gradient, one
// grad_stats_finish, one adamw_step per parameter; nothing is read back.
//
// Skipped steps: when any gradient element is NaN/Inf the adamw_step kernels return without
// writing, so weights and moments are untouched before the host knows. The step counter t (which
// sets the bias corrections, computed in float64 on the host as torch does) is host-side and
// advanced optimistically by `step()`; the caller reads the one-element flag (`checkStep`, a 4-byte
// readback) before the next step, and a set flag reverts the counter, so the sequence of applied
// steps is exactly torch's sequence without the bad one (as with GradScaler skipping a step).
// Gradients themselves are never modified (torch's clip_grad_norm_ scales them in place; here the
// scale is applied inside adamw_step).
import type { KernelDecl } from '../kernel.js';
import type { Tensor } from '../tensor.js';
import { assertDtype, groups } from './util.js';

const PARTIAL: KernelDecl = { file: 'adamw.wgsl', entry: 'grad_stats_partial', storage: { stats_rows: 'read_write', grad4: 'read' }, uniform: 'pp' };
const FINISH: KernelDecl = {
  file: 'adamw.wgsl', entry: 'grad_stats_finish',
  storage: { grad_norm: 'read_write', nonfinite: 'read_write', clip_scale: 'read_write', stats_in: 'read' }, uniform: 'fp',
};
const STEP: KernelDecl = {
  file: 'adamw.wgsl', entry: 'adamw_step',
  storage: { param4: 'read_write', grad4: 'read', exp_avg4: 'read_write', exp_avg_sq4: 'read_write', skip_flag: 'read', scale_in: 'read' }, uniform: 'ap',
};
const WG = 64;
// vec4s per invocation. Measured on lavapipe over swin_t's 293 parameter tensors (28 M floats),
// gradStats + AdamW.step: about 340 ms with 8 and 1 (the earlier choice), 175-220 ms with 128 and
// 32; in between (4, 8) the AdamW kernel was slower still. On a GPU both are bandwidth-bound and
// tiny either way.
const STATS_PER = 128;
const STEP_PER = 32;

export interface GradStatsOptions {
  /** Clip to this global L2 norm (torch's max_norm); undefined or <= 0: no clipping. */
  maxNorm?: number;
  /**
   * Loss scale S the gradients carry (mixed precision; default 1): the norm and the clip scale are
   * of the gradients divided by S, and the clip scale (what AdamW multiplies gradients by) includes 1/S.
   */
  gradScale?: number;
  /** Invocations per workgroup and vec4s per invocation of the partial kernel (tests shrink them). */
  workgroupSize?: number;
  vec4sPerThread?: number;
}

export interface GradStats {
  /** [1] f32 ‖g‖₂ over all the gradients. */
  norm: Tensor;
  /** [1] i32: 1 if any gradient element is NaN or ±Inf, else 0. Read this alone. */
  nonFinite: Tensor;
  /** [1] f32 min(1, maxNorm / (norm + 1e-6)), or 1 without clipping; times 1/gradScale. */
  clipScale: Tensor;
}

/** Global norm, non-finite flag and clip scale of `grads` (no tape). The caller owns the result. */
export function gradStats(grads: readonly Tensor[], opts: GradStatsOptions = {}): GradStats {
  if (grads.length === 0) throw new Error('gradStats: no gradients');
  const rt = grads[0]!.rt;
  const wg = opts.workgroupSize ?? WG;
  const per = opts.vec4sPerThread ?? STATS_PER;
  const rowsOf = grads.map((g) => { assertDtype('gradStats', g); return groups(Math.ceil(g.size / 4), wg * per); });
  const rows = rowsOf.reduce((a, b) => a + b, 0);
  const partials = rt.empty([Math.max(1, rows), 2], 'f32', 'gradStats rows');
  let row0 = 0;
  grads.forEach((g, i) => {
    const n = rowsOf[i]!;
    rt.dispatch(PARTIAL, {
      op: 'grad_stats_partial', storage: { stats_rows: { buffer: partials.buffer }, grad4: { buffer: g.buffer } },
      params: { n: g.size, row0, groups: n }, constants: { WG: wg, PER: per }, workgroups: [n],
    });
    row0 += n;
  });
  const norm = rt.empty([1], 'f32', 'gradNorm');
  const nonFinite = rt.empty([1], 'i32', 'gradNonFinite');
  const clipScale = rt.empty([1], 'f32', 'gradClipScale');
  rt.dispatch(FINISH, {
    op: 'grad_stats_finish',
    storage: { grad_norm: { buffer: norm.buffer }, nonfinite: { buffer: nonFinite.buffer }, clip_scale: { buffer: clipScale.buffer }, stats_in: { buffer: partials.buffer } },
    params: { rows, max_norm: opts.maxNorm !== undefined && opts.maxNorm > 0 ? opts.maxNorm : 0, inv_scale: 1 / (opts.gradScale ?? 1) }, constants: { WG: wg }, workgroups: [1],
  });
  partials.release();
  return { norm, nonFinite, clipScale };
}

/** The scalars of step t of torch's AdamW, in float64 (packed as f32 into the uniform). */
export interface AdamWHyper { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; step: number }

/** One AdamW update of `param` in place (moments too), skipped on the GPU when `nonFinite` is set. */
export function adamwUpdate(
  param: Tensor, grad: Tensor, expAvg: Tensor, expAvgSq: Tensor,
  stats: Pick<GradStats, 'nonFinite' | 'clipScale'>, h: AdamWHyper,
): void {
  // sizes, not shapes: the tape may hand a parameter a same-size gradient through a reshape view
  for (const [name, t] of [['gradient', grad], ['exp_avg', expAvg], ['exp_avg_sq', expAvgSq]] as const) {
    if (t.size !== param.size) throw new Error(`adamw: ${name} ${t.describe()} does not match parameter ${param.describe()}`);
    assertDtype('adamw', t);
  }
  assertDtype('adamw', param);
  if (!Number.isInteger(h.step) || h.step < 1) throw new Error(`adamw: step ${h.step} must be an integer >= 1`);
  const bc1 = 1 - h.beta1 ** h.step;
  const bc2 = 1 - h.beta2 ** h.step;
  const n4 = Math.ceil(param.size / 4);
  param.rt.dispatch(STEP, {
    op: 'adamw_step',
    storage: {
      param4: { buffer: param.buffer }, grad4: { buffer: grad.buffer }, exp_avg4: { buffer: expAvg.buffer }, exp_avg_sq4: { buffer: expAvgSq.buffer },
      skip_flag: { buffer: stats.nonFinite.buffer }, scale_in: { buffer: stats.clipScale.buffer },
    },
    params: {
      n: param.size, decay: 1 - h.lr * h.weightDecay, beta1: h.beta1, one_minus_beta1: 1 - h.beta1,
      beta2: h.beta2, one_minus_beta2: 1 - h.beta2, neg_step_size: -(h.lr / bc1), bc2_sqrt: Math.sqrt(bc2), eps: h.eps,
    },
    constants: { WG, PER: STEP_PER }, workgroups: [groups(n4, WG * STEP_PER)],
  });
}

export interface AdamWOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  /** Decoupled weight decay (torch's default 1e-2; SegFace trains with 1e-5). */
  weightDecay?: number;
  /** Global gradient-norm clipping; undefined: none. */
  maxGradNorm?: number;
}

export interface AdamWStepResult extends GradStats {
  /** Per parameter: the step number t used (0 where the parameter had no gradient). */
  steps: number[];
}

export class AdamW {
  readonly expAvg: Tensor[];
  readonly expAvgSq: Tensor[];
  /** Per parameter step count (torch's state['step']): steps applied as far as the host knows. */
  readonly steps: number[];
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  maxGradNorm: number | undefined;
  private lastStepped: number[] = [];

  constructor(readonly params: readonly Tensor[], opts: AdamWOptions) {
    if (params.length === 0) throw new Error('AdamW: no parameters');
    this.lr = opts.lr;
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 1e-2;
    this.maxGradNorm = opts.maxGradNorm;
    const rt = params[0]!.rt;
    this.expAvg = rt.untracked(() => params.map((p) => rt.zeros(p.shape)));
    this.expAvgSq = rt.untracked(() => params.map((p) => rt.zeros(p.shape)));
    this.steps = params.map(() => 0);
  }

  /**
   * One step over the parameters that have a gradient (others are left alone, as in torch).
   * `lr` overrides this step's learning rate (schedulers set `this.lr` or pass it here). Returns
   * the gradient statistics, owned by the caller; read `nonFinite` (or call `checkStep`) before the
   * next step. `gradScale`: the loss scale S the gradients carry (mixed precision); the update
   * uses gradients / S, and clipping sees their unscaled norm.
   */
  step(opts: { lr?: number; gradScale?: number } = {}): AdamWStepResult {
    if (opts.lr !== undefined) this.lr = opts.lr;
    const withGrad = this.params.map((p, i) => (p.grad ? i : -1)).filter((i) => i >= 0);
    if (withGrad.length === 0) throw new Error('AdamW.step: no parameter has a gradient (call backward first)');
    const stats = gradStats(withGrad.map((i) => this.params[i]!.grad!), { maxNorm: this.maxGradNorm, gradScale: opts.gradScale });
    const [beta1, beta2] = this.betas;
    for (const i of withGrad) {
      const p = this.params[i]!;
      this.steps[i]! += 1;
      adamwUpdate(p, p.grad!, this.expAvg[i]!, this.expAvgSq[i]!, stats,
        { lr: this.lr, beta1, beta2, eps: this.eps, weightDecay: this.weightDecay, step: this.steps[i]! });
    }
    this.lastStepped = withGrad;
    return { ...stats, steps: this.params.map((_, i) => (withGrad.includes(i) ? this.steps[i]! : 0)) };
  }

  /** Undoes the step counters of the last `step()` (its update was skipped on the GPU). */
  revertStep(): void {
    for (const i of this.lastStepped) this.steps[i]! -= 1;
    this.lastStepped = [];
  }

  /** Reads the step's non-finite flag alone; reverts the counters if set. True if the step applied. */
  async checkStep(r: Pick<GradStats, 'nonFinite'>): Promise<boolean> {
    const bad = (await r.nonFinite.item()) !== 0;
    if (bad) this.revertStep();
    else this.lastStepped = [];
    return !bad;
  }

  /** Releases the moment buffers. */
  destroy(): void {
    for (const t of [...this.expAvg, ...this.expAvgSq]) t.release();
  }
}
