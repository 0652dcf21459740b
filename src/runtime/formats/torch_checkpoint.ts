// PyTorch checkpoints (the zip format torch.save has written since 1.6), read and written without
// Python: zip.ts parses the archive, pickle.ts interprets `<archive>/data.pkl`, and this file turns
// torch's globals into tensors. Storages live in `<archive>/data/<key>`, raw little-endian.
//
// Reading is strict like safetensors.ts: a foreign, truncated or inconsistent file is an error naming
// the file and what is wrong. Tensors come back as float32 (float16/bfloat16/float64 converted) or
// int32 (int64 range-checked, uint8/int8/int16/bool widened), gathered to contiguous row-major order.
// For a large checkpoint, `keys` keeps only some top-level entries (`state_dict_backbone`) and only
// their tensors are decoded; `lazy` defers decoding each tensor to its first `.data` access.
//
// Writing produces what torch.load (1.13, 2.x, also weights_only=True) reads: stored entries with
// 64-byte aligned data, `archive/data.pkl` (protocol 2), `archive/byteorder`, `archive/data/<n>`,
// `archive/version` = 3; tensors via torch._utils._rebuild_tensor_v2 with legacy storage types
// (FloatStorage, LongStorage, ...); Maps as collections.OrderedDict.
import { readFileSync } from 'node:fs';
import { decodeTensor, writeFileAtomic, type StDtype } from './safetensors.js';
import { describe, encodePickle, PyDict, PyGlobal, PyObject, PyPersistent, PyTuple, unpickle, type PyHostValue, type PyValue } from './pickle.js';
import { encodeZip, ZipReader, type ZipBytes } from './zip.js';

export { PyDict, PyFloat, PyGlobal, PyObject, PyTuple } from './pickle.js';
export type TorchValue = PyValue;

export type TorchDtype = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

interface DtypeInfo { bytes: number; st: StDtype | null; legacy: string; float: boolean }
const DTYPES: Record<TorchDtype, DtypeInfo> = {
  float32: { bytes: 4, st: 'F32', legacy: 'FloatStorage', float: true },
  float16: { bytes: 2, st: 'F16', legacy: 'HalfStorage', float: true },
  bfloat16: { bytes: 2, st: 'BF16', legacy: 'BFloat16Storage', float: true },
  float64: { bytes: 8, st: 'F64', legacy: 'DoubleStorage', float: true },
  int64: { bytes: 8, st: 'I64', legacy: 'LongStorage', float: false },
  int32: { bytes: 4, st: 'I32', legacy: 'IntStorage', float: false },
  int16: { bytes: 2, st: null, legacy: 'ShortStorage', float: false },
  int8: { bytes: 1, st: 'I8', legacy: 'CharStorage', float: false },
  uint8: { bytes: 1, st: 'U8', legacy: 'ByteStorage', float: false },
  bool: { bytes: 1, st: 'BOOL', legacy: 'BoolStorage', float: false },
};
// torch.<name> dtype globals (torch >= 2 may name a storage's dtype this way) and their aliases.
const DTYPE_GLOBALS: Record<string, TorchDtype> = {
  float32: 'float32', float: 'float32', float16: 'float16', half: 'float16', bfloat16: 'bfloat16', float64: 'float64',
  double: 'float64', int64: 'int64', long: 'int64', int32: 'int32', int: 'int32', int16: 'int16', short: 'int16',
  int8: 'int8', uint8: 'uint8', bool: 'bool',
};
const LEGACY_STORAGES = new Map(Object.entries(DTYPES).map(([d, i]) => [i.legacy, d as TorchDtype]));

/** One storage blob of the archive, decoded on demand. */
class Storage implements PyHostValue {
  readonly hostKind = 'storage';
  constructor(readonly dtype: TorchDtype, readonly key: string, readonly location: string, readonly numel: number,
    readonly bytes: () => Uint8Array) {}
}

interface TensorSource { storage: Storage; offset: number; stride: number[] }

/** A tensor: `dtype` is the stored dtype; `data` holds float32 for floating dtypes, int32 for integer ones. */
export class TorchTensor implements PyHostValue {
  readonly hostKind = 'tensor';
  requiresGrad = false;
  /** Saved as torch.nn.Parameter. */
  parameter = false;
  private values: Float32Array | Int32Array | null;
  private source: TensorSource | null;

  constructor(readonly dtype: TorchDtype, readonly shape: number[], data: Float32Array | Int32Array | TensorSource, readonly what = 'tensor') {
    if ('storage' in data) { this.values = null; this.source = data; } else { this.values = data; this.source = null; }
  }

  get numel(): number { return this.shape.reduce((a, b) => a * b, 1); }
  /** True until `data` has been decoded from the archive. */
  get lazy(): boolean { return this.values === null; }

  get data(): Float32Array | Int32Array {
    if (this.values === null) {
      this.values = gather(this, this.source!);
      this.source = null; // drops the reference to the archive's bytes
    }
    return this.values;
  }
}

/** Makes a tensor to write; `dtype` defaults to float32 for Float32Array and int32 for Int32Array. */
export function torchTensor(shape: readonly number[], data: Float32Array | Int32Array,
  opts: { dtype?: TorchDtype; parameter?: boolean; requiresGrad?: boolean } = {}): TorchTensor {
  const dtype = opts.dtype ?? (data instanceof Float32Array ? 'float32' : 'int32');
  if (DTYPES[dtype].float !== (data instanceof Float32Array)) throw new Error(`torchTensor: ${dtype} data must be a ${DTYPES[dtype].float ? 'Float32Array' : 'Int32Array'}`);
  const t = new TorchTensor(dtype, [...shape], data);
  if (t.numel !== data.length) throw new Error(`torchTensor: ${data.length} values for shape [${shape.join(', ')}]`);
  t.parameter = opts.parameter ?? false;
  t.requiresGrad = opts.requiresGrad ?? t.parameter;
  return t;
}

function gather(t: TorchTensor, src: TensorSource): Float32Array | Int32Array {
  const info = DTYPES[t.dtype];
  const count = t.numel;
  const bytes = src.storage.bytes();
  const contiguous = isContiguous(t.shape, src.stride);
  let raw: Uint8Array;
  if (contiguous) {
    raw = bytes.subarray(src.offset * info.bytes, (src.offset + count) * info.bytes);
  } else {
    raw = new Uint8Array(count * info.bytes);
    const idx = new Array<number>(t.shape.length).fill(0);
    let at = src.offset;
    for (let i = 0; i < count; i++) {
      raw.set(bytes.subarray(at * info.bytes, (at + 1) * info.bytes), i * info.bytes);
      for (let d = t.shape.length - 1; d >= 0; d--) {
        at += src.stride[d]!;
        if (++idx[d]! < t.shape[d]!) break;
        at -= src.stride[d]! * t.shape[d]!;
        idx[d] = 0;
      }
    }
  }
  if (info.st === 'F32' || info.st === 'I32') {
    // Host byte order is little-endian; copying into a fresh buffer also aligns it.
    const out = info.st === 'F32' ? new Float32Array(count) : new Int32Array(count);
    new Uint8Array(out.buffer).set(raw);
    return out;
  }
  if (info.st) return decodeTensor(raw, info.st, count, t.what);
  const out = new Int32Array(count); // int16
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let i = 0; i < count; i++) out[i] = view.getInt16(2 * i, true);
  return out;
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expect = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expect) return false;
    expect *= shape[d]!;
  }
  return true;
}

// ---- reader

export interface TorchReadOptions {
  /** Keep only these top-level keys of the checkpoint's dict (error if one is missing). */
  keys?: readonly string[];
  /** Decode each tensor on first `.data` access instead of before returning (keeps the file's bytes alive). */
  lazy?: boolean;
}

/** Reads a torch.save checkpoint. */
export function readTorchCheckpoint(path: string, opts: TorchReadOptions = {}): TorchValue {
  let file: Buffer;
  try { file = readFileSync(path); } catch (e) { throw new Error(`${path}: cannot read (${(e as Error).message})`); }
  return parseTorchCheckpoint(new Uint8Array(file.buffer, file.byteOffset, file.byteLength), path, opts);
}

export function parseTorchCheckpoint(file: ZipBytes, path: string, opts: TorchReadOptions = {}): TorchValue {
  const head = file.subarray(0, 9);
  if (head.byteLength >= 2 && head[0] === 0x80 && head[1]! <= 5) {
    throw new Error(`${path}: legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it with torch >= 1.6`);
  }
  if (head.byteLength >= 9 && head[8] === 0x7b && head[0] !== 0x50) {
    throw new Error(`${path}: not a torch checkpoint: this looks like a safetensors file (use readSafetensors)`);
  }
  const zip = new ZipReader(file, path);
  const pkl = [...zip.entries.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (!pkl) throw new Error(`${path}: not a torch checkpoint: the zip has no <archive>/data.pkl (entries: ${[...zip.entries.keys()].slice(0, 8).join(', ') || 'none'})`);
  const dir = pkl.slice(0, -'data.pkl'.length);
  const text = (name: string): string | null => (zip.entries.has(dir + name) ? new TextDecoder().decode(zip.read(dir + name)).trim() : null);
  const byteorder = text('byteorder');
  if (byteorder === 'big') throw new Error(`${path}: big-endian archive (${dir}byteorder = big) is not supported`);
  if (byteorder !== null && byteorder !== 'little') throw new Error(`${path}: ${dir}byteorder is '${byteorder}', expected 'little'`);
  const version = text('version') ?? text('.data/version');
  if (version !== null && !/^\d+$/.test(version)) throw new Error(`${path}: ${dir}version is '${version}', not a number`);

  const storages = new Map<string, Storage>();
  const what = `${path}: ${pkl}`;
  const root = unpickle(zip.read(pkl), what, {
    persistentLoad: (pid) => loadStorage(pid, zip, dir, storages, what),
    call: (name, args) => callGlobal(name, args, what),
  });
  let out = root;
  if (opts.keys) {
    if (!(root instanceof PyDict)) throw new Error(`${path}: keys ${opts.keys.join(', ')} asked for, but the checkpoint is ${describe(root)}, not a dict`);
    const kept = new PyDict();
    kept.ordered = root.ordered;
    for (const k of opts.keys) {
      if (!root.has(k)) throw new Error(`${path}: no top-level key '${k}' (keys: ${[...root.keys()].map(String).join(', ')})`);
      kept.set(k, root.get(k)!);
    }
    out = kept;
  }
  if (!opts.lazy) {
    try {
      forEachTensor(out, (t) => void t.data);
    } catch (e) {
      const msg = (e as Error).message;
      throw msg.startsWith(path) ? e : new Error(`${path}: ${msg}`);
    }
  }
  return out;
}

function loadStorage(pid: PyValue, zip: ZipReader, dir: string, storages: Map<string, Storage>, what: string): Storage {
  const items = pid instanceof PyTuple ? pid.items : [];
  if (items[0] !== 'storage' || items.length !== 5) throw new Error(`${what}: unsupported persistent id ${describe(pid)} (expected ('storage', type, key, location, numel))`);
  const [, type, key, location, numel] = items;
  if (typeof key !== 'string' || typeof location !== 'string' || typeof numel !== 'number' || !(type instanceof PyGlobal)) {
    throw new Error(`${what}: malformed storage persistent id (type ${describe(type)}, key ${describe(key)}, location ${describe(location)}, numel ${describe(numel)})`);
  }
  const dtype = storageDtype(type.global);
  if (!dtype) throw new Error(`${what}: storage ${key} has unsupported type ${type.global}`);
  const known = storages.get(key);
  if (known) {
    if (known.dtype !== dtype) throw new Error(`${what}: storage ${key} is used both as ${known.dtype} and ${dtype}`);
    return known;
  }
  const name = `${dir}data/${key}`;
  const entry = zip.entries.get(name);
  if (!entry) throw new Error(`${zip.path}: storage entry ${name} is missing`);
  const nbytes = numel * DTYPES[dtype].bytes;
  if (entry.size < nbytes) throw new Error(`${zip.path}: storage entry ${name} has ${entry.size} bytes, expected ${nbytes} (${dtype} × ${numel})`);
  // location may be 'cuda:0' etc.; everything is mapped to host memory.
  let bytes: Uint8Array | null = null;
  const s = new Storage(dtype, key, location, numel, () => (bytes ??= zip.read(name)));
  storages.set(key, s);
  return s;
}

function storageDtype(global: string): TorchDtype | null {
  const name = global.slice(global.lastIndexOf('.') + 1);
  const mod = global.slice(0, global.lastIndexOf('.'));
  if (!['torch', 'torch.cuda', 'torch.storage'].includes(mod)) return null;
  if (name === 'UntypedStorage' || name === '_UntypedStorage') return 'uint8'; // numel counts bytes
  return LEGACY_STORAGES.get(name) ?? (mod === 'torch' ? DTYPE_GLOBALS[name] ?? null : null);
}

function callGlobal(name: string, args: PyValue[], what: string): PyValue | undefined {
  switch (name) {
    case 'torch._utils._rebuild_tensor':
    case 'torch._utils._rebuild_tensor_v2':
    case 'torch._utils._rebuild_tensor_v3': {
      const [storage, offset, size, stride, requiresGrad] = args;
      let dtype = storage instanceof Storage ? storage.dtype : null;
      if (name.endsWith('_v3')) {
        const d = args[6];
        dtype = d instanceof PyGlobal && d.global.startsWith('torch.') ? DTYPE_GLOBALS[d.global.slice(6)] ?? null : null;
        if (!dtype) throw new Error(`${what}: ${name} with unsupported dtype ${describe(d)}`);
      }
      if (!(storage instanceof Storage) || !dtype) throw new Error(`${what}: ${name} expects a storage, got ${describe(storage)}`);
      const shape = intTuple(size, `${name} size`, what);
      const strides = intTuple(stride, `${name} stride`, what);
      if (typeof offset !== 'number' || offset < 0 || strides.length !== shape.length) throw new Error(`${what}: ${name}: bad offset ${String(offset)} or stride rank`);
      const t = new TorchTensor(dtype, shape, { storage, offset, stride: strides }, `${what}: tensor on storage ${storage.key}`);
      // A storage viewed as another dtype (v3 on untyped bytes) is counted in bytes.
      const elems = Math.floor((storage.numel * DTYPES[storage.dtype].bytes) / DTYPES[dtype].bytes);
      const last = shape.some((d) => d === 0) ? offset : offset + shape.reduce((a, d, i) => a + (d - 1) * strides[i]!, 0);
      if (last >= elems && !(shape.some((d) => d === 0))) {
        throw new Error(`${what}: tensor [${shape.join(', ')}] with offset ${offset} and stride [${strides.join(', ')}] reaches element ${last}, beyond storage ${storage.key} (${elems} elements): offset out of range`);
      }
      t.requiresGrad = requiresGrad === true;
      return t;
    }
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state': {
      const [t, requiresGrad] = args;
      if (!(t instanceof TorchTensor)) throw new Error(`${what}: ${name} expects a tensor, got ${describe(t)}`);
      t.parameter = true;
      t.requiresGrad = requiresGrad === true;
      return t;
    }
    case 'torch._tensor._rebuild_from_type_v2': {
      // (func, new_type, args, state): rebuilds a tensor subclass; only the tensor is kept.
      const [fn, type, inner] = args;
      if (!(fn instanceof PyGlobal) || !(inner instanceof PyTuple)) return undefined;
      const t = callGlobal(fn.global, inner.items, what);
      if (t instanceof TorchTensor && type instanceof PyGlobal && type.global === 'torch.nn.parameter.Parameter') t.parameter = true;
      return t;
    }
  }
  return undefined;
}

function intTuple(v: PyValue | undefined, label: string, what: string): number[] {
  const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : null;
  if (!items || items.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < 0)) throw new Error(`${what}: ${label} is ${describe(v)}, not a tuple of non-negative ints`);
  return items as number[];
}

/** Nesting deeper than this is refused: a checkpoint nests a few levels; a hostile pickle can nest
 *  millions (the walk recurses, and each level's path is a string). */
export const MAX_NESTING = 1000;

/** Visits every tensor under `v` (dict values, list and tuple items, opaque objects' args and state). */
export function forEachTensor(v: PyValue | undefined, fn: (t: TorchTensor, path: string) => void, path = ''): void {
  const seen = new Set<object>();
  const walk = (x: PyValue | undefined, p: string, depth = 0): void => {
    if (x === null || typeof x !== 'object' || seen.has(x)) return;
    if (depth > MAX_NESTING) throw new Error(`values nested deeper than ${MAX_NESTING} levels (at ${p.slice(0, 60)}…)`);
    seen.add(x);
    const d = depth + 1;
    if (x instanceof TorchTensor) fn(x, p);
    else if (x instanceof Map) for (const [k, y] of x) walk(y, p ? `${p}.${String(k)}` : String(k), d);
    else if (Array.isArray(x)) x.forEach((y, i) => walk(y, p ? `${p}.${i}` : String(i), d));
    else if (x instanceof PyTuple) x.items.forEach((y, i) => walk(y, p ? `${p}.${i}` : String(i), d));
    else if (x instanceof PyObject) { x.args.forEach((y, i) => walk(y, `${p}(${i})`, d)); walk(x.state, `${p}.state`, d); walk(x.dictItems, p, d); walk(x.listItems, p, d); }
  };
  walk(v, path);
}

// ---- writer

export interface TorchWriteOptions { zip64?: boolean }

/** Serialises a checkpoint into torch.save's zip format. Values: see PyValue; tensors are TorchTensor. */
export function encodeTorchCheckpoint(value: TorchValue | Record<string, unknown>, opts: TorchWriteOptions = {}): Uint8Array {
  const blobs: Uint8Array[] = [];
  const keys = new Map<Float32Array | Int32Array, Map<TorchDtype, string>>();
  const pkl = encodePickle(value, {
    replace: (v) => {
      if (!(v instanceof TorchTensor)) return undefined;
      const data = v.data;
      const info = DTYPES[v.dtype];
      if (info.float !== (data instanceof Float32Array)) throw new Error(`writeTorchCheckpoint: ${v.what} is ${v.dtype} but holds a ${data.constructor.name}`);
      if (data.length !== v.numel) throw new Error(`writeTorchCheckpoint: ${v.what} has ${data.length} values for shape [${v.shape.join(', ')}]`);
      // Tensors sharing one array (and dtype) share one storage, as tied weights do in torch.
      const byDtype = keys.get(data) ?? new Map<TorchDtype, string>();
      keys.set(data, byDtype);
      let key = byDtype.get(v.dtype);
      if (key === undefined) {
        key = String(blobs.length);
        byDtype.set(v.dtype, key);
        blobs.push(encodeValues(data, v.dtype));
      }
      const strides = v.shape.map((_, i) => v.shape.slice(i + 1).reduce((a, b) => a * b, 1));
      const pid = new PyPersistent(new PyTuple(['storage', new PyGlobal(`torch.${info.legacy}`), key, 'cpu', data.length]));
      const hooks = (): PyDict => { const d = new PyDict(); d.ordered = true; return d; };
      const tensor = new PyObject('torch._utils._rebuild_tensor_v2', [pid, 0, new PyTuple(v.shape), new PyTuple(strides), v.parameter ? false : v.requiresGrad, hooks()]);
      return v.parameter ? new PyObject('torch._utils._rebuild_parameter', [tensor, v.requiresGrad, hooks()]) : tensor;
    },
  });
  const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
  return encodeZip([
    { name: 'archive/data.pkl', data: pkl },
    { name: 'archive/byteorder', data: enc('little') },
    ...blobs.map((data, i) => ({ name: `archive/data/${i}`, data })),
    { name: 'archive/version', data: enc('3\n') },
  ], { align: 64, zip64: opts.zip64 ?? false });
}

/** Writes a checkpoint atomically (temp file, fsync, rename). */
export function writeTorchCheckpoint(path: string, value: TorchValue | Record<string, unknown>, opts: TorchWriteOptions = {}): void {
  writeFileAtomic(path, encodeTorchCheckpoint(value, opts));
}

function encodeValues(data: Float32Array | Int32Array, dtype: TorchDtype): Uint8Array {
  const n = data.length;
  const bytes = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const range = (lo: number, hi: number): void => {
    for (let i = 0; i < n; i++) if (data[i]! < lo || data[i]! > hi) throw new Error(`writeTorchCheckpoint: value ${data[i]} at ${i} does not fit ${dtype}`);
  };
  switch (dtype) {
    case 'float32': case 'int32': return bytes(data);
    case 'float64': return bytes(Float64Array.from(data));
    case 'int64': return bytes(BigInt64Array.from(data, (x) => BigInt(x)));
    case 'int16': range(-32768, 32767); return bytes(Int16Array.from(data));
    case 'int8': range(-128, 127); return bytes(Int8Array.from(data));
    case 'uint8': range(0, 255); return bytes(Uint8Array.from(data));
    case 'bool': range(0, 1); return bytes(Uint8Array.from(data));
    case 'float16': return bytes(Uint16Array.from(data, floatToHalf));
    case 'bfloat16': {
      const u = new Uint32Array(Float32Array.from(data).buffer);
      // Round to nearest even on the dropped 16 bits; NaN stays a quiet NaN.
      return bytes(Uint16Array.from(u, (x) => ((x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16)));
    }
  }
}

/** float32 → IEEE half, round to nearest even (overflow → ±Inf, NaN kept). */
export function floatToHalf(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0]!;
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
