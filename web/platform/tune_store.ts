// The page's autotuning store: one localStorage entry per adapter and driver (the Node build keeps
// a JSON file under the user's cache directory instead, src/runtime/tune_store_node.ts). A page
// without storage (private mode, quota) forgets: that costs a re-tune, never a failure.
import type { TuneFile, TuneStore } from '../../src/runtime/tuner.js';

const PREFIX = 'segface-webgpu:tuning:';

export class LocalStorageTuneStore implements TuneStore {
  readonly where = 'localStorage';

  async load(key: string): Promise<TuneFile | undefined> {
    try {
      const text = localStorage.getItem(PREFIX + key);
      if (text === null) return undefined;
      const file = JSON.parse(text, (_, v) => (v === null ? Infinity : v)) as TuneFile;
      return file.version === 1 && typeof file.records === 'object' ? file : undefined;
    } catch {
      return undefined;
    }
  }

  async save(key: string, file: TuneFile): Promise<void> {
    try { localStorage.setItem(PREFIX + key, JSON.stringify(file)); } catch { /* no storage: forget */ }
  }
}

export function defaultTuneStore(): TuneStore { return new LocalStorageTuneStore(); }
