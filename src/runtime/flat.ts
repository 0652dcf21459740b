// Flat groups: many small tensors as views into a few large buffers, so that an op over all of
// them (an optimizer step, a gradient norm, an all-reduce, a dtype cast) is one dispatch or one
// copy instead of one per tensor (PyTorch's "foreach"/flat optimizers and apex's flat buffers).
//
// Layout (FlatLayout): tensor i occupies elements [offset_i, offset_i + size_i) of every buffer of
// the group; offsets are multiples of `align` elements, chosen so that an f32 view (4·offset
// bytes) and an f16 view (2·offset bytes) both start on the device's minStorageBufferOffsetAlignment
// (a storage binding's offset must). Between one tensor's end and the next offset lies padding:
// never read as data (kernels over the whole buffer mask it per tensor; its contents are
// whatever was there, NaN when the runtime poisons outputs). A view binds its slot up to the
// next offset (its `span`), so a vec4 kernel reading ceil(n/4) vec4s stays inside it.
// Segments: consecutive slots whose span fits one storage binding (maxStorageBufferBindingSize;
// 128 MiB on lavapipe, while swin_base's 88 M parameters take 352 MB): a kernel over many slots
// binds one segment at a time, with chunk rows relative to the segment's start (segmentTable).
//
// Buffers of a group (FlatGroup):
//   params   f32, the parameters themselves: `adopt` moves existing parameter tensors into it
//            (they keep their identity; the model holds them by name);
//   grads    f32, where backward leaves each parameter's gradient (first gradients are copied
//            into their slots in batches of SETTLE_BYTES, later ones are summed there; f16
//            gradients of the f16 copy are widened into theirs in one dispatch when backward
//            ends; see acceptGrad);
//   shadows  the parameters in another dtype (f16 for mixed precision), cast in one dispatch when
//            first asked for or after the parameters were written from the host, and kept in
//            step by whoever updates the parameters in place (the optimizer writes them in the
//            same dispatch);
//   alloc()  any further buffer with the same layout (an optimizer's moments).
import { encodeHalf } from './half.js';
import type { KernelDecl } from './kernel.js';
import { cast, castInto } from './ops/elementwise.js';
import type { FloatDType } from './ops/util.js';
import type { Runtime } from './runtime.js';
import { itemBytes, storageBytes, type DType, type Storage, type Tensor } from './tensor.js';

const WIDEN: KernelDecl = { file: 'flat.wgsl', entry: 'widen_slots', storage: { wide4: 'read_write', half4: 'read', table: 'read' }, uniform: 'wp', f16: true };
const WIDEN_WG = 64;
const WIDEN_PER = 32;
/** Pending produced gradients are copied into their slots once this many bytes of them are held. */
const SETTLE_BYTES = 8 * 2 ** 20;

/** Slots [first, end) of a layout, elements [start, start + span) of its buffers. */
export interface FlatSegment { first: number; end: number; start: number; span: number }

/** Slot offsets of tensors of `sizes` elements, each a multiple of `align` elements. */
export class FlatLayout {
  readonly offsets: number[] = [];
  /** Elements of a buffer of the group: the last slot also ends on a multiple of `align`. */
  readonly total: number;
  /** Consecutive slots spanning at most `maxSegment` elements each, in order, covering every slot. */
  readonly segments: FlatSegment[];

  constructor(readonly sizes: readonly number[], readonly align: number, readonly maxSegment = Infinity) {
    if (!Number.isInteger(align) || align < 4 || align % 4 !== 0) throw new Error(`FlatLayout: alignment ${align} must be a positive multiple of 4 elements`);
    let at = 0;
    for (const n of sizes) {
      this.offsets.push(at);
      at += Math.ceil(Math.max(1, n) / align) * align;
    }
    this.total = Math.max(at, align);
    this.segments = this.split();
  }

  private split(): FlatSegment[] {
    const segs: FlatSegment[] = [];
    for (let i = 0; i < this.sizes.length; i++) {
      const span = this.spanOf(i);
      if (span > this.maxSegment) throw new Error(`FlatLayout: tensor ${i} (${this.sizes[i]} elements) is larger than one storage binding (${this.maxSegment} elements)`);
      const last = segs[segs.length - 1];
      if (last && last.span + span <= this.maxSegment) { last.end = i + 1; last.span += span; } else segs.push({ first: i, end: i + 1, start: this.offsets[i]!, span });
    }
    return segs.length > 0 ? segs : [{ first: 0, end: 0, start: 0, span: this.total }];
  }

  /** The segment holding slot i. */
  segmentOf(i: number): number { return this.segments.findIndex((s) => i >= s.first && i < s.end); }

  /** Elements from slot i's offset to the next slot's (its data and its padding). */
  spanOf(i: number): number { return (this.offsets[i + 1] ?? this.total) - this.offsets[i]!; }

  /** Padding ranges [start, end) in elements, in order. */
  pads(): [number, number][] {
    return this.sizes.map((n, i): [number, number] => [this.offsets[i]! + n, this.offsets[i]! + this.spanOf(i)]).filter(([a, b]) => b > a);
  }
}

/** Slot alignment in elements on this device: f32 and f16 views both on minStorageBufferOffsetAlignment. */
export function flatAlign(rt: Runtime): number {
  return Math.max(8, rt.device.limits.minStorageBufferOffsetAlignment / 2);
}

/** Elements of the largest segment on this device: one f32 storage binding, a whole number of slots' alignment. */
export function flatSegmentElements(rt: Runtime, align = flatAlign(rt)): number {
  return Math.floor(rt.device.limits.maxStorageBufferBindingSize / 4 / align) * align;
}

/** One buffer laid out by a group's layout, in one dtype. */
export class FlatBuffer {
  constructor(readonly group: FlatGroup, readonly dtype: DType, readonly storage: Storage, readonly role: 'param' | 'grad' | 'shadow' | 'state') {}

  get buffer(): GPUBuffer { return this.storage.buffer; }

  /** Segment s of the buffer as a storage binding (kernels over many slots, one segment at a time). */
  segmentBinding(s: number): { buffer: GPUBuffer; offset: number; size: number } {
    const seg = this.group.layout.segments[s]!;
    return { buffer: this.buffer, offset: seg.start * itemBytes(this.dtype), size: storageBytes(this.dtype, seg.span) };
  }

  /** Slot i as a tensor of `shape` (owned by the caller; it shares this buffer). */
  view(i: number, shape: readonly number[]): Tensor {
    const L = this.group.layout;
    const item = itemBytes(this.dtype);
    return this.group.rt.view(this.storage, shape, this.dtype, L.offsets[i]! * item, L.spanOf(i) * item, { group: this.group, index: i, role: this.role });
  }

  /** Drops the group's reference (views still alive keep the buffer). */
  release(): void { this.storage.release(); }
}

export class FlatGroup {
  readonly layout: FlatLayout;
  readonly params: FlatBuffer;
  private grads: FlatBuffer | null = null;
  private readonly shadows = new Map<FloatDType, { buf: FlatBuffer; fresh: boolean }>();

  /**
   * Moves `tensors` (f32 parameters, each with no views of its buffer alive) into one flat
   * buffer, in order: their values are copied to their slots (recorded, in order with other
   * work) and each tensor is relocated there.
   */
  static adopt(rt: Runtime, tensors: readonly Tensor[], label: string, opts: { segmentElements?: number } = {}): FlatGroup {
    for (const t of tensors) {
      if (t.dtype !== 'f32') throw new Error(`${label}: ${t.describe()} is not f32; a flat group holds f32 parameters`);
      if (t.flat) throw new Error(`${label}: ${t.describe()} already lives in a flat group`);
      if (t.rt !== rt) throw new Error(`${label}: tensors live on different devices`);
    }
    const g = new FlatGroup(rt, tensors, label, opts.segmentElements ?? flatSegmentElements(rt));
    tensors.forEach((t, i) => {
      const at = g.layout.offsets[i]! * 4;
      rt.batch.copy(t.buffer, t.byteOffset, g.params.buffer, at, t.bytes);
      t.relocate(g.params.storage, at, g.layout.spanOf(i) * 4, { group: g, index: i, role: 'param' });
    });
    g.params.release();   // the tensors hold the buffer now
    return g;
  }

  private constructor(readonly rt: Runtime, readonly members: readonly Tensor[], readonly label: string, segmentElements: number) {
    this.layout = new FlatLayout(members.map((t) => t.size), flatAlign(rt), segmentElements);
    this.params = this.alloc('f32', `${label} params`, 'param');
  }

  /** A new buffer with this group's layout (uninitialised: NaN when the runtime poisons outputs). */
  alloc(dtype: DType, label: string, role: 'param' | 'grad' | 'shadow' | 'state' = 'state'): FlatBuffer {
    const t = this.rt.untracked(() => this.rt.empty([this.layout.total], dtype, label));
    const buf = new FlatBuffer(this, dtype, t.storage, role);
    t.storage.refs++;
    t.release();
    return buf;
  }

  /** The buffer backward leaves the gradients in (allocated at first use). */
  gradBuffer(): FlatBuffer {
    this.grads ??= this.alloc('f32', `${this.label} grads`, 'grad');
    return this.grads;
  }

  /**
   * Autograd's hook for a leaf of this group (autograd.ts): the leaf's first gradient of a
   * backward is kept as it is (summed in place by later ones) and moved into the leaf's slot
   * with the other pending ones, all copies together (one break in the compute pass rather than
   * one per parameter), once SETTLE_BYTES of them are pending and when backward ends; a gradient
   * already in its slot (a second backward before zeroGrad) is summed there. An f16 gradient (from
   * the group's f16 copy) that is the leaf's only one goes to its slot of an f16 buffer the same
   * way and is widened, with all the others, in one dispatch when backward ends; when more arrive,
   * it is widened at once and summed in f32 like any other, in the order they came.
   */
  acceptGrad(leaf: Tensor, d: Tensor): void {
    const rt = this.rt;
    if (d.dtype !== leaf.dtype) {
      if (!leaf.grad && !this.halfGrads.has(leaf)) {
        this.halfGrads.set(leaf, this.owned(d));
        this.hold(leaf, 'half');
        return;
      }
      const wide = cast(d, leaf.dtype as FloatDType);
      d.release();
      d = wide;
    }
    const half = this.halfGrads.get(leaf);
    if (half) {
      this.halfGrads.delete(leaf);
      this.pendingHalf.delete(leaf);
      leaf.grad = cast(half, leaf.dtype as FloatDType);
      half.release();
      this.hold(leaf, 'f32');
    }
    if (!leaf.grad) {
      leaf.grad = this.owned(d);
      this.hold(leaf, 'f32');
      return;
    }
    rt.accumulate(leaf.grad, d);
    d.release();
  }

  /** `d`, or a copy when it shares its buffer (a gradient is summed in place). */
  private owned(d: Tensor): Tensor {
    if (d.exclusive) return d;
    const c = this.rt.copy(d);
    d.release();
    return c;
  }

  // Gradients held as produced until they are copied into their slots: kept until backward ended,
  // a step held all its gradients twice at its peak (swin_t 224 batch 1: 843 MiB against 723
  // before the flat layout); copied one by one as they arrived, each copy broke the compute pass
  // (the default step took 0.27 s against 0.22). Settling every SETTLE_BYTES bounds both.
  private pendingF32 = new Set<Tensor>();
  private pendingHalf = new Set<Tensor>();
  private pendingBytes = 0;

  private hold(leaf: Tensor, kind: 'f32' | 'half'): void {
    (kind === 'f32' ? this.pendingF32 : this.pendingHalf).add(leaf);
    this.pendingBytes += kind === 'f32' ? leaf.bytes : leaf.bytes / 2;
    if (this.pendingBytes >= SETTLE_BYTES) this.settlePending();
  }

  /** Copies the pending gradients into their slots (f32, or the f16 buffer's) and frees them. */
  private settlePending(): void {
    const rt = this.rt;
    for (const leaf of this.pendingF32) {
      const g = leaf.grad!;
      const slot = rt.untracked(() => this.gradBuffer().view(leaf.flat!.index, leaf.shape));
      rt.batch.copy(g.buffer, g.byteOffset, slot.buffer, slot.byteOffset, g.bytes);
      g.release();
      leaf.grad = slot;
    }
    if (this.pendingHalf.size > 0) this.halfGradBuffer ??= this.alloc('f16', `${this.label} f16 grads`);
    for (const leaf of this.pendingHalf) {
      const g = this.halfGrads.get(leaf)!;
      const slot = rt.untracked(() => this.halfGradBuffer!.view(leaf.flat!.index, leaf.shape));
      rt.batch.copy(g.buffer, g.byteOffset, slot.buffer, slot.byteOffset, g.bytes);
      g.release();
      this.halfGrads.set(leaf, slot);
    }
    this.pendingF32.clear();
    this.pendingHalf.clear();
    this.pendingBytes = 0;
  }

  /** Leaves whose only gradient so far is f16 (from the f16 copy), not yet widened: the gradient as
   *  produced while pending, then its slot of the f16 buffer. */
  private halfGrads = new Map<Tensor, Tensor>();
  private halfGradBuffer: FlatBuffer | null = null;
  private widenTable: { key: string; table: Tensor; runs: SegmentRun[] } | null = null;

  /** Ends a backward (autograd.ts calls it): the pending gradients into their slots, the f16 ones
   *  widened into their f32 slots. */
  settleGrads(): void {
    this.settlePending();
    if (this.halfGrads.size > 0) this.widenHalfGrads();
  }

  /** The f16 gradients, already in their slots of the f16 buffer, widened into the f32 slots in one dispatch. */
  private widenHalfGrads(): void {
    const rt = this.rt;
    const half = this.halfGradBuffer!;
    const slots = [...this.halfGrads.keys()].map((leaf) => leaf.flat!.index).sort((a, b) => a - b);
    for (const view of this.halfGrads.values()) view.release();
    const key = slots.join();
    if (this.widenTable?.key !== key) {
      this.widenTable?.table.release();
      const t = segmentTable(this, slots, WIDEN_WG * WIDEN_PER);
      this.widenTable = { key, table: rt.untracked(() => rt.tensor(t.rows, [t.rows.length], 'i32')), runs: t.runs };
    }
    const grads = this.gradBuffer();
    for (const run of this.widenTable.runs) {
      rt.dispatch(WIDEN, {
        op: 'widen_slots', storage: { wide4: grads.segmentBinding(run.segment), half4: half.segmentBinding(run.segment), table: this.widenTable.table.binding },
        params: { chunks: run.chunks, first: run.first }, constants: { WG: WIDEN_WG, PER: WIDEN_PER }, workgroups: [run.chunks],
      });
    }
    for (const leaf of this.halfGrads.keys()) leaf.grad = rt.untracked(() => grads.view(leaf.flat!.index, leaf.shape));
    this.halfGrads.clear();
  }

  /** The parameters in `dtype`, cast in one dispatch if missing or stale; kept fresh by in-place updaters. */
  shadow(dtype: FloatDType): FlatBuffer {
    let s = this.shadows.get(dtype);
    if (!s) {
      s = { buf: this.alloc(dtype, `${this.label} ${dtype} copy`, 'shadow'), fresh: false };
      this.shadows.set(dtype, s);
    }
    if (!s.fresh) {
      this.castParams(s.buf);
      s.fresh = true;
    }
    return s.buf;
  }

  /** The shadow of `dtype` if one is kept, for an in-place updater to write alongside the parameters. */
  shadowIfKept(dtype: FloatDType): FlatBuffer | undefined { return this.shadows.get(dtype)?.buf; }

  /** The host wrote parameters (Runtime.write): shadows are recast at their next use. */
  paramsWritten(): void { for (const s of this.shadows.values()) s.fresh = false; }

  private castParams(to: FlatBuffer): void {
    const rt = this.rt;
    rt.untracked(() => {
      for (const { start, span } of this.layout.segments) {
        const from = rt.view(this.params.storage, [span], 'f32', start * 4, span * 4);
        const into = rt.view(to.storage, [span], to.dtype, start * itemBytes(to.dtype), storageBytes(to.dtype, span));
        castInto(into, from);
        from.release();
        into.release();
      }
    });
  }

  /**
   * Overwrites the padding of `buf` with `value` (tests: padding must never be read as data). An
   * f16 pad starting at an odd element keeps its first element (uploads move 4-byte words).
   */
  poisonPadding(buf: FlatBuffer, value: number): void {
    const item = itemBytes(buf.dtype);
    for (const [a, b] of this.layout.pads()) {
      const start = Math.ceil((a * item) / 4) * 4;
      const words = (b * item - start) / 4;
      if (words <= 0) continue;
      const data = buf.dtype === 'f16' ? new Uint16Array(2 * words).fill(encodeHalf([value])[0]!) : new Float32Array(words).fill(value);
      this.rt.batch.upload(buf.buffer, start, data);
    }
  }

  /** Drops the group's gradient and shadow buffers (views alive keep theirs). */
  release(): void {
    this.grads?.release();
    this.grads = null;
    this.halfGradBuffer?.release();
    this.halfGradBuffer = null;
    this.widenTable?.table.release();
    this.widenTable = null;
    for (const s of this.shadows.values()) s.buf.release();
    this.shadows.clear();
  }
}

/**
 * `t` in `dtype` for reading (a parameter used by an f16 model): the same tensor when it already
 * is; the slot of its group's shadow when `t` is a parameter of a flat group (no cast per use;
 * recorded as a cast, so its gradient reaches `t` in f32); otherwise a cast.
 */
export function asDtype(t: Tensor, dtype: FloatDType): Tensor {
  if (t.dtype === dtype) return t;
  const slot = t.flat;
  if (slot?.role !== 'param') return cast(t, dtype);
  const view = slot.group.shadow(dtype).view(slot.index, t.shape);
  // the f16 gradient goes to the group as it is (acceptGrad widens all of a backward's at once)
  t.rt.tape.record('cast', [t], view, [], (g) => [g.retain()]);
  return view;
}

/** One dispatch of a kernel over a segment: chunk rows [first, first + chunks) of its table. */
export interface SegmentRun { segment: number; first: number; chunks: number }

/**
 * Chunk rows (begin4, end4, limit, hyper) over slots `slots` of `group`'s layout, each slot cut
 * into chunks of at most `chunk4` vec4s, with offsets relative to the start of the slot's segment
 * (what a kernel binding that segment indexes); `hyperOf(slot)` is the row of its step scalars.
 * Rows are grouped by segment; `runs` says which rows each segment's dispatch takes.
 */
export function segmentTable(group: FlatGroup, slots: readonly number[], chunk4: number, hyperOf: (slot: number) => number = () => 0): { rows: Uint32Array; runs: SegmentRun[] } {
  const L = group.layout;
  const rows: number[] = [];
  const runs: SegmentRun[] = [];
  const bySegment = [...slots].sort((a, b) => a - b);
  for (const i of bySegment) {
    const segment = L.segmentOf(i);
    const base = L.segments[segment]!.start;
    if (runs[runs.length - 1]?.segment !== segment) runs.push({ segment, first: rows.length / 4, chunks: 0 });
    const begin = (L.offsets[i]! - base) / 4;
    const n4 = Math.ceil(L.sizes[i]! / 4);
    for (let c = 0; c < n4; c += chunk4) {
      rows.push(begin + c, begin + Math.min(n4, c + chunk4), L.offsets[i]! - base + L.sizes[i]!, hyperOf(i));
      runs[runs.length - 1]!.chunks++;
    }
  }
  return { rows: Uint32Array.from(rows), runs };
}
