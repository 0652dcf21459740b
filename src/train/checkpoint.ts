// Training checkpoints: one safetensors file per save holding the weights under their official
// names, AdamW's moments under `optim.exp_avg.<name>` / `optim.exp_avg_sq.<name>`, and, in the
// header's metadata, the training state (epoch, position in the epoch, step counts, the run's
// arguments, the scheduler). The file is written atomically (temp file, fsync, rename), so a crash
// or a full disk never damages the previous checkpoint.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ParamStore } from '../model/params.js';
import type { AdamW } from '../runtime/ops/adamw.js';
import { readSafetensors, readSafetensorsMetadata, writeSafetensors, type StTensor, type StWrite } from '../runtime/safetensors.js';

export const CHECKPOINT_FILE = 'checkpoint.safetensors';
export const CHECKPOINT_VERSION = 1;

export interface TrainState {
  version: number;
  /** Epoch in progress (0-based) and the number of its batches already done. */
  epoch: number;
  batchInEpoch: number;
  globalStep: number;
  /** AdamW's per-parameter step counts, state_dict order. */
  optimSteps: number[];
  /** Non-finite steps skipped so far. */
  skippedSteps: number;
  /** The arguments of the run (so `--resume` continues it as it was). */
  args: Record<string, unknown>;
}

export interface LoadedCheckpoint {
  state: TrainState;
  weights: Map<string, StTensor>;
  expAvg: Map<string, StTensor>;
  expAvgSq: Map<string, StTensor>;
}

export async function saveCheckpoint(dir: string, params: ParamStore, optim: AdamW, state: TrainState): Promise<string> {
  const tensors = new Map<string, StWrite>();
  for (const [name, t] of params.tensors) tensors.set(name, { shape: t.shape, data: await t.read() });
  const trainable = params.params();
  for (const [i, p] of trainable.entries()) {
    tensors.set(`optim.exp_avg.${p.name}`, { shape: p.shape, data: await optim.expAvg[i]!.read() });
    tensors.set(`optim.exp_avg_sq.${p.name}`, { shape: p.shape, data: await optim.expAvgSq[i]!.read() });
  }
  const path = join(dir, CHECKPOINT_FILE);
  writeSafetensors(path, tensors, { segface_train_state: JSON.stringify(state) });
  return path;
}

/** Reads a run directory's checkpoint (or a checkpoint file); errors name the file. */
export function loadCheckpoint(pathOrDir: string): LoadedCheckpoint {
  const path = pathOrDir.endsWith('.safetensors') ? pathOrDir : join(pathOrDir, CHECKPOINT_FILE);
  if (!existsSync(path)) throw new Error(`${path}: no checkpoint there (nothing to resume)`);
  const all = readSafetensors(path);
  const meta = readSafetensorsMetadata(path);
  const raw = meta.segface_train_state;
  if (!raw) throw new Error(`${path}: not a training checkpoint (no segface_train_state metadata)`);
  const state = JSON.parse(raw) as TrainState;
  if (state.version !== CHECKPOINT_VERSION) throw new Error(`${path}: checkpoint version ${state.version}, expected ${CHECKPOINT_VERSION}`);
  const weights = new Map<string, StTensor>();
  const expAvg = new Map<string, StTensor>();
  const expAvgSq = new Map<string, StTensor>();
  for (const [name, t] of all) {
    if (name.startsWith('optim.exp_avg_sq.')) expAvgSq.set(name.slice('optim.exp_avg_sq.'.length), t);
    else if (name.startsWith('optim.exp_avg.')) expAvg.set(name.slice('optim.exp_avg.'.length), t);
    else weights.set(name, t);
  }
  return { state, weights, expAvg, expAvgSq };
}

/** Uploads saved moments into an optimizer whose parameters are in state_dict order. */
export function restoreOptimizer(optim: AdamW, params: ParamStore, ck: LoadedCheckpoint, source: string): void {
  const trainable = params.params();
  if (ck.state.optimSteps.length !== trainable.length) {
    throw new Error(`${source}: checkpoint has optimizer steps for ${ck.state.optimSteps.length} parameters, the model has ${trainable.length}`);
  }
  for (const [i, p] of trainable.entries()) {
    const m = ck.expAvg.get(p.name!);
    const v = ck.expAvgSq.get(p.name!);
    if (!m || !v) throw new Error(`${source}: optimizer moments of ${p.name} missing`);
    p.rt.batch.upload(optim.expAvg[i]!.buffer, 0, m.data);
    p.rt.batch.upload(optim.expAvgSq[i]!.buffer, 0, v.data);
    optim.steps[i] = ck.state.optimSteps[i]!;
  }
}
