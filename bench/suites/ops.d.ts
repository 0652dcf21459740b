import { type BenchContext, type BenchRow } from '../lib.js';
export declare function opsSuite(ctx: BenchContext): Promise<BenchRow[]>;
