// The vitest-free core of the op checks: seeded inputs, closeness, and running an op forward and
// backward against its float64 reference. The Node suites use it through ./harness.ts (which turns
// failures into vitest assertions); the web page's op checks (tests/web/op_checks.ts) run the same
// code in a browser, where failures are collected as messages.
import type { Runtime } from '../src/runtime/runtime.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { rng } from '../src/train/random.js';

export { rng };

// ---- random data --------------------------------------------------------------------------------

/** Uniform values in [lo, hi), rounded to float32 so GPU and reference see the same inputs. */
export function randn(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.fround(lo + (hi - lo) * r());
  return out;
}

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

// ---- comparison -------------------------------------------------------------------------------

export interface Tol { atol: number; rtol: number }

/** Undefined when |got - want| <= atol + rtol * |want| everywhere (NaN always fails), else why not. */
export function closeness(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: Tol): string | undefined {
  if (got.length !== want.length) return `${what}: length ${got.length}, expected ${want.length}`;
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    const excess = Math.abs(g - w) - (tol.atol + tol.rtol * Math.abs(w));
    if (Number.isNaN(g) || Number.isNaN(w) || excess > worstExcess) {
      worst = i;
      worstExcess = Number.isNaN(g) || Number.isNaN(w) ? Infinity : excess;
      if (worstExcess === Infinity) break;
    }
  }
  if (worst < 0) return undefined;
  const g = got[worst]!;
  const w = want[worst]!;
  return `${what}: element ${worst} is ${g}, expected ${w} (|diff| ${Math.abs(g - w).toExponential(3)} > atol ${tol.atol} + rtol ${tol.rtol}·|want|)`;
}

// ---- op check ---------------------------------------------------------------------------------

export interface OpCase {
  name: string;
  /** Input values (float64, float32-representable) and shapes. */
  inputs: { data: Float64Array; shape: number[]; dtype?: 'f32' | 'i32'; grad?: boolean }[];
  /** The op under test on GPU tensors. */
  run: (xs: Tensor[]) => Tensor;
  /** float64 reference forward. */
  ref: (xs: Float64Array[]) => Float64Array;
  /** float64 reference backward: d(each input) given d(output); omit for ops without gradient. */
  refBackward?: (xs: Float64Array[], dOut: Float64Array) => Float64Array[];
  fwdTol: Tol;
  gradTol?: Tol;
  seed?: number;
}

/**
 * Runs an op forward and backward on the GPU and compares both with the float64 reference; each
 * mismatch goes to `fail` (which may throw, as the vitest harness's does, or collect).
 */
export async function runOpCheck(rt: Runtime, c: OpCase, fail: (message: string) => void): Promise<void> {
  const check = (what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: Tol) => {
    const why = closeness(what, got, want, tol);
    if (why) fail(why);
  };
  const xs = c.inputs.map((inp, i) => {
    const t = rt.tensor(inp.data, inp.shape, inp.dtype ?? 'f32');
    t.requiresGrad = c.refBackward !== undefined && (inp.grad ?? (inp.dtype ?? 'f32') === 'f32');
    t.name = `input${i}`;
    return t;
  });
  const out = c.run(xs);
  const want = c.ref(c.inputs.map((x) => x.data));
  check(`${c.name}: forward`, await out.read(), want, c.fwdTol);
  if (c.refBackward) {
    const dOutData = randn(want.length, (c.seed ?? 1) + 1000);
    const dOut = rt.tensor(dOutData, out.shape);
    rt.backward(out, dOut);
    const wantGrads = c.refBackward(c.inputs.map((x) => x.data), dOutData);
    for (const [i, x] of xs.entries()) {
      if (!x.requiresGrad) continue;
      if (!x.grad) { fail(`${c.name}: input ${i} got no gradient`); continue; }
      check(`${c.name}: gradient of input ${i}`, await x.grad.read(), wantGrads[i]!, c.gradTol ?? c.fwdTol);
    }
    dOut.release();
  }
  for (const x of xs) { x.grad?.release(); x.release(); }
  out.release();
  rt.tape.clear();
}
