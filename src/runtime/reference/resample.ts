// float64 references for resampling ops (independent of kernels/resample.wgsl and
// src/runtime/ops/resample.ts), written from PyTorch's definitions. Coordinates follow PyTorch's
// float32 arithmetic step by step (Math.fround after every operation, no fused multiply-add) so the
// sample positions are PyTorch's; interpolation sums are then done in float64. Backward passes are
// the adjoints written as scatter-adds.

const f = Math.fround;

export type Layout = 'NCHW' | 'NHWC';
export interface Image { b: number; c: number; h: number; w: number }

// ---- bilinear resize (align_corners=False) --------------------------------------------------------

export interface Tap { lo: number; hi: number; l0: number; l1: number }

/** PyTorch's compute_source_index_and_lambda for `size=` (scale = float(in)/out), in f32. */
export function resizeTaps(inSize: number, outSize: number): Tap[] {
  const taps: Tap[] = [];
  const scale = f(inSize / outSize);
  for (let d = 0; d < outSize; d++) {
    if (inSize === outSize) { taps.push({ lo: d, hi: d, l0: 1, l1: 0 }); continue; }
    let s = f(f(scale * f(d + 0.5)) - 0.5);
    if (s < 0) s = 0;
    const lo = Math.min(Math.floor(s), inSize - 1);
    const hi = lo < inSize - 1 ? lo + 1 : lo;
    const l1 = Math.min(Math.max(f(s - lo), 0), 1);
    taps.push({ lo, hi, l0: f(1 - l1), l1 });
  }
  return taps;
}

function at(layout: Layout, im: Image, b: number, c: number, y: number, x: number): number {
  return layout === 'NCHW' ? ((b * im.c + c) * im.h + y) * im.w + x : ((b * im.h + y) * im.w + x) * im.c + c;
}

/** Calls fn(outIndex, inIndex, weight) for the four taps of every output element. */
function forEachResizeTap(layout: Layout, inp: Image, oh: number, ow: number, fn: (o: number, i: number, wgt: number) => void): void {
  const ty = resizeTaps(inp.h, oh);
  const tx = resizeTaps(inp.w, ow);
  const out: Image = { ...inp, h: oh, w: ow };
  for (let b = 0; b < inp.b; b++)
    for (let c = 0; c < inp.c; c++)
      for (let y = 0; y < oh; y++)
        for (let x = 0; x < ow; x++) {
          const o = at(layout, out, b, c, y, x);
          const { lo: y0, hi: y1, l0: wy0, l1: wy1 } = ty[y]!;
          const { lo: x0, hi: x1, l0: wx0, l1: wx1 } = tx[x]!;
          fn(o, at(layout, inp, b, c, y0, x0), wy0 * wx0);
          fn(o, at(layout, inp, b, c, y0, x1), wy0 * wx1);
          fn(o, at(layout, inp, b, c, y1, x0), wy1 * wx0);
          fn(o, at(layout, inp, b, c, y1, x1), wy1 * wx1);
        }
}

export function resizeRef(x: Float64Array, layout: Layout, inp: Image, oh: number, ow: number): Float64Array {
  const out = new Float64Array(inp.b * inp.c * oh * ow);
  forEachResizeTap(layout, inp, oh, ow, (o, i, wgt) => { out[o] += wgt * x[i]!; });
  return out;
}

export function resizeRefBackward(g: Float64Array, layout: Layout, inp: Image, oh: number, ow: number): Float64Array {
  const dx = new Float64Array(inp.b * inp.c * inp.h * inp.w);
  forEachResizeTap(layout, inp, oh, ow, (o, i, wgt) => { dx[i] += wgt * g[o]!; });
  return dx;
}

// ---- grid_sample (bilinear, zeros, align_corners=False) ---------------------------------------------

/** PyTorch's grid_sampler_unnormalize in f32: ((g + 1)·size − 1)/2. */
export const unnormalize = (g: number, size: number): number => f(f(f(f(g + 1) * size) - 1) / 2);

/** Calls fn(outIndex, inIndex, weight) for each in-range corner of every output element. */
function forEachGridTap(inp: Image, grid: Float64Array, oh: number, ow: number, fn: (o: number, i: number, wgt: number) => void): void {
  for (let b = 0; b < inp.b; b++)
    for (let y = 0; y < oh; y++)
      for (let x = 0; x < ow; x++) {
        const gi = ((b * oh + y) * ow + x) * 2;
        const ix = unnormalize(grid[gi]!, inp.w);
        const iy = unnormalize(grid[gi + 1]!, inp.h);
        const x0 = Math.floor(ix);
        const y0 = Math.floor(iy);
        const corners: [number, number, number][] = [
          [y0, x0, (x0 + 1 - ix) * (y0 + 1 - iy)],
          [y0, x0 + 1, (ix - x0) * (y0 + 1 - iy)],
          [y0 + 1, x0, (x0 + 1 - ix) * (iy - y0)],
          [y0 + 1, x0 + 1, (ix - x0) * (iy - y0)],
        ];
        for (const [cy, cx, wgt] of corners) {
          if (cy < 0 || cy >= inp.h || cx < 0 || cx >= inp.w) continue;
          for (let c = 0; c < inp.c; c++) fn(((b * inp.c + c) * oh + y) * ow + x, ((b * inp.c + c) * inp.h + cy) * inp.w + cx, wgt);
        }
      }
}

/** x NCHW (B, C, H, W), grid (B, oh, ow, 2) -> (B, C, oh, ow). */
export function gridSampleRef(x: Float64Array, grid: Float64Array, inp: Image, oh: number, ow: number): Float64Array {
  const out = new Float64Array(inp.b * inp.c * oh * ow);
  forEachGridTap(inp, grid, oh, ow, (o, i, wgt) => { out[o] += wgt * x[i]!; });
  return out;
}

export function gridSampleRefBackward(g: Float64Array, grid: Float64Array, inp: Image, oh: number, ow: number): Float64Array {
  const dx = new Float64Array(inp.b * inp.c * inp.h * inp.w);
  forEachGridTap(inp, grid, oh, ow, (o, i, wgt) => { dx[i] += wgt * g[o]!; });
  return dx;
}

/** Per input element of the backward: the most terms summed into one element and the largest Σ|w·g|. */
export function gridSampleBackwardStats(g: Float64Array, grid: Float64Array, inp: Image, oh: number, ow: number): { maxTerms: number; maxAbsSum: number } {
  const count = new Float64Array(inp.b * inp.c * inp.h * inp.w);
  const abs = new Float64Array(count.length);
  forEachGridTap(inp, grid, oh, ow, (o, i, wgt) => { count[i]++; abs[i] += Math.abs(wgt * g[o]!); });
  let maxTerms = 0;
  let maxAbsSum = 0;
  for (let i = 0; i < count.length; i++) { maxTerms = Math.max(maxTerms, count[i]!); maxAbsSum = Math.max(maxAbsSum, abs[i]!); }
  return { maxTerms, maxAbsSum };
}

// ---- positional encoding -----------------------------------------------------------------------------

/**
 * SAM/SegFace PositionEmbeddingRandom for an (h, w) map, G (2, F): coordinates and c in f32 as
 * PyTorch (c = (cx·G0 + cy·G1)·f32(2π)), sin and cos in float64. Returns tokens (h·w, 2F) and
 * the largest |c| (for the tolerance).
 */
export function posEncodingRef(g: Float64Array, h: number, w: number, nf: number): { tokens: Float64Array; maxAbsC: number } {
  const tokens = new Float64Array(h * w * 2 * nf);
  const twoPi = f(2 * Math.PI);
  let maxAbsC = 0;
  for (let i = 0; i < h; i++)
    for (let j = 0; j < w; j++) {
      const cx = f(2 * f((j + 0.5) / w) - 1);
      const cy = f(2 * f((i + 0.5) / h) - 1);
      for (let k = 0; k < nf; k++) {
        const c = f(f(f(cx * g[k]!) + f(cy * g[nf + k]!)) * twoPi);
        maxAbsC = Math.max(maxAbsC, Math.abs(c));
        const t = (i * w + j) * 2 * nf;
        tokens[t + k] = Math.sin(c);
        tokens[t + nf + k] = Math.cos(c);
      }
    }
  return { tokens, maxAbsC };
}

/** tokens (h·w, K) -> NCHW (1, K, h, w). */
export function tokensToNchw(tokens: Float64Array, h: number, w: number, k: number): Float64Array {
  const out = new Float64Array(tokens.length);
  for (let p = 0; p < h * w; p++) for (let c = 0; c < k; c++) out[c * h * w + p] = tokens[p * k + c]!;
  return out;
}
