// The adapter's measured limits (src/runtime/roofline.ts), for the roofline ratios of every other
// row in the same run: `fma_peak` (GFLOP/s of independent fma chains), `copy` and `read` bandwidth (GB/s).
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
      row(ctx, { suite: 'roofline', name: 'copy_bw', dtype: 'f32', ...m.copy, gbps: peak.copyGBps }),
      row(ctx, { suite: 'roofline', name: 'read_reduce', dtype: 'f32', ...m.read, gbps: peak.readGBps }),
    ],
  };
}
