// JPEG decoding exactly as cv2.imread and PIL do it: libjpeg-turbo's own decoder, compiled to
// WebAssembly (the .wasm file of the npm package @cwasm/jpeg-turbo: libjpeg-turbo 2.0 behind its
// TurboJPEG API, no JavaScript glue). TurboJPEG decodes with libjpeg's defaults, the same as OpenCV's
// and Pillow's: the integer "islow" IDCT, "fancy" (triangle-filter) chroma upsampling and fixed-point
// YCbCr→RGB. So the pixels are bit-exact with cv2's in grey, 4:4:4, 4:2:2, 4:2:0, 4:4:0, 4:1:1,
// progressive and restart-marker files (tests/train/jpeg.test.ts). Arithmetic-coded JPEGs (very rare;
// this build leaves them out) are refused with a clear message.
//
// One decoder for Node and the browser. The module (~140 KB) is compiled once:
//   - Node: synchronously, from the package's .wasm file, on the first decode;
//   - a browser (which refuses synchronous compiles of large modules on its main thread): the page
//     compiles the file its bundle ships and hands the module to useJpegWasm() before decoding.
// Decoding itself is synchronous in both, so the data pipeline stays synchronous.
//
// Like cv2.imread(IMREAD_COLOR), the EXIF orientation tag (APP1, IFD0 tag 0x0112) is applied.
// Unlike cv2, which prints libjpeg's warning and returns grey-filled rows, a truncated or corrupt
// file is refused: training on half a picture would lose data silently.
import type { RgbImage } from './decode.js';

/** The decoder's .wasm file, as a package path (Node resolves it; bundlers copy it as an asset). */
export const JPEG_WASM_SPECIFIER = '@cwasm/jpeg-turbo/jpeg-turbo.wasm';

/**
 * The slice of the WebAssembly JS API used here (the project's lib settings are ES2022 without DOM,
 * and @types/node does not declare it). A compiled module is opaque.
 */
type WasmModule = object;
const Wasm = (globalThis as unknown as {
  WebAssembly: {
    Module: new (bytes: Uint8Array) => WasmModule;
    Instance: new (module: WasmModule, imports: object) => { exports: object };
  };
}).WebAssembly;

/** The TurboJPEG exports of the module (pointers are byte offsets into `memory`). */
interface TurboJpeg {
  memory: { buffer: ArrayBuffer };
  malloc(n: number): number;
  free(p: number): void;
  tjInitDecompress(): number;
  tjDestroy(handle: number): number;
  tjDecompressHeader3(handle: number, src: number, n: number, w: number, h: number, subsamp: number, colorspace: number): number;
  tjDecompress2(handle: number, src: number, n: number, dst: number, w: number, pitch: number, h: number, pixelFormat: number, flags: number): number;
}

const TJPF_RGB = 0;
/** Flags 0: fancy upsampling and the accurate (islow) IDCT, libjpeg's defaults. */
const TJ_DEFAULTS = 0;

let wasmModule: WasmModule | undefined;
let turbo: TurboJpeg | undefined;

/** Gives the decoder its compiled WebAssembly module (the browser's path; Node compiles its own). */
export function useJpegWasm(module: WasmModule): void {
  wasmModule = module;
  turbo = undefined;
}

/** Decodes JPEG bytes to RGB; throws on corrupt, truncated or unsupported data. */
export function decodeJpeg(bytes: Uint8Array): RgbImage {
  const tj = getTurbo();
  let src = 0;
  let info = 0;
  let dst = 0;
  let handle = 0;
  try {
    src = tj.malloc(bytes.length);
    info = tj.malloc(16);
    handle = tj.tjInitDecompress();
    if (!src || !info || !handle) throw new Error('out of WebAssembly memory');
    new Uint8Array(tj.memory.buffer, src, bytes.length).set(bytes);
    if (tj.tjDecompressHeader3(handle, src, bytes.length, info, info + 4, info + 8, info + 12) !== 0) throw new Error(headerProblem(bytes));
    const [width, height] = new Int32Array(tj.memory.buffer, info, 2) as unknown as [number, number];
    dst = tj.malloc(width * height * 3);
    if (!dst) throw new Error(`out of WebAssembly memory for a ${width}×${height} image`);
    if (tj.tjDecompress2(handle, src, bytes.length, dst, width, width * 3, height, TJPF_RGB, TJ_DEFAULTS) !== 0) {
      throw new Error(endsWithEoi(bytes) ? 'libjpeg-turbo reports corrupt data' : 'the file does not end with an EOI marker: truncated?');
    }
    const rgb = new Uint8Array(tj.memory.buffer, dst, width * height * 3).slice();
    return orient({ width, height, rgb }, orientationOf(bytes));
  } catch (e) {
    // libjpeg's error_exit longjmps, which this build turns into a JS exception out of the middle of
    // the decoder: its heap may be inconsistent, so the next decode starts on a fresh instance.
    if (!(e instanceof Error) || e.message === 'longjmp') {
      turbo = undefined;
      throw new Error(unsupported(bytes) ?? (endsWithEoi(bytes) ? 'corrupt JPEG data' : 'corrupt JPEG data; the file does not end with an EOI marker: truncated?'));
    }
    throw e;
  } finally {
    if (turbo === tj) {
      if (handle) tj.tjDestroy(handle);
      for (const p of [src, info, dst]) if (p) tj.free(p);
    }
  }
}

function getTurbo(): TurboJpeg {
  if (turbo) return turbo;
  const module = wasmModule ??= compileFromPackage();
  const fail = (what: string) => () => { throw new Error(`the JPEG decoder called ${what}`); };
  const imports = {
    // setjmp "returns 0" and longjmp throws: libjpeg's error exit becomes a JS exception.
    env: { setjmp: () => 0, longjmp: () => { throw new Error('longjmp'); } },
    wasi_snapshot_preview1: {
      environ_sizes_get: () => 0, environ_get: fail('environ_get'), proc_exit: fail('proc_exit'),
      fd_close: fail('fd_close'), fd_seek: fail('fd_seek'), fd_write: fail('fd_write'),
    },
  };
  turbo = new Wasm.Instance(module, imports).exports as unknown as TurboJpeg;
  return turbo;
}

/** Node: compile the package's .wasm file synchronously. Elsewhere the page must call useJpegWasm. */
function compileFromPackage(): WasmModule {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  if (!proc?.getBuiltinModule) throw new Error('the JPEG decoder has no WebAssembly module: call useJpegWasm() first (browser builds)');
  const fs = proc.getBuiltinModule('node:fs') as typeof import('node:fs');
  const nodeModule = proc.getBuiltinModule('node:module') as typeof import('node:module');
  const path = nodeModule.createRequire(import.meta.url).resolve(JPEG_WASM_SPECIFIER);
  return new Wasm.Module(fs.readFileSync(path));
}

// ---------------------------------------------------------------------------------------------
// Markers: EOI, the frame type, EXIF orientation

function endsWithEoi(bytes: Uint8Array): boolean {
  // Trailing bytes after EOI are common (padding, appended data); look at the last 64 bytes.
  for (let i = bytes.length - 2; i >= Math.max(0, bytes.length - 64); i--) if (bytes[i] === 0xff && bytes[i + 1] === 0xd9) return true;
  return false;
}

/** Why a header would not parse, when the markers tell. */
function headerProblem(bytes: Uint8Array): string {
  return unsupported(bytes) ?? (segments(bytes).some((s) => isSof(s.marker)) ? 'corrupt JPEG header' : 'no frame header (SOF): truncated or not a JPEG image');
}

/** A message for frame types this libjpeg-turbo build does not decode, or undefined. */
function unsupported(bytes: Uint8Array): string | undefined {
  const sof = segments(bytes).find((s) => isSof(s.marker));
  if (!sof) return undefined;
  if (sof.marker >= 0xc9) return `arithmetic-coded JPEG (SOF marker 0x${sof.marker.toString(16)}) is not supported`;
  if (sof.marker === 0xc3) return 'lossless JPEG (SOF marker 0xc3) is not supported';
  return undefined;
}

function isSof(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/** The marker segments before the first scan: marker byte, body offset and end. */
function segments(bytes: Uint8Array): { marker: number; body: number; end: number }[] {
  const out = [];
  let at = 2;
  while (at + 4 <= bytes.length && bytes[at] === 0xff) {
    const marker = bytes[at + 1]!;
    if (marker === 0xff) { at++; continue; } // fill byte
    if (marker === 0xda || marker === 0xd9) break;
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    out.push({ marker, body: at + 4, end: Math.min(at + 2 + length, bytes.length) });
    at += 2 + length;
  }
  return out;
}

/** The EXIF orientation (1–8; 1 when absent). */
function orientationOf(bytes: Uint8Array): number {
  for (const { marker, body, end } of segments(bytes)) {
    const isExif = marker === 0xe1 && end - body >= 6 && String.fromCharCode(...bytes.subarray(body, body + 6)) === 'Exif\0\0';
    if (isExif) return exifOrientation(bytes.subarray(body + 6, end));
  }
  return 1;
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
