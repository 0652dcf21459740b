// Softmax over the last dim (numerically stable: the row max is subtracted before exp).
// Forward saves its output y; backward is dx = y ⊙ (dy − Σ_c dy ⊙ y), one kernel.
// Both kernels (kernels/softmax.wgsl) put TPR invocations on a row; the launch shape is tuned.
import type { Runtime } from '../runtime.js';
import { shapeStr, type Tensor } from '../tensor.js';
import { rowLaunch, type RowLaunch } from './row_launch.js';
import { assertRank, builds, floatDtype, groups, type FloatDType } from './util.js';

const SOFTMAX_FWD = builds({ file: 'softmax.wgsl', entry: 'softmax_fwd', storage: { y: 'read_write', x: 'read' }, uniform: 'p' });
const SOFTMAX_BWD = builds({ file: 'softmax.wgsl', entry: 'softmax_bwd', storage: { dx: 'read_write', y_saved: 'read', dy: 'read' }, uniform: 'p' });

// Launch shape (the default rule, row_launch.ts rowThreads), measured on lavapipe (softmax fwd /
// bwd, ms): workgroup memory and barriers are slow there, so one invocation per row wins whenever
// there are enough rows ([9408, 49]: TPR 1 3.5 / 1.7, TPR 64 111 / 63; [1568, 512]: TPR 1 5.5 /
// 2.7, TPR 4 7.4 / 3.6), while few long rows need several invocations each ([19, 16384]: TPR 16
// 2.5 / 1.4, TPR 64 2.9 / 1.6, TPR 256 3.8 / 2.1; [152, 16384]: TPR 1 21 / 15, TPR 64 23 / 15).
// About 256 elements per invocation keeps the barriers' share small on lavapipe and still gives a
// GPU a workgroup per long row. Other adapters: the tuner times the launch shapes per unit
// (family 'softmax', units 'fwd' / 'bwd' by dtype and rows / columns bucket).
export { rowThreads, type RowLaunch } from './row_launch.js';

export interface RowOpOptions {
  /** Invocations per row, a power of two ≤ 256 (default: the runtime's choice); tests force both kinds. */
  threadsPerRow?: number;
}

const FILES = ['softmax.wgsl'] as const;

/** The launch of a softmax kernel over (rows, cols): forced, pinned, tuned or the default rule. */
function launchOf(rt: Runtime, kind: 'fwd' | 'bwd', dtype: FloatDType, rows: number, cols: number, opts: RowOpOptions): RowLaunch {
  return rowLaunch(rt, {
    family: 'softmax', kind, rows, cols, dtype,
    prepare: () => {
      const make = (): Tensor => rt.untracked(() => rt.full([Math.max(1, rows * cols)], 0.5, dtype));
      const [a, b, out] = [make(), make(), make()];
      return {
        run: (l) => dispatchSoftmax(kind, dtype, rows, cols, l, out, a, b),
        dispose: () => { for (const t of [a, b, out]) t.release(); },
      };
    },
  }, FILES, opts.threadsPerRow);
}

/** One softmax kernel dispatch: fwd y = out from x = a; bwd dx = out from y_saved = a, dy = b. */
function dispatchSoftmax(kind: 'fwd' | 'bwd', dtype: FloatDType, rows: number, cols: number, l: RowLaunch, out: Tensor, a: Tensor, b: Tensor | undefined): void {
  const storage: Record<string, { buffer: GPUBuffer }> = kind === 'fwd'
    ? { y: out.binding, x: a.binding }
    : { dx: out.binding, y_saved: a.binding, dy: b!.binding };
  out.rt.dispatch((kind === 'fwd' ? SOFTMAX_FWD : SOFTMAX_BWD)[dtype], {
    op: `softmax_${kind}`, storage, params: { rows, cols }, constants: { TPR: l.tpr, WG: l.wg }, workgroups: [groups(rows, l.wg / l.tpr)],
  });
}

/** softmax over the last dim of x (rank ≥ 1); records the backward on the tape. */
export function softmax(x: Tensor, opts: RowOpOptions = {}): Tensor {
  const dtype = floatDtype('softmax', x);
  assertRank('softmax', x, 1);
  const rt = x.rt;
  const cols = x.shape[x.rank - 1]!;
  const rows = cols === 0 ? 0 : x.size / cols;
  const y = rt.empty(x.shape, dtype, 'softmax');
  dispatchSoftmax('fwd', dtype, rows, cols, launchOf(rt, 'fwd', dtype, rows, cols, opts), y, x, undefined);
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
  dispatchSoftmax('bwd', dtype, rows, cols, launchOf(rt, 'bwd', dtype, rows, cols, opts), dx, y, dy);
  return dx;
}
