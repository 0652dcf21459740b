// The browser's stand-in for the npm package `webgpu` (Dawn for Node), which the web build aliases
// here (web/vite.config.ts). src/runtime/device.ts stays one file for both: in a page its `create()`
// returns the browser's own `navigator.gpu`, and there are no globals to install (the page has
// GPUBufferUsage and friends already). Adapter selection by name is Dawn's; a page gets the
// browser's choice.

export const globals = {};

export function create(flags: string[]): GPU {
  if (flags.length > 0) throw new Error(`adapter selection (${flags.join(' ')}) is a Node option; the browser chooses the adapter`);
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) throw new Error('this browser has no WebGPU (navigator.gpu is missing): use Chrome/Edge 113+, or start Chromium with --enable-unsafe-webgpu');
  return gpu;
}
