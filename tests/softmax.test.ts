import { describe, expect, it } from 'vitest';
import { rowThreads, softmax } from '../src/runtime/ops/softmax.js';
import { checkOp, checkRefGradient, numel, randn, useRuntime } from './harness.js';
import { softmaxRef, softmaxRefBackward } from '../src/runtime/reference/softmax.js';

const rt = useRuntime();

// Forward: y = exp(x - m) / s. The f32 rounding of x - m alone (inherent to any f32 softmax) is
// a relative error of up to |x - m|·6e-8 in y; the kernel's exp is ~1 ulp and the sum and divide
// add ~2. Measured: ≤ 6.1e-7 relative for |x - m| ≤ 8, ≤ 4e-6 for tiny y in rows spanning ±80. So
// rtol 1e-6; the relative error passes 1e-6 only for x - m < -12, where y < 1e-5 and the absolute
// error is below 1e-11: atol 1e-10.
const FWD_TOL = { atol: 1e-10, rtol: 1e-6 };
// Backward: dx_i = y_i·(dy_i - s), s = Σ dy·y. The error of s (a few ulp of Σ|dy·y| ≤ 1, from y's
// own error) is multiplied by y_i, so the absolute error scales with the row's largest
// probability: measured ≤ 2.4e-7·max(y) over 2000 rows of 49 in [-80, 80] (max y ≈ 1), where a
// float64 backward on f32-rounded y is off by 5e-8. Relative to dx_i, y_i's error carries over
// (≤ 1.2e-6 where y > 1e-7). So atol 5e-7·max(y), rtol 2e-6; dy is in [-1, 1].
const gradTol = (maxY: number) => ({ atol: 5e-7 * maxY, rtol: 2e-6 });

interface Case { shape: number[]; lo?: number; hi?: number }
const CASES: Case[] = [
  { shape: [1, 1] },
  { shape: [3, 1] },
  { shape: [5, 7] },
  { shape: [64, 49] },
  { shape: [2, 3, 50] },
  { shape: [7, 300] },
  { shape: [19, 16384] },
  // large logits: exp would overflow without the max subtraction
  { shape: [6, 49], lo: -80, hi: 80 },
  { shape: [3, 1000], lo: -80, hi: 80 },
  { shape: [4, 5], lo: 60, hi: 80 },
];

function check(c: Case, i: number, threadsPerRow?: number): Promise<void> {
  const cols = c.shape[c.shape.length - 1]!;
  const label = `softmax [${c.shape}]${c.lo !== undefined ? ` in [${c.lo}, ${c.hi}]` : ''}, ${threadsPerRow ?? rowThreads(cols).tpr} per row`;
  const x = randn(numel(c.shape), 40 + i, c.lo ?? -4, c.hi ?? 4);
  const maxY = softmaxRef(x, cols).reduce((a, b) => Math.max(a, b), 0);
  return checkOp(rt(), {
    name: label,
    inputs: [{ data: x, shape: c.shape }],
    run: ([x]) => softmax(x!, { threadsPerRow }),
    ref: ([x]) => softmaxRef(x!, cols),
    refBackward: ([x], g) => [softmaxRefBackward(x!, cols, g)],
    fwdTol: FWD_TOL,
    gradTol: gradTol(maxY),
    seed: i,
  });
}

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
