// The training loop: one step = forward (train mode: stochastic depth on) + 0.5·CE + 0.5·Dice +
// backward + AdamW, recorded and submitted as a few large batches; the host reads back only the
// loss values and the optimizer's non-finite flag at the end of the step. The next batch is
// prepared on the host while the GPU works on the current one (lavapipe runs on its own threads).
//
// Data parallel (a GradSync given): each rank steps on its shard of the global batch. After the
// forward, the loss's per-rank sums (CE sum, Dice I/Z/Y per class, pixel and bad-label counts, a
// stop request) are summed over ranks; the loss and its backward then use the global sums, so the
// ranks' gradients add up to the single-device gradient of the whole batch. Backward hands
// finished gradients to GradSync (bucketed all-reduce), and every rank applies the same AdamW step
// to the same summed gradients (norm and non-finite check included).
import type { ParamStore } from '../model/params.js';
import { segfaceClasses } from '../model/classes.js';
import { segfaceForward } from '../model/segface.js';
import type { AdamW } from '../runtime/ops/adamw.js';
import { checkLabels, segLoss, segLossFinish, segLossPartials, type SegLossResult } from '../runtime/ops/loss.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Tensor } from '../runtime/tensor.js';
import type { Batch, Dataset } from './data/dataset.js';
import type { GradSync } from './dist/grad_sync.js';
import { makeBatch } from './data/dataset.js';
import { LossScaler } from './loss_scale.js';
import type { LrSchedule } from './schedule.js';

export interface StepResult {
  total: number;
  ce: number;
  dice: number;
  /** False when the gradients were not finite: the weights were left untouched. */
  applied: boolean;
  gradNorm: number;
  /** Some rank asked to stop (Trainer.stopRequested) before this step's exchange: all ranks stop after it. */
  stop: boolean;
  /** f16 training: the loss scale this step's backward was seeded with. */
  scale?: number;
}

/** Stochastic-depth seed of a step, the same on every rank: each rank's samples draw their masks
 *  by their index in the global batch (`firstSample`), so N ranks drop what one device would. */
export function dropSeed(seed: number, globalStep: number): number {
  return (seed * 7919 + globalStep) >>> 0;
}

export class Trainer {
  constructor(
    readonly rt: Runtime,
    readonly params: ParamStore,
    readonly optim: AdamW,
    readonly schedule: LrSchedule,
    readonly seed: number,
    /** Stochastic depth in training steps (the official recipe); off for step-by-step reference checks. */
    readonly stochasticDepth = true,
    /** Data parallelism: gradient sync over ranks (undefined: one device). */
    readonly dist?: GradSync,
  ) {}

  /** Set (e.g. on SIGINT) to stop every rank after the next step; see StepResult.stop. */
  stopRequested = false;

  /**
   * Activation storage of training steps. f16: mixed precision (src/model/segface.ts casts), f32
   * master weights and AdamW, and dynamic loss scaling through the non-finite skip (`scaler`).
   */
  precision: 'f32' | 'f16' = 'f32';
  readonly scaler = new LossScaler();

  /** Uploads a host batch as (images, labels) tensors owned by the caller. */
  upload(batch: Batch, res: number): { images: ReturnType<Runtime['tensor']>; labels: ReturnType<Runtime['tensor']> } {
    const rt = this.rt;
    return {
      images: rt.tensor(batch.images, [batch.size, 3, res, res]),
      labels: rt.tensor(batch.labels, [batch.size, res, res], 'i32'),
    };
  }

  /**
   * Records one training step and returns a promise of its numbers. Everything up to the first
   * readback happens synchronously, so the caller can prepare the next batch before awaiting.
   * `firstSample`: with data parallelism, the index of this rank's first sample in the global batch.
   */
  step(batch: Batch, res: number, epoch: number, globalStep: number, firstSample = 0): Promise<StepResult> {
    if (this.dist) return this.stepDataParallel(this.dist, batch, res, epoch, globalStep, firstSample);
    const rt = this.rt;
    const loss = rt.scope(() => {
      const { images, labels } = this.upload(batch, res);
      return segLoss(this.forward(images, batch, globalStep, firstSample), labels);
    });
    const { scale, seed } = this.lossSeed();
    rt.backward(loss.total, seed);
    seed?.release();
    return this.finishStep(loss, epoch, globalStep, this.stopRequested, scale);
  }

  /**
   * The training forward to logits. In f16 the logits stay f16: the loss reads them as stored and
   * writes f16 d(logits), scaled by the loss scale.
   */
  private forward(images: Tensor, batch: Batch, globalStep: number, firstSample: number): Tensor {
    return segfaceForward(this.params, images, {
      train: this.stochasticDepth, seed: dropSeed(this.seed, globalStep), firstSample,
      landmarks: this.params.cfg.dataset === 'lapa' ? batch.landmarks : undefined, precision: this.precision, f16Logits: true,
    });
  }

  /** f16: the loss scale S and the seed d(loss) = S this step's backward starts from (owned by the caller); f32: none. */
  private lossSeed(): { scale?: number; seed?: Tensor } {
    if (this.precision !== 'f16') return {};
    return { scale: this.scaler.scale, seed: this.rt.full([1], this.scaler.scale) };
  }

  private async stepDataParallel(dist: GradSync, batch: Batch, res: number, epoch: number, globalStep: number, firstSample: number): Promise<StepResult> {
    const rt = this.rt;
    const { comm } = dist;
    const fwd = rt.scope(() => {
      const { images, labels } = this.upload(batch, res);
      const logits = this.forward(images, batch, globalStep, firstSample);
      return { logits, labels, partials: segLossPartials(logits, labels) };
    });
    const { logits, labels, partials } = fwd;
    const K = partials.classes;
    // One readback of this rank's sums: ceSum, I (K), Z (K), Y (K), badLabels
    const read = rt.readMany([partials.ceSum, partials.dicePartials, partials.badLabels]);
    for (const t of [partials.ceSum, partials.dicePartials, partials.badLabels]) t.release();
    const [ceSum, dice, bad] = await read;
    const mine = new Float64Array(3 * K + 4);
    mine[0] = ceSum![0]!;
    mine.set(dice!.subarray(0, 3 * K), 1);
    mine[3 * K + 1] = bad![0]!;
    mine[3 * K + 2] = partials.pixels;
    mine[3 * K + 3] = this.stopRequested ? 1 : 0;
    const sum = await comm.sumOrdered(mine);
    const stop = sum[3 * K + 3]! > 0;
    try {
      checkLabels(sum[3 * K + 1]!, K, 'train step (all ranks)');
    } catch (e) {
      logits.release(); labels.release();
      throw e;
    }
    const loss = rt.scope(() => {
      const ceSum = rt.tensor([sum[0]!], [1]);
      const dicePartials = rt.tensor(sum.subarray(1, 1 + 3 * K), [3, K]);
      const values = segLossFinish(logits, labels, { ceSum, dicePartials, pixels: sum[3 * K + 2]! }, { ceWeight: 0.5, diceWeight: 0.5 });
      return { ...values, badLabels: rt.zeros([1], 'i32'), classes: K };
    });
    logits.release();
    labels.release();
    // f16: every rank seeds with the same scale, so the summed gradients are S times the global
    // gradient; an overflow on any rank makes the sum non-finite on all, and all skip the step.
    const { scale, seed } = this.lossSeed();
    await dist.backward(loss.total, seed);
    seed?.release();
    return this.finishStep(loss, epoch, globalStep, stop, scale);
  }

  /** Optimizer step, then one readback of the step's numbers. */
  private finishStep(loss: SegLossResult, epoch: number, globalStep: number, stop: boolean, scale?: number): Promise<StepResult> {
    const rt = this.rt;
    const stats = this.optim.step({ lr: this.schedule.lrAt(epoch, globalStep), gradScale: scale });
    rt.zeroGrad(this.params.params());
    // One readback for the step: the loss values, the bad-label count, the gradient norm and the
    // optimizer's non-finite flag.
    const parts = [loss.total, loss.ce, loss.dice, loss.badLabels, stats.norm, stats.nonFinite];
    const read = rt.readMany(parts);
    for (const t of [...parts, stats.clipScale]) t.release();
    return read.then(([total, ce, dice, badLabels, norm, nonFinite]) => {
      checkLabels(badLabels![0]!, loss.classes, 'train step');
      const applied = nonFinite![0] === 0;
      if (!applied) this.optim.revertStep();
      if (scale !== undefined) this.scaler.update(applied);
      return { total: total![0]!, ce: ce![0]!, dice: dice![0]!, applied, gradNorm: norm![0]!, stop, ...(scale === undefined ? {} : { scale }) };
    });
  }

  /** Eval-mode forward of a batch; returns per-pixel argmax predictions (B·res·res), computed on the GPU. */
  async predict(batch: Batch, res: number): Promise<Uint8Array> {
    const images = this.rt.tensor(batch.images, [batch.size, 3, res, res]);
    const maps = await segfaceClasses(this.params, images, { landmarks: this.params.cfg.dataset === 'lapa' ? batch.landmarks : undefined });
    images.release();
    return maps.classes;
  }

  /** Predictions for every sample of a dataset in batches of `batch` (the last one may be short). */
  async *predictAll(ds: Dataset, batch: number): AsyncGenerator<{ batch: Batch; pred: Uint8Array }> {
    for (let i = 0; i < ds.length; i += batch) {
      const indices = Array.from({ length: Math.min(batch, ds.length - i) }, (_, j) => i + j);
      const b = makeBatch(ds, indices);
      yield { batch: b, pred: await this.predict(b, ds.res) };
    }
  }
}
