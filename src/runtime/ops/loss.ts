// Segmentation losses: cross-entropy (mean over pixels) and the official SegFace Dice loss, fused
// in one pass over the logits (kernels/loss.wgsl). SegFace trains on 0.5·CE + 0.5·Dice.
//
//   logits (B, K, ...spatial) f32 or f16 (mixed precision: read as stored, the maths and every sum
//   in f32; d(logits) in the logits' dtype), NCHW; labels (B, ...spatial) i32 in [0, K)
//   CE   = (1/N) Σ_pixels −log softmax(logits)[label]                         N = B·H·W
//   Dice = (1/K) Σ_k [1 − (2 I_k + 1e-5) / (Z_k + Y_k + 1e-5)]
//          I_k = Σ p_k t_k, Z_k = Σ p_k², Y_k = Σ t_k over the whole batch (absent classes count)
//
// Two-stage contract (for data parallelism):
//   1. `segLossPartials(logits, labels)` runs the forward pass and returns this rank's sums:
//      ceSum [1], dicePartials [3, K] (rows I, Z, Y), badLabels [1] i32, and pixels (a number).
//   2. A data-parallel caller all-reduces (sums) ceSum and dicePartials over ranks, and sums
//      `pixels`, BEFORE calling `segLossFinish(logits, labels, {ceSum, dicePartials, pixels})`.
//      Finish computes the loss values and records the backward on `total`; the backward reads the
//      dicePartials and pixels it was given, so each rank's d(logits) is then exactly its share of
//      the gradient of the GLOBAL loss: the gradient all-reduce must SUM (not average) over ranks.
//      ceSum only affects the reported value, never the gradient.
//   Without data parallelism, `segLoss` does both stages.
// Labels outside [0, K) are skipped by the kernels (never read out of bounds) and counted in
// badLabels, which `readSegLoss` fetches in the same readback as the loss values and reports.
import type { AdapterFacts } from '../adapter.js';
import type { KernelDecl } from '../kernel.js';
import type { Runtime } from '../runtime.js';
import { shapeStr, type Tensor } from '../tensor.js';
import { sizeBucket } from '../tuner.js';
import { assertDtype, assertRank, assertSameRuntime, builds, floatDtype, groups, type FloatDType } from './util.js';

const FWD = builds({ file: 'loss.wgsl', entry: 'seg_loss_fwd', storage: { partials: 'read_write', logits: 'read', labels: 'read' }, uniform: 'fp' });
const REDUCE: KernelDecl = {
  file: 'loss.wgsl', entry: 'seg_loss_reduce',
  storage: { ce_sum: 'read_write', bad_labels: 'read_write', dice_sums: 'read_write', partials_in: 'read' }, uniform: 'rp',
};
const FINISH: KernelDecl = {
  file: 'loss.wgsl', entry: 'seg_loss_finish',
  storage: { loss_total: 'read_write', loss_ce: 'read_write', loss_dice: 'read_write', ce_in: 'read', dice_in: 'read' }, uniform: 'np',
};
const BWD = builds({
  file: 'loss.wgsl', entry: 'seg_loss_bwd',
  storage: { dlogits: 'read_write', logits: 'read', labels: 'read', dice_in: 'read', d_total: 'read' }, uniform: 'bp',
});

/** Capacity of the kernels' per-class private arrays (MAX_K in kernels/loss.wgsl). */
export const MAX_CLASSES = 32;
const REDUCE_WG = 64;

export interface LossWeights { ceWeight: number; diceWeight: number }

export interface LossKernelOptions {
  /** Invocations per workgroup (default: the runtime's launch, 64 untuned); tests shrink it to get many workgroups. */
  workgroupSize?: number;
  /** Pixels per invocation (default: the runtime's launch, 16 untuned). */
  pixelsPerThread?: number;
}

/** One rank's forward sums; see the two-stage contract at the top of the file. */
export interface SegLossPartials {
  /** [1] Σ over valid pixels of −log softmax(logits)[label]. */
  ceSum: Tensor;
  /** [3, K] rows I_k = Σ p_k t_k, Z_k = Σ p_k², Y_k = Σ t_k (Y exact integer counts up to 2^24). */
  dicePartials: Tensor;
  /** [1] i32: pixels whose label is outside [0, K). */
  badLabels: Tensor;
  /** B·H·W of this rank's batch. */
  pixels: number;
  classes: number;
}

export interface SegLossValues { total: Tensor; ce: Tensor; dice: Tensor }
export interface SegLossResult extends SegLossValues { badLabels: Tensor; classes: number }

interface Dims { batch: number; classes: number; hw: number; pixels: number; dtype: FloatDType }

function dims(op: string, logits: Tensor, labels: Tensor): Dims {
  assertSameRuntime(op, logits, labels);
  const dtype = floatDtype(op, logits);
  assertDtype(op, labels, 'i32');
  assertRank(op, logits, 2);
  const [batch, classes] = logits.shape as [number, number];
  const spatial = logits.shape.slice(2);
  const want = [batch, ...spatial];
  if (labels.rank !== want.length || labels.shape.some((d, i) => d !== want[i])) {
    throw new Error(`${op}: labels ${shapeStr(labels.shape)} must be ${shapeStr(want)} for logits ${shapeStr(logits.shape)} (B, K, ...spatial)`);
  }
  if (classes < 1 || classes > MAX_CLASSES) throw new Error(`${op}: ${classes} classes; the kernels support 1..${MAX_CLASSES}`);
  const hw = spatial.reduce((a, b) => a * b, 1);
  return { batch, classes, hw, pixels: batch * hw, dtype };
}

// ---- launch shapes (tuner family 'loss') ------------------------------------------------------------
// seg_loss_fwd and seg_loss_bwd run WG invocations of PER pixels each per workgroup (override
// constants): "W<WG>:P<PER>". The default W64:P16 suits lavapipe (few, fat workgroups); a GPU
// wants more workgroups (a 64-px batch of 4 is 16384 pixels: 16 workgroups at W64:P16), so it
// also gets fewer pixels per invocation and wider workgroups. The forward's partial sums follow
// the workgroups, so a launch changes the summation order only (tests/loss.test.ts runs them all).
interface Tiling { wg: number; per: number }
const LOSS_DEFAULT = 'W64:P16';
const FILES = ['loss.wgsl'] as const;

/** The launch candidates of this adapter, the default first. */
export function lossCandidates(f: AdapterFacts): string[] {
  return [LOSS_DEFAULT, 'W64:P4', 'W64:P64', 'W128:P8', ...(f.software ? [] : ['W256:P1', 'W256:P4', 'W64:P1'])];
}

/** Parses "W<WG>:P<PER>"; throws a one-line reason when it cannot run here. */
export function lossTiling(name: string, f: AdapterFacts): Tiling {
  const m = /^W(\d+):P(\d+)$/.exec(name);
  if (!m) throw new Error(`loss launch: bad name ${JSON.stringify(name)} (want W<workgroup size>:P<pixels per invocation>)`);
  const wg = Number(m[1]);
  const per = Number(m[2]);
  if (wg < 1 || per < 1 || wg > f.limits.maxComputeInvocationsPerWorkgroup) throw new Error(`loss launch: ${name} cannot run on this adapter (WG ≤ ${f.limits.maxComputeInvocationsPerWorkgroup})`);
  return { wg, per };
}

/** The forced launch (options, tests), else the runtime's choice for the unit (a pin, the tuned winner, the default). */
function tiling(rt: Runtime, kind: 'fwd' | 'bwd', d: Dims, opts: LossKernelOptions): Tiling {
  if (opts.workgroupSize !== undefined || opts.pixelsPerThread !== undefined) return { wg: opts.workgroupSize ?? 64, per: opts.pixelsPerThread ?? 16 };
  const f = rt.device.facts;
  const candidates = lossCandidates(f);
  const name = rt.tuner.choose({
    family: 'loss', shapeClass: `${kind} ${d.dtype} K${d.classes} px${sizeBucket(d.pixels)}`, shape: `${d.dtype} classes=${d.classes} pixels=${d.pixels}`, candidates,
    prepare: () => {
      // scratch logits (B = 1), labels 0, the smallest workgroup's partial rows, Dice sums of 1
      const [logits, dlogits] = [0, 1].map(() => rt.untracked(() => rt.full([d.classes * d.pixels], 0.5, d.dtype)));
      const labels = rt.untracked(() => rt.zeros([d.pixels], 'i32'));
      const rowsMax = Math.max(...candidates.map((c) => { const t = lossTiling(c, f); return groups(d.pixels, t.wg * t.per); }));
      const partials = rt.untracked(() => rt.empty([rowsMax * (3 * d.classes + 2)], 'f32', 'seg_loss tuning'));
      const [diceIn, dTotal] = [3 * d.classes, 1].map((n) => rt.untracked(() => rt.full([n], 1)));
      const one: Dims = { batch: 1, classes: d.classes, hw: d.pixels, pixels: d.pixels, dtype: d.dtype };
      return {
        run: (c: string) => (kind === 'fwd'
          ? dispatchFwd(rt, one, lossTiling(c, f), partials!, logits!, labels)
          : dispatchBwd(rt, one, lossTiling(c, f), dlogits!, logits!, labels, diceIn!, dTotal!, d.pixels, { ceWeight: 0.5, diceWeight: 0.5 })),
        dispose: () => { for (const t of [logits, dlogits, labels, partials, diceIn, dTotal]) t!.release(); },
      };
    },
  }, FILES);
  return lossTiling(name, f);
}

/** seg_loss_fwd: one partial row per workgroup; returns the workgroup count. */
function dispatchFwd(rt: Runtime, d: Dims, t: Tiling, partials: Tensor, logits: Tensor, labels: Tensor): number {
  const wgs = Math.max(1, groups(d.pixels, t.wg * t.per));
  rt.dispatch(FWD[d.dtype], {
    op: 'seg_loss_fwd', storage: { partials: partials.binding, logits: logits.binding, labels: labels.binding },
    params: { classes: d.classes, hw: d.hw, pixels: d.pixels, groups: wgs }, constants: { WG: t.wg, PER: t.per }, workgroups: [wgs],
  });
  return wgs;
}

/** seg_loss_bwd into dlogits. */
function dispatchBwd(rt: Runtime, d: Dims, t: Tiling, dlogits: Tensor, logits: Tensor, labels: Tensor, diceIn: Tensor, dTotal: Tensor, count: number, weights: LossWeights): void {
  const wgs = Math.max(1, groups(d.pixels, t.wg * t.per));
  rt.dispatch(BWD[d.dtype], {
    op: 'seg_loss_bwd',
    storage: {
      dlogits: dlogits.binding, logits: logits.binding, labels: labels.binding,
      dice_in: diceIn.binding, d_total: dTotal.binding,
    },
    params: { classes: d.classes, hw: d.hw, pixels: d.pixels, groups: wgs, count, w_ce: weights.ceWeight, w_dice: weights.diceWeight },
    constants: { WG: t.wg, PER: t.per }, workgroups: [wgs],
  });
}

/** Stage 1: this rank's sums (no tape). The caller owns the returned tensors. */
export function segLossPartials(logits: Tensor, labels: Tensor, opts: LossKernelOptions = {}): SegLossPartials {
  const op = 'segLossPartials';
  const d = dims(op, logits, labels);
  const rt = logits.rt;
  const t = tiling(rt, 'fwd', d, opts);
  const nq = 3 * d.classes + 2;
  const partials = rt.empty([Math.max(1, groups(d.pixels, t.wg * t.per)), nq], 'f32', 'seg_loss partials');
  const wgs = dispatchFwd(rt, d, t, partials, logits, labels);
  const ceSum = rt.empty([1], 'f32', 'seg_loss ceSum');
  const badLabels = rt.empty([1], 'i32', 'seg_loss badLabels');
  const dicePartials = rt.empty([3, d.classes], 'f32', 'seg_loss dicePartials');
  rt.dispatch(REDUCE, {
    op: 'seg_loss_reduce',
    storage: { ce_sum: ceSum.binding, bad_labels: badLabels.binding, dice_sums: dicePartials.binding, partials_in: partials.binding },
    params: { classes: d.classes, groups: wgs }, constants: { WG: REDUCE_WG }, workgroups: [nq],
  });
  partials.release();
  return { ceSum, dicePartials, badLabels, pixels: d.pixels, classes: d.classes };
}

/**
 * Stage 2: loss values from (possibly all-reduced) sums; records d(logits) on `total`'s tape node.
 * `pixels` is the pixel count the sums cover (summed over ranks under data parallelism).
 */
export function segLossFinish(
  logits: Tensor, labels: Tensor, sums: Pick<SegLossPartials, 'ceSum' | 'dicePartials' | 'pixels'>,
  weights: LossWeights, opts: LossKernelOptions = {},
): SegLossValues {
  const op = 'segLossFinish';
  const d = dims(op, logits, labels);
  const rt = logits.rt;
  if (sums.dicePartials.size !== 3 * d.classes) throw new Error(`${op}: dicePartials ${sums.dicePartials.describe()} must be [3, ${d.classes}]`);
  if (sums.ceSum.size !== 1) throw new Error(`${op}: ceSum ${sums.ceSum.describe()} must be [1]`);
  if (!(sums.pixels > 0)) throw new Error(`${op}: pixel count ${sums.pixels} must be positive`);
  const total = rt.empty([1], 'f32', 'seg_loss total');
  const ce = rt.empty([1], 'f32', 'seg_loss ce');
  const dice = rt.empty([1], 'f32', 'seg_loss dice');
  rt.dispatch(FINISH, {
    op: 'seg_loss_finish',
    storage: {
      loss_total: total.binding, loss_ce: ce.binding, loss_dice: dice.binding,
      ce_in: sums.ceSum.binding, dice_in: sums.dicePartials.binding,
    },
    params: { classes: d.classes, count: sums.pixels, w_ce: weights.ceWeight, w_dice: weights.diceWeight }, workgroups: [1],
  });
  const dicePartials = sums.dicePartials;
  rt.tape.record('segLoss', [logits], total, [logits, labels, dicePartials], (dTotal) => [
    segLossBackward(logits, labels, dicePartials, dTotal, sums.pixels, weights, opts),
  ]);
  return { total, ce, dice };
}

/** d(logits) of (w_ce·CE + w_dice·Dice)·dTotal given the Dice sums (not recorded on the tape). */
export function segLossBackward(
  logits: Tensor, labels: Tensor, dicePartials: Tensor, dTotal: Tensor, pixels: number,
  weights: LossWeights, opts: LossKernelOptions = {},
): Tensor {
  const op = 'segLossBackward';
  const d = dims(op, logits, labels);
  if (dTotal.size !== 1) throw new Error(`${op}: d(total) ${dTotal.describe()} must have one element`);
  const rt = logits.rt;
  const dlogits = rt.empty(logits.shape, d.dtype, 'seg_loss dlogits');
  dispatchBwd(rt, d, tiling(rt, 'bwd', d, opts), dlogits, logits, labels, dicePartials, dTotal, pixels, weights);
  return dlogits;
}

/** w_ce·CE + w_dice·Dice on one device: both stages. The tape node is on `total`. */
export function segLoss(logits: Tensor, labels: Tensor, weights: LossWeights = { ceWeight: 0.5, diceWeight: 0.5 }, opts: LossKernelOptions = {}): SegLossResult {
  const partials = segLossPartials(logits, labels, opts);
  const values = segLossFinish(logits, labels, partials, weights, opts);
  partials.ceSum.release();
  partials.dicePartials.release();   // the tape retains it for backward
  return { ...values, badLabels: partials.badLabels, classes: partials.classes };
}

/** Cross-entropy alone (nn.CrossEntropyLoss, mean): the same kernels with weights 1/0. */
export const crossEntropy = (logits: Tensor, labels: Tensor, opts: LossKernelOptions = {}): SegLossResult =>
  segLoss(logits, labels, { ceWeight: 1, diceWeight: 0 }, opts);

/** The official Dice loss alone: the same kernels with weights 0/1. */
export const diceLoss = (logits: Tensor, labels: Tensor, opts: LossKernelOptions = {}): SegLossResult =>
  segLoss(logits, labels, { ceWeight: 0, diceWeight: 1 }, opts);

/** Throws `labels: N pixels outside [0, K)` when N > 0. */
export function checkLabels(badLabels: number, classes: number, context = 'segLoss'): void {
  if (badLabels > 0) throw new Error(`${context}: labels: ${badLabels} pixels outside [0, ${classes})`);
}

export interface SegLossNumbers { total: number; ce: number; dice: number; badLabels: number }

/**
 * Reads total, ce, dice and the bad-label count with ONE readback (four 4-byte copies into one
 * buffer), then throws if any label was out of range unless `check` is false.
 */
export async function readSegLoss(r: SegLossResult, check = true): Promise<SegLossNumbers> {
  const rt = r.total.rt;
  const staging = rt.empty([4], 'f32', 'seg_loss readback');
  [r.total, r.ce, r.dice, r.badLabels].forEach((t, i) => rt.batch.copy(t.buffer, t.byteOffset, staging.buffer, 4 * i, 4));
  const bytes = await rt.batch.read(staging.buffer, 0, 16);
  staging.release();
  const f = new Float32Array(bytes);
  const out = { total: f[0]!, ce: f[1]!, dice: f[2]!, badLabels: new Int32Array(bytes)[3]! };
  if (check) checkLabels(out.badLabels, r.classes);
  return out;
}
