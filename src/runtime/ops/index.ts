// Every op of the runtime, one module per op family (forward and backward side by side); the package's `ops` namespace.
export * from './activation.js';
export * from './adamw.js';
export * from './argmax.js';
export * from './attention.js';
export * from './conv.js';
export * from './droppath.js';
export * from './elementwise.js';
export * from './layernorm.js';
export * from './layout.js';
export * from './loss.js';
export * from './matmul.js';
export * from './mlp.js';
export * from './reduce.js';
export * from './resample.js';
export * from './softmax.js';
export * from './vision.js';
export * from './window_attention.js';
