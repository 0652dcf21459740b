// safetensors read and write (u64 little-endian header length, JSON header, raw little-endian data).
//
// Reading is strict: every offset must lie inside the file, sizes must match dtype × shape, and a
// truncated or foreign file is an error naming the file and the tensor. Half-precision tensors
// (F16, BF16) are widened to float32. Writing is atomic: a temporary file in the same directory is
// written, fsynced and renamed over the target, so a crash never leaves a half-written file.
import { readFileSync } from 'node:fs';
import { halfToFloat } from '../half.js';
import { writeFileAtomic } from './atomic_file.js';

export type StDtype = 'F32' | 'F16' | 'BF16' | 'I32' | 'I64' | 'F64' | 'U8' | 'I8' | 'BOOL';

const ELEMENT_BYTES: Record<StDtype, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8, F64: 8, U8: 1, I8: 1, BOOL: 1 };

export interface StTensor {
  /** The dtype stored in the file. */
  dtype: StDtype;
  shape: number[];
  /** Float32 for floating dtypes, Int32 for integer ones (I64 checked to fit). */
  data: Float32Array | Int32Array;
}

export { halfToFloat };

/** Decodes raw little-endian bytes of `dtype` into float32 or int32 values. */
export function decodeTensor(bytes: Uint8Array, dtype: StDtype, count: number, what: string): Float32Array | Int32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32': { const out = new Float32Array(count); for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true); return out; }
    case 'F64': { const out = new Float32Array(count); for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true); return out; }
    case 'F16': { const out = new Float32Array(count); for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(2 * i, true)); return out; }
    case 'BF16': {
      const out = new Float32Array(count);
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) u[i] = view.getUint16(2 * i, true) << 16;
      return out;
    }
    case 'I32': { const out = new Int32Array(count); for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, true); return out; }
    case 'I64': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const v = view.getBigInt64(8 * i, true);
        if (v > 2147483647n || v < -2147483648n) throw new Error(`${what}: int64 value ${v} at ${i} does not fit int32`);
        out[i] = Number(v);
      }
      return out;
    }
    case 'U8': case 'BOOL': { const out = new Int32Array(count); for (let i = 0; i < count; i++) out[i] = bytes[i]!; return out; }
    case 'I8': { const out = new Int32Array(count); for (let i = 0; i < count; i++) out[i] = view.getInt8(i); return out; }
  }
}

/** Reads every tensor of a safetensors file. */
export function readSafetensors(path: string): Map<string, StTensor> {
  let file: Buffer;
  try { file = readFileSync(path); } catch (e) { throw new Error(`${path}: cannot read (${(e as Error).message})`); }
  return parseSafetensors(new Uint8Array(file.buffer, file.byteOffset, file.byteLength), path);
}

/** The string metadata (`__metadata__`) of a safetensors file; {} when it has none. */
export function readSafetensorsMetadata(path: string): Record<string, string> {
  let file: Buffer;
  try { file = readFileSync(path); } catch (e) { throw new Error(`${path}: cannot read (${(e as Error).message})`); }
  const { header } = parseHeader(new Uint8Array(file.buffer, file.byteOffset, file.byteLength), path);
  return (header.__metadata__ as Record<string, string> | undefined) ?? {};
}

function parseHeader(file: Uint8Array, path: string): { header: Record<string, any>; headerLen: number } {
  if (file.byteLength < 8) throw new Error(`${path}: not a safetensors file (${file.byteLength} bytes, no header)`);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > file.byteLength - 8 || headerLen > 100_000_000) {
    throw new Error(`${path}: not a safetensors file or truncated (header length ${headerLen}, file ${file.byteLength} bytes)`);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + headerLen)));
  } catch {
    throw new Error(`${path}: not a safetensors file (header is not JSON)`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new Error(`${path}: not a safetensors file (header is not a JSON object)`);
  return { header: header as Record<string, any>, headerLen };
}

export function parseSafetensors(file: Uint8Array, path: string): Map<string, StTensor> {
  const parsed = parseHeader(file, path);
  const header = parsed.header as Record<string, { dtype: StDtype; shape: number[]; data_offsets: [number, number] }>;
  const headerLen = parsed.headerLen;
  const data = file.subarray(8 + headerLen);
  const out = new Map<string, StTensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const what = `${path}: tensor ${name}`;
    if (!info || typeof info !== 'object' || !Object.hasOwn(ELEMENT_BYTES, info.dtype)) throw new Error(`${what}: unsupported dtype ${String(info?.dtype)}`);
    if (!Array.isArray(info.shape) || info.shape.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`${what}: bad shape ${JSON.stringify(info.shape)?.slice(0, 200)}`);
    const offsets: unknown = info.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o))) throw new Error(`${what}: data_offsets ${JSON.stringify(offsets)?.slice(0, 200)} is not [start, end]`);
    const [start, end] = offsets as [number, number];
    const count = info.shape.reduce((a, b) => a * b, 1);
    if (!(start >= 0 && end >= start)) throw new Error(`${what}: bad data offsets [${start}, ${end}]`);
    if (end > data.byteLength) throw new Error(`${what}: data [${start}, ${end}) lies beyond the end of the file (truncated? ${data.byteLength} data bytes)`);
    if (end - start !== count * ELEMENT_BYTES[info.dtype]) throw new Error(`${what}: ${end - start} bytes for ${info.dtype}[${info.shape.join(', ')}]`);
    out.set(name, { dtype: info.dtype, shape: info.shape, data: decodeTensor(data.subarray(start, end), info.dtype, count, what) });
  }
  return out;
}

export interface StWrite { shape: readonly number[]; data: Float32Array | Int32Array }

/** Serialises tensors (F32 or I32 by array type) into safetensors bytes, names sorted. */
export function encodeSafetensors(tensors: Map<string, StWrite> | Record<string, StWrite>, metadata?: Record<string, string>): Uint8Array {
  const entries = (tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of entries) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`safetensors: tensor ${name} has ${t.data.length} values for shape [${t.shape.join(', ')}]`);
    header[name] = { dtype: t.data instanceof Float32Array ? 'F32' : 'I32', shape: [...t.shape], data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  if (metadata) header.__metadata__ = metadata;
  let text = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (text.byteLength % 8)) % 8;
  if (pad) text = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(pad));
  const out = new Uint8Array(8 + text.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.byteLength), true);
  out.set(text, 8);
  let at = 8 + text.byteLength;
  for (const [, t] of entries) {
    // Host byte order is little-endian on every platform Dawn supports.
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

export function writeSafetensors(path: string, tensors: Map<string, StWrite> | Record<string, StWrite>, metadata?: Record<string, string>): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
