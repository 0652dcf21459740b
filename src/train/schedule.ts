// Learning-rate schedules. The trainer asks `lrAt(epoch, step)` once per optimizer step (step is
// the 0-based optimizer step of the whole run, epoch the 0-based epoch it falls in).
//
// MultiStepLR: torch.optim.lr_scheduler.MultiStepLR as SegFace's train.py uses it, stepped once
// per epoch: lr(epoch) = base · gamma^(number of milestones <= epoch).
//
// WarmupCosineLR: the schedule of the synthetic presets, stepped once per optimizer step; it is
// torch's SequentialLR([LinearLR(start_factor, total_iters=warmup), CosineAnnealingLR(T_max=
// total − warmup, eta_min)], milestones=[warmup]) in closed form:
//   step t < warmup:  base · (s + (1 − s) · t / warmup)                       (s = start_factor)
//   step t ≥ warmup:  eta_min + (base − eta_min) · (1 + cos(π · (t − warmup) / (total − warmup))) / 2
// (t past total stays at eta_min). tests/train/schedule.test.ts checks it against torch's schedulers.

export interface LrSchedule {
  readonly baseLr: number;
  /** The learning rate of optimizer step `step` (0-based, whole run), which falls in epoch `epoch`. */
  lrAt(epoch: number, step: number): number;
}

export class MultiStepLR implements LrSchedule {
  readonly milestones: number[];

  constructor(readonly baseLr: number, milestones: readonly number[], readonly gamma = 0.1) {
    for (const m of milestones) {
      if (!Number.isInteger(m) || m < 0) throw new Error(`MultiStepLR: milestone ${m} must be a non-negative integer epoch`);
    }
    this.milestones = [...milestones].sort((a, b) => a - b);
  }

  /** The learning rate used during epoch `epoch` (0-based); the step does not matter. */
  lrAt(epoch: number, _step = 0): number {
    let lr = this.baseLr;
    for (const m of this.milestones) if (m <= epoch) lr *= this.gamma;
    return lr;
  }
}

export interface WarmupCosineOptions {
  /** Optimizer steps of linear warm-up (0: none). */
  warmupSteps: number;
  /** Optimizer steps of the whole run (warm-up included). */
  totalSteps: number;
  /** The warm-up's first factor of baseLr (torch LinearLR's start_factor), in (0, 1]. */
  startFactor?: number;
  /** The learning rate the cosine ends at (torch's eta_min). */
  minLr?: number;
}

export class WarmupCosineLR implements LrSchedule {
  readonly warmupSteps: number;
  readonly totalSteps: number;
  readonly startFactor: number;
  readonly minLr: number;

  constructor(readonly baseLr: number, opts: WarmupCosineOptions) {
    const { warmupSteps, totalSteps, startFactor = 0.01, minLr = 0 } = opts;
    if (!Number.isInteger(warmupSteps) || warmupSteps < 0) throw new Error(`WarmupCosineLR: warm-up ${warmupSteps} must be a non-negative integer of steps`);
    if (!Number.isInteger(totalSteps) || totalSteps <= warmupSteps) throw new Error(`WarmupCosineLR: ${totalSteps} total steps must be an integer above the ${warmupSteps} warm-up steps`);
    if (!(startFactor > 0 && startFactor <= 1)) throw new Error(`WarmupCosineLR: start factor ${startFactor} must lie in (0, 1]`);
    if (!(minLr >= 0 && minLr <= baseLr)) throw new Error(`WarmupCosineLR: minimum lr ${minLr} must lie in [0, ${baseLr}]`);
    this.warmupSteps = warmupSteps; this.totalSteps = totalSteps; this.startFactor = startFactor; this.minLr = minLr;
  }

  lrAt(_epoch: number, step: number): number {
    const { baseLr, warmupSteps: w, totalSteps, startFactor: s, minLr } = this;
    if (step < w) return baseLr * (s + ((1 - s) * step) / w);
    const t = Math.min(step, totalSteps) - w;
    return minLr + ((baseLr - minLr) * (1 + Math.cos((Math.PI * t) / (totalSteps - w)))) / 2;
  }
}

/** What a run's schedule is made from (its saved settings, src/train/defaults.ts). */
export interface ScheduleSettings {
  schedule?: 'cosine' | 'step';
  lr: number;
  milestones: readonly number[];
  warmupSteps?: number;
  minLr?: number;
  epochs: number;
}

/**
 * The schedule of a run: WarmupCosineLR over all `epochs × stepsPerEpoch` optimizer steps, or
 * MultiStepLR. Settings saved before schedules were named (no `schedule` field) were MultiStepLR.
 */
export function scheduleFor(s: ScheduleSettings, stepsPerEpoch: number): LrSchedule {
  if (s.schedule !== 'cosine') return new MultiStepLR(s.lr, s.milestones);
  const warmupSteps = s.warmupSteps ?? 0;
  const totalSteps = Math.max(warmupSteps + 1, stepsPerEpoch * s.epochs);
  return new WarmupCosineLR(s.lr, { warmupSteps, totalSteps, minLr: Math.min(s.minLr ?? 0, s.lr) });
}
