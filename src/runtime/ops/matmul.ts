// Matrix multiply: matmul(a, b, {transA, transB, bias}) = op(a)·op(b) (+ bias), batched.
//
// Shapes: a (..., M, K), or (..., K, M) with transA; b (K, N) or (..., K, N), or (N, K) /
// (..., N, K) with transB; bias (N); out (..., M, N). A batched b has a's leading dims; an
// unbatched b is shared over the batch (a weight): then, without transA, the batch folds into M.
//
// Gradients, with A = op(a), B = op(b), C = A·B + bias and dC its gradient:
//   dA = dC·Bᵀ   (stored a of transA: dAᵀ = B·dCᵀ)
//   dB = Aᵀ·dC   (stored b of transB: dBᵀ = dCᵀ·A), summed over the batch when b is shared
//   dbias = column sums of dC (sumLeading)
// Each is the same kernel with other transpose flags (kernels/matmul.wgsl); nothing is transposed
// in memory. A shared b under transA cannot fold the batch into the contraction, so its gradient is
// computed per batch item and summed with sumLeading.
//
// Kernel variants: 'naive' (baseline), 'tiled' (no subgroups) and 'subgroup'. The variant and tile
// shape come from a small per-adapter table (PLANS below); `variant` in the options or
// `setMatmulVariant` forces one (tests, benchmarks), forward and backward alike.
import type { Device } from '../device.js';
import type { KernelDecl } from '../kernel.js';
import { shapeStr, type Tensor } from '../tensor.js';
import { sumLeading } from './reduce.js';
import { assertDtype, assertSameRuntime } from './util.js';

export type MatmulVariant = 'naive' | 'tiled' | 'subgroup';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  /** (N), added to every row of the output in the kernel's epilogue. */
  bias?: Tensor | undefined;
  /** Kernel variant (default: the adapter's plan, or the one set by `setMatmulVariant`). */
  variant?: MatmulVariant;
}

// ---- per-adapter plan ----------------------------------------------------------------------------

/** Which kernel an adapter gets, and its tile shape (override constants). */
export interface MatmulPlan {
  /** The table row that chose it. */
  rule: string;
  variant: MatmulVariant;
  /** matmul_tiled: workgroup size and invocations along N (tile (4·WG/WG_N) × (8·WG_N)). */
  tiled: { WG: number; WG_N: number };
  /** matmul_subgroup: lanes per subgroup, rows per subgroup (8 or 16), workgroup size. */
  subgroup?: { SG: number; ROWS: number; WG: number };
}

/** The subgroup size when the adapter has subgroups of one fixed size, else 0. */
function fixedSubgroupSize(dev: Device): number {
  const { subgroupMinSize: lo, subgroupMaxSize: hi } = dev.adapter;
  return dev.hasSubgroups && lo === hi ? lo : 0;
}

function isCpuAdapter(dev: Device): boolean {
  const a = dev.adapter;
  return a.isFallbackAdapter || a.architecture === 'software' || /llvmpipe|lavapipe|swiftshader/i.test(`${a.name} ${a.description}`);
}

const TILED_DEFAULT = { WG: 64, WG_N: 8 };

/** First matching row wins. Figures behind each choice: bench/suites/matmul.ts. */
const PLANS: { rule: string; applies: (dev: Device) => boolean; plan: (dev: Device) => Omit<MatmulPlan, 'rule'> }[] = [
  {
    // Mesa lavapipe: 8-lane subgroups, one lane per AVX2 slot. 16 rows per subgroup (64 vec4
    // accumulator registers, half of them spilled) load 6 vec4 per 64 fma chains against 5 per 32
    // with 8 rows: 22–25 GFLOP/s against 17–19 at 1024–2048 (bench/suites/matmul.ts). Workgroups
    // of 8 subgroups; those past M return at once, so a small M wastes little.
    rule: 'CPU (lavapipe) with 8-lane subgroups',
    applies: (dev) => isCpuAdapter(dev) && fixedSubgroupSize(dev) === 8,
    plan: () => ({ variant: 'subgroup', tiled: TILED_DEFAULT, subgroup: { SG: 8, ROWS: 16, WG: 64 } }),
  },
  {
    // GPUs with one fixed subgroup size (NVIDIA 32, AMD 32 or 64, …): a subgroup covers 8 rows ×
    // 4·SG columns (8 vec4 accumulators per lane), four subgroups per workgroup. Not yet measured
    // on such hardware: no GPU was available when this table was written.
    rule: 'GPU with a fixed subgroup size of 8 to 64 lanes',
    applies: (dev) => !isCpuAdapter(dev) && fixedSubgroupSize(dev) >= 8 && fixedSubgroupSize(dev) <= 64,
    plan: (dev) => ({ variant: 'subgroup', tiled: { WG: 128, WG_N: 16 }, subgroup: { SG: fixedSubgroupSize(dev), ROWS: 8, WG: 4 * fixedSubgroupSize(dev) } }),
  },
  {
    // No subgroups, subgroups under 8 lanes (the broadcasts read lanes 0..7) or of varying size
    // (the kernel assumes SG lanes). On lavapipe this kernel runs at 6–9 GFLOP/s.
    rule: 'no usable subgroups',
    applies: () => true,
    plan: () => ({ variant: 'tiled', tiled: TILED_DEFAULT }),
  },
];

const plans = new WeakMap<Device, MatmulPlan>();

/** The plan for this device (cached). */
export function matmulPlan(dev: Device): MatmulPlan {
  let plan = plans.get(dev);
  if (!plan) {
    const row = PLANS.find((r) => r.applies(dev))!;
    plan = { rule: row.rule, ...row.plan(dev) };
    plans.set(dev, plan);
  }
  return plan;
}

/** Replaces this device's plan (tests and benchmarks try other tile shapes); undefined restores the table's. */
export function overrideMatmulPlan(dev: Device, plan: MatmulPlan | undefined): void {
  if (plan) plans.set(dev, plan); else plans.delete(dev);
}

let forcedVariant: MatmulVariant | undefined;

/** Forces a variant for every later matmul (undefined: back to the adapter's plan). */
export function setMatmulVariant(variant: MatmulVariant | undefined): void { forcedVariant = variant; }

function resolveVariant(dev: Device, requested: MatmulVariant | undefined): MatmulVariant {
  const v = requested ?? forcedVariant ?? matmulPlan(dev).variant;
  if (v === 'subgroup') {
    const sg = fixedSubgroupSize(dev);
    if (sg < 8) {
      throw new Error(`matmul: subgroup variant requested, but ${dev.name} has ${dev.hasSubgroups
        ? `subgroups of ${dev.adapter.subgroupMinSize}..${dev.adapter.subgroupMaxSize} lanes (one fixed size of at least 8 needed)` : 'no subgroups'}`);
    }
  }
  return v;
}

// ---- one kernel dispatch -------------------------------------------------------------------------

const STORAGE_FAST: KernelDecl['storage'] = { c: 'read_write', a: 'read', a4: 'read', b: 'read', b4: 'read', bias: 'read' };
const NAIVE: KernelDecl = { file: 'matmul.wgsl', entry: 'matmul_naive', storage: { c: 'read_write', a: 'read', b: 'read', bias: 'read' }, uniform: 'p' };
const TILED: KernelDecl = { file: 'matmul.wgsl', entry: 'matmul_tiled', storage: STORAGE_FAST, uniform: 'p' };
const SUBGROUP: KernelDecl = { file: 'matmul.wgsl', entry: 'matmul_subgroup', storage: STORAGE_FAST, uniform: 'p', subgroups: true };

/** out[z] = op(a[z])·op(b[z]) (+ bias) for z < batch, with logical (M, K)·(K, N); stride 0 shares. */
interface Gemm {
  out: Tensor; a: Tensor; b: Tensor; bias?: Tensor | undefined;
  M: number; N: number; K: number; batch: number;
  strideA: number; strideB: number;
  transA: boolean; transB: boolean;
}

function gemm(g: Gemm, variant: MatmulVariant, op: string): void {
  const rt = g.out.rt;
  const { M, N, K } = g;
  const flags = { TRANS_A: Number(g.transA), TRANS_B: Number(g.transB), HAS_BIAS: Number(g.bias !== undefined) };
  const vec = { VEC_A: Number((g.transA ? M : K) % 4 === 0), VEC_B: Number((g.transB ? K : N) % 4 === 0) };
  let decl: KernelDecl;
  let tileM: number;
  let tileN: number;
  let constants: Record<string, number>;
  if (variant === 'naive') {
    decl = NAIVE;
    [tileM, tileN] = [8, 8];
    constants = flags;
  } else if (variant === 'tiled') {
    const t = matmulPlan(rt.device).tiled;
    decl = TILED;
    [tileM, tileN] = [4 * (t.WG / t.WG_N), 8 * t.WG_N];
    constants = { ...flags, ...vec, WG: t.WG, WG_N: t.WG_N };
  } else {
    const sgSize = fixedSubgroupSize(rt.device);
    const s = matmulPlan(rt.device).subgroup ?? { SG: sgSize, ROWS: 8, WG: 4 * sgSize };
    decl = SUBGROUP;
    [tileM, tileN] = [s.ROWS * (s.WG / s.SG), 4 * s.SG];
    constants = { ...flags, ...vec, SG: s.SG, ROWS: s.ROWS, WG: s.WG };
  }
  const tilesN = Math.ceil(N / tileN);
  const tiles = Math.ceil(M / tileM) * tilesN;
  const storage: Record<string, { buffer: GPUBuffer }> = { c: { buffer: g.out.buffer }, a: { buffer: g.a.buffer }, b: { buffer: g.b.buffer }, bias: { buffer: (g.bias ?? g.a).buffer } };
  if (variant !== 'naive') { storage.a4 = storage.a!; storage.b4 = storage.b!; }
  rt.dispatch(decl, {
    op, storage, constants,
    params: { M, N, K, tiles_n: tilesN, tiles, stride_a: g.strideA, stride_b: g.strideB, stride_c: M * N },
    workgroups: [tiles, 1, g.batch],
  });
}

// ---- the op --------------------------------------------------------------------------------------

const describeOperand = (name: string, t: Tensor, trans: boolean, dims: string): string =>
  `${name} ${shapeStr(t.shape)} as ${trans ? `(..., ${dims.split(', ').reverse().join(', ')}) with trans${name.toUpperCase()}` : `(..., ${dims})`}`;

/** op(a)·op(b) (+ bias); see the file header for shapes and gradients. */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  const bias = opts.bias;
  assertSameRuntime('matmul', a, b, ...(bias ? [bias] : []));
  assertDtype('matmul', a);
  assertDtype('matmul', b);
  if (a.rank < 2 || b.rank < 2) throw new Error(`matmul: a ${shapeStr(a.shape)} and b ${shapeStr(b.shape)} must both have rank 2 or more`);
  const [M, K] = transA ? [a.shape[a.rank - 1]!, a.shape[a.rank - 2]!] : [a.shape[a.rank - 2]!, a.shape[a.rank - 1]!];
  const [Kb, N] = transB ? [b.shape[b.rank - 1]!, b.shape[b.rank - 2]!] : [b.shape[b.rank - 2]!, b.shape[b.rank - 1]!];
  if (K !== Kb) {
    throw new Error(`matmul: inner dimensions differ: ${describeOperand('a', a, transA, 'M, K')} has K = ${K}, ${describeOperand('b', b, transB, 'K, N')} has K = ${Kb}`);
  }
  const lead = a.shape.slice(0, -2);
  const bLead = b.shape.slice(0, -2);
  const shared = bLead.length === 0;
  if (!shared && (bLead.length !== lead.length || bLead.some((d, i) => d !== lead[i]))) {
    throw new Error(`matmul: batch dims of a ${shapeStr(a.shape)} and b ${shapeStr(b.shape)} differ (b needs a's leading dims ${shapeStr(lead)}, or none)`);
  }
  if (bias) {
    assertDtype('matmul', bias);
    if (bias.rank !== 1 || bias.shape[0] !== N) throw new Error(`matmul: bias ${shapeStr(bias.shape)} must be (N) = [${N}] for a ${shapeStr(a.shape)} and b ${shapeStr(b.shape)}`);
  }
  const rt = a.rt;
  const variant = resolveVariant(rt.device, opts.variant);
  const batch = lead.reduce((x, y) => x * y, 1);
  // A shared b and row-major a: the batch is just more rows.
  const fold = shared && !transA;
  const out = rt.empty([...lead, M, N], 'f32', 'matmul');
  gemm({
    out, a, b, bias, M: fold ? batch * M : M, N, K, batch: fold ? 1 : batch,
    strideA: M * K, strideB: shared ? 0 : K * N, transA, transB,
  }, variant, 'matmul');

  rt.tape.record('matmul', bias ? [a, b, bias] : [a, b], out, [a, b], (dC) => {
    const rows = fold ? batch * M : M;
    const nb = fold ? 1 : batch;
    const sB = shared ? 0 : K * N;
    let dA: Tensor | null = null;
    let dB: Tensor | null = null;
    if (a.requiresGrad) {
      dA = rt.empty(a.shape, 'f32', 'matmul dA');
      if (!transA) {
        // dA (rows, K) = dC (rows, N) · Bᵀ
        gemm({ out: dA, a: dC, b, M: rows, N: K, K: N, batch: nb, strideA: rows * N, strideB: sB, transA: false, transB: !transB }, variant, 'matmul_bwd_a');
      } else {
        // stored dA (K, M) = B (K, N) · dCᵀ
        gemm({ out: dA, a: b, b: dC, M: K, N: M, K: N, batch, strideA: sB, strideB: M * N, transA: transB, transB: true }, variant, 'matmul_bwd_a');
      }
    }
    if (b.requiresGrad) {
      // A shared b under transA: per-item products, summed below.
      const perItem = shared && transA;
      const target = perItem ? rt.empty([batch, ...b.shape], 'f32', 'matmul dB per item') : rt.empty(b.shape, 'f32', 'matmul dB');
      if (!transB) {
        // dB (K, N) = Aᵀ (K, rows) · dC (rows, N)
        gemm({ out: target, a, b: dC, M: K, N, K: rows, batch: nb, strideA: rows * K, strideB: rows * N, transA: !transA, transB: false }, variant, 'matmul_bwd_b');
      } else {
        // stored dB (N, K) = dCᵀ (N, rows) · A (rows, K)
        gemm({ out: target, a: dC, b: a, M: N, N: K, K: rows, batch: nb, strideA: rows * N, strideB: rows * K, transA: true, transB: transA }, variant, 'matmul_bwd_b');
      }
      if (perItem) {
        dB = sumLeading(target, 2);
        target.release();
      } else dB = target;
    }
    const dBias = bias && bias.requiresGrad ? sumLeading(dC, 1) : null;
    return bias ? [dA, dB, dBias] : [dA, dB];
  });
  return out;
}
