// Layout ops: permute (rank 1..4), concat and slice along any axis, and padAxis (zeros around a
// tensor along one axis, the adjoint of slice). All are exact copies of 32-bit values, so they
// work on f32 and i32 tensors alike.
//
// Gradients (each is again a layout op, so exact):
//   permute(x, perm)           dx = permute(dOut, inverse(perm))
//   concat([x_0..x_k], axis)   dx_j = slice(dOut, axis, offset_j, len_j)
//   slice(x, axis, s, n)       dx = padAxis(dOut, axis, s, len - s - n): zeros outside the region
//   padAxis(x, axis, b, a)     dx = slice(dOut, axis, b, len)
//
// Kernels (kernels/layout.wgsl): `permute_fwd` computes the input index of every output element
// from the output shape and the input strides in output-dim order; `window_copy` serves the other
// three ops, viewing tensors as (outer, axis, inner) and writing one window of the destination's
// axis: a copied block, and zeros around it where the window is wider. Slice backward thus writes
// its zeros in the same pass as the copy (one dispatch, every element written once) instead of a
// fill followed by a copy. Each invocation handles K consecutive elements (`elementsPerInvocation`).
// Where a block is one contiguous run in both tensors (outer == 1, no zeros), `copyBufferToBuffer`
// does it: a memcpy inside lavapipe, ~3x the best copy kernel. An identity permutation (after
// dropping size-1 dims and merging dims that stay adjacent) is likewise a buffer copy.
import type { Runtime } from '../runtime.js';
import { itemBytes, shapeStr, sizeOf, type Tensor } from '../tensor.js';
import { assertRank, assertSameRuntime, builds, groups, normAxis } from './util.js';

const WG = 64;

/**
 * Consecutive elements per invocation: 64 on a CPU adapter, where per-invocation overhead and
 * scalar integer division dominate, and 1 elsewhere so that a GPU's stores stay coalesced.
 * Measured on lavapipe (2 loaded cores; medians of 7, one run): permute [8,128,64,64] by
 * [0,2,3,1] 59.7 ms at K=1, 24.3 at 8, 10.5 at 32, 7.1 at 64; slice [8,128,64,64] axis 3
 * [1,+62) 98.8 / 21.4 / 12.0 / 11.5 ms; K=128 and 256 are no faster than 64. Tests and
 * benchmarks pin another K per Runtime: `rt.tuner.pin('layout', '8')`.
 */
export function elementsPerInvocation(rt: Runtime): number {
  const pinned = rt.tuner.pinned('layout');
  if (pinned !== undefined) return Number(pinned);
  return rt.device.facts.software ? 64 : 1;
}

// the f16 build copies 2-byte elements; f32 and i32 tensors share the 4-byte one
const PERMUTE = builds({ file: 'layout.wgsl', entry: 'permute_fwd', storage: { perm_out: 'read_write', perm_x: 'read' }, uniform: 'pp' });
const WINDOW = builds({ file: 'layout.wgsl', entry: 'window_copy', storage: { win_dst: 'read_write', win_src: 'read' }, uniform: 'wp' });
const build = (t: Tensor): 'f32' | 'f16' => (t.dtype === 'f16' ? 'f16' : 'f32');

/** A tensor's own bytes, not its pooled buffer's slack: robust access then confines stray writes. */
function binding(t: Tensor): { buffer: GPUBuffer; offset: number; size: number } {
  return { buffer: t.buffer, offset: t.byteOffset, size: Math.max(4, t.bytes) };
}

// ---- permute ------------------------------------------------------------------------------------

/** The inverse permutation: inverse[perm[j]] = j. */
export function inversePermutation(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((d, j) => { inv[d] = j; });
  return inv;
}

/**
 * The smallest equivalent problem: size-1 dims dropped and output dims that are adjacent in x too
 * merged. Returns the output shape and x's strides, both in output-dim order; rank <= 1 means the
 * permutation moves nothing (a plain copy).
 */
export function collapsePermutation(shape: readonly number[], perm: readonly number[]): { outShape: number[]; xStrides: number[] } {
  // Renumber x's dims without its size-1 dims; q lists them in output order.
  const newIndex: number[] = [];
  let next = 0;
  for (const d of shape) newIndex.push(d === 1 ? -1 : next++);
  const q = perm.filter((d) => shape[d] !== 1).map((d) => newIndex[d]!);
  const sizeOfNew = shape.filter((d) => d !== 1);
  // Runs of consecutive x dims (q[j+1] = q[j] + 1) are one merged dim.
  const runs: { first: number; size: number }[] = [];
  for (let j = 0; j < q.length; j++) {
    const last = runs[runs.length - 1];
    if (last && j > 0 && q[j] === q[j - 1]! + 1) last.size *= sizeOfNew[q[j]!]!;
    else runs.push({ first: q[j]!, size: sizeOfNew[q[j]!]! });
  }
  // Merged x dims in x's order, and their row-major strides.
  const xOrder = [...runs].sort((a, b) => a.first - b.first);
  const stride = new Map<(typeof runs)[number], number>();
  let acc = 1;
  for (let i = xOrder.length - 1; i >= 0; i--) { stride.set(xOrder[i]!, acc); acc *= xOrder[i]!.size; }
  return { outShape: runs.map((r) => r.size), xStrides: runs.map((r) => stride.get(r)!) };
}

function checkPermutation(x: Tensor, perm: readonly number[]): void {
  const ok = perm.length === x.rank && perm.every((d) => Number.isInteger(d) && d >= 0 && d < x.rank) && new Set(perm).size === x.rank;
  if (!ok) throw new Error(`permute: [${perm.join(', ')}] is not a permutation of the ${x.rank} dims of ${x.describe()}`);
}

/** out[i_perm[0], .., i_perm[r-1]] = x[i_0, .., i_r-1]: out.shape[j] = x.shape[perm[j]]; contiguous. */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  if (x.rank < 1 || x.rank > 4) throw new Error(`permute: ${x.describe()} has rank ${x.rank}; permute supports rank 1..4`);
  checkPermutation(x, perm);
  const rt = x.rt;
  const out = rt.empty(perm.map((d) => x.shape[d]!), x.dtype, 'permute');
  const { outShape, xStrides } = collapsePermutation(x.shape, perm);
  if (outShape.length <= 1) rt.batch.copy(x.buffer, x.byteOffset, out.buffer, out.byteOffset, x.bytes);
  else {
    const pad = 4 - outShape.length;
    const k = elementsPerInvocation(rt);
    rt.dispatch(PERMUTE[build(x)], {
      op: 'permute', storage: { perm_out: binding(out), perm_x: binding(x) },
      params: { n: x.size, out_shape: [...new Array<number>(pad).fill(1), ...outShape], x_strides: [...new Array<number>(pad).fill(0), ...xStrides] },
      constants: { K: k }, workgroups: [groups(x.size, WG * k)],
    });
  }
  const inverse = inversePermutation(perm);
  rt.tape.record('permute', [x], out, [], (dOut) => [permute(dOut, inverse)]);
  return out;
}

/** Swaps two dims (negative allowed): a permute. */
export function transpose(x: Tensor, dimA: number, dimB: number): Tensor {
  const a = normAxis('transpose', dimA, x.rank);
  const b = normAxis('transpose', dimB, x.rank);
  const perm = x.shape.map((_, i) => (i === a ? b : i === b ? a : i));
  return permute(x, perm);
}

// ---- window copy (concat, slice, padAxis) -------------------------------------------------------

/**
 * dst[o, a, i] for a in [winStart, winStart + winLen) of dst's axis gets src[o, srcStart + a -
 * dstStart, i] inside the block [dstStart, dstStart + len), zero outside it.
 */
interface Window { outer: number; inner: number; srcAxis: number; srcStart: number; dstAxis: number; winStart: number; winLen: number; dstStart: number; len: number }

function windowCopy(op: string, dst: Tensor, src: Tensor, w: Window): void {
  const run = w.winLen * w.inner;
  const total = w.outer * run;
  if (total === 0) return;
  if (w.dstStart < w.winStart || w.dstStart + w.len > w.winStart + w.winLen) throw new Error(`${op}: internal error: block outside its window`);
  const rt = dst.rt;
  const item = itemBytes(dst.dtype);
  const aligned = [w.srcStart, w.dstStart, w.len].every((n) => (n * w.inner * item) % 4 === 0);
  if (w.outer === 1 && w.winStart === w.dstStart && w.winLen === w.len && aligned) {
    // One contiguous run in both tensors (buffer copies move whole 4-byte words).
    rt.batch.copy(src.buffer, src.byteOffset + w.srcStart * w.inner * item, dst.buffer, dst.byteOffset + w.dstStart * w.inner * item, w.len * w.inner * item);
    return;
  }
  const blkLo = (w.dstStart - w.winStart) * w.inner;
  const k = elementsPerInvocation(rt);
  rt.dispatch(WINDOW[build(dst)], {
    op, storage: { win_dst: binding(dst), win_src: binding(src) },
    params: {
      total, run,
      dst_stride: w.dstAxis * w.inner, dst_off: w.winStart * w.inner,
      src_stride: w.srcAxis * w.inner, src_off: w.srcStart * w.inner,
      blk_lo: blkLo, blk_hi: blkLo + w.len * w.inner,
    },
    constants: { K: k }, workgroups: [groups(total, WG * k)],
  });
}

/** Sizes before and after `axis`: the (outer, axis, inner) view. */
function around(shape: readonly number[], axis: number): { outer: number; inner: number } {
  return { outer: sizeOf(shape.slice(0, axis)), inner: sizeOf(shape.slice(axis + 1)) };
}

// ---- concat -------------------------------------------------------------------------------------

/** Joins tensors along `axis` (negative allowed); every other dim must match. */
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new Error('concat: no tensors given');
  assertSameRuntime('concat', ...xs);
  const first = xs[0]!;
  assertRank('concat', first, 1);
  const ax = normAxis('concat', axis, first.rank);
  for (const [j, x] of xs.entries()) {
    if (x.dtype !== first.dtype) throw new Error(`concat: input ${j} is ${x.describe()} but input 0 is ${first.describe()} (dtypes differ)`);
    const same = x.rank === first.rank && x.shape.every((d, i) => i === ax || d === first.shape[i]);
    if (!same) {
      throw new Error(`concat: along axis ${axis}, input ${j} has shape ${shapeStr(x.shape)} but input 0 has shape ${shapeStr(first.shape)} (all dims but axis ${ax} must match)`);
    }
  }
  const rt = first.rt;
  const lens = xs.map((x) => x.shape[ax]!);
  const total = lens.reduce((a, b) => a + b, 0);
  const outShape = first.shape.map((d, i) => (i === ax ? total : d));
  const out = rt.empty(outShape, first.dtype, 'concat');
  const { outer, inner } = around(outShape, ax);
  const offsets: number[] = [];
  let off = 0;
  for (const [j, x] of xs.entries()) {
    offsets.push(off);
    const len = lens[j]!;
    windowCopy('concat', out, x, { outer, inner, srcAxis: len, srcStart: 0, dstAxis: total, winStart: off, winLen: len, dstStart: off, len });
    off += len;
  }
  rt.tape.record('concat', xs, out, [], (dOut) => xs.map((x, j) => (x.requiresGrad ? slice(dOut, ax, offsets[j]!, lens[j]!) : null)));
  return out;
}

// ---- slice and padAxis --------------------------------------------------------------------------

/** x[..., start : start + length, ...] along `axis` (negative allowed), as a contiguous tensor. */
export function slice(x: Tensor, axis: number, start: number, length: number): Tensor {
  assertRank('slice', x, 1);
  const ax = normAxis('slice', axis, x.rank);
  const dim = x.shape[ax]!;
  if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > dim) {
    throw new Error(`slice: [${start}, ${start} + ${length}) is out of bounds for axis ${axis} of ${x.describe()} (length ${dim})`);
  }
  const rt = x.rt;
  const outShape = x.shape.map((d, i) => (i === ax ? length : d));
  const out = rt.empty(outShape, x.dtype, 'slice');
  const { outer, inner } = around(x.shape, ax);
  windowCopy('slice', out, x, { outer, inner, srcAxis: dim, srcStart: start, dstAxis: length, winStart: 0, winLen: length, dstStart: 0, len: length });
  rt.tape.record('slice', [x], out, [], (dOut) => [padAxis(dOut, ax, start, dim - start - length)]);
  return out;
}

/** `before` zeros, x, then `after` zeros along `axis` (negative allowed); the adjoint of slice. */
export function padAxis(x: Tensor, axis: number, before: number, after: number): Tensor {
  assertRank('padAxis', x, 1);
  const ax = normAxis('padAxis', axis, x.rank);
  if (!Number.isInteger(before) || !Number.isInteger(after) || before < 0 || after < 0) {
    throw new Error(`padAxis: padding (${before}, ${after}) of ${x.describe()} must be non-negative integers`);
  }
  const rt = x.rt;
  const len = x.shape[ax]!;
  const dim = before + len + after;
  const out = rt.empty(x.shape.map((d, i) => (i === ax ? dim : d)), x.dtype, 'padAxis');
  const { outer, inner } = around(x.shape, ax);
  windowCopy('padAxis', out, x, { outer, inner, srcAxis: len, srcStart: 0, dstAxis: dim, winStart: 0, winLen: dim, dstStart: before, len });
  rt.tape.record('padAxis', [x], out, [], (dOut) => [slice(dOut, ax, before, len)]);
  return out;
}
