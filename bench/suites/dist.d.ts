import type { BenchContext, BenchRow } from '../lib.js';
export declare function distSuite(ctx: BenchContext): Promise<BenchRow[]>;
