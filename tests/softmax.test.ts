import { describe, expect, it } from 'vitest';
import { rowThreads, softmax } from '../src/runtime/ops/softmax.js';
import { rowCandidates, rowLaunchOf } from '../src/runtime/ops/row_launch.js';
import { adapterFacts } from '../src/runtime/adapter.js';
import { checkOp, checkRefGradient, PRECISIONS, randn, useRuntime } from './harness.js';
import { roundHalf } from '../src/runtime/half.js';
import type { Precision } from '../src/runtime/reference/check.js';
import { softmaxRef, softmaxRefBackward } from '../src/runtime/reference/softmax.js';
import { CASES, checkSoftmax, FWD_TOL, gradTol, gradTolF16, type Case } from './checks/softmax.js';

const rt = useRuntime();

const check = (c: Case, i: number, threadsPerRow?: number, precision: Precision = 'f32') => {
  if (precision === 'f16' && !rt().device.hasF16) return expect(checkSoftmax(rt(), c, i, (m) => expect.fail(m), threadsPerRow, precision)).rejects.toThrow(/shader-f16/);
  return checkSoftmax(rt(), c, i, (m) => expect.fail(m), threadsPerRow, precision);
};

// Every launch candidate the tuner may pick (row_launch.ts), for lavapipe and for a GPU, at every
// case's row length: each pinned in turn, forward and backward against float64.
const ADAPTERS = [adapterFacts({ architecture: 'software', description: 'llvmpipe' }), adapterFacts({ vendor: 'gpu' })];
describe('softmax: every launch candidate against float64', () => {
  for (const [i, c] of CASES.entries()) {
    const cols = c.shape[c.shape.length - 1]!;
    const names = [...new Set(ADAPTERS.flatMap((f) => rowCandidates(cols, f)))];
    it(`[${c.shape}]${c.lo !== undefined ? ` in [${c.lo}, ${c.hi}]` : ''}: ${names.join(', ')}`, async () => {
      const r = rt();
      try {
        for (const name of names) {
          if (rowLaunchOf(name, r.device.facts).tpr === 1 && cols > 10_000) continue;   // 19 lanes on 16384-long rows: slow
          r.tuner.pin('softmax', name);
          await check(c, i);
        }
      } finally {
        r.tuner.pin('softmax', undefined);
      }
    }, 300_000);
  }
  it('lists the default rule first, only launches this adapter runs, and refuses bad names', () => {
    const f = rt().device.facts;
    for (const cols of [1, 49, 300, 16384]) {
      const names = rowCandidates(cols, f);
      expect(names[0]).toBe(`T${rowThreads(cols).tpr}:W${rowThreads(cols).wg}`);
      for (const n of names) expect(() => rowLaunchOf(n, f)).not.toThrow();
    }
    expect(rowCandidates(5, f)).toEqual(['T1:W64', 'T4:W64']);
    expect(() => rowLaunchOf('T3:W64', f)).toThrow(/^row launch: T3:W64 cannot run on this adapter/);
    expect(() => rowLaunchOf('T128:W64', f)).toThrow(/cannot run/);
    expect(() => rowLaunchOf('tpr4', f)).toThrow(/^row launch: bad name "tpr4"/);
  });
});

describe.each(PRECISIONS)('softmax forward and backward (%s)', (precision) => {
  for (const [i, c] of CASES.entries()) {
    it(`[${c.shape}]${c.lo !== undefined ? ` in [${c.lo}, ${c.hi}]` : ''} (default launch)`, () => check(c, i, undefined, precision));
  }
  // the other launches on every shape: an invocation per row, 4 per row (16 rows per workgroup,
  // some of them padding), a 256-invocation workgroup per row
  for (const [i, c] of CASES.entries()) {
    const cols = c.shape[c.shape.length - 1]!;
    for (const tpr of [1, 4, 256]) {
      if (tpr === rowThreads(cols).tpr || (tpr === 1 && cols > 10_000)) continue;   // 19 lanes on 16384-long rows: slow
      it(`[${c.shape}]${c.lo !== undefined ? ` in [${c.lo}, ${c.hi}]` : ''} with ${tpr} invocation(s) per row`, () => check(c, i, tpr, precision));
    }
  }
  it('picks one invocation per short row and a workgroup per long row', () => {
    expect(rowThreads(49).tpr).toBe(1);
    expect(rowThreads(128).tpr).toBe(1);
    expect(rowThreads(16384)).toEqual({ tpr: 64, wg: 64 });
    expect(rowThreads(100_000)).toEqual({ tpr: 256, wg: 256 });
    expect(() => rowThreads(10, 3)).toThrow(/power of two/);
  });
  it('masked (-inf) logits get probability 0 and gradient 0', async () => {
    const x = randn(3 * 49, 7, -4, 4);
    for (let i = 0; i < x.length; i += 3) x[i] = -Infinity;   // every third logit masked; no row is all -inf
    for (const tpr of [1, 64]) {
      await checkOp(rt(), {
        name: `masked softmax, ${tpr} per row`, inputs: [{ data: x, shape: [3, 49] }],
        run: ([t]) => softmax(t!, { threadsPerRow: tpr }),
        ref: ([t]) => softmaxRef(t!, 49),
        refBackward: ([t], g) => [softmaxRefBackward(t!, 49, g)],
        fwdTol: FWD_TOL, gradTol: gradTol(Math.max(...softmaxRef(x, 49))),
        f16: { gradTol: gradTolF16(Math.max(...softmaxRef(x.map(roundHalf), 49)), 49) },
      }, precision);
    }
  });
  it('grid folding: 70000 rows with a workgroup each', () => check({ shape: [70000, 3] }, 90, 64, precision));
  it('reference backward matches finite differences', () => {
    checkRefGradient('softmax', [randn(15, 3, -3, 3)], ([x]) => softmaxRef(x!, 5), ([x], g) => [softmaxRefBackward(x!, 5, g)]);
  });
});
