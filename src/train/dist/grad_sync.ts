// Gradient all-reduce for data parallelism: parameters' gradients travel in buckets, each copied
// into one GPU buffer, read back into host memory and summed over ranks (Collectives.sumInPlace,
// an async MPI call on a koffi worker thread), then uploaded back into the gradients. Without
// overlap, gradients that live in one flat buffer (runtime/flat.ts: the optimizer's flat group)
// travel as that one buffer: one readback, one all-reduce, one upload.
//
// Overlap: backward is recorded with a hook on "this leaf's gradient is final" (Tape.backward's
// onLeafFinal). When every gradient of a bucket is final, its copy and readback are recorded and
// submitted right away, so the GPU carries on with the rest of backward while earlier buckets are
// on the wire. The bucket plan (which parameters, in which order) is fixed on the first step, in
// the order backward finished the gradients, and checked to be the same on every rank; MPI calls
// are then issued in plan order on every rank.
//
// Scaling: the loss's backward already divides by the GLOBAL pixel count and uses the GLOBAL Dice
// sums (see src/runtime/ops/loss.ts), so each rank's gradient is its share of the global
// gradient and the reduction is a plain sum.
import type { FlatBuffer } from '../../runtime/flat.js';
import type { Runtime } from '../../runtime/runtime.js';
import type { Tensor } from '../../runtime/tensor.js';
import { paddedLength } from './mpi.js';

/** What gradient sync needs from the communicator (Mpi implements it; tests may fake it). */
export interface Collectives {
  readonly rank: number;
  readonly size: number;
  /** Σ over ranks in rank order, float64, identical on every rank. */
  sumOrdered(values: Float64Array): Promise<Float64Array>;
  /** In-place float32 sum over ranks, identical on every rank; length a multiple of `size`. */
  sumInPlace(data: Float32Array, scratch?: Float32Array): Promise<void>;
}

export interface GradSyncOptions {
  /** Bucket size in bytes (default 16 MiB). */
  bucketBytes?: number;
  /** Start buckets during backward (default true); false: all buckets after backward. */
  overlap?: boolean;
}

export interface SyncTimes {
  /** Seconds recording backward (JS), then waiting for the last bucket after recording ended. */
  record: number;
  tail: number;
  buckets: number;
  bytes: number;
}

interface Bucket { params: number[]; offsets: number[]; floats: number; padded: number }

export class GradSync {
  private plan: Bucket[] | null = null;
  readonly overlap: boolean;
  readonly bucketBytes: number;
  last: SyncTimes = { record: 0, tail: 0, buckets: 0, bytes: 0 };

  constructor(readonly rt: Runtime, readonly params: readonly Tensor[], readonly comm: Collectives, opts: GradSyncOptions = {}) {
    this.overlap = opts.overlap ?? true;
    this.bucketBytes = opts.bucketBytes ?? 16 << 20;
  }

  get buckets(): number { return this.plan?.length ?? 0; }

  /**
   * Back-propagates from `root` (seeded with `seed`, or ones) and leaves every parameter's `.grad`
   * holding the sum over ranks. Resolves once the reduced gradients are recorded for upload (the
   * optimizer can then be recorded). In mixed precision the parameters' f16 gradients are widened
   * into their f32 slots when backward ends (runtime/flat.ts), and only then announced final, so
   * their buckets start after backward.
   */
  async backward(root: Tensor, seed?: Tensor): Promise<void> {
    const t0 = performance.now();
    const index = new Map(this.params.map((p, i) => [p, i]));
    const plan = this.plan;
    const started: Promise<void>[] = [];
    let chain: Promise<void> = Promise.resolve();
    if (plan && this.overlap) {
      // pending[b] = gradients of bucket b not final yet; bucket starts when it reaches 0
      const bucketOf = new Map<number, number>();
      plan.forEach((b, bi) => b.params.forEach((i) => bucketOf.set(i, bi)));
      const pending = plan.map((b) => b.params.length);
      const reads: (Promise<Float32Array> | undefined)[] = plan.map(() => undefined);
      this.rt.tape.backward(root, seed, (leaf) => {
        const b = bucketOf.get(index.get(leaf) ?? -1);
        if (b === undefined) return;
        if (--pending[b]! === 0) reads[b] = this.readBucket(plan[b]!);
      });
      const missing = pending.findIndex((n) => n > 0);
      if (missing >= 0) throw new Error(`gradient sync: bucket ${missing} did not get all its gradients this step (the model's graph changed between steps)`);
      // MPI calls in plan order on every rank
      plan.forEach((b, bi) => { chain = chain.then(() => this.reduceBucket(b, reads[bi]!)); });
      started.push(chain);
    } else {
      const order: number[] = [];
      if (plan) this.rt.backward(root, seed);
      else this.rt.tape.backward(root, seed, (leaf) => { const i = index.get(leaf); if (i !== undefined) order.push(i); });
      const use = plan ?? await this.makePlan(order);
      const flat = this.flatGrads();
      if (flat) started.push(this.reduceFlat(flat));
      else {
        use.forEach((b) => { const read = this.readBucket(b); chain = chain.then(() => this.reduceBucket(b, read)); });
        started.push(chain);
      }
    }
    const t1 = performance.now();
    await Promise.all(started);
    const p = this.plan!;
    this.last = { record: (t1 - t0) / 1000, tail: (performance.now() - t1) / 1000, buckets: p.length, bytes: 4 * p.reduce((a, b) => a + b.padded, 0), ...this.lastFlat };
    this.lastFlat = {};
  }

  private lastFlat: Partial<SyncTimes> = {};

  /**
   * The flat gradient buffer holding every parameter's gradient in its slot (runtime/flat.ts;
   * AdamW puts the parameters in one flat group), or null when the gradients are scattered.
   */
  private flatGrads(): FlatBuffer | null {
    const group = this.params[0]?.flat?.group;
    if (!group) return null;
    const inSlots = this.params.every((p) => p.flat?.role === 'param' && p.flat.group === group && p.grad?.flat?.role === 'grad' && p.grad.flat.group === group);
    return inSlots ? group.gradBuffer() : null;
  }

  /**
   * After backward (no overlap): the whole flat gradient buffer in one readback, one all-reduce
   * and one upload. Padding between slots travels along and is summed too; it is never read as data.
   */
  private async reduceFlat(grads: FlatBuffer): Promise<void> {
    const floats = grads.group.layout.total;
    const bytes = await this.rt.batch.read(grads.buffer, 0, 4 * floats);
    const host = new Float32Array(paddedLength(floats, this.comm.size));
    host.set(new Float32Array(bytes, 0, floats));
    await this.comm.sumInPlace(host);
    this.rt.batch.upload(grads.buffer, 0, host.subarray(0, floats));
    this.lastFlat = { buckets: 1, bytes: 4 * host.length };
  }

  /** Buckets from the finishing order of step 1, checked identical on every rank. */
  private async makePlan(order: number[]): Promise<Bucket[]> {
    const limit = Math.max(1, this.bucketBytes >> 2);
    const plan: Bucket[] = [];
    let cur: Bucket = { params: [], offsets: [], floats: 0, padded: 0 };
    for (const i of order) {
      const p = this.params[i]!;
      if (cur.params.length > 0 && cur.floats + p.size > limit) { plan.push(cur); cur = { params: [], offsets: [], floats: 0, padded: 0 }; }
      cur.offsets.push(cur.floats);
      cur.params.push(i);
      cur.floats += p.size;
    }
    if (cur.params.length > 0) plan.push(cur);
    for (const b of plan) b.padded = paddedLength(b.floats, this.comm.size);
    // Same plan everywhere, or the collectives would pair different buffers (or hang).
    let h = 0;
    for (const b of plan) for (const i of [...b.params, -1]) h = (h * 31 + i + 7) % 2147483647;
    const mine = Float64Array.of(plan.length, h, plan.reduce((a, b) => a + b.floats, 0));
    const all = await this.comm.sumOrdered(mine);
    for (let k = 0; k < 3; k++) {
      if (all[k] !== mine[k]! * this.comm.size) {
        throw new Error(`gradient sync: rank ${this.comm.rank} has a different set of gradients than the other ranks ` +
          `(${plan.length} buckets of ${mine[2]} floats); every rank must run the same model`);
      }
    }
    this.plan = plan;
    return plan;
  }

  /** The gradients of a bucket, in plan order. */
  private grads(b: Bucket): Tensor[] {
    return b.params.map((i) => {
      const g = this.params[i]!.grad;
      if (!g) throw new Error(`gradient sync: parameter ${this.params[i]!.name ?? i} has no gradient this step`);
      return g;
    });
  }

  /** Reads a bucket's gradients back in one readback (submits) into one zero-padded host array. */
  private readBucket(b: Bucket): Promise<Float32Array> {
    return this.rt.readMany(this.grads(b)).then((parts) => {
      const host = new Float32Array(b.padded);           // padding stays zero
      parts.forEach((g, k) => host.set(g, b.offsets[k]!));
      return host;
    });
  }

  /** Sums a bucket over ranks and records its upload back into the gradients. */
  private async reduceBucket(b: Bucket, read: Promise<Float32Array>): Promise<void> {
    const host = await read;
    await this.comm.sumInPlace(host);
    const rt = this.rt;
    const summed = rt.untracked(() => rt.tensor(host.subarray(0, b.floats), [b.floats]));
    rt.unpackInto(summed, this.grads(b));
    summed.release();
  }
}

/**
 * Whether buckets should overlap backward on this device: yes on GPUs; no on software adapters,
 * where the "GPU" is the CPU cores that MPI's busy-waiting would take (measured slower on lavapipe,
 * bench/suites/dist.ts). SEGFACE_GRAD_OVERLAP=0|1 overrides.
 */
export function defaultOverlap(softwareAdapter: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.SEGFACE_GRAD_OVERLAP === '0' || env.SEGFACE_GRAD_OVERLAP === '1') return env.SEGFACE_GRAD_OVERLAP === '1';
  return !softwareAdapter;
}

/** The contiguous share of a global batch of `n` samples for `rank` of `size` (the first n mod size get one more). */
export function shardRange(n: number, rank: number, size: number): { start: number; count: number } {
  const base = Math.floor(n / size);
  const extra = n % size;
  const count = base + (rank < extra ? 1 : 0);
  return { start: rank * base + Math.min(rank, extra), count };
}
