// `npm run bench -- --profile step|forward`: where a training step (or a forward) spends its GPU
// time, per op. Every dispatch is timed through the command batch's opt-in profiler
// (CommandBatch.startProfiling): device timestamps around each dispatch's own compute pass where the
// device has 'timestamp-query', otherwise a host-timed mode that submits each dispatch alone.
// Prints the top ops by GPU time and writes a Chrome trace (chrome://tracing, ui.perfetto.dev):
// one complete event ('X', µs) per dispatch, named by op, args = the kernel, its uniform
// parameters (the sizes) and its workgroup grid; `otherData` holds the summary bench/README.md shows.
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import { segfaceForward } from '../src/model/segface.js';
import { gemmScratch, gemmShapeOfDispatch, matmulChoice } from '../src/runtime/ops/matmul.js';
import type { DispatchTiming, ProfileMode } from '../src/runtime/batch.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { buildModel, syntheticBatch } from '../src/train/synthetic_step.js';

export interface OpStat {
  op: string;
  count: number;
  totalMs: number;
  /** Share of the summed GPU time of all dispatches. */
  share: number;
  meanMs: number;
  maxMs: number;
  kernels: string[];
}

/** Per-op totals, largest first. */
export function aggregate(timings: readonly DispatchTiming[]): OpStat[] {
  const byOp = new Map<string, { count: number; totalMs: number; maxMs: number; kernels: Set<string> }>();
  let all = 0;
  for (const t of timings) {
    const s = byOp.get(t.op) ?? { count: 0, totalMs: 0, maxMs: 0, kernels: new Set<string>() };
    s.count++;
    s.totalMs += t.durationMs;
    s.maxMs = Math.max(s.maxMs, t.durationMs);
    s.kernels.add(t.kernel.replace(/ \(.*\)$/, ''));
    byOp.set(t.op, s);
    all += t.durationMs;
  }
  return [...byOp.entries()]
    .map(([op, s]) => ({ op, count: s.count, totalMs: s.totalMs, share: all > 0 ? s.totalMs / all : 0, meanMs: s.totalMs / s.count, maxMs: s.maxMs, kernels: [...s.kernels].sort() }))
    .sort((a, b) => b.totalMs - a.totalMs || a.op.localeCompare(b.op));
}

/** Dawn quantizes timestamps unless told not to; returns the quantum (ns) if every time is a multiple of it. */
export function timestampQuantumNs(timings: readonly DispatchTiming[]): number | null {
  const quantum = 65536;
  const nonzero = timings.filter((t) => t.durationMs > 0);
  if (nonzero.length < 8) return null;
  const onGrid = nonzero.every((t) => { const q = (t.durationMs * 1e6) / quantum; return Math.abs(q - Math.round(q)) < 1e-3; });
  return onGrid ? quantum : null;
}

export interface TraceMeta {
  adapter: string;
  what: string;
  mode: ProfileMode;
  [key: string]: unknown;
}

export interface ChromeTrace {
  traceEvents: { name: string; cat?: string; ph: string; ts?: number; dur?: number; pid: number; tid: number; args?: Record<string, unknown> }[];
  displayTimeUnit: 'ms';
  otherData: TraceMeta & { dispatches: number; gpuMs: number; top: OpStat[] };
}

/** ms -> µs, to the ns. */
const us = (ms: number): number => Math.round(ms * 1e6) / 1000;

/** A Chrome trace-event JSON object: one complete event per dispatch, ts/dur in µs. */
export function chromeTrace(timings: readonly DispatchTiming[], meta: TraceMeta, top = 15): ChromeTrace {
  const lane = meta.mode === 'timestamp' ? 'GPU queue (device timestamps)' : 'GPU queue (host-timed, one submit per dispatch)';
  return {
    traceEvents: [
      { name: 'process_name', ph: 'M', pid: 1, tid: 1, args: { name: `segface-webgpu on ${meta.adapter}` } },
      { name: 'thread_name', ph: 'M', pid: 1, tid: 1, args: { name: lane } },
      ...timings.map((t, i) => ({
        name: t.op, cat: 'dispatch', ph: 'X', ts: us(t.startMs), dur: us(t.durationMs), pid: 1, tid: 1,
        args: { index: i, kernel: t.kernel, params: t.params, ...(Object.keys(t.constants).length ? { constants: t.constants } : {}), grid: t.grid, batch: t.batch },
      })),
    ],
    displayTimeUnit: 'ms',
    otherData: { ...meta, dispatches: timings.length, gpuMs: timings.reduce((a, t) => a + t.durationMs, 0), top: aggregate(timings).slice(0, top) },
  };
}

export function formatTop(stats: readonly OpStat[], n = 15): string {
  const rows = stats.slice(0, n).map((s, i) => [
    String(i + 1), s.op, String(s.count), s.totalMs.toFixed(2), `${(100 * s.share).toFixed(1)} %`, s.meanMs.toFixed(3), s.kernels.join(', '),
  ]);
  const header = ['#', 'op', 'count', 'total ms', 'share', 'mean ms', 'kernels'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 || (i >= 2 && i <= 5) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/**
 * "Matmul inside the step against the same shapes alone": the step's matmul dispatches grouped by
 * problem (kernel, sizes, constants, grid), each problem then run again alone on scratch operands
 * (REPS_ALONE times, median), timed the same way (its own pass). ratio = Σ in-step ms / Σ (count ·
 * alone ms): 1 means the step costs matmul nothing extra (cold caches, neighbours' traffic).
 * ratioMedian uses each problem's median in-step time instead of the sum: a shared machine's load
 * bursts hit single dispatches, which the sum counts and the median mostly does not.
 */
export interface MatmulInStep {
  problems: number;
  dispatches: number;
  inStepMs: number;
  aloneMs: number;
  ratio: number;
  ratioMedian: number;
  /** The problems with the most in-step time: op, sizes, in-step ms (all its dispatches), alone ms (one run), count. */
  top: { op: string; shape: string; count: number; inStepMs: number; aloneMs: number }[];
}

const REPS_ALONE = 5;

export async function matmulInStep(rt: Runtime, timings: readonly DispatchTiming[]): Promise<MatmulInStep> {
  const groups = new Map<string, { t: DispatchTiming; ms: number[] }>();
  for (const t of timings) {
    if (!t.kernel.startsWith('matmul_')) continue;
    const key = JSON.stringify([t.kernel, t.params, t.constants, t.grid]);
    const g = groups.get(key) ?? { t, ms: [] };
    g.ms.push(t.durationMs);
    groups.set(key, g);
  }
  let inStepMs = 0;
  let aloneMs = 0;
  let dispatches = 0;
  let medianMs = 0;
  const rows: MatmulInStep['top'] = [];
  for (const { t, ms } of groups.values()) {
    const shape = gemmShapeOfDispatch(t.params, t.constants, t.grid, t.kernel.includes(', f16)') ? 'f16' : 'f32');
    const kernel = matmulChoice(rt, shape);
    const scratch = gemmScratch(rt, shape);
    let alone: number[];
    try {
      await rt.sync();
      scratch.run(kernel);   // compiled already; warms the scratch
      await rt.sync();
      rt.batch.startProfiling();
      try {
        for (let i = 0; i < REPS_ALONE; i++) scratch.run(kernel);
      } finally {
        alone = (await rt.batch.stopProfiling()).filter((d) => d.kernel.startsWith('matmul_')).map((d) => d.durationMs);
      }
    } finally {
      scratch.dispose();
    }
    const one = median(alone);
    const sum = ms.reduce((a, b) => a + b, 0);
    medianMs += median(ms) * ms.length;
    inStepMs += sum;
    aloneMs += one * ms.length;
    dispatches += ms.length;
    rows.push({ op: t.op, shape: `M=${shape.M} N=${shape.N} K=${shape.K} batch=${shape.batch}`, count: ms.length, inStepMs: sum, aloneMs: one });
  }
  rows.sort((a, b) => b.inStepMs - a.inStepMs);
  return { problems: groups.size, dispatches, inStepMs, aloneMs, ratio: inStepMs / aloneMs, ratioMedian: medianMs / aloneMs, top: rows.slice(0, 8) };
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export interface ProfileOptions {
  what: 'step' | 'forward';
  backbone: string;
  res: number;
  batch: number;
  /** Where the Chrome trace goes. */
  out: string;
  mode?: ProfileMode;
}

/** Profiles one warm training step (or forward) and writes the trace; returns it. */
export async function runProfile(rt: Runtime, opts: ProfileOptions): Promise<ChromeTrace> {
  const m = buildModel(rt, opts.backbone);
  const batch = syntheticBatch(opts.res, opts.batch, m.classes, 7);
  let k = 0;
  const once = async (): Promise<void> => {
    if (opts.what === 'step') {
      await m.trainer.step(batch, opts.res, 0, k++);
    } else {
      rt.withoutGrad(() => rt.scope(() => {
        const images = rt.tensor(batch.images, [opts.batch, 3, opts.res, opts.res]);
        segfaceForward(m.params, images);
      }));
      await rt.sync();
    }
  };
  await once(); // warm-up: pipelines compiled, pool filled
  await rt.tunePending(); // with tuning on: every unit met measured (a step's readback already did)
  const t0 = performance.now();
  await once();
  const wallMs = performance.now() - t0;
  const mode = rt.batch.startProfiling(opts.mode);
  const p0 = performance.now();
  let timings: DispatchTiming[];
  try {
    await once();
  } finally {
    timings = await rt.batch.stopProfiling();
  }
  const profiledWallMs = performance.now() - p0;
  m.release();
  const inStep = await matmulInStep(rt, timings);
  const quantum = mode === 'timestamp' ? timestampQuantumNs(timings) : null;
  const what = `${opts.backbone} ${opts.res} px batch ${opts.batch} ${opts.what === 'step' ? 'training step (forward + loss + backward + AdamW)' : 'forward (no grad)'}`;
  const timing = mode === 'timestamp'
    ? `device timestamps around each dispatch's own compute pass${quantum ? ` (Dawn quantizes timestamps to ${(quantum / 1000).toFixed(1)} µs: single short dispatches are coarse, per-op totals are not biased)` : ''}`
    : "host-timed: the device has no 'timestamp-query', so each dispatch was submitted alone and timed from the previous completion to its own (includes ~0.1 ms of submit overhead each)";
  const trace = chromeTrace(timings, {
    adapter: rt.device.name, what, mode, timing, backbone: opts.backbone, res: opts.res, batch: opts.batch, step: opts.what,
    wallMs, profiledWallMs, quantumNs: quantum, date: new Date().toISOString(), matmulInStep: inStep,
    load: loadavg().map((l) => l.toFixed(2)).join(' '),   // 1/5/15-minute load average: how shared the CPU (a software adapter) was
  });
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, JSON.stringify(trace) + '\n');
  const o = trace.otherData;
  console.log(`profile: ${what} on ${rt.device.name}`);
  console.log(`  ${o.dispatches} dispatches, ${o.gpuMs.toFixed(1)} ms of GPU time; unprofiled wall ${wallMs.toFixed(1)} ms, profiled wall ${profiledWallMs.toFixed(1)} ms`);
  console.log(`  GPU idle between dispatches (unprofiled wall − summed dispatch time): ${Math.max(0, wallMs - o.gpuMs).toFixed(1)} ms (${(100 * Math.max(0, wallMs - o.gpuMs) / wallMs).toFixed(1)} % of the step)`);
  console.log(`  timing: ${timing}`);
  console.log(`  matmul inside the step ÷ the same problems alone: ${inStep.ratio.toFixed(3)}, by per-problem medians ${inStep.ratioMedian.toFixed(3)} (${inStep.dispatches} dispatches of ${inStep.problems} problems: ${inStep.inStepMs.toFixed(1)} ms in the step, ${inStep.aloneMs.toFixed(1)} ms alone, median of ${REPS_ALONE} runs each; goal ≤ 1.10)`);
  console.log(formatTop(aggregate(timings), 15));
  console.log(`trace: ${opts.out} (open in chrome://tracing or ui.perfetto.dev)`);
  return trace;
}
