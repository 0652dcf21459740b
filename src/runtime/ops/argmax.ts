// argmax over the channel axis, as one byte per pixel: scores (B, K, ...spatial) -> class ids
// packed four to a 32-bit word (kernels/argmax.wgsl). Reading the result back moves B·P bytes
// instead of the B·K·P float scores. K must fit a byte. No backward (ids are not differentiable).
import type { Tensor } from '../tensor.js';
import { builds, floatDtype, groups } from './util.js';

// f32 and f16 scores (the f16 build compares the stored values, widened exactly)
const ARGMAX = builds({ file: 'argmax.wgsl', entry: 'argmax_classes', storage: { out: 'read_write', x: 'read' }, uniform: 'p' });
const WG = 64;

/** Class ids of (B, K, ...spatial) scores, ties to the lowest class: an i32 tensor of ceil(B·P/4) words, each four u8 ids. */
export function argmaxChannels(x: Tensor): Tensor {
  const dtype = floatDtype('argmaxChannels', x);
  if (x.rank < 2) throw new Error(`argmaxChannels: ${x.describe()} needs (B, K, ...) scores`);
  const [B, K] = x.shape as [number, number];
  if (K < 1 || K > 256) throw new Error(`argmaxChannels: ${x.describe()} has ${K} classes; ids must fit a byte (1..256)`);
  const pixels = x.size / (B * K);
  const total = B * pixels;
  const words = Math.ceil(total / 4);
  const out = x.rt.empty([words], 'i32', 'argmaxChannels');
  x.rt.dispatch(ARGMAX[dtype], { op: 'argmax_classes', storage: { out: out.binding, x: x.binding }, params: { pixels, classes: K, total }, workgroups: [groups(words, WG)] });
  return out;
}

/** The B·P class ids of `argmaxChannels`'s packed words, as bytes. */
export async function readClasses(packed: Tensor, count: number): Promise<Uint8Array> {
  const words = await packed.read();
  return new Uint8Array(words.buffer, words.byteOffset, count);
}
