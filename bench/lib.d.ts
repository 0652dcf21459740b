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
export interface Timing {
    medianMs: number;
    minMs: number;
    maxMs: number;
    samples: number;
}
/**
 * Times `run` (which resolves when its work is done) with benchmark.js: one call per cycle, at
 * least `minSamples` cycles, then more while under `maxTime` seconds. Returns milliseconds per
 * call divided by `perCall` (the repetitions one call does). No warm-up: callers do their own.
 */
export declare function timeAsync(run: () => Promise<void>, opts?: {
    perCall?: number;
    minSamples?: number;
    maxTime?: number;
}): Promise<Timing>;
/**
 * Times `record` (which only records GPU work) with benchmark.js: each cycle records it `reps`
 * times and waits for the GPU once. Returns milliseconds per repetition.
 */
export declare function timeGpu(rt: Runtime, record: () => void, opts?: {
    reps?: number;
    minSamples?: number;
    maxTime?: number;
}): Promise<Timing>;
/** A row for a measurement that could not run: no timings, and `unavailable` says why. */
export declare function unavailableRow(ctx: BenchContext, r: Pick<BenchRow, 'suite' | 'name' | 'sizes'> & {
    dtype?: string;
    why: string;
}): BenchRow;
/** Formats a possibly missing number (NaN becomes null in the JSON files). */
export declare function fmt(x: number | null | undefined, digits?: number): string;
export declare function row(ctx: BenchContext, r: Omit<BenchRow, 'adapter' | 'ratios'> & {
    ratios?: Record<string, number>;
}): BenchRow;
