// segface-webgpu/model: SegFace on the runtime. Configs, weights from files (official .pt,
// safetensors state dicts, training checkpoints) with the config inferred from the shapes, the
// forward, and the forward to class maps.
export { BACKBONES, CLASS_NAMES, makeConfig, stateDictSpec, type Dataset, type SegFaceConfig } from './config.js';
export { checkStateDict, inferConfig, loadParams, ParamStore, syntheticParams, syntheticStateDict, type HostTensor } from './params.js';
export { loadWeightsFile, readStateDict, readStateDictFrom } from './weights_file.js';
export { segfaceForward, type SegFaceOptions } from './segface.js';
export { predict, segfaceClasses, type ClassesOptions, type ClassMaps } from './classes.js';
export { lapaFivePoints, lapaTemplate } from './warp.js';
