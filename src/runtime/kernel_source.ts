// Where WGSL source comes from. In Node the kernels are files under kernels/ at the package root:
// this module sits at src/runtime/ (run through tsx) or dist/runtime/ (the built package), two
// levels below the root either way. Another host (a browser page) installs its own provider.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The engine's kernels/ folder in this checkout or installed package. */
export const KERNEL_DIR = fileURLToPath(new URL('../../kernels/', import.meta.url));

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
