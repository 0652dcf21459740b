// Dynamic loss scaling for f16 mixed-precision training (as PyTorch's GradScaler): the backward is
// seeded with d(loss) = S instead of 1, so gradients stored in f16 keep small values above f16's
// subnormal floor (2^-24); the optimizer divides by S (AdamW.step's gradScale). A step whose
// gradients overflowed (the optimizer's non-finite flag, the same check that skips NaN steps)
// is skipped and halves S; `growthInterval` finite steps in a row double it.

export interface LossScaleState { scale: number; goodSteps: number }

export class LossScaler {
  scale: number;
  /** Finite steps since the last change of scale. */
  goodSteps = 0;

  constructor(readonly opts: { init?: number; growthInterval?: number; min?: number } = {}) {
    this.scale = opts.init ?? 2 ** 16;
  }

  get growthInterval(): number { return this.opts.growthInterval ?? 2000; }

  /** After a step: `applied` false (non-finite gradients) halves the scale, down to `min` (default 1). */
  update(applied: boolean): void {
    if (!applied) {
      this.scale = Math.max(this.opts.min ?? 1, this.scale / 2);
      this.goodSteps = 0;
      return;
    }
    if (++this.goodSteps >= this.growthInterval) {
      this.scale = Math.min(this.scale * 2, 2 ** 24);
      this.goodSteps = 0;
    }
  }

  state(): LossScaleState { return { scale: this.scale, goodSteps: this.goodSteps }; }

  restore(s: LossScaleState): void {
    this.scale = s.scale;
    this.goodSteps = s.goodSteps;
  }
}
