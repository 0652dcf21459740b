// A prefetch worker thread (see prefetch.ts): opens the dataset described by workerData.spec and
// answers each job {id, indices, epoch} with the loaded batch, its buffers transferred.
import { parentPort, workerData } from 'node:worker_threads';
import { loadBatch } from './batches.js';
import { openFromSpec, type DatasetSpec } from './open.js';
import type { WorkerReply } from './prefetch.js';

const port = parentPort;
if (!port) throw new Error('prefetch_worker: must run as a worker thread');
const spec = (workerData as { spec: DatasetSpec }).spec;
const onBad = spec.kind === 'synthetic' ? 'stop' : spec.onBad;
let ds: ReturnType<typeof openFromSpec> | undefined;
let openError: string | undefined;
try {
  ds = openFromSpec(spec);
} catch (e) {
  openError = (e as Error).message;
}

port.on('message', (job: { id: number; indices: number[]; epoch: number }) => {
  let reply: WorkerReply;
  const transfer: ArrayBuffer[] = [];
  try {
    if (!ds) throw new Error(openError ?? 'dataset not open');
    const r = loadBatch(ds, job.indices, job.epoch, onBad);
    reply = { id: job.id, ok: true, indices: r.indices, skipped: r.skipped, ...(r.batch ? { batch: r.batch } : {}) };
    if (r.batch) {
      transfer.push(r.batch.images.buffer as ArrayBuffer, r.batch.labels.buffer as ArrayBuffer);
      if (r.batch.landmarks) transfer.push(r.batch.landmarks.buffer as ArrayBuffer);
    }
  } catch (e) {
    reply = { id: job.id, ok: false, error: (e as Error).message };
  }
  port.postMessage(reply, transfer);
});
