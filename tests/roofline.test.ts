// The roofline probes (src/runtime/roofline.ts, kernels/roofline.wgsl): every kernel compiles and
// runs, and the figures follow from the work each records. A fake timer (1 ms a recording) keeps
// the test independent of the machine's speed.
import { describe, expect, it } from 'vitest';
import { measureRoofline } from '../src/runtime/roofline.js';
import { useRuntime } from './harness.js';

const rt = useRuntime();

describe('roofline', () => {
  it('measures the f32 FMA peak, the f16 one where the adapter has shader-f16, and copy and read bandwidth', async () => {
    const r = rt();
    let recordings = 0;
    const m = await measureRoofline(r, async (record) => {
      record();
      recordings++;
      await r.sync();
      return { medianMs: 1 };
    });
    const flops = 256 * 64 * 256 * 24 * 8 * 2;   // groups · WG · ITERS · accumulators · fmas · 2
    expect(m.peak.gflops).toBeCloseTo(flops / 1e6, 6);
    expect(m.peak.copyGBps).toBeCloseTo((2 * (64 << 20)) / 1e6, 6);
    expect(m.peak.readGBps).toBeCloseTo((64 << 20) / 1e6, 6);
    if (r.device.hasF16) {
      expect(m.peak.gflopsF16).toBeCloseTo(flops / 1e6, 6);
      expect(m.fmaF16?.sizes).toBe(m.fma.sizes);
      expect(recordings).toBe(4);
    } else {
      expect(m.peak.gflopsF16).toBeUndefined();
      expect(recordings).toBe(3);
    }
  });
});
