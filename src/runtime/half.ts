// IEEE binary16 ("f16", half) on the host: the conversions the runtime uses to upload f16 tensors
// and read them back, and that the checkpoint formats use for float16 data.
//
// f16: 1 sign, 5 exponent (bias 15), 10 fraction bits. Largest finite 65504; smallest normal
// 2^-14; subnormals are multiples of 2^-24. Rounding from float32 is to nearest, ties to even, and
// a value at or above 65520 (65504 plus half its ulp of 32) rounds to ±Inf, as WGSL's f16(x) does on
// the adapters we measured (lavapipe: 65519 → 65504, 65520 → Inf).

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → f16 bits, round to nearest even (overflow → ±Inf, NaN kept quiet). */
export function floatToHalf(x: number): number {
  f32[0] = x;
  const u = u32[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rest > half || (rest === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++; // may carry into the exponent, correctly
  return sign | h;
}

/** f16 bits → the number they hold (exact). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** `x` rounded to the nearest f16 (through float32, as an upload of float32 data does). */
export function roundHalf(x: number): number { return halfToFloat(floatToHalf(x)); }

/** Values → f16 bits, padded to an even count so the bytes are a multiple of 4 (storage bindings). */
export function encodeHalf(data: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(data.length + (data.length & 1));
  for (let i = 0; i < data.length; i++) out[i] = floatToHalf(data[i]!);
  return out;
}

/** The first `count` f16 values of `bits`, widened to float32 (exactly). */
export function decodeHalf(bits: Uint16Array, count = bits.length): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = halfToFloat(bits[i]!);
  return out;
}
