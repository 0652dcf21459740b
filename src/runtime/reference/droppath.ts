// float64 reference of drop path with the engine's mask hash (independent of the WGSL):
// keep_b = [u_b >= p], u_b = (h >> 8) / 2^24, h = pcg(pcg(seed) ^ b), PCG-RXS-M-XS 32-bit.

export function pcgRef(x: number): number {
  const state = (Math.imul(x >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** Whether sample b is kept. */
export function dropPathKeepRef(seed: number, b: number, p: number): boolean {
  const u = (pcgRef((pcgRef(seed) ^ b) >>> 0) >>> 8) / 16777216;
  return u >= Math.fround(p);
}

/** y = x · keep_b / (1 − p) over x (B, M); the scale rounded to f32 as torchvision's noise is. */
export function dropPathRef(x: Float64Array, batch: number, p: number, seed: number): Float64Array {
  const m = x.length / batch;
  const scale = p < 1 ? Math.fround(1 / Math.fround(1 - p)) : 0;
  const y = new Float64Array(x.length);
  for (let b = 0; b < batch; b++) {
    const s = dropPathKeepRef(seed, b, p) ? scale : 0;
    for (let i = 0; i < m; i++) y[b * m + i] = x[b * m + i]! * s;
  }
  return y;
}
