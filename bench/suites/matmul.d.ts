import { type BenchContext, type BenchRow } from '../lib.js';
export interface MatmulConfig {
    label: string;
    M: number;
    N: number;
    K: number;
    transA?: boolean;
    transB?: boolean;
    bias?: boolean;
    full?: boolean;
    /** Samples for the naive kernel (it is slow at large sizes) and for the others (default 5). */
    naiveSamples?: number;
    samples?: number;
}
export declare const SQUARE: MatmulConfig[];
export declare const SEGFACE: MatmulConfig[];
export declare const TRANSPOSED: MatmulConfig[];
export declare function matmulSuite(ctx: BenchContext): Promise<BenchRow[]>;
