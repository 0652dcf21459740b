// One op, forward and backward, on the GPU against its float64 reference: the comparison the tests
// (tests/harness.ts, which turns a failure into a vitest failure), `npm run doctor` and the web page
// share. Inputs are float64 arrays of float32-representable values; outputs are NaN-poisoned when the
// runtime was opened with `poisonOutputs`.
import type { Runtime } from '../runtime.js';
import { roundHalf } from '../half.js';
import type { Tensor } from '../tensor.js';

export interface Tol { atol: number; rtol: number }

/** Precision an op check stores its float tensors in. */
export type Precision = 'f32' | 'f16';

/**
 * The tolerance of a kernel that computes in f32 and stores its output in f16, from its f32 one:
 * the output's rounding adds u16·|y| (u16 = 2^-11, f16's unit roundoff) and, below 2^-14 where f16
 * is subnormal, at most half the subnormal spacing 2^-24, i.e. 2^-25. Inputs are rounded to f16
 * before the reference sees them, so their rounding is not an error of the kernel.
 */
export function f16Tol(tol: Tol): Tol {
  return { atol: tol.atol + 2 ** -25, rtol: tol.rtol + 2 ** -11 };
}

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
  /**
   * Input values (float64, float32-representable) and shapes. Without a dtype an input takes the
   * check's precision (f32, or f16 in an f16 run); a given dtype is kept in both (int32 indices,
   * f32 parameters such as LayerNorm's weight).
   */
  inputs: { data: Float64Array; shape: number[]; dtype?: 'f32' | 'f16' | 'i32'; grad?: boolean }[];
  /** The op under test on GPU tensors. */
  run: (xs: Tensor[]) => Tensor;
  /** float64 reference forward. */
  ref: (xs: Float64Array[]) => Float64Array;
  /** float64 reference backward: d(each input) given d(output); omit for ops without gradient. */
  refBackward?: (xs: Float64Array[], dOut: Float64Array) => Float64Array[];
  fwdTol: Tol;
  /** One tolerance for every input's gradient, or one per input. */
  gradTol?: Tol | readonly Tol[];
  /**
   * Tolerances in f16 where `f16Tol(fwdTol)` / `f16Tol(gradTol)` do not hold, with the reason
   * (e.g. a backward that reads an output stored in f16, whose rounding then enters its maths).
   */
  f16?: { fwdTol?: Tol; gradTol?: Tol | readonly Tol[] };
  seed?: number;
}

/**
 * Runs an op forward and backward on the GPU and compares both with the float64 reference:
 * the forward, then each input's gradient (the upstream gradient comes from `dOutFor(length)`).
 * Returns every comparison; the first failing one ends the list.
 */
export async function runOpCheck(rt: Runtime, c: OpCase, dOutFor: (n: number) => Float64Array, precision: Precision = 'f32'): Promise<Comparison[]> {
  if (precision === 'f16') c = inF16(c);
  const xs = c.inputs.map((inp, i) => {
    const t = rt.tensor(inp.data, inp.shape, inp.dtype ?? precision);
    t.requiresGrad = c.refBackward !== undefined && (inp.grad ?? t.isFloat);
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
      if (precision === 'f16') dOutData.forEach((v, i) => { dOutData[i] = roundHalf(v); });
      const dOut = rt.tensor(dOutData, out.shape, out.dtype);
      rt.backward(out, dOut);
      const wantGrads = c.refBackward(c.inputs.map((x) => x.data), dOutData);
      for (const [i, x] of xs.entries()) {
        if (!x.requiresGrad) continue;
        const what = `${c.name}: gradient of input ${i}`;
        const r = x.grad
          ? compareClose(what, await x.grad.read(), wantGrads[i]!, gradTolOf(c, i))
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

/** The tolerance of input i's gradient. */
function gradTolOf(c: OpCase, i: number): Tol {
  const t = c.gradTol ?? c.fwdTol;
  return isTol(t) ? t : t[i]!;
}

const isTol = (t: Tol | readonly Tol[]): t is Tol => !Array.isArray(t);

/** The case in f16: float inputs rounded to f16 (the reference sees the rounded values), tolerances for f16 storage. */
function inF16(c: OpCase): OpCase {
  const gradTol = c.gradTol ?? c.fwdTol;
  return {
    ...c,
    name: `${c.name} (f16)`,
    inputs: c.inputs.map((x) => (x.dtype ? x : { ...x, dtype: 'f16', data: x.data.map(roundHalf) })),
    fwdTol: c.f16?.fwdTol ?? f16Tol(c.fwdTol),
    gradTol: c.f16?.gradTol ?? (isTol(gradTol) ? f16Tol(gradTol) : gradTol.map(f16Tol)),
  };
}
