// Vision layout ops: space <-> depth (patchify / unpatchify / pixel shuffle) and Swin patch merging.
// All are exact permutations (plus zeros for merging's padding), on f32 and i32 tensors alike.
//
// Layouts (kernels/vision.wgsl):
//   image   NCHW (B, C, h·P, w·P) or NHWC (B, h·P, w·P, C), chosen by `layout`
//   tokens  (B, h, w, C·P·P), channel index (c, a, e) row-major with (a, e) the row and column
//           inside the P×P patch: the order of a Conv2d weight (E, C, P, P) viewed as (E, C·P·P),
//           and of a ConvTranspose2d weight (Cin, Cout, P, P) viewed as (Cin, Cout·P·P).
// Gradients (each is the other op, so exact):
//   spaceToDepth(x)    dx = depthToSpace(dOut)        depthToSpace(t)  dt = spaceToDepth(dOut)
//   patchMerge(x)      dx = patchMergeBackward(dOut)  (the adjoint: a gather, each input one slot)
import type { KernelDecl } from '../kernel.js';
import type { Tensor } from '../tensor.js';
import { builds, groups, type FloatDType } from './util.js';

const WG = 256;
// the f16 build copies 2-byte elements; f32 and i32 tensors share the 4-byte one
const S2D = builds({ file: 'vision.wgsl', entry: 'space_to_depth', storage: { dst: 'read_write', src: 'read' }, uniform: 'dp' });
const D2S = builds({ file: 'vision.wgsl', entry: 'depth_to_space', storage: { dst: 'read_write', src: 'read' }, uniform: 'dp' });
const MERGE_FWD = builds({ file: 'vision.wgsl', entry: 'merge_fwd', storage: { merge_dst: 'read_write', merge_src: 'read' }, uniform: 'mp' });
const MERGE_BWD = builds({ file: 'vision.wgsl', entry: 'merge_bwd', storage: { merge_dst: 'read_write', merge_src: 'read' }, uniform: 'mp' });

export type ImageLayout = 'NCHW' | 'NHWC';

export interface LaunchOptions {
  /** Invocations per workgroup (default 256); tests make it tiny to exercise grid folding. */
  workgroupSize?: number;
}

function checkLayout(op: string, layout: string): void {
  if (layout !== 'NCHW' && layout !== 'NHWC') throw new Error(`${op}: layout ${layout} is neither NCHW nor NHWC`);
}

function checkRank4(op: string, x: Tensor, what: string): void {
  if (x.rank !== 4) throw new Error(`${op}: ${x.describe()} must be rank 4 ${what}`);
}

function checkPatch(op: string, p: number): void {
  if (!Number.isInteger(p) || p < 1) throw new Error(`${op}: patch size ${p} must be a positive integer`);
}

// ---- space <-> depth ----------------------------------------------------------------------------

/**
 * Image (B, C, H, W) NCHW or (B, H, W, C) NHWC -> tokens (B, H/P, W/P, C·P·P): each P×P patch
 * becomes one token, channels in the (c, row, col) order of a Conv2d weight. H, W multiples of P.
 */
export function spaceToDepth(x: Tensor, p: number, layout: ImageLayout = 'NCHW', opts: LaunchOptions = {}): Tensor {
  const op = 'spaceToDepth';
  checkLayout(op, layout);
  checkPatch(op, p);
  checkRank4(op, x, layout === 'NCHW' ? '(B, C, H, W)' : '(B, H, W, C)');
  const [b, c, hh, ww] = layout === 'NCHW' ? x.shape : [x.shape[0]!, x.shape[3]!, x.shape[1]!, x.shape[2]!];
  if (hh! % p !== 0 || ww! % p !== 0) throw new Error(`${op}: image ${hh}×${ww} of ${x.describe()} is not a multiple of the patch size ${p}`);
  const h = hh! / p;
  const w = ww! / p;
  const rt = x.rt;
  const out = rt.empty([b!, h, w, c! * p * p], x.dtype, op);
  dispatchDepth(S2D, op, out, x, { h, w, c: c!, p }, layout, opts);
  rt.tape.record(op, [x], out, [], (dOut) => [depthToSpace(dOut, p, layout, opts)]);
  return out;
}

/**
 * Tokens (B, h, w, C·P·P) -> image (B, C, h·P, w·P) NCHW or (B, h·P, w·P, C) NHWC: the inverse
 * of spaceToDepth. As the pixel shuffle of ConvTranspose2d(k=P, s=P):
 * out[b, o, P·i + a, P·j + e] = tokens[b, i, j, (o·P + a)·P + e].
 */
export function depthToSpace(t: Tensor, p: number, layout: ImageLayout = 'NCHW', opts: LaunchOptions = {}): Tensor {
  const op = 'depthToSpace';
  checkLayout(op, layout);
  checkPatch(op, p);
  checkRank4(op, t, '(B, h, w, C·P·P)');
  const [b, h, w, k] = t.shape as [number, number, number, number];
  if (k % (p * p) !== 0) throw new Error(`${op}: ${t.describe()} has ${k} channels, not a multiple of P·P = ${p * p}`);
  const c = k / (p * p);
  const rt = t.rt;
  const out = rt.empty(layout === 'NCHW' ? [b, c, h * p, w * p] : [b, h * p, w * p, c], t.dtype, op);
  dispatchDepth(D2S, op, out, t, { h, w, c, p }, layout, opts);
  rt.tape.record(op, [t], out, [], (dOut) => [spaceToDepth(dOut, p, layout, opts)]);
  return out;
}

function dispatchDepth(decls: Record<FloatDType, KernelDecl>, op: string, out: Tensor, src: Tensor, dims: { h: number; w: number; c: number; p: number }, layout: ImageLayout, opts: LaunchOptions): void {
  const wg = opts.workgroupSize ?? WG;
  const blocks = out.size / (dims.p * dims.p);   // one invocation per P×P block of one channel
  out.rt.dispatch(decls[out.dtype === 'f16' ? 'f16' : 'f32'], {
    op, storage: { dst: out.binding, src: src.binding },
    params: { blocks, h: dims.h, w: dims.w, c: dims.c }, constants: { NHWC: layout === 'NHWC' ? 1 : 0, P: dims.p, WG: wg }, workgroups: [groups(blocks, wg)],
  });
}

/** Patch-embed im2col: NCHW image (B, C, H, W) -> (B, H/P, W/P, C·P·P) in the weight's order. */
export const patchify = (x: Tensor, p = 4): Tensor => spaceToDepth(x, p, 'NCHW');
/** The inverse of patchify: (B, h, w, C·P·P) -> NCHW (B, C, h·P, w·P). */
export const unpatchify = (t: Tensor, p = 4): Tensor => depthToSpace(t, p, 'NCHW');

// ---- Swin patch merging ---------------------------------------------------------------------------

/**
 * Swin patch merging gather on NHWC (B, H, W, C): zero-pad bottom/right to even H, W, then
 * (B, ceil(H/2), ceil(W/2), 4C) with channel blocks x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2],
 * x[1::2, 1::2] (torchvision's order: the second block is the ODD ROW, even column).
 */
export function patchMerge(x: Tensor): Tensor {
  const op = 'patchMerge';
  checkRank4(op, x, '(B, H, W, C)');
  const [b, h, w, c] = x.shape as [number, number, number, number];
  const rt = x.rt;
  const out = rt.empty([b, Math.ceil(h / 2), Math.ceil(w / 2), 4 * c], x.dtype, op);
  dispatchMerge(MERGE_FWD, op, out, x, h, w, c);
  rt.tape.record(op, [x], out, [], (dOut) => [patchMergeBackward(dOut, h, w)]);
  return out;
}

/** The adjoint of patchMerge: (B, ceil(H/2), ceil(W/2), 4C) -> (B, H, W, C), padding dropped. */
export function patchMergeBackward(dOut: Tensor, h: number, w: number): Tensor {
  const op = 'patchMergeBackward';
  checkRank4(op, dOut, '(B, ceil(H/2), ceil(W/2), 4C)');
  const [b, ho, wo, c4] = dOut.shape as [number, number, number, number];
  if (ho !== Math.ceil(h / 2) || wo !== Math.ceil(w / 2) || c4 % 4 !== 0) {
    throw new Error(`${op}: ${dOut.describe()} is not the merge of a ${h}×${w} map (expected [B, ${Math.ceil(h / 2)}, ${Math.ceil(w / 2)}, 4C])`);
  }
  const rt = dOut.rt;
  const dx = rt.empty([b, h, w, c4 / 4], dOut.dtype, op);
  dispatchMerge(MERGE_BWD, op, dx, dOut, h, w, c4 / 4);
  rt.tape.record(op, [dOut], dx, [], (g) => [patchMerge(g)]);
  return dx;
}

function dispatchMerge(decls: Record<FloatDType, KernelDecl>, op: string, out: Tensor, src: Tensor, h: number, w: number, c: number): void {
  out.rt.dispatch(decls[out.dtype === 'f16' ? 'f16' : 'f32'], {
    op, storage: { merge_dst: out.binding, merge_src: src.binding },
    params: { n: out.size, h, w, c, ho: Math.ceil(h / 2), wo: Math.ceil(w / 2) }, workgroups: [groups(out.size, WG)],
  });
}
