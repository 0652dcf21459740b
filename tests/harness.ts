// Test harness for ops: a shared runtime per test file, seeded random inputs, float64 CPU
// references, a central finite-difference check of each reference's backward, and one
// table-driven check of an op's forward and backward against its reference.
import { afterAll, beforeAll, expect } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { compareClose, type OpCase, type Tol } from '../src/runtime/reference/check.js';
import { checkCase } from './checks/run.js';
import { randn, rng } from './inputs.js';

export { numel, randn, rng } from './inputs.js';

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

// ---- comparison -------------------------------------------------------------------------------

export type { Tol };

/** Fails unless |got - want| <= atol + rtol * |want| everywhere (NaN always fails). */
export function expectClose(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: Tol): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  const r = compareClose(what, got, want, tol);
  if (!r.ok) expect.fail(r.message);
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

export type { OpCase };

/** Runs an op forward and backward on the GPU and compares both with the float64 reference. */
export async function checkOp(rt: Runtime, c: OpCase): Promise<void> {
  await checkCase(rt, c, (message) => expect.fail(message));
}
