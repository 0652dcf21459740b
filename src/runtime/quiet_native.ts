// Dawn prints, from native code, warnings that a user cannot act on each time an adapter is
// created ("maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 ...").
// `withoutLimitWarnings(fn)` runs fn with the process's stderr (fd 2) sent to a temporary file,
// then writes back every line except those warnings. It needs libc's dup/dup2 through koffi;
// where that is unavailable (another OS, no koffi) fn runs as it is. ENGINE_DEBUG keeps everything.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const NOISE = /artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit/;

interface Libc { dup(fd: number): number; dup2(from: number, to: number): number; close(fd: number): number }
let libc: Libc | null | undefined;

function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  // a page has no process (and no Dawn on stderr): nothing to filter
  const proc = (globalThis as { process?: { platform: string; env: Record<string, string | undefined> } }).process;
  const debug = proc?.env.ENGINE_DEBUG;
  if (proc?.platform !== 'linux' || (debug !== undefined && debug !== '' && debug !== '0')) return libc;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as { load(name: string): { func(sig: string): (...a: number[]) => number } };
    const lib = koffi.load('libc.so.6');
    const dup = lib.func('int dup(int)'), dup2 = lib.func('int dup2(int, int)'), close = lib.func('int close(int)');
    libc = { dup: (fd) => dup(fd), dup2: (a, b) => dup2(a, b), close: (fd) => close(fd) };
  } catch { /* no koffi or no glibc: leave stderr alone */ }
  return libc;
}

/** Runs `fn` (synchronously) with Dawn's limit warnings on stderr filtered out. */
export function withoutLimitWarnings<T>(fn: () => T): T {
  const c = loadLibc();
  if (!c) return fn();
  const dir = mkdtempSync(join(tmpdir(), 'segface-stderr-'));
  const path = join(dir, 'stderr');
  const file = openSync(path, 'w+');
  const saved = c.dup(2);
  if (saved < 0) { closeSync(file); rmSync(dir, { recursive: true, force: true }); return fn(); }
  c.dup2(file, 2);
  try {
    return fn();
  } finally {
    c.dup2(saved, 2);
    c.close(saved);
    closeSync(file);
    const kept = readFileSync(path, 'utf8').split('\n').filter((l) => l.length > 0 && !NOISE.test(l));
    rmSync(dir, { recursive: true, force: true });
    if (kept.length) writeSync(2, kept.join('\n') + '\n');
  }
}
