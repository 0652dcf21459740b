// Fused epilogues against the unfused ops they replace, at swin_t's MLP shapes (224 px, batch 1):
// `mlp` (linear → GELU → linear with GELU in the matmul epilogues, runtime/ops/mlp.ts) against
// matmul → activation('gelu') → matmul, forward and forward + backward.
//
// The machine is shared, so the two are timed in alternating samples (fused, unfused, fused, ...)
// and the row's `fused_over_unfused` is the median of the per-pair time ratios (a burst of load
// hits both sides of a pair alike), `best_over_best` the ratio of the two fastest samples (the
// least disturbed ones on a loaded machine). Below 1 the fusion pays.
import { activation } from '../../src/runtime/ops/activation.js';
import { matmul } from '../../src/runtime/ops/matmul.js';
import { mlp } from '../../src/runtime/ops/mlp.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { row, type BenchContext, type BenchRow, type Timing } from '../lib.js';

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; };
const timing = (xs: number[]): Timing => ({ medianMs: median(xs), minMs: Math.min(...xs), maxMs: Math.max(...xs), samples: xs.length });

/** Alternating samples of a and b (each records its work `reps` times, then waits once): ms per rep. */
async function alternate(rt: Runtime, a: () => void, b: () => void, pairs: number, reps: number): Promise<{ a: number[]; b: number[] }> {
  const once = async (f: () => void): Promise<number> => {
    const t0 = performance.now();
    rt.scope(() => { for (let i = 0; i < reps; i++) f(); });
    await rt.sync();
    return (performance.now() - t0) / reps;
  };
  await once(a); await once(b);   // warm-up: pipelines and pool
  const out = { a: [] as number[], b: [] as number[] };
  for (let i = 0; i < pairs; i++) { out.a.push(await once(a)); out.b.push(await once(b)); }
  return out;
}

export async function fusionSuite(ctx: BenchContext): Promise<BenchRow[]> {
  const rt = ctx.rt;
  const rows: BenchRow[] = [];
  const param = (shape: number[], seed: number): Tensor => {
    const n = shape.reduce((p, q) => p * q, 1);
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = 0.1 * Math.sin(seed + i * 0.7071);
    return rt.parameter(d, shape);
  };
  // swin_t: C = 96 at stage 1 (56² tokens), 384 at stage 3 (14² tokens); hidden 4C.
  for (const [label, tokens, C] of [['stage 1', 3136, 96], ['stage 3', 196, 384]] as const) {
    const H = 4 * C;
    const x = param([tokens, C], 1);
    const w1 = param([H, C], 2); const b1 = param([H], 3);
    const w2 = param([C, H], 4); const b2 = param([C], 5);
    const ps = [x, w1, b1, w2, b2];
    const fused = (): Tensor => mlp(x, { weight: w1, bias: b1 }, { weight: w2, bias: b2 });
    const plain = (): Tensor => matmul(activation('gelu', matmul(x, w1, { transB: true, bias: b1 })), w2, { transB: true, bias: b2 });
    const flop = 2 * 2 * tokens * C * H;
    const sizes = `swin_t ${label}: ${tokens} tokens, ${C} -> ${H} -> ${C}`;
    const pairs = ctx.quick ? 3 : 11;
    const reps = Math.max(1, Math.round(2e8 / flop));
    for (const [what, mult, wrap] of [
      ['fwd', 1, (f: () => Tensor) => () => { rt.withoutGrad(f); }],
      ['fwd+bwd', 3, (f: () => Tensor) => () => { rt.backward(f()); rt.zeroGrad(ps); }],
    ] as const) {
      const t = await alternate(rt, wrap(fused), wrap(plain), pairs, reps);
      const ratio = median(t.a.map((v, i) => v / t.b[i]!));
      const best = Math.min(...t.a) / Math.min(...t.b);
      rows.push(row(ctx, { suite: 'fusion', name: `mlp fused ${what}`, sizes, dtype: 'f32', ...timing(t.a), gflops: (mult * flop) / (median(t.a) * 1e6), ratios: { fused_over_unfused: ratio, best_over_best: best } }));
      rows.push(row(ctx, { suite: 'fusion', name: `mlp unfused ${what}`, sizes, dtype: 'f32', ...timing(t.b), gflops: (mult * flop) / (median(t.b) * 1e6) }));
    }
    for (const p of ps) p.release();
  }
  return rows;
}
