// Elementwise ops: fill, add/sub/mul with broadcasting over leading dims, affine (scale + shift),
// and in-place accumulation. Gradients: d(a+b) = (g, g), d(a-b) = (g, -g), d(a*b) = (g*b, g*a);
// an operand that was broadcast gets its gradient summed over the broadcast (leading) dims.
import type { KernelDecl } from '../kernel.js';
import { floatToHalf } from '../half.js';
import { shapeStr, type DType, type Tensor } from '../tensor.js';
import { sumLeading } from './reduce.js';
import { assertSameRuntime, builds, floatDtype, groups, isSuffix, sameShape, type FloatDType } from './util.js';

const WG = 256;
const FILL: KernelDecl = { file: 'elementwise.wgsl', entry: 'fill', storage: { fill_out: 'read_write' }, uniform: 'fp' };
const BINARY = builds({ file: 'elementwise.wgsl', entry: 'binary', storage: { out: 'read_write', a: 'read', b: 'read' }, uniform: 'bp' });
const AFFINE = builds({ file: 'elementwise.wgsl', entry: 'affine', storage: { aff_out: 'read_write', aff_x: 'read' }, uniform: 'ap' });
const ACCUMULATE = builds({ file: 'elementwise.wgsl', entry: 'accumulate', storage: { acc: 'read_write', acc_x: 'read' }, uniform: 'cp' });
const BINARY4 = builds({ file: 'elementwise.wgsl', entry: 'binary4', storage: { out4: 'read_write', a4: 'read', b4: 'read' }, uniform: 'bp' });
const ACCUMULATE4 = builds({ file: 'elementwise.wgsl', entry: 'accumulate4', storage: { acc4: 'read_write', acc_x4: 'read' }, uniform: 'cp' });
const CAST_TO_F16: KernelDecl = { file: 'elementwise.wgsl', entry: 'cast_to_act', storage: { to_act: 'read_write', from_f32: 'read' }, uniform: 'castp', f16: true };
const CAST_TO_F32: KernelDecl = { file: 'elementwise.wgsl', entry: 'cast_from_act', storage: { to_f32: 'read_write', from_act: 'read' }, uniform: 'castp', f16: true };
/** vec4 per invocation step in the `*4` kernels: each invocation handles PER vec4. */
const PER = 2;
const vec4Groups = (n: number): number => groups(n / 4, WG * PER);

const f32bits = new DataView(new ArrayBuffer(4));

/** The 32-bit word `value` fills with: its f32 or i32 bits, or two copies of its f16 bits. */
function fillWord(dtype: DType, value: number): number {
  if (dtype === 'f16') return (floatToHalf(value) * 0x10001) >>> 0;
  if (dtype === 'f32') f32bits.setFloat32(0, value, true); else f32bits.setInt32(0, value, true);
  return f32bits.getUint32(0, true);
}

/**
 * Sets every element of `t` to `value` (bit pattern of the tensor's dtype; f16 fills 32-bit words
 * of two elements, the pad element of an odd count included). Tensors larger than one storage
 * binding are filled window by window.
 */
export function fill(t: Tensor, value: number): void {
  const bits = fillWord(t.dtype, value);
  const words = t.bytes / 4;
  const window = Math.floor(t.rt.device.limits.maxStorageBufferBindingSize / 256) * 64; // words, 256-byte aligned
  for (let start = 0; start < words; start += window) {
    const n = Math.min(window, words - start);
    t.rt.dispatch(FILL, { op: 'fill', storage: { fill_out: { buffer: t.buffer, offset: t.byteOffset + start * 4, size: n * 4 } }, params: { n, bits }, workgroups: [groups(n, WG)] });
  }
}

export type BinaryKind = 'add' | 'sub' | 'mul';
const OP_CODE: Record<BinaryKind, number> = { add: 0, sub: 1, mul: 2 };

function dispatchBinary(kind: BinaryKind, out: Tensor, a: Tensor, b: Tensor, dtype: FloatDType): void {
  if (out.size % 4 === 0 && a.size % 4 === 0 && b.size % 4 === 0) {
    out.rt.dispatch(BINARY4[dtype], {
      op: kind, storage: { out4: out.binding, a4: a.binding, b4: b.binding },
      params: { n: out.size, na: a.size, nb: b.size },
      constants: { OP: OP_CODE[kind], BCAST_A: Number(a.size !== out.size), BCAST_B: Number(b.size !== out.size), PER },
      workgroups: [vec4Groups(out.size)],
    });
    return;
  }
  out.rt.dispatch(BINARY[dtype], {
    op: kind, storage: { out: out.binding, a: a.binding, b: b.binding },
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
  const dtype = floatDtype(kind, a, b);
  const big = a.size >= b.size ? a : b;
  const small = big === a ? b : a;
  if (!isSuffix(small.shape, big.shape)) throw new Error(`${kind}: cannot broadcast ${shapeStr(a.shape)} with ${shapeStr(b.shape)} (the smaller shape must be a suffix of the larger)`);
  const rt = a.rt;
  const out = rt.empty(big.shape, dtype, kind);
  dispatchBinary(kind, out, a, b, dtype);
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
  const dtype = floatDtype('affine', x);
  const rt = x.rt;
  const out = rt.empty(x.shape, dtype, 'affine');
  rt.dispatch(AFFINE[dtype], { op: 'affine', storage: { aff_out: out.binding, aff_x: x.binding }, params: { n: x.size, alpha, beta }, workgroups: [groups(x.size, WG)] });
  rt.tape.record('affine', [x], out, [], (g) => [affine(g, alpha, 0)]);
  return out;
}

export const scale = (x: Tensor, alpha: number): Tensor => affine(x, alpha, 0);

/** `dst += src` in place; not recorded on the tape (used for gradient accumulation). */
export function accumulateInPlace(dst: Tensor, src: Tensor): void {
  sameShape('accumulate', dst, src);
  const dtype = floatDtype('accumulate', dst, src);
  if (dst.size % 4 === 0) {
    dst.rt.dispatch(ACCUMULATE4[dtype], { op: 'accumulate', storage: { acc4: dst.binding, acc_x4: src.binding }, params: { n: dst.size }, constants: { PER }, workgroups: [vec4Groups(dst.size)] });
    return;
  }
  dst.rt.dispatch(ACCUMULATE[dtype], { op: 'accumulate', storage: { acc: dst.binding, acc_x: src.binding }, params: { n: dst.size }, workgroups: [groups(dst.size, WG)] });
}

/**
 * `x` converted to `dtype` (f32 <-> f16; the same dtype returns a copy). f32 -> f16 rounds to
 * nearest even, and magnitudes at or above 65520 become ±Inf; f16 -> f32 is exact. The gradient
 * is cast back the other way.
 */
export function cast(x: Tensor, dtype: FloatDType): Tensor {
  const from = floatDtype('cast', x);
  const rt = x.rt;
  if (from === dtype) {
    const out = rt.copy(x);
    rt.tape.record('cast', [x], out, [], (g) => [rt.copy(g)]);
    return out;
  }
  const out = rt.empty(x.shape, dtype, 'cast');
  castInto(out, x);
  rt.tape.record('cast', [x], out, [], (g) => [cast(g, from)]);
  return out;
}

/** Writes `x` converted to `out`'s dtype (f32 <-> f16, same size) into `out`; not recorded on the tape. */
export function castInto(out: Tensor, x: Tensor): void {
  const rt = x.rt;
  const to = floatDtype('cast', out);
  if (out.size !== x.size || to === floatDtype('cast', x)) throw new Error(`cast: ${x.describe()} into ${out.describe()}`);
  if (!rt.device.hasF16) throw new Error(`cast to ${to}: adapter ${rt.device.adapter.name} has no shader-f16`);
  const storage: Record<string, { buffer: GPUBuffer }> = to === 'f16'
    ? { to_act: out.binding, from_f32: x.binding }
    : { to_f32: out.binding, from_act: x.binding };
  rt.dispatch(to === 'f16' ? CAST_TO_F16 : CAST_TO_F32, { op: 'cast', storage, params: { n: x.size }, workgroups: [groups(x.size, WG)] });
}

/**
 * Runs an op whose kernels have no f16 build on f16 activations, as autocast does: f16 inputs are
 * widened to f32, the op runs in f32, and a float result is rounded back to f16 (gradients flow
 * back through both casts). With no f16 input it is just `run(xs)`.
 */
export function widened(xs: readonly Tensor[], run: (wide: Tensor[]) => Tensor): Tensor {
  if (!xs.some((x) => x.dtype === 'f16')) return run([...xs]);
  const wide = xs.map((x) => (x.dtype === 'f16' ? cast(x, 'f32') : x));
  const y = run(wide);
  wide.forEach((w, i) => { if (w !== xs[i]) w.release(); });
  if (y.dtype !== 'f32') return y;
  const out = cast(y, 'f16');
  y.release();
  return out;
}

/** `t` in `like`'s float dtype: `t` itself when they match, else a cast (recorded, so a gradient reaches `t`). */
export function castLike(t: Tensor, like: Tensor): Tensor {
  return t.dtype === like.dtype ? t : cast(t, floatDtype('castLike', like));
}
