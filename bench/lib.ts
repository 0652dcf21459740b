// Shared pieces of the benchmarks: timing GPU work with benchmark.js and the row format.
//
// A timed sample records `reps` repetitions of the work into the command batch and waits for the
// GPU once (`rt.sync()`), so the figure is device time plus the batched-dispatch overhead a
// training step also pays, never a per-op submit/await round trip.
import Benchmark from 'benchmark';
import type { Runtime } from '../src/runtime/runtime.js';

export interface BenchRow {
  suite: string;
  name: string;
  adapter: string;
  /** Human-readable sizes, e.g. `M=1024 N=1024 K=1024`. */
  sizes: string;
  dtype: string;
  /** Milliseconds per repetition: median, and min/max over samples. */
  medianMs: number;
  minMs: number;
  maxMs: number;
  samples: number;
  gflops?: number;
  gbps?: number;
  /** Named ratios measured in the same run, e.g. `vs_naive`, `of_fma_peak`. */
  ratios: Record<string, number>;
  note?: string;
  /** When the row was measured, if not in the run that wrote the file (kept from an earlier run). */
  date?: string;
  /** Who ran it when not this engine: `tfjs-webgpu` (same adapter) or `torch-cpu`. */
  peer?: string;
  /** Whole-model rows: images per second and the pool's peak bytes during the measurement. */
  imagesPerSec?: number;
  peakBytes?: number;
  /** Set when the measurement could not run: why (timings are then NaN). */
  unavailable?: string;
}

export interface BenchContext {
  rt: Runtime;
  /** `--full`: include the big (GPU-sized) configurations. */
  full: boolean;
  /** Extra time budget factor (quick runs use fewer samples). */
  quick: boolean;
  /** Python with torch for the PyTorch peer (default /usr/bin/python3 or $SEGFACE_PYTHON). */
  python?: string;
}

export interface Timing { medianMs: number; minMs: number; maxMs: number; samples: number }

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Times `run` (which resolves when its work is done) with benchmark.js: one call per cycle, at
 * least `minSamples` cycles, then more while under `maxTime` seconds. Returns milliseconds per
 * call divided by `perCall` (the repetitions one call does). No warm-up: callers do their own.
 */
export async function timeAsync(run: () => Promise<void>, opts: { perCall?: number; minSamples?: number; maxTime?: number } = {}): Promise<Timing> {
  const perCall = opts.perCall ?? 1;
  let failure: unknown;
  const bench = new Benchmark({
    defer: true,
    minSamples: opts.minSamples ?? 5,
    maxTime: opts.maxTime ?? 2,
    initCount: 1,
    minTime: 0,
    fn: (deferred: { resolve(): void }) => {
      run().then(() => deferred.resolve(), (e: unknown) => { failure ??= e; deferred.resolve(); });
    },
  });
  await new Promise<void>((resolve, reject) => {
    bench.on('complete', () => resolve());
    bench.on('error', () => reject(bench.error));
    bench.run({ async: true });
  });
  if (failure) throw failure;
  const per = bench.stats.sample.map((s: number) => (s * 1000) / perCall);
  return { medianMs: median(per), minMs: Math.min(...per), maxMs: Math.max(...per), samples: per.length };
}

/**
 * Times `record` (which only records GPU work) with benchmark.js: each cycle records it `reps`
 * times and waits for the GPU once. Returns milliseconds per repetition.
 */
export async function timeGpu(rt: Runtime, record: () => void, opts: { reps?: number; minSamples?: number; maxTime?: number } = {}): Promise<Timing> {
  const reps = opts.reps ?? 1;
  // Warm up: compile pipelines and fill the pool outside the timed region.
  rt.scope(() => { record(); });
  await rt.sync();
  return timeAsync(() => {
    rt.scope(() => { for (let i = 0; i < reps; i++) record(); });
    return rt.sync();
  }, { perCall: reps, minSamples: opts.minSamples, maxTime: opts.maxTime });
}

/** A row for a measurement that could not run: no timings, and `unavailable` says why. */
export function unavailableRow(ctx: BenchContext, r: Pick<BenchRow, 'suite' | 'name' | 'sizes'> & { dtype?: string; why: string }): BenchRow {
  return {
    suite: r.suite, name: r.name, sizes: r.sizes, dtype: r.dtype ?? 'f32', adapter: ctx.rt.device.name,
    medianMs: NaN, minMs: NaN, maxMs: NaN, samples: 0, ratios: {}, unavailable: r.why,
  };
}

/** Formats a possibly missing number (NaN becomes null in the JSON files). */
export function fmt(x: number | null | undefined, digits = 2): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);
}

export function row(ctx: BenchContext, r: Omit<BenchRow, 'adapter' | 'ratios'> & { ratios?: Record<string, number> }): BenchRow {
  return { ...r, adapter: ctx.rt.device.name, ratios: r.ratios ?? {} };
}
