// Softmax over the last dim (numerically stable: the row max is subtracted before exp).
// Forward saves its output y; backward is dx = y ⊙ (dy − Σ_c dy ⊙ y), one kernel.
// Both kernels (kernels/softmax.wgsl) put TPR invocations on a row; `rowThreads` picks TPR.
import { shapeStr, type Tensor } from '../tensor.js';
import { assertRank, builds, floatDtype, groups } from './util.js';

const SOFTMAX_FWD = builds({ file: 'softmax.wgsl', entry: 'softmax_fwd', storage: { y: 'read_write', x: 'read' }, uniform: 'p' });
const SOFTMAX_BWD = builds({ file: 'softmax.wgsl', entry: 'softmax_bwd', storage: { dx: 'read_write', y_saved: 'read', dy: 'read' }, uniform: 'p' });

// Launch shape, measured on lavapipe (softmax fwd / bwd, ms): workgroup memory and barriers are
// slow there, so one invocation per row wins whenever there are enough rows ([9408, 49]: TPR 1
// 3.5 / 1.7, TPR 64 111 / 63; [1568, 512]: TPR 1 5.5 / 2.7, TPR 4 7.4 / 3.6), while few long rows
// need several invocations each ([19, 16384]: TPR 16 2.5 / 1.4, TPR 64 2.9 / 1.6, TPR 256 3.8 /
// 2.1; [152, 16384]: TPR 1 21 / 15, TPR 64 23 / 15). About 256 elements per invocation keeps the
// barriers' share small on lavapipe and still gives a GPU a workgroup per long row.
/** Rows up to this length get one invocation each. */
const SHORT_ROW = 128;
/** Elements per invocation of a shared row, at least. */
const PER_THREAD = 256;
const MAX_TPR = 256;

/** Invocations per row (TPR) and per workgroup (WG) for rows of `cols` elements. */
export interface RowLaunch { tpr: number; wg: number }

/**
 * One invocation per row for short rows (no workgroup memory, no barriers); otherwise a power of
 * two of invocations, about cols / 256 of them (a 64-invocation workgroup per 16384-long row).
 */
export function rowThreads(cols: number, force?: number): RowLaunch {
  let tpr = 1;
  if (force !== undefined) {
    if (!Number.isInteger(force) || force < 1 || force > MAX_TPR || (force & (force - 1)) !== 0) {
      throw new Error(`threadsPerRow must be a power of two in 1..${MAX_TPR}, got ${force}`);
    }
    tpr = force;
  } else if (cols > SHORT_ROW) {
    while (tpr < MAX_TPR && tpr * PER_THREAD < cols) tpr *= 2;
  }
  return { tpr, wg: Math.max(64, tpr) };
}

export interface RowOpOptions {
  /** Invocations per row, a power of two ≤ 256 (default: by row length); tests force both kinds. */
  threadsPerRow?: number;
}

function launch(op: string, rows: number, cols: number, opts: RowOpOptions) {
  const { tpr, wg } = rowThreads(cols, opts.threadsPerRow);
  return { params: { rows, cols }, constants: { TPR: tpr, WG: wg }, workgroups: [groups(rows, wg / tpr)] as [number], op };
}

/** softmax over the last dim of x (rank ≥ 1); records the backward on the tape. */
export function softmax(x: Tensor, opts: RowOpOptions = {}): Tensor {
  const dtype = floatDtype('softmax', x);
  assertRank('softmax', x, 1);
  const rt = x.rt;
  const cols = x.shape[x.rank - 1]!;
  const rows = cols === 0 ? 0 : x.size / cols;
  const y = rt.empty(x.shape, dtype, 'softmax');
  rt.dispatch(SOFTMAX_FWD[dtype], { ...launch('softmax_fwd', rows, cols, opts), storage: { y: y.binding, x: x.binding } });
  rt.tape.record('softmax', [x], y, [y], (dy) => [softmaxBackward(y, dy, opts)]);
  return y;
}

/** dx = y ⊙ (dy − Σ_last(dy ⊙ y)) for y = softmax(x) (not recorded on the tape). */
export function softmaxBackward(y: Tensor, dy: Tensor, opts: RowOpOptions = {}): Tensor {
  const dtype = floatDtype('softmax_bwd', y, dy);
  if (dy.size !== y.size) throw new Error(`softmax_bwd: gradient ${shapeStr(dy.shape)} does not match output ${shapeStr(y.shape)}`);
  const rt = y.rt;
  const cols = y.shape[y.rank - 1]!;
  const rows = cols === 0 ? 0 : y.size / cols;
  const dx = rt.empty(y.shape, dtype, 'softmax_bwd');
  rt.dispatch(SOFTMAX_BWD[dtype], {
    ...launch('softmax_bwd', rows, cols, opts),
    storage: { dx: dx.binding, y_saved: y.binding, dy: dy.binding },
  });
  return dx;
}
