// float64 references for the convolutions SegFace uses (independent of src/runtime/ops/conv.ts,
// which builds them from layout kernels and matmul): direct loops from the PyTorch definitions.
// Backward passes are the adjoints written as scatter-adds.

export type Layout = 'NCHW' | 'NHWC';

function at(layout: Layout, c: number, h: number, w: number, b: number, ch: number, y: number, x: number): number {
  return layout === 'NCHW' ? ((b * c + ch) * h + y) * w + x : ((b * h + y) * w + x) * c + ch;
}

// ---- Conv2d with stride = kernel (patch embed) ------------------------------------------------------

export interface PatchConv { b: number; cin: number; h: number; w: number; e: number; p: number }

/**
 * Conv2d(cin, e, k = p, s = p) with bias on NCHW x (B, cin, H, W), weight (e, cin, p, p):
 * out[b, i, j, o] = bias[o] + Σ_{c, a, d} x[b, c, p·i + a, p·j + d]·W[o, c, a, d], returned NHWC
 * (B, H/p, W/p, e). Calls fn(outIndex, xIndex, wIndex) for each term.
 */
function forEachPatchTerm(s: PatchConv, fn: (o: number, xi: number, wi: number, oc: number) => void): void {
  const ho = s.h / s.p;
  const wo = s.w / s.p;
  for (let b = 0; b < s.b; b++)
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < wo; j++)
        for (let oc = 0; oc < s.e; oc++) {
          const o = ((b * ho + i) * wo + j) * s.e + oc;
          for (let c = 0; c < s.cin; c++)
            for (let a = 0; a < s.p; a++)
              for (let d = 0; d < s.p; d++) fn(o, ((b * s.cin + c) * s.h + s.p * i + a) * s.w + s.p * j + d, ((oc * s.cin + c) * s.p + a) * s.p + d, oc);
        }
}

export function patchConvRef(x: Float64Array, wt: Float64Array, bias: Float64Array, s: PatchConv): Float64Array {
  const out = new Float64Array(s.b * (s.h / s.p) * (s.w / s.p) * s.e);
  for (let o = 0; o < out.length; o++) out[o] = bias[o % s.e]!;
  forEachPatchTerm(s, (o, xi, wi) => { out[o] += x[xi]! * wt[wi]!; });
  return out;
}

export function patchConvRefBackward(x: Float64Array, wt: Float64Array, g: Float64Array, s: PatchConv): Float64Array[] {
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(wt.length);
  const db = new Float64Array(s.e);
  for (let o = 0; o < g.length; o++) db[o % s.e] += g[o]!;
  forEachPatchTerm(s, (o, xi, wi) => { dx[xi] += g[o]! * wt[wi]!; dw[wi] += g[o]! * x[xi]!; });
  return [dx, dw, db];
}

// ---- 1×1 convolution ------------------------------------------------------------------------------

export interface Conv1x1 { b: number; cin: number; h: number; w: number; cout: number }

/** out[b, o, y, x] = Σ_c W[o, c]·x[b, c, y, x] (+ bias[o]), weight (cout, cin[, 1, 1]), layouts given. */
function forEach1x1Term(s: Conv1x1, inLayout: Layout, outLayout: Layout, fn: (o: number, xi: number, wi: number, oc: number) => void): void {
  for (let b = 0; b < s.b; b++)
    for (let y = 0; y < s.h; y++)
      for (let x = 0; x < s.w; x++)
        for (let oc = 0; oc < s.cout; oc++) {
          const o = at(outLayout, s.cout, s.h, s.w, b, oc, y, x);
          for (let c = 0; c < s.cin; c++) fn(o, at(inLayout, s.cin, s.h, s.w, b, c, y, x), oc * s.cin + c, oc);
        }
}

export function conv1x1Ref(x: Float64Array, wt: Float64Array, bias: Float64Array | null, s: Conv1x1, inLayout: Layout, outLayout: Layout): Float64Array {
  const out = new Float64Array(s.b * s.h * s.w * s.cout);
  forEach1x1Term(s, inLayout, outLayout, (o, xi, wi) => { out[o] += x[xi]! * wt[wi]!; });
  if (bias) forEach1x1Term({ ...s, cin: 1 }, inLayout, outLayout, (o, _xi, _wi, oc) => { out[o] += bias[oc]!; });
  return out;
}

export function conv1x1RefBackward(x: Float64Array, wt: Float64Array, g: Float64Array, s: Conv1x1, inLayout: Layout, outLayout: Layout): Float64Array[] {
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(wt.length);
  const db = new Float64Array(s.cout);
  forEach1x1Term(s, inLayout, outLayout, (o, xi, wi) => { dx[xi] += g[o]! * wt[wi]!; dw[wi] += g[o]! * x[xi]!; });
  forEach1x1Term({ ...s, cin: 1 }, inLayout, outLayout, (o, _xi, _wi, oc) => { db[oc] += g[o]!; });
  return [dx, dw, db];
}

// ---- ConvTranspose2d k=2, s=2 -------------------------------------------------------------------------

export interface ConvT { b: number; cin: number; h: number; w: number; cout: number }

/**
 * ConvTranspose2d(cin, cout, k=2, s=2), weight (cin, cout, 2, 2) (PyTorch's (in, out, kh, kw)):
 * out[b, o, 2i + a, 2j + d] = bias[o] + Σ_c x[b, c, i, j]·W[c, o, a, d]; x and out in the given
 * layouts, out of spatial size (2h, 2w).
 */
function forEachConvTTerm(s: ConvT, inLayout: Layout, outLayout: Layout, fn: (o: number, xi: number, wi: number, oc: number) => void): void {
  for (let b = 0; b < s.b; b++)
    for (let i = 0; i < s.h; i++)
      for (let j = 0; j < s.w; j++)
        for (let oc = 0; oc < s.cout; oc++)
          for (let a = 0; a < 2; a++)
            for (let d = 0; d < 2; d++) {
              const o = at(outLayout, s.cout, 2 * s.h, 2 * s.w, b, oc, 2 * i + a, 2 * j + d);
              for (let c = 0; c < s.cin; c++) fn(o, at(inLayout, s.cin, s.h, s.w, b, c, i, j), ((c * s.cout + oc) * 2 + a) * 2 + d, oc);
            }
}

export function convT2x2Ref(x: Float64Array, wt: Float64Array, bias: Float64Array, s: ConvT, inLayout: Layout, outLayout: Layout): Float64Array {
  const out = new Float64Array(s.b * s.cout * 4 * s.h * s.w);
  forEachConvTTerm({ ...s, cin: 1 }, inLayout, outLayout, (o, _xi, _wi, oc) => { out[o] = bias[oc]!; });
  forEachConvTTerm(s, inLayout, outLayout, (o, xi, wi) => { out[o] += x[xi]! * wt[wi]!; });
  return out;
}

export function convT2x2RefBackward(x: Float64Array, wt: Float64Array, g: Float64Array, s: ConvT, inLayout: Layout, outLayout: Layout): Float64Array[] {
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(wt.length);
  const db = new Float64Array(s.cout);
  forEachConvTTerm(s, inLayout, outLayout, (o, xi, wi) => { dx[xi] += g[o]! * wt[wi]!; dw[wi] += g[o]! * x[xi]!; });
  forEachConvTTerm({ ...s, cin: 1 }, inLayout, outLayout, (o, _xi, _wi, oc) => { db[oc] += g[o]!; });
  return [dx, dw, db];
}
