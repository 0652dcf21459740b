// segface-webgpu/train in a browser: what a page can use of the training side. The Trainer (one
// optimisation step), AdamW and MultiStepLR, the synthetic faces and batching, the official
// metrics and checkpoint layout, image decoding (PNG and JPEG, the same decoders as in Node),
// Pillow-exact resizing, overlays and landmarks. Left out, as they need Node: TrainingRun (a
// run's files and signals), file datasets, the prefetcher, data parallelism over MPI, and the
// path-based readers and writers (readImage, readLabelMap, writePng).
import jpegWasmUrl from '@cwasm/jpeg-turbo/jpeg-turbo.wasm?url';
import { loadJpegDecoder as loadFrom } from '../train/image/jpeg.js';
import './kernels.js';

export { TRAIN_DEFAULTS, withDefaults, type TrainRecipe, type TrainSettings } from '../train/defaults.js';
export { Trainer, type StepResult } from '../train/trainer.js';
export { AdamW, type AdamWOptions } from '../runtime/ops/adamw.js';
export { MultiStepLR } from '../train/schedule.js';
export { ConfusionMatrix, HELEN_MERGES, IGNORE_LABEL, type MetricResults } from '../train/metrics.js';
export { CHECKPOINT_VERSION, officialCheckpoint, type LoadedCheckpoint, type TrainState } from '../train/checkpoint.js';
export { epochBatches, makeBatch, type Batch, type Dataset, type Sample } from '../train/data/dataset.js';
export { SyntheticDataset } from '../train/data/synthetic_dataset.js';
export { landmarksAtResolution, parseLandmarkSets } from '../train/data/landmarks.js';
export {
  decodeImage, decodeLabelMap, decodeJpeg, encodePng, JPEG_WASM_SPECIFIER, maskToColor, overlay, PALETTES,
  resizeBicubicPIL, resizeNearestPIL, toNormalizedCHW, withLegend, useJpegWasm,
} from '../train/image/index.js';

/**
 * Compiles the JPEG decoder (libjpeg-turbo in WebAssembly) before the first JPEG is decoded: by
 * default from the .wasm file this bundle ships; `source` may give another URL or the bytes.
 */
export function loadJpegDecoder(source: string | URL | ArrayBuffer | Uint8Array = jpegWasmUrl): Promise<void> {
  return loadFrom(source);
}
