import { afterAll, describe, expect, it } from 'vitest';
import { create } from 'webgpu';
import { Device } from '../src/runtime/device.js';
import { defaultWindowAttentionPath, windowAttention, windowGeometry, type WindowAttentionOptions, type WindowAttentionPath } from '../src/runtime/ops/window_attention.js';
import { Runtime } from '../src/runtime/runtime.js';
import { checkRefGradient, randn, testFail, useRuntime } from './harness.js';
import type { Precision } from '../src/runtime/reference/check.js';
import { geometryRef, windowAttentionRef, windowAttentionRefBackward, type WaCfg } from '../src/runtime/reference/window_attention.js';
import { caseData, checkWindowAttention, LOGIT_SCALES, V1_CASES, V2_CASES, type Case } from './checks/window_attention.js';

// Cases, tolerances and the check itself: tests/checks/window_attention.ts (the web page runs them too).
const rt = useRuntime();
// A cold Mesa shader cache compiles each backward pipeline for ~40 s of CPU on lavapipe (more on a
// loaded machine); the first test of each kernel variant pays it.
const GPU_TIMEOUT_MS = 400_000;

const checkCase = (c: Case, seed: number, path?: WindowAttentionPath, runtime: Runtime = rt(), precision: Precision = 'f32'): Promise<void> => {
  if (precision === 'f16' && !runtime.device.hasF16) return expect(checkWindowAttention(runtime, c, seed, testFail, path, precision)).rejects.toThrow(/shader-f16/);
  return checkWindowAttention(runtime, c, seed, testFail, path, precision);
};

describe('window attention reference (float64) vs finite differences', () => {
  // Tiny shapes: ws 2 or 3, hd 2..4, padded and shifted, so every branch of the reference is hit.
  const TINY: { name: string; cfg: WaCfg; v2: boolean }[] = [
    { name: 'V1 ws 2, 3x5 padded, shifted, 2 heads, batch 2', cfg: { B: 2, H: 3, W: 5, C: 4, heads: 2, ws: 2, shift: 1 }, v2: false },
    { name: 'V1 ws 3, 4x4 padded, unshifted', cfg: { B: 1, H: 4, W: 4, C: 4, heads: 1, ws: 3, shift: 0 }, v2: false },
    { name: 'V2 ws 2, 3x5 padded, shifted, 2 heads (one clamped)', cfg: { B: 1, H: 3, W: 5, C: 6, heads: 2, ws: 2, shift: 1 }, v2: true },
    { name: 'V2 ws 3, 5x4 padded, shifted', cfg: { B: 2, H: 5, W: 4, C: 3, heads: 1, ws: 3, shift: 1 }, v2: true },
  ];
  for (const [n, t] of TINY.entries()) {
    it(t.name, () => {
      const { cfg } = t;
      const T = (2 * cfg.ws - 1) ** 2;
      const xs = [
        randn(cfg.B * cfg.H * cfg.W * 3 * cfg.C, 10 + n, -2, 2), randn(3 * cfg.C, 20 + n), randn(T * cfg.heads, 30 + n, -1.5, 1.5),
        ...(t.v2 ? [Float64Array.from({ length: cfg.heads }, (_, h) => LOGIT_SCALES[(h * 2) % 4]!)] : []),
      ];
      checkRefGradient(t.name, xs,
        ([q, b, tb, ls]) => windowAttentionRef(q!, b!, tb!, ls ?? null, cfg),
        ([q, b, tb, ls], g) => {
          const r = windowAttentionRefBackward(q!, b!, tb!, ls ?? null, cfg, g);
          return [r.dqkv, r.dBias, r.dTable, ...(ls ? [r.dLogitScale] : [])];
        },
        { samples: 40, tol: { atol: 1e-6, rtol: 1e-5 } });
    });
  }
  it('geometry: padding and per-axis shift rules of the spec', () => {
    // swin_base 512 px: 128 -> 133, all shifted; 224 px stage 4 (7): one window, unshifted.
    expect(windowGeometry(128, 128, 7, 3)).toMatchObject({ Hp: 133, Wp: 133, shiftY: 3, shiftX: 3, windows: 361 });
    expect(windowGeometry(7, 7, 7, 3)).toMatchObject({ Hp: 7, shiftY: 0, shiftX: 0, windows: 1 });
    expect(windowGeometry(8, 8, 7, 3)).toMatchObject({ Hp: 14, shiftY: 3 });
    expect(windowGeometry(5, 20, 7, 3)).toMatchObject({ Hp: 7, Wp: 21, shiftY: 0, shiftX: 3 });
    expect(windowGeometry(7, 7, 8, 4)).toMatchObject({ Hp: 8, shiftY: 0 });
    for (const [H, W, ws, s] of [[128, 128, 7, 3], [7, 7, 7, 3], [5, 20, 7, 3], [9, 15, 8, 4]] as const) {
      const g = windowGeometry(H, W, ws, s);
      const r = geometryRef(H, W, ws, s);
      expect([g.Hp, g.Wp, g.shiftY, g.shiftX]).toEqual([r.Hp, r.Wp, r.sy, r.sx]);
    }
  });
});

// Both kernel variants on every case: the subgroup kernels (where the device has subgroups) and
// the portable ones (forced here; the last describe runs them on a device without subgroups).
const PATHS: WindowAttentionPath[] = ['subgroups', 'portable'];
const LARGE: Case = { name: '56x56 stage 1 of 224 px, 4 heads, shifted (the large case)', v2: false, B: 1, H: 56, W: 56, heads: 4, shift: 3 };

for (const path of PATHS) {
  describe(`window attention, ${path} kernels, vs float64 reference`, () => {
    const skip = (): boolean => path === 'subgroups' && !rt().device.hasSubgroups;
    describe('V1 (ws 7, hd 32 unless stated)', () => {
      for (const [i, c] of V1_CASES.entries()) {
        if (c.subgroupsOnly && path !== 'subgroups') continue;
        it(c.name, async (ctx) => { if (skip()) ctx.skip(); await checkCase(c, 100 + 10 * i, path); }, GPU_TIMEOUT_MS);
      }
      it(LARGE.name, async (ctx) => { if (skip()) ctx.skip(); await checkCase(LARGE, 7, path); }, GPU_TIMEOUT_MS);
    });
    describe('V2 (ws 8, cosine attention, hd 32)', () => {
      for (const [i, c] of V2_CASES.entries()) it(c.name, async (ctx) => { if (skip()) ctx.skip(); await checkCase(c, 300 + 10 * i, path); }, GPU_TIMEOUT_MS);
    });
  });
}

// f16 storage (the kernels' f16 build): every case on this device's default kernels (tolerances:
// tests/checks/window_attention.ts). The f16 loads and stores are shared by both kernel variants
// (load_head, load_o and the stores); the portable f16 build passed the 9x15 batch-2 V1 and V2
// cases once but costs 340 s of cold compiles on lavapipe, so it is not in the suite.
describe('window attention in f16, vs float64 reference', () => {
  for (const [i, c] of V1_CASES.entries()) {
    if (c.subgroupsOnly) continue;
    it(`V1 ${c.name}`, () => checkCase(c, 100 + 10 * i, undefined, rt(), 'f16'), GPU_TIMEOUT_MS);
  }
  it(LARGE.name, () => checkCase(LARGE, 7, undefined, rt(), 'f16'), GPU_TIMEOUT_MS);
  for (const [i, c] of V2_CASES.entries()) it(`V2 ${c.name}`, () => checkCase(c, 300 + 10 * i, undefined, rt(), 'f16'), GPU_TIMEOUT_MS);
});

// A runtime on a device opened WITHOUT the subgroups feature, so the portable module is proven to
// compile and run where `enable subgroups` would not. The GPU object stays referenced at module
// level for the life of the device (docs/dawn-node.md).
let plainGpu: GPU | undefined;
let plainRt: Runtime | undefined;
async function runtimeWithoutSubgroups(): Promise<Runtime> {
  if (plainRt) return plainRt;
  plainGpu ??= create([]);
  const adapter = await plainGpu.requestAdapter();
  if (!adapter) throw new Error('no adapter');
  const requiredLimits: Record<string, number> = {};
  for (const k of ['maxComputeWorkgroupStorageSize', 'maxStorageBufferBindingSize', 'maxBufferSize'] as const) requiredLimits[k] = adapter.limits[k];
  const gpu = await adapter.requestDevice({ requiredFeatures: [], requiredLimits, label: 'no-subgroups' });
  const summary = { ...rt().device.adapter, features: rt().device.adapter.features.filter((f) => f !== 'subgroups') };
  plainRt = new Runtime(new Device(gpu, summary), { poisonOutputs: true });
  return plainRt;
}
afterAll(() => { plainRt?.destroy(); plainRt = undefined; });

describe('window attention on a device without subgroups (the fallback)', () => {
  it('picks the portable kernels and matches the reference (V1 and V2, padded, shifted, batch 2)', async () => {
    const r = await runtimeWithoutSubgroups();
    expect(r.device.hasSubgroups).toBe(false);
    expect(defaultWindowAttentionPath(r)).toBe('portable');
    await checkCase(V1_CASES.find((c) => c.name.startsWith('9x15'))!, 501, undefined, r);
    await checkCase(V2_CASES.find((c) => c.name.startsWith('9x15'))!, 502, undefined, r);
    expect(() => windowAttention(r.zeros([1, 7, 7, 96]), r.zeros([169, 1]), { ws: 7, heads: 1, shift: 0, qkvBias: r.zeros([96]), path: 'subgroups' })).toThrow(/subgroups/);
  }, GPU_TIMEOUT_MS);
});

describe('window attention plumbing', () => {
  it('batch split over dispatches gives the same result as one dispatch', async () => {
    const r = rt();
    const c: Case = { name: 'chunked', v2: false, B: 3, H: 14, W: 14, heads: 2, shift: 3 };
    const d = caseData(c, 55);
    const qkv = r.tensor(d.qkv, [c.B, c.H, c.W, 3 * d.cfg.C]);
    const bias = r.tensor(d.bias, [3 * d.cfg.C]);
    const table = r.tensor(d.table, [169, c.heads]);
    const opts: WindowAttentionOptions = { ws: 7, heads: c.heads, shift: 3, qkvBias: bias };
    const whole = await windowAttention(qkv, table, opts).read();
    const split = await windowAttention(qkv, table, { ...opts, maxBatchPerDispatch: 1 }).read();
    expect(Array.from(split)).toEqual(Array.from(whole));
    for (const t of [qkv, bias, table]) t.release();
  }, GPU_TIMEOUT_MS);
  it('accepts (B, H*W, 3C) with H and W given; rejects bad shapes with the op named', () => {
    const r = rt();
    const qkv = r.zeros([1, 9 * 15, 96]);
    const bias = r.zeros([96]);
    const table = r.zeros([169, 1]);
    const out = r.withoutGrad(() => windowAttention(qkv, table, { ws: 7, heads: 1, shift: 3, qkvBias: bias, H: 9, W: 15 }));
    expect(out.shape).toEqual([1, 135, 32]);
    out.release();
    expect(() => windowAttention(qkv, table, { ws: 7, heads: 1, shift: 3, qkvBias: bias })).toThrow(/windowAttention: qkv/);
    expect(() => windowAttention(r.zeros([1, 7, 7, 96]), table, { ws: 7, heads: 2, shift: 3, qkvBias: bias })).toThrow(/biasTable/);
    expect(() => windowAttention(r.zeros([1, 7, 7, 96]), table, { ws: 9, heads: 1, shift: 3, qkvBias: bias })).toThrow(/window size/);
    for (const t of [qkv, bias, table]) t.release();
  });
});
