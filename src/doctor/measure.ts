// The doctor's measurements at a model's shapes: matmul (the Swin projections), fused window
// attention (forward, forward + backward) and the whole training step (forward + 0.5·CE + 0.5·Dice
// + backward + AdamW) at the largest batch that fits, found by doubling. Every figure is a median
// of samples in this run; roofline ratios divide by the adapter's measured FMA peak.
//
// A timed sample records the work `reps` times and waits for the GPU once, as the benchmarks do
// (bench/lib.ts); `reps` is chosen from the warm-up so that a sample lasts about 20 ms, which keeps
// the wait for the GPU small on fast adapters and samples short on slow ones.
import { cpus, freemem } from 'node:os';
import { makeConfig, type SegFaceConfig } from '../model/config.js';
import { matmul } from '../runtime/ops/matmul.js';
import { windowAttention, windowGeometry } from '../runtime/ops/window_attention.js';
import type { Roofline } from '../runtime/roofline.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Tensor } from '../runtime/tensor.js';
import { buildModel, syntheticBatch, type ModelUnderTest } from '../train/synthetic_step.js';
import type { Budget } from './budget.js';

export interface Timing { medianMs: number; minMs: number; maxMs: number; samples: number }

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const summary = (per: number[]): Timing => ({ medianMs: median(per), minMs: Math.min(...per), maxMs: Math.max(...per), samples: per.length });

/** Times recorded GPU work: a warm-up, then up to `samples` samples (at least one) within `maxMs`. */
export async function timeWork(rt: Runtime, record: () => void, o: { samples: number; maxMs: number }): Promise<Timing> {
  const w0 = performance.now();
  rt.scope(() => { record(); });
  await rt.sync();
  const warm = performance.now() - w0;
  const reps = Math.max(1, Math.min(64, Math.ceil(20 / Math.max(warm, 0.05))));
  const per: number[] = [];
  const t0 = performance.now();
  while (per.length < o.samples && !(per.length > 0 && performance.now() - t0 > o.maxMs)) {
    const s0 = performance.now();
    rt.scope(() => { for (let i = 0; i < reps; i++) record(); });
    await rt.sync();
    per.push((performance.now() - s0) / reps);
  }
  return summary(per);
}

/** The shapes the doctor measures: a backbone at a resolution. */
export interface Target { model: string; res: number }

/** A row either has its figures or says why the measurement failed (a limit, out of memory). */
export interface MatmulRow { target: string; label: string; batch: number; M: number; N: number; K: number; timing?: Timing; gflops?: number; ofFmaPeak?: number; error?: string }
export interface AttentionRow {
  target: string; label: string; batch: number; sizes: string;
  forward?: Timing; forwardBackward?: Timing; gflops?: number; ofFmaPeak?: number; error?: string;
}

const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
export interface StepRow {
  target: string; batch: number; timing?: Timing; imagesPerSec?: number; peakBytes?: number;
  /** The first step at this batch, pipeline compilation included. */
  warmupMs?: number;
  /** The step failed (out of memory, a limit): the batch does not fit. */
  error?: string;
  /** The warm-up step ran but the budget had no room left to time one. */
  skipped?: string;
}
export interface StepSearch {
  target: string;
  rows: StepRow[];
  /** The largest batch whose step ran, and why doubling stopped. */
  largestBatch: number;
  stoppedBy: string;
  /** Making the synthetic weights and optimizer state (host work: tens of seconds for swin_base on 2 cores; 0 when reused). */
  buildSeconds: number;
}

const label = (t: Target): string => `${t.model} ${t.res}`;
const stageDim = (cfg: SegFaceConfig, stage: number): number => cfg.embed * 2 ** stage;
const stageSide = (t: Target, stage: number): number => t.res / 2 ** (stage + 2);

/** Random f32 values in [-a, a), from a linear congruential stream (measurement data, not checked). */
function randomTensor(rt: Runtime, shape: number[], amplitude: number, seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = amplitude * ((s / 4294967296) * 2 - 1);
  }
  return rt.tensor(data, shape);
}

/** Swin's projections at this target and batch, as the model runs them: x (tokens, in) · Wᵀ + bias. */
export function matmulShapes(t: Target, batch: number): { label: string; M: number; N: number; K: number }[] {
  const cfg = makeConfig(t.model);
  const tokens = (stage: number): number => batch * stageSide(t, stage) ** 2;
  const c = (stage: number): number => stageDim(cfg, stage);
  return [
    { label: 'stage 1 qkv', M: tokens(0), N: 3 * c(0), K: c(0) },
    { label: 'stage 1 mlp fc1', M: tokens(0), N: 4 * c(0), K: c(0) },
    { label: 'stage 3 qkv', M: tokens(2), N: 3 * c(2), K: c(2) },
    { label: 'stage 4 mlp fc2', M: tokens(3), N: c(3), K: 4 * c(3) },
  ];
}

export async function measureMatmul(rt: Runtime, t: Target, batch: number, peak: Roofline | undefined, budget: Budget, quick: boolean): Promise<MatmulRow[]> {
  const rows: MatmulRow[] = [];
  for (const s of matmulShapes(t, batch)) {
    if (budget.exhausted()) break;
    const held: Tensor[] = [];
    try {
      const a = randomTensor(rt, [s.M, s.K], 1, 1);
      const w = randomTensor(rt, [s.N, s.K], 1, 2);
      const bias = randomTensor(rt, [s.N], 1, 3);
      held.push(a, w, bias);
      const timing = await timeWork(rt, () => { rt.withoutGrad(() => matmul(a, w, { transB: true, bias })); }, { samples: quick ? 2 : 5, maxMs: quick ? 200 : 2000 });
      const gflops = (2 * s.M * s.N * s.K) / (timing.medianMs * 1e6);
      rows.push({ target: label(t), batch, ...s, timing, gflops, ...(peak ? { ofFmaPeak: gflops / peak.gflops } : {}) });
    } catch (e) {
      rows.push({ target: label(t), batch, ...s, error: firstLine(e) });
    } finally {
      for (const x of held) x.release();
    }
  }
  return rows;
}

/** Window attention at stages 1 and 3 (V1 or V2 as the backbone is). */
export async function measureWindowAttention(rt: Runtime, t: Target, batch: number, peak: Roofline | undefined, budget: Budget, quick: boolean): Promise<AttentionRow[]> {
  const cfg = makeConfig(t.model);
  const rows: AttentionRow[] = [];
  for (const stage of [0, 2]) {
    if (budget.exhausted()) break;
    const H = stageSide(t, stage);
    const C = stageDim(cfg, stage);
    const heads = cfg.heads[stage]!;
    const ws = cfg.window;
    const shift = Math.floor(ws / 2);
    const g = windowGeometry(H, H, ws, shift);
    const pairs = batch * g.windows * heads * ws ** 4;
    const fwdFlops = 4 * pairs * (C / heads); // q·kᵀ and P·v; backward does twice that
    const row = {
      target: label(t), label: `stage ${stage + 1} ${cfg.v2 ? 'V2' : 'V1'}`, batch,
      sizes: `B=${batch} ${H}x${H}${g.Hp !== H ? `->${g.Hp}` : ''} C=${C} heads=${heads} ws=${ws}`,
    };
    const held: Tensor[] = [];
    try {
      const qkv = randomTensor(rt, [batch, H, H, 3 * C], 2, 1);
      const qkvBias = randomTensor(rt, [3 * C], 1, 2);
      const table = randomTensor(rt, [(2 * ws - 1) ** 2, heads], 1, 3);
      const logitScale = cfg.v2 ? rt.full([heads, 1, 1], Math.log(10)) : undefined;
      const dOut = randomTensor(rt, [batch, H, H, C], 1, 4);
      const params = [qkv, qkvBias, table, ...(logitScale ? [logitScale] : [])];
      held.push(...params, dOut);
      const opts = { ws, heads, shift, qkvBias, ...(logitScale ? { logitScale } : {}) };
      const o = { samples: quick ? 2 : 5, maxMs: quick ? 200 : 2000 };
      const forward = await timeWork(rt, () => { rt.withoutGrad(() => windowAttention(qkv, table, opts)); }, o);
      const forwardBackward = await timeWork(rt, () => {
        for (const p of params) p.requiresGrad = true;
        rt.backward(windowAttention(qkv, table, opts), dOut);
        rt.zeroGrad(params);
        for (const p of params) p.requiresGrad = false;
      }, o);
      const gflops = (3 * fwdFlops) / (forwardBackward.medianMs * 1e6);
      rows.push({ ...row, forward, forwardBackward, gflops, ...(peak ? { ofFmaPeak: gflops / peak.gflops } : {}) });
    } catch (e) {
      rows.push({ ...row, error: firstLine(e) });
    } finally {
      for (const x of held) x.release();
    }
  }
  return rows;
}

export interface StepSearchOptions {
  /** The search's share of `budget`, taken once the model is built. */
  share: number;
  maxBatch: number;
  /** Stop doubling when the next batch's predicted peak (twice this one's) would pass this. */
  memoryCapBytes: number;
  samples: number;
  /** A guess of one batch-1 step, from an earlier target scaled by pixels: skip a target that cannot fit the budget. */
  estimateMs?: number;
}

/**
 * Software adapters keep their buffers in host memory: cap the search at half of what is free now.
 * Hardware adapters do not tell their memory: no cap, doubling stops at the first allocation failure.
 */
export function defaultMemoryCap(software: boolean): number {
  return software ? freemem() / 2 : Infinity;
}

/** A model for the search, and how long making it took (0 when an earlier target's is reused). */
export interface BuiltModel { m: ModelUnderTest; buildSeconds: number }

export function buildForSearch(rt: Runtime, model: string): BuiltModel {
  const b0 = performance.now();
  const m = buildModel(rt, model);
  return { m, buildSeconds: (performance.now() - b0) / 1000 };
}

/**
 * Training steps at batch 1, 2, 4, ... until a step fails (out of memory, a limit), the predicted
 * peak passes the cap, the next step would not finish within the budget, or `maxBatch`.
 */
export async function searchTrainingStep(rt: Runtime, t: Target, model: BuiltModel, targetBudget: Budget, o: StepSearchOptions): Promise<StepSearch> {
  const rows: StepRow[] = [];
  const { m, buildSeconds } = model;
  const budget = targetBudget.share(o.share);
  let stoppedBy = `reached the largest batch tried (${o.maxBatch})`;
  let last: StepRow | undefined;
  let k = 0;
  try {
    for (let batch = 1; batch <= o.maxBatch; batch *= 2) {
      if (last?.timing && last.peakBytes !== undefined && 2 * last.peakBytes > o.memoryCapBytes) {
        stoppedBy = `batch ${batch} would need about ${(2 * last.peakBytes / 2 ** 30).toFixed(1)} GiB, above the cap of ${(o.memoryCapBytes / 2 ** 30).toFixed(1)} GiB`;
        break;
      }
      // a warm-up and the samples, each about twice the last batch's step
      if (last?.timing && 2 * last.timing.medianMs * (1 + o.samples) > budget.remainingMs()) {
        stoppedBy = `time budget: batch ${batch} would take about ${((2 * last.timing.medianMs * (1 + o.samples)) / 1000).toFixed(0)} s`;
        break;
      }
      if (budget.exhausted()) { stoppedBy = `time budget (building the model took ${buildSeconds.toFixed(0)} s)`; break; }
      if (!last && o.estimateMs !== undefined && o.estimateMs * (2 + o.samples) > budget.remainingMs()) {
        stoppedBy = `time budget: a step is estimated at ${(o.estimateMs / 1000).toFixed(0)} s from the previous target, ` +
          `${((o.estimateMs * (2 + o.samples)) / 1000).toFixed(0)} s with the warm-up; ${(budget.remainingMs() / 1000).toFixed(0)} s left`;
        break;
      }
      const data = syntheticBatch(t.res, batch, m.classes, 7);
      try {
        const w0 = performance.now();
        await m.trainer.step(data, t.res, 0, k++); // warm-up: compiles, fills the pool
        const warmMs = performance.now() - w0;
        if (warmMs > budget.remainingMs()) {
          rows.push({ target: label(t), batch, warmupMs: warmMs, skipped: `the warm-up step took ${(warmMs / 1000).toFixed(0)} s (with compilation); no time left to time one` });
          stoppedBy = 'time budget';
          break;
        }
        rt.pool.resetPeak();
        const per: number[] = [];
        while (per.length < o.samples) {
          const s0 = performance.now();
          await m.trainer.step(data, t.res, 0, k++);
          per.push(performance.now() - s0);
          if (budget.exhausted()) break;
        }
        const timing = summary(per);
        last = { target: label(t), batch, timing, warmupMs: warmMs, imagesPerSec: (1000 * batch) / timing.medianMs, peakBytes: rt.memory().bytesPeak };
        rows.push(last);
      } catch (e) {
        rows.push({ target: label(t), batch, error: firstLine(e) });
        stoppedBy = `batch ${batch} does not fit: ${firstLine(e)}`;
        break;
      }
    }
  } finally {
    await rt.sync().catch(() => undefined);
    rt.pool.trim();
  }
  return { target: label(t), rows, largestBatch: last?.batch ?? 0, stoppedBy, buildSeconds };
}

/** Host facts for the report. */
export function hostFacts(): { cpus: number; cpuModel: string; freeMemoryBytes: number } {
  const c = cpus();
  return { cpus: c.length, cpuModel: c[0]?.model ?? '?', freeMemoryBytes: freemem() };
}
