// The bench's profiler (CommandBatch.startProfiling + bench/profile.ts aggregation and Chrome
// trace), the peers' failure rows, the TF.js peer on the engine's device and the summary/chart
// writer, on tiny inputs.
import { mkdtempSync, readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { makeConfig } from '../src/model/config.js';
import { syntheticParams } from '../src/model/params.js';
import { segfaceForward } from '../src/model/segface.js';
import type { DispatchTiming, ProfileMode } from '../src/runtime/batch.js';
import { matmul } from '../src/runtime/ops/matmul.js';
import { softmax } from '../src/runtime/ops/softmax.js';
import { unavailableRow, type BenchRow } from '../bench/lib.js';
import { openTfjs } from '../bench/peers/tfjs.js';
import { runTorch } from '../bench/peers/torch.js';
import { aggregate, chromeTrace, formatTop, matmulInStep } from '../bench/profile.js';
import { gemmShapeOfDispatch } from '../src/runtime/ops/matmul.js';
import { writeSummary } from '../bench/summary.js';
import { useRuntime } from './harness.js';

const rt = useRuntime();

/** Profiles `record` (which records GPU work) and returns the dispatch count and the timings. */
async function profiled(mode: ProfileMode | undefined, record: () => void): Promise<{ dispatched: number; timings: DispatchTiming[]; mode: ProfileMode }> {
  await rt().sync();
  const before = rt().counters.dispatches;
  const used = rt().batch.startProfiling(mode);
  record();
  const timings = await rt().batch.stopProfiling();
  return { dispatched: rt().counters.dispatches - before, timings, mode: used };
}

function checkTrace(timings: DispatchTiming[], dispatched: number, mode: ProfileMode): void {
  expect(timings.length).toBe(dispatched);
  const trace = JSON.parse(JSON.stringify(chromeTrace(timings, { adapter: 'test', what: 'tiny', mode }))) as ReturnType<typeof chromeTrace>;
  const events = trace.traceEvents.filter((e) => e.ph === 'X');
  expect(events.length).toBe(dispatched); // one complete event per dispatch
  let last = -Infinity;
  for (const e of events) {
    expect(e.name).toMatch(/^[A-Za-z_][\w]*$/);
    expect(e.dur).toBeGreaterThanOrEqual(0);
    expect(e.ts).toBeGreaterThanOrEqual(0);
    expect(e.ts! + 1e-6).toBeGreaterThanOrEqual(last); // queue order
    last = e.ts!;
    expect(e.args?.kernel).toBeTypeOf('string');
    expect(e.args?.grid).toHaveLength(3);
  }
  // Aggregation: every dispatch counted once, totals add up, largest first, shares sum to 1.
  const stats = aggregate(timings);
  expect(stats.reduce((a, s) => a + s.count, 0)).toBe(dispatched);
  const total = timings.reduce((a, t) => a + t.durationMs, 0);
  expect(stats.reduce((a, s) => a + s.totalMs, 0)).toBeCloseTo(total, 6);
  if (total > 0) expect(stats.reduce((a, s) => a + s.share, 0)).toBeCloseTo(1, 6);
  for (let i = 1; i < stats.length; i++) expect(stats[i]!.totalMs).toBeLessThanOrEqual(stats[i - 1]!.totalMs);
  expect(trace.otherData.top.length).toBe(Math.min(15, stats.length));
  expect(formatTop(stats).split('\n').length).toBe(2 + Math.min(15, stats.length));
}

describe('matmul inside a step against alone', () => {
  it('groups the matmul dispatches by problem and recovers each problem from its dispatch and re-runs it alone', async () => {
    const r = rt();
    const x = r.parameter(Array.from({ length: 6 * 8 }, (_, i) => Math.sin(i)), [6, 8]);
    const w = r.parameter(Array.from({ length: 5 * 8 }, (_, i) => Math.cos(i)), [5, 8]);
    const b = r.parameter([1, 2, 3, 4, 5], [5]);
    let y: ReturnType<typeof matmul> | undefined;
    const { timings } = await profiled(undefined, () => {
      y = matmul(x, w, { transB: true, bias: b });
      r.backward(y, r.tensor(Array(30).fill(1), [6, 5]));   // + matmul_bwd_a, matmul_bwd_b with the bias gradient fused
      matmul(x, w, { transB: true, bias: b }).release();     // the forward problem again
    });
    const mm = timings.filter((t) => t.kernel.startsWith('matmul_'));
    expect(mm.map((t) => t.op)).toEqual(['matmul', 'matmul_bwd_a', 'matmul_bwd_b', 'matmul']);
    const bwdB = mm[2]!;
    expect(bwdB.constants.DB).toBe(1);
    expect(gemmShapeOfDispatch(bwdB.params, bwdB.constants, bwdB.grid, 'f32')).toMatchObject({ M: 5, N: 8, K: 6, batch: 1, transA: true, transB: false, sums: 'a' });
    const before = r.counters.dispatches;
    const m = await matmulInStep(r, timings);
    expect(r.counters.dispatches).toBeGreaterThan(before);   // re-run alone
    expect(m).toMatchObject({ problems: 3, dispatches: 4 });
    expect(m.top.map((t) => t.count).sort()).toEqual([1, 1, 2]);
    expect(m.inStepMs).toBeCloseTo(mm.reduce((a, t) => a + t.durationMs, 0), 9);
    expect(Number.isFinite(m.aloneMs) && m.aloneMs >= 0).toBe(true);
    for (const t of [x, w, b, y!, x.grad!, w.grad!, b.grad!]) t.release();
  });
});

describe('dispatch profiler', () => {
  it('times every dispatch of a tiny SegFace forward (default mode) and writes a Chrome trace', async () => {
    const params = syntheticParams(rt(), makeConfig('tiny'), 1);
    const image = rt().untracked(() => rt().tensor(new Float32Array(3 * 64 * 64).map((_, i) => Math.sin(i)), [1, 3, 64, 64]));
    const { dispatched, timings, mode } = await profiled(undefined, () => {
      rt().withoutGrad(() => rt().scope(() => { segfaceForward(params, image); }));
    });
    expect(mode).toBe(rt().device.hasTimestamps ? 'timestamp' : 'cpu');
    expect(dispatched).toBeGreaterThan(50);
    checkTrace(timings, dispatched, mode);
    const ops = new Set(timings.map((t) => t.op));
    for (const op of ['matmul', 'layernorm_fwd', 'window_attention_fwd']) expect(ops.has(op)).toBe(true);
    image.release();
    params.release();
  });

  it('host-timed fallback: one submit per dispatch, same trace format', async () => {
    const a = rt().untracked(() => rt().tensor(new Float32Array(64 * 32).map((_, i) => Math.cos(i)), [64, 32]));
    const submits = rt().counters.submits;
    const { dispatched, timings } = await profiled('cpu', () => {
      rt().withoutGrad(() => rt().scope(() => { softmax(matmul(a, a, { transB: true })); }));
    });
    expect(rt().counters.submits - submits).toBeGreaterThanOrEqual(dispatched);
    checkTrace(timings, dispatched, 'cpu');
    a.release();
  });

  it('is off again after stopProfiling: ops batch as before and compute the same values', async () => {
    expect(rt().batch.profiling).toBeNull();
    const a = rt().untracked(() => rt().tensor([1, 2, 3, 4], [2, 2]));
    const c = rt().withoutGrad(() => matmul(a, a));
    expect([...(await c.read())]).toEqual([7, 10, 15, 22]);
    await expect(rt().batch.stopProfiling()).rejects.toThrow(/not profiling/);
    for (const t of [a, c]) t.release();
  });
});

describe('peers', () => {
  it('a PyTorch peer that cannot start gives a reason per case, not an exception', async () => {
    const run = await runTorch([{ kind: 'matmul', M: 8, N: 8, K: 8 }, { kind: 'softmax', rows: 2, cols: 3 }], { python: '/nonexistent/python3' });
    expect(run.results).toHaveLength(2);
    for (const r of run.results) {
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.why).toMatch(/nonexistent\/python3/);
    }
    const row = unavailableRow({ rt: rt(), full: false, quick: true }, { suite: 'peers', name: 'matmul 8 torch-cpu', sizes: 'M=8', why: (run.results[0] as { why: string }).why });
    expect(row.unavailable).toMatch(/nonexistent/);
    expect(Number.isNaN(row.medianMs)).toBe(true);
  });

  it('one bad case fails alone; the others are timed (skipped reason if torch is missing)', async () => {
    const run = await runTorch([{ kind: 'matmul', M: 16, N: 16, K: 16, samples: 2 } as never, { kind: 'nope' } as never]);
    const [good, bad] = run.results;
    expect(bad!.ok).toBe(false);
    if (good!.ok) {
      expect(good!.medianMs).toBeGreaterThan(0);
      expect((bad as { why: string }).why).toMatch(/unknown case kind/);
    } else {
      expect(run.describe).toMatch(/unavailable/); // no torch here: both say why
    }
  });

  it('TF.js WebGPU runs on the engine\'s device and agrees with our matmul', async () => {
    const tfjs = await openTfjs(rt());
    if ('why' in tfjs) throw new Error(tfjs.why);
    const n = 48;
    const data = new Float32Array(n * n).map((_, i) => Math.sin(i * 0.37));
    const ours = rt().untracked(() => rt().tensor(data, [n, n]));
    const mine = await rt().withoutGrad(() => matmul(ours, ours)).read();
    const x = tfjs.tf.tensor(data, [n, n]);
    const theirs = await tfjs.tf.matMul(x, x).data();
    for (let i = 0; i < mine.length; i++) expect(Math.abs(mine[i]! - theirs[i]!)).toBeLessThan(1e-4); // f32 sums of 48 terms
    const t = await tfjs.time(() => { tfjs.tf.matMul(x, x); }, { minSamples: 2, maxTime: 0 });
    expect(t.samples).toBeGreaterThanOrEqual(2);
    expect(t.medianMs).toBeGreaterThan(0);
    x.dispose();
    tfjs.dispose();
    ours.release();
    await rt().sync(); // no WebGPU error left behind by TF.js on the shared device
  });
});

describe('summary', () => {
  it('writes the peers, model and profile tables and a PNG chart from results files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-summary-'));
    mkdirSync(join(dir, 'results'));
    const base = { adapter: 'test', dtype: 'f32', minMs: 1, maxMs: 2, samples: 3 };
    const rows: BenchRow[] = [
      { ...base, suite: 'peers', name: 'matmul square 256 ours', sizes: 'M=256', medianMs: 1, gflops: 20, ratios: { vs_tfjs: 5, vs_torch: 0.1 } },
      { ...base, suite: 'peers', name: 'matmul square 256 tfjs-webgpu', sizes: 'M=256', medianMs: 5, gflops: 4, ratios: {}, peer: 'tfjs-webgpu' },
      { ...base, suite: 'peers', name: 'matmul square 256 torch-cpu', sizes: 'M=256', medianMs: NaN, minMs: NaN, maxMs: NaN, samples: 0, ratios: {}, unavailable: 'no python here' },
      { ...base, suite: 'model', name: 'swin_t 224 train step', sizes: 'batch 1', medianMs: 4000, imagesPerSec: 0.25, peakBytes: 512 * 2 ** 20, ratios: { vs_torch: 0.15 } },
      { ...base, suite: 'model', name: 'swin_t 224 train step torch-cpu', sizes: 'batch 1', medianMs: 600, imagesPerSec: 1.67, ratios: {}, peer: 'torch-cpu' },
    ];
    const result = { date: '2026-01-01T00:00:00Z', adapter: { name: 'test-adapter', description: 'test' }, node: 'v20', full: false, roofline: { gflops: 70, copyGBps: 6, readGBps: 5 }, rows };
    writeFileSync(join(dir, 'results', 'test-adapter.json'), JSON.stringify(result));
    const timings: DispatchTiming[] = [
      { op: 'matmul', kernel: 'matmul_subgroup (kernels/matmul.wgsl)', params: { M: 8 }, constants: {}, grid: [1, 1, 1], batch: 0, startMs: 0, durationMs: 3 },
      { op: 'add', kernel: 'binary (kernels/elementwise.wgsl)', params: { n: 8 }, constants: {}, grid: [1, 1, 1], batch: 0, startMs: 3, durationMs: 1 },
    ];
    writeFileSync(join(dir, 'results', 'profile-test-adapter.json'), JSON.stringify(chromeTrace(timings, { adapter: 'test-adapter', what: 'tiny step', mode: 'timestamp', timing: 'test', step: 'step', backbone: 'tiny', res: 64, wallMs: 5 })));
    const readme = readFileSync(writeSummary(dir), 'utf8');
    expect(readme).toContain('| matmul square 256 | M=256 | 1.00 | 20.0 GFLOP/s | 5.00 | 4.0 GFLOP/s | n/a | n/a | 5.00 | 0.10 |');
    expect(readme).toContain('n/a: no python here');
    expect(readme).toContain('| swin_t | 224 | train step | 4000 | 0.250 | 512 | 600 | 1.67 | 0.150 |');
    expect(readme).toContain('| 1 | matmul | 1 | 3.0 | 75.0 % |');
    expect(readme).toContain('](results/test-adapter.png)');
    const png = PNG.sync.read(readFileSync(join(dir, 'results', 'test-adapter.png')));
    expect(png.width).toBeGreaterThan(500);
    expect(existsSync(join(dir, 'results', 'profile-test-adapter.json'))).toBe(true);
  });
});
