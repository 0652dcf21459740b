import type { BenchRow } from './lib.js';
type RGB = [number, number, number];
export declare const SERIES: {
    key: 'ours' | 'tfjs-webgpu' | 'torch-cpu';
    label: string;
    color: RGB;
}[];
export interface MatmulGroup {
    label: string;
    gflops: Partial<Record<(typeof SERIES)[number]['key'], number>>;
}
/** The peers suite's matmul rows, grouped per case: `matmul <case> ours|tfjs-webgpu|torch-cpu`. */
export declare function matmulGroups(rows: readonly BenchRow[]): MatmulGroup[];
/** Draws the grouped bar chart; returns false (and writes nothing) when there is nothing to draw. */
export declare function writeMatmulChart(rows: readonly BenchRow[], title: string, file: string): boolean;
export {};
