// Launch shapes of the row ops (softmax, layer norm, the loss, window attention) as tuner candidates.
//
// Their kernels put TPR invocations on a row (a power of two) in workgroups of WG invocations, both
// override constants, so a launch shape is a name "T<TPR>:W<WG>" and every shape is the same
// kernel text. The built-in default (`rowThreads`) is a rule measured on lavapipe: one invocation
// per row up to 128 columns, else about 256 elements per invocation. A GPU likely prefers more
// invocations per row and wider workgroups; the tuner measures that per unit (op, dtype, and
// rows / columns rounded up to powers of two) instead of guessing.
import type { AdapterFacts } from '../adapter.js';
import type { Runtime } from '../runtime.js';
import { sizeBucket, type TuneUnit } from '../tuner.js';
import type { FloatDType } from './util.js';

/** Rows up to this length get one invocation each. */
const SHORT_ROW = 128;
/** Elements per invocation of a shared row, at least. */
const PER_THREAD = 256;
export const MAX_TPR = 256;

/** Invocations per row (TPR) and per workgroup (WG). */
export interface RowLaunch { tpr: number; wg: number }

const isPow2 = (n: number): boolean => Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;

/**
 * The default launch: one invocation per row for short rows (no workgroup memory, no barriers);
 * otherwise a power of two of invocations, about cols / 256 of them (a 64-invocation workgroup per
 * 16384-long row). `force` sets TPR (tests), in a workgroup of max(64, TPR).
 */
export function rowThreads(cols: number, force?: number): RowLaunch {
  let tpr = 1;
  if (force !== undefined) {
    if (!isPow2(force) || force > MAX_TPR) throw new Error(`threadsPerRow must be a power of two in 1..${MAX_TPR}, got ${force}`);
    tpr = force;
  } else if (cols > SHORT_ROW) {
    while (tpr < MAX_TPR && tpr * PER_THREAD < cols) tpr *= 2;
  }
  return { tpr, wg: Math.max(64, tpr) };
}

export const rowLaunchName = (l: RowLaunch): string => `T${l.tpr}:W${l.wg}`;

/** Parses "T<TPR>:W<WG>"; throws a one-line reason when it is malformed or cannot run here. */
export function rowLaunchOf(name: string, f: AdapterFacts): RowLaunch {
  const m = /^T(\d+):W(\d+)$/.exec(name);
  if (!m) throw new Error(`row launch: bad name ${JSON.stringify(name)} (want T<invocations per row>:W<workgroup size>)`);
  const tpr = Number(m[1]);
  const wg = Number(m[2]);
  if (!isPow2(tpr) || !isPow2(wg) || tpr > MAX_TPR || tpr > wg || wg > f.limits.maxComputeInvocationsPerWorkgroup) {
    throw new Error(`row launch: ${name} cannot run on this adapter (TPR and WG powers of two, TPR ≤ ${MAX_TPR}, TPR ≤ WG ≤ ${f.limits.maxComputeInvocationsPerWorkgroup})`);
  }
  return { tpr, wg };
}

/**
 * The candidates for rows of `cols` elements, the default first: one invocation per row in 64 or
 * 256, and 4 to 256 invocations per row (only as many as the row has elements, rounded up) in
 * workgroups of 64 and, on a GPU, 256.
 */
export function rowCandidates(cols: number, f: AdapterFacts): string[] {
  const out = [rowLaunchName(rowThreads(cols)), 'T1:W64'];
  const wgs = f.software ? [64] : [64, 256];
  if (!f.software) out.push('T1:W256');
  for (let tpr = 4; tpr <= MAX_TPR && tpr <= sizeBucket(cols); tpr *= 4) {
    for (const wg of wgs) if (tpr <= wg) out.push(`T${tpr}:W${wg}`);
  }
  if (sizeBucket(cols) >= MAX_TPR) out.push(`T${MAX_TPR}:W${MAX_TPR}`);
  return [...new Set(out)].filter((c) => { try { rowLaunchOf(c, f); return true; } catch { return false; } });
}

/** A row op's tuning unit: `kind` names the kernel ('fwd', 'bwd'…), `run` records one dispatch with a launch on scratch data. */
export interface RowUnitSpec {
  family: string;
  kind: string;
  rows: number;
  cols: number;
  dtype: FloatDType;
  /** Allocates scratch tensors for one (rows, cols) problem; `run(l)` records one dispatch. */
  prepare(): { run(l: RowLaunch): void; dispose(): void };
}

function rowUnit(rt: Runtime, s: RowUnitSpec): TuneUnit {
  const f = rt.device.facts;
  return {
    family: s.family,
    shapeClass: `${s.kind}${s.dtype === 'f16' ? ' f16' : ''} rows${sizeBucket(s.rows)} cols${sizeBucket(s.cols)}`,
    shape: `rows=${s.rows} cols=${s.cols}`,
    candidates: rowCandidates(s.cols, f),
    prepare: () => {
      const p = s.prepare();
      return { run: (c: string) => p.run(rowLaunchOf(c, f)), dispose: () => p.dispose() };
    },
  };
}

/**
 * The launch a row op uses: `forced` TPR (tests; workgroup max(64, TPR)), else the runtime's choice
 * for the unit (a pin, the tuned winner, or the default rule). `files` are the unit's kernel files.
 */
export function rowLaunch(rt: Runtime, s: RowUnitSpec, files: readonly string[], forced?: number): RowLaunch {
  if (forced !== undefined) return rowThreads(s.cols, forced);
  if (s.rows === 0 || s.cols === 0) return rowThreads(s.cols);
  return rowLaunchOf(rt.tuner.choose(rowUnit(rt, s), files), rt.device.facts);
}
