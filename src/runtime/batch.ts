// Command batching: every dispatch, copy and upload of a step goes into one command encoder and
// is submitted in a few large batches; nothing reads back until a caller asks for a value.
//
// Uniform parameters of the dispatches are packed into host-side arena chunks and written with one
// `writeBuffer` per chunk just before the submit (queue order puts those writes before the work
// that reads them, and after every earlier submit, so chunks are reused from batch to batch).
// Every batch runs inside validation and out-of-memory error scopes; their results are checked at
// the next `sync()` and thrown with the list of ops in the failing batch.
import type { Device } from './device.js';
import { DeviceLostError, GpuError } from './device.js';
import type { KernelCache, ReflectedKernel } from './kernel.js';

const ARENA_CHUNK = 64 * 1024;
/** Submit automatically after this many dispatches, so the GPU starts on a step while the host is
 *  still encoding the rest of it (submitted at once, all of the encoding was GPU idle time). Default
 *  training step on idle lavapipe, 2 cores: median 245–259 ms submitting every 2048 dispatches (one
 *  submit a step), 155–178 ms every 128; 64 and 256 measured level with 128. */
export const AUTO_FLUSH_DISPATCHES = 128;

export interface Counters { submits: number; dispatches: number; readbacks: number; uploads: number; copies: number }

export interface Binding { buffer: GPUBuffer; offset?: number; size?: number }

export interface DispatchArgs {
  /** Op name for error messages and debug logs, e.g. `matmul_fwd`. */
  op: string;
  kernel: ReflectedKernel;
  storage: Record<string, Binding>;
  params?: Record<string, number | readonly number[]>;
  constants?: Record<string, number>;
  /** Workgroup counts; an x count over the device limit is folded into y (kernels linearise). */
  workgroups: readonly [number, number?, number?];
}

/** Profiling (opt-in, off by default): how dispatch times are measured. */
export type ProfileMode = 'timestamp' | 'cpu';

/**
 * One profiled dispatch. `startMs`/`durationMs` are filled when the profile is collected:
 * device timestamps ('timestamp' mode) or host time around a per-dispatch submit ('cpu' mode).
 */
export interface DispatchTiming {
  op: string;
  kernel: string;
  params: Record<string, number | readonly number[]>;
  constants: Record<string, number>;
  grid: [number, number, number];
  /** Index of the submitted batch the dispatch went in. */
  batch: number;
  startMs: number;
  durationMs: number;
}

interface ProfileState {
  mode: ProfileMode;
  /** Timestamp mode: two queries (begin, end of its own pass) per dispatch of the open batch. */
  querySet: GPUQuerySet | null;
  resolve: GPUBuffer | null;
  inBatch: DispatchTiming[];
  /** Readbacks of resolved timestamps (timestamp mode) or completion times (cpu mode) in flight. */
  pending: Promise<void>[];
  done: DispatchTiming[];
  /** Cpu mode: host completion time of the previous dispatch. */
  lastEndMs: number;
}

interface ArenaChunk { buffer: GPUBuffer; host: ArrayBuffer; view: DataView; used: number }

interface PendingScope { ops: string[]; errors: Promise<(GPUError | null)[]> }

// Environment switches (Node only: a page has no process and keeps the defaults)
const env: Record<string, string | undefined> = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
const DEBUG = Number(env.ENGINE_DEBUG ?? 0);
// Fault injection for tests (tests/train/device_lost.test.ts): the device is lost right after
// this many dispatches (kernels run only in steps and validation), as a driver reset in the middle
// of a step would lose it.
const LOSE_DEVICE_AT_DISPATCH = Number(env.SEGFACE_FAULT_LOSE_DEVICE_AT_DISPATCH ?? 0);
// ... and the batch holding this dispatch reports an out-of-memory error from its error scope, as
// a driver that cannot back an allocation does (lavapipe on a shared machine cannot be made to).
const OUT_OF_MEMORY_AT_DISPATCH = Number(env.SEGFACE_FAULT_OOM_AT_DISPATCH ?? 0);
const DISABLE_PATIENCE = env.SEGFACE_SPIN === '1';

/**
 * Waiting without spinning. dawn-node settles its promises (mapAsync, onSubmittedWorkDone) by
 * polling Dawn's events from setImmediate for as long as one is pending, so the JS thread runs at
 * 100 % while it waits. On a GPU that costs an idle core; on a software adapter (lavapipe) the
 * "GPU" is the CPU's cores, and the polling thread takes one from the kernels (on 2 cores, a third
 * of them). So on such a device a wait first sleeps on a timer (no polling) for most of the time the
 * GPU is expected to need, and polls only for the rest.
 *
 * The expectation is learned only where work repeats, as training steps do: milliseconds per
 * dispatch outstanding at the wait (exponential average), kept per size class of the wait (the
 * dispatches outstanding, in classes a factor 2^(1/4) wide), and used only by a wait of the same
 * class. A wait of another size (one large matmul being timed, a small readback between steps, a
 * validation batch) learns its own class and never borrows a rate from a different one, so
 * dispatches of very different cost cannot make a wait sleep far too long. A wait that finds the
 * GPU done the moment its sleep ends lowers its class's estimate by a fifth (halving it made
 * noise-level oversleeps cost too much sleep: default step 0.19–0.23 s against 0.17). The share slept, 85 %, bounds
 * what a steady estimate leaves to polling.
 */
export class PatientWait {
  /** Size class (round(4·log2 dispatches outstanding)) → learned ms per dispatch. */
  private readonly msPerDispatch = new Map<number, number>();
  private outstanding = 0;
  private sleptMs = 0;

  constructor(private readonly enabled: boolean,
    private readonly sleepFor: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms))) {}

  private get sizeClass(): number { return Math.round(4 * Math.log2(this.outstanding)); }

  /** Milliseconds the next wait sleeps before it polls. */
  get plannedMs(): number {
    if (!this.enabled || this.outstanding === 0) return 0;
    return SLEEP_SHARE * (this.msPerDispatch.get(this.sizeClass) ?? 0) * this.outstanding;
  }

  /** `n` more dispatches went to the GPU. */
  submitted(n: number): void { this.outstanding += n; }

  /** Sleeps for the share of the expected wait (nothing while nothing is learned, or when disabled). */
  async sleep(): Promise<void> {
    const ms = this.plannedMs;
    this.sleptMs = ms >= 1 ? ms : 0;
    if (this.sleptMs > 0) await this.sleepFor(ms);
  }

  /** The GPU went idle `waitedMs` after the flush that preceded the wait (the sleep included). */
  done(waitedMs: number): void {
    if (this.outstanding > 0) {
      const k = this.sizeClass;
      const learned = this.msPerDispatch.get(k);
      const rate = waitedMs / this.outstanding;
      if (this.sleptMs > 0 && waitedMs - this.sleptMs < OVERSLEPT_MS) this.msPerDispatch.set(k, learned! * 0.8);
      else this.msPerDispatch.set(k, learned === undefined ? rate : 0.7 * learned + 0.3 * rate);
    }
    this.outstanding = 0;
    this.sleptMs = 0;
  }
}
/** Polling that ends within this many ms of the sleep (timer slack included) means the GPU was already done. */
const OVERSLEPT_MS = 3;
export const SLEEP_SHARE = 0.85;

export class CommandBatch {
  readonly counters: Counters = { submits: 0, dispatches: 0, readbacks: 0, uploads: 0, copies: 0 };
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private chunks: ArenaChunk[] = [];
  private freeChunks: ArenaChunk[] = [];
  private afterSubmit: (() => void)[] = [];
  private opsInBatch: string[] = [];
  private pendingScopes: PendingScope[] = [];
  private dispatchesInBatch = 0;
  private injectOutOfMemory = false;
  private readonly uniformAlign: number;
  private profile: ProfileState | null = null;

  private readonly patience: PatientWait;

  constructor(private device: Device, private kernels: KernelCache) {
    this.uniformAlign = Math.max(16, device.limits.minUniformBufferOffsetAlignment);
    this.patience = new PatientWait(device.spinsWhileWaiting && !DISABLE_PATIENCE);
  }

  private get gpu(): GPUDevice { return this.device.gpu; }

  private begin(): GPUCommandEncoder {
    if (!this.encoder) {
      this.gpu.pushErrorScope('out-of-memory');
      this.gpu.pushErrorScope('validation');
      this.encoder = this.gpu.createCommandEncoder({ label: 'batch' });
    }
    return this.encoder;
  }

  private endPass(): void {
    if (this.pass) { this.pass.end(); this.pass = null; }
  }

  private uniformSlot(bytes: number): { chunk: ArenaChunk; offset: number } {
    let chunk = this.chunks[this.chunks.length - 1];
    const aligned = chunk ? Math.ceil(chunk.used / this.uniformAlign) * this.uniformAlign : 0;
    if (!chunk || aligned + bytes > ARENA_CHUNK) {
      chunk = this.freeChunks.pop() ?? this.newChunk();
      chunk.used = 0;
      this.chunks.push(chunk);
      return this.uniformSlot(bytes);
    }
    chunk.used = aligned + bytes;
    return { chunk, offset: aligned };
  }

  private newChunk(): ArenaChunk {
    const host = new ArrayBuffer(ARENA_CHUNK);
    const buffer = this.gpu.createBuffer({ size: ARENA_CHUNK, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'uniform arena' });
    return { buffer, host, view: new DataView(host), used: 0 };
  }

  /** Folds a workgroup count over the per-dimension limit into a 2-D grid, or says why it cannot. */
  private grid(op: string, wg: readonly [number, number?, number?]): [number, number, number] {
    const max = this.device.limits.maxComputeWorkgroupsPerDimension;
    let [x, y = 1, z = 1] = wg;
    if (x > max && y === 1) {
      y = Math.ceil(x / max);
      x = Math.ceil(x / y);
    }
    if (x > max || y > max || z > max) {
      throw new Error(`${op}: dispatch of (${wg.join(', ')}) workgroups exceeds maxComputeWorkgroupsPerDimension (${max})`);
    }
    return [x, y, z];
  }

  dispatch(args: DispatchArgs): void {
    const { op, kernel } = args;
    const constants = args.constants ?? {};
    const maxBinding = this.device.limits.maxStorageBufferBindingSize;
    const entries: GPUBindGroupEntry[] = [];
    for (const [name, index] of kernel.storageBinding) {
      const b = args.storage[name];
      if (!b) throw new Error(`${op}: binding ${name} of ${kernel.label} not given`);
      const size = b.size ?? b.buffer.size - (b.offset ?? 0);
      if (size > maxBinding) {
        throw new Error(`${op}: binding ${name} is ${size} bytes, over the device's maxStorageBufferBindingSize (${maxBinding})`);
      }
      entries.push({ binding: index, resource: { buffer: b.buffer, offset: b.offset ?? 0, size } });
    }
    for (const name of Object.keys(args.storage)) {
      if (!kernel.storageBinding.has(name)) throw new Error(`${op}: ${kernel.label} has no binding ${name}`);
    }
    const [x, y, z] = this.grid(op, args.workgroups);
    if (x * y * z === 0) return;
    const encoder = this.begin();
    if (kernel.uniformBinding !== undefined) {
      const { chunk, offset } = this.uniformSlot(kernel.uniformSize);
      this.kernels.packUniform(kernel, args.params ?? {}, chunk.view, offset);
      entries.push({ binding: kernel.uniformBinding, resource: { buffer: chunk.buffer, offset, size: kernel.uniformSize } });
    } else if (args.params && Object.keys(args.params).length > 0) {
      throw new Error(`${op}: ${kernel.label} has no uniform, but params were given`);
    }
    const pipeline = this.kernels.pipeline(kernel, constants);
    const bindGroup = this.gpu.createBindGroup({ layout: kernel.layout, entries, label: op });
    if (this.profile) {
      this.profiledDispatch(encoder, { op, kernel: kernel.label, params: args.params ?? {}, constants, grid: [x, y, z], batch: this.counters.submits, startMs: 0, durationMs: 0 }, pipeline, bindGroup);
      return;
    }
    if (!this.pass) this.pass = encoder.beginComputePass({ label: 'batch pass' });
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, bindGroup);
    this.pass.dispatchWorkgroups(x, y, z);
    this.counters.dispatches++;
    if (this.counters.dispatches === LOSE_DEVICE_AT_DISPATCH) this.device.simulateLoss();
    if (this.counters.dispatches === OUT_OF_MEMORY_AT_DISPATCH) this.injectOutOfMemory = true;
    this.dispatchesInBatch++;
    this.opsInBatch.push(op);
    if (DEBUG >= 1) console.error(`[engine] dispatch ${op} ${kernel.label} grid (${x},${y},${z})`);
    if (DEBUG >= 3 || this.dispatchesInBatch >= AUTO_FLUSH_DISPATCHES) this.flush();
  }

  /** Encodes a buffer-to-buffer copy in recording order. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    if (bytes === 0) return;
    const encoder = this.begin();
    this.endPass();
    encoder.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    this.counters.copies++;
    this.opsInBatch.push('copy');
  }

  /**
   * Uploads host data into `dst` in recording order: straight through `writeBuffer` when nothing is
   * pending (the queue then orders it correctly), otherwise through a staging buffer and a copy, so
   * that a pooled buffer still read by recorded work is not overwritten early.
   */
  upload(dst: GPUBuffer, dstOffset: number, data: ArrayBufferView): void {
    this.counters.uploads++;
    const bytes = data.byteLength;
    if (bytes === 0) return;
    const src = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, bytes);
    if (!this.encoder) {
      this.gpu.queue.writeBuffer(dst, dstOffset, src);
      return;
    }
    const padded = Math.ceil(bytes / 4) * 4;
    const staging = this.gpu.createBuffer({ size: padded, usage: GPUBufferUsage.COPY_SRC, mappedAtCreation: true, label: 'upload staging' });
    new Uint8Array(staging.getMappedRange()).set(src);
    staging.unmap();
    this.copy(staging, 0, dst, dstOffset, padded);
    this.afterSubmit.push(() => staging.destroy());
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    const timestamps = this.profile?.mode === 'timestamp' ? this.resolveTimestamps(this.encoder) : null;
    const commands = this.encoder.finish({ label: 'batch' });
    this.encoder = null;
    for (const chunk of this.chunks) this.gpu.queue.writeBuffer(chunk.buffer, 0, chunk.host, 0, Math.ceil(chunk.used / 4) * 4);
    this.gpu.queue.submit([commands]);
    this.counters.submits++;
    this.patience.submitted(this.dispatchesInBatch);
    const validation = this.gpu.popErrorScope();
    let oom = this.gpu.popErrorScope();
    if (this.injectOutOfMemory) {
      this.injectOutOfMemory = false;
      oom = oom.then(() => new GPUOutOfMemoryError(`Out of memory while allocating a buffer (injected by SEGFACE_FAULT_OOM_AT_DISPATCH)`));
    }
    this.pendingScopes.push({ ops: this.opsInBatch, errors: Promise.all([validation, oom]) });
    this.opsInBatch = [];
    this.dispatchesInBatch = 0;
    this.freeChunks.push(...this.chunks);
    this.chunks = [];
    for (const fn of this.afterSubmit) fn();
    this.afterSubmit = [];
    if (timestamps) this.profile!.pending.push(timestamps());
  }

  // ---- profiling (opt-in; nothing below runs unless startProfiling was called) -----------------

  /**
   * Times every dispatch from now on, each in its own compute pass: with 'timestamp' (the default
   * where the device has 'timestamp-query') the pass writes begin/end timestamps into a query set
   * that is resolved once per submitted batch; with 'cpu' each dispatch is submitted alone and
   * timed on the host from the previous completion to its own (includes the submit overhead,
   * about 0.1 ms a dispatch on lavapipe). Returns the mode used. Flushes pending work first.
   */
  startProfiling(mode?: ProfileMode): ProfileMode {
    if (this.profile) throw new Error('startProfiling: already profiling');
    const chosen = mode ?? (this.device.hasTimestamps ? 'timestamp' : 'cpu');
    if (chosen === 'timestamp' && !this.device.hasTimestamps) throw new Error("startProfiling: the device has no 'timestamp-query' feature; use 'cpu'");
    this.flush();
    const queries = 2 * AUTO_FLUSH_DISPATCHES;
    this.profile = {
      mode: chosen, inBatch: [], pending: [], done: [], lastEndMs: 0,
      querySet: chosen === 'timestamp' ? this.gpu.createQuerySet({ type: 'timestamp', count: queries, label: 'profile' }) : null,
      resolve: chosen === 'timestamp'
        ? this.gpu.createBuffer({ size: queries * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, label: 'profile resolve' })
        : null,
    };
    return chosen;
  }

  /** Stops profiling: submits, waits, and returns every dispatch since `startProfiling`, in order. */
  async stopProfiling(): Promise<DispatchTiming[]> {
    const prof = this.profile;
    if (!prof) throw new Error('stopProfiling: not profiling');
    this.flush();
    this.profile = null;
    await Promise.all(prof.pending);
    await this.gpu.queue.onSubmittedWorkDone();
    prof.querySet?.destroy();
    prof.resolve?.destroy();
    const origin = prof.done.reduce((m, e) => Math.min(m, e.startMs), Infinity);
    for (const e of prof.done) e.startMs -= origin;
    return prof.done;
  }

  get profiling(): ProfileMode | null { return this.profile?.mode ?? null; }

  private profiledDispatch(encoder: GPUCommandEncoder, entry: DispatchTiming, pipeline: GPUComputePipeline, bindGroup: GPUBindGroup): void {
    const prof = this.profile!;
    this.endPass();
    const i = prof.inBatch.length;
    const pass = encoder.beginComputePass({
      label: entry.op,
      ...(prof.querySet ? { timestampWrites: { querySet: prof.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } } : {}),
    });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(...entry.grid);
    pass.end();
    this.counters.dispatches++;
    this.dispatchesInBatch++;
    this.opsInBatch.push(entry.op);
    prof.inBatch.push(entry);
    if (DEBUG >= 1) console.error(`[engine] dispatch ${entry.op} ${entry.kernel} grid (${entry.grid.join(',')}) [profiled]`);
    if (prof.mode === 'cpu') {
      this.flush();
      prof.done.push(entry);
      prof.inBatch = [];
      const submitted = performance.now();
      // Completions arrive in submit order: the dispatch ran from max(its submit, the previous
      // completion) to its own completion.
      prof.pending.push(this.gpu.queue.onSubmittedWorkDone().then(() => {
        const end = performance.now();
        entry.startMs = Math.max(submitted, prof.lastEndMs);
        entry.durationMs = end - entry.startMs;
        prof.lastEndMs = end;
      }));
    } else if (this.dispatchesInBatch >= AUTO_FLUSH_DISPATCHES) {
      this.flush();
    }
  }

  /** Encodes the resolve of this batch's timestamps; returns a reader to run after the submit. */
  private resolveTimestamps(encoder: GPUCommandEncoder): (() => Promise<void>) | null {
    const prof = this.profile!;
    const entries = prof.inBatch;
    prof.inBatch = [];
    if (entries.length === 0) return null;
    const bytes = entries.length * 16;
    encoder.resolveQuerySet(prof.querySet!, 0, entries.length * 2, prof.resolve!, 0);
    const staging = this.gpu.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'profile readback' });
    encoder.copyBufferToBuffer(prof.resolve!, 0, staging, 0, bytes);
    prof.done.push(...entries);
    return async () => {
      await staging.mapAsync(GPUMapMode.READ);
      const ns = new BigUint64Array(staging.getMappedRange().slice(0));
      staging.destroy();
      entries.forEach((e, k) => {
        e.startMs = Number(ns[2 * k]!) / 1e6;
        e.durationMs = Math.max(0, Number(ns[2 * k + 1]! - ns[2 * k]!) / 1e6);
      });
    };
  }

  /** Flushes and waits for the GPU; throws the first WebGPU error of any batch since the last sync. */
  async sync(context = 'waiting for the GPU'): Promise<void> {
    this.flush();
    const flushed = performance.now();
    await this.patience.sleep();
    await this.gpu.queue.onSubmittedWorkDone();
    this.patience.done(performance.now() - flushed);
    await this.checkErrors(context);
  }

  async checkErrors(context: string): Promise<void> {
    const scopes = this.pendingScopes;
    this.pendingScopes = [];
    await this.kernels.checkCompiled();
    for (const scope of scopes) {
      const errors = (await scope.errors).filter((e): e is GPUError => e !== null);
      if (errors.length > 0) {
        const e = errors[0]!;
        const kind = e.constructor.name;
        const culprit = /\[BindGroup "([^"]+)"\]/.exec(e.message)?.[1] ?? /\[ComputePipeline "([^"]+)"\]/.exec(e.message)?.[1];
        const ops = [...new Set(scope.ops)];
        const where = culprit ? `op ${culprit}` : `a batch of ops (${ops.slice(0, 12).join(', ')}${ops.length > 12 ? ', …' : ''})`;
        throw new GpuError(`WebGPU ${kind} in ${where}: ${e.message}`, kind, culprit);
      }
    }
    this.device.throwIfFailed(context);
  }

  /** Copies `bytes` of `src` to the host. Flushes; the only way data comes back from the GPU. */
  async read(src: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
    return (await this.readMany([{ src, offset, bytes }]))[0]!;
  }

  /** Copies several ranges to the host through one staging buffer: one flush, one map, one readback. */
  async readMany(ranges: readonly { src: GPUBuffer; offset: number; bytes: number }[]): Promise<ArrayBuffer[]> {
    const at: number[] = [];
    let size = 0;
    for (const r of ranges) { at.push(size); size += Math.ceil(r.bytes / 4) * 4; }
    const staging = this.gpu.createBuffer({ size: Math.max(4, size), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'readback' });
    ranges.forEach((r, i) => { if (r.bytes > 0) this.copy(r.src, r.offset, staging, at[i]!, Math.ceil(r.bytes / 4) * 4); });
    this.counters.readbacks++;
    this.flush();
    const flushed = performance.now();
    await this.patience.sleep();
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      const lost = await this.device.lostAfterFailure();
      if (lost) throw new DeviceLostError(`WebGPU device lost (${lost}) while reading back`);
      await this.checkErrors('reading back');
      throw e;
    }
    this.patience.done(performance.now() - flushed);
    const mapped = staging.getMappedRange();
    const out = ranges.map((r, i) => mapped.slice(at[i]!, at[i]! + r.bytes));
    staging.destroy();
    await this.checkErrors('reading back');
    return out;
  }
}
