// GELU's maths (exact erf form), shared by the kernels that apply it: activation.wgsl (the
// pointwise op) and matmul.wgsl (its fused epilogue). A kernel file pulls this in with a last line
// `// #include gelu.wgsl` (src/runtime/kernel.ts), so its own line numbers stay as written.
//
//   gelu(x)  = x · Φ(x) = 0.5 · x · (1 + erf(x/√2)) = 0.5 · x · erfc(-x/√2)
//   gelu'(x) = Φ(x) + x · φ(x) = 0.5 · erfc(-x/√2) + x · exp(-x²/2) / √(2π)
// The erfc form avoids the cancellation in 1 + erf(x/√2) for negative x.

const INV_SQRT2: f32 = 0.70710678118654752;
const INV_SQRT_2PI: f32 = 0.39894228040143268;

// ln 2 split for the argument reduction: LN2_HI has 15 significant bits, so k · LN2_HI is exact
// for |k| < 2^8, and LN2_HI + LN2_LO = ln 2 to about 1e-13.
const LN2_HI: f32 = 0.693145751953125;
const LN2_LO: f32 = 1.4286068203e-6;
const LOG2E: f32 = 1.4426950408889634;

// exp(-x²/2 + s) for small |s| (≲ 2), accurate to a few f32 ulp for every x.
// The built-in exp(u) is only good to ~|u|·6e-8 relative for large |u| (it rounds u·log2(e)),
// and f32 x² carries a relative rounding of 6e-8; both would give ~x²·3e-8 relative error
// (1.5e-6 at |x| = 7). So: xh keeps the top 12 significand bits of x, making a = -xh²/2 exact;
// x² = xh² + (x - xh)(x + xh) with a small second term; a = k·ln2 + r exactly (Cody-Waite), and
// the result is exp(r - (x - xh)(x + xh)/2 + s) · 2^k with a small argument to the built-in exp.
// |x| is clamped to 16 (exp(-128) is below f32's normal range either way), so ±inf gives 0.
fn gauss_exp(x: vec4f, s: vec4f) -> vec4f {
  let xc = clamp(x, vec4f(-16.0), vec4f(16.0));
  let xh = bitcast<vec4f>(bitcast<vec4u>(xc) & vec4u(0xfffff000u));
  let a = -0.5 * xh * xh;
  let k = round(a * LOG2E);
  let r = (a - k * LN2_HI) - k * LN2_LO;
  return exp(r - 0.5 * (xc - xh) * (xc + xh) + s) * pow2(k);
}

// 2^k for integral k in [-127, 127], exact, written straight into the exponent field (0 for
// k ≤ -127: below 2^-126 the products above are negligible anyway). Adding 1.5·2^23 + 127 puts
// k + 127 in the low mantissa bits of a float whose bits are 0x4b400000 + k + 127, which avoids a
// float-to-int conversion; on lavapipe this is ~25% faster for GELU than ldexp or vec4i(k).
fn pow2(k: vec4f) -> vec4f {
  let biased = bitcast<vec4u>(max(k, vec4f(-127.0)) + 12583039.0) - vec4u(0x4b400000u);
  return bitcast<vec4f>(biased << vec4u(23u));
}

// Φ(x) · 2 = erfc(-x/√2). For a = |x|/√2 ≥ 0 the Chebyshev-fitted form
// erfc(a) = t · exp(-a² + P(t)), t = 1 / (1 + a/2) (Numerical Recipes' erfcc; fractional error
// below 1.2e-7 for every a ≥ 0), then erfc(-a) = 2 - erfc(a) for x > 0. Rounding in a and t is
// benign: t · exp(P(t)) ≈ erfc(a) · exp(a²) varies slowly with a.
fn two_phi(x: vec4f) -> vec4f {
  let a = abs(x) * INV_SQRT2;
  let t = 1.0 / (1.0 + 0.5 * a);
  let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
           + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  let erfc_a = t * gauss_exp(x, poly);
  return select(erfc_a, 2.0 - erfc_a, x > vec4f(0.0));
}

fn gelu4(v: vec4f) -> vec4f { return (0.5 * v) * two_phi(v); }

// x·φ(x) with x clamped like gauss_exp, so ±inf gives 0 · 16, not inf · 0
fn gelu4_grad(v: vec4f) -> vec4f {
  return 0.5 * two_phi(v) + clamp(v, vec4f(-16.0), vec4f(16.0)) * gauss_exp(v, vec4f(0.0)) * INV_SQRT_2PI;
}
