import { type BenchContext, type BenchRow } from '../lib.js';
export declare function inputSuite(ctx: BenchContext): Promise<BenchRow[]>;
