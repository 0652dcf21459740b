// float64 reference for the fused MLP (ops/mlp.ts), composed from the matmul and GELU references:
// y = gelu(x·W₁ᵀ + b₁)·W₂ᵀ + b₂ over R rows, weights stored (out, in).
import { geluRef, geluRefBackward } from './activation.js';
import { matmulRef, matmulRefBackward, type MatmulShape } from './matmul.js';

export interface MlpShape { R: number; C: number; H: number; O: number }

const linearShape = (R: number, N: number, K: number): MatmulShape => ({ batch: 1, M: R, N, K, batchedB: false, transA: false, transB: true });

/** The forward and its intermediates: z = x·W₁ᵀ + b₁, h = gelu(z), y = h·W₂ᵀ + b₂. */
export function mlpRefParts(s: MlpShape, x: Float64Array, w1: Float64Array, b1: Float64Array, w2: Float64Array, b2: Float64Array): { z: Float64Array; h: Float64Array; y: Float64Array } {
  const z = matmulRef(linearShape(s.R, s.H, s.C), x, w1, b1);
  const h = geluRef(z);
  return { z, h, y: matmulRef(linearShape(s.R, s.O, s.H), h, w2, b2) };
}

export function mlpRef(s: MlpShape, x: Float64Array, w1: Float64Array, b1: Float64Array, w2: Float64Array, b2: Float64Array): Float64Array {
  return mlpRefParts(s, x, w1, b1, w2, b2).y;
}

/** [dx, dW₁, db₁, dW₂, db₂] for dY (R, O). */
export function mlpRefBackward(s: MlpShape, x: Float64Array, w1: Float64Array, b1: Float64Array, w2: Float64Array, b2: Float64Array, dY: Float64Array): Float64Array[] {
  const { z, h } = mlpRefParts(s, x, w1, b1, w2, b2);
  const [dH, dW2, db2] = matmulRefBackward(linearShape(s.R, s.O, s.H), h, w2, dY, true);
  const dZ = geluRefBackward(z, dH!);
  const [dX, dW1, db1] = matmulRefBackward(linearShape(s.R, s.H, s.C), x, w1, dZ, true);
  return [dX!, dW1!, db1!, dW2!, db2!];
}
