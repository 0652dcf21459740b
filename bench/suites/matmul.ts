// Matmul variants (kernels/matmul.wgsl) on square sizes and on SegFace's projection shapes.
//
// Every configuration times the adapter's built-in default kernel (matmulDefault), the
// autotuner's winner for the shape's unit when tuning is on and it differs, the workgroup-memory
// `wgmem` and register `tiled` kernels and the `naive` one in this run, so `vs_naive` (and
// `vs_tiled`) compare figures measured side by side. SegFace rows run as the model does (swin.ts linear):
// x (tokens, C) · Wᵀ + bias with W stored (out, in), i.e. transB, per image. The transposed
// products the backward uses (A·Bᵀ for dX, Aᵀ·B for dW) are timed at 1024. Where the adapter has
// shader-f16, the default kernel runs again on f16 operands (f32 accumulation; dtype f16 rows,
// ratio vs_f32 against the default's f32 row of the same run).
//
// Default (non-full) budget: about 1.5 minutes on an idle lavapipe machine, of which the naive
// kernel at 2048 (~17 GFLOP at ~1.5 GFLOP/s: a warm-up run and one sample) takes ~25 s.
import { matmul, matmulChoice, matmulDefault, matmulKernel } from '../../src/runtime/ops/matmul.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { row, timeGpu, type BenchContext, type BenchRow } from '../lib.js';

export interface MatmulConfig {
  label: string;
  M: number; N: number; K: number;
  transA?: boolean; transB?: boolean; bias?: boolean;
  full?: boolean;
  /** Samples for the naive kernel (it is slow at large sizes) and for the others (default 5). */
  naiveSamples?: number;
  samples?: number;
}

export const SQUARE: MatmulConfig[] = [256, 512, 1024, 2048].map((n) => ({
  label: `square ${n}`, M: n, N: n, K: n, naiveSamples: n >= 2048 ? 1 : n >= 1024 ? 3 : 5, samples: n >= 2048 ? 3 : 5,
}));

// Swin-B: C = 128 at stage 1 (56×56 = 3136 tokens at 224 px, 128×128 = 16,384 at 512 px), 512 at
// stage 3 (14×14 = 196 tokens at 224 px); qkv projects C → 3C, MLP fc1 C → 4C.
export const SEGFACE: MatmulConfig[] = [
  { label: 'swin-b s1 qkv 224px', M: 3136, N: 384, K: 128, transB: true, bias: true },
  { label: 'swin-b s1 fc1 224px', M: 3136, N: 512, K: 128, transB: true, bias: true },
  { label: 'swin-b s3 qkv 224px', M: 196, N: 1536, K: 512, transB: true, bias: true },
  { label: 'swin-b s1 qkv 512px', M: 16384, N: 384, K: 128, transB: true, bias: true, full: true, naiveSamples: 2 },
];

export const TRANSPOSED: MatmulConfig[] = [
  { label: 'A·Bᵀ 1024 (dX)', M: 1024, N: 1024, K: 1024, transB: true, naiveSamples: 2 },
  { label: 'Aᵀ·B 1024 (dW)', M: 1024, N: 1024, K: 1024, transA: true, naiveSamples: 2 },
];

function random(ctx: BenchContext, shape: number[], seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = (s / 4294967296) * 2 - 1;
  }
  return ctx.rt.tensor(data, shape);
}

export async function matmulSuite(ctx: BenchContext): Promise<BenchRow[]> {
  const rt = ctx.rt;
  const facts = rt.device.facts;
  const byDefault = matmulDefault(facts);
  const rows: BenchRow[] = [];
  for (const c of [...SQUARE, ...SEGFACE, ...TRANSPOSED]) {
    if (c.full && !ctx.full) continue;
    const a = random(ctx, c.transA ? [c.K, c.M] : [c.M, c.K], 1);
    const b = random(ctx, c.transB ? [c.N, c.K] : [c.K, c.N], 2);
    const bias = c.bias ? random(ctx, [c.N], 3) : undefined;
    const flop = 2 * c.M * c.N * c.K;
    // The tuner's pick (measured now, or cached from an earlier run).
    const shape = { M: c.M, N: c.N, K: c.K, batch: 1, strideA: 0, strideB: 0, transA: c.transA ?? false, transB: c.transB ?? false, hasBias: c.bias ?? false };
    matmulChoice(rt, shape);
    await rt.tunePending();
    const tuned = rt.tuner.enabled ? matmulChoice(rt, shape) : undefined;
    const variants = [...new Set([byDefault, ...(tuned ? [tuned] : []), matmulKernel('wgmem', facts).name, matmulKernel('tiled', facts).name, 'naive'])];
    const gflops: Record<string, number> = {};
    const pending: { variant: string; r: Omit<BenchRow, 'adapter' | 'ratios'> }[] = [];
    for (const variant of variants) {
      const naive = variant === 'naive';
      // Each sample records enough repetitions for ~0.2 GFLOP, so small sizes are not dominated by
      // the wait for the GPU.
      const reps = Math.max(1, Math.round((naive ? 2e7 : 2e8) / flop));
      const t = await timeGpu(rt, () => {
        rt.withoutGrad(() => matmul(a, b, { transA: c.transA, transB: c.transB, bias, variant }));
      }, { reps, minSamples: naive ? (c.naiveSamples ?? 5) : ctx.quick ? 2 : (c.samples ?? 5), maxTime: naive || ctx.quick ? 0.1 : 1 });
      gflops[variant] = flop / (t.medianMs * 1e6);
      pending.push({
        variant,
        r: {
          suite: 'matmul', name: `${c.label} ${variant}`, sizes: `M=${c.M} N=${c.N} K=${c.K}${c.transA ? ' transA' : ''}${c.transB ? ' transB' : ''}${c.bias ? ' +bias' : ''}`,
          dtype: 'f32', ...t, gflops: gflops[variant],
          ...(variant === byDefault || variant === tuned ? { note: [variant === byDefault ? 'default' : '', variant === tuned ? 'tuned winner' : ''].filter(Boolean).join(', ') } : {}),
        },
      });
    }
    for (const { variant, r } of pending) {
      const ratios: Record<string, number> = { vs_naive: gflops[variant]! / gflops.naive! };
      const tiled = gflops[matmulKernel('tiled', facts).name]!;
      if (!variant.startsWith('tiled') && variant !== 'naive') ratios.vs_tiled = gflops[variant]! / tiled;
      rows.push(row(ctx, { ...r, ratios }));
    }
    if (rt.device.hasF16) {
      // the same values rounded to f16; the default kernel's f16 build (f16 tiles are a tuning class of their own)
      const [a16, b16, bias16] = await Promise.all([a, b, ...(bias ? [bias] : [])].map(async (t) => rt.tensor(await t.read(), t.shape, 'f16')));
      const reps = Math.max(1, Math.round(2e8 / flop));
      const t = await timeGpu(rt, () => {
        rt.withoutGrad(() => matmul(a16!, b16!, { transA: c.transA, transB: c.transB, bias: bias16, variant: byDefault }));
      }, { reps, minSamples: ctx.quick ? 2 : (c.samples ?? 5), maxTime: ctx.quick ? 0.1 : 1 });
      const g16 = flop / (t.medianMs * 1e6);
      rows.push(row(ctx, {
        suite: 'matmul', name: `${c.label} ${byDefault} f16`, sizes: `M=${c.M} N=${c.N} K=${c.K}${c.transA ? ' transA' : ''}${c.transB ? ' transB' : ''}${c.bias ? ' +bias' : ''}`,
        dtype: 'f16', ...t, gflops: g16, ratios: { vs_f32: g16 / gflops[byDefault]! },
      }));
      for (const x of [a16, b16, bias16]) x?.release();
    }
    a.release();
    b.release();
    bias?.release();
  }
  return rows;
}
