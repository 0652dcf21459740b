// The training loop: one step = forward (train mode: stochastic depth on) + 0.5·CE + 0.5·Dice +
// backward + AdamW, recorded and submitted as a few large batches; the host reads back only the
// loss values and the optimizer's non-finite flag at the end of the step. The next batch is
// prepared on the host while the GPU works on the current one (lavapipe runs on its own threads).
import type { ParamStore } from '../model/params.js';
import { segfaceForward } from '../model/segface.js';
import type { AdamW } from '../runtime/ops/adamw.js';
import { checkLabels, segLoss } from '../runtime/ops/loss.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Batch, Dataset } from './data/dataset.js';
import { makeBatch } from './data/dataset.js';
import type { MultiStepLR } from './schedule.js';

export interface StepResult {
  total: number;
  ce: number;
  dice: number;
  /** False when the gradients were not finite: the weights were left untouched. */
  applied: boolean;
  gradNorm: number;
}

export class Trainer {
  constructor(
    readonly rt: Runtime,
    readonly params: ParamStore,
    readonly optim: AdamW,
    readonly schedule: MultiStepLR,
    readonly seed: number,
    /** Stochastic depth in training steps (the official recipe); off for step-by-step reference checks. */
    readonly stochasticDepth = true,
  ) {}

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
   */
  step(batch: Batch, res: number, epoch: number, globalStep: number): Promise<StepResult> {
    const rt = this.rt;
    const loss = rt.scope(() => {
      const { images, labels } = this.upload(batch, res);
      const logits = segfaceForward(this.params, images, { train: this.stochasticDepth, seed: (this.seed * 7919 + globalStep) >>> 0 });
      return segLoss(logits, labels);
    });
    rt.backward(loss.total);
    const stats = this.optim.step({ lr: this.schedule.lrAt(epoch) });
    rt.zeroGrad(this.params.params());
    // One readback for the step: the loss values, the bad-label count, the gradient norm and the
    // optimizer's non-finite flag, gathered into one small buffer on the GPU.
    const parts = [loss.total, loss.ce, loss.dice, loss.badLabels, stats.norm, stats.nonFinite];
    const staging = rt.empty([parts.length], 'f32', 'step readback');
    parts.forEach((t, i) => rt.batch.copy(t.buffer, 0, staging.buffer, 4 * i, 4));
    for (const t of [...parts, stats.clipScale]) t.release();
    const read = rt.batch.read(staging.buffer, 0, 4 * parts.length);
    staging.release();
    return read.then((bytes) => {
      const f = new Float32Array(bytes);
      const i = new Int32Array(bytes);
      checkLabels(i[3]!, loss.classes, 'train step');
      const applied = i[5] === 0;
      if (!applied) this.optim.revertStep();
      return { total: f[0]!, ce: f[1]!, dice: f[2]!, applied, gradNorm: f[4]! };
    });
  }

  /** Eval-mode forward of a batch; returns per-pixel argmax predictions (B·res·res). */
  async predict(batch: Batch, res: number): Promise<Uint8Array> {
    const rt = this.rt;
    const logits = rt.withoutGrad(() => rt.scope(() => {
      const { images } = this.upload(batch, res);
      return segfaceForward(this.params, images);
    }));
    const data = await logits.read();
    logits.release();
    const [B, K] = logits.shape as [number, number];
    return argmaxClasses(data as Float32Array, B, K, res * res);
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

/** argmax over classes of NCHW logits (B, K, P) -> (B·P) class ids. */
export function argmaxClasses(logits: Float32Array, B: number, K: number, P: number): Uint8Array {
  const out = new Uint8Array(B * P);
  for (let b = 0; b < B; b++) {
    for (let p = 0; p < P; p++) {
      let best = 0;
      let bestV = logits[b * K * P + p]!;
      for (let k = 1; k < K; k++) {
        const v = logits[(b * K + k) * P + p]!;
        if (v > bestV) { bestV = v; best = k; }
      }
      out[b * P + p] = best;
    }
  }
  return out;
}
