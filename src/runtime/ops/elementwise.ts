// Elementwise ops: fill, add/sub/mul with broadcasting over leading dims, affine (scale + shift),
// and in-place accumulation. Gradients: d(a+b) = (g, g), d(a-b) = (g, -g), d(a*b) = (g*b, g*a);
// an operand that was broadcast gets its gradient summed over the broadcast (leading) dims.
import type { KernelDecl } from '../kernel.js';
import { shapeStr, type Tensor } from '../tensor.js';
import { sumLeading } from './reduce.js';
import { assertDtype, assertSameRuntime, groups, isSuffix, sameShape } from './util.js';

const WG = 256;
const FILL: KernelDecl = { file: 'elementwise.wgsl', entry: 'fill', storage: { fill_out: 'read_write' }, uniform: 'fp' };
const BINARY: KernelDecl = { file: 'elementwise.wgsl', entry: 'binary', storage: { out: 'read_write', a: 'read', b: 'read' }, uniform: 'bp' };
const AFFINE: KernelDecl = { file: 'elementwise.wgsl', entry: 'affine', storage: { aff_out: 'read_write', aff_x: 'read' }, uniform: 'ap' };
const ACCUMULATE: KernelDecl = { file: 'elementwise.wgsl', entry: 'accumulate', storage: { acc: 'read_write', acc_x: 'read' }, uniform: 'cp' };
const BINARY4: KernelDecl = { file: 'elementwise.wgsl', entry: 'binary4', storage: { out4: 'read_write', a4: 'read', b4: 'read' }, uniform: 'bp' };
const ACCUMULATE4: KernelDecl = { file: 'elementwise.wgsl', entry: 'accumulate4', storage: { acc4: 'read_write', acc_x4: 'read' }, uniform: 'cp' };
/** vec4 per invocation step in the `*4` kernels: each invocation handles PER vec4. */
const PER = 2;
const vec4Groups = (n: number): number => groups(n / 4, WG * PER);

const f32bits = new DataView(new ArrayBuffer(4));

/**
 * Sets every element of `t` to `value` (bit pattern of the tensor's dtype). Tensors larger than
 * one storage binding are filled window by window.
 */
export function fill(t: Tensor, value: number): void {
  if (t.dtype === 'f32') f32bits.setFloat32(0, value, true); else f32bits.setInt32(0, value, true);
  const bits = f32bits.getUint32(0, true);
  const window = Math.floor(t.rt.device.limits.maxStorageBufferBindingSize / 256) * 64; // elements, 256-byte aligned
  for (let start = 0; start < t.size; start += window) {
    const n = Math.min(window, t.size - start);
    t.rt.dispatch(FILL, { op: 'fill', storage: { fill_out: { buffer: t.buffer, offset: start * 4, size: n * 4 } }, params: { n, bits }, workgroups: [groups(n, WG)] });
  }
}

export type BinaryKind = 'add' | 'sub' | 'mul';
const OP_CODE: Record<BinaryKind, number> = { add: 0, sub: 1, mul: 2 };

function dispatchBinary(kind: BinaryKind, out: Tensor, a: Tensor, b: Tensor): void {
  if (out.size % 4 === 0 && a.size % 4 === 0 && b.size % 4 === 0) {
    out.rt.dispatch(BINARY4, {
      op: kind, storage: { out4: { buffer: out.buffer }, a4: { buffer: a.buffer }, b4: { buffer: b.buffer } },
      params: { n: out.size, na: a.size, nb: b.size },
      constants: { OP: OP_CODE[kind], BCAST_A: Number(a.size !== out.size), BCAST_B: Number(b.size !== out.size), PER },
      workgroups: [vec4Groups(out.size)],
    });
    return;
  }
  out.rt.dispatch(BINARY, {
    op: kind, storage: { out: { buffer: out.buffer }, a: { buffer: a.buffer }, b: { buffer: b.buffer } },
    params: { n: out.size, na: a.size, nb: b.size }, constants: { OP: OP_CODE[kind] }, workgroups: [groups(out.size, WG)],
  });
}

/** Sums a gradient of the output's shape down to `like`'s shape (over broadcast leading dims). */
function reduceTo(g: Tensor, like: Tensor): Tensor {
  if (g.size === like.size) return g.reshape(like.shape);
  return sumLeading(g, like.rank);
}

/** `a OP b`; the operand with fewer elements broadcasts when its shape is a suffix of the other's. */
export function binary(kind: BinaryKind, a: Tensor, b: Tensor): Tensor {
  assertSameRuntime(kind, a, b);
  assertDtype(kind, a);
  assertDtype(kind, b);
  const big = a.size >= b.size ? a : b;
  const small = big === a ? b : a;
  if (!isSuffix(small.shape, big.shape)) throw new Error(`${kind}: cannot broadcast ${shapeStr(a.shape)} with ${shapeStr(b.shape)} (the smaller shape must be a suffix of the larger)`);
  const rt = a.rt;
  const out = rt.empty(big.shape, 'f32', kind);
  dispatchBinary(kind, out, a, b);
  const saved = kind === 'mul' ? [a, b] : [];
  rt.tape.record(kind, [a, b], out, saved, (g) => {
    if (kind === 'add') return [reduceTo(g, a), reduceTo(g, b)];
    if (kind === 'sub') {
      const negB = affine(g, -1, 0);
      const db = reduceTo(negB, b);
      negB.release();
      return [reduceTo(g, a), db];
    }
    const gb = binary('mul', g, b);
    const ga = binary('mul', g, a);
    const da = reduceTo(gb, a);
    const db = reduceTo(ga, b);
    gb.release();
    ga.release();
    return [da, db];
  });
  return out;
}

export const add = (a: Tensor, b: Tensor): Tensor => binary('add', a, b);
export const sub = (a: Tensor, b: Tensor): Tensor => binary('sub', a, b);
export const mul = (a: Tensor, b: Tensor): Tensor => binary('mul', a, b);

/** `alpha * x + beta`; `scale(x, s)` is `affine(x, s, 0)`. */
export function affine(x: Tensor, alpha: number, beta: number): Tensor {
  assertDtype('affine', x);
  const rt = x.rt;
  const out = rt.empty(x.shape, 'f32', 'affine');
  rt.dispatch(AFFINE, { op: 'affine', storage: { aff_out: { buffer: out.buffer }, aff_x: { buffer: x.buffer } }, params: { n: x.size, alpha, beta }, workgroups: [groups(x.size, WG)] });
  rt.tape.record('affine', [x], out, [], (g) => [affine(g, alpha, 0)]);
  return out;
}

export const scale = (x: Tensor, alpha: number): Tensor => affine(x, alpha, 0);

/** `dst += src` in place; not recorded on the tape (used for gradient accumulation). */
export function accumulateInPlace(dst: Tensor, src: Tensor): void {
  sameShape('accumulate', dst, src);
  if (dst.size % 4 === 0) {
    dst.rt.dispatch(ACCUMULATE4, { op: 'accumulate', storage: { acc4: { buffer: dst.buffer }, acc_x4: { buffer: src.buffer } }, params: { n: dst.size }, constants: { PER }, workgroups: [vec4Groups(dst.size)] });
    return;
  }
  dst.rt.dispatch(ACCUMULATE, { op: 'accumulate', storage: { acc: { buffer: dst.buffer }, acc_x: { buffer: src.buffer } }, params: { n: dst.size }, workgroups: [groups(dst.size, WG)] });
}
