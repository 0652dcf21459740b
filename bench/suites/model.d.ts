import { type SegFaceConfig } from '../../src/model/config.js';
import { type ParamStore } from '../../src/model/params.js';
import { AdamW } from '../../src/runtime/ops/adamw.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import type { Batch } from '../../src/train/data/dataset.js';
import { Trainer } from '../../src/train/trainer.js';
import { type BenchContext, type BenchRow } from '../lib.js';
export interface ModelConfig {
    backbone: string;
    res: number;
    batch: number;
    full?: boolean;
    samples: number;
}
export declare const MODEL_CONFIGS: ModelConfig[];
/** A normalised-looking random image batch with random labels over the config's classes. */
export declare function syntheticBatch(res: number, batch: number, classes: number, seed: number): Batch;
export interface ModelUnderTest {
    cfg: SegFaceConfig;
    params: ParamStore;
    optim: AdamW;
    trainer: Trainer;
    classes: number;
    release(): void;
}
/** Synthetic weights, AdamW (lr 1e-4, weight decay 1e-5) and a Trainer without stochastic depth. */
export declare function buildModel(rt: Runtime, backbone: string, seed?: number): ModelUnderTest;
export declare function modelSuite(ctx: BenchContext): Promise<BenchRow[]>;
