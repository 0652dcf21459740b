// float64 references for ReLU and GELU, with an erf/erfc independent of the kernel's Chebyshev fit:
// a positive-term power series for small arguments and a continued fraction for large ones.

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** erf(z) = 2/√π · e^{-z²} · Σ_n 2^n z^{2n+1} / (1·3·…·(2n+1)); every term positive, so no cancellation. */
function erfSeries(z: number): number {
  let term = z;
  let sum = z;
  for (let n = 1; n < 500; n++) {
    term *= (2 * z * z) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-z * z) * sum;
}

/**
 * erfc(z) for z ≥ 2: e^{-z²}/√π · 1 / (z + (1/2) / (z + 1 / (z + (3/2) / (z + …)))), evaluated
 * by the modified Lentz method until a step changes the value by less than 1e-16.
 */
function erfcContinuedFraction(z: number): number {
  const tiny = 1e-300;
  let f = z;
  let c = z;
  let d = 0;
  for (let k = 1; k < 10000; k++) {
    const a = k / 2;
    d = z + a * d;
    d = Math.abs(d) < tiny ? 1 / tiny : 1 / d;
    c = z + a / c;
    if (Math.abs(c) < tiny) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-z * z) / (Math.sqrt(Math.PI) * f);
}

/** erfc(z) for any real z (relative error about 1e-14 or better). */
export function erfcRef(z: number): number {
  if (Number.isNaN(z)) return NaN;
  if (z < 0) return 2 - erfcRef(-z);
  if (z === Infinity) return 0;
  return z < 2 ? 1 - erfSeries(z) : erfcContinuedFraction(z);
}

/** erf(z) for any real z; the series directly for |z| < 2, so tiny arguments keep full relative accuracy. */
export const erfRef = (z: number): number => (Math.abs(z) < 2 ? erfSeries(z) : 1 - erfcRef(z));

export function reluRef(x: Float64Array): Float64Array {
  return x.map((v) => (v > 0 ? v : 0));
}

export function reluRefBackward(x: Float64Array, dy: Float64Array): Float64Array {
  return x.map((v, i) => (v > 0 ? dy[i]! : 0));
}

/** gelu(x) = 0.5 · x · erfc(-x/√2). */
export function geluRef(x: Float64Array): Float64Array {
  return x.map((v) => 0.5 * v * erfcRef(-v / Math.SQRT2));
}

/** dx = dy · (0.5 · erfc(-x/√2) + x · e^{-x²/2} / √(2π)). */
export function geluRefBackward(x: Float64Array, dy: Float64Array): Float64Array {
  return x.map((v, i) => dy[i]! * (0.5 * erfcRef(-v / Math.SQRT2) + (v * Math.exp(-0.5 * v * v)) / Math.sqrt(2 * Math.PI)));
}
