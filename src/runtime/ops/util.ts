// Small helpers shared by op modules: shape checks that name the op, and grid sizes.
import type { KernelDecl } from '../kernel.js';
import { shapeStr, type Tensor } from '../tensor.js';

export function assertDtype(op: string, t: Tensor, dtype: 'f32' | 'i32' = 'f32'): void {
  if (t.dtype !== dtype) throw new Error(`${op}: ${t.describe()} must be ${dtype}`);
}

/** Float dtypes activations are stored in: f32, or f16 in mixed precision. */
export type FloatDType = 'f32' | 'f16';

/** The float dtype shared by an op's activation tensors (f32 or f16, all the same), naming the op otherwise. */
export function floatDtype(op: string, ...ts: Tensor[]): FloatDType {
  const d = ts[0]!.dtype;
  for (const t of ts) {
    if (t.dtype === 'i32') throw new Error(`${op}: ${t.describe()} must be f32 or f16`);
    if (t.dtype !== d) throw new Error(`${op}: ${t.describe()} and ${ts[0]!.describe()} differ in dtype (cast one first)`);
  }
  return d as FloatDType;
}

/** A kernel's two builds: act_t = f32, and act_t = f16 (`// #if f16`; runtime/kernel.ts). */
export function builds(decl: KernelDecl): Record<FloatDType, KernelDecl> {
  return { f32: decl, f16: { ...decl, f16: true } };
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
