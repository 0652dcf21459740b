// The adapter's measured limits (src/runtime/roofline.ts), for the roofline ratios of every other
// row in the same run: `fma_peak` (GFLOP/s of independent fma chains), `copy` and `read` bandwidth
// (GB/s). `fma_peak_f16`, where the adapter has shader-f16: the same chains in f16 arithmetic. The
// f16 rows' kernels store f16 but compute in f32, so their ratios stay against the f32 peak; this
// row says what f16 arithmetic would reach (vs_f32).
import { measureRoofline, type Roofline } from '../../src/runtime/roofline.js';
import { row, timeGpu, type BenchContext, type BenchRow } from '../lib.js';

export type { Roofline };

export async function rooflineSuite(ctx: BenchContext): Promise<{ rows: BenchRow[]; peak: Roofline }> {
  const m = await measureRoofline(ctx.rt, (record) => timeGpu(ctx.rt, record, { minSamples: 5 }));
  const { peak } = m;
  return {
    peak,
    rows: [
      row(ctx, { suite: 'roofline', name: 'fma_peak', dtype: 'f32', ...m.fma, gflops: peak.gflops }),
      ...(m.fmaF16 ? [row(ctx, { suite: 'roofline', name: 'fma_peak_f16', dtype: 'f16', ...m.fmaF16, gflops: peak.gflopsF16!, ratios: { vs_f32: peak.gflopsF16! / peak.gflops } })] : []),
      row(ctx, { suite: 'roofline', name: 'copy_bw', dtype: 'f32', ...m.copy, gbps: peak.copyGBps }),
      row(ctx, { suite: 'roofline', name: 'read_reduce', dtype: 'f32', ...m.read, gbps: peak.readGBps }),
    ],
  };
}
