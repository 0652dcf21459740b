// Random access to a file's bytes without holding the file: the layer under the zip and torch
// checkpoint readers that lets a page (or Node) open an official `model_299.pt` (about 1 GB with its
// optimizer state) by reading its central directory, its pickle and then only the storages of the
// tensors it keeps.
//
// A ByteSource reads ranges asynchronously: a Node file handle, a Blob/File (`Blob.slice`), an
// ArrayBuffer, or a URL (HTTP Range requests). The readers stay synchronous: they run over a
// SparseBytes, which holds the ranges loaded so far and throws RangeMissing for any other; faultIn()
// runs a synchronous read, loads the range it missed, and runs it again until it completes. Each
// retry re-reads only cached bytes, and every miss is at least MIN_FETCH bytes, so a central
// directory or a pickle costs a few requests, and a tensor one or two. A Node path can also be read
// synchronously the same way (fileSourceSync + faultInSync), for the readers that return at once.

/** Asynchronous random access to `size` bytes; `name` names the file in every error. */
export interface ByteSource {
  readonly name: string;
  readonly size: number;
  /** Exactly `length` bytes from `offset` (the range lies inside the source). */
  read(offset: number, length: number): Promise<Uint8Array>;
  close?(): Promise<void>;
}

/** A synchronous read needed bytes [begin, end) that are not loaded yet. */
export class RangeMissing extends Error {
  constructor(readonly begin: number, readonly end: number) {
    super(`bytes [${begin}, ${end}) are not loaded`);
  }
}

/** The loaded ranges of a file, readable like the Uint8Array of the whole file (subarray + DataView reads). */
export class SparseBytes {
  private chunks: { at: number; bytes: Uint8Array }[] = [];
  loadedBytes = 0;

  constructor(readonly byteLength: number) {}

  add(at: number, bytes: Uint8Array): void {
    this.chunks.push({ at, bytes });
    this.loadedBytes += bytes.byteLength;
  }

  /** Bytes [begin, end) as a view into one loaded chunk, clamped to the file like Uint8Array's. */
  subarray(begin: number, end = this.byteLength): Uint8Array {
    const b = Math.max(0, Math.min(begin, this.byteLength));
    const e = Math.max(b, Math.min(end, this.byteLength));
    for (const c of this.chunks) {
      if (c.at <= b && e <= c.at + c.bytes.byteLength) return c.bytes.subarray(b - c.at, e - c.at);
    }
    throw new RangeMissing(b, e);
  }

  /** The DataView reads the zip reader uses, at absolute file offsets. */
  readonly view = {
    getUint16: (at: number, le?: boolean) => this.dataView(at, 2).getUint16(0, le),
    getUint32: (at: number, le?: boolean) => this.dataView(at, 4).getUint32(0, le),
    getBigUint64: (at: number, le?: boolean) => this.dataView(at, 8).getBigUint64(0, le),
  };

  private dataView(at: number, n: number): DataView {
    if (at < 0 || at + n > this.byteLength) throw new RangeError(`offset ${at} is outside the file (${this.byteLength} bytes)`);
    const b = this.subarray(at, at + n);
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
}

/** Smallest read on a miss: headers and directories arrive in one request, not one per record. */
const MIN_FETCH = 64 * 1024;

/** The range [offset, offset + length) to load for a miss: at least MIN_FETCH bytes, inside the file; any other error is rethrown. */
function rangeFor(e: unknown, size: number): [number, number] {
  if (!(e instanceof RangeMissing)) throw e;
  return [e.begin, Math.min(size - e.begin, Math.max(e.end - e.begin, MIN_FETCH))];
}

/** Runs `fn` over `sparse`, loading each range it misses from `source`, until it returns. */
export async function faultIn<T>(source: ByteSource, sparse: SparseBytes, fn: () => T): Promise<T> {
  for (;;) {
    try {
      return fn();
    } catch (e) {
      const [at, length] = rangeFor(e, source.size);
      sparse.add(at, await source.read(at, length));
    }
  }
}

/** faultIn() for a source read synchronously (a Node file by path, for the synchronous readers). */
export function faultInSync<T>(source: SyncByteSource, sparse: SparseBytes, fn: () => T): T {
  for (;;) {
    try {
      return fn();
    } catch (e) {
      const [at, length] = rangeFor(e, source.size);
      sparse.add(at, source.readSync(at, length));
    }
  }
}

/** The first and last 64 KiB of a file (file magic, zip end records): what every reader asks first. */
function headAndTail(size: number): [number, number][] {
  const head = Math.min(size, MIN_FETCH);
  const tailAt = Math.max(head, size - (MIN_FETCH + 22 + 20 + 56)); // EOCD + its comment, zip64 locator and record
  return tailAt < size ? [[0, head], [tailAt, size - tailAt]] : [[0, head]];
}

/** A SparseBytes over `source` with its first and last 64 KiB loaded. */
export async function openSparse(source: ByteSource): Promise<SparseBytes> {
  const sparse = new SparseBytes(source.size);
  for (const [at, length] of headAndTail(source.size)) sparse.add(at, await source.read(at, length));
  return sparse;
}

/** openSparse() for a source read synchronously. */
export function openSparseSync(source: SyncByteSource): SparseBytes {
  const sparse = new SparseBytes(source.size);
  for (const [at, length] of headAndTail(source.size)) sparse.add(at, source.readSync(at, length));
  return sparse;
}

// ---------------------------------------------------------------------------------------------
// Sources

/** Bytes already in memory (no copy). */
export function bytesSource(data: ArrayBuffer | Uint8Array, name?: string): ByteSource {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  return { name: name ?? 'buffer', size: bytes.byteLength, read: async (offset, length) => bytes.subarray(offset, offset + length) };
}

/** A Blob or File: each read is one `slice()`, so only the ranges read are ever in memory. */
export function blobSource(blob: Blob, name?: string): ByteSource {
  return {
    name: name ?? (blob as { name?: string }).name ?? 'blob',
    size: blob.size,
    read: async (offset, length) => new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer()),
  };
}

/**
 * A URL read with HTTP Range requests. A server that ignores Range (answers 200 with the whole body)
 * gets one full download instead, held in memory: there is no other way to read it.
 */
export async function urlSource(url: string): Promise<ByteSource> {
  let res: Response;
  try {
    res = await fetch(url, { headers: { Range: 'bytes=0-0' } });
  } catch (e) {
    throw new Error(`${url}: cannot fetch (${(e as Error).message})`);
  }
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${res.statusText}`.trimEnd());
  const total = /\/(\d+)\s*$/.exec(res.headers.get('Content-Range') ?? '');
  if (res.status !== 206 || !total) return bytesSource(await res.arrayBuffer(), url);
  await res.arrayBuffer();
  return {
    name: url,
    size: Number(total[1]),
    read: async (offset, length) => {
      const r = await fetch(url, { headers: { Range: `bytes=${offset}-${offset + length - 1}` } });
      if (r.status !== 206) throw new Error(`${url}: HTTP ${r.status} for bytes ${offset}-${offset + length - 1} (expected 206 Partial Content)`);
      const bytes = new Uint8Array(await r.arrayBuffer());
      if (bytes.byteLength !== length) throw new Error(`${url}: got ${bytes.byteLength} bytes for a ${length}-byte range (file changed on the server?)`);
      return bytes;
    },
  };
}

/** Node's fs, reached without a static import so that a page's bundle carries none. */
function nodeFs(path: string): typeof import('node:fs') {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  if (!proc?.getBuiltinModule) throw new Error(`${path}: reading files by path needs Node; in a browser pass a File, Blob or URL`);
  return proc.getBuiltinModule('node:fs') as typeof import('node:fs');
}

function truncated(path: string, at: number, length: number, offset: number): Error {
  return new Error(`${path}: file ended at ${at} while reading ${length} bytes from ${offset} (truncated while open?)`);
}

/** A file on disk (Node), read through one file handle. */
export async function fileSource(path: string): Promise<ByteSource> {
  const fs = nodeFs(path);
  let handle: import('node:fs/promises').FileHandle;
  try {
    handle = await fs.promises.open(path, 'r');
  } catch (e) {
    throw new Error(`${path}: cannot read (${(e as Error).message})`);
  }
  const size = (await handle.stat()).size;
  return {
    name: path,
    size,
    read: async (offset, length) => {
      const out = new Uint8Array(length);
      for (let done = 0; done < length;) {
        const { bytesRead } = await handle.read(out, done, length - done, offset + done);
        if (bytesRead === 0) throw truncated(path, offset + done, length, offset);
        done += bytesRead;
      }
      return out;
    },
    close: () => handle.close(),
  };
}

/** Synchronous random access, for the readers that take a path and return at once. */
export interface SyncByteSource {
  readonly name: string;
  readonly size: number;
  readSync(offset: number, length: number): Uint8Array;
  close(): void;
}

/** A file on disk (Node), read synchronously through one descriptor. */
export function fileSourceSync(path: string): SyncByteSource {
  const fs = nodeFs(path);
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (e) {
    throw new Error(`${path}: cannot read (${(e as Error).message})`);
  }
  return {
    name: path,
    size: fs.fstatSync(fd).size,
    readSync: (offset, length) => {
      const out = new Uint8Array(length);
      for (let done = 0; done < length;) {
        const bytesRead = fs.readSync(fd, out, done, length - done, offset + done);
        if (bytesRead === 0) throw truncated(path, offset + done, length, offset);
        done += bytesRead;
      }
      return out;
    },
    close: () => fs.closeSync(fd),
  };
}

/** A File, Blob, ArrayBuffer, byte array, URL (string containing "://" or URL object) or, in Node, a path. */
export type ByteInput = ByteSource | Blob | ArrayBuffer | Uint8Array | URL | string;

export async function toByteSource(input: ByteInput, name?: string): Promise<ByteSource> {
  if (typeof input === 'string') return /^[a-z][a-z0-9+.-]*:\/\//i.test(input) ? urlSource(input) : fileSource(input);
  if (input instanceof URL) return urlSource(input.href);
  if (input instanceof Uint8Array || input instanceof ArrayBuffer) return bytesSource(input, name);
  if ('read' in input && typeof input.read === 'function') return input as ByteSource;
  return blobSource(input as Blob, name);
}
