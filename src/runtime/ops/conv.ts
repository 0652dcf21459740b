// The convolutions SegFace uses, built from layout kernels (kernels/vision.wgsl) and matmul; no
// kernel of their own. Every piece is recorded on the tape, so backward (d input, d weight,
// d bias) comes from matmul's, reshape's, permute's and the layout ops' backward rules.
//
//   patchEmbed        Conv2d(C, E, k=P, s=P) + bias: since stride = kernel the im2col is the pure
//                     layout op patchify, then tokens (B·h·w, C·P·P) @ W(E, C·P·P)^T + bias.
//                     NCHW image (B, C, H, W) -> NHWC tokens (B, H/P, W/P, E).
//   conv1x1           Conv2d(Cin, Cout, k=1), weight (Cout, Cin, 1, 1) or (Cout, Cin), optional
//                     bias: x (.., Cin) @ W^T on NHWC / token tensors; NCHW in or out via permute.
//   convTranspose2x2  ConvTranspose2d(Cin, Cout, k=2, s=2), weight (Cin, Cout, 2, 2) (PyTorch's
//                     (in, out, kh, kw)): out[b, o, 2i + a, 2j + e] = bias[o] + Σ_c x[b, c, i, j]·
//                     W[c, o, a, e]. As tokens (B·h·w, Cin) @ W viewed (Cin, Cout·4) with the bias
//                     repeated over the 4 taps (bias4[o·4 + k] = bias[o], whose gradient sums the
//                     4), then the pixel shuffle depthToSpace(P = 2) to NCHW or NHWC.
//
// Layouts for the SegFace output head (recommended chain; no transposes anywhere):
//   keys (B, h·w, 256) -> view (B, h, w, 256) NHWC
//   -> convTranspose2x2(.., {outLayout: 'NHWC'})  (B, 2h, 2w, 64)
//   -> layerNorm over the last dim (eps 1e-6: LayerNorm2d over channels) -> GELU
//   -> convTranspose2x2(.., {outLayout: 'NCHW'})  (B, 32, 4h, 4w) -> GELU = upscaled
//   -> logits (B, K, 4h·4w) = hyper_in (B, K, 32) @ upscaled viewed (B, 32, 4h·4w): NCHW logits.
// Neck: keep the stage maps NHWC ((B, h_i·w_i, 256) after linear_c[i] = (B, h_i, w_i, 256)),
// resizeBilinear(.., 'NHWC') to (h1, w1), concat on the last dim in the order [4, 3, 2, 1], then
// conv1x1 (NHWC, linear_fuse) gives fused tokens (B, h1·w1, 256) directly: the decoder's keys.
import { shapeStr, type Tensor } from '../tensor.js';
import { permute } from './layout.js';
import { matmul } from './matmul.js';
import { expandLast } from './reduce.js';
import { assertSameRuntime, floatDtype } from './util.js';
import { depthToSpace, patchify, type ImageLayout } from './vision.js';

function checkBias(op: string, bias: Tensor | null | undefined, n: number): void {
  if (bias && (bias.rank !== 1 || bias.shape[0] !== n)) throw new Error(`${op}: bias ${bias.describe()} must be [${n}]`);
}

// ---- patch embed ------------------------------------------------------------------------------------

/**
 * Conv2d(C, E, k=P, s=P) with bias on an NCHW image x (B, C, H, W), H and W multiples of P;
 * weight (E, C, P, P). Returns NHWC tokens (B, H/P, W/P, E).
 */
export function patchEmbed(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const op = 'patchEmbed';
  assertSameRuntime(op, x, weight, ...(bias ? [bias] : []));
  floatDtype(op, x);
  if (weight.rank !== 4 || weight.shape[2] !== weight.shape[3]) throw new Error(`${op}: weight ${weight.describe()} must be (E, C, P, P)`);
  if (x.rank !== 4 || x.shape[1] !== weight.shape[1]) throw new Error(`${op}: image ${x.describe()} must be NCHW (B, ${weight.shape[1]}, H, W) for weight ${shapeStr(weight.shape)}`);
  const [e, c, p] = weight.shape as [number, number, number];
  checkBias(op, bias, e);
  const tokens = patchify(x, p);                       // (B, h, w, C·P·P)
  const [b, h, w, k] = tokens.shape as [number, number, number, number];
  const flat = tokens.reshape([b * h * w, k]);         // (B·h·w, C·P·P)
  const wv = weight.reshape([e, c * p * p]);           // (E, C·P·P)
  const y = matmul(flat, wv, { transB: true, bias: bias ?? undefined });   // (B·h·w, E)
  const out = y.reshape([b, h, w, e]);
  for (const t of [tokens, flat, wv, y]) t.release();
  return out;
}

// ---- 1×1 convolution --------------------------------------------------------------------------------

export interface Conv1x1Options {
  /** Layout of a rank-4 input: 'NHWC' (default; also any (.., Cin) token tensor) or 'NCHW'. */
  inLayout?: ImageLayout;
  /** Layout of the output: the input's layout unless given. */
  outLayout?: ImageLayout;
  bias?: Tensor | null;
}

/**
 * Conv2d(Cin, Cout, k=1) with weight (Cout, Cin, 1, 1) or (Cout, Cin): out[.., o] = Σ_c x[.., c]
 * W[o, c] (+ bias[o]). NHWC / token input (.., Cin) -> (.., Cout); NCHW input (B, Cin, H, W) is
 * permuted to NHWC first, and an NCHW output permuted back.
 */
export function conv1x1(x: Tensor, weight: Tensor, opts: Conv1x1Options = {}): Tensor {
  const op = 'conv1x1';
  assertSameRuntime(op, x, weight, ...(opts.bias ? [opts.bias] : []));
  floatDtype(op, x);
  const inLayout = opts.inLayout ?? 'NHWC';
  const outLayout = opts.outLayout ?? inLayout;
  const ok2d = weight.rank === 2 || (weight.rank === 4 && weight.shape[2] === 1 && weight.shape[3] === 1);
  if (!ok2d) throw new Error(`${op}: weight ${weight.describe()} must be (Cout, Cin, 1, 1) or (Cout, Cin)`);
  const [cout, cin] = weight.shape as [number, number];
  checkBias(op, opts.bias, cout);
  if ((inLayout === 'NCHW' || outLayout === 'NCHW') && x.rank !== 4) throw new Error(`${op}: NCHW needs a rank-4 tensor, got ${x.describe()}`);
  const cAxis = inLayout === 'NCHW' ? 1 : x.rank - 1;
  if (x.shape[cAxis] !== cin) throw new Error(`${op}: ${x.describe()} (${inLayout}) has ${x.shape[cAxis]} channels, weight ${shapeStr(weight.shape)} expects ${cin}`);
  const nhwc = inLayout === 'NCHW' ? permute(x, [0, 2, 3, 1]) : x.retain();
  const rows = nhwc.size / cin;
  const flat = nhwc.reshape([rows, cin]);
  const wv = weight.reshape([cout, cin]);
  const y = matmul(flat, wv, { transB: true, bias: opts.bias ?? undefined });   // (rows, Cout)
  const yShape = [...nhwc.shape.slice(0, -1), cout];
  const yv = y.reshape(yShape);
  const out = outLayout === 'NCHW' ? permute(yv, [0, 3, 1, 2]) : yv.retain();
  for (const t of [nhwc, flat, wv, y, yv]) t.release();
  return out;
}

// ---- ConvTranspose2d k=2 s=2 ----------------------------------------------------------------------------

export interface ConvTransposeOptions {
  /** Input layout: 'NHWC' (default, (B, h, w, Cin)) or 'NCHW' ((B, Cin, h, w), permuted first). */
  inLayout?: ImageLayout;
  /** Output layout: 'NCHW' (default, (B, Cout, 2h, 2w)) or 'NHWC' ((B, 2h, 2w, Cout)). */
  outLayout?: ImageLayout;
}

/** ConvTranspose2d(Cin, Cout, k=2, s=2) with weight (Cin, Cout, 2, 2) and bias (Cout) or null. */
export function convTranspose2x2(x: Tensor, weight: Tensor, bias: Tensor | null, opts: ConvTransposeOptions = {}): Tensor {
  const op = 'convTranspose2x2';
  assertSameRuntime(op, x, weight, ...(bias ? [bias] : []));
  floatDtype(op, x);
  const inLayout = opts.inLayout ?? 'NHWC';
  const outLayout = opts.outLayout ?? 'NCHW';
  if (weight.rank !== 4 || weight.shape[2] !== 2 || weight.shape[3] !== 2) throw new Error(`${op}: weight ${weight.describe()} must be (Cin, Cout, 2, 2)`);
  const [cin, cout] = weight.shape as [number, number];
  checkBias(op, bias, cout);
  if (x.rank !== 4) throw new Error(`${op}: ${x.describe()} must be rank 4 (${inLayout})`);
  const cAxis = inLayout === 'NCHW' ? 1 : 3;
  if (x.shape[cAxis] !== cin) throw new Error(`${op}: ${x.describe()} (${inLayout}) has ${x.shape[cAxis]} channels, weight ${shapeStr(weight.shape)} expects ${cin}`);
  const nhwc = inLayout === 'NCHW' ? permute(x, [0, 2, 3, 1]) : x.retain();
  const [b, h, w] = nhwc.shape as [number, number, number];
  const flat = nhwc.reshape([b * h * w, cin]);                // (B·h·w, Cin)
  const wv = weight.reshape([cin, cout * 4]);                 // (Cin, Cout·4), column o·4 + a·2 + e
  const bias4 = bias ? expandLast(bias, 4) : null;            // (Cout, 4)
  const bias4v = bias4 ? bias4.reshape([cout * 4]) : null;
  const y = matmul(flat, wv, { bias: bias4v ?? undefined });  // (B·h·w, Cout·4)
  const yv = y.reshape([b, h, w, cout * 4]);
  const out = depthToSpace(yv, 2, outLayout);                 // (B, Cout, 2h, 2w) or (B, 2h, 2w, Cout)
  for (const t of [nhwc, flat, wv, y, yv, ...(bias4 ? [bias4, bias4v!] : [])]) t.release();
  return out;
}
