// One op case through the library's op check (src/runtime/reference/check.ts), reporting each failed
// comparison to `fail`: expect.fail in the Node suites (tests/harness.ts), a list in the web page.
// Every comparison also records its largest |got − want| under the current family (`recordAs`),
// which the web page reports per op family.
import { compareClose, runOpCheck, type Comparison, type OpCase, type Precision, type Tol } from '../../src/runtime/reference/check.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { randn } from '../inputs.js';

/** Largest |got − want| per op family, over the comparisons made since the family was set. */
export const maxErrors = new Map<string, number>();
let family = '';

/** Attributes the following comparisons' errors to `name` in maxErrors. */
export function recordAs(name: string): void { family = name; }

function record(r: Comparison): void {
  if (family && Number.isFinite(r.maxAbsErr)) maxErrors.set(family, Math.max(maxErrors.get(family) ?? 0, r.maxAbsErr));
}

/** Compares got with want (|got − want| ≤ atol + rtol·|want|, NaN fails) and reports a failure to `fail`. */
export function near(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: Tol, fail: (message: string) => void): void {
  const r = compareClose(what, got, want, tol);
  record(r);
  if (!r.ok) fail(r.message ?? `${what}: failed`);
}

export async function checkCase(rt: Runtime, c: OpCase, fail: (message: string) => void, precision: Precision = 'f32'): Promise<void> {
  // the upstream gradient: seeded from the case, like every suite's
  const results = await runOpCheck(rt, c, (n) => randn(n, (c.seed ?? 1) + 1000), precision);
  for (const r of results) {
    record(r);
    if (!r.ok) fail(r.message ?? `${r.what}: failed`);
  }
}
