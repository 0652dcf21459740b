// Small helpers shared by op modules: shape checks that name the op, and grid sizes.
import { shapeStr, type Tensor } from '../tensor.js';

export function assertDtype(op: string, t: Tensor, dtype: 'f32' | 'i32' = 'f32'): void {
  if (t.dtype !== dtype) throw new Error(`${op}: ${t.describe()} must be ${dtype}`);
}

export function assertSameRuntime(op: string, ...ts: Tensor[]): void {
  for (const t of ts) if (t.rt !== ts[0]!.rt) throw new Error(`${op}: tensors live on different devices`);
}

export function assertRank(op: string, t: Tensor, min: number, max = Infinity): void {
  if (t.rank < min || t.rank > max) throw new Error(`${op}: ${t.describe()} must have rank ${min}${max === Infinity ? '+' : max === min ? '' : `..${max}`}`);
}

/** True when `small`'s shape is a suffix of `big`'s (it broadcasts over `big`'s leading dims). */
export function isSuffix(small: readonly number[], big: readonly number[]): boolean {
  if (small.length > big.length) return false;
  const off = big.length - small.length;
  return small.every((d, i) => d === big[off + i]);
}

export function sameShape(op: string, a: Tensor, b: Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`${op}: shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} differ`);
  }
}

/** Workgroup count to cover `n` items with `per` items per workgroup. */
export function groups(n: number, per: number): number { return Math.ceil(n / per); }

/** Normalises a possibly negative axis of a rank-`rank` tensor, naming the op on error. */
export function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new Error(`${op}: axis ${axis} out of range for rank ${rank}`);
  return a;
}
