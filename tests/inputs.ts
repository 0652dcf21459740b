// Seeded random inputs for the op checks, shared by the Node suites (tests/harness.ts) and the web
// page's checks (tests/checks/*, tests/web/op_checks.ts); free of vitest so that a page can bundle it.
import { rng } from '../src/train/random.js';

export { rng };

/** Uniform values in [lo, hi), rounded to float32 so GPU and reference see the same inputs. */
export function randn(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.fround(lo + (hi - lo) * r());
  return out;
}

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
