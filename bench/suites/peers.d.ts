import { type BenchContext, type BenchRow } from '../lib.js';
export declare function peersSuite(ctx: BenchContext): Promise<BenchRow[]>;
