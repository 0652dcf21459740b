// Steady memory over many training steps: after warm-up, every step must end with the buffer
// pool's live bytes back at the same baseline (weights, gradients' storage, AdamW moments), reach
// the same per-step peak, allocate no new GPU buffers (everything reused from the pool), and leave
// the process's RSS flat. The tiny model at 32 px, batch 2, stochastic depth on (the training path).
//
// Measured once over 1,000 steps (STEADY_STEPS=1000 npx vitest run tests/train/steady_memory.test.ts,
// figures in docs/reliability.md): pool live / peak / allocated bytes identical on every step after
// warm-up; RSS flat. The test runs STEADY_STEPS (default 80).
import { describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/model/config.js';
import { syntheticParams } from '../../src/model/params.js';
import { AdamW } from '../../src/runtime/ops/adamw.js';
import { epochBatches, makeBatch } from '../../src/train/data/dataset.js';
import { SyntheticDataset } from '../../src/train/data/synthetic_dataset.js';
import { MultiStepLR } from '../../src/train/schedule.js';
import { Trainer } from '../../src/train/trainer.js';
import { useRuntime } from '../harness.js';

const rt = useRuntime();
const STEPS = Number(process.env.STEADY_STEPS ?? 80);
const WARMUP = 10;
// RSS settles later than the pool (V8's heap grows to its working size, lavapipe's caches fill):
// it is compared over two equal windows after RSS_WARMUP steps, the later window's peak against the
// earlier one's. Garbage collection is not forced, so RSS moves by ±20 MB from step to step; a
// leak of a megabyte a step (a leaked staging or upload buffer of the weights is 2.4 MB) grows
// the second window's peak by ≥ 30 MB.
const RSS_WARMUP = 20;
const RSS_SLACK_MB = 32;

describe('steady memory over training steps', () => {
  it(`${STEPS} steps of the tiny model: pool live, peak and allocated bytes flat after ${WARMUP} steps, RSS flat`, async () => {
    const RES = 32;
    const data = new SyntheticDataset('train', 16, RES, 'celeb', 5);
    const params = syntheticParams(rt(), makeConfig('tiny', 'celeb'), 5);
    const optim = new AdamW(params.params(), { lr: 1e-4, weightDecay: 1e-4 });
    const trainer = new Trainer(rt(), params, optim, new MultiStepLR(1e-4, []), 5);
    const rows: { live: number; peak: number; allocated: number; buffers: number; rssMb: number }[] = [];
    for (let s = 0; s < STEPS; s++) {
      const epoch = Math.floor(s / 8);
      const batch = makeBatch(data, epochBatches(data.length, 2, 5, epoch)[s % 8]!);
      rt().pool.resetPeak();
      const r = await trainer.step(batch, RES, epoch, s);
      expect(r.applied).toBe(true);
      const m = rt().memory();
      rows.push({ live: m.bytesLive, peak: m.bytesPeak, allocated: m.bytesAllocated, buffers: m.buffersAllocated, rssMb: process.memoryUsage().rss / 2 ** 20 });
      if (STEPS >= 200 && (s + 1) % 50 === 0) console.log(`step ${s + 1}: RSS ${rows[s]!.rssMb.toFixed(0)} MB, heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MB, pool live ${m.bytesLive}`);
    }
    const after = rows.slice(WARMUP);
    const base = after[0]!;
    const rss = rows.slice(RSS_WARMUP).map((r) => r.rssMb);
    const half = Math.floor(rss.length / 2);
    console.log(`steady memory over ${STEPS} steps (after ${WARMUP} warm-up): pool live ${base.live} B, peak ${base.peak} B, allocated ${base.allocated} B in ${base.buffers} buffers; ` +
      `RSS after ${RSS_WARMUP} steps ${Math.min(...rss).toFixed(0)}–${Math.max(...rss).toFixed(0)} MB (peak of steps ${RSS_WARMUP}–${RSS_WARMUP + half - 1}: ${Math.max(...rss.slice(0, half)).toFixed(0)} MB, of the rest: ${Math.max(...rss.slice(half)).toFixed(0)} MB)`);
    for (const [i, r] of after.entries()) {
      expect([r.live, r.peak, r.allocated, r.buffers], `step ${WARMUP + i}: pool live / peak / allocated bytes / buffers`).toEqual([base.live, base.peak, base.allocated, base.buffers]);
    }
    expect(Math.max(...rss.slice(half)) - Math.max(...rss.slice(0, half)), 'RSS: later window peak − earlier window peak (MB)').toBeLessThan(RSS_SLACK_MB);
    params.release();
    optim.destroy();
  }, 1_800_000);
});
