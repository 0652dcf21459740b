import type { Runtime } from '../../src/runtime/runtime.js';
import { type Timing } from '../lib.js';
type Tf = typeof import('@tensorflow/tfjs-core');
type Backend = import('@tensorflow/tfjs-backend-webgpu').WebGPUBackend;
export interface TfjsPeer {
    tf: Tf;
    backend: Backend;
    /** e.g. `tfjs-core 4.22.0, WebGPU backend on the engine's device`. */
    describe: string;
    /** Submits TF.js's pending commands and waits for the queue. */
    sync(): Promise<void>;
    /** Times `run` (called inside tf.tidy `reps` times per sample) like the engine's timeGpu. */
    time(run: () => void, opts?: {
        reps?: number;
        minSamples?: number;
        maxTime?: number;
    }): Promise<Timing>;
    dispose(): void;
}
/** Loads TF.js on the runtime's device, or returns why it cannot. */
export declare function openTfjs(rt: Runtime): Promise<TfjsPeer | {
    why: string;
}>;
export {};
