// argmax over the channel axis of (B, K, P) scores on the host: the reference of kernels/argmax.wgsl.
/** argmax over classes of NCHW logits (B, K, P) -> (B·P) class ids; ties to the lowest class; a comparison with NaN is false (as in the kernel). */
export function argmaxClasses(logits: Float32Array, B: number, K: number, P: number): Uint8Array {
  const out = new Uint8Array(B * P);
  for (let b = 0; b < B; b++) {
    for (let p = 0; p < P; p++) {
      let best = 0;
      let bestV = logits[b * K * P + p]!;
      for (let k = 1; k < K; k++) {
        const v = logits[(b * K + k) * P + p]!;
        if (v > bestV) { bestV = v; best = k; }
      }
      out[b * P + p] = best;
    }
  }
  return out;
}
