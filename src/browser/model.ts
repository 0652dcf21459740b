// segface-webgpu/model in a browser: the same exports as in Node. Weights come from a File, Blob,
// ArrayBuffer or URL through readStateDictFrom (official .pt read lazily, safetensors);
// loadWeightsFile and readStateDict take a path and say so in a page.
import './kernels.js';

export * from '../model/index.js';
