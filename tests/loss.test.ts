import { describe, expect, it } from 'vitest';
import { add } from '../src/runtime/ops/elementwise.js';
import {
  crossEntropy, diceLoss, readSegLoss, segLoss, segLossFinish, segLossPartials,
  type LossKernelOptions, type LossWeights, type SegLossResult,
} from '../src/runtime/ops/loss.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { checkRefGradient, expectClose, randn, rng, useRuntime } from './harness.js';
import { segLossRef, segLossRefBackward } from '../src/runtime/reference/loss.js';

const rt = useRuntime();

// Loss values are f32 sums of up to 16k per-pixel terms (hierarchical: 16 per invocation, 64 per
// workgroup, then the workgroup rows), each term a few roundings of exp/log away from float64.
const VALUE_TOL = { atol: 1e-6, rtol: 2e-6 };
// The Dice sums I, Z are f32 sums of p values; Y are exact integer counts.
const SUMS_TOL = { atol: 1e-5, rtol: 2e-6 };
// d(logits) elements are O(1/N); f32 softmax errors are ~1e-7 absolute in p, so the atol is taken
// relative to the largest reference gradient element (set per case in `gradTol`).
const GRAD_RTOL = 1e-5;
const gradTol = (want: Float64Array): { atol: number; rtol: number } => {
  let m = 0;
  for (const v of want) m = Math.max(m, Math.abs(v));
  return { atol: 2e-6 * m, rtol: GRAD_RTOL };
};

interface Case {
  name: string;
  B: number; K: number; H: number; W: number;
  /** label generator: defaults to uniform over [0, K) */
  labels?: (n: number, K: number, r: () => number) => number[];
  opts?: LossKernelOptions;
  weights?: LossWeights;
  fn?: 'segLoss' | 'crossEntropy' | 'diceLoss';
}

function makeLabels(c: Case, seed: number): number[] {
  const r = rng(seed);
  const n = c.B * c.H * c.W;
  return c.labels ? c.labels(n, c.K, r) : Array.from({ length: n }, () => Math.floor(r() * c.K));
}

function runLoss(c: Case, logits: Tensor, labels: Tensor): SegLossResult {
  if (c.fn === 'crossEntropy') return crossEntropy(logits, labels, c.opts);
  if (c.fn === 'diceLoss') return diceLoss(logits, labels, c.opts);
  return segLoss(logits, labels, c.weights, c.opts);
}

function weightsOf(c: Case): LossWeights {
  if (c.fn === 'crossEntropy') return { ceWeight: 1, diceWeight: 0 };
  if (c.fn === 'diceLoss') return { ceWeight: 0, diceWeight: 1 };
  return c.weights ?? { ceWeight: 0.5, diceWeight: 0.5 };
}

async function checkLoss(c: Case, seed: number): Promise<void> {
  const r = rt();
  const HW = c.H * c.W;
  const x = randn(c.B * c.K * HW, seed, -3, 3);
  const lab = makeLabels(c, seed + 1);
  const w = weightsOf(c);
  const want = segLossRef(x, lab, c.B, c.K, HW, w.ceWeight, w.diceWeight);
  const logits = r.tensor(x, [c.B, c.K, c.H, c.W]);
  logits.requiresGrad = true;
  const labels = r.tensor(lab, [c.B, c.H, c.W], 'i32');
  const res = runLoss(c, logits, labels);
  const got = await readSegLoss(res, false);
  expect(got.badLabels, `${c.name}: bad label count`).toBe(want.bad);
  expectClose(`${c.name}: total`, [got.total], [want.total], VALUE_TOL);
  expectClose(`${c.name}: ce`, [got.ce], [want.ce], VALUE_TOL);
  expectClose(`${c.name}: dice`, [got.dice], [want.dice], VALUE_TOL);
  const dTotal = randn(1, seed + 2, 0.5, 2);
  const seedT = r.tensor(dTotal, [1]);
  r.backward(res.total, seedT);
  const wantGrad = segLossRefBackward(x, lab, c.B, c.K, HW, w.ceWeight, w.diceWeight, dTotal[0]);
  expectClose(`${c.name}: d(logits)`, await logits.grad!.read(), wantGrad, gradTol(wantGrad));
  for (const t of [res.total, res.ce, res.dice, res.badLabels, seedT, logits.grad!, logits, labels]) t.release();
  logits.grad = null;
}

const CASES: Case[] = [
  { name: 'B=1 K=11 7x5', B: 1, K: 11, H: 7, W: 5 },
  { name: 'B=2 K=19 7x5', B: 2, K: 19, H: 7, W: 5 },
  { name: 'B=2 K=11 9x13, 8 invocations x 3 pixels (many workgroups)', B: 2, K: 11, H: 9, W: 13, opts: { workgroupSize: 8, pixelsPerThread: 3 } },
  { name: 'B=2 K=19 16x16, workgroup 128 (two reduction rounds)', B: 2, K: 19, H: 16, W: 16, opts: { workgroupSize: 128, pixelsPerThread: 2 } },
  { name: 'B=2 K=19 weights 0.3/1.7', B: 2, K: 19, H: 6, W: 7, weights: { ceWeight: 0.3, diceWeight: 1.7 } },
  {
    name: 'B=2 K=19, only classes 0, 3, 18 present', B: 2, K: 19, H: 8, W: 9,
    labels: (n, _K, r) => Array.from({ length: n }, () => [0, 3, 18][Math.floor(r() * 3)]!),
  },
  { name: 'B=1 K=19 128x128', B: 1, K: 19, H: 128, W: 128 },
  { name: 'B=5 K=2 128x128, one pixel per workgroup (2-D grid fold)', B: 5, K: 2, H: 128, W: 128, opts: { workgroupSize: 1, pixelsPerThread: 1 } },
];

describe('segLoss = w_ce·CE + w_dice·Dice, forward and d(logits)', () => {
  CASES.forEach((c, i) => it(c.name, async () => { await checkLoss(c, 100 + 10 * i); }));
});

describe('single terms', () => {
  it('crossEntropy B=2 K=11 7x5', async () => { await checkLoss({ name: 'CE', B: 2, K: 11, H: 7, W: 5, fn: 'crossEntropy' }, 300); });
  it('crossEntropy B=1 K=19 17x3', async () => { await checkLoss({ name: 'CE', B: 1, K: 19, H: 17, W: 3, fn: 'crossEntropy' }, 310); });
  it('diceLoss B=2 K=11 7x5', async () => { await checkLoss({ name: 'Dice', B: 2, K: 11, H: 7, W: 5, fn: 'diceLoss' }, 320); });
  it('diceLoss B=1 K=19 17x3, half the classes absent', async () => {
    await checkLoss({
      name: 'Dice absent', B: 1, K: 19, H: 17, W: 3, fn: 'diceLoss',
      labels: (n, _K, r) => Array.from({ length: n }, () => 2 * Math.floor(r() * 9)),
    }, 330);
  });
});

describe('labels outside [0, K)', () => {
  const bad = (n: number, K: number, r: () => number): number[] => {
    const l = Array.from({ length: n }, () => Math.floor(r() * K));
    l[0] = -1; l[5] = K; l[n - 1] = 255; l[17] = -2147483648;
    return l;
  };
  it('are skipped, counted, and get zero gradient', async () => {
    await checkLoss({ name: 'bad labels', B: 2, K: 11, H: 7, W: 5, labels: bad }, 400);
  });
  it('readSegLoss throws a clear message, with one readback', async () => {
    const r = rt();
    const lab = bad(2 * 35, 11, rng(5));
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
