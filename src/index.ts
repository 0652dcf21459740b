// segface-webgpu: the runtime. A WebGPU device with a buffer pool, batched command submission,
// an autograd tape, and every op as a hand-written WGSL kernel with its backward.
//
//   import { Runtime, ops } from 'segface-webgpu';
//   const rt = await Runtime.create();
//   const c = ops.matmul(rt.tensor([1, 2, 3, 4, 5, 6], [2, 3]), rt.tensor([7, 8, 9, 10, 11, 12], [3, 2]));
//   await c.read();   // Float32Array [58, 64, 139, 154]
//
// The model is in 'segface-webgpu/model', training in 'segface-webgpu/train'.
export { Runtime, type RuntimeOptions } from './runtime/runtime.js';
export { Tensor, shapeStr, sizeOf, type DType } from './runtime/tensor.js';
export * as ops from './runtime/ops/index.js';
export { GpuError, INSTALL_HINT, listAdapters, type AdapterSummary, type OpenOptions } from './runtime/device.js';
export type { Counters, DispatchTiming } from './runtime/batch.js';
export type { PoolStats } from './runtime/pool.js';
export { KERNEL_DIR, embedKernels, kernelSource, setKernelSourceProvider, type KernelSourceProvider } from './runtime/kernel_source.js';
export * as formats from './runtime/formats/index.js';
