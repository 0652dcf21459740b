import type { Timing } from '../lib.js';
export declare const DEFAULT_PYTHON: string;
export type TorchCase = {
    kind: 'matmul';
    M: number;
    N: number;
    K: number;
    transA?: boolean;
    transB?: boolean;
    bias?: boolean;
} | {
    kind: 'softmax' | 'layernorm';
    rows: number;
    cols: number;
} | {
    kind: 'conv';
    B: number;
    C: number;
    H: number;
    W: number;
    E: number;
    k: number;
    stride: number;
    bias?: boolean;
} | {
    kind: 'segface';
    backbone: string;
    dataset?: string;
    res: number;
    batch: number;
    mode: 'forward' | 'step';
};
export type TorchCaseOptions = {
    samples?: number;
    warmup?: number;
    minMs?: number;
};
export type TorchResult = ({
    ok: true;
} & Timing) | {
    ok: false;
    why: string;
};
export interface TorchRun {
    /** One result per case, in order. */
    results: TorchResult[];
    /** e.g. `torch 1.13.0a0, 2 threads, openblas-pthread/libblas.so.3, OMP_WAIT_POLICY=PASSIVE`. */
    describe: string;
}
/** Runs the cases in one python process; never throws (every result says why when it failed). */
export declare function runTorch(cases: (TorchCase & TorchCaseOptions)[], opts?: {
    python?: string;
    timeoutMs?: number;
}): Promise<TorchRun>;
