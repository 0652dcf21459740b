import { describe, expect, it } from 'vitest';
import { add } from '../src/runtime/ops/elementwise.js';
import { lossCandidates, lossTiling, readSegLoss, segLoss, segLossFinish, segLossPartials } from '../src/runtime/ops/loss.js';
import { adapterFacts } from '../src/runtime/adapter.js';
import { checkRefGradient, expectClose, randn, rng, testFail, useRuntime } from './harness.js';
import type { Precision } from '../src/runtime/reference/check.js';
import { segLossRef, segLossRefBackward } from '../src/runtime/reference/loss.js';
import { badLabels, CASES, checkLoss as checkShared, gradTol, SUMS_TOL, TERM_CASES, VALUE_TOL, type Case } from './checks/loss.js';

// Cases, tolerances and the check itself: tests/checks/loss.ts (the web page runs them too).
const rt = useRuntime();
const checkLoss = (c: Case, seed: number, precision: Precision = 'f32'): Promise<void> => {
  if (precision === 'f16' && !rt().device.hasF16) return expect(checkShared(rt(), c, seed, testFail, precision)).rejects.toThrow(/shader-f16/);
  return checkShared(rt(), c, seed, testFail, precision);
};

describe('segLoss = w_ce·CE + w_dice·Dice, forward and d(logits)', () => {
  CASES.forEach((c, i) => it(c.name, async () => { await checkLoss(c, 100 + 10 * i); }));
});

describe('f16 logits (tolerances: tests/checks/loss.ts)', () => {
  CASES.forEach((c, i) => it(c.name, async () => { await checkLoss(c, 100 + 10 * i, 'f16'); }));
  for (const [c, seed] of TERM_CASES) it(c.name, async () => { await checkLoss(c, seed, 'f16'); });
});

// Every launch candidate the tuner may pick (lavapipe's and a GPU's), pinned in turn, on the cases
// that leave the launch to the runtime: forward sums and d(logits) against float64.
describe('every launch candidate against float64', () => {
  const names = [...new Set([adapterFacts({ architecture: 'software', description: 'llvmpipe' }), adapterFacts({ vendor: 'gpu' })].flatMap(lossCandidates))];
  CASES.filter((c) => !c.opts).forEach((c, i) => it(`${c.name}: ${names.join(', ')}`, async () => {
    const r = rt();
    try {
      for (const name of names) {
        r.tuner.pin('loss', name);
        await checkLoss(c, 500 + 10 * i);
      }
    } finally {
      r.tuner.pin('loss', undefined);
    }
  }, 300_000));
  it('refuses malformed launch names', () => {
    expect(() => lossTiling('W64', rt().device.facts)).toThrow(/^loss launch: bad name "W64"/);
    expect(() => lossTiling('W100000:P1', rt().device.facts)).toThrow(/cannot run on this adapter/);
  });
});

describe('single terms', () => {
  for (const [c, seed] of TERM_CASES.filter(([t]) => t.fn)) it(c.name, async () => { await checkLoss(c, seed); });
});

describe('labels outside [0, K)', () => {
  it('are skipped, counted, and get zero gradient', async () => {
    const [c, seed] = TERM_CASES.find(([t]) => t.labels === badLabels)!;
    await checkLoss(c, seed);
  });
  it('readSegLoss throws a clear message, with one readback', async () => {
    const r = rt();
    const lab = badLabels(2 * 35, 11, rng(5));
    const logits = r.tensor(randn(2 * 11 * 35, 6), [2, 11, 7, 5]);
    const labels = r.tensor(lab, [2, 7, 5], 'i32');
    const res = segLoss(logits, labels);
    const before = r.counters.readbacks;
    await expect(readSegLoss(res)).rejects.toThrow('segLoss: labels: 4 pixels outside [0, 11)');
    expect(r.counters.readbacks - before).toBe(1);
    for (const t of [res.total, res.ce, res.dice, res.badLabels, logits, labels]) t.release();
  });
});

describe('two-stage contract (data parallelism)', () => {
  it('sums of two half-batches give the full-batch loss and gradient', async () => {
    const r = rt();
    const [B, K, H, W] = [2, 19, 6, 5];
    const HW = H * W;
    const x = randn(B * K * HW, 500, -3, 3);
    const lab = Array.from({ length: B * HW }, (_, i) => (i * 7) % K);
    const want = segLossRef(x, lab, B, K, HW);
    const wantGrad = segLossRefBackward(x, lab, B, K, HW, 0.5, 0.5);
    const halves = [0, 1].map((b) => {
      const t = r.tensor(x.subarray(b * K * HW, (b + 1) * K * HW), [1, K, H, W]);
      t.requiresGrad = true;
      return { logits: t, labels: r.tensor(lab.slice(b * HW, (b + 1) * HW), [1, H, W], 'i32') };
    });
    const parts = halves.map((h) => segLossPartials(h.logits, h.labels));
    expect(parts[0]!.pixels).toBe(HW);
    // the "all-reduce": sums on the GPU, pixel counts on the host
    const sums = { ceSum: add(parts[0]!.ceSum, parts[1]!.ceSum), dicePartials: add(parts[0]!.dicePartials, parts[1]!.dicePartials), pixels: 2 * HW };
    const dice = await sums.dicePartials.read();
    expectClose('global I', dice.subarray(0, K), want.I, SUMS_TOL);
    expectClose('global Z', dice.subarray(K, 2 * K), want.Z, SUMS_TOL);
    expect(Array.from(dice.subarray(2 * K))).toEqual(Array.from(want.Y));
    const grads: number[] = [];
    for (const h of halves) {
      const v = segLossFinish(h.logits, h.labels, sums, { ceWeight: 0.5, diceWeight: 0.5 });
      expectClose('global total', [await v.total.item()], [want.total], VALUE_TOL);
      r.backward(v.total);
      grads.push(...(await h.logits.grad!.read()));
      for (const t of [v.total, v.ce, v.dice, h.logits.grad!, h.logits, h.labels]) t.release();
    }
    expectClose('concatenated d(logits)', grads, wantGrad, gradTol(wantGrad));
    for (const p of parts) { p.ceSum.release(); p.dicePartials.release(); p.badLabels.release(); }
    sums.ceSum.release();
    sums.dicePartials.release();
  });
});

describe('reference backward matches finite differences', () => {
  const B = 2; const K = 3; const HW = 5;
  const lab = [0, 2, 2, 1, 0, 2, 7, 0, 2, -1];   // two bad labels, all classes present
  const absent = [0, 2, 2, 0, 0, 2, 0, 0, 2, 2];  // class 1 absent
  for (const [wCe, wDice] of [[1, 0], [0, 1], [0.5, 0.5]] as const) {
    it(`weights ${wCe}/${wDice}`, () => {
      for (const labels of [lab, absent]) {
        checkRefGradient(`segLoss ${wCe}/${wDice}`, [randn(B * K * HW, 11, -2, 2)],
          ([x]) => Float64Array.of(segLossRef(x!, labels, B, K, HW, wCe, wDice).total),
          ([x], g) => [segLossRefBackward(x!, labels, B, K, HW, wCe, wDice, g[0])],
          { samples: 30 });
      }
    });
  }
});

describe('memory', () => {
  it('repeated loss + backward steps do not grow the pool', async () => {
    const r = rt();
    const logits = r.parameter(randn(2 * 19 * 48, 77, -3, 3), [2, 19, 6, 8], 'logits');
    const labels = r.tensor(Array.from({ length: 2 * 48 }, (_, i) => i % 19), [2, 6, 8], 'i32');
    let live = 0;
    let allocated = 0;
    for (let step = 0; step < 4; step++) {
      const res = segLoss(logits, labels);
      await readSegLoss(res);
      r.backward(res.total);
      await logits.grad!.read();
      r.zeroGrad([logits]);
      for (const t of [res.total, res.ce, res.dice, res.badLabels]) t.release();
      await r.sync();
      if (step === 1) { live = r.memory().bytesLive; allocated = r.memory().bytesAllocated; }
      if (step > 1) {
        expect(r.memory().bytesLive, `step ${step}: live bytes`).toBe(live);
        expect(r.memory().bytesAllocated, `step ${step}: allocated bytes`).toBe(allocated);
      }
    }
    logits.release();
    labels.release();
  });
});
