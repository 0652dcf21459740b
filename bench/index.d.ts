declare const DEFAULT_SUITES: string[];
/** Flags of `segface bench` (src/cli/commands/bench.ts). */
export interface BenchOptions {
    suites: string[];
    full: boolean;
    quick: boolean;
    json?: string;
    adapter?: number | string;
    python?: string;
    profile?: string;
    trace?: string;
    model: string;
    res: number;
    batch: number;
}
export declare const SUITE_NAMES: string[];
export { DEFAULT_SUITES };
export declare function runBench(values: BenchOptions): Promise<number>;
