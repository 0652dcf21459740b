// The runtime: one device with its buffer pool, kernel cache, command batch and autograd tape.
//
// Ops take tensors and reach all of this through `tensor.rt`. Tensors created inside `scope(fn)`
// are released when it ends unless they are part of its result; the tape retains what backward
// needs; `withoutGrad(fn)` records nothing (inference).
import { Tape } from './autograd.js';
import { CommandBatch, type Counters, type DispatchArgs } from './batch.js';
import { openDevice, type Device, type OpenOptions } from './device.js';
import { defaultTuneStore } from './tune_store_node.js';
import { Tuner, type TuneProgress, type TuneRecord, type TuneStore } from './tuner.js';
import { KernelCache, type KernelDecl } from './kernel.js';
import { BufferPool, type PoolStats } from './pool.js';
import { encodeHalf } from './half.js';
import { checkShape, hostValues, itemBytes, shapeStr, sizeOf, storageBytes, Storage, Tensor, type DType, type FlatSlot } from './tensor.js';
import { accumulateInPlace, binary, fill } from './ops/elementwise.js';

export interface RuntimeOptions extends OpenOptions {
  /** Fill every new op output with NaN before the op runs, so unwritten elements show (tests). */
  poisonOutputs?: boolean;
  /**
   * Autotune kernels at first use (runtime/tuner.ts). Default: on unless SEGFACE_TUNE=0; off
   * means every op runs its built-in default (the per-adapter plan).
   */
  tune?: boolean;
  /** Where tuning results persist. Default (Node): JSON under ~/.cache/segface-webgpu; null: nowhere. */
  tuneStore?: TuneStore | null;
}

export class Runtime {
  readonly pool: BufferPool;
  readonly kernels: KernelCache;
  readonly batch: CommandBatch;
  readonly tape: Tape;
  /** Kernel choices of this runtime: pins (tests, benchmarks), cached winners, measurement. */
  readonly tuner: Tuner;
  gradEnabled = true;
  poisonOutputs: boolean;
  private scopes: Tensor[][] = [];

  static async create(options: RuntimeOptions = {}): Promise<Runtime> {
    const rt = new Runtime(await openDevice(options), options);
    await rt.loadTuning();
    return rt;
  }

  constructor(readonly device: Device, options: RuntimeOptions = {}) {
    this.pool = new BufferPool(device.gpu, device.limits.maxBufferSize);
    this.kernels = new KernelCache(device.gpu);
    this.batch = new CommandBatch(device, this.kernels);
    this.tape = new Tape(this);
    this.poisonOutputs = options.poisonOutputs ?? false;
    this.tuner = new Tuner({
      facts: device.facts,
      kernelSource: (file) => this.kernels.source(file),
      timeDispatches: (record) => this.timeDispatches(record),
    }, { enabled: options.tune, store: options.tuneStore === null ? undefined : options.tuneStore ?? defaultTuneStore() });
  }

  /** Loads this adapter's stored tuning results (Runtime.create does; a constructed Runtime may). */
  loadTuning(): Promise<void> { return this.tuner.load(); }

  /**
   * Measures the tuning units met for the first time since the last call and stores the winners.
   * Runs between steps (Tensor.read calls it once the batch is empty); never while profiling.
   */
  async tunePending(onUnit?: TuneProgress): Promise<TuneRecord[]> {
    if (this.batch.profiling) return [];
    return this.tuner.tunePending(onUnit);
  }

  /** Device time (ms) of each dispatch `record` makes, each in its own pass (timestamps, or per-dispatch submits). */
  private async timeDispatches(record: () => void): Promise<number[]> {
    await this.batch.sync('before timing kernel candidates');
    this.batch.startProfiling();
    let recorded: unknown;
    try { this.untracked(() => this.withoutGrad(record)); } catch (e) { recorded = e; }
    const timings = await this.batch.stopProfiling();
    if (recorded) throw recorded;
    await this.batch.checkErrors('timing kernel candidates');
    return timings.map((t) => t.durationMs);
  }

  get counters(): Counters { return this.batch.counters; }
  memory(): PoolStats { return this.pool.snapshot(); }

  // ---- tensors -------------------------------------------------------------------------------

  /** An uninitialised tensor (NaN-filled when `poisonOutputs` is on). */
  empty(shape: readonly number[], dtype: DType = 'f32', label = 'tensor'): Tensor {
    checkShape(label, shape);
    const bytes = Math.max(4, storageBytes(dtype, sizeOf(shape)));
    const t = new Tensor(this, [...shape], dtype, new Storage(this, this.pool.acquire(bytes, label)));
    this.track(t);
    if (this.poisonOutputs && t.size > 0) fill(t, dtype === 'i32' ? -0x7fffffff : NaN);
    return t;
  }

  /** A tensor holding `data` (row-major); f16 rounds each value to nearest even on the host (runtime/half.ts). */
  tensor(data: ArrayLike<number>, shape: readonly number[], dtype: DType = 'f32'): Tensor {
    checkShape('tensor', shape);
    if (data.length !== sizeOf(shape)) throw new Error(`tensor: ${data.length} values for shape ${shapeStr(shape)} (${sizeOf(shape)} elements)`);
    const t = new Tensor(this, [...shape], dtype, new Storage(this, this.pool.acquire(Math.max(4, storageBytes(dtype, data.length)), 'tensor')));
    this.track(t);
    this.batch.upload(t.buffer, 0, hostData(dtype, data));
    return t;
  }

  /** A trainable leaf: requires a gradient, never released by scopes. */
  parameter(data: ArrayLike<number>, shape: readonly number[], name?: string): Tensor {
    const t = this.untracked(() => this.tensor(data, shape));
    t.requiresGrad = true;
    t.name = name;
    return t;
  }

  full(shape: readonly number[], value: number, dtype: DType = 'f32'): Tensor {
    const t = this.empty(shape, dtype, 'full');
    fill(t, value);
    return t;
  }

  zeros(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    return this.full(shape, 0, dtype);
  }

  copy(t: Tensor): Tensor {
    const out = this.empty(t.shape, t.dtype, 'copy');
    this.batch.copy(t.buffer, t.byteOffset, out.buffer, 0, t.bytes);
    return out;
  }

  /** Overwrites `t` with host data (in recording order: work recorded before sees the old values). */
  write(t: Tensor, data: Float32Array | Int32Array): void {
    if (data.length !== t.size) throw new Error(`write: ${data.length} values for ${t.describe()}`);
    if (t.isFloat !== (data instanceof Float32Array)) throw new Error(`write: ${data.constructor.name} into ${t.describe()}`);
    this.batch.upload(t.buffer, t.byteOffset, t.dtype === 'f16' ? encodeHalf(data) : data);
    if (t.flat?.role === 'param') t.flat.group.paramsWritten();
  }

  /** Copies consecutive slices of `flat` into `parts`, in order (e.g. a bucket of gradients back into each gradient). */
  unpackInto(flat: Tensor, parts: readonly Tensor[]): void {
    const total = parts.reduce((n, t) => n + t.size, 0);
    if (total > flat.size) throw new Error(`unpackInto: ${flat.describe()} holds ${flat.size} values, the parts ${total}`);
    let at = 0;
    for (const t of parts) {
      if (t.dtype !== flat.dtype) throw new Error(`unpackInto: ${t.describe()} has another dtype than ${flat.describe()}`);
      if ((at * itemBytes(t.dtype)) % 4 !== 0) throw new Error(`unpackInto: ${t.describe()} starts at element ${at} of ${flat.describe()}, not on a 4-byte boundary`);
      this.batch.copy(flat.buffer, flat.byteOffset + at * itemBytes(t.dtype), t.buffer, t.byteOffset, t.bytes);
      at += t.size;
    }
  }

  /** A view of `t` with another shape over the same buffer; the tape maps its gradient back. */
  reshape(t: Tensor, shape: readonly number[]): Tensor {
    const resolved = [...shape];
    const free = resolved.indexOf(-1);
    if (free >= 0) resolved[free] = t.size / sizeOf(resolved.filter((_, i) => i !== free));
    checkShape('reshape', resolved);
    if (sizeOf(resolved) !== t.size) throw new Error(`reshape: cannot view ${t.describe()} as ${shapeStr(shape)}`);
    t.storage.refs++;
    const view = new Tensor(this, resolved, t.dtype, t.storage, t.byteOffset, t.span);
    this.track(view);
    this.tape.record('reshape', [t], view, [], (dOut) => [this.reshape(dOut, t.shape)]);
    return view;
  }

  /** A tensor over `storage` from `byteOffset` on, binding `span` bytes (a slot of a flat buffer; runtime/flat.ts). */
  view(storage: Storage, shape: readonly number[], dtype: DType, byteOffset: number, span: number, flat?: FlatSlot): Tensor {
    if (byteOffset + storageBytes(dtype, sizeOf(shape)) > storage.buffer.size) throw new Error(`view: [${shape.join(', ')}] ${dtype} at byte ${byteOffset} overruns its ${storage.buffer.size}-byte buffer`);
    storage.refs++;
    const t = new Tensor(this, [...shape], dtype, storage, byteOffset, span, flat);
    this.track(t);
    return t;
  }

  freeBuffer(buffer: GPUBuffer): void { this.pool.release(buffer); }

  /** `dst += src` in place (gradient accumulation); `dst` must own its buffer. */
  accumulate(dst: Tensor, src: Tensor): void {
    // a gradient slot of a flat group shares the group's buffer by design and is written only here
    if (!dst.exclusive && dst.flat?.role !== 'grad') throw new Error(`accumulate: ${dst.describe()} shares its buffer; cannot add in place`);
    accumulateInPlace(dst, src);
  }

  add(a: Tensor, b: Tensor): Tensor { return binary('add', a, b); }

  // ---- scopes and gradient mode --------------------------------------------------------------

  private track(t: Tensor): void {
    const top = this.scopes[this.scopes.length - 1];
    if (top) top.push(t);
  }

  /** Runs `fn`; releases every tensor created inside that is not part of its result. */
  scope<T>(fn: () => T): T {
    this.scopes.push([]);
    let result: T;
    try {
      result = fn();
    } catch (e) {
      for (const t of this.scopes.pop()!) if (t.alive) t.release();
      throw e;
    }
    const created = this.scopes.pop()!;
    const keep = new Set<Tensor>();
    collectTensors(result, keep);
    for (const t of created) {
      if (keep.has(t)) this.track(t);
      else if (t.alive) t.release();
    }
    return result;
  }

  /** Runs `fn` with tensors it creates owned by the caller (no scope tracks them). */
  untracked<T>(fn: () => T): T {
    const saved = this.scopes;
    this.scopes = [];
    try { return fn(); } finally { this.scopes = saved; }
  }

  /** Runs `fn` without recording on the tape. */
  withoutGrad<T>(fn: () => T): T {
    const was = this.gradEnabled;
    this.gradEnabled = false;
    try { return fn(); } finally { this.gradEnabled = was; }
  }

  /** Back-propagates from a scalar (or seeded) tensor; parameters' `.grad` accumulate. */
  backward(root: Tensor, seed?: Tensor): void { this.tape.backward(root, seed); }

  /** Releases parameters' gradients (the next backward starts them afresh). */
  zeroGrad(params: Iterable<Tensor>): void {
    for (const p of params) { p.grad?.release(); p.grad = null; }
  }

  // ---- execution -----------------------------------------------------------------------------

  /** Records one kernel dispatch of an op. */
  dispatch(decl: KernelDecl, args: Omit<DispatchArgs, 'kernel'>): void {
    this.batch.dispatch({ ...args, kernel: this.kernels.kernel(decl) });
  }

  /** The values of several tensors with one flush and one readback (e.g. a step's numbers, a checkpoint's tensors). */
  async readMany(tensors: readonly Tensor[]): Promise<(Float32Array | Int32Array)[]> {
    for (const t of tensors) if (!t.usable) throw new Error(`readMany: tensor ${t.describe()} was released`);
    const data = await this.batch.readMany(tensors.map((t) => ({ src: t.buffer, offset: t.byteOffset, bytes: t.bytes })));
    return data.map((d, i) => hostValues(tensors[i]!.dtype, tensors[i]!.size, d));
  }

  /** Submits pending work, waits for it, and throws any WebGPU error it raised. */
  sync(): Promise<void> { return this.batch.sync(); }

  destroy(): void {
    this.batch.flush();
    this.tape.clear();
    this.device.destroy();
  }
}

/** Host bytes of `data` as `dtype`; int32 values are checked to be integers. */
function hostData(dtype: DType, data: ArrayLike<number>): Float32Array | Int32Array | Uint16Array {
  if (dtype === 'f16') return encodeHalf(data);
  if (dtype === 'f32') return Float32Array.from(data);
  const host = Int32Array.from(data);
  for (let i = 0; i < host.length; i++) {
    if (host[i] !== data[i]) throw new Error(`tensor: value ${data[i]} at ${i} is not an int32`);
  }
  return host;
}

function collectTensors(value: unknown, into: Set<Tensor>): void {
  if (value instanceof Tensor) into.add(value);
  else if (Array.isArray(value)) for (const v of value) collectTensors(v, into);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) collectTensors(v, into);
}
