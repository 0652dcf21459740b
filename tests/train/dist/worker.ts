// A training worker for the data-parallel tests and bench, run directly (world size 1) or under
// `mpiexec -n N`. It trains the tiny model at 32 px on synthetic faces with stochastic depth off,
// for steps [from, to) of a fixed global-batch schedule, and rank 0 writes the step losses and the
// final parameters (and optionally a checkpoint) to `out`.
//
//   tsx tests/train/dist/worker.ts '{"out": "/tmp/x", "from": 0, "to": 3, ...}'
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeConfig } from '../../../src/model/config.js';
import { loadParams, syntheticParams } from '../../../src/model/params.js';
import { AdamW } from '../../../src/runtime/ops/adamw.js';
import { Runtime } from '../../../src/runtime/runtime.js';
import { CHECKPOINT_VERSION, loadCheckpoint, restoreOptimizer, saveCheckpoint } from '../../../src/train/checkpoint.js';
import { epochBatches, makeBatch } from '../../../src/train/data/dataset.js';
import { SyntheticDataset } from '../../../src/train/data/synthetic_dataset.js';
import { GradSync, shardRange } from '../../../src/train/dist/grad_sync.js';
import { setupWorld } from '../../../src/train/dist/launch.js';
import { MultiStepLR } from '../../../src/train/schedule.js';
import { Trainer } from '../../../src/train/trainer.js';

export interface WorkerJob {
  out: string;
  from: number;
  to: number;
  /** Global batch (default 4) and samples (default 12). */
  batch?: number;
  samples?: number;
  res?: number;
  /** Resume from this checkpoint directory; write one after the last step into `saveTo`. */
  resume?: string;
  saveTo?: string;
  overlap?: boolean;
  bucketBytes?: number;
  /** Train with stochastic depth (default off). */
  stochasticDepth?: boolean;
  /** Throw on this rank at step `failStep` (fault test). */
  failRank?: number;
  failStep?: number;
  /** Rank 0 writes the first step's (summed) gradients to grads.bin, in parameter order (zeros where none). */
  captureGrads?: boolean;
  /** Activation storage (default f32); f16 trains with loss scaling, starting at `initialScale` (default 2^16). */
  precision?: 'f32' | 'f16';
  initialScale?: number;
}

export interface WorkerResult {
  ranks: number;
  losses: number[][];
  gradNorms: number[];
  /** Seconds per step; comm seconds per step (inside MPI calls); GradSync's tail after backward recording. */
  stepSeconds: number[];
  commSeconds: number[];
  tailSeconds: number[];
  buckets: number;
  gradBytes: number;
  params: number;
  adapters: string[];
  /** Every rank ended with bit-identical parameters. */
  ranksInSync: boolean;
  /** Per step: whether the optimizer applied it, and the loss scale it ran with (f16). */
  applied: boolean[];
  scales: number[];
}

const job = JSON.parse(process.argv[2]!) as WorkerJob;
const world = await setupWorld({});
const rt = await Runtime.create({});
const devices = await world.reportDevices(rt);
const RES = job.res ?? 32;
const B = job.batch ?? 4;
const cfg = makeConfig('tiny', 'lapa');
const data = new SyntheticDataset('train', job.samples ?? 12, RES, 'lapa', 3);
const ck = job.resume ? loadCheckpoint(job.resume) : undefined;
const params = ck ? loadParams(rt, cfg, ck.weights, job.resume!) : syntheticParams(rt, cfg, 9);
const optim = new AdamW(params.params(), { lr: 1e-3, weightDecay: 1e-5 });
if (ck) restoreOptimizer(optim, params, ck, job.resume!);
const sync = world.mpi ? new GradSync(rt, params.params(), world.mpi, { overlap: job.overlap ?? true, bucketBytes: job.bucketBytes ?? 256 << 10 }) : undefined;
const trainer = new Trainer(rt, params, optim, new MultiStepLR(1e-3, [1]), 3, job.stochasticDepth ?? false, sync);
trainer.precision = job.precision ?? 'f32';
if (job.initialScale !== undefined) trainer.scaler.restore({ scale: job.initialScale, goodSteps: 0 });

// The optimizer sees the gradients after the all-reduce: copy them out as it starts.
let captured: Promise<Float32Array[]> | undefined;
if (job.captureGrads) {
  const step = optim.step.bind(optim);
  optim.step = (o) => {
    if (!captured) {
      const copies = params.params().map((p) => (p.grad ? rt.untracked(() => rt.copy(p.grad!)) : null));
      captured = Promise.all(copies.map(async (c, i) => {
        if (!c) return new Float32Array(params.params()[i]!.size);
        const data = (await c.read()) as Float32Array;
        c.release();
        return data;
      }));
    }
    return step(o);
  };
}
const perEpoch = Math.floor(data.length / B);
const result: WorkerResult = {
  ranks: world.size, losses: [], gradNorms: [], stepSeconds: [], commSeconds: [], tailSeconds: [], buckets: 0, gradBytes: 0,
  params: params.params().reduce((a, p) => a + p.size, 0), adapters: devices.map((d) => d.adapter), ranksInSync: true, applied: [], scales: [],
};
for (let s = job.from; s < job.to; s++) {
  const epoch = Math.floor(s / perEpoch);
  const global = epochBatches(data.length, B, 3, epoch)[s % perEpoch]!;
  const { start, count } = shardRange(B, world.rank, world.size);
  const batch = makeBatch(data, global.slice(start, start + count));
  if (job.failRank === world.rank && job.failStep === s) throw new Error(`injected fault at step ${s}`);
  const comm0 = world.mpi?.commSeconds ?? 0;
  const t0 = performance.now();
  const r = await trainer.step(batch, RES, epoch, s, start);
  result.stepSeconds.push((performance.now() - t0) / 1000);
  result.commSeconds.push((world.mpi?.commSeconds ?? 0) - comm0);
  result.tailSeconds.push(sync?.last.tail ?? 0);
  result.losses.push([r.total, r.ce, r.dice]);
  result.gradNorms.push(r.gradNorm);
  result.applied.push(r.applied);
  result.scales.push(r.scale ?? 1);
}
result.buckets = sync?.buckets ?? 0;
result.gradBytes = sync?.last.bytes ?? 0;
if (world.mpi) {
  let h = 0;
  for (const p of params.params()) for (const v of new Uint32Array(((await p.read()) as Float32Array).buffer)) h = (Math.imul(h, 31) + v) >>> 0;
  result.ranksInSync = new Set(await world.mpi.allgatherStrings(String(h))).size === 1;
}
if (job.saveTo && world.isRoot) {
  await saveCheckpoint(job.saveTo, params, optim, {
    version: CHECKPOINT_VERSION, epoch: 0, batchInEpoch: job.to, globalStep: job.to, optimSteps: [...optim.steps], skippedSteps: 0, args: {},
  });
}
if (world.isRoot) {
  mkdirSync(job.out, { recursive: true });
  const all = params.params();
  const flat = new Float32Array(result.params);
  let o = 0;
  for (const p of all) { flat.set((await p.read()) as Float32Array, o); o += p.size; }
  writeFileSync(join(job.out, 'params.bin'), flat);
  if (captured) {
    const g = new Float32Array(result.params);
    let k = 0;
    for (const t of await captured) { g.set(t, k); k += t.length; }
    writeFileSync(join(job.out, 'grads.bin'), g);
  }
  writeFileSync(join(job.out, 'result.json'), JSON.stringify(result));
}
rt.destroy();
await world.finish();
