// Where WGSL source comes from: the one place that differs between Node and a browser.
//
// In Node the kernels are files under kernels/ at the package root: this module sits at src/runtime/
// (run through tsx) or dist/runtime/ (the built package), two levels below the root either way.
// Another host installs its own provider: a browser bundle has no file system, so its entry point
// embeds the files (vite: `import.meta.glob('../kernels/*.wgsl', { query: '?raw', import: 'default',
// eager: true })`) and hands them to embedKernels() before the first op runs.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const kernelsUrl = new URL(/* @vite-ignore */ '../../kernels/', import.meta.url);

/** The engine's kernels/ folder in this checkout or installed package (its URL where there are no files). */
export const KERNEL_DIR = kernelsUrl.protocol === 'file:' ? fileURLToPath(kernelsUrl) : kernelsUrl.href;

/** Returns the text of kernel file `name` (from `dir`, default the engine's kernels/); throws naming it when absent. */
export type KernelSourceProvider = (name: string, dir?: string) => string;

function readFromDisk(name: string, dir = KERNEL_DIR): string {
  const path = join(dir, name);
  try { return readFileSync(path, 'utf8'); } catch { throw new Error(`kernel file kernels/${name} not found (${path})`); }
}

let provider: KernelSourceProvider = readFromDisk;

/** The WGSL text of one kernel file. */
export function kernelSource(name: string, dir?: string): string { return provider(name, dir); }

/** Replaces how kernel files are read (e.g. fetched and bundled in a browser); returns the previous provider. */
export function setKernelSourceProvider(next: KernelSourceProvider): KernelSourceProvider {
  const previous = provider;
  provider = next;
  return previous;
}

/**
 * Installs a provider serving the engine's kernels from memory: `files` maps a file name
 * (`matmul.wgsl`) or any path ending in `/<file name>` to its WGSL. Kernels kept elsewhere (a `dir`)
 * and names not given still go to the previous provider.
 */
export function embedKernels(files: Record<string, string>): void {
  const byName = new Map(Object.entries(files).map(([path, source]) => [path.slice(path.lastIndexOf('/') + 1), source]));
  const previous = provider;
  provider = (name, dir) => (dir === undefined ? byName.get(name) : undefined) ?? previous(name, dir);
}
