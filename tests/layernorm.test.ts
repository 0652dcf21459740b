import { describe, expect, it } from 'vitest';
import { layerNorm, layerNormForward, type LayerNormOptions } from '../src/runtime/ops/layernorm.js';
import { rowThreads } from '../src/runtime/ops/softmax.js';
import { rowCandidates } from '../src/runtime/ops/row_launch.js';
import { adapterFacts } from '../src/runtime/adapter.js';
import { checkRefGradient, expectClose, numel, PRECISIONS, randn, useRuntime } from './harness.js';
import type { Precision } from '../src/runtime/reference/check.js';
import { layerNormRef, layerNormRefBackward } from '../src/runtime/reference/layernorm.js';
import { CASES, checkLayerNorm, inputsOf, tolerances, type Case } from './checks/layernorm.js';

const rt = useRuntime();

const check = (c: Case, i: number, opts: LayerNormOptions = {}, precision: Precision = 'f32') => {
  if (precision === 'f16' && !rt().device.hasF16) return expect(checkLayerNorm(rt(), c, i, (m) => expect.fail(m), opts, precision)).rejects.toThrow(/shader-f16/);
  return checkLayerNorm(rt(), c, i, (m) => expect.fail(m), opts, precision);
};

describe.each(PRECISIONS)('layerNorm forward and backward, default launch (%s)', (precision) => {
  for (const [i, c] of CASES.entries()) {
    it(`[${c.shape}] eps ${c.eps}${c.offset ? ` offset ${c.offset}` : ''}`, () => check(c, i, {}, precision));
  }
});

// Every launch candidate the tuner may pick (row_launch.ts), for lavapipe and for a GPU, at every
// case's row length: each pinned in turn (ln_fwd and ln_bwd_dx), against float64.
describe('layerNorm: every launch candidate against float64', () => {
  const adapters = [adapterFacts({ architecture: 'software', description: 'llvmpipe' }), adapterFacts({ vendor: 'gpu' })];
  for (const [i, c] of CASES.entries()) {
    if (numel(c.shape) > 100_000) continue;
    const cols = c.shape[c.shape.length - 1]!;
    const names = [...new Set(adapters.flatMap((f) => rowCandidates(cols, f)))];
    it(`[${c.shape}] eps ${c.eps}: ${names.join(', ')}`, async () => {
      const r = rt();
      try {
        for (const name of names) {
          r.tuner.pin('layernorm', name);
          await check(c, i);
        }
      } finally {
        r.tuner.pin('layernorm', undefined);
      }
    }, 300_000);
  }
});

describe('layerNorm forward and backward', () => {
  // the other row launches: an invocation per row where the default shares rows, 4 per row, and a
  // 256-invocation workgroup per row
  for (const [i, c] of CASES.entries()) {
    const cols = c.shape[c.shape.length - 1]!;
    if (numel(c.shape) > 100_000) continue;
    for (const tpr of [1, 4, 256]) {
      if (tpr === rowThreads(cols).tpr) continue;
      it(`[${c.shape}] with ${tpr} invocation(s) per row`, () => check(c, i, { threadsPerRow: tpr }));
    }
  }

  it('saves the row mean and rstd (biased variance)', async () => {
    for (const [i, c] of CASES.entries()) {
      const { x, w, b } = inputsOf(c, i);
      const r = rt();
      const [xt, wt, bt] = [r.tensor(x, c.shape), r.tensor(w, [w.length]), r.tensor(b, [b.length])];
      const got = layerNormForward(xt, wt, bt, c.eps);
      const want = layerNormRef(x, w, b, c.eps);
      const tol = tolerances(x, w, c.eps, new Float64Array(x.length));
      expectClose(`mean [${c.shape}]`, await got.mean.read(), want.mean, tol.mean);
      expectClose(`rstd [${c.shape}]`, await got.rstd.read(), want.rstd, tol.rstd);
      for (const t of [xt, wt, bt, got.y, got.mean, got.rstd]) t.release();
    }
  });

  it('dw/db chunk sums over many passes and a folded grid', async () => {
    // one row per chunk and one invocation per workgroup: 30000·3 invocations → folded grid, and
    // sumLeading needs two passes over the 30000 partial rows
    await check({ shape: [30000, 3], eps: 1e-5, ramp: true }, 91, { paramsChunk: 1, paramsWorkgroupSize: 1 });
  });

  it('grid folding: 70000 rows with a workgroup each', () => check({ shape: [70000, 3], eps: 1e-5, ramp: true }, 92, { threadsPerRow: 64 }));

  it('releases its statistics and partial sums (pool back to its starting size)', async () => {
    const r = rt();
    await r.sync();
    const before = r.memory().bytesLive;
    const w = r.parameter(randn(8, 1), [8], 'w');
    const b = r.parameter(randn(8, 2), [8], 'b');
    const x = r.tensor(randn(300 * 8, 3), [300, 8]);
    x.requiresGrad = true;
    const y = layerNorm(x, w, b, 1e-5, { paramsChunk: 4 });
    const dy = r.tensor(randn(300 * 8, 4), [300, 8]);
    r.backward(y, dy);
    // inference: nothing recorded, the statistics are released at once
    const yInfer = r.withoutGrad(() => layerNorm(x, w, b, 1e-5));
    for (const t of [x.grad!, x, y, dy, yInfer]) t.release();
    expect(r.tape.length).toBe(0);
    for (const t of [w.grad!, b.grad!, w, b]) t.release();
    await r.sync();
    expect(r.memory().bytesLive).toBe(before);
  });

  it('checks shapes and eps', () => {
    const r = rt();
    const x = r.tensor(randn(12, 1), [3, 4]);
    expect(() => layerNorm(x, r.tensor(randn(3, 2), [3]), r.tensor(randn(4, 3), [4]), 1e-5)).toThrow(/layerNorm: weight \[3\] must be \[4\]/);
    expect(() => layerNorm(x, r.tensor(randn(4, 2), [4]), r.tensor(randn(4, 3), [4]), 0)).toThrow(/eps must be positive/);
  });

  it('reference backward matches finite differences', () => {
    for (const [cols, eps] of [[5, 1e-5], [2, 1e-6], [1, 1e-5]] as const) {
      checkRefGradient(
        `layerNorm C=${cols}`,
        [randn(3 * cols, 1, -2, 2), randn(cols, 2, -1.5, 1.5), randn(cols, 3)],
        ([x, w, b]) => layerNormRef(x!, w!, b!, eps).y,
        ([x, w], g) => layerNormRefBackward(x!, w!, eps, g),
      );
    }
  });
});
