// SegFace forward: image (B, 3, H, W) normalised NCHW -> logits (B, K, H, W), H and W multiples
// of 4 (the output is 4·floor(H/4) officially). Train mode turns stochastic depth on.
//
// LaPa models with `landmarks` run the official SegFaceLapa flow (src/model/warp.ts): the image is
// warped onto the 5-point template with RoI tanh warping, the network runs on the warped image
// and its logits are sampled back to the input's pixels (gradients flow through both samplings).
// Without landmarks a LaPa model runs on the image as it is (unwarped), which the official code
// never does: its predictions then differ from the official ones. HELEN has no warp.
import { cast } from '../runtime/ops/elementwise.js';
import type { Tensor } from '../runtime/tensor.js';
import { maskHead, neck, twoWayTransformer } from './head.js';
import type { ParamStore } from './params.js';
import { swinForward, type RunOptions } from './swin.js';
import { lapaWarped } from './warp.js';

export type { RunOptions } from './swin.js';

export interface SegFaceOptions extends RunOptions {
  /**
   * (B, 5, 2) landmarks (x, y) in the image's pixel coordinates (after the resize to the model
   * resolution): left eye centre, right eye centre, nose tip, left and right mouth corner, image
   * left first. LaPa models only; a square image is required.
   */
  landmarks?: Float32Array;
}

export function segfaceForward(p: ParamStore, image: Tensor, opts: SegFaceOptions = {}): Tensor {
  if (image.rank !== 4 || image.shape[1] !== 3) throw new Error(`segface: image ${image.describe()} must be (B, 3, H, W)`);
  const [, , H, W] = image.shape as [number, number, number, number];
  if (H % 4 !== 0 || W % 4 !== 0) throw new Error(`segface: image size ${H}×${W} must be a multiple of 4`);
  if (opts.landmarks === undefined) return network(p, image, opts);
  if (p.cfg.dataset !== 'lapa') throw new Error(`segface: landmarks were given, but only LaPa models warp (this model is ${p.cfg.dataset})`);
  // The image is warped in its own dtype; in f16 the network hands its logits to the warp back in
  // f16 (grid_sample's f16 build), which are widened at the end unless f16 logits were asked for.
  const logits = lapaWarped(p.rt, image, opts.landmarks, (warped) => network(p, warped, { ...opts, f16Logits: true }), opts.record);
  if (logits.dtype === 'f32' || opts.f16Logits) return logits;
  const wide = cast(logits, 'f32');
  logits.release();
  return wide;
}

/** Backbone, neck, two-way transformer and mask head: image (B, 3, H, W) -> logits (B, K, H, W). */
function network(p: ParamStore, image: Tensor, opts: RunOptions): Tensor {
  const rt = p.rt;
  if ((opts.precision ?? 'f32') !== image.dtype) {
    // mixed precision: the network runs on the image rounded to f16 and hands back f32 logits
    // (f16 ones with f16Logits)
    const narrow = cast(image, opts.precision ?? 'f32');
    const logits = network(p, narrow, opts);
    narrow.release();
    if (opts.f16Logits) return logits;
    const wide = cast(logits, 'f32');
    logits.release();
    return wide;
  }
  const stages = swinForward(p, image, opts);
  const fused = rt.scope(() => neck(p, stages, opts));
  for (const s of stages) s.release();
  const [, h1, w1] = fused.shape as [number, number, number];
  const dec = rt.scope(() => twoWayTransformer(p, fused, opts));
  fused.release();
  const logits = rt.scope(() => maskHead(p, dec, h1, w1, opts));
  dec.hs.release();
  dec.keys.release();
  return logits;
}
