import { describe, expect, it } from 'vitest';
import { dropPath, type DropPathOptions } from '../src/runtime/ops/droppath.js';
import { checkOp, checkRefGradient, numel, PRECISIONS, randn, useRuntime } from './harness.js';
import { dropPathKeepRef, dropPathRef } from '../src/runtime/reference/droppath.js';

const rt = useRuntime();
// y = x · s in f32 with s the f32 scale: one rounding of the float64 product. In f16 (x, dy rounded
// to f16 for the reference) the f32 product is stored in f16: one more rounding (f16Tol, the default).
const TOL = { atol: 0, rtol: 1.2e-7 };

const CASES: { shape: number[]; p: number; seed: number; opts?: DropPathOptions }[] = [
  { shape: [2, 7], p: 0.3, seed: 1 },                  // odd per-sample size: scalar kernel
  { shape: [6, 3, 5], p: 0.5, seed: 2 },
  { shape: [1, 9], p: 0.2, seed: 3 },
  { shape: [8, 16], p: 0.4, seed: 4 },                 // vec4 kernel
  { shape: [8, 16], p: 0.4, seed: 4, opts: { scalar: true } },
  { shape: [5, 49, 128], p: 0.5, seed: 5 },            // a Swin stage-1 window batch
  { shape: [16, 6], p: 0.3, seed: 6 },                 // vec4 count not a multiple of the workgroup
];

describe.each(PRECISIONS)('dropPath forward and backward vs reference (%s)', (precision) => {
  for (const c of CASES) {
    it(`[${c.shape}] p=${c.p} seed=${c.seed}${c.opts?.scalar ? ' (scalar kernel)' : ''}`, async () => {
      const B = c.shape[0]!;
      await checkOp(rt(), {
        name: 'dropPath', inputs: [{ data: randn(numel(c.shape), 10 + c.seed), shape: c.shape }],
        run: ([x]) => dropPath(x!, c.p, c.seed, c.opts),
        ref: ([x]) => dropPathRef(x!, B, c.p, c.seed),
        refBackward: (_, g) => [dropPathRef(g, B, c.p, c.seed)],
        fwdTol: TOL,
      }, precision);
    });
  }
  it('reference backward matches finite differences', () => {
    checkRefGradient('dropPath', [randn(24, 1)], ([x]) => dropPathRef(x!, 6, 0.5, 9), (_, g) => [dropPathRef(g, 6, 0.5, 9)]);
  });
});

/** Per-sample scale read back from a (B, 1) tensor of ones. */
async function maskOf(B: number, p: number, seed: number, opts: DropPathOptions = {}): Promise<Float32Array> {
  const x = rt().full([B, 1], 1);
  const y = dropPath(x, p, seed, opts);
  const out = (await y.read()) as Float32Array;
  x.release();
  y.release();
  rt().tape.clear();
  return out;
}

describe('dropPath masks', () => {
  it('same seed reproduces the mask; different seeds differ', async () => {
    const a = await maskOf(256, 0.5, 1234);
    const b = await maskOf(256, 0.5, 1234);
    expect(Array.from(b)).toEqual(Array.from(a));
    for (const other of [1235, 0, 0xffffffff]) {
      const c = await maskOf(256, 0.5, other);
      const differ = c.reduce((n, v, i) => n + (v !== a[i] ? 1 : 0), 0);
      expect(differ, `seed ${other} vs 1234`).toBeGreaterThan(64);   // ~128 expected of 256
    }
  });

  it('kept fraction over 100,000 samples is 1 − p within 4σ, and the CPU hash predicts every sample', async () => {
    const N = 100_000;
    for (const [p, seed] of [[0.3, 7], [0.5, 8], [0.0417, 9]] as const) {
      // one sample per element; workgroups of 1 so the grid folds into 2-D (> 65535)
      const m = await maskOf(N, p, seed, { workgroupSize: 1 });
      let kept = 0;
      let mismatches = 0;
      for (let b = 0; b < N; b++) {
        if (m[b] !== 0) kept++;
        if ((m[b] !== 0) !== dropPathKeepRef(seed, b, p)) mismatches++;
      }
      expect(mismatches, `p=${p}: samples where the CPU hash disagrees`).toBe(0);
      const sigma = Math.sqrt(p * (1 - p) / N);
      expect(Math.abs(kept / N - (1 - p)), `p=${p}: kept fraction ${kept / N}`).toBeLessThan(4 * sigma);
    }
  });

  it('a shard with firstSample draws the masks the whole batch gives those samples (data parallelism)', async () => {
    const whole = await maskOf(64, 0.5, 4321);
    for (const [first, count] of [[0, 16], [16, 32], [48, 16], [7, 9]] as const) {
      for (const scalar of [false, true]) {
        const x = rt().full([count, 4], 1);   // vec4 kernel; scalar kernel when forced
        const y = dropPath(x, 0.5, 4321, { firstSample: first, scalar });
        const got = (await y.read()) as Float32Array;
        x.release();
        y.release();
        rt().tape.clear();
        const want = Array.from(whole.subarray(first, first + count)).flatMap((v) => [v, v, v, v]);
        expect(Array.from(got), `samples ${first}..${first + count - 1}, scalar ${scalar}`).toEqual(want);
      }
    }
    expect(() => dropPath(rt().full([2, 4], 1), 0.5, 1, { firstSample: -1 })).toThrow('dropPath: firstSample -1 must be a u32 index');
  });

  it('p = 1 drops everything', async () => {
    expect(Array.from(await maskOf(64, 1, 3))).toEqual(new Array(64).fill(0));
  });
});

describe('dropPath identity cases', () => {
  for (const [name, p, opts] of [['p = 0', 0, {}], ['eval', 0.4, { training: false }]] as const) {
    it(`${name}: no kernel, value and gradient pass through`, async () => {
      const r = rt();
      const data = randn(12, 3);
      const x = r.tensor(data, [3, 4]);
      x.requiresGrad = true;
      const before = r.counters.dispatches;
      const y = dropPath(x, p, 5, opts);
      expect(r.counters.dispatches - before).toBe(0);
      expect(Array.from(await y.read())).toEqual(Array.from(data));
      const g = randn(12, 4);
      const dy = r.tensor(g, [3, 4]);
      r.backward(y, dy);
      expect(Array.from(await x.grad!.read())).toEqual(Array.from(g));
      for (const t of [x.grad!, x, y, dy]) t.release();
    });
  }
  it('rejects a bad probability or seed', () => {
    const x = rt().full([2, 2], 1);
    expect(() => dropPath(x, 1.5, 0)).toThrow('dropPath: drop probability 1.5 must be in [0, 1]');
    expect(() => dropPath(x, 0.5, -1)).toThrow('dropPath: seed -1 must be a u32');
    x.release();
  });
});
