// NumPy .npy files (format 1.0) for `--dump-logits`: little-endian float32 in C order, readable by
// numpy.load. The reader covers what this project writes plus uint8/int32 (tests, fixtures).
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomic_file.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export type NpyArray =
  | { dtype: '<f4'; shape: number[]; data: Float32Array }
  | { dtype: '<i4'; shape: number[]; data: Int32Array }
  | { dtype: '|u1'; shape: number[]; data: Uint8Array };

/** Serialises a float32 array of `shape` (C order) as .npy 1.0 bytes. */
export function encodeNpy(data: Float32Array, shape: readonly number[]): Uint8Array {
  for (const d of shape) if (!Number.isInteger(d) || d < 0) throw new Error(`encodeNpy: bad shape [${shape.join(', ')}]`);
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`encodeNpy: shape [${shape.join(', ')}] holds ${count} values, data has ${data.length}`);
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${dims}, }`;
  // magic(6) + version(2) + length(2) + header + '\n' is padded with spaces to a multiple of 64.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  if (header.length > 0xffff) throw new Error('encodeNpy: header too long for format 1.0');
  const out = new Uint8Array(total + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  // Host byte order is little-endian on every platform Node and Dawn run on.
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), total);
  return out;
}

/** Writes a float32 .npy file atomically. */
export function writeNpy(path: string, data: Float32Array, shape: readonly number[]): void {
  writeFileAtomic(path, encodeNpy(data, shape));
}

/** Parses .npy bytes (format 1.x/2.x, C order, dtypes '<f4', '<i4', '|u1'). */
export function decodeNpy(bytes: Uint8Array, name = 'npy'): NpyArray {
  if (bytes.length < 10 || !MAGIC.every((b, i) => bytes[i] === b)) throw new Error(`${name}: not a .npy file (bad magic)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6]!;
  if (major < 1 || major > 3) throw new Error(`${name}: unsupported .npy version ${major}.${bytes[7]}`);
  if (major > 1 && bytes.length < 12) throw new Error(`${name}: truncated header`);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > bytes.length) throw new Error(`${name}: truncated header`);
  const header = new TextDecoder('latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new Error(`${name}: cannot parse header ${JSON.stringify(header)}`);
  if (fortran === 'True') throw new Error(`${name}: Fortran-order arrays are not supported`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new Error(`${name}: bad shape (${shapeText.slice(0, 200)})`);
  const count = shape.reduce((a, b) => a * b, 1);
  const dataStart = start + headerLen;
  const size = { '<f4': 4, '<i4': 4, '|u1': 1, '<u1': 1 }[descr];
  if (size === undefined) throw new Error(`${name}: dtype ${descr} is not supported (<f4, <i4, |u1)`);
  if (bytes.length - dataStart !== count * size) throw new Error(`${name}: ${bytes.length - dataStart} data bytes for shape [${shape.join(', ')}] of ${descr}`);
  // A copy (Buffer.slice would be a view into Node's pool), so the typed-array view is aligned.
  const raw = new Uint8Array(bytes.subarray(dataStart)).buffer;
  if (descr === '<f4') return { dtype: '<f4', shape, data: new Float32Array(raw) };
  if (descr === '<i4') return { dtype: '<i4', shape, data: new Int32Array(raw) };
  return { dtype: '|u1', shape, data: new Uint8Array(raw) };
}

export function readNpy(path: string): NpyArray {
  return decodeNpy(readFileSync(path), path);
}
