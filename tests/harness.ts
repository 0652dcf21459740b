// Test harness for ops: a shared runtime per test file, seeded random inputs, float64 CPU
// references, a central finite-difference check of each reference's backward, and one
// table-driven check of an op's forward and backward against its reference.
import { afterAll, beforeAll, expect } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { rng } from '../src/train/random.js';

export { rng };

let runtime: Runtime | undefined;

/** Opens one runtime (NaN-poisoned outputs) for the test file; call at the top level of the file. */
export function useRuntime(): () => Runtime {
  beforeAll(async () => { runtime = await Runtime.create({ poisonOutputs: true, tune: false, tuneStore: null }); });
  afterAll(() => { runtime?.destroy(); runtime = undefined; });
  return () => {
    if (!runtime) throw new Error('runtime not open (useRuntime must be called at the top level of the test file)');
    return runtime;
  };
}

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

/** Fails unless |got - want| <= atol + rtol * |want| everywhere (NaN always fails). */
export function expectClose(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: Tol): void {
  expect(got.length, `${what}: length`).toBe(want.length);
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
  if (worst >= 0) {
    const g = got[worst]!;
    const w = want[worst]!;
    expect.fail(`${what}: element ${worst} is ${g}, expected ${w} (|diff| ${Math.abs(g - w).toExponential(3)} > atol ${tol.atol} + rtol ${tol.rtol}·|want|)`);
  }
}

// ---- finite differences -----------------------------------------------------------------------

/**
 * Checks a float64 reference backward by central differences: for L(x) = sum(dOut · f(x)),
 * dL/dx_i ≈ (L(x + h e_i) - L(x - h e_i)) / 2h, on up to `samples` elements of each input.
 */
export function checkRefGradient(
  name: string,
  inputs: Float64Array[],
  forward: (xs: Float64Array[]) => Float64Array,
  backward: (xs: Float64Array[], dOut: Float64Array) => Float64Array[],
  opts: { samples?: number; h?: number; tol?: Tol; seed?: number; only?: number[] } = {},
): void {
  const h = opts.h ?? 1e-6;
  const tol = opts.tol ?? { atol: 1e-7, rtol: 1e-5 };
  const out0 = forward(inputs);
  const dOut = randn(out0.length, opts.seed ?? 99);
  const grads = backward(inputs, dOut);
  const loss = (xs: Float64Array[]): number => {
    const y = forward(xs);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i]! * dOut[i]!;
    return s;
  };
  const r = rng(opts.seed ?? 7);
  const which = opts.only ?? inputs.map((_, i) => i);
  for (const k of which) {
    const x = inputs[k]!;
    const n = Math.min(x.length, opts.samples ?? 24);
    const got: number[] = [];
    const want: number[] = [];
    for (let s = 0; s < n; s++) {
      const i = n === x.length ? s : Math.floor(r() * x.length);
      const keep = x[i]!;
      x[i] = keep + h;
      const up = loss(inputs);
      x[i] = keep - h;
      const down = loss(inputs);
      x[i] = keep;
      want.push((up - down) / (2 * h));
      got.push(grads[k]![i]!);
    }
    expectClose(`${name}: reference gradient of input ${k} vs finite differences`, got, want, tol);
  }
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

/** Runs an op forward and backward on the GPU and compares both with the float64 reference. */
export async function checkOp(rt: Runtime, c: OpCase): Promise<void> {
  const xs = c.inputs.map((inp, i) => {
    const t = rt.tensor(inp.data, inp.shape, inp.dtype ?? 'f32');
    t.requiresGrad = c.refBackward !== undefined && (inp.grad ?? (inp.dtype ?? 'f32') === 'f32');
    t.name = `input${i}`;
    return t;
  });
  const out = c.run(xs);
  const want = c.ref(c.inputs.map((x) => x.data));
  expectClose(`${c.name}: forward`, await out.read(), want, c.fwdTol);
  if (c.refBackward) {
    const dOutData = randn(want.length, (c.seed ?? 1) + 1000);
    const dOut = rt.tensor(dOutData, out.shape);
    rt.backward(out, dOut);
    const wantGrads = c.refBackward(c.inputs.map((x) => x.data), dOutData);
    for (const [i, x] of xs.entries()) {
      if (!x.requiresGrad) continue;
      expect(x.grad, `${c.name}: input ${i} got no gradient`).not.toBeNull();
      expectClose(`${c.name}: gradient of input ${i}`, await x.grad!.read(), wantGrads[i]!, c.gradTol ?? c.fwdTol);
    }
    dOut.release();
  }
  for (const x of xs) { x.grad?.release(); x.release(); }
  out.release();
  rt.tape.clear();
}
