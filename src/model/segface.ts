// SegFace forward: image (B, 3, H, W) normalised NCHW -> logits (B, K, H, W), H and W multiples
// of 4 (the output is 4·floor(H/4) officially). Train mode turns stochastic depth on.
import type { Tensor } from '../runtime/tensor.js';
import { maskHead, neck, twoWayTransformer } from './head.js';
import type { ParamStore } from './params.js';
import { swinForward, type RunOptions } from './swin.js';

export type { RunOptions } from './swin.js';

export function segfaceForward(p: ParamStore, image: Tensor, opts: RunOptions = {}): Tensor {
  const rt = p.rt;
  if (image.rank !== 4 || image.shape[1] !== 3) throw new Error(`segface: image ${image.describe()} must be (B, 3, H, W)`);
  const [, , H, W] = image.shape as [number, number, number, number];
  if (H % 4 !== 0 || W % 4 !== 0) throw new Error(`segface: image size ${H}×${W} must be a multiple of 4`);
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
