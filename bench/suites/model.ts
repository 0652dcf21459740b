// The whole model: SegFace forward (eval, no grad) and training step (forward + 0.5·CE + 0.5·Dice
// + backward + AdamW, through src/train/trainer.ts's Trainer) on synthetic weights and a synthetic
// batch: swin_t at 224 px (default) and swin_base at 224 and 512 px (--full), batch 1, CelebAMask-HQ
// classes (19). Rows give images/s, the buffer pool's peak bytes during the measurement (weights,
// gradients, AdamW state and activations) and `vs_torch`: PyTorch's CPU time for the same config
// and batch over ours (bench/peers/torch_peer.py; above 1: we are faster). Stochastic depth is off
// on both sides so every step does the same work.
//
// A swin_t 224 step takes seconds on lavapipe: these rows use a warm-up and 3 samples (2 for
// swin_base), nothing more.
import { segfaceForward } from '../../src/model/segface.js';
import { fmaProbe } from '../../src/runtime/roofline.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { buildModel, syntheticBatch } from '../../src/train/synthetic_step.js';
import { runTorch } from '../peers/torch.js';
import { row, timeAsync, timeGpu, unavailableRow, type BenchContext, type BenchRow, type Timing } from '../lib.js';

export interface ModelConfig { backbone: string; res: number; batch: number; full?: boolean; samples: number }

export const MODEL_CONFIGS: ModelConfig[] = [
  { backbone: 'swin_t', res: 224, batch: 1, samples: 3 },
  { backbone: 'swin_base', res: 224, batch: 1, samples: 2, full: true },
  { backbone: 'swin_base', res: 512, batch: 1, samples: 2, full: true },
];

/**
 * The matmul FLOPs (2·M·N·K per output batch item) of everything `run` dispatches, from the
 * shapes of the matmul kernels it records: convolutions and linear layers all go through matmul;
 * the fused window attention, norms and elementwise ops are left out (a few % of the total), so
 * `of_fma_peak` (added from these GFLOP/s) is a lower bound of the model's arithmetic rate.
 */
async function matmulFlop(rt: Runtime, run: () => unknown): Promise<number> {
  const dispatch = rt.dispatch.bind(rt);
  let flop = 0;
  rt.dispatch = (decl, args) => {
    if (decl.file === 'matmul.wgsl' && args.op !== 'matmul_tune') {
      const p = args.params as { M: number; N: number; K: number };
      flop += 2 * p.M * p.N * p.K * (args.workgroups[2] ?? 1);
    }
    dispatch(decl, args);
  };
  try { await run(); } finally { rt.dispatch = dispatch; }
  await rt.sync();
  return flop;
}

/**
 * Each item's GFLOP/s over the FMA peak measured right around it: `pairs` rounds of [peak, item]
 * for every item, then one more peak; an item's ratio uses the mean of the peaks just before and
 * after it, and the median over rounds counts (`of_fma_peak_paired`). On a shared machine the load
 * changes within a run; the roofline row is measured once, minutes earlier, so `of_fma_peak` can
 * be far off where this one holds.
 */
async function pairedWithPeak(rt: Runtime, items: { flop: number; run: () => Promise<void> }[], pairs: number): Promise<number[]> {
  const probe = fmaProbe(rt);
  const peak = async (): Promise<number> => {
    const t0 = performance.now();
    rt.scope(() => { for (let i = 0; i < 6; i++) probe.record(); });
    await rt.sync();
    return (6 * probe.flops) / ((performance.now() - t0) * 1e6);
  };
  const ratios: number[][] = items.map(() => []);
  try {
    await peak();   // compiles the probe
    let before = await peak();
    for (let r = 0; r < pairs; r++) {
      for (const [i, item] of items.entries()) {
        const t0 = performance.now();
        await item.run();
        const gflops = item.flop / ((performance.now() - t0) * 1e6);
        const after = await peak();
        ratios[i]!.push(gflops / ((before + after) / 2));
        before = after;
      }
    }
  } finally {
    probe.release();
  }
  return ratios.map((xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]!; });
}

/** The forward and the training step in f16 (after the f32 ones, same model and batch): times and pool peaks. */
async function timeF16(rt: Runtime, m: ReturnType<typeof buildModel>, images: Tensor, batch: ReturnType<typeof syntheticBatch>, res: number, samples: number, k0: number):
  Promise<{ fwd: Timing & { peak: number }; step: Timing & { peak: number } }> {
  let k = k0 + 1000;
  m.trainer.precision = 'f16';
  await m.trainer.step(batch, res, 0, k++);   // compiles the f16 builds
  rt.pool.resetPeak();
  const fwd = await timeGpu(rt, () => { rt.withoutGrad(() => segfaceForward(m.params, images, { precision: 'f16' })); }, { minSamples: samples, maxTime: 0 });
  const fwdPeak = rt.memory().bytesPeak;
  rt.pool.resetPeak();
  const step = await timeAsync(async () => { await m.trainer.step(batch, res, 0, k++); }, { minSamples: samples, maxTime: 0 });
  const stepPeak = rt.memory().bytesPeak;
  m.trainer.precision = 'f32';
  return { fwd: { ...fwd, peak: fwdPeak }, step: { ...step, peak: stepPeak } };
}

export async function modelSuite(ctx: BenchContext): Promise<BenchRow[]> {
  const rt = ctx.rt;
  const configs = MODEL_CONFIGS.filter((c) => ctx.full || !c.full);
  const ours: { fwd: Timing & { peak: number; flop: number; paired: number }; step: Timing & { peak: number; flop: number; paired: number } }[] = [];
  // f16 mixed precision, where the adapter has shader-f16: the same forward and step (Trainer.precision f16)
  const half: ({ fwd: Timing & { peak: number }; step: Timing & { peak: number } } | undefined)[] = [];
  for (const c of configs) {
    const m = buildModel(rt, c.backbone);
    const batch = syntheticBatch(c.res, c.batch, m.classes, 7);
    const images = rt.untracked(() => rt.tensor(batch.images, [c.batch, 3, c.res, c.res]));
    const samples = ctx.quick ? 1 : c.samples;
    let k = 0;
    // Warm-up: compiles every kernel; with tuning on, its loss readback tunes every unit met.
    await m.trainer.step(batch, c.res, 0, k++);
    await rt.tunePending();
    const fwdFlop = await matmulFlop(rt, () => { rt.withoutGrad(() => segfaceForward(m.params, images)); });
    const stepFlop = await matmulFlop(rt, () => m.trainer.step(batch, c.res, 0, k++));
    rt.pool.resetPeak();
    const fwd = await timeGpu(rt, () => { rt.withoutGrad(() => segfaceForward(m.params, images)); }, { minSamples: samples, maxTime: 0 });
    const fwdPeak = rt.memory().bytesPeak;
    rt.pool.resetPeak();
    const step = await timeAsync(async () => { await m.trainer.step(batch, c.res, 0, k++); }, { minSamples: samples, maxTime: 0 });
    const stepPeak = rt.memory().bytesPeak;
    const paired = await pairedWithPeak(rt, [
      { flop: fwdFlop, run: async () => { rt.withoutGrad(() => rt.scope(() => { segfaceForward(m.params, images); })); await rt.sync(); } },
      { flop: stepFlop, run: async () => { await m.trainer.step(batch, c.res, 0, k++); } },
    ], ctx.quick ? 1 : 3);
    ours.push({ fwd: { ...fwd, peak: fwdPeak, flop: fwdFlop, paired: paired[0]! }, step: { ...step, peak: stepPeak, flop: stepFlop, paired: paired[1]! } });
    half.push(rt.device.hasF16 ? await timeF16(rt, m, images, batch, c.res, samples, k) : undefined);
    images.release();
    m.release();
    await rt.sync();
  }
  const torch = await runTorch(configs.flatMap((c) => (['forward', 'step'] as const).map((mode) => (
    { kind: 'segface' as const, backbone: c.backbone, res: c.res, batch: c.batch, mode, samples: ctx.quick ? 1 : 3, warmup: 1, minMs: 0 }))), { python: ctx.python });
  const rows: BenchRow[] = [];
  configs.forEach((c, i) => {
    const sizes = `${c.backbone} ${c.res} px, batch ${c.batch}, 19 classes`;
    (['forward', 'step'] as const).forEach((mode, j) => {
      const mine = mode === 'forward' ? ours[i]!.fwd : ours[i]!.step;
      const th = torch.results[2 * i + j]!;
      const what = mode === 'forward' ? 'forward' : 'train step';
      const { peak, flop, paired, ...timing } = mine;
      rows.push(row(ctx, {
        suite: 'model', name: `${c.backbone} ${c.res} ${what}`, sizes, dtype: 'f32', ...timing,
        gflops: flop / (timing.medianMs * 1e6),
        imagesPerSec: (1000 * c.batch) / mine.medianMs, peakBytes: peak,
        ratios: { ...(th.ok ? { vs_torch: th.medianMs / mine.medianMs } : {}), of_fma_peak_paired: paired },
        ...(mode === 'step' ? { note: 'forward + loss + backward + AdamW, one readback' } : {}),
      }));
      const h = half[i];
      if (h) {
        const f16 = mode === 'forward' ? h.fwd : h.step;
        const { peak: peak16, ...t16 } = f16;
        rows.push(row(ctx, {
          suite: 'model', name: `${c.backbone} ${c.res} ${what} f16`, sizes, dtype: 'f16', ...t16,
          gflops: flop / (t16.medianMs * 1e6), imagesPerSec: (1000 * c.batch) / t16.medianMs, peakBytes: peak16,
          ratios: { vs_f32: timing.medianMs / t16.medianMs },
          note: 'activations stored in f16, f32 maths and master weights (--precision f16)',
        }));
      }
      rows.push(th.ok
        ? row(ctx, { suite: 'model', name: `${c.backbone} ${c.res} ${what} torch-cpu`, sizes, dtype: 'f32', ...th, imagesPerSec: (1000 * c.batch) / th.medianMs, peer: 'torch-cpu', ...(i === 0 && j === 0 ? { note: torch.describe } : {}) })
        : unavailableRow(ctx, { suite: 'model', name: `${c.backbone} ${c.res} ${what} torch-cpu`, sizes, why: th.why }));
    });
  });
  return rows;
}
