// Size-bucketed pool of storage buffers.
//
// A request is rounded up to a bucket (four per power of two, so at most 25 % waste; 256 bytes
// minimum) and served from that bucket's free list when possible. Releasing a buffer that pending,
// not yet submitted GPU work still reads is safe: all work goes through one queue in recording
// order, so the next user's writes land after the earlier reads (uploads are encoded as copies in
// the same command stream for that reason; see batch.ts).

const MIN_BUCKET = 256;

/** The bucket a request of `bytes` falls in: the smallest of 2^k·{1, 1.25, 1.5, 1.75} ≥ bytes. */
export function bucketSize(bytes: number): number {
  if (bytes <= MIN_BUCKET) return MIN_BUCKET;
  const octave = 2 ** Math.floor(Math.log2(bytes));
  const step = octave / 4;
  return Math.ceil(bytes / step) * step;
}

export interface PoolStats {
  /** Bytes in buffers handed out and not yet released (bucket sizes). */
  bytesLive: number;
  /** Highest `bytesLive` since creation or the last `resetPeak()`. */
  bytesPeak: number;
  /** Bytes in free buffers kept for reuse. */
  bytesFree: number;
  /** Bytes of every buffer the pool owns (live + free). */
  bytesAllocated: number;
  buffersAllocated: number;
  /** Requests served from a free list. */
  reuses: number;
  /** Requests that created a buffer. */
  creations: number;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  private stats: PoolStats = { bytesLive: 0, bytesPeak: 0, bytesFree: 0, bytesAllocated: 0, buffersAllocated: 0, reuses: 0, creations: 0 };
  static readonly USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

  constructor(private device: GPUDevice, private maxBufferSize: number) {}

  acquire(bytes: number, label: string): GPUBuffer {
    const size = bucketSize(bytes);
    if (size > this.maxBufferSize) {
      throw new Error(`${label}: ${bytes} bytes exceed the device's maxBufferSize (${this.maxBufferSize})`);
    }
    const list = this.free.get(size);
    let buffer = list?.pop();
    if (buffer) {
      this.stats.reuses++;
      this.stats.bytesFree -= size;
    } else {
      buffer = this.device.createBuffer({ size, usage: BufferPool.USAGE, label });
      this.stats.creations++;
      this.stats.buffersAllocated++;
      this.stats.bytesAllocated += size;
    }
    this.stats.bytesLive += size;
    this.stats.bytesPeak = Math.max(this.stats.bytesPeak, this.stats.bytesLive);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    const size = buffer.size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buffer);
    this.stats.bytesLive -= size;
    this.stats.bytesFree += size;
  }

  /** Destroys every free buffer. Callers must flush pending work that may still use them first. */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) {
        this.stats.bytesAllocated -= b.size;
        this.stats.buffersAllocated--;
        b.destroy();
      }
    }
    this.free.clear();
    this.stats.bytesFree = 0;
  }

  resetPeak(): void { this.stats.bytesPeak = this.stats.bytesLive; }

  snapshot(): PoolStats { return { ...this.stats }; }
}
