// Learning-rate schedules against PyTorch (Debian's python3-torch 1.13; a missing torch fails the
// test): WarmupCosineLR against SequentialLR([LinearLR, CosineAnnealingLR]) stepped once per
// optimizer step, MultiStepLR against torch's MultiStepLR stepped once per epoch.
// Tolerance: torch computes both schedulers recursively (lr_t from lr_{t−1}, a few float64 roundings
// per step, relative 2^-52 each); over at most 500 steps that stays below 500 · 4 · 2.2e-16 ≈ 5e-13
// of the base rate, so |ours − torch| <= 1e-12 · base. Ours is the closed form.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { schedulerState } from '../../src/train/checkpoint.js';
import { PyDict, PyFloat } from '../../src/runtime/formats/pickle.js';
import { MultiStepLR, scheduleFor, WarmupCosineLR } from '../../src/train/schedule.js';

const TORCH_LRS = `
import json, sys, warnings
import torch
warnings.simplefilter("ignore")
out = []
for c in json.loads(sys.argv[1]):
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=c["lr"])
    if c["kind"] == "cosine":
        w, total = c["warmup"], c["total"]
        cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total - w, eta_min=c["minLr"])
        if w > 0:
            lin = torch.optim.lr_scheduler.LinearLR(opt, start_factor=c["startFactor"], end_factor=1.0, total_iters=w)
            sched = torch.optim.lr_scheduler.SequentialLR(opt, [lin, cos], milestones=[w])
        else:
            sched = cos
    else:
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=c["milestones"], gamma=c["gamma"])
    lrs = []
    for t in range(c["steps"]):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    out.append(sched.state_dict() if c.get("state") else lrs)
print(json.dumps(out, default=dict))
`;

function torchLrs<T = number[]>(configs: object[]): T[] {
  try {
    return JSON.parse(execFileSync('/usr/bin/python3', ['-c', TORCH_LRS, JSON.stringify(configs)], { encoding: 'utf8' })) as T[];
  } catch (e) {
    throw new Error(`python3-torch failed (is it installed? run: bash scripts/setup.sh --tests):\n${(e as { stderr?: Buffer }).stderr?.toString() ?? e}`);
  }
}

describe('learning-rate schedules against torch.optim.lr_scheduler', () => {
  it('WarmupCosineLR = SequentialLR(LinearLR, CosineAnnealingLR), per step', () => {
    const cases = [
      { lr: 2e-3, warmup: 30, total: 448, minLr: 2e-5, startFactor: 0.01 },   // the default preset's shape
      { lr: 1e-3, warmup: 0, total: 100, minLr: 0, startFactor: 0.01 },       // cosine alone
      { lr: 5e-4, warmup: 7, total: 19, minLr: 1e-6, startFactor: 0.25 },     // short, odd lengths
    ];
    const want = torchLrs(cases.map((c) => ({ ...c, kind: 'cosine', steps: c.total })));
    cases.forEach((c, i) => {
      const s = new WarmupCosineLR(c.lr, { warmupSteps: c.warmup, totalSteps: c.total, minLr: c.minLr, startFactor: c.startFactor });
      const got = Array.from({ length: c.total }, (_, t) => s.lrAt(0, t));
      expect(want[i]!.length).toBe(c.total);
      const worst = Math.max(...got.map((g, t) => Math.abs(g - want[i]![t]!)));
      expect(worst).toBeLessThanOrEqual(1e-12 * c.lr);
      expect(got[c.warmup]).toBeCloseTo(c.lr, 15);   // warm-up ends at the base rate
    });
  });

  it('MultiStepLR per epoch = torch MultiStepLR', () => {
    const want = torchLrs([{ kind: 'step', lr: 1e-4, milestones: [3, 5], gamma: 0.1, steps: 8 }])[0]!;
    const s = new MultiStepLR(1e-4, [5, 3]);
    const got = Array.from({ length: 8 }, (_, e) => s.lrAt(e, 1000 * e));
    got.forEach((g, e) => expect(Math.abs(g - want[e]!)).toBeLessThanOrEqual(1e-12 * 1e-4));
  });

  it('rejects schedules that cannot run', () => {
    expect(() => new WarmupCosineLR(1e-3, { warmupSteps: 10, totalSteps: 10 })).toThrow(/above the 10 warm-up steps/);
    expect(() => new WarmupCosineLR(1e-3, { warmupSteps: -1, totalSteps: 10 })).toThrow(/warm-up -1/);
    expect(() => new WarmupCosineLR(1e-3, { warmupSteps: 1, totalSteps: 10, minLr: 1 })).toThrow(/minimum lr 1/);
  });

  it('a run saved before schedules were named (no schedule field) resumes as MultiStepLR', () => {
    expect(scheduleFor({ lr: 1e-3, milestones: [2], epochs: 4 }, 10)).toBeInstanceOf(MultiStepLR);
    const s = scheduleFor({ schedule: 'cosine', lr: 1e-3, milestones: [], epochs: 4, warmupSteps: 3, minLr: 1e-5 }, 10) as WarmupCosineLR;
    expect([s.warmupSteps, s.totalSteps, s.minLr]).toEqual([3, 40, 1e-5]);
  });

  it('export: the scheduler state_dict equals torch 1.13\'s after the same number of steps', () => {
    // Before, at and after the end of the warm-up, and a cosine without one. Integers and the
    // closed-form floats against torch's recursive ones: the tolerance of the first test.
    const cases = [
      { lr: 2e-3, warmup: 4, total: 12, minLr: 2e-5, steps: 2 }, { lr: 2e-3, warmup: 4, total: 12, minLr: 2e-5, steps: 4 },
      { lr: 2e-3, warmup: 4, total: 12, minLr: 2e-5, steps: 9 }, { lr: 1e-3, warmup: 0, total: 12, minLr: 0, steps: 5 },
    ];
    const want = torchLrs<unknown>(cases.map((c) => ({ ...c, kind: 'cosine', startFactor: 0.01, state: true })));
    const plain = (v: unknown): unknown => v instanceof PyDict ? Object.fromEntries([...v].map(([k, x]) => [k, plain(x)]))
      : v instanceof PyFloat ? v.value : Array.isArray(v) ? v.map(plain) : v;
    const close = (got: unknown, exp: unknown, path: string, lr: number): void => {
      if (typeof exp === 'number' && !Number.isInteger(exp)) { expect(Math.abs((got as number) - exp), path).toBeLessThanOrEqual(1e-12 * lr); return; }
      if (exp !== null && typeof exp === 'object') {
        expect(Object.keys(got as object).sort(), path).toEqual(Object.keys(exp).sort());
        for (const k of Object.keys(exp)) close((got as Record<string, unknown>)[k], (exp as Record<string, unknown>)[k], `${path}.${k}`, lr);
        return;
      }
      expect(got, path).toEqual(exp);
    };
    cases.forEach((c, i) => {
      const s = new WarmupCosineLR(c.lr, { warmupSteps: c.warmup, totalSteps: c.total, minLr: c.minLr });
      close(plain(schedulerState(s, 0, c.steps)), want[i], `case ${i}`, c.lr);
    });
  });
});
