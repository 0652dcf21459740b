// Tensors: a contiguous row-major shape over a pooled GPU buffer, reference counted.
//
// Two kinds of reference keep a tensor's buffer alive:
// - owner references (`retain`/`release`): the creator's, handed on with the value; a scope
//   (runtime.ts) releases, at its end, the owner reference of every tensor created inside it that
//   is still alive and not part of its result. Code may release its tensors early.
// - pins (`pin`/`unpin`): holders outside that ownership, such as the autograd tape keeping what
//   backward needs. A pinned tensor whose owners are gone is dead to scopes but keeps its buffer.
// The buffer returns to the pool when both counts reach zero, so inference frees activations as
// they die while training keeps exactly what the tape pinned.
import type { Runtime } from './runtime.js';
import type { GradNode } from './autograd.js';
import type { FlatGroup } from './flat.js';

import { decodeHalf } from './half.js';

/** Element types: float32, IEEE half (activations in mixed precision; runtime/half.ts), int32. */
export type DType = 'f32' | 'f16' | 'i32';

/** Bytes per element. */
export const itemBytes = (dtype: DType): number => (dtype === 'f16' ? 2 : 4);

/** Bytes a tensor's buffer holds: storage bindings come in multiples of 4 bytes (an odd f16 count gets one pad element). */
export const storageBytes = (dtype: DType, size: number): number => Math.ceil((size * itemBytes(dtype)) / 4) * 4;

/** Host values of a tensor read back: f32 and f16 (widened exactly) as Float32Array, i32 as Int32Array. */
export function hostValues(dtype: DType, size: number, data: ArrayBuffer): Float32Array | Int32Array {
  if (dtype === 'f16') return decodeHalf(new Uint16Array(data), size);
  return dtype === 'f32' ? new Float32Array(data, 0, size) : new Int32Array(data, 0, size);
}

/** Where a view of a flat group lives: the group (runtime/flat.ts), its slot, and which of the group's buffers. */
export interface FlatSlot { readonly group: FlatGroup; readonly index: number; readonly role: 'param' | 'grad' | 'shadow' | 'state' }

let nextId = 1;

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function checkShape(op: string, shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${op}: invalid shape [${shape.join(', ')}]`);
  }
}

export function shapeStr(shape: readonly number[]): string { return `[${shape.join(', ')}]`; }

/** A pooled buffer shared by a tensor and its reshaped views; back to the pool at zero references. */
export class Storage {
  refs = 1;
  constructor(readonly rt: Runtime, readonly buffer: GPUBuffer) {}
  release(): void { if (--this.refs === 0) this.rt.freeBuffer(this.buffer); }
}

export class Tensor {
  readonly id = nextId++;
  readonly size: number;
  private refs = 1;
  private pins = 0;
  /** True for parameters and for results of ops on tensors that require gradients. */
  requiresGrad = false;
  /** Accumulated gradient of a leaf (parameter); persistent until `zeroGrad`. */
  grad: Tensor | null = null;
  /** The op that produced this tensor, when recorded on the tape. */
  node: GradNode | null = null;
  name: string | undefined;

  /**
   * A tensor's data starts `byteOffset` bytes into its buffer: 0 for a tensor of its own; a view
   * into a flat buffer (runtime/flat.ts: parameters, gradients, optimizer moments) starts at its
   * slot, aligned to the device's minStorageBufferOffsetAlignment, and binds `span` bytes (its
   * slot with the padding to the next one: at least its data rounded up to 16 bytes, so vec4
   * kernels stay inside it). `flat` names the flat group and slot it lives in.
   */
  constructor(
    readonly rt: Runtime, readonly shape: readonly number[], readonly dtype: DType, storage: Storage,
    byteOffset = 0, span?: number, flat?: FlatSlot,
  ) {
    this.size = sizeOf(shape);
    this._storage = storage;
    this._byteOffset = byteOffset;
    this._span = span;
    this._flat = flat;
  }

  private _storage: Storage;
  private _byteOffset: number;
  private _span: number | undefined;
  private _flat: FlatSlot | undefined;
  get storage(): Storage { return this._storage; }
  get byteOffset(): number { return this._byteOffset; }
  get span(): number | undefined { return this._span; }
  get flat(): FlatSlot | undefined { return this._flat; }

  /**
   * Moves this tensor onto a slot of a flat buffer (FlatGroup.adopt, runtime/flat.ts, which has
   * copied the values there): the tensor keeps its identity (the model and the tape refer to it)
   * and its old buffer goes back to the pool. It must have no views of its own buffer alive.
   */
  relocate(storage: Storage, byteOffset: number, span: number, flat: FlatSlot): void {
    if (this._storage.refs !== 1 || this._span !== undefined) throw new Error(`relocate: ${this.describe()} has views of its buffer alive or is a view itself`);
    storage.refs++;
    this._storage.release();
    this._storage = storage;
    this._byteOffset = byteOffset;
    this._span = span;
    this._flat = flat;
  }

  get buffer(): GPUBuffer { return this.storage.buffer; }

  /** The storage binding of its data: the whole buffer for a tensor of its own, the slot for a view. */
  get binding(): { buffer: GPUBuffer; offset: number; size?: number } {
    return this.span === undefined ? { buffer: this.buffer, offset: 0 } : { buffer: this.buffer, offset: this.byteOffset, size: this.span };
  }

  /** Bytes a kernel may touch from `byteOffset` on (the binding's size). */
  get boundBytes(): number { return this.span ?? this.buffer.size; }

  get rank(): number { return this.shape.length; }
  /** Bytes of its data, rounded up to 4 (what copies and reads move). */
  get bytes(): number { return storageBytes(this.dtype, this.size); }
  get isFloat(): boolean { return this.dtype !== 'i32'; }
  /** Has an owner reference (scopes release only such tensors). */
  get alive(): boolean { return this.refs > 0; }
  /** Its buffer may still be used (an owner or a pin holds it). */
  get usable(): boolean { return this.refs > 0 || this.pins > 0; }
  /** True when nothing else refers to this tensor or its buffer, so it may be written in place. */
  get exclusive(): boolean { return this.refs === 1 && this.pins === 0 && this.storage.refs === 1; }
  /** Row-major strides in elements. */
  get strides(): number[] {
    const s = new Array<number>(this.shape.length);
    let acc = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= this.shape[i]!; }
    return s;
  }

  retain(): this {
    if (this.refs <= 0) throw new Error(`tensor ${this.describe()} used after release`);
    this.refs++;
    return this;
  }

  release(): void {
    if (this.refs <= 0) throw new Error(`tensor ${this.describe()} released twice`);
    if (--this.refs === 0 && this.pins === 0) this.storage.release();
  }

  /** Keeps the buffer alive outside owner references (the tape, activation recorders). */
  pin(): this {
    if (!this.usable) throw new Error(`tensor ${this.describe()} pinned after release`);
    this.pins++;
    return this;
  }

  unpin(): void {
    if (this.pins <= 0) throw new Error(`tensor ${this.describe()} unpinned more than pinned`);
    if (--this.pins === 0 && this.refs === 0) this.storage.release();
  }

  describe(): string { return `${this.name ?? `#${this.id}`} ${this.dtype}${shapeStr(this.shape)}`; }

  /**
   * Copies the values to the host (a readback: flushes pending work). Afterwards, with the batch
   * empty, the runtime measures any tuning unit met for the first time (runtime/tuner.ts).
   */
  async read(): Promise<Float32Array | Int32Array> {
    if (!this.usable) throw new Error(`read of released tensor ${this.describe()}`);
    const data = await this.rt.batch.read(this.buffer, this.byteOffset, this.bytes);
    if (this.rt.tuner.pendingCount > 0) await this.rt.tunePending();
    return hostValues(this.dtype, this.size, data);
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item() of ${this.describe()}: tensor has ${this.size} elements`);
    return (await this.read())[0]!;
  }

  /** Same buffer, another shape with the same element count (no copy; shares the reference). */
  reshape(shape: readonly number[]): Tensor {
    return this.rt.reshape(this, shape);
  }
}
