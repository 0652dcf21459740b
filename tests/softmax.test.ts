import { describe, expect, it } from 'vitest';
import { rowThreads, softmax } from '../src/runtime/ops/softmax.js';
import { checkOp, checkRefGradient, randn, useRuntime } from './harness.js';
import { softmaxRef, softmaxRefBackward } from '../src/runtime/reference/softmax.js';
import { CASES, checkSoftmax, FWD_TOL, gradTol, type Case } from './checks/softmax.js';

const rt = useRuntime();

const check = (c: Case, i: number, threadsPerRow?: number) => checkSoftmax(rt(), c, i, (m) => expect.fail(m), threadsPerRow);

describe('softmax forward and backward', () => {
  for (const [i, c] of CASES.entries()) {
    it(`[${c.shape}]${c.lo !== undefined ? ` in [${c.lo}, ${c.hi}]` : ''} (default launch)`, () => check(c, i));
  }
  // the other launches on every shape: an invocation per row, 4 per row (16 rows per workgroup,
  // some of them padding), a 256-invocation workgroup per row
  for (const [i, c] of CASES.entries()) {
    const cols = c.shape[c.shape.length - 1]!;
    for (const tpr of [1, 4, 256]) {
      if (tpr === rowThreads(cols).tpr || (tpr === 1 && cols > 10_000)) continue;   // 19 lanes on 16384-long rows: slow
      it(`[${c.shape}]${c.lo !== undefined ? ` in [${c.lo}, ${c.hi}]` : ''} with ${tpr} invocation(s) per row`, () => check(c, i, tpr));
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
      });
    }
  });
  it('grid folding: 70000 rows with a workgroup each', () => check({ shape: [70000, 3] }, 90, 64));
  it('reference backward matches finite differences', () => {
    checkRefGradient('softmax', [randn(15, 3, -3, 3)], ([x]) => softmaxRef(x!, 5), ([x], g) => [softmaxRefBackward(x!, 5, g)]);
  });
});
