import { type BenchContext, type BenchRow } from '../lib.js';
export declare function attentionSuite(ctx: BenchContext): Promise<BenchRow[]>;
