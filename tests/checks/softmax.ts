// Softmax checks against the float64 reference, shared by tests/softmax.test.ts (Node) and the web
// page's op checks (tests/web/op_checks.ts).
import { rowThreads, softmax } from '../../src/runtime/ops/softmax.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { numel, randn } from '../inputs.js';
import { checkCase } from './run.js';
import { softmaxRef, softmaxRefBackward } from '../../src/runtime/reference/softmax.js';

// Forward: y = exp(x - m) / s. The f32 rounding of x - m alone (inherent to any f32 softmax) is
// a relative error of up to |x - m|·6e-8 in y; the kernel's exp is ~1 ulp and the sum and divide
// add ~2. Measured: ≤ 6.1e-7 relative for |x - m| ≤ 8, ≤ 4e-6 for tiny y in rows spanning ±80. So
// rtol 1e-6; the relative error passes 1e-6 only for x - m < -12, where y < 1e-5 and the absolute
// error is below 1e-11: atol 1e-10.
export const FWD_TOL = { atol: 1e-10, rtol: 1e-6 };
// Backward: dx_i = y_i·(dy_i - s), s = Σ dy·y. The error of s (a few ulp of Σ|dy·y| ≤ 1, from y's
// own error) is multiplied by y_i, so the absolute error scales with the row's largest
// probability: measured ≤ 2.4e-7·max(y) over 2000 rows of 49 in [-80, 80] (max y ≈ 1), where a
// float64 backward on f32-rounded y is off by 5e-8. Relative to dx_i, y_i's error carries over
// (≤ 1.2e-6 where y > 1e-7). So atol 5e-7·max(y), rtol 2e-6; dy is in [-1, 1].
export const gradTol = (maxY: number) => ({ atol: 5e-7 * maxY, rtol: 2e-6 });

export interface Case { shape: number[]; lo?: number; hi?: number }
export const CASES: Case[] = [
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

export function checkSoftmax(r: Runtime, c: Case, i: number, fail: (message: string) => void, threadsPerRow?: number): Promise<void> {
  const cols = c.shape[c.shape.length - 1]!;
  const label = `softmax [${c.shape}]${c.lo !== undefined ? ` in [${c.lo}, ${c.hi}]` : ''}, ${threadsPerRow ?? rowThreads(cols).tpr} per row`;
  const x = randn(numel(c.shape), 40 + i, c.lo ?? -4, c.hi ?? 4);
  const maxY = softmaxRef(x, cols).reduce((a, b) => Math.max(a, b), 0);
  return checkCase(r, {
    name: label,
    inputs: [{ data: x, shape: c.shape }],
    run: ([x]) => softmax(x!, { threadsPerRow }),
    ref: ([x]) => softmaxRef(x!, cols),
    refBackward: ([x], g) => [softmaxRefBackward(x!, cols, g)],
    fwdTol: FWD_TOL,
    gradTol: gradTol(maxY),
    seed: i,
  }, fail);
}

