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
  const quantum = mode === 'timestamp' ? timestampQuantumNs(timings) : null;
  const what = `${opts.backbone} ${opts.res} px batch ${opts.batch} ${opts.what === 'step' ? 'training step (forward + loss + backward + AdamW)' : 'forward (no grad)'}`;
  const timing = mode === 'timestamp'
    ? `device timestamps around each dispatch's own compute pass${quantum ? ` (Dawn quantizes timestamps to ${(quantum / 1000).toFixed(1)} µs: single short dispatches are coarse, per-op totals are not biased)` : ''}`
    : "host-timed: the device has no 'timestamp-query', so each dispatch was submitted alone and timed from the previous completion to its own (includes ~0.1 ms of submit overhead each)";
  const trace = chromeTrace(timings, {
    adapter: rt.device.name, what, mode, timing, backbone: opts.backbone, res: opts.res, batch: opts.batch, step: opts.what,
    wallMs, profiledWallMs, quantumNs: quantum, date: new Date().toISOString(),
    load: loadavg().map((l) => l.toFixed(2)).join(' '),   // 1/5/15-minute load average: how shared the CPU (a software adapter) was
  });
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, JSON.stringify(trace) + '\n');
  const o = trace.otherData;
  console.log(`profile: ${what} on ${rt.device.name}`);
  console.log(`  ${o.dispatches} dispatches, ${o.gpuMs.toFixed(1)} ms of GPU time; unprofiled wall ${wallMs.toFixed(1)} ms, profiled wall ${profiledWallMs.toFixed(1)} ms`);
  console.log(`  GPU idle between dispatches (unprofiled wall − summed dispatch time): ${Math.max(0, wallMs - o.gpuMs).toFixed(1)} ms (${(100 * Math.max(0, wallMs - o.gpuMs) / wallMs).toFixed(1)} % of the step)`);
  console.log(`  timing: ${timing}`);
  console.log(formatTop(aggregate(timings), 15));
  console.log(`trace: ${opts.out} (open in chrome://tracing or ui.perfetto.dev)`);
  return trace;
}
