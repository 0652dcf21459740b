// The transformer MLP, fused: mlp(x, fc1, fc2) = gelu(x·W₁ᵀ + b₁)·W₂ᵀ + b₂, with weights stored
// (out, in) as PyTorch's Linear keeps them. x is (..., C); W₁ (H, C), b₁ (H); W₂ (O, H), b₂ (O);
// the output (..., O). All leading dims fold into rows (R of them).
//
// Forward, two matmul dispatches (kernels/matmul.wgsl): the first one's epilogue writes both
// Z = x·W₁ᵀ + b₁ (kept for the backward, only when one will run) and H = gelu(Z); no GELU pass
// reads Z back.
// Backward, with dY (R, O):
//   dW₂ = dYᵀ·H          db₂ = column sums of dY
//   dZ  = (dY·W₂) ⊙ gelu'(Z)     one matmul whose epilogue reads Z (EPILOGUE 2): dH never exists
//   dW₁ = dZᵀ·x          db₁ = column sums of dZ          dx = dZ·W₁
// Each db is formed by its dW product, which reads dY (dZ) anyway (Gemm.sums, kernels/matmul.wgsl
// DB); a bias without a trainable weight gets a column-sum pass of its own.
// Against linear → activation('gelu') → linear this saves one dispatch and two passes over (R, H)
// each way (bench/README.md has the step profile). Same kernels as matmul: the tuner's units carry
// the epilogue in their shape class.
import type { Tensor } from '../tensor.js';
import { shapeStr } from '../tensor.js';
import { gemm, type Gemm } from './matmul.js';
import { sumLeading } from './reduce.js';
import { assertSameRuntime, floatDtype } from './util.js';

export interface Linear {
  /** (out, in) */
  weight: Tensor;
  /** (out); optional */
  bias?: Tensor | null | undefined;
}

export interface MlpOptions {
  /** Matmul kernel for all six products (a family or candidate name); default: the runtime's choice. */
  variant?: string | undefined;
}

function checkLinear(name: string, l: Linear, inDim: number): number {
  if (l.weight.rank !== 2 || l.weight.shape[1] !== inDim) throw new Error(`mlp: ${name}.weight ${shapeStr(l.weight.shape)} must be (out, ${inDim})`);
  const out = l.weight.shape[0]!;
  if (l.bias) {
    if (l.bias.rank !== 1 || l.bias.shape[0] !== out) throw new Error(`mlp: ${name}.bias ${shapeStr(l.bias.shape)} must be (${out})`);
  }
  return out;
}

/** gelu(x·W₁ᵀ + b₁)·W₂ᵀ + b₂; see the file header. */
export function mlp(x: Tensor, fc1: Linear, fc2: Linear, opts: MlpOptions = {}): Tensor {
  if (x.rank < 1) throw new Error(`mlp: x ${shapeStr(x.shape)} needs a feature dim`);
  const C = x.shape[x.rank - 1]!;
  const H = checkLinear('fc1', fc1, C);
  const O = checkLinear('fc2', fc2, H);
  const b1 = fc1.bias ?? undefined;
  const b2 = fc2.bias ?? undefined;
  const inputs = [x, fc1.weight, ...(b1 ? [b1] : []), fc2.weight, ...(b2 ? [b2] : [])];
  assertSameRuntime('mlp', ...inputs);
  // x, the weights and every intermediate share one storage precision (f32, or f16 under mixed precision)
  const dtype = floatDtype('mlp', ...inputs);
  const rt = x.rt;
  const lead = x.shape.slice(0, -1);
  const R = lead.reduce((p, q) => p * q, 1);
  const v = opts.variant;
  // Row-major (R, K)·(N, K)ᵀ products, the shape every forward / dX product here has.
  const rows = (g: Pick<Gemm, 'out' | 'a' | 'b' | 'bias' | 'epilogue'>, N: number, K: number, transB: boolean): Gemm =>
    ({ ...g, M: R, N, K, batch: 1, strideA: R * K, strideB: 0, transA: false, transB });

  const train = rt.gradEnabled && inputs.some((t) => t.requiresGrad);
  const z = train ? rt.empty([...lead, H], dtype, 'mlp pre-activation') : undefined;
  const h = rt.empty([...lead, H], dtype, 'mlp hidden');
  gemm(rows({ out: h, a: x, b: fc1.weight, bias: b1, epilogue: { kind: 'gelu', side: z } }, H, C, true), v, 'mlp_fc1');
  const y = rt.empty([...lead, O], dtype, 'mlp');
  gemm(rows({ out: y, a: h, b: fc2.weight, bias: b2 }, O, H, true), v, 'mlp_fc2');
  if (!z) { h.release(); return y; }

  rt.tape.record('mlp', inputs, y, [x, z, h, fc1.weight, fc2.weight], (dY) => {
    // (N, K) weight gradient = dOutᵀ (N, R) · act (R, K), and the bias gradient Σ_R dOut (N) with it
    const weightGrad = (l: Linear, dOut: Tensor, act: Tensor, op: string): [Tensor | null, Tensor | null] => {
      const wantBias = l.bias?.requiresGrad === true;
      if (!l.weight.requiresGrad) return [null, wantBias ? sumLeading(dOut, 1) : null];
      const [N, K] = l.weight.shape as [number, number];
      const dW = rt.empty(l.weight.shape, dtype, `${op} dW`);
      const db = gemm({ out: dW, a: dOut, b: act, M: N, N: K, K: R, batch: 1, strideA: R * N, strideB: R * K, transA: true, transB: false, sums: wantBias ? 'a' : undefined }, v, op);
      return [dW, db ?? null];
    };
    const [dW2, db2] = weightGrad(fc2, dY, h, 'mlp_fc2_bwd_w');
    const dZ = rt.empty([...lead, H], dtype, 'mlp dZ');
    gemm(rows({ out: dZ, a: dY, b: fc2.weight, epilogue: { kind: 'gelu_grad', side: z } }, H, O, false), v, 'mlp_fc2_bwd_x');
    const [dW1, db1] = weightGrad(fc1, dZ, x, 'mlp_fc1_bwd_w');
    let dX: Tensor | null = null;
    if (x.requiresGrad) {
      dX = rt.empty(x.shape, dtype, 'mlp dX');
      gemm(rows({ out: dX, a: dZ, b: fc1.weight }, C, H, false), v, 'mlp_fc1_bwd_x');
    }
    dZ.release();
    return [dX, dW1, ...(b1 ? [db1] : []), dW2, ...(b2 ? [db2] : [])];
  });
  z.release();   // the tape's pins keep z and h for the backward
  h.release();
  return y;
}
