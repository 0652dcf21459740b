// AdamW exactly as torch.optim.AdamW (default, non-capturable path), with the global gradient norm,
// optional clipping (torch.nn.utils.clip_grad_norm_) and a NaN/Inf check, all on the GPU
// (kernels/adamw.wgsl), over a flat group (runtime/flat.ts): parameters, gradients and both moments
// are slots of four flat buffers, so one step is three dispatches whatever the number of parameter
// tensors: grad_stats_partial (one row per chunk of the gradients), grad_stats_finish, adamw_step
// (every chunk of every parameter, and the group's f16 copy of the parameters when one is kept).
// Nothing is read back.
//
// The parameters given are moved into a new flat group unless they already form one, in order
// (FlatGroup.adopt; they keep their identity). Backward then leaves their gradients in the group's
// gradient buffer (autograd.ts); a `.grad` set from elsewhere is copied into its slot at the step.
//
// Skipped steps: when any gradient element is NaN/Inf the adamw_step kernel returns without
// writing, so weights and moments are untouched before the host knows. The step counter t (which
// sets the bias corrections, computed in float64 on the host as torch does) is host-side and
// advanced optimistically by `step()`; the caller reads the one-element flag (`checkStep`, a 4-byte
// readback) before the next step, and a set flag reverts the counter, so the sequence of applied
// steps is exactly torch's sequence without the bad one (as with GradScaler skipping a step).
// Gradients themselves are never modified (torch's clip_grad_norm_ scales them in place; here the
// scale is applied inside adamw_step).
import { FlatGroup, segmentTable, type FlatBuffer, type SegmentRun } from '../flat.js';
import type { KernelDecl } from '../kernel.js';
import type { Runtime } from '../runtime.js';
import type { Tensor } from '../tensor.js';
import { fill } from './elementwise.js';
import { assertDtype } from './util.js';

const PARTIAL: KernelDecl = { file: 'adamw.wgsl', entry: 'grad_stats_partial', storage: { stats_rows: 'read_write', grad4: 'read', table: 'read' }, uniform: 'pp' };
const FINISH: KernelDecl = {
  file: 'adamw.wgsl', entry: 'grad_stats_finish',
  storage: { grad_norm: 'read_write', nonfinite: 'read_write', clip_scale: 'read_write', stats_in: 'read' }, uniform: 'fp',
};
const STEP_STORAGE = { param4: 'read_write', grad4: 'read', table: 'read', exp_avg4: 'read_write', exp_avg_sq4: 'read_write', skip_flag: 'read', scale_in: 'read' } as const;
const STEP: KernelDecl = { file: 'adamw.wgsl', entry: 'adamw_step', storage: STEP_STORAGE, uniform: 'ap' };
const STEP_F16_COPY: KernelDecl = { file: 'adamw.wgsl', entry: 'adamw_step', storage: { ...STEP_STORAGE, shadow4: 'read_write' }, uniform: 'ap', f16: true };
const WG = 64;
// vec4s per invocation: a chunk (one workgroup) is WG·PER vec4s, or a tensor's tail. Measured on
// lavapipe over swin_t's 293 parameter tensors (28 M floats), gradStats + AdamW.step: about 340 ms
// with 8 and 1, 175-220 ms with 128 and 32; in between (4, 8) the AdamW kernel was slower still.
// On a GPU both are bandwidth-bound and tiny either way.
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

/**
 * Global norm, non-finite flag and clip scale of the gradients in `grads` (a flat group's gradient
 * buffer) over the chunks of `table` (segmentTable with WG·PER vec4s per chunk): one dispatch per
 * segment, then one to finish.
 */
function flatGradStats(rt: Runtime, grads: FlatBuffer, table: Tensor, runs: readonly SegmentRun[], opts: GradStatsOptions): GradStats {
  const wg = opts.workgroupSize ?? WG;
  const per = opts.vec4sPerThread ?? STATS_PER;
  const chunks = runs.reduce((n, r) => n + r.chunks, 0);
  const partials = rt.empty([Math.max(1, chunks), 2], 'f32', 'gradStats rows');
  for (const run of runs) {
    rt.dispatch(PARTIAL, {
      op: 'grad_stats_partial', storage: { stats_rows: partials.binding, grad4: grads.segmentBinding(run.segment), table: table.binding },
      params: { chunks: run.chunks, first: run.first }, constants: { WG: wg, PER: per }, workgroups: [run.chunks],
    });
  }
  const norm = rt.empty([1], 'f32', 'gradNorm');
  const nonFinite = rt.empty([1], 'i32', 'gradNonFinite');
  const clipScale = rt.empty([1], 'f32', 'gradClipScale');
  rt.dispatch(FINISH, {
    op: 'grad_stats_finish',
    storage: { grad_norm: norm.binding, nonfinite: nonFinite.binding, clip_scale: clipScale.binding, stats_in: partials.binding },
    params: { rows: chunks, max_norm: opts.maxNorm !== undefined && opts.maxNorm > 0 ? opts.maxNorm : 0, inv_scale: 1 / (opts.gradScale ?? 1) }, constants: { WG: wg }, workgroups: [1],
  });
  partials.release();
  return { norm, nonFinite, clipScale };
}

/**
 * Global norm, non-finite flag and clip scale of any gradients (no tape; the caller owns the
 * result). Gradients that are slots of one flat group's gradient buffer are read in place; others
 * are first gathered into a flat buffer of their own (one copy each).
 */
export function gradStats(grads: readonly Tensor[], opts: GradStatsOptions = {}): GradStats {
  if (grads.length === 0) throw new Error('gradStats: no gradients');
  const rt = grads[0]!.rt;
  for (const g of grads) assertDtype('gradStats', g);
  const chunk4 = (opts.workgroupSize ?? WG) * (opts.vec4sPerThread ?? STATS_PER);
  const group0 = grads[0]!.flat?.group;
  const inPlace = group0 !== undefined && grads.every((g) => g.flat?.role === 'grad' && g.flat.group === group0);
  const loose = inPlace ? undefined : rt.untracked(() => grads.map((g) => rt.copy(g)));
  const group = inPlace ? group0 : FlatGroup.adopt(rt, loose!, 'gradStats');
  const gradBuffer = inPlace ? group.gradBuffer() : group.params;
  const t = segmentTable(group, inPlace ? grads.map((g) => g.flat!.index) : grads.map((_, i) => i), chunk4);
  const table = rt.tensor(t.rows, [t.rows.length], 'i32');
  const stats = flatGradStats(rt, gradBuffer, table, t.runs, opts);
  table.release();
  if (loose) { for (const t of loose) t.release(); group.release(); }
  return stats;
}

/** The scalars of step t of torch's AdamW, in float64, rounded once to f32 in the table or uniform. */
export interface AdamWHyper { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number }

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

/** The chunk tables of one set of stepped parameters (rebuilt when the set or their step counts' grouping changes). */
interface Tables { key: string; stats: Tensor; statsRuns: SegmentRun[]; step: Tensor; stepRuns: SegmentRun[]; hyper0: number }

export class AdamW {
  /** The flat group holding the parameters, their gradients and the moments. */
  readonly group: FlatGroup;
  /** Per parameter: views of the flat moment buffers (checkpoints read and write them). */
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
  private readonly moments: [FlatBuffer, FlatBuffer];
  private tables: Tables | null = null;
  private readonly ownsGroup: boolean;

  constructor(readonly params: readonly Tensor[], opts: AdamWOptions) {
    if (params.length === 0) throw new Error('AdamW: no parameters');
    for (const p of params) assertDtype('AdamW', p);
    this.lr = opts.lr;
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 1e-2;
    this.maxGradNorm = opts.maxGradNorm;
    const rt = params[0]!.rt;
    const g0 = params[0]!.flat?.group;
    const formsGroup = g0 !== undefined && g0.members.length === params.length && params.every((p, i) => p.flat?.role === 'param' && p.flat.group === g0 && p.flat.index === i);
    this.ownsGroup = !formsGroup;
    this.group = formsGroup ? g0 : FlatGroup.adopt(rt, params, 'AdamW');
    this.moments = [this.group.alloc('f32', 'AdamW exp_avg'), this.group.alloc('f32', 'AdamW exp_avg_sq')];
    rt.untracked(() => {
      for (const m of this.moments) {
        const whole = rt.view(m.storage, [this.group.layout.total], 'f32', 0, 4 * this.group.layout.total);
        fill(whole, 0);
        whole.release();
      }
    });
    this.expAvg = rt.untracked(() => params.map((p, i) => this.moments[0].view(i, p.shape)));
    this.expAvgSq = rt.untracked(() => params.map((p, i) => this.moments[1].view(i, p.shape)));
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
    this.gatherGrads(withGrad);
    for (const i of withGrad) this.steps[i]! += 1;
    const distinct = [...new Set(withGrad.map((i) => this.steps[i]!))];
    const t = this.tablesFor(withGrad, distinct);
    const rt = this.group.rt;
    const stats = flatGradStats(rt, this.group.gradBuffer(), t.stats, t.statsRuns, { maxNorm: this.maxGradNorm, gradScale: opts.gradScale });
    this.dispatchStep(t, distinct, stats);
    this.lastStepped = withGrad;
    return { ...stats, steps: this.params.map((_, i) => (withGrad.includes(i) ? this.steps[i]! : 0)) };
  }

  /** Copies into their slots the gradients that backward did not leave there (e.g. set by hand). */
  private gatherGrads(withGrad: readonly number[]): void {
    const rt = this.group.rt;
    const grads = this.group.gradBuffer();
    const L = this.group.layout;
    for (const i of withGrad) {
      const g = this.params[i]!.grad!;
      if (g.flat?.role === 'grad' && g.flat.group === this.group && g.flat.index === i) continue;
      if (g.size !== L.sizes[i]) throw new Error(`adamw: gradient ${g.describe()} does not match parameter ${this.params[i]!.describe()}`);
      assertDtype('adamw', g);
      rt.batch.copy(g.buffer, g.byteOffset, grads.buffer, 4 * L.offsets[i]!, g.bytes);
    }
  }

  /** The chunk tables for this set of stepped parameters, uploaded when it changes. */
  private tablesFor(withGrad: readonly number[], distinct: readonly number[]): Tables {
    const rowOf = (i: number): number => distinct.indexOf(this.steps[i]!);
    const key = withGrad.map((i) => `${i}:${rowOf(i)}`).join();
    if (this.tables?.key === key) return this.tables;
    this.releaseTables();
    const rt = this.group.rt;
    const stats = segmentTable(this.group, withGrad, WG * STATS_PER);
    const rows = segmentTable(this.group, withGrad, WG * STEP_PER, rowOf);
    // the step table: chunk rows, then room for one (−step_size, sqrt(bc2)) row per distinct step count
    const step = new Uint32Array(rows.rows.length + 2 * distinct.length);
    step.set(rows.rows);
    this.tables = rt.untracked(() => ({
      key, stats: rt.tensor(stats.rows, [stats.rows.length], 'i32'), statsRuns: stats.runs,
      step: rt.tensor(step, [step.length], 'i32'), stepRuns: rows.runs, hyper0: rows.rows.length,
    }));
    return this.tables;
  }

  private dispatchStep(t: Tables, distinct: readonly number[], stats: GradStats): void {
    const rt = this.group.rt;
    const [beta1, beta2] = this.betas;
    const h = new Float32Array(2 * distinct.length);
    distinct.forEach((step, r) => {
      h[2 * r] = -(this.lr / (1 - beta1 ** step));
      h[2 * r + 1] = Math.sqrt(1 - beta2 ** step);
    });
    rt.batch.upload(t.step.buffer, t.step.byteOffset + 4 * t.hyper0, h);
    const shadow = this.group.shadowIfKept('f16');
    const grads = this.group.gradBuffer();
    for (const run of t.stepRuns) {
      const s = run.segment;
      const storage = {
        param4: this.group.params.segmentBinding(s), grad4: grads.segmentBinding(s), table: t.step.binding,
        exp_avg4: this.moments[0].segmentBinding(s), exp_avg_sq4: this.moments[1].segmentBinding(s),
        skip_flag: stats.nonFinite.binding, scale_in: stats.clipScale.binding, ...(shadow ? { shadow4: shadow.segmentBinding(s) } : {}),
      };
      rt.dispatch(shadow ? STEP_F16_COPY : STEP, {
        op: 'adamw_step', storage,
        params: {
          chunks: run.chunks, first: run.first, hyper0: t.hyper0, decay: 1 - this.lr * this.weightDecay, beta1, one_minus_beta1: 1 - beta1,
          beta2, one_minus_beta2: 1 - beta2, eps: this.eps,
        },
        constants: { WG, PER: STEP_PER }, workgroups: [run.chunks],
      });
    }
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

  private releaseTables(): void {
    if (this.tables) { this.tables.stats.release(); this.tables.step.release(); }
    this.tables = null;
  }

  /**
   * Releases the moment buffers and the tables, and, if this optimizer made the flat group, the
   * group's gradient buffer and dtype copies (the parameters keep their flat buffer).
   */
  destroy(): void {
    for (const t of [...this.expAvg, ...this.expAvgSq]) t.release();
    for (const m of this.moments) m.release();
    this.releaseTables();
    if (this.ownsGroup) this.group.release();
  }
}
