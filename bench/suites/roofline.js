// The adapter's measured limits, for the roofline ratios of every other row in the same run:
// `fma_peak` (GFLOP/s of independent fma chains), `copy` and `read` bandwidth (GB/s).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { row, timeGpu } from '../lib.js';
const DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'kernels');
const FMA = { dir: DIR, file: 'roofline.wgsl', entry: 'fma_peak', storage: { peak_out: 'read_write' }, uniform: 'pp' };
const COPY = { dir: DIR, file: 'roofline.wgsl', entry: 'copy_bw', storage: { copy_dst: 'read_write', copy_src: 'read' }, uniform: 'cp' };
const READ = { dir: DIR, file: 'roofline.wgsl', entry: 'read_reduce', storage: { red_out: 'read_write', red_src: 'read' }, uniform: 'rp' };
export async function rooflineSuite(ctx) {
    const rt = ctx.rt;
    const WG = 64;
    const ITERS = 256;
    const groups = 256;
    const invocations = groups * WG;
    const peakOut = rt.empty([invocations]);
    const fma = await timeGpu(rt, () => rt.dispatch(FMA, { op: 'fma_peak', storage: { peak_out: { buffer: peakOut.buffer } }, params: { n: invocations, seed: 0.5 }, constants: { ITERS }, workgroups: [groups] }), { minSamples: 5 });
    const flops = invocations * ITERS * 24 * 8 * 2;
    const gflops = flops / (fma.medianMs * 1e6);
    const vec4s = (64 << 20) / 16; // 64 MiB
    const src = rt.full([vec4s * 4], 1);
    const dst = rt.empty([vec4s * 4]);
    const red = rt.empty([groups * WG * 4]);
    const copy = await timeGpu(rt, () => rt.dispatch(COPY, { op: 'copy_bw', storage: { copy_dst: { buffer: dst.buffer }, copy_src: { buffer: src.buffer } }, params: { n: vec4s, seed: 0 }, workgroups: [groups] }), { minSamples: 5 });
    const read = await timeGpu(rt, () => rt.dispatch(READ, { op: 'read_reduce', storage: { red_out: { buffer: red.buffer }, red_src: { buffer: src.buffer } }, params: { n: vec4s, seed: 0 }, workgroups: [groups] }), { minSamples: 5 });
    const copyGBps = (2 * vec4s * 16) / (copy.medianMs * 1e6);
    const readGBps = (vec4s * 16) / (read.medianMs * 1e6);
    for (const t of [peakOut, src, dst, red])
        t.release();
    const peak = { gflops, copyGBps, readGBps };
    return {
        peak,
        rows: [
            row(ctx, { suite: 'roofline', name: 'fma_peak', sizes: `${invocations} inv x ${ITERS} it x 24 acc x 8 fma`, dtype: 'f32', ...fma, gflops }),
            row(ctx, { suite: 'roofline', name: 'copy_bw', sizes: '64 MiB vec4', dtype: 'f32', ...copy, gbps: copyGBps }),
            row(ctx, { suite: 'roofline', name: 'read_reduce', sizes: '64 MiB vec4', dtype: 'f32', ...read, gbps: readGBps }),
        ],
    };
}
//# sourceMappingURL=roofline.js.map