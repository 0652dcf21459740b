// segface-webgpu/train: training SegFace. Datasets (synthetic faces, CelebAMask-HQ, LaPa, Helen),
// image input, the official metrics, AdamW with MultiStepLR or warm-up + cosine, the recipes (presets), checkpoints, and TrainingRun, which
// owns a whole run (the `segface train` command is a thin wrapper over it).
export { TrainingRun, SettingsError, type TrainingRunOptions, type RunResult, type StepRecord } from './run.js';
export { TRAIN_DEFAULTS, withDefaults, type ScheduleKind, type TrainRecipe, type TrainSettings } from './defaults.js';
export { PRESETS } from './presets.js';
export { Trainer, type StepResult } from './trainer.js';
export { AdamW, type AdamWOptions } from '../runtime/ops/adamw.js';
export { MultiStepLR, WarmupCosineLR, type LrSchedule } from './schedule.js';
export { ConfusionMatrix, HELEN_MERGES, IGNORE_LABEL, type MetricResults } from './metrics.js';
export { CHECKPOINT_FILE, loadCheckpoint, officialCheckpoint, saveCheckpoint, type LoadedCheckpoint, type TrainState } from './checkpoint.js';
export { epochBatches, makeBatch, type Batch, type Dataset, type Sample } from './data/dataset.js';
export { SyntheticDataset } from './data/synthetic_dataset.js';
export { FileDataset, type BadSamplePolicy, type SkippedSample, type Split } from './data/file_dataset.js';
export { openDataset, openFromSpec, validationSplit, type DatasetSpec } from './data/open.js';
export { BatchPrefetcher } from './data/prefetch.js';
export { setupWorld, World } from './dist/launch.js';
export { decodeImage, decodeLabelMap, decodeJpeg, encodePng, JPEG_WASM_SPECIFIER, loadJpegDecoder, maskToColor, overlay, PALETTES, readImage, readLabelMap, resizeBicubicPIL, resizeNearestPIL, toNormalizedCHW, withLegend, useJpegWasm, writePng } from './image/index.js';
export { landmarksAtResolution, parseLandmarkSets } from './data/landmarks.js';
