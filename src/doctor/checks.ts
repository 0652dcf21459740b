// The doctor's op checks: a fast subset of the test suites' checks, each op forward and backward on
// the adapter against its float64 reference (src/runtime/reference/), on random inputs. The
// tolerances are the test suites' derived bounds for the same input ranges (tests/matmul.test.ts,
// window_attention.test.ts, softmax.test.ts, activation.test.ts explain each); a failure here is
// an adapter or driver that computes differently from the ones the suites ran on.
import { activation } from '../runtime/ops/activation.js';
import { matmul, matmulDefault } from '../runtime/ops/matmul.js';
import { softmax } from '../runtime/ops/softmax.js';
import { defaultWindowAttentionPath, windowAttention } from '../runtime/ops/window_attention.js';
import { geluRef, geluRefBackward } from '../runtime/reference/activation.js';
import { f16Tol, runOpCheck, type Comparison, type OpCase, type Precision, type Tol } from '../runtime/reference/check.js';
import { roundHalf } from '../runtime/half.js';
import { matmulRef, matmulRefBackward, type MatmulShape } from '../runtime/reference/matmul.js';
import { softmaxRef, softmaxRefBackward } from '../runtime/reference/softmax.js';
import { windowAttentionRef, windowAttentionRefBackward, windowAttentionRefRowDotBound, type WaCfg } from '../runtime/reference/window_attention.js';
import type { Runtime } from '../runtime/runtime.js';
import { rng } from '../train/random.js';

export interface CheckResult {
  name: string;
  /** Storage of the op's activations: f32, or f16 (the kernels' f16 builds, tolerances for f16 storage). */
  precision: Precision;
  ok: boolean;
  /** Worst |got - want| over the forward and every gradient. */
  maxAbsErr: number;
  comparisons: Comparison[];
  ms: number;
  /** The first failure, or an exception the op raised. */
  error?: string;
}

/** Uniform values in [lo, hi), rounded to float32 so the GPU and the reference see the same inputs. */
function random(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => Math.fround(lo + (hi - lo) * r()));
}

const U = 2 ** -24;
const U16 = 2 ** -11;
const maxOf = (x: ArrayLike<number>): number => { let m = 0; for (let i = 0; i < x.length; i++) m = Math.max(m, x[i]!); return m; };
const abs = (x: Float64Array): Float64Array => x.map(Math.abs);
/** f32 dot products of L terms: 4·√L·u·Σ|terms| (probabilistic bound, as in tests/matmul.test.ts). */
const dotTol = (L: number, maxAbsSum: number): Tol => ({ atol: 4 * Math.sqrt(L + 1) * U * maxAbsSum, rtol: 0 });

function matmulCase(rt: Runtime, s: MatmulShape, seed: number): OpCase {
  const a = random(s.batch * s.M * s.K, seed);
  const b = random((s.batchedB ? s.batch : 1) * s.K * s.N, seed + 1);
  const bias = random(s.N, seed + 2);
  const dOut = random(s.batch * s.M * s.N, seed + 1000);
  const fwdAbs = maxOf(matmulRef(s, abs(a), abs(b), abs(bias)));
  const gradAbs = Math.max(...matmulRefBackward(s, abs(a), abs(b), abs(dOut), true).map(maxOf));
  const lead = s.batch > 1 ? [s.batch] : [];
  return {
    name: `matmul ${s.transA ? 'Aᵀ' : 'A'}·${s.transB ? 'Bᵀ' : 'B'} + bias (default ${matmulDefault(rt.device.facts)}) M=${s.M} N=${s.N} K=${s.K} batch ${s.batch}`,
    inputs: [
      { data: a, shape: [...lead, ...(s.transA ? [s.K, s.M] : [s.M, s.K])] },
      { data: b, shape: [...(s.batchedB ? lead : []), ...(s.transB ? [s.N, s.K] : [s.K, s.N])] },
      { data: bias, shape: [s.N] },
    ],
    run: ([x, y, z]) => matmul(x!, y!, { transA: s.transA, transB: s.transB, bias: z }),
    ref: ([x, y, z]) => matmulRef(s, x!, y!, z),
    refBackward: ([x, y], g) => matmulRefBackward(s, x!, y!, g, true),
    fwdTol: dotTol(s.K + 1, fwdAbs),
    gradTol: dotTol(Math.max(s.N, s.batch * s.M), gradAbs),
    seed,
  };
}

function windowAttentionCase(rt: Runtime, cfg: WaCfg, seed: number): OpCase {
  const T = (2 * cfg.ws - 1) ** 2;
  const qkv = random(cfg.B * cfg.H * cfg.W * 3 * cfg.C, seed, -2, 2);
  const bias = random(3 * cfg.C, seed + 1);
  const table = random(T * cfg.heads, seed + 2, -1.5, 1.5);
  const fwdTol = { atol: 5e-6, rtol: 1e-5 };
  const gradTol = { atol: 2e-5, rtol: 1e-4 };
  // f16 (tests/checks/window_attention.ts): D = dO·o reads the f16-stored o; its error, carried
  // through dS in float64, adds to each input's atol; d(qkv) is stored in f16 (f16Tol)
  const dOut = random(cfg.B * cfg.H * cfg.W * cfg.C, seed + 1000).map(roundHalf);
  const b = windowAttentionRefRowDotBound(qkv.map(roundHalf), bias, table, null, cfg, dOut, U16 * (1 + fwdTol.rtol), fwdTol.atol);
  const plus = (t: Tol, x: Float64Array): Tol => ({ atol: t.atol + maxOf(x), rtol: t.rtol });
  return {
    name: `window attention V1 (${defaultWindowAttentionPath(rt)}) B=${cfg.B} ${cfg.H}x${cfg.W} C=${cfg.C} heads ${cfg.heads} shift ${cfg.shift}`,
    inputs: [
      { data: qkv, shape: [cfg.B, cfg.H, cfg.W, 3 * cfg.C] },
      // the parameters stay f32 in both precisions
      { data: bias, shape: [3 * cfg.C], dtype: 'f32' },
      { data: table, shape: [T, cfg.heads], dtype: 'f32' },
    ],
    run: ([qkv, bias, table]) => windowAttention(qkv!, table!, { ws: cfg.ws, heads: cfg.heads, shift: cfg.shift, qkvBias: bias! }),
    ref: ([qkv, bias, table]) => windowAttentionRef(qkv!, bias!, table!, null, cfg),
    refBackward: ([qkv, bias, table], g) => {
      const r = windowAttentionRefBackward(qkv!, bias!, table!, null, cfg, g);
      return [r.dqkv, r.dBias, r.dTable];
    },
    // tests/window_attention.test.ts: 32-term logits, a convex combination of v; d(table) sums windows × N².
    fwdTol,
    gradTol,
    f16: { gradTol: [plus(f16Tol(gradTol), b.dqkv), plus(gradTol, b.dBias), plus(gradTol, b.dTable)] },
    seed,
  };
}

function softmaxCase(rows: number, cols: number, seed: number): OpCase {
  const x = random(rows * cols, seed, -4, 4);
  const maxY = maxOf(softmaxRef(x, cols));
  const maxY16 = maxOf(softmaxRef(x.map(roundHalf), cols));
  return {
    name: `softmax [${rows}, ${cols}]`,
    inputs: [{ data: x, shape: [rows, cols] }],
    run: ([t]) => softmax(t!),
    ref: ([t]) => softmaxRef(t!, cols),
    refBackward: ([t], g) => [softmaxRefBackward(t!, cols, g)],
    fwdTol: { atol: 1e-10, rtol: 1e-6 },
    gradTol: { atol: 5e-7 * maxY, rtol: 2e-6 },
    // f16 (tests/checks/softmax.ts): the backward reads y as stored in f16
    f16: { gradTol: { atol: 5e-7 * maxY16 + U16 * maxY16 + 3 * 2 ** -25 + maxY16 * cols * 2 ** -25, rtol: 2e-6 + 2 * U16 } },
    seed,
  };
}

function geluCase(n: number, seed: number): OpCase {
  return {
    name: `gelu [${n}]`,
    inputs: [{ data: random(n, seed, -10, 10), shape: [n] }],
    run: ([t]) => activation('gelu', t!),
    ref: ([t]) => geluRef(t!),
    refBackward: ([t], g) => [geluRefBackward(t!, g)],
    fwdTol: { atol: 3e-7, rtol: 1e-6 },
    seed,
  };
}

/** The subset: Swin's matmul shapes (forward and both transposes), window attention, softmax, GELU. */
export function doctorCases(rt: Runtime, quick: boolean): OpCase[] {
  const M = quick ? 49 : 196;
  return [
    matmulCase(rt, { batch: 2, M, N: 96, K: 64, batchedB: false, transA: false, transB: true }, 11),
    matmulCase(rt, { batch: 1, M: 64, N: 96, K: quick ? 49 : 196, batchedB: false, transA: true, transB: false }, 21),
    // head dim 16 in --quick (the tiny model's: one cold pipeline compile, not two), Swin's 32 otherwise
    windowAttentionCase(rt, { B: quick ? 1 : 2, H: 14, W: 14, C: quick ? 32 : 64, heads: 2, ws: 7, shift: 3 }, 31),
    softmaxCase(64, 49, 41),
    geluCase(quick ? 1024 : 8192, 51),
  ];
}

/**
 * Runs one case with its float tensors stored in `precision`; an exception (a WebGPU error, a lost
 * device) is a failed check, not a crash.
 */
export async function runCheck(rt: Runtime, c: OpCase, precision: Precision = 'f32'): Promise<CheckResult> {
  const t0 = performance.now();
  const name = precision === 'f16' ? `${c.name} (f16)` : c.name;
  try {
    const comparisons = await runOpCheck(rt, c, (n) => random(n, (c.seed ?? 1) + 1000), precision);
    const failed = comparisons.find((r) => !r.ok);
    return {
      name, precision, ok: !failed, maxAbsErr: Math.max(...comparisons.map((r) => r.maxAbsErr)), comparisons,
      ms: performance.now() - t0, ...(failed ? { error: failed.message } : {}),
    };
  } catch (e) {
    return { name, precision, ok: false, maxAbsErr: Infinity, comparisons: [], ms: performance.now() - t0, error: (e as Error).message };
  }
}
