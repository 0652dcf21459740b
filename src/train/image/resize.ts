// Pre-processing exactly as the official loaders do it: torchvision Resize on a PIL image, which is
// Pillow's Image.resize (BICUBIC for images, NEAREST for labels), then ToTensor + Normalize.
//
// resizeBicubicPIL ports Pillow's libImaging/Resample.c (ImagingResample, 8-bit path):
//   * separable, horizontal pass first, each pass rounded and clamped to uint8 (the intermediate
//     image is 8-bit; only the source rows the vertical pass reads are resampled horizontally);
//   * per output pixel, center = (i + 0.5)·scale with scale = in/out; when shrinking the filter
//     is stretched by scale (support 2·scale, argument divided by scale), which makes it an
//     antialiasing filter; taps xmin..xmax = trunc(center ± support + 0.5), clipped to the image;
//   * cubic convolution with a = −0.5; weights normalised by their sum in double precision;
//   * weights converted to fixed point with PRECISION_BITS = 22, rounded half away from zero; each
//     sum starts at 2^21 (rounding), accumulates u8·weight in 32-bit integers, then >> 22 and
//     clamps to [0, 255];
//   * a pass whose size is unchanged is skipped (it would be the identity anyway).
// resizeNearestPIL ports the NEAREST path (_imaging.c resize → Geometry.c ImagingScaleAffine):
// the source coordinate starts at scale/2 and is ADVANCED by repeated addition of scale in double
// precision (the accumulated rounding error decides ties), then truncated.
//
// All functions take interleaved (H, W, C) uint8 data; C (1, 3 or 4) is inferred from the length.

// ---------------------------------------------------------------------------------------------
// Bicubic (Pillow's 8-bit path)

const PRECISION_BITS = 32 - 8 - 2;
const SUPPORT = 2; // bicubic filter support at scale 1

function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Coeffs {
  /** Taps per output pixel (the stride of `k`). */
  ksize: number;
  /** (out, 2): first source index and tap count of each output pixel. */
  bounds: Int32Array;
  /** (out, ksize): fixed-point weights. */
  k: Int32Array;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for box [0, inSize). */
function coeffs(inSize: number, outSize: number): Coeffs {
  const scale = inSize / outSize; // Pillow: (double)(in1 - in0) / outSize, box edges are floats
  const filterscale = Math.max(scale, 1);
  const support = SUPPORT * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const k = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      w[x] = bicubic((x + xmin - center + 0.5) * ss);
      ww += w[x]!;
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? w[x]! / ww : w[x]!;
      k[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, k };
}

function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Pillow's Image.resize((W, H), BICUBIC) of an 8-bit image, bit for bit.
 * src: (h, w, C) with C = 1, 3 or 4 (RGBA would be premultiplied first by Pillow; not done here).
 */
export function resizeBicubicPIL(src: Uint8Array, w: number, h: number, W: number, H: number): Uint8Array {
  const c = channelsOf(src, w, h, W, H, 'resizeBicubicPIL');
  const needH = W !== w;
  const needV = H !== h;
  if (!needH && !needV) return src.slice();
  const vert = coeffs(h, H);
  // Rows the vertical pass reads: [first, last).
  const first = vert.bounds[0]!;
  const last = vert.bounds[(H - 1) * 2]! + vert.bounds[(H - 1) * 2 + 1]!;
  let img = src;
  let rowOffset = 0; // source row of img's row 0
  if (needH) {
    const hor = coeffs(w, W);
    const rows = last - first;
    const tmp = new Uint8Array(rows * W * c);
    for (let y = 0; y < rows; y++) {
      const inRow = (y + first) * w * c;
      const outRow = y * W * c;
      for (let xx = 0; xx < W; xx++) {
        const xmin = hor.bounds[xx * 2]!;
        const n = hor.bounds[xx * 2 + 1]!;
        const kOff = xx * hor.ksize;
        for (let ch = 0; ch < c; ch++) {
          let ss = 1 << (PRECISION_BITS - 1);
          for (let x = 0; x < n; x++) ss += src[inRow + (x + xmin) * c + ch]! * hor.k[kOff + x]!;
          tmp[outRow + xx * c + ch] = clip8(ss);
        }
      }
    }
    img = tmp;
    rowOffset = first;
  }
  if (!needV) return img;
  const out = new Uint8Array(H * W * c);
  const rowLen = W * c;
  for (let yy = 0; yy < H; yy++) {
    const ymin = vert.bounds[yy * 2]! - rowOffset;
    const n = vert.bounds[yy * 2 + 1]!;
    const kOff = yy * vert.ksize;
    for (let i = 0; i < rowLen; i++) {
      let ss = 1 << (PRECISION_BITS - 1);
      for (let y = 0; y < n; y++) ss += img[(y + ymin) * rowLen + i]! * vert.k[kOff + y]!;
      out[yy * rowLen + i] = clip8(ss);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Nearest (Pillow's ImagingScaleAffine)

/** Source index of each output index, or −1 where the coordinate falls outside [0, inSize). */
function nearestTable(inSize: number, outSize: number): Int32Array {
  const a = inSize / outSize;
  const table = new Int32Array(outSize);
  let o = a * 0.5;
  for (let i = 0; i < outSize; i++) {
    const s = o < 0 ? -1 : Math.trunc(o);
    table[i] = s >= 0 && s < inSize ? s : -1;
    o += a;
  }
  return table;
}

/** Pillow's Image.resize((W, H), NEAREST), bit for bit. src: (h, w, C), C = 1, 3 or 4. */
export function resizeNearestPIL(src: Uint8Array, w: number, h: number, W: number, H: number): Uint8Array {
  const c = channelsOf(src, w, h, W, H, 'resizeNearestPIL');
  if (W === w && H === h) return src.slice();
  const xs = nearestTable(w, W);
  const ys = nearestTable(h, H);
  const out = new Uint8Array(W * H * c); // Pillow fills out-of-range pixels with 0
  for (let y = 0; y < H; y++) {
    if (ys[y]! < 0) continue;
    const inRow = ys[y]! * w * c;
    for (let x = 0; x < W; x++) {
      if (xs[x]! < 0) continue;
      for (let ch = 0; ch < c; ch++) out[(y * W + x) * c + ch] = src[inRow + xs[x]! * c + ch]!;
    }
  }
  return out;
}

function channelsOf(src: Uint8Array, w: number, h: number, W: number, H: number, fn: string): number {
  for (const [name, v] of [['w', w], ['h', h], ['W', W], ['H', H]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${fn}: ${name} = ${v} is not a positive integer`);
  }
  const c = src.length / (w * h);
  if (c !== 1 && c !== 3 && c !== 4) throw new Error(`${fn}: ${src.length} bytes is not ${w}×${h}×C for C in {1, 3, 4}`);
  return c;
}

// ---------------------------------------------------------------------------------------------
// Normalisation (torchvision ToTensor + Normalize)

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/**
 * (H, W, 3) uint8 → (3, H, W) float32 with x = (u8/255 − mean)/std, each operation rounded to
 * float32 as torch does (double rounding through float64 is exact for +, −, ×, ÷).
 */
export function toNormalizedCHW(rgb: Uint8Array, w: number, h: number, mean: readonly number[] = IMAGENET_MEAN, std: readonly number[] = IMAGENET_STD): Float32Array {
  const n = w * h;
  if (rgb.length !== n * 3) throw new Error(`toNormalizedCHW: ${rgb.length} bytes is not ${w}×${h}×3`);
  const out = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) {
    const m = Math.fround(mean[c]!);
    const s = Math.fround(std[c]!);
    const lut = new Float32Array(256);
    for (let u = 0; u < 256; u++) lut[u] = Math.fround(Math.fround(Math.fround(u / 255) - m) / s);
    for (let i = 0; i < n; i++) out[c * n + i] = lut[rgb[i * 3 + c]!]!;
  }
  return out;
}
