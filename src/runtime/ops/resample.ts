// Resampling ops: bilinear resize (PyTorch `F.interpolate(mode='bilinear', align_corners=False)`
// with `size=`), grid_sample (bilinear, padding 'zeros', align_corners=False) and SegFace's
// sinusoidal positional encoding (SAM's PositionEmbeddingRandom). Kernels: kernels/resample.wgsl.
//
// Gradients:
//   resizeBilinear(x)   dx = resizeBilinearBackward(dOut): the adjoint, as a gather (for each input
//                       pixel, the outputs that read it form a computable run): no atomics.
//   gridSample(x, g)    dx = scatter of w·dOut into the four corners, with an f32 atomic add
//                       (compare-and-swap on u32 bits): exact up to summation order, possibly slow
//                       on lavapipe where many outputs hit one pixel. The grid gets NO gradient.
//                       In f16 the image, output and d(output) are f16; the grid and the sums are
//                       f32, and dx is rounded to f16 once after the f32 scatter.
//   positionalEncoding  forward only (G is a buffer, not a parameter).
import type { KernelDecl } from '../kernel.js';
import { shapeStr, type Tensor } from '../tensor.js';
import { assertDtype, assertSameRuntime, builds, floatDtype, groups } from './util.js';
import { cast, castInto } from './elementwise.js';
import type { ImageLayout, LaunchOptions } from './vision.js';

const WG = 256;
// the resize has an f32 and an f16 build (image and gradient in the input's dtype, maths f32)
const RESIZE_FWD = builds({ file: 'resample.wgsl', entry: 'resize_fwd', storage: { rs_dst: 'read_write', rs_src: 'read', rs_taps: 'read' }, uniform: 'rp' });
const RESIZE_BWD = builds({ file: 'resample.wgsl', entry: 'resize_bwd', storage: { rs_dst: 'read_write', rs_src: 'read', rs_taps: 'read' }, uniform: 'rp' });
// grid_sample: f32 and f16 builds (image, output and d(output) in the input's dtype; grid and sums f32)
const GRID_FWD = builds({ file: 'resample.wgsl', entry: 'grid_sample_fwd', storage: { gs_out: 'read_write', gs_x: 'read', gs_grid: 'read' }, uniform: 'gp' });
const GRID_BWD = builds({ file: 'resample.wgsl', entry: 'grid_sample_bwd', storage: { gs_dx: 'read_write', gs_dout: 'read', gs_grid: 'read' }, uniform: 'gp' });
const POS_ENC: KernelDecl = { file: 'resample.wgsl', entry: 'pos_encoding', storage: { pe_out: 'read_write', pe_coords: 'read', pe_g: 'read' }, uniform: 'pe' };

// ---- bilinear resize ------------------------------------------------------------------------------

/** (B, C, H, W) or (B, H, W, C) as { b, c, h, w }. */
function dims(layout: ImageLayout, shape: readonly number[]): { b: number; c: number; h: number; w: number } {
  const [b, d1, d2, d3] = shape as [number, number, number, number];
  return layout === 'NCHW' ? { b, c: d1, h: d2, w: d3 } : { b, c: d3, h: d1, w: d2 };
}

function shapeOf(layout: ImageLayout, b: number, c: number, h: number, w: number): number[] {
  return layout === 'NCHW' ? [b, c, h, w] : [b, h, w, c];
}

/** Layout and rank of an image (the callers check its dtype). */
function checkImage(op: string, x: Tensor, layout: ImageLayout): void {
  if (layout !== 'NCHW' && layout !== 'NHWC') throw new Error(`${op}: layout ${layout} is neither NCHW nor NHWC`);
  if (x.rank !== 4) throw new Error(`${op}: ${x.describe()} must be rank 4 ${layout === 'NCHW' ? '(B, C, H, W)' : '(B, H, W, C)'}`);
}

function checkSize(op: string, size: readonly number[]): void {
  if (size.length !== 2 || size.some((s) => !Number.isInteger(s) || s < 1)) throw new Error(`${op}: size [${size.join(', ')}] must be two positive integers [H, W]`);
}

/**
 * Tap tables for kernels/resample.wgsl, with PyTorch's f32 arithmetic (Math.fround after each
 * step; scale = f32(in)/f32(out), correctly rounded): per output index d of each axis lo(d) and
 * the bits of l1(d); per input index k the first output d with lo(d) >= k − 1 (the backward's run
 * start). Layout: lo_y, l1_y, lo_x, l1_x, first_y, first_x.
 */
export function resizeTapTable(inH: number, inW: number, outH: number, outW: number): Int32Array {
  const table = new Int32Array(2 * (outH + outW) + inH + inW);
  const bits = new Float32Array(table.buffer);
  const axis = (inSize: number, outSize: number, loAt: number, firstAt: number): void => {
    const scale = Math.fround(inSize / outSize);
    for (let d = 0; d < outSize; d++) {
      let lo = d;
      let l1 = 0;
      if (inSize !== outSize) {
        const s = Math.max(Math.fround(Math.fround(scale * (d + 0.5)) - 0.5), 0);
        lo = Math.min(Math.floor(s), inSize - 1);
        l1 = Math.min(Math.max(Math.fround(s - lo), 0), 1);
      }
      table[loAt + d] = lo;
      bits[loAt + outSize + d] = l1;
    }
    let d = 0;
    for (let k = 0; k < inSize; k++) {
      while (d < outSize && table[loAt + d]! < k - 1) d++;
      table[firstAt + k] = d;
    }
  };
  const firstAt = 2 * (outH + outW);
  axis(inH, outH, 0, firstAt);
  axis(inW, outW, 2 * outH, firstAt + inH);
  return table;
}

function dispatchResize(decl: KernelDecl, op: string, dst: Tensor, src: Tensor, layout: ImageLayout, inDims: { c: number; h: number; w: number }, out: { h: number; w: number }, opts: LaunchOptions): void {
  const rt = dst.rt;
  const c = inDims.c;
  // NHWC: a workgroup per (pixel, WG channels), sized to the channels (32..WG lanes); NCHW: flat.
  const wg = opts.workgroupSize ?? (layout === 'NHWC' ? Math.min(WG, Math.max(32, 2 ** Math.ceil(Math.log2(c)))) : WG);
  const count = layout === 'NHWC' ? (dst.size / c) * groups(c, wg) : groups(dst.size, wg);
  const taps = rt.tensor(resizeTapTable(inDims.h, inDims.w, out.h, out.w), [2 * (out.h + out.w) + inDims.h + inDims.w], 'i32');
  rt.dispatch(decl, {
    op, storage: { rs_dst: dst.binding, rs_src: src.binding, rs_taps: taps.binding },
    params: { n: dst.size, c, in_h: inDims.h, in_w: inDims.w, out_h: out.h, out_w: out.w },
    constants: { NHWC: layout === 'NHWC' ? 1 : 0, WG: wg }, workgroups: [count],
  });
  taps.release();
}

/**
 * Bilinear resize with align_corners=False to `size` = [H, W], on NCHW (B, C, h, w) or NHWC
 * (B, h, w, C). Equal sizes are an exact copy (as in PyTorch).
 */
export function resizeBilinear(x: Tensor, size: readonly [number, number], layout: ImageLayout = 'NCHW', opts: LaunchOptions = {}): Tensor {
  const op = 'resizeBilinear';
  const dtype = floatDtype(op, x);
  checkImage(op, x, layout);
  checkSize(op, size);
  const d = dims(layout, x.shape);
  const [oh, ow] = size;
  const rt = x.rt;
  const out = rt.empty(shapeOf(layout, d.b, d.c, oh, ow), dtype, op);
  if (oh === d.h && ow === d.w) rt.batch.copy(x.buffer, x.byteOffset, out.buffer, out.byteOffset, x.bytes);
  else dispatchResize(RESIZE_FWD[dtype], op, out, x, layout, d, { h: oh, w: ow }, opts);
  rt.tape.record(op, [x], out, [], (dOut) => [resizeBilinearBackward(dOut, [d.h, d.w], layout, opts)]);
  return out;
}

/** The adjoint of resizeBilinear: dOut (output-shaped) -> dx of spatial size `inSize` = [h, w]. */
export function resizeBilinearBackward(dOut: Tensor, inSize: readonly [number, number], layout: ImageLayout = 'NCHW', opts: LaunchOptions = {}): Tensor {
  const op = 'resizeBilinearBackward';
  const dtype = floatDtype(op, dOut);
  checkImage(op, dOut, layout);
  checkSize(op, inSize);
  const d = dims(layout, dOut.shape);
  const [ih, iw] = inSize;
  const rt = dOut.rt;
  const dx = rt.empty(shapeOf(layout, d.b, d.c, ih, iw), dtype, op);
  if (ih === d.h && iw === d.w) rt.batch.copy(dOut.buffer, dOut.byteOffset, dx.buffer, dx.byteOffset, dOut.bytes);
  else dispatchResize(RESIZE_BWD[dtype], op, dx, dOut, layout, { c: d.c, h: ih, w: iw }, { h: d.h, w: d.w }, opts);
  rt.tape.record(op, [dOut], dx, [], (g) => [resizeBilinear(g, [d.h, d.w], layout, opts)]);
  return dx;
}

// ---- grid_sample ----------------------------------------------------------------------------------

function checkGrid(op: string, x: Tensor, grid: Tensor): void {
  assertSameRuntime(op, x, grid);
  assertDtype(op, grid);
  if (grid.rank !== 4 || grid.shape[3] !== 2 || grid.shape[0] !== x.shape[0]) {
    throw new Error(`${op}: grid ${grid.describe()} must be (B, H_out, W_out, 2) with B = ${x.shape[0]} (the input's batch)`);
  }
}

function gridParams(c: number, inH: number, inW: number, grid: Tensor): Record<string, number> {
  const outHW = grid.shape[1]! * grid.shape[2]!;
  return { n: grid.shape[0]! * outHW, c, in_h: inH, in_w: inW, out_hw: outHW };
}

/**
 * `F.grid_sample(x, grid, mode='bilinear', padding_mode='zeros', align_corners=False)`:
 * x NCHW (B, C, H_in, W_in), grid (B, H_out, W_out, 2) holding (x, y) in [-1, 1] (pixel =
 * ((g + 1)·size − 1)/2; outside samples contribute 0 per corner) -> (B, C, H_out, W_out).
 * Differentiable in x only: the grid is data, and a grid that requires a gradient is refused.
 * x may be f16 (the output then is too); sample positions are always computed from an f32 grid,
 * so an f16 grid is widened first.
 */
export function gridSample(x: Tensor, grid: Tensor): Tensor {
  const op = 'gridSample';
  const dtype = floatDtype(op, x);
  if (grid.dtype === 'f16') {
    const wide = cast(grid, 'f32');
    const out = gridSample(x, wide);
    wide.release();
    return out;
  }
  checkImage(op, x, 'NCHW');
  checkGrid(op, x, grid);
  const rt = x.rt;
  if (grid.requiresGrad && rt.gradEnabled) throw new Error(`${op}: grid ${grid.describe()} requires a gradient, but gridSample differentiates only its input (the grid is data)`);
  const [b, c, inH, inW] = x.shape as [number, number, number, number];
  const out = rt.empty([b, c, grid.shape[1]!, grid.shape[2]!], dtype, op);
  const params = gridParams(c, inH, inW, grid);
  rt.dispatch(GRID_FWD[dtype], {
    op, storage: { gs_out: out.binding, gs_x: x.binding, gs_grid: grid.binding },
    params, workgroups: [groups(params.n!, WG)],
  });
  rt.tape.record(op, [x, grid], out, [grid], (dOut) => [gridSampleBackward(dOut, grid, [inH, inW]), null]);
  return out;
}

/**
 * d(gridSample)/dx: dOut (B, C, H_out, W_out) scattered back to (B, C, H_in, W_in) (not recorded),
 * in dOut's dtype; the scatter itself always sums in f32.
 */
export function gridSampleBackward(dOut: Tensor, grid: Tensor, inSize: readonly [number, number]): Tensor {
  const op = 'gridSampleBackward';
  const dtype = floatDtype(op, dOut);
  checkImage(op, dOut, 'NCHW');
  checkGrid(op, dOut, grid);
  checkSize(op, inSize);
  if (dOut.shape[2] !== grid.shape[1] || dOut.shape[3] !== grid.shape[2]) throw new Error(`${op}: ${dOut.describe()} does not match grid ${shapeStr(grid.shape)}`);
  const [b, c] = dOut.shape as [number, number];
  const rt = dOut.rt;
  const dx32 = rt.zeros([b, c, inSize[0], inSize[1]]);
  const params = gridParams(c, inSize[0], inSize[1], grid);
  rt.dispatch(GRID_BWD[dtype], {
    op, storage: { gs_dx: dx32.binding, gs_dout: dOut.binding, gs_grid: grid.binding },
    params, workgroups: [groups(params.n!, WG)],
  });
  if (dtype === 'f32') return dx32;
  const dx = rt.empty(dx32.shape, 'f16', op);
  castInto(dx, dx32);
  dx32.release();
  return dx;
}

// ---- positional encoding --------------------------------------------------------------------------

export type PeLayout = 'tokens' | 'NCHW';

/**
 * SegFace's `image_pe` for an (h, w) map from G = positional_encoding_gaussian_matrix (2, F):
 * pixel (i, j): x = (j + 0.5)/w, y = (i + 0.5)/h (f32), c = [2x − 1, 2y − 1] @ G · 2π,
 * pe = [sin(c), cos(c)]. Layout 'tokens' (default, what the decoder's kpe uses): (h·w, 2F) with
 * token t = i·w + j; 'NCHW': (1, 2F, h, w) as the official module returns. Forward only.
 */
export function positionalEncoding(g: Tensor, h: number, w: number, layout: PeLayout = 'tokens'): Tensor {
  const op = 'positionalEncoding';
  assertDtype(op, g);
  if (g.rank !== 2 || g.shape[0] !== 2) throw new Error(`${op}: G ${g.describe()} must be (2, F)`);
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) throw new Error(`${op}: map size ${h}×${w} must be positive integers`);
  if (layout !== 'tokens' && layout !== 'NCHW') throw new Error(`${op}: layout ${layout} is neither tokens nor NCHW`);
  const rt = g.rt;
  if (g.requiresGrad && rt.gradEnabled) throw new Error(`${op}: G ${g.describe()} requires a gradient, but the encoding is forward only (G is a buffer)`);
  const f = g.shape[1]!;
  // Pixel-centre coordinates, divided on the host so they are correctly rounded like PyTorch's.
  const coords = new Float32Array(w + h);
  for (let j = 0; j < w; j++) coords[j] = (j + 0.5) / w;
  for (let i = 0; i < h; i++) coords[w + i] = (i + 0.5) / h;
  const table = rt.tensor(coords, [w + h]);
  const out = rt.empty(layout === 'tokens' ? [h * w, 2 * f] : [1, 2 * f, h, w], 'f32', op);
  const n = h * w * f;
  rt.dispatch(POS_ENC, {
    op, storage: { pe_out: out.binding, pe_coords: table.binding, pe_g: g.binding },
    params: { n, h, w, f }, constants: { TOKENS: layout === 'tokens' ? 1 : 0 }, workgroups: [groups(n, WG)],
  });
  table.release();
  return out;
}
