// segface-webgpu in a browser (the package's "browser" export condition: dist/browser/index.js).
// The same runtime as in Node; only what the platform provides differs, and the bundle swaps it in
// (web/browser_aliases.ts): WebGPU is navigator.gpu, the kernels are embedded (./kernels.ts),
// files are Files, Blobs, ArrayBuffers or URLs, and autotuning results live in localStorage.
import './kernels.js';

export * from '../index.js';
