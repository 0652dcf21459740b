import { type BenchContext, type BenchRow } from '../lib.js';
export interface Roofline {
    gflops: number;
    copyGBps: number;
    readGBps: number;
}
export declare function rooflineSuite(ctx: BenchContext): Promise<{
    rows: BenchRow[];
    peak: Roofline;
}>;
