// Deterministic synthetic weights shared with the PyTorch reference (tools/reference/gen.py):
// value_i = f(u_i) with u_i in [-1, 1) from murmur3's fmix32 of (i·0x9E3779B1 + fnv1a(name:seed)),
// so a reference case need not store its weights. Scales keep activations O(1): matrices
// 1/sqrt(fan_in), biases 0.1, LayerNorm weights 1 ± 0.1, tokens and the PE matrix 1.

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(text)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h >>> 0;
}

/** u_i in [0, 1) with 24 random bits. */
export function hashUniform(key: number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let x = (Math.imul(i, 0x9e3779b1) + key) >>> 0;
    x ^= x >>> 16;
    x = Math.imul(x, 0x85ebca6b) >>> 0;
    x ^= x >>> 13;
    x = Math.imul(x, 0xc2b2ae35) >>> 0;
    x ^= x >>> 16;
    out[i] = (x >>> 8) / 16777216;
  }
  return out;
}

/** The synthetic value of parameter (or PE buffer) `name` of `shape`, float32. */
export function syntheticValue(name: string, shape: readonly number[], seed: number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const u = hashUniform(fnv1a(`${name}:${seed}`), n).map((v) => v * 2 - 1);
  const leaf = name.slice(name.lastIndexOf('.') + 1);
  let f: (v: number) => number;
  if (name.endsWith('logit_scale')) f = (v) => Math.log(10) + 0.2 * v;
  else if (leaf === 'weight' && shape.length === 1) f = (v) => 1 + 0.1 * v;
  else if (leaf === 'bias') f = (v) => 0.1 * v;
  else if (name.endsWith('relative_position_bias_table')) f = (v) => 0.5 * v;
  else if (name.endsWith('_token.weight') || name.endsWith('gaussian_matrix')) f = (v) => v;
  else {
    const fanIn = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
    const s = Math.sqrt(fanIn);
    f = (v) => v / s;
  }
  return Float32Array.from(u, f);
}
