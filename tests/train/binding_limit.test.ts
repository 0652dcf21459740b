// A whole training step under a small storage-binding limit. swin_base's flat optimizer buffers
// (352 MB) exceed lavapipe's 128 MiB maxStorageBufferBindingSize; the runtime checks every
// dispatch's bindings against the limit, and the flat buffers run in segments (src/runtime/flat.ts).
// Here the tiny model plays swin_base: the device's limit is lowered to 256 KiB (its largest
// tensor, 65,536 floats, still fits one binding), so its 622,510 parameters take 15 segments, and
// every step must bind within the limit and give the bits of the unlowered run, in f32 and f16.
import { describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/model/config.js';
import { syntheticParams } from '../../src/model/params.js';
import { AdamW } from '../../src/runtime/ops/adamw.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { makeBatch } from '../../src/train/data/dataset.js';
import { SyntheticDataset } from '../../src/train/data/synthetic_dataset.js';
import { MultiStepLR } from '../../src/train/schedule.js';
import { Trainer } from '../../src/train/trainer.js';

const LIMIT = 256 << 10;

/** Two steps (f32, then f16 where the adapter has shader-f16) on a fresh runtime, optionally with the binding limit lowered. */
async function train(limit?: number): Promise<{ segments: number; numbers: number[]; weights: number[][] }> {
  const rt = await Runtime.create({ tune: false, tuneStore: null });
  try {
    if (limit !== undefined) {
      const lowered: Record<string, number> = {};
      for (const k in rt.device.limits) lowered[k] = (rt.device.limits as unknown as Record<string, number>)[k]!;
      lowered.maxStorageBufferBindingSize = limit;
      Object.defineProperty(rt.device, 'limits', { get: () => lowered });
    }
    const cfg = makeConfig('tiny', 'celeb');
    cfg.stochasticDepth = 0;
    const params = syntheticParams(rt, cfg, 1);
    const optim = new AdamW(params.params(), { lr: 1e-3, weightDecay: 1e-5, maxGradNorm: 1 });
    const trainer = new Trainer(rt, params, optim, new MultiStepLR(1e-3, []), 1, false);
    const data = new SyntheticDataset('train', 4, 32, 'celeb', 1);
    const numbers: number[] = [];
    for (const [s, precision] of (rt.device.hasF16 ? ['f32', 'f16'] as const : ['f32', 'f32'] as const).entries()) {
      trainer.precision = precision;
      const r = await trainer.step(makeBatch(data, [2 * s, 2 * s + 1]), 32, 0, s);
      expect(r.applied).toBe(true);
      numbers.push(r.total, r.gradNorm);
    }
    const weights = await Promise.all(params.params().map(async (p) => Array.from(await p.read())));
    return { segments: optim.group.layout.segments.length, numbers, weights };
  } finally {
    rt.destroy();
  }
}

describe('training under a small storage-binding limit', () => {
  it('splits the flat buffers into segments, binds within the limit and gives the bits of one segment (f32 and f16)', async () => {
    const whole = await train();
    const split = await train(LIMIT);
    expect(whole.segments).toBe(1);
    expect(split.segments).toBe(15);
    expect(split.numbers).toEqual(whole.numbers);
    expect(split.weights).toEqual(whole.weights);
  }, 300_000);
});
