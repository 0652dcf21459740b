// torch.optim.lr_scheduler.MultiStepLR as SegFace's train.py uses it: stepped once per epoch,
// lr(epoch) = base · gamma^(number of milestones <= epoch).

export class MultiStepLR {
  readonly milestones: number[];

  constructor(readonly baseLr: number, milestones: readonly number[], readonly gamma = 0.1) {
    for (const m of milestones) {
      if (!Number.isInteger(m) || m < 0) throw new Error(`MultiStepLR: milestone ${m} must be a non-negative integer epoch`);
    }
    this.milestones = [...milestones].sort((a, b) => a - b);
  }

  /** The learning rate used during epoch `epoch` (0-based). */
  lrAt(epoch: number): number {
    let lr = this.baseLr;
    for (const m of this.milestones) if (m <= epoch) lr *= this.gamma;
    return lr;
  }
}
