// JPEG decoding as libjpeg-turbo (hence cv2.imread and PIL) does it, on top of jpeg-js.
//
// jpeg-js decodes the entropy-coded data and runs the IDCT, but then upsamples chroma by pixel
// replication and converts YCbCr→RGB in floating point. libjpeg's defaults differ in both steps:
// "fancy" triangle-filter upsampling (jdsample.c) and fixed-point conversion tables (jdcolor.c).
// For the usual layouts (3 components Y,Cb,Cr with chroma at 1×1 and luma at 1×1, 2×1 or 2×2:
// 4:4:4, 4:2:2, 4:2:0) we ask jpeg-js for the raw Y, Cb, Cr planes, take the subsampled chroma
// planes back out of its replicated output, and redo both steps the libjpeg way. What remains is
// the IDCT: jpeg-js uses the Loeffler/poppler integer IDCT, libjpeg the ISLOW one; they round
// differently, so pixels can differ by a few levels (tests/train/image.test.ts measures it).
// Other layouts (grey, CMYK, Adobe-transformed, 4:1:1, 4:4:0...) use jpeg-js's own output.
// Like cv2.imread(IMREAD_COLOR), the EXIF orientation tag (APP1, IFD0 tag 0x0112) is applied.
import { decode as jpegJsDecode } from 'jpeg-js';
import type { RgbImage } from './decode.js';

interface Frame {
  width: number;
  height: number;
  components: { id: number; h: number; v: number }[];
  jfif: boolean;
  adobe: boolean;
  /** EXIF orientation 1–8 (1 when absent). */
  orientation: number;
}

/** Decodes JPEG bytes to RGB; throws on corrupt or truncated data. */
export function decodeJpeg(bytes: Uint8Array): RgbImage {
  const frame = readFrame(bytes);
  const [y, cb, cr] = frame.components;
  const libjpegPath = frame.components.length === 3 && !frame.adobe && y && cb && cr &&
    cb.h === 1 && cb.v === 1 && cr.h === 1 && cr.v === 1 && ((y.h === 1 && y.v === 1) || (y.h === 2 && y.v === 1) || (y.h === 2 && y.v === 2));
  const raw = jpegJsDecode(bytes, { useTArray: true, formatAsRGBA: false, tolerantDecoding: false, colorTransform: libjpegPath ? false : undefined });
  const { width, height } = raw;
  if (width !== frame.width || height !== frame.height) throw new Error(`decoder returned ${width}×${height}, header says ${frame.width}×${frame.height}`);
  if (!libjpegPath) return orient({ width, height, rgb: raw.data }, frame.orientation);

  const hf = y!.h;
  const vf = y!.v;
  const planes = [0, 1, 2].map((c) => {
    if (c === 0) return channel(raw.data, width, height, 0);
    const dw = Math.ceil(width / hf);
    const dh = Math.ceil(height / vf);
    const small = new Uint8Array(dw * dh);
    for (let j = 0; j < dh; j++) for (let i = 0; i < dw; i++) small[j * dw + i] = raw.data[(j * vf * width + i * hf) * 3 + c]!;
    return upsample(small, dw, dh, hf, vf, width, height);
  });
  // libjpeg: 3 components are YCbCr unless the ids spell R, G, B in a file without JFIF marker.
  const isRgb = !frame.jfif && frame.components.map((c) => c.id).join() === '82,71,66';
  return orient({ width, height, rgb: isRgb ? interleave(planes, width * height) : yccToRgb(planes, width * height) }, frame.orientation);
}

// ---------------------------------------------------------------------------------------------
// Markers: just enough to learn the sampling factors and the colour-space hints

function readFrame(bytes: Uint8Array): Frame {
  let jfif = false;
  let adobe = false;
  let orientation = 1;
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) throw new Error(`expected a marker at byte ${at}, found 0x${bytes[at]!.toString(16)}`);
    const marker = bytes[at + 1]!;
    if (marker === 0xff) { at++; continue; } // fill byte
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { at += 2; continue; }
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    const body = at + 4;
    if (at + 2 + length > bytes.length) throw new Error(`marker 0x${marker.toString(16)} at byte ${at} runs past the end of the file (truncated?)`);
    const tag = (n: number) => String.fromCharCode(...bytes.subarray(body, body + n));
    if (marker === 0xe0 && tag(5) === 'JFIF\0') jfif = true;
    if (marker === 0xee && tag(5) === 'Adobe') adobe = true;
    if (marker === 0xe1 && tag(6) === 'Exif\0\0') orientation = exifOrientation(bytes.subarray(body + 6, at + 2 + length));
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      const height = (bytes[body + 1]! << 8) | bytes[body + 2]!;
      const width = (bytes[body + 3]! << 8) | bytes[body + 4]!;
      const n = bytes[body + 5]!;
      const components = [];
      for (let i = 0; i < n; i++) {
        const s = bytes[body + 7 + i * 3]!;
        components.push({ id: bytes[body + 6 + i * 3]!, h: s >> 4, v: s & 15 });
      }
      if (bytes[body] !== 8) throw new Error(`${bytes[body]}-bit samples are not supported (8-bit only)`);
      if (marker !== 0xc0 && marker !== 0xc1 && marker !== 0xc2) throw new Error(`unsupported JPEG process (SOF marker 0x${marker.toString(16)}: lossless or arithmetic coding)`);
      return { width, height, components, jfif, adobe, orientation };
    }
    if (marker === 0xda || marker === 0xd9) break;
    at += 2 + length;
  }
  throw new Error('no frame header (SOF) before the scan data');
}

/** The Orientation tag of IFD0 in a TIFF-structured EXIF block; 1 when absent or malformed. */
function exifOrientation(tiff: Uint8Array): number {
  if (tiff.length < 8) return 1;
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  const le = tiff[0] === 0x49 && tiff[1] === 0x49; // "II"; "MM" is big-endian
  if (!le && !(tiff[0] === 0x4d && tiff[1] === 0x4d)) return 1;
  const ifd = view.getUint32(4, le);
  if (ifd + 2 > tiff.length) return 1;
  const n = view.getUint16(ifd, le);
  for (let i = 0; i < n && ifd + 2 + i * 12 + 12 <= tiff.length; i++) {
    const e = ifd + 2 + i * 12;
    if (view.getUint16(e, le) !== 0x0112) continue;
    const v = view.getUint16(e + 8, le); // type SHORT, count 1: the value sits in the entry
    return v >= 1 && v <= 8 ? v : 1;
  }
  return 1;
}

/**
 * Applies an EXIF orientation: 2 mirror, 3 rotate 180°, 4 flip, 5 transpose, 6 rotate 90° clockwise,
 * 7 transverse, 8 rotate 90° counter-clockwise. src(X, Y) is the source pixel of output pixel (X, Y).
 */
export function orient(img: RgbImage, orientation: number): RgbImage {
  if (orientation === 1) return img;
  const { width: w, height: h, rgb } = img;
  const swap = orientation >= 5;
  const W = swap ? h : w;
  const H = swap ? w : h;
  const src: (X: number, Y: number) => number = [
    (X: number, Y: number) => Y * w + X,
    (X: number, Y: number) => Y * w + (w - 1 - X),
    (X: number, Y: number) => (h - 1 - Y) * w + (w - 1 - X),
    (X: number, Y: number) => (h - 1 - Y) * w + X,
    (X: number, Y: number) => X * w + Y,
    (X: number, Y: number) => (h - 1 - X) * w + Y,
    (X: number, Y: number) => (h - 1 - X) * w + (w - 1 - Y),
    (X: number, Y: number) => X * w + (w - 1 - Y),
  ][orientation - 1]!;
  const out = new Uint8Array(W * H * 3);
  for (let Y = 0; Y < H; Y++) {
    for (let X = 0; X < W; X++) {
      const s = src(X, Y) * 3;
      const o = (Y * W + X) * 3;
      out[o] = rgb[s]!;
      out[o + 1] = rgb[s + 1]!;
      out[o + 2] = rgb[s + 2]!;
    }
  }
  return { width: W, height: H, rgb: out };
}

// ---------------------------------------------------------------------------------------------
// libjpeg's fancy upsampling (jdsample.c): a triangle filter, weights 3/4 and 1/4 per axis, with
// the alternating +1/+2 (h2v1) and +8/+7 (h2v2) rounding biases. The edges repeat the first/last
// column, and the first/last real row supplies the context above/below the image.

function upsample(src: Uint8Array, dw: number, dh: number, hf: number, vf: number, width: number, height: number): Uint8Array {
  if (hf === 1 && vf === 1) return src;
  const ow = dw * 2; // libjpeg fills whole output groups, then crops to the image width
  const full = new Uint8Array(ow * dh * vf);
  for (let j = 0; j < dh; j++) {
    const row = src.subarray(j * dw, (j + 1) * dw);
    if (vf === 1) {
      const out = full.subarray(j * ow, (j + 1) * ow);
      if (dw > 2) h2v1Fancy(out, row, dw);
      else for (let i = 0; i < ow; i++) out[i] = row[i >> 1]!;
      continue;
    }
    const above = src.subarray(Math.max(j - 1, 0) * dw, Math.max(j - 1, 0) * dw + dw);
    const below = src.subarray(Math.min(j + 1, dh - 1) * dw, Math.min(j + 1, dh - 1) * dw + dw);
    for (let v = 0; v < 2; v++) {
      const out = full.subarray((2 * j + v) * ow, (2 * j + v + 1) * ow);
      if (dw > 2) h2v2Fancy(out, row, v === 0 ? above : below, dw);
      else for (let i = 0; i < ow; i++) out[i] = row[i >> 1]!;
    }
  }
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) out.set(full.subarray(y * ow, y * ow + width), y * width);
  return out;
}

function h2v1Fancy(out: Uint8Array, row: Uint8Array, dw: number): void {
  out[0] = row[0]!;
  out[1] = (row[0]! * 3 + row[1]! + 2) >> 2;
  for (let i = 1; i < dw - 1; i++) {
    const near = row[i]! * 3;
    out[2 * i] = (near + row[i - 1]! + 1) >> 2;
    out[2 * i + 1] = (near + row[i + 1]! + 2) >> 2;
  }
  const last = dw - 1;
  out[2 * last] = (row[last]! * 3 + row[last - 1]! + 1) >> 2;
  out[2 * last + 1] = row[last]!;
}

function h2v2Fancy(out: Uint8Array, near: Uint8Array, far: Uint8Array, dw: number): void {
  const col = (i: number) => near[i]! * 3 + far[i]!; // vertical 3/4–1/4 sums, scaled by 4
  let prev = col(0);
  let cur = prev;
  out[0] = (cur * 4 + 8) >> 4;
  for (let i = 0; i < dw; i++) {
    const next = i + 1 < dw ? col(i + 1) : cur;
    if (i > 0) out[2 * i] = (cur * 3 + prev + 8) >> 4;
    out[2 * i + 1] = i + 1 < dw ? (cur * 3 + next + 7) >> 4 : (cur * 4 + 7) >> 4;
    prev = cur;
    cur = next;
  }
}

// ---------------------------------------------------------------------------------------------
// libjpeg's YCbCr→RGB (jdcolor.c): 16-bit fixed point, tables rounded to nearest, green's two
// terms summed before one arithmetic right shift.

const SCALEBITS = 16;
const ONE_HALF = 1 << (SCALEBITS - 1);
const fix = (x: number) => Math.floor(x * (1 << SCALEBITS) + 0.5);
const CR_R = new Int32Array(256);
const CB_B = new Int32Array(256);
const CR_G = new Int32Array(256);
const CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = (fix(1.402) * x + ONE_HALF) >> SCALEBITS;
  CB_B[i] = (fix(1.772) * x + ONE_HALF) >> SCALEBITS;
  CR_G[i] = -fix(0.71414) * x;
  CB_G[i] = -fix(0.34414) * x + ONE_HALF;
}

const clamp8 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);

function yccToRgb([y, cb, cr]: Uint8Array[], n: number): Uint8Array {
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const Y = y![i]!;
    const b = cb![i]!;
    const r = cr![i]!;
    rgb[i * 3] = clamp8(Y + CR_R[r]!);
    rgb[i * 3 + 1] = clamp8(Y + ((CB_G[b]! + CR_G[r]!) >> SCALEBITS));
    rgb[i * 3 + 2] = clamp8(Y + CB_B[b]!);
  }
  return rgb;
}

function interleave(planes: Uint8Array[], n: number): Uint8Array {
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = planes[c]![i]!;
  return rgb;
}

function channel(data: Uint8Array, width: number, height: number, c: number): Uint8Array {
  const out = new Uint8Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = data[i * 3 + c]!;
  return out;
}
