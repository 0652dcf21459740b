// The adapter's measured limits (kernels/roofline.wgsl): `gflops`, the f32 FMA peak of independent
// fma chains (`gflopsF16`: the same chains in f16, where the adapter has shader-f16), and the `copy`
// and `read` bandwidth of 64 MiB vec4 streams. Other measurements are
// reported as fractions of these (roofline ratios). The caller times: `time(record)` records the
// work (possibly several times) and resolves to milliseconds per recording, so the benchmarks use
// their statistics and `npm run doctor` its time budget.
import type { KernelDecl } from './kernel.js';
import { builds, type FloatDType } from './ops/util.js';
import type { Runtime } from './runtime.js';

const FMA = builds({ file: 'roofline.wgsl', entry: 'fma_peak', storage: { peak_out: 'read_write' }, uniform: 'pp' });
const COPY: KernelDecl = { file: 'roofline.wgsl', entry: 'copy_bw', storage: { copy_dst: 'read_write', copy_src: 'read' }, uniform: 'cp' };
const READ: KernelDecl = { file: 'roofline.wgsl', entry: 'read_reduce', storage: { red_out: 'read_write', red_src: 'read' }, uniform: 'rp' };

export interface Roofline { gflops: number; copyGBps: number; readGBps: number; gflopsF16?: number }

export interface RooflineMeasurement<T extends { medianMs: number }> {
  peak: Roofline;
  /** The timings behind each figure, and what each measured. */
  fma: T & { sizes: string };
  /** The f16 chains, where the adapter has shader-f16. */
  fmaF16?: T & { sizes: string };
  copy: T & { sizes: string };
  read: T & { sizes: string };
}

const WG = 64;
const ITERS = 256;
const GROUPS = 256;

/**
 * The FMA-peak kernel as a probe to pair with other measurements on a shared machine: `record()`
 * records one dispatch of `flops` FLOPs; time a few next to each sample of the work under study.
 */
export function fmaProbe(rt: Runtime, dtype: FloatDType = 'f32'): { record(): void; flops: number; release(): void } {
  const invocations = GROUPS * WG;
  const out = rt.untracked(() => rt.empty([invocations]));
  return {
    record: () => rt.dispatch(FMA[dtype], { op: 'fma_peak', storage: { peak_out: out.binding }, params: { n: invocations, seed: 0.5 }, constants: { ITERS }, workgroups: [GROUPS] }),
    flops: invocations * ITERS * 24 * 8 * 2,
    release: () => out.release(),
  };
}

/** Measures the roofline with the caller's timer. */
export async function measureRoofline<T extends { medianMs: number }>(rt: Runtime, time: (record: () => void) => Promise<T>): Promise<RooflineMeasurement<T>> {
  const sizes = `${GROUPS * WG} inv x ${ITERS} it x 24 acc x 8 fma`;
  const peakOf = async (dtype: FloatDType): Promise<{ timing: T; gflops: number }> => {
    const probe = fmaProbe(rt, dtype);
    const timing = await time(() => probe.record());
    probe.release();
    return { timing, gflops: probe.flops / (timing.medianMs * 1e6) };
  };
  const fma = await peakOf('f32');
  const fmaF16 = rt.device.hasF16 ? await peakOf('f16') : undefined;

  const vec4s = (64 << 20) / 16; // 64 MiB
  const src = rt.full([vec4s * 4], 1);
  const dst = rt.empty([vec4s * 4]);
  const red = rt.empty([GROUPS * WG * 4]);
  const copy = await time(() => rt.dispatch(COPY, { op: 'copy_bw', storage: { copy_dst: dst.binding, copy_src: src.binding }, params: { n: vec4s, seed: 0 }, workgroups: [GROUPS] }));
  const read = await time(() => rt.dispatch(READ, { op: 'read_reduce', storage: { red_out: red.binding, red_src: src.binding }, params: { n: vec4s, seed: 0 }, workgroups: [GROUPS] }));
  for (const t of [src, dst, red]) t.release();
  return {
    peak: {
      gflops: fma.gflops, copyGBps: (2 * vec4s * 16) / (copy.medianMs * 1e6), readGBps: (vec4s * 16) / (read.medianMs * 1e6),
      ...(fmaF16 ? { gflopsF16: fmaF16.gflops } : {}),
    },
    fma: { ...fma.timing, sizes },
    ...(fmaF16 ? { fmaF16: { ...fmaF16.timing, sizes } } : {}),
    copy: { ...copy, sizes: '64 MiB vec4' },
    read: { ...read, sizes: '64 MiB vec4' },
  };
}
