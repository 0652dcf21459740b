// Off-main-thread input pipeline: N worker threads (node:worker_threads) each open the same
// dataset from a DatasetSpec and turn batch jobs (indices + epoch) into normalised batches
// (decode, crop/augment, resize, normalise), returning the Float32Array/Int32Array buffers as
// transferables (no copy). Up to `depth` jobs are in flight; results are yielded strictly in job
// order whatever the workers' timing, and each job's result is a pure function of (dataset,
// indices, epoch), so the stream is identical for any number of workers, including 0 (= load on
// the calling thread, the reference the tests compare with).
//
// Workers run the TypeScript sources: when this module is itself a .ts file (tsx, vitest), the
// worker gets tsx's loader through execArgv.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Batch } from './dataset.js';
import { loadBatch, type LoadedBatch } from './batches.js';
import { openFromSpec, type DatasetSpec } from './open.js';

export interface BatchJob {
  indices: number[];
  /** Seeds augmentation (and nothing else). */
  epoch: number;
}

export interface PrefetchOptions {
  /** Worker threads; 0 loads on the calling thread. */
  workers: number;
  /** Jobs in flight (default 2 per worker, at least 2). */
  depth?: number;
}

/** What a worker posts back for a job. */
export type WorkerReply =
  | { id: number; ok: true; indices: number[]; skipped: LoadedBatch['skipped']; batch?: Omit<Batch, 'images' | 'labels' | 'landmarks'> & { images: Float32Array; labels: Int32Array; landmarks?: Float32Array } }
  | { id: number; ok: false; error: string };

interface Pending {
  resolve(b: LoadedBatch): void;
  reject(e: Error): void;
  worker: number;
}

/**
 * The worker's entry: the compiled worker next to this module, or, when running from TypeScript
 * sources, a one-line bootstrap that loads the .ts worker through tsx's API (loader flags in
 * execArgv do not reach worker threads reliably on Node 20).
 */
function workerEntry(): { entry: string | URL; eval: boolean } {
  if (!import.meta.url.endsWith('.ts')) return { entry: new URL('./prefetch_worker.js', import.meta.url), eval: false };
  const target = new URL('./prefetch_worker.ts', import.meta.url).href;
  // tsx's ESM API entry, from its package.json exports (require.resolve would pick the CJS one).
  const pkgPath = createRequire(import.meta.url).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  const api = pathToFileURL(join(dirname(pkgPath), pkg.exports['./esm/api']!.import.default)).href;
  const code = `import(${JSON.stringify(api)}).then((m) => m.tsImport(${JSON.stringify(target)}, ${JSON.stringify(target)}))` +
    `.catch((e) => { throw e; });`;
  return { entry: code, eval: true };
}

export class BatchPrefetcher {
  private readonly workers: Worker[] = [];
  private readonly load: number[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | undefined;
  private closed = false;
  readonly depth: number;

  constructor(readonly spec: DatasetSpec, readonly opts: PrefetchOptions) {
    if (!Number.isInteger(opts.workers) || opts.workers < 0) throw new Error(`prefetch: workers ${opts.workers} must be an integer >= 0`);
    this.depth = opts.depth ?? Math.max(2, 2 * opts.workers);
    const { entry, eval: isEval } = workerEntry();
    for (let w = 0; w < opts.workers; w++) {
      const worker = new Worker(entry, { workerData: { spec }, eval: isEval });
      worker.on('message', (m: WorkerReply) => this.onReply(w, m));
      worker.on('error', (e) => this.fail(new Error(`prefetch worker ${w}: ${e.message}`)));
      worker.on('exit', (code) => { if (!this.closed && code !== 0) this.fail(new Error(`prefetch worker ${w} exited with code ${code}`)); });
      worker.unref(); // referenced only while it has jobs, so a forgotten close() cannot hold the process
      this.workers.push(worker);
      this.load.push(0);
    }
  }

  private onReply(w: number, m: WorkerReply): void {
    const p = this.pending.get(m.id);
    if (!p) return; // a job whose consumer went away
    this.pending.delete(m.id);
    if (--this.load[w]! === 0) this.workers[w]?.unref();
    if (!m.ok) { p.reject(new Error(m.error)); return; }
    p.resolve({ indices: m.indices, skipped: m.skipped, ...(m.batch ? { batch: m.batch } : {}) });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private submit(job: BatchJob): Promise<LoadedBatch> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('prefetch: closed'));
    if (this.workers.length === 0) {
      // Same work on this thread, deferred so callers see the same asynchronous interface.
      return Promise.resolve().then(() => loadBatch(openOnce(this), job.indices, job.epoch, onBadOf(this.spec)));
    }
    let w = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.load[i]! < this.load[w]!) w = i;
    const id = this.nextId++;
    if (this.load[w]!++ === 0) this.workers[w]!.ref();
    return new Promise<LoadedBatch>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker: w });
      this.workers[w]!.postMessage({ id, indices: job.indices, epoch: job.epoch });
    });
  }

  /** The jobs' batches, in job order, with up to `depth` jobs loading ahead. */
  async *batches(jobs: readonly BatchJob[]): AsyncGenerator<LoadedBatch> {
    const inFlight: Promise<LoadedBatch>[] = [];
    let next = 0;
    const top = (): void => {
      while (next < jobs.length && inFlight.length < this.depth) {
        const p = this.submit(jobs[next++]!);
        p.catch(() => {}); // surfaced when awaited in order
        inFlight.push(p);
      }
    };
    top();
    while (inFlight.length > 0) {
      const r = await inFlight.shift()!;
      top();
      yield r;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}

const localDatasets = new WeakMap<BatchPrefetcher, ReturnType<typeof openFromSpec>>();
function openOnce(p: BatchPrefetcher): ReturnType<typeof openFromSpec> {
  let ds = localDatasets.get(p);
  if (!ds) { ds = openFromSpec(p.spec); localDatasets.set(p, ds); }
  return ds;
}

function onBadOf(spec: DatasetSpec): 'skip' | 'stop' {
  return spec.kind === 'synthetic' ? 'stop' : spec.onBad;
}
