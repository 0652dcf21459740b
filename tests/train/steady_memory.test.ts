// Steady memory over many training steps: after warm-up, every step must end with the buffer
// pool's live bytes back at the same baseline (weights, gradients' storage, AdamW moments), reach
// the same per-step peak, allocate no new GPU buffers (everything reused from the pool), and leave
// the process's RSS flat. The tiny model at 32 px, batch 2, stochastic depth on (the training path).
//
// Measured once over 1,000 steps (STEADY_STEPS=1000 npx vitest run tests/train/steady_memory.test.ts,
// see docs/reliability.md): pool live / peak / allocated bytes identical on every step after
// warm-up; RSS within RSS_SLACK_MB of its post-warm-up value. The test runs STEADY_STEPS (default 60).
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
const STEPS = Number(process.env.STEADY_STEPS ?? 60);
const WARMUP = 10;
// RSS after warm-up may move by V8's heap growth and freeing (garbage collection is not forced
// per step) and the allocator's arenas; a leak of one step's host data (a 32 px batch is 24 kB,
// a readback a few bytes; a leaked GPU staging or upload buffer of the weights would be 2.4 MB per
// step) grows without bound. The bound over 1,000 steps: see the header.
const RSS_SLACK_MB = 64;

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
    const rss = after.map((r) => r.rssMb);
    console.log(`steady memory over ${STEPS} steps (after ${WARMUP} warm-up): pool live ${base.live} B, peak ${base.peak} B, allocated ${base.allocated} B in ${base.buffers} buffers; ` +
      `RSS ${Math.min(...rss).toFixed(0)}–${Math.max(...rss).toFixed(0)} MB (first after warm-up ${rss[0]!.toFixed(0)} MB, last ${rss[rss.length - 1]!.toFixed(0)} MB)`);
    for (const [i, r] of after.entries()) {
      expect([r.live, r.peak, r.allocated, r.buffers], `step ${WARMUP + i}: pool live / peak / allocated bytes / buffers`).toEqual([base.live, base.peak, base.allocated, base.buffers]);
    }
    expect(Math.max(...rss) - rss[0]!, 'RSS growth after warm-up (MB)').toBeLessThan(RSS_SLACK_MB);
    params.release();
    optim.destroy();
  }, 1_800_000);
});
