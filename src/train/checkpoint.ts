// Training checkpoints: one safetensors file per save holding the weights under their official
// names, AdamW's moments under `optim.exp_avg.<name>` / `optim.exp_avg_sq.<name>`, and, in the
// header's metadata, the training state (epoch, position in the epoch, step counts, the run's
// arguments, the scheduler). The file is written atomically (temp file, fsync, rename), so a crash
// or a full disk never damages the previous checkpoint. A process killed in the middle of a write
// leaves its temp file (.NAME.PID.tmp) behind; the next start removes those of dead processes.
import type { LossScaleState } from './loss_scale.js';
import { existsSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { stateDictSpec, type SegFaceConfig } from '../model/config.js';
import { inferConfig, type ParamStore } from '../model/params.js';
import type { AdamW } from '../runtime/ops/adamw.js';
import type { Tensor } from '../runtime/tensor.js';
import { readSafetensors, readSafetensorsMetadata, writeSafetensors, type StTensor, type StWrite } from '../runtime/formats/safetensors.js';
import { PyDict, PyFloat, PyObject, PyTuple, torchTensor } from '../runtime/formats/torch_checkpoint.js';
import { MultiStepLR, scheduleFor, WarmupCosineLR, type LrSchedule } from './schedule.js';

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
  /** f16 runs: the dynamic loss scale and its count of finite steps (train/loss_scale.ts). */
  lossScale?: LossScaleState;
  /** The arguments of the run (so `--resume` continues it as it was). */
  args: Record<string, unknown>;
  /** Optimizer steps per epoch (the cosine schedule's length is epochs × this); absent in older checkpoints. */
  stepsPerEpoch?: number;
}

export interface LoadedCheckpoint {
  state: TrainState;
  weights: Map<string, StTensor>;
  expAvg: Map<string, StTensor>;
  expAvgSq: Map<string, StTensor>;
}

/**
 * Removes the temp files (.NAME.PID.tmp, see writeFileAtomic) that processes no longer alive left
 * in `dir` when they were killed in the middle of a write; returns their names. A live process's
 * temp file (a run writing right now) is left alone.
 */
export function removeStaleTemps(dir: string): string[] {
  let names: string[];
  try { names = readdirSync(dir); } catch { return []; }
  const removed: string[] = [];
  for (const name of names) {
    const m = /^\..+\.(\d+)\.tmp$/.exec(name);
    if (!m || processAlive(Number(m[1]))) continue;
    try { unlinkSync(join(dir, name)); removed.push(name); } catch { /* gone meanwhile, or not ours to remove */ }
  }
  return removed;
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';   // exists, another user's
  }
}

export async function saveCheckpoint(dir: string, params: ParamStore, optim: AdamW, state: TrainState): Promise<string> {
  // Every tensor comes back in one readback (one flush, one staging buffer).
  const named: [string, Tensor][] = [...params.tensors];
  for (const [i, p] of params.params().entries()) {
    named.push([`optim.exp_avg.${p.name}`, optim.expAvg[i]!], [`optim.exp_avg_sq.${p.name}`, optim.expAvgSq[i]!]);
  }
  const data = await params.rt.readMany(named.map(([, t]) => t));
  const tensors = new Map<string, StWrite>(named.map(([name, t], i) => [name, { shape: t.shape, data: data[i]! }]));
  const path = join(dir, CHECKPOINT_FILE);
  try {
    writeSafetensors(path, tensors, { segface_train_state: JSON.stringify(state) });
  } catch (e) {
    throw new Error(`${saveFailure(e, path)}; the previous checkpoint there (if any) is intact`);
  }
  return path;
}

/** A write error with what it most likely means (writeFileAtomic's message names the file). */
export function saveFailure(e: unknown, path: string): string {
  const msg = (e as Error).message ?? String(e);
  const code = (e as { cause?: { code?: string } }).cause?.code ?? /\b(E[A-Z]+)\b/.exec(msg)?.[1];
  const why: Record<string, string> = {
    ENOSPC: 'the disk is full', EDQUOT: 'the disk quota is exhausted', EFBIG: 'the file is larger than this process may write (ulimit -f) or the filesystem allows',
    EACCES: 'permission denied', EPERM: 'permission denied', EROFS: 'the filesystem is read-only', ENOENT: 'the directory no longer exists',
  };
  const hint = code && why[code] ? ` (${why[code]})` : '';
  return `could not save ${path}${hint}: ${msg}`;
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
    p.rt.write(optim.expAvg[i]!, m.data);
    p.rt.write(optim.expAvgSq[i]!, v.data);
    optim.steps[i] = ck.state.optimSteps[i]!;
  }
}

// ---- the official torch.save layout (`npm run export`)

/** Numbers of the run a training checkpoint belongs to, from its saved arguments, and its schedule. */
function runHyper(state: TrainState, source: string): { lr: number; weightDecay: number; schedule: LrSchedule } {
  const a = state.args;
  const lr = a.lr;
  const weightDecay = a.weightDecay;
  const milestones = a.milestones;
  if (typeof lr !== 'number' || typeof weightDecay !== 'number' || !Array.isArray(milestones) || milestones.some((m) => typeof m !== 'number')) {
    throw new Error(`${source}: the checkpoint's run arguments lack lr, weightDecay or milestones (args: ${JSON.stringify(a)})`);
  }
  // A cosine's length is the run's: epochs × steps per epoch.
  if (a.schedule === 'cosine' && (typeof a.epochs !== 'number' || typeof state.stepsPerEpoch !== 'number')) {
    throw new Error(`${source}: a warm-up + cosine checkpoint without its epochs or stepsPerEpoch`);
  }
  const schedule = scheduleFor({
    schedule: a.schedule === 'cosine' ? 'cosine' : 'step', lr, milestones: milestones as number[], epochs: typeof a.epochs === 'number' ? a.epochs : 0,
    warmupSteps: typeof a.warmupSteps === 'number' ? a.warmupSteps : 0, minLr: typeof a.minLr === 'number' ? a.minLr : 0,
  }, state.stepsPerEpoch ?? 1);
  return { lr, weightDecay, schedule };
}

const pyDict = (entries: [string, unknown][]): PyDict => {
  const d = new PyDict();
  for (const [k, v] of entries) d.set(k, v as never);
  return d;
};
const lrList = (lr: number): PyFloat[] => [new PyFloat(lr)];

/**
 * The scheduler's state_dict after `steps` optimizer steps (scheduler.step() once per step), as
 * torch 1.13 writes it for SequentialLR([LinearLR(start_factor, total_iters=w),
 * CosineAnnealingLR(T_max=total−w, eta_min)], milestones=[w]), or CosineAnnealingLR alone when
 * w = 0. SequentialLR steps only the active scheduler: LinearLR for steps 1..w−1, then
 * CosineAnnealingLR.step(0) at step w and step() after, and its init undoes one step of each
 * (tests/train/export.test.ts checks the dict against torch's own).
 */
function cosineSchedulerState(s: WarmupCosineLR, steps: number): PyDict {
  const w = s.warmupSteps, base = s.baseLr;
  const last = s.lrAt(0, steps);
  const common = (lastEpoch: number, stepCount: number, lastLr: number): [string, unknown][] => [
    ['base_lrs', lrList(base)], ['last_epoch', lastEpoch], ['verbose', false], ['_step_count', stepCount],
    ['_get_lr_called_within_step', false], ['_last_lr', lrList(lastLr)],
  ];
  const cosine = (lastEpoch: number, stepCount: number, lastLr: number): PyDict =>
    pyDict([['T_max', s.totalSteps - w], ['eta_min', new PyFloat(s.minLr)], ...common(lastEpoch, stepCount, lastLr)]);
  if (w === 0) return cosine(steps, steps + 1, last);
  const linSteps = Math.min(steps, w - 1);
  const linear = pyDict([['start_factor', new PyFloat(s.startFactor)], ['end_factor', new PyFloat(1)], ['total_iters', w],
    ...common(linSteps, linSteps + 1, s.lrAt(0, linSteps))]);
  // Before step w the cosine has only been made (its initial step, undone by SequentialLR): _last_lr is the base.
  const cos = steps >= w ? cosine(steps - w, steps - w + 2, last) : cosine(-1, 1, base);
  return pyDict([['_milestones', [w]], ['last_epoch', steps], ['_last_lr', lrList(last)], ['_schedulers', [linear, cos]]]);
}

/** MultiStepLR's state_dict after `done` epochs (stepped once per epoch). */
function multiStepSchedulerState(s: MultiStepLR, done: number): PyDict {
  // MultiStepLR keeps its milestones as a collections.Counter (epoch -> multiplicity).
  const counts = new PyDict();
  for (const m of s.milestones) counts.set(m, ((counts.get(m) as number | undefined) ?? 0) + 1);
  return pyDict([
    ['milestones', new PyObject('collections.Counter', [counts])], ['gamma', new PyFloat(s.gamma)], ['base_lrs', lrList(s.baseLr)],
    ['last_epoch', done], ['verbose', false], ['_step_count', done + 1], ['_get_lr_called_within_step', false],
    ['_last_lr', lrList(s.lrAt(done, 0))],
  ]);
}

/** The torch state_dict of `schedule` after `epochs` completed epochs and `steps` optimizer steps. */
export function schedulerState(schedule: LrSchedule, epochs: number, steps: number): PyDict {
  if (schedule instanceof WarmupCosineLR) return cosineSchedulerState(schedule, steps);
  if (schedule instanceof MultiStepLR) return multiStepSchedulerState(schedule, epochs);
  throw new Error('schedulerState: a schedule torch has no counterpart for');
}

/**
 * A training checkpoint as the dict SegFace's train.py saves (`model_299.pt`): epoch (the last
 * completed epoch, 0-based, -1 before the first), iteration (optimizer steps taken), state_dict_backbone
 * (official names in state_dict order, float32 CPU tensors, relative_position_index int64), optimizer
 * (torch.optim.AdamW.state_dict() over model.parameters(): state {index: {step, exp_avg, exp_avg_sq}}
 * for the parameters that have been stepped, one param group) and scheduler: the run's schedule as
 * torch's state_dict: MultiStepLR stepped once per completed epoch (official recipe), or for a
 * warm-up + cosine run SequentialLR(LinearLR, CosineAnnealingLR) stepped once per optimizer step
 * (CosineAnnealingLR alone without warm-up). Loads into torch with torch.load; the optimizer and
 * scheduler with load_state_dict into AdamW(model.parameters()) and that scheduler.
 */
export function officialCheckpoint(ck: LoadedCheckpoint, source: string): { dict: PyDict; cfg: SegFaceConfig } {
  const cfg = inferConfig(new Map([...ck.weights].map(([k, t]) => [k, t.shape])), source);
  const specs = stateDictSpec(cfg);
  const sd = new PyDict();
  sd.ordered = true;
  for (const spec of specs) {
    const t = ck.weights.get(spec.name);
    if (!t) throw new Error(`${source}: tensor ${spec.name} missing`);
    if (t.shape.join() !== spec.shape.join()) throw new Error(`${source}: ${spec.name} is [${t.shape.join(', ')}], expected [${spec.shape.join(', ')}]`);
    const data = spec.integer ? (t.data instanceof Int32Array ? t.data : Int32Array.from(t.data)) : (t.data instanceof Float32Array ? t.data : Float32Array.from(t.data));
    sd.set(spec.name, torchTensor(spec.shape, data, { dtype: spec.integer ? 'int64' : 'float32' }));
  }
  const { state } = ck;
  const { lr, weightDecay, schedule } = runHyper(state, source);
  const trainable = specs.filter((s) => s.kind === 'param');
  if (state.optimSteps.length !== trainable.length) {
    throw new Error(`${source}: optimizer steps for ${state.optimSteps.length} parameters, the model has ${trainable.length}`);
  }
  const optState = new PyDict();
  trainable.forEach((spec, i) => {
    const steps = state.optimSteps[i]!;
    if (steps === 0) return; // never stepped (no gradient, e.g. backbone.1): torch keeps no state
    const m = ck.expAvg.get(spec.name);
    const v = ck.expAvgSq.get(spec.name);
    if (!m || !v) throw new Error(`${source}: optimizer moments of ${spec.name} missing`);
    const entry = new PyDict();
    entry.set('step', torchTensor([], Float32Array.of(steps)));
    entry.set('exp_avg', torchTensor(spec.shape, Float32Array.from(m.data)));
    entry.set('exp_avg_sq', torchTensor(spec.shape, Float32Array.from(v.data)));
    optState.set(i, entry);
  });
  // MultiStepLR has been stepped through every completed epoch; a cosine through every optimizer step.
  const done = state.epoch;
  const nextLr = schedule.lrAt(done, state.globalStep);
  const group = new PyDict();
  const entries: [string, unknown][] = [
    ['lr', new PyFloat(nextLr)], ['betas', new PyTuple([new PyFloat(0.9), new PyFloat(0.999)])], ['eps', new PyFloat(1e-8)],
    ['weight_decay', new PyFloat(weightDecay)], ['amsgrad', false], ['foreach', null], ['maximize', false], ['capturable', false],
    ['initial_lr', new PyFloat(lr)], ['params', trainable.map((_, i) => i)],
  ];
  for (const [k, val] of entries) group.set(k, val as never);
  const optimizer = new PyDict();
  optimizer.set('state', optState);
  optimizer.set('param_groups', [group]);
  const scheduler = schedulerState(schedule, done, state.globalStep);
  const dict = new PyDict();
  dict.set('epoch', state.epoch - 1);
  dict.set('iteration', state.globalStep);
  dict.set('state_dict_backbone', sd);
  dict.set('optimizer', optimizer);
  dict.set('scheduler', scheduler);
  return { dict, cfg };
}
