import type { Tensor } from '../../src/runtime/tensor.js';
import { type BenchContext, type BenchRow } from '../lib.js';
interface Shape {
    name: string;
    B: number;
    H: number;
    W: number;
    C: number;
    heads: number;
    ws: number;
    shift: number;
    v2: boolean;
    full?: boolean;
}
/** V1 window attention from the engine's layout, matmul, elementwise and softmax ops. */
export declare function unfusedWindowAttention(qkv: Tensor, consts: {
    bias: Tensor;
    mask: Tensor | null;
}, s: Shape): Tensor;
export declare function windowAttentionSuite(ctx: BenchContext): Promise<BenchRow[]>;
export {};
