// Sum reductions: over the last dim (row sums) and over all leading dims (column sums).
// Backward of a sum broadcasts the gradient back: d(x)[r, c] = d(out)[r] (rows) or d(out)[c] (cols).
import type { Tensor } from '../tensor.js';
import { binary, cast } from './elementwise.js';
import { assertRank, builds, floatDtype, groups } from './util.js';

const SUM_ROWS = builds({ file: 'reduce.wgsl', entry: 'sum_rows', storage: { out: 'read_write', x: 'read' }, uniform: 'p' });
const SUM_COLS = builds({ file: 'reduce.wgsl', entry: 'sum_cols', storage: { out: 'read_write', x: 'read' }, uniform: 'p' });
const EXPAND_LAST = builds({ file: 'reduce.wgsl', entry: 'expand_last', storage: { out: 'read_write', x: 'read' }, uniform: 'p' });
const CHUNK = 256;
const WG = 64;

/** (..., C) -> (...): the sum of each row over the last dim. */
export function sumLastDim(x: Tensor): Tensor {
  const dtype = floatDtype('sumLastDim', x);
  assertRank('sumLastDim', x, 1);
  const rt = x.rt;
  const cols = x.shape[x.rank - 1]!;
  const rows = x.size / Math.max(1, cols);
  const out = rt.empty(x.shape.slice(0, -1), dtype, 'sumLastDim');
  rt.dispatch(SUM_ROWS[dtype], { op: 'sum_rows', storage: { out: out.binding, x: x.binding }, params: { rows, cols }, workgroups: [rows] });
  rt.tape.record('sumLastDim', [x], out, [], (dOut) => [expandLast(dOut, cols)]);
  return out;
}

/** (...) -> (..., n) with out[..., c] = t[...]: the adjoint of `sumLastDim`. */
export function expandLast(t: Tensor, n: number): Tensor {
  const dtype = floatDtype('expandLast', t);
  const rt = t.rt;
  const rows = t.size;
  const out = rt.empty([...t.shape, n], dtype, 'expandLast');
  rt.dispatch(EXPAND_LAST[dtype], { op: 'expand_last', storage: { out: out.binding, x: t.binding }, params: { rows, cols: n }, workgroups: [groups(rows * n, WG)] });
  rt.tape.record('expandLast', [t], out, [], (dOut) => [sumLastDim(dOut)]);
  return out;
}

/** The sum over all leading dims, keeping the last `keep` dims: shape x.shape[-keep:]. */
export function sumLeading(x: Tensor, keep = 1): Tensor {
  const dtype = floatDtype('sumLeading', x);
  assertRank('sumLeading', x, keep);
  const rt = x.rt;
  const outShape = x.shape.slice(x.rank - keep);
  const cols = outShape.reduce((a, b) => a * b, 1);
  let rows = x.size / Math.max(1, cols);
  if (dtype === 'f16' && rows > CHUNK) {
    // several passes: keep the partial sums in f32, round once at the end
    const sum = rt.withoutGrad(() => {
      const wide = cast(x, 'f32');
      const s32 = sumLeading(wide, keep);
      wide.release();
      const s16 = cast(s32, 'f16');
      s32.release();
      return s16;
    });
    rt.tape.record('sumLeading', [x], sum, [], (dOut) => [broadcastTo(dOut, x.shape)]);
    return sum;
  }
  let cur = x;
  // Each pass sums chunks of CHUNK rows; repeat until one row is left.
  do {
    const chunks = Math.max(1, groups(rows, CHUNK));
    const next = rt.empty(chunks === 1 ? outShape : [chunks, cols], dtype, 'sumLeading');
    rt.dispatch(SUM_COLS[dtype], {
      op: 'sum_cols', storage: { out: next.binding, x: cur.binding },
      params: { rows, cols }, constants: { CHUNK }, workgroups: [groups(cols, WG), chunks],
    });
    if (cur !== x) cur.release();
    cur = next;
    rows = chunks;
  } while (rows > 1);
  rt.tape.record('sumLeading', [x], cur, [], (dOut) => [broadcastTo(dOut, x.shape)]);
  return cur;
}

/** Repeats `t` (whose shape is a suffix of `shape`) over the leading dims of `shape`. */
export function broadcastTo(t: Tensor, shape: readonly number[]): Tensor {
  const zeros = t.rt.zeros(shape, t.dtype);
  const out = binary('add', zeros, t);
  zeros.release();
  return out;
}
