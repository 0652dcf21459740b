import type { DispatchTiming, ProfileMode } from '../src/runtime/batch.js';
import type { Runtime } from '../src/runtime/runtime.js';
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
export declare function aggregate(timings: readonly DispatchTiming[]): OpStat[];
/** Dawn quantizes timestamps unless told not to; returns the quantum (ns) if every time is a multiple of it. */
export declare function timestampQuantumNs(timings: readonly DispatchTiming[]): number | null;
export interface TraceMeta {
    adapter: string;
    what: string;
    mode: ProfileMode;
    [key: string]: unknown;
}
export interface ChromeTrace {
    traceEvents: {
        name: string;
        cat?: string;
        ph: string;
        ts?: number;
        dur?: number;
        pid: number;
        tid: number;
        args?: Record<string, unknown>;
    }[];
    displayTimeUnit: 'ms';
    otherData: TraceMeta & {
        dispatches: number;
        gpuMs: number;
        top: OpStat[];
    };
}
/** A Chrome trace-event JSON object: one complete event per dispatch, ts/dur in µs. */
export declare function chromeTrace(timings: readonly DispatchTiming[], meta: TraceMeta, top?: number): ChromeTrace;
export declare function formatTop(stats: readonly OpStat[], n?: number): string;
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
export declare function runProfile(rt: Runtime, opts: ProfileOptions): Promise<ChromeTrace>;
