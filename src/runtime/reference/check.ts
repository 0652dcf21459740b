// One op, forward and backward, on the GPU against its float64 reference: the comparison the tests
// (tests/harness.ts, which turns a failure into a vitest failure), `npm run doctor` and the web page
// share. Inputs are float64 arrays of float32-representable values; outputs are NaN-poisoned when the
// runtime was opened with `poisonOutputs`.
import type { Runtime } from '../runtime.js';
import type { Tensor } from '../tensor.js';

export interface Tol { atol: number; rtol: number }

export interface Comparison {
  what: string;
  /** Largest |got - want|, and the largest excess over atol + rtol·|want| (Infinity for a NaN). */
  maxAbsErr: number;
  worstExcess: number;
  ok: boolean;
  /** Why it failed: the worst element, its value and the bound. */
  message?: string;
}

/** Passes when |got - want| <= atol + rtol·|want| everywhere (NaN always fails). */
export function compareClose(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: Tol): Comparison {
  if (got.length !== want.length) {
    return { what, maxAbsErr: Infinity, worstExcess: Infinity, ok: false, message: `${what}: length ${got.length}, expected ${want.length}` };
  }
  let worst = -1;
  let worstExcess = 0;
  let maxAbsErr = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    const nan = Number.isNaN(g) || Number.isNaN(w);
    maxAbsErr = nan ? Infinity : Math.max(maxAbsErr, Math.abs(g - w));
    const excess = nan ? Infinity : Math.abs(g - w) - (tol.atol + tol.rtol * Math.abs(w));
    if (excess > worstExcess) {
      worst = i;
      worstExcess = excess;
      if (nan) break;
    }
  }
  if (worst < 0) return { what, maxAbsErr, worstExcess: 0, ok: true };
  const g = got[worst]!;
  const w = want[worst]!;
  return {
    what, maxAbsErr, worstExcess, ok: false,
    message: `${what}: element ${worst} is ${g}, expected ${w} (|diff| ${Math.abs(g - w).toExponential(3)} > atol ${tol.atol} + rtol ${tol.rtol}·|want|)`,
  };
}

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
 * Runs an op forward and backward on the GPU and compares both with the float64 reference:
 * the forward, then each input's gradient (the upstream gradient comes from `dOutFor(length)`).
 * Returns every comparison; the first failing one ends the list.
 */
export async function runOpCheck(rt: Runtime, c: OpCase, dOutFor: (n: number) => Float64Array): Promise<Comparison[]> {
  const xs = c.inputs.map((inp, i) => {
    const t = rt.tensor(inp.data, inp.shape, inp.dtype ?? 'f32');
    t.requiresGrad = c.refBackward !== undefined && (inp.grad ?? (inp.dtype ?? 'f32') === 'f32');
    t.name = `input${i}`;
    return t;
  });
  const results: Comparison[] = [];
  try {
    const out = c.run(xs);
    const want = c.ref(c.inputs.map((x) => x.data));
    results.push(compareClose(`${c.name}: forward`, await out.read(), want, c.fwdTol));
    if (c.refBackward && results[0]!.ok) {
      const dOutData = dOutFor(want.length);
      const dOut = rt.tensor(dOutData, out.shape);
      rt.backward(out, dOut);
      const wantGrads = c.refBackward(c.inputs.map((x) => x.data), dOutData);
      for (const [i, x] of xs.entries()) {
        if (!x.requiresGrad) continue;
        const what = `${c.name}: gradient of input ${i}`;
        const r = x.grad
          ? compareClose(what, await x.grad.read(), wantGrads[i]!, c.gradTol ?? c.fwdTol)
          : { what, maxAbsErr: Infinity, worstExcess: Infinity, ok: false, message: `${c.name}: input ${i} got no gradient` };
        results.push(r);
        if (!r.ok) break;
      }
      dOut.release();
    }
    out.release();
  } finally {
    for (const x of xs) { x.grad?.release(); x.release(); }
    rt.tape.clear();
  }
  return results;
}
