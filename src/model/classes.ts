// Forward to classes: the one path from images to class maps, shared by predict, eval and the
// validation of a training run. The forward and the argmax over classes run on the GPU, and only
// the class ids come back, one byte per pixel (B·H·W bytes, not B·K·H·W floats).
import { argmaxChannels } from '../runtime/ops/argmax.js';
import type { Tensor } from '../runtime/tensor.js';
import type { ParamStore } from './params.js';
import { segfaceForward, type SegFaceOptions } from './segface.js';

export interface ClassesOptions extends Pick<SegFaceOptions, 'landmarks' | 'precision'> {
  /** Also read back the float logits (B, K, H, W) in the same readback (e.g. to save them). */
  keepLogits?: boolean;
}

export interface ClassMaps {
  /** (B, H, W) class ids, row-major. */
  classes: Uint8Array;
  /** (B, K, H, W) logits, when asked for with `keepLogits`. */
  logits?: Float32Array;
}

/**
 * Eval-mode forward of a normalised (B, 3, H, W) batch, then the per-pixel argmax on the GPU;
 * one readback. `image` stays the caller's.
 */
export async function segfaceClasses(p: ParamStore, image: Tensor, opts: ClassesOptions = {}): Promise<ClassMaps> {
  const rt = p.rt;
  const [B, , H, W] = image.shape as [number, number, number, number];
  const { packed, logits } = rt.withoutGrad(() => rt.scope(() => {
    const scores = segfaceForward(p, image, { landmarks: opts.landmarks, precision: opts.precision });
    return { packed: argmaxChannels(scores), logits: opts.keepLogits ? scores : undefined };
  }));
  const read = rt.readMany(logits ? [packed, logits] : [packed]);
  packed.release();
  logits?.release();
  const [words, values] = await read;
  const classes = new Uint8Array(words!.buffer, 0, B * H * W);
  return values ? { classes, logits: values as Float32Array } : { classes };
}

/**
 * Class maps of a host batch: `images` holds (B, 3, H, W) normalised float32 values (for RGB
 * bytes, `toNormalizedCHW` of segface-webgpu/train gives them). Uploads, runs `segfaceClasses`
 * and frees the upload; returns (B, H, W) class ids.
 */
export async function predict(p: ParamStore, images: Float32Array, shape: readonly [number, number, number, number], opts: ClassesOptions = {}): Promise<ClassMaps> {
  const input = p.rt.tensor(images, shape);
  try {
    return await segfaceClasses(p, input, opts);
  } finally {
    input.release();
  }
}
