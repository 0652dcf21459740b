// The Node tuning store: one JSON file per adapter under the user's cache directory,
// $XDG_CACHE_HOME/segface-webgpu/ or ~/.cache/segface-webgpu/ (SEGFACE_TUNE_DIR overrides it).
// A bundle for the browser swaps this module for web/platform/tune_store.ts (localStorage).
// Written atomically (temporary file, then rename); an unreadable or foreign file reads as empty,
// so a bad cache costs a re-tune, never a failure.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { TuneFile, TuneStore } from './tuner.js';

export function defaultTuneDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SEGFACE_TUNE_DIR) return env.SEGFACE_TUNE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'segface-webgpu');
}

/** The store a Runtime uses when given none (web/platform/tune_store.ts is the page's). */
export function defaultTuneStore(): TuneStore { return new FileTuneStore(); }

export class FileTuneStore implements TuneStore {
  constructor(readonly dir: string = defaultTuneDir()) {}

  get where(): string { return this.dir; }

  path(key: string): string { return join(this.dir, `tuning-${key}.json`); }

  async load(key: string): Promise<TuneFile | undefined> {
    try {
      const file = JSON.parse(await readFile(this.path(key), 'utf8'), (_, v) => (v === null ? Infinity : v)) as TuneFile;
      return file.version === 1 && typeof file.records === 'object' ? file : undefined;
    } catch {
      return undefined;
    }
  }

  async save(key: string, file: TuneFile): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const path = this.path(key);
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(file, null, 1) + '\n');
    await rename(tmp, path);
  }
}
