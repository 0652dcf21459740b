// float64 references for vision layout ops (independent of kernels/vision.wgsl and
// src/runtime/ops/vision.ts): plain loops over multi-indices written from the definitions, the
// image indexed by (b, c, y, x) through an explicit layout. Backward passes are scatter-adds.

export type Layout = 'NCHW' | 'NHWC';

function imageAt(layout: Layout, dims: { c: number; hh: number; ww: number }, b: number, c: number, y: number, x: number): number {
  return layout === 'NCHW' ? ((b * dims.c + c) * dims.hh + y) * dims.ww + x : ((b * dims.hh + y) * dims.ww + x) * dims.c + c;
}

/** Calls fn(tokenIndex, imageIndex) for every element: token[b, i, j, c, a, e] = image[b, c, iP + a, jP + e]. */
function forEachPatch(b: number, c: number, hh: number, ww: number, p: number, layout: Layout, fn: (t: number, im: number) => void): void {
  const h = hh / p;
  const w = ww / p;
  let t = 0;
  for (let bi = 0; bi < b; bi++)
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++)
        for (let ci = 0; ci < c; ci++)
          for (let a = 0; a < p; a++)
            for (let e = 0; e < p; e++) fn(t++, imageAt(layout, { c, hh, ww }, bi, ci, i * p + a, j * p + e));
}

/** image (layout) -> tokens (B, H/P, W/P, C·P·P). */
export function spaceToDepthRef(x: Float64Array, dims: { b: number; c: number; hh: number; ww: number }, p: number, layout: Layout): Float64Array {
  const out = new Float64Array(x.length);
  forEachPatch(dims.b, dims.c, dims.hh, dims.ww, p, layout, (t, im) => { out[t] = x[im]!; });
  return out;
}

/** The adjoint of spaceToDepthRef (tokens gradient -> image gradient). */
export function spaceToDepthRefBackward(g: Float64Array, dims: { b: number; c: number; hh: number; ww: number }, p: number, layout: Layout): Float64Array {
  const dx = new Float64Array(g.length);
  forEachPatch(dims.b, dims.c, dims.hh, dims.ww, p, layout, (t, im) => { dx[im] += g[t]!; });
  return dx;
}

/** tokens (B, h, w, C·P·P) -> image (layout) of size (hP, wP). */
export function depthToSpaceRef(t: Float64Array, dims: { b: number; c: number; hh: number; ww: number }, p: number, layout: Layout): Float64Array {
  const out = new Float64Array(t.length);
  forEachPatch(dims.b, dims.c, dims.hh, dims.ww, p, layout, (ti, im) => { out[im] = t[ti]!; });
  return out;
}

export function depthToSpaceRefBackward(g: Float64Array, dims: { b: number; c: number; hh: number; ww: number }, p: number, layout: Layout): Float64Array {
  const dt = new Float64Array(g.length);
  forEachPatch(dims.b, dims.c, dims.hh, dims.ww, p, layout, (ti, im) => { dt[ti] += g[im]!; });
  return dt;
}

// ---- Swin patch merging -----------------------------------------------------------------------------

/** The (row, col) offsets of the four channel blocks, torchvision's concat order. */
const MERGE_BLOCKS: readonly [number, number][] = [[0, 0], [1, 0], [0, 1], [1, 1]];

/** Calls fn(outIndex, inIndex or -1 for padding) for every element of the merged map. */
function forEachMerged(b: number, h: number, w: number, c: number, fn: (o: number, i: number) => void): void {
  const ho = Math.ceil(h / 2);
  const wo = Math.ceil(w / 2);
  let o = 0;
  for (let bi = 0; bi < b; bi++)
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < wo; j++)
        for (const [dr, dc] of MERGE_BLOCKS)
          for (let ci = 0; ci < c; ci++) {
            const y = 2 * i + dr;
            const x = 2 * j + dc;
            fn(o++, y < h && x < w ? ((bi * h + y) * w + x) * c + ci : -1);
          }
}

/** (B, H, W, C) -> (B, ceil(H/2), ceil(W/2), 4C). */
export function patchMergeRef(x: Float64Array, b: number, h: number, w: number, c: number): Float64Array {
  const out = new Float64Array(b * Math.ceil(h / 2) * Math.ceil(w / 2) * 4 * c);
  forEachMerged(b, h, w, c, (o, i) => { out[o] = i < 0 ? 0 : x[i]!; });
  return out;
}

export function patchMergeRefBackward(g: Float64Array, b: number, h: number, w: number, c: number): Float64Array {
  const dx = new Float64Array(b * h * w * c);
  forEachMerged(b, h, w, c, (o, i) => { if (i >= 0) dx[i] += g[o]!; });
  return dx;
}
