// MPI from Node through the koffi FFI: the dozen calls data parallelism needs, on MPICH-family
// libraries (MPICH, Intel MPI, MVAPICH, Cray MPICH), whose handles are plain integers.
//
// Every collective runs as a koffi async call on one of koffi's worker threads, so the main thread
// (which owns the WebGPU device and must keep polling Dawn's events) never blocks in MPI. The
// calls are chained: at most one is in flight, and every rank issues them in the same order, as
// MPI requires. Koffi runs async calls on a private stack of `async_stack_size` bytes (128 KiB by
// default), too small for MPICH's collectives (they segfault), so it is raised before loading.
//
// Sums are deterministic and identical on every rank: gradients use reduce-scatter + all-gather
// (each chunk is summed once, on its owner, then copied everywhere), and small vectors are
// all-gathered and summed on the host in rank order in float64.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

// ---- MPICH ABI (mpi.h of MPICH 4; the same values in Intel MPI and MVAPICH) --------------------
const MPI_COMM_WORLD = 0x44000000;
const MPI_FLOAT = 0x4c00040a;
const MPI_DOUBLE = 0x4c00080b;
const MPI_CHAR = 0x4c000101;
const MPI_SUM = 0x58000003;
const MPI_ERRORS_RETURN = 0x54000001;
const MPI_INFO_NULL = 0x1c000000;
const MPI_COMM_TYPE_SHARED = 1;
const MPI_THREAD_MULTIPLE = 3;
const MPI_IN_PLACE = -1;
const MPI_MAX_ERROR_STRING = 512;
const MPI_MAX_PROCESSOR_NAME = 128;

/** Libraries tried in order; SEGFACE_MPI_LIB overrides. Open MPI (libmpi.so.40) has pointer handles: unsupported. */
const LIBRARIES = ['libmpich.so.12', 'libmpi.so.12', 'libmpich.so', 'libmpi.so'];

export const MPI_INSTALL_HINT = 'install MPICH: `apt-get install mpich` (Debian/Ubuntu; `bash scripts/setup.sh` does it), ' +
  'or load your cluster\'s MPICH-compatible MPI (MPICH, Intel MPI, MVAPICH, Cray MPICH); Open MPI is not supported';

type AsyncFn = ((...args: unknown[]) => number) & { async(...args: unknown[]): void };

interface Fns {
  Init_thread: AsyncFn; Finalize: AsyncFn; Abort: AsyncFn; Comm_rank: AsyncFn; Comm_size: AsyncFn;
  Comm_set_errhandler: AsyncFn; Comm_split_type: AsyncFn; Error_string: AsyncFn; Get_processor_name: AsyncFn;
  Barrier: AsyncFn; Allgather: AsyncFn; Allgather_bytes: AsyncFn; Reduce_scatter_block: AsyncFn; Allreduce: AsyncFn; Bcast: AsyncFn;
}

/**
 * UCX (the network layer of Debian's MPICH, ch4:ucx) reads these when the library is loaded, so
 * they are set here, for every process that loads MPI. UCX would otherwise take over SIGSEGV/SIGBUS,
 * which V8 uses itself, and patch the process's malloc/mmap to watch memory events, which corrupted
 * the heap of about one 2-rank run in 25 (a crash in malloc while V8 parsed; none in 159 runs with
 * the hooks off). Only UCX's memory registration cache for RDMA networks needs the events; shared
 * memory and TCP work without them, and a cluster that wants the cache can export
 * UCX_MEM_EVENTS=yes (kept as given).
 */
function quietUcx(): void {
  process.env.UCX_ERROR_SIGNALS ??= '';
  process.env.UCX_MEM_MALLOC_HOOKS ??= 'no';
  process.env.UCX_MEM_EVENTS ??= 'no';
}

function loadLibrary(): { fns: Fns; path: string } {
  quietUcx();
  let koffi: typeof import('koffi');
  try {
    koffi = require('koffi') as typeof import('koffi');
  } catch (e) {
    throw new Error(`the koffi package is missing (npm install): ${(e as Error).message}`);
  }
  const config = koffi.config();
  if ((config.async_stack_size ?? 0) < 8 << 20) koffi.config({ ...config, async_stack_size: 8 << 20 });
  const candidates = process.env.SEGFACE_MPI_LIB ? [process.env.SEGFACE_MPI_LIB] : LIBRARIES;
  const errors: string[] = [];
  for (const path of candidates) {
    let lib: ReturnType<typeof koffi.load>;
    try {
      lib = koffi.load(path);
    } catch (e) {
      errors.push(`${path}: ${(e as Error).message}`);
      continue;
    }
    try {
      lib.func('void *ompi_mpi_comm_world');
      throw new Error(`${path} is Open MPI, whose handles are pointers; this project speaks the MPICH ABI: ${MPI_INSTALL_HINT}`);
    } catch (e) {
      if ((e as Error).message.includes('Open MPI')) throw e;
    }
    const f = (sig: string): AsyncFn => lib.func(sig) as unknown as AsyncFn;
    const fns: Fns = {
      Init_thread: f('int MPI_Init_thread(void *argc, void *argv, int required, _Out_ int *provided)'),
      Finalize: f('int MPI_Finalize()'),
      Abort: f('int MPI_Abort(int comm, int code)'),
      Comm_rank: f('int MPI_Comm_rank(int comm, _Out_ int *rank)'),
      Comm_size: f('int MPI_Comm_size(int comm, _Out_ int *size)'),
      Comm_set_errhandler: f('int MPI_Comm_set_errhandler(int comm, int handler)'),
      Comm_split_type: f('int MPI_Comm_split_type(int comm, int type, int key, int info, _Out_ int *newcomm)'),
      Error_string: f('int MPI_Error_string(int code, _Out_ uint8_t *text, _Out_ int *len)'),
      Get_processor_name: f('int MPI_Get_processor_name(_Out_ uint8_t *name, _Out_ int *len)'),
      Barrier: f('int MPI_Barrier(int comm)'),
      // sendbuf as intptr_t so MPI_IN_PLACE ((void *)-1) can be passed; recvbuf a TypedArray (by pointer, in place)
      Allgather: f('int MPI_Allgather(void *sendbuf, int sendcount, int sendtype, void *recvbuf, int recvcount, int recvtype, int comm)'),
      Allgather_bytes: f('int MPI_Allgather(intptr_t sendbuf, int sendcount, int sendtype, void *recvbuf, int recvcount, int recvtype, int comm)'),
      Reduce_scatter_block: f('int MPI_Reduce_scatter_block(void *sendbuf, void *recvbuf, int recvcount, int type, int op, int comm)'),
      Allreduce: f('int MPI_Allreduce(intptr_t sendbuf, void *recvbuf, int count, int type, int op, int comm)'),
      Bcast: f('int MPI_Bcast(void *buffer, int count, int type, int root, int comm)'),
    };
    return { fns, path };
  }
  throw new Error(`no MPI library found (${errors.join('; ')}); ${MPI_INSTALL_HINT}`);
}

/** Loads the MPI library without initialising it; throws the install advice if it is missing. */
export function checkMpiLibrary(): string {
  return loadLibrary().path;
}

/** The world communicator of an initialised MPI, with promise-returning collectives. */
export class Mpi {
  readonly rank: number;
  readonly size: number;
  /** Rank and count among the processes on this machine (MPI_COMM_TYPE_SHARED). */
  readonly localRank: number;
  readonly localSize: number;
  readonly processorName: string;
  private chain: Promise<unknown> = Promise.resolve();
  private finalized = false;
  /** Seconds spent inside collectives (wall time on the calling side), for the bench. */
  commSeconds = 0;

  private constructor(private readonly fns: Fns, readonly library: string) {
    const provided = [0];
    this.check('MPI_Init_thread', fns.Init_thread(null, null, MPI_THREAD_MULTIPLE, provided));
    this.check('MPI_Comm_set_errhandler', fns.Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    if (provided[0]! < MPI_THREAD_MULTIPLE) {
      // Calls are serialised but come from koffi's pool threads: FUNNELED would not be enough.
      throw new Error(`${library} provides thread level ${provided[0]}, MPI_THREAD_MULTIPLE (3) is needed`);
    }
    const out = [0];
    this.check('MPI_Comm_rank', fns.Comm_rank(MPI_COMM_WORLD, out));
    this.rank = out[0]!;
    this.check('MPI_Comm_size', fns.Comm_size(MPI_COMM_WORLD, out));
    this.size = out[0]!;
    const local = [0];
    this.check('MPI_Comm_split_type', fns.Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, this.rank, MPI_INFO_NULL, local));
    this.check('MPI_Comm_rank', fns.Comm_rank(local[0]!, out));
    this.localRank = out[0]!;
    this.check('MPI_Comm_size', fns.Comm_size(local[0]!, out));
    this.localSize = out[0]!;
    const name = new Uint8Array(MPI_MAX_PROCESSOR_NAME);
    const len = [0];
    this.check('MPI_Get_processor_name', fns.Get_processor_name(name, len));
    this.processorName = Buffer.from(name.subarray(0, len[0]!)).toString('utf8');
  }

  /** Loads the library and calls MPI_Init_thread (once per process). */
  static init(): Mpi {
    const { fns, path } = loadLibrary();
    return new Mpi(fns, path);
  }

  private errorString(code: number): string {
    const text = new Uint8Array(MPI_MAX_ERROR_STRING);
    const len = [0];
    if (this.fns.Error_string(code, text, len) !== 0) return `MPI error ${code}`;
    return Buffer.from(text.subarray(0, len[0]!)).toString('utf8');
  }

  private check(call: string, code: number): void {
    if (code !== 0) throw new Error(`${call} failed on rank ${this.rank ?? '?'}: ${this.errorString(code)}`);
  }

  /** Queues an async MPI call after every earlier one; resolves when it returns. */
  private call(name: string, fn: AsyncFn, ...args: unknown[]): Promise<void> {
    if (this.finalized) return Promise.reject(new Error(`${name} after MPI_Finalize`));
    const run = (): Promise<void> => new Promise((resolve, reject) => {
      const t0 = performance.now();
      fn.async(...args, (err: Error | null, code: number) => {
        this.commSeconds += (performance.now() - t0) / 1000;
        if (err) reject(err);
        else if (code !== 0) reject(new Error(`${name} failed on rank ${this.rank}: ${this.errorString(code)}`));
        else resolve();
      });
    });
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => undefined);
    return next;
  }

  barrier(): Promise<void> { return this.call('MPI_Barrier', this.fns.Barrier, MPI_COMM_WORLD); }

  /** Every rank's `values` (same length everywhere), rank-major: (size, values.length). */
  async allgather(values: Float64Array): Promise<Float64Array> {
    const out = new Float64Array(values.length * this.size);
    await this.call('MPI_Allgather', this.fns.Allgather, values, values.length, MPI_DOUBLE, out, values.length, MPI_DOUBLE, MPI_COMM_WORLD);
    return out;
  }

  /** Σ over ranks of `values`, added in rank order in float64: the same bits on every rank. */
  async sumOrdered(values: Float64Array): Promise<Float64Array> {
    return sumRows(await this.allgather(values), this.size, values.length);
  }

  /** Every rank's UTF-8 string (at most `maxBytes` bytes), in rank order. */
  async allgatherStrings(s: string, maxBytes = 512): Promise<string[]> {
    const mine = new Uint8Array(maxBytes);
    const bytes = Buffer.from(s, 'utf8').subarray(0, maxBytes - 1);
    mine.set(bytes);
    const out = new Uint8Array(maxBytes * this.size);
    await this.call('MPI_Allgather', this.fns.Allgather, mine, maxBytes, MPI_CHAR, out, maxBytes, MPI_CHAR, MPI_COMM_WORLD);
    return Array.from({ length: this.size }, (_, r) => {
      const row = out.subarray(r * maxBytes, (r + 1) * maxBytes);
      const end = row.indexOf(0);
      return Buffer.from(row.subarray(0, end < 0 ? maxBytes : end)).toString('utf8');
    });
  }

  /**
   * In-place sum over ranks of `data` (float32), identical bits on every rank: `data.length` must
   * be a multiple of `size` (pad with zeros; see `paddedLength`). Reduce-scatter sums each of the
   * `size` chunks once, on its owner; all-gather copies the sums to everyone. `scratch` (chunk
   * length) may be passed to avoid an allocation.
   */
  async sumInPlace(data: Float32Array, scratch?: Float32Array): Promise<void> {
    if (this.size === 1) return;
    if (data.length % this.size !== 0) throw new Error(`sumInPlace: ${data.length} floats is not a multiple of the world size ${this.size}`);
    const chunk = data.length / this.size;
    const mine = scratch && scratch.length >= chunk ? scratch.subarray(0, chunk) : new Float32Array(chunk);
    await this.call('MPI_Reduce_scatter_block', this.fns.Reduce_scatter_block, data, mine, chunk, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    data.set(mine, this.rank * chunk);
    await this.call('MPI_Allgather', this.fns.Allgather_bytes, MPI_IN_PLACE, 0, MPI_FLOAT, data, chunk, MPI_FLOAT, MPI_COMM_WORLD);
  }

  /** Plain MPI_Allreduce(MPI_IN_PLACE, SUM) of float32: for the bench's comparison only. */
  allreduceInPlace(data: Float32Array): Promise<void> {
    return this.call('MPI_Allreduce', this.fns.Allreduce, MPI_IN_PLACE, data, data.length, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  }

  /** Rank `root`'s bytes into `data` on every rank. */
  bcast(data: Uint8Array, root = 0): Promise<void> {
    return this.call('MPI_Bcast', this.fns.Bcast, data, data.length, MPI_CHAR, root, MPI_COMM_WORLD);
  }

  /** Waits for queued calls, then MPI_Finalize (idempotent). */
  async finalize(): Promise<void> {
    if (this.finalized) return;
    await this.chain;
    this.finalized = true;
    this.check('MPI_Finalize', this.fns.Finalize());
  }

  /** Kills every rank of the job (synchronous; does not return on success). */
  abort(code: number): void {
    this.fns.Abort(MPI_COMM_WORLD, code);
  }
}

/** Length `n` rounded up to a multiple of `size` (reduce-scatter needs equal chunks). */
export function paddedLength(n: number, size: number): number {
  return Math.ceil(n / size) * size;
}

/** Σ_r rows[r] for a (ranks, width) row-major matrix, added in rank order in float64. */
export function sumRows(rows: Float64Array, ranks: number, width: number): Float64Array {
  const out = new Float64Array(width);
  for (let r = 0; r < ranks; r++) for (let i = 0; i < width; i++) out[i]! += rows[r * width + i]!;
  return out;
}
