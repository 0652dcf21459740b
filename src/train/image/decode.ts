// Image files in and out: JPEG and PNG images decoded to 8-bit RGB as OpenCV's
// cv2.imread(path, IMREAD_COLOR) + BGR→RGB gives them to the official loaders, label maps as 8-bit
// class ids, and PNG writing for `npm run predict`.
//
// Dependencies (no native build, nothing downloaded at install, no transitive deps):
//   pngjs             — PNG decode/encode (all colour types, bit depths 1–16, interlacing), zlib from Node.
//   @cwasm/jpeg-turbo — libjpeg-turbo's decoder in WebAssembly (./jpeg.ts): cv2.imread's pixels.
//
// What reading means, per PNG colour type (OpenCV's rules, through libpng):
//   image  grey 1/2/4-bit → scaled to 0..255 (×255/(2^d−1)); 16-bit → high byte; alpha dropped,
//          not composited; palette → the palette's RGB; tRNS ignored.
//   labels grey → value (same scaling rules); grey+alpha → grey; palette → the palette INDEX (the
//          official code would read a palette PNG's colours as grey; the datasets ship plain grey);
//          RGB(A) → accepted only when R = G = B everywhere. JPEG labels are refused (lossy).
import { readFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import { writeFileAtomic } from '../../runtime/formats/safetensors.js';
import { decodeJpeg } from './jpeg.js';

/** An 8-bit RGB image, row-major (H, W, 3). */
export interface RgbImage {
  width: number;
  height: number;
  rgb: Uint8Array;
}

/** A label map of class ids, row-major (H, W). */
export interface LabelMap {
  width: number;
  height: number;
  data: Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// Reading

export function readImage(path: string): RgbImage {
  return decodeImage(readBytes(path), path);
}

export function readLabelMap(path: string): LabelMap {
  return decodeLabelMap(readBytes(path), path);
}

/** Decodes PNG or JPEG bytes; `name` (the file) prefixes every error. */
export function decodeImage(bytes: Uint8Array, name: string): RgbImage {
  const kind = sniff(bytes);
  if (kind === 'jpeg') {
    checkJpegSize(bytes, name);
    try {
      return decodeJpeg(bytes);
    } catch (e) {
      throw new Error(`${name}: cannot decode JPEG: ${(e as Error).message}`);
    }
  }
  if (kind !== 'png') throw new Error(`${name}: unsupported image format (not PNG or JPEG; starts with ${hexStart(bytes)})`);
  checkPngSize(bytes, name);
  const png = parsePng(withoutChunk(bytes, 'tRNS', name), name);
  const { width, height } = png;
  const rgb = new Uint8Array(width * height * 3);
  const to8 = png.colorType === 3 ? (v: number) => v : depthTo8(png.depth);
  for (let i = 0, n = width * height; i < n; i++) {
    rgb[i * 3] = to8(png.data[i * 4]!);
    rgb[i * 3 + 1] = to8(png.data[i * 4 + 1]!);
    rgb[i * 3 + 2] = to8(png.data[i * 4 + 2]!);
  }
  return { width, height, rgb };
}

export function decodeLabelMap(bytes: Uint8Array, name: string): LabelMap {
  const kind = sniff(bytes);
  if (kind === 'jpeg') throw new Error(`${name}: label maps must be PNG (JPEG is lossy and would corrupt class ids)`);
  if (kind !== 'png') throw new Error(`${name}: unsupported label map format (not PNG; starts with ${hexStart(bytes)})`);
  checkPngSize(bytes, name);
  let src = withoutChunk(bytes, 'tRNS', name);
  const colorType = src[25];
  // Palette: replace the palette by the grey ramp i → (i, i, i), so that de-palettised red = index.
  if (colorType === 3) src = withIdentityPalette(src, name);
  const png = parsePng(src, name);
  const { width, height } = png;
  const data = new Uint8Array(width * height);
  const to8 = png.colorType === 3 ? (v: number) => v : depthTo8(png.depth);
  const colour = png.colorType === 2 || png.colorType === 6;
  for (let i = 0, n = width * height; i < n; i++) {
    const r = png.data[i * 4]!;
    if (colour && (png.data[i * 4 + 1] !== r || png.data[i * 4 + 2] !== r)) {
      throw new Error(`${name}: label map is a colour PNG with R≠G≠B at pixel (${i % width}, ${Math.floor(i / width)}); expected 8-bit grey or palette`);
    }
    data[i] = to8(r);
  }
  return { width, height, data };
}

// ---------------------------------------------------------------------------------------------
// Writing

export type PngImage = { width: number; height: number; rgb: Uint8Array } | { width: number; height: number; gray: Uint8Array };

/** Encodes 8-bit RGB (colour type 2) or grey (colour type 0) as PNG. */
export function encodePng(img: PngImage): Uint8Array {
  const { width, height } = img;
  const rgb = 'rgb' in img;
  const data = rgb ? img.rgb : img.gray;
  const channels = rgb ? 3 : 1;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw new Error(`encodePng: bad size ${width}×${height}`);
  if (data.length !== width * height * channels) {
    throw new Error(`encodePng: ${rgb ? 'rgb' : 'gray'} has ${data.length} bytes, expected ${width}×${height}×${channels} = ${width * height * channels}`);
  }
  const colorType = rgb ? 2 : 0;
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const png = { width, height, data: buf, gamma: 0 } as unknown as PNG;
  return PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: false, bitDepth: 8 });
}

/** Writes a PNG atomically (temp file + rename): a reader never sees half a file. */
export function writePng(path: string, img: PngImage): void {
  writeFileAtomic(path, encodePng(img));
}

// ---------------------------------------------------------------------------------------------
// PNG chunk plumbing

interface DecodedPng {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  /** RGBA per pixel: 8-bit values, or raw samples for depth 16 and for grey depths < 8. */
  data: ArrayLike<number>;
}

function parsePng(bytes: Uint8Array, name: string): DecodedPng {
  try {
    // skipRescale: 16-bit samples stay 16-bit and grey 1/2/4-bit stay raw; depthTo8 applies
    // OpenCV's rules (pngjs would round 16-bit to the nearest 8-bit value instead of truncating).
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const m = PNG.sync.read(buf, { skipRescale: true }) as unknown as DecodedPng;
    if (m.data.length !== m.width * m.height * 4) throw new Error(`decoded ${m.data.length} samples for ${m.width}×${m.height}`);
    return m;
  } catch (e) {
    throw new Error(`${name}: cannot decode PNG: ${(e as Error).message}`);
  }
}

/** OpenCV/libpng reduction of one sample to 8 bits. */
function depthTo8(depth: number): (v: number) => number {
  if (depth === 8) return (v) => v;
  if (depth === 16) return (v) => v >> 8;
  const scale = 255 / ((1 << depth) - 1); // 255, 85, 17: exact bit replication
  return (v) => v * scale;
}

interface Chunk {
  type: string;
  /** Offset of the chunk's length field, and the chunk's data length. */
  at: number;
  length: number;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function chunks(bytes: Uint8Array, name: string): Chunk[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Chunk[] = [];
  let at = 8;
  while (at + 12 <= bytes.length) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!, bytes[at + 6]!, bytes[at + 7]!);
    if (at + 12 + length > bytes.length) throw new Error(`${name}: cannot decode PNG: chunk ${JSON.stringify(type)} at byte ${at} runs past the end of the file (truncated?)`);
    out.push({ type, at, length });
    at += 12 + length;
    if (type === 'IEND') break;
  }
  return out;
}

function withoutChunk(bytes: Uint8Array, type: string, name: string): Uint8Array {
  const list = chunks(bytes, name);
  const drop = list.filter((c) => c.type === type);
  if (drop.length === 0) return bytes;
  const parts: Uint8Array[] = [bytes.subarray(0, 8)];
  for (const c of list) if (c.type !== type) parts.push(bytes.subarray(c.at, c.at + 12 + c.length));
  return Buffer.concat(parts);
}

function withIdentityPalette(bytes: Uint8Array, name: string): Uint8Array {
  const plte = chunks(bytes, name).find((c) => c.type === 'PLTE');
  if (!plte) throw new Error(`${name}: cannot decode PNG: palette image without a PLTE chunk`);
  const out = Uint8Array.from(bytes);
  const data = out.subarray(plte.at + 8, plte.at + 8 + plte.length);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(i / 3);
  new DataView(out.buffer).setUint32(plte.at + 8 + plte.length, crc32(out.subarray(plte.at + 4, plte.at + 8 + plte.length)));
  return out;
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (ISO-HDLC, as PNG and zlib use). */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Helpers

function readBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Declared sizes the data cannot fill: refused before the decoders allocate width × height
// (a 100-byte file claiming 30000 × 30000 pixels made pngjs allocate 8 GB and run for minutes).

/** Deflate's largest expansion: 258 bytes per 2-bit code (zlib's figure, 1032:1) and a margin. */
const DEFLATE_MAX_RATIO = 1033;

function checkPngSize(bytes: Uint8Array, name: string): void {
  const list = chunks(bytes, name);
  const ihdr = list[0];
  if (!ihdr || ihdr.type !== 'IHDR' || ihdr.length < 13) throw new Error(`${name}: cannot decode PNG: the first chunk is not IHDR`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = view.getUint32(ihdr.at + 8);
  const height = view.getUint32(ihdr.at + 12);
  const depth = bytes[ihdr.at + 16]!;
  const channels = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[bytes[ihdr.at + 17]!] ?? 1;
  // the filtered pixel stream holds at least width·height·channels·depth bits, interlaced or not
  const pixelBytes = Math.ceil((width * height * channels * depth) / 8);
  const idat = list.reduce((a, c) => a + (c.type === 'IDAT' ? c.length : 0), 0);
  if (pixelBytes > DEFLATE_MAX_RATIO * idat + 64) {
    throw new Error(`${name}: cannot decode PNG: ${width}×${height} pixels need ${pixelBytes} bytes of image data, more than its ${idat} compressed bytes can hold (corrupt header or truncated file)`);
  }
}

/** Each 8×8 block of the first component costs at least one bit (its DC code), in any JPEG mode. */
function checkJpegSize(bytes: Uint8Array, name: string): void {
  for (let at = 2; at + 9 <= bytes.length;) {
    if (bytes[at] !== 0xff) return;                        // not at a marker: the decoder reports it
    const marker = bytes[at + 1]!;
    if (marker === 0xff) { at++; continue; }                // fill byte
    const len = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    const sof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (sof) {
      const height = (bytes[at + 5]! << 8) | bytes[at + 6]!;
      const width = (bytes[at + 7]! << 8) | bytes[at + 8]!;
      const blocks = Math.ceil(width / 8) * Math.ceil(height / 8);
      if (blocks > 8 * bytes.length) {
        throw new Error(`${name}: cannot decode JPEG: ${width}×${height} pixels need at least ${blocks} coded blocks, more than its ${bytes.length} bytes can hold (corrupt header or truncated file)`);
      }
      return;
    }
    if (marker === 0xda || marker === 0xd9) return;         // scan data before any frame header
    at += 2 + len;
  }
}

function sniff(bytes: Uint8Array): 'png' | 'jpeg' | undefined {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return undefined;
}

function hexStart(bytes: Uint8Array): string {
  if (bytes.length === 0) return 'nothing: the file is empty';
  return Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
}
