// Memory-bound ops at Swin-B / SegFace shapes, batch 1: LayerNorm, softmax, GELU, bilinear resize,
// patch merging, permute and the fused segmentation loss, forward and forward+backward. GB/s count
// the bytes each op must read and write at least once (inputs + outputs, 4 bytes an element, 2 in
// f16), so each row's fraction of the measured copy bandwidth (`of_copy_bw`) shows how far it is
// from the limit. Where the adapter has shader-f16, the ops with an f16 build run again with their
// activations stored in f16 (dtype f16 rows; LayerNorm's w and b stay f32).
import { activation } from '../../src/runtime/ops/activation.js';
import { layerNorm } from '../../src/runtime/ops/layernorm.js';
import { permute } from '../../src/runtime/ops/layout.js';
import { segLoss } from '../../src/runtime/ops/loss.js';
import { resizeBilinear } from '../../src/runtime/ops/resample.js';
import { softmax } from '../../src/runtime/ops/softmax.js';
import { patchMerge } from '../../src/runtime/ops/vision.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { row, timeGpu, type BenchContext, type BenchRow } from '../lib.js';

function values(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sin(seed + i * 0.7071);
  return a;
}

interface OpCase { name: string; sizes: string; inputs: () => Tensor[]; run: (xs: Tensor[]) => Tensor; bytes: number; f16?: boolean }

function cases(ctx: BenchContext, dtype: 'f32' | 'f16'): OpCase[] {
  const rt = ctx.rt;
  const res = ctx.full ? 512 : 224;
  const s1 = res / 4;
  const t1 = s1 * s1;
  const E = dtype === 'f16' ? 2 : 4;   // bytes per activation element
  const param = (shape: number[], seed: number): Tensor => rt.parameter(values(shape.reduce((a, b) => a * b, 1), seed), shape);
  /** An activation leaf in the run's dtype that requires a gradient. */
  const act = (shape: number[], seed: number): Tensor => {
    if (dtype === 'f32') return param(shape, seed);
    const t = rt.tensor(values(shape.reduce((a, b) => a * b, 1), seed), shape, 'f16');
    t.requiresGrad = true;
    return t;
  };
  const K = 19;
  return [
    { name: 'layernorm', sizes: `${t1}x128 (stage 1, ${res} px)`, bytes: 2 * t1 * 128 * E, f16: true,
      inputs: () => [act([t1, 128], 1), param([128], 2), param([128], 3)], run: ([x, w, b]) => layerNorm(x!, w!, b!, 1e-5) },
    { name: 'gelu', sizes: `${t1}x512 (stage 1 MLP, ${res} px)`, bytes: 2 * t1 * 512 * E, f16: true,
      inputs: () => [act([t1, 512], 4)], run: ([x]) => activation('gelu', x!) },
    { name: 'softmax', sizes: `${(t1 / 49) * 4}x49x49 rows (stage 1 windows)`, bytes: 2 * t1 * 4 * 49 * E, f16: true,
      inputs: () => [act([t1 * 4, 49], 5)], run: ([x]) => softmax(x!) },
    { name: 'resize_bilinear', sizes: `${s1 / 8}²x256 -> ${s1}² NHWC (neck stage 4)`, bytes: (t1 + t1 / 64) * 256 * 4,
      inputs: () => [param([1, s1 / 8, s1 / 8, 256], 6)], run: ([x]) => resizeBilinear(x!, [s1, s1], 'NHWC') },
    { name: 'patch_merge', sizes: `${s1}²x128 -> ${s1 / 2}²x512`, bytes: 2 * t1 * 128 * E, f16: true,
      inputs: () => [act([1, s1, s1, 128], 7)], run: ([x]) => patchMerge(x!) },
    { name: 'permute_nchw', sizes: `${s1}²x256 NHWC -> NCHW`, bytes: 2 * t1 * 256 * E, f16: true,
      inputs: () => [act([1, s1, s1, 256], 8)], run: ([x]) => permute(x!, [0, 3, 1, 2]) },
    { name: 'seg_loss', sizes: `${K}x${res}² logits`, bytes: 2 * K * res * res * 4,
      inputs: () => [param([1, K, res, res], 9), rt.tensor(Array.from({ length: res * res }, (_, i) => i % K), [1, res, res], 'i32')],
      run: ([x, l]) => segLoss(x!, l!).total },
  ];
}

export async function opsSuite(ctx: BenchContext): Promise<BenchRow[]> {
  const rt = ctx.rt;
  const rows: BenchRow[] = [];
  const opts = { minSamples: ctx.quick ? 3 : 5, maxTime: ctx.quick ? 1 : 2 };
  const runs = [...cases(ctx, 'f32').map((c) => ({ c, dtype: 'f32' })),
    ...(rt.device.hasF16 ? cases(ctx, 'f16').filter((c) => c.f16).map((c) => ({ c, dtype: 'f16' })) : [])];
  for (const { c, dtype } of runs) {
    const xs = rt.untracked(() => c.inputs());
    const fwd = await timeGpu(rt, () => { rt.withoutGrad(() => c.run(xs)); }, opts);
    rows.push(row(ctx, { suite: 'ops', name: `${c.name}${dtype === 'f16' ? ' f16' : ''} fwd`, sizes: c.sizes, dtype, ...fwd, gbps: c.bytes / (fwd.medianMs * 1e6) }));
    const both = await timeGpu(rt, () => {
      const out = c.run(xs);
      rt.backward(out);
      rt.zeroGrad(xs.filter((x) => x.requiresGrad));
    }, opts);
    // backward moves at least as many bytes again as forward
    rows.push(row(ctx, { suite: 'ops', name: `${c.name}${dtype === 'f16' ? ' f16' : ''} fwd+bwd`, sizes: c.sizes, dtype, ...both, gbps: (2 * c.bytes) / (both.medianMs * 1e6) }));
    for (const x of xs) x.release();
  }
  return rows;
}
