// `npm run train`: train SegFace. With no flags it trains the tiny config on the built-in
// synthetic faces so the loss visibly falls and validation mean F1 rises within minutes on a CPU.
import { mkdirSync, appendFileSync, existsSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { BACKBONES, CLASS_NAMES, makeConfig, type Dataset as DatasetName } from '../../model/config.js';
import { inferConfig, loadParams, syntheticParams, type ParamStore } from '../../model/params.js';
import { readStateDict } from '../../model/weights_file.js';
import { AdamW } from '../../runtime/ops/adamw.js';
import { GpuError } from '../../runtime/device.js';
import { Runtime } from '../../runtime/runtime.js';
import { CHECKPOINT_FILE, CHECKPOINT_VERSION, loadCheckpoint, removeStaleTemps, restoreOptimizer, saveCheckpoint, type TrainState } from '../checkpoint.js';
import { writeTrainingCurve } from '../curve.js';
import { epochBatches, type Batch, type Dataset } from '../data/dataset.js';
import { sequentialBatches } from '../data/batches.js';
import { describeSkipped, FileDataset, type BadSamplePolicy, type SkippedSample } from '../data/file_dataset.js';
import { openFromSpec, validationSplit, type DatasetSpec } from '../data/open.js';
import { BatchPrefetcher } from '../data/prefetch.js';
import { overlay, PALETTES, withLegend, writePng } from '../image/index.js';
import { ConfusionMatrix, HELEN_MERGES } from '../metrics.js';
import { MultiStepLR } from '../schedule.js';
import { Trainer, type StepResult } from '../trainer.js';
import { defaultOverlap, GradSync, shardRange } from '../dist/grad_sync.js';
import { isSoftwareAdapter } from '../dist/gpu_binding.js';
import { setupWorld } from '../dist/launch.js';

const USAGE = `usage: npm run train -- [options]
  --dataset celeb|lapa|helen   label set (default celeb)
  --data-dir DIR               real dataset root (holding CelebAMask-HQ/, LaPa/ or helen/, or that folder
                               itself); without it (or with 'synthetic') the built-in synthetic faces are used.
                               Validation uses the official val split (Helen: test)
  --bad-samples skip|stop      a corrupt image, missing label/mask or out-of-range label: leave the
                               sample out and count it, or stop naming the file (default stop)
  --workers N                  input-pipeline worker threads (default 2 with --data-dir, 0 on synthetic data)
  --model NAME                 ${Object.keys(BACKBONES).join(', ')} (default tiny)
  --res N                      input resolution, a multiple of 4 (default 64)
  --batch N                    batch size (default 4)
  --epochs N                   epochs (default 10)
  --lr X                       AdamW learning rate (default 1e-3 on synthetic data, 1e-4 otherwise)
  --weight-decay X             default 1e-5
  --milestones A,B             MultiStepLR epochs (x0.1), default none on synthetic data, 80,200 otherwise
  --seed N                     default 1
  --train-size N / --val-size N  synthetic split sizes (default 384 / 64)
  --eval-every N               validate every N epochs (default 1)
  --max-bad-steps N            stop after N consecutive non-finite steps (default 5)
  --out DIR                    run directory (default runs/NAME)
  --name NAME                  run name (default a timestamp)
  --resume DIR                 continue a run from its checkpoint with its saved settings; --epochs, --lr,
                               --max-bad-steps and --eval-every given with it change them (e.g. extend a run)
  --init-from FILE             start from weights (.safetensors or official .pt)
  --adapter I|NAME             WebGPU adapter
  --devices N                  data parallel on N GPUs of this machine (runs itself under mpiexec -n N;
                               needs MPICH). Under mpiexec/srun/MPIJob the launcher sets the ranks.
                               --batch is the global batch, split over the ranks`;

function fail(msg: string): never {
  console.error(`error: ${msg}\n${USAGE}`);
  process.exit(2);
}

// Unknown flags and missing values are usage errors, not stack traces.
const parseOrFail = ((c: Parameters<typeof parseArgs>[0]) => {
  try { return parseArgs(c); } catch (e) { return fail((e as Error).message); }
}) as typeof parseArgs;
const { values: v, tokens } = parseOrFail({
  tokens: true,
  options: {
    dataset: { type: 'string', default: 'celeb' }, 'data-dir': { type: 'string' }, model: { type: 'string', default: 'tiny' },
    res: { type: 'string', default: '64' }, batch: { type: 'string', default: '4' }, epochs: { type: 'string', default: '10' },
    lr: { type: 'string' }, 'weight-decay': { type: 'string', default: '1e-5' }, milestones: { type: 'string' },
    seed: { type: 'string', default: '1' }, 'train-size': { type: 'string', default: '384' }, 'val-size': { type: 'string', default: '64' },
    'eval-every': { type: 'string', default: '1' }, 'max-bad-steps': { type: 'string', default: '5' },
    out: { type: 'string' }, name: { type: 'string' }, resume: { type: 'string' }, 'init-from': { type: 'string' },
    adapter: { type: 'string' }, devices: { type: 'string' }, 'bad-samples': { type: 'string', default: 'stop' }, workers: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false },
  },
});
if (v.help) { console.log(USAGE); process.exit(0); }

const int = (flag: string, s: string, min = 1): number => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) fail(`--${flag} ${s}: expected an integer >= ${min}`);
  return n;
};
const num = (flag: string, s: string): number => {
  const n = Number(s);
  if (!Number.isFinite(n) || n < 0) fail(`--${flag} ${s}: expected a non-negative number`);
  return n;
};
if (!['celeb', 'lapa', 'helen'].includes(v.dataset!)) fail(`--dataset ${v.dataset}: expected celeb, lapa or helen`);
if (!(v.model! in BACKBONES)) fail(`--model ${v.model}: expected one of ${Object.keys(BACKBONES).join(', ')}`);
let res = int('res', v.res!, 4);
if (res % 4 !== 0) fail(`--res ${res}: must be a multiple of 4`);
const synthetic = v['data-dir'] === undefined || v['data-dir'] === 'synthetic';
if (v['bad-samples'] !== 'skip' && v['bad-samples'] !== 'stop') fail(`--bad-samples ${v['bad-samples']}: expected skip or stop`);
const workersFlag = v.workers === undefined ? undefined : int('workers', v.workers, 0);
const args = {
  dataset: v.dataset as DatasetName, model: v.model!, res, batch: int('batch', v.batch!), epochs: int('epochs', v.epochs!),
  lr: v.lr !== undefined ? num('lr', v.lr) : synthetic ? 1e-3 : 1e-4,
  weightDecay: num('weight-decay', v['weight-decay']!),
  milestones: (v.milestones ?? (synthetic ? '' : '80,200')).split(',').filter((s) => s.length > 0).map((s) => int('milestones', s, 0)),
  seed: int('seed', v.seed!, 0), trainSize: int('train-size', v['train-size']!), valSize: int('val-size', v['val-size']!),
  evalEvery: int('eval-every', v['eval-every']!), maxBadSteps: int('max-bad-steps', v['max-bad-steps']!),
  dataDir: synthetic ? undefined : v['data-dir'], badSamples: v['bad-samples'] as BadSamplePolicy,
};
if (synthetic && args.trainSize < args.batch) fail(`--train-size ${args.trainSize} is smaller than --batch ${args.batch}`);

const adapter = v.adapter === undefined ? undefined : /^\d+$/.test(v.adapter) ? Number(v.adapter) : v.adapter;
// Data parallelism: one process per GPU; rank 0 alone writes checkpoints, metrics and images.
// With --devices N outside an MPI launcher this re-runs the command under mpiexec and exits.
const world = await setupWorld({ devices: v.devices === undefined ? undefined : int('devices', v.devices), adapter });
const root = world.isRoot;
const runDir = v.resume ?? v.out ?? join('runs', v.name ?? new Date().toISOString().replace(/[:.]/g, '-'));
// A lost device (driver reset, destroyed while in use) or a GPU error (out of memory) ends the run
// with one line and exit 1; checkpoints are written whole or not at all, so the last one is intact.
process.on('uncaughtException', (e) => {
  if (e instanceof GpuError) {
    console.error(`\nerror: ${e.message.split('\n')[0]}; the last checkpoint in ${runDir} (if any) is intact: continue with npm run train -- --resume ${runDir}`);
  } else {
    console.error(e);
  }
  process.exit(1);
});
let resumed: ReturnType<typeof loadCheckpoint> | undefined;
if (v.resume) {
  try { resumed = loadCheckpoint(v.resume); } catch (e) { fail(`--resume: ${(e as Error).message}`); }
  // The run continues as it was saved; --epochs, --lr, --max-bad-steps and --eval-every given now
  // change it (e.g. extend a finished run); any other flag that contradicts the saved run is an error.
  const given = new Set<string>(tokens.flatMap((t) => (t.kind === 'option' ? [t.name] : [])));
  const saved = resumed.state.args as Record<string, unknown>;
  const changeable: Record<string, keyof typeof args> = { epochs: 'epochs', lr: 'lr', 'max-bad-steps': 'maxBadSteps', 'eval-every': 'evalEvery' };
  const fixed: Record<string, keyof typeof args> = {
    dataset: 'dataset', model: 'model', res: 'res', batch: 'batch', 'weight-decay': 'weightDecay', milestones: 'milestones', seed: 'seed',
    'train-size': 'trainSize', 'val-size': 'valSize', 'data-dir': 'dataDir', 'bad-samples': 'badSamples',
  };
  for (const [flag, key] of Object.entries(fixed)) {
    if (given.has(flag) && key in saved && JSON.stringify(args[key]) !== JSON.stringify(saved[key])) {
      fail(`--${flag} ${JSON.stringify(args[key])}: the run in ${v.resume} was made with ${JSON.stringify(saved[key])}; ` +
        `--resume keeps it (only --${Object.keys(changeable).join(', --')} may change)`);
    }
  }
  const overrides = Object.fromEntries(Object.entries(changeable).filter(([flag]) => given.has(flag)).map(([, key]) => [key, args[key]]));
  Object.assign(args, saved, overrides);
  res = args.res; // the run's resolution, not --res's default
}
// The run directory must be writable before any work starts (a probe file is created and removed),
// and a new run never overwrites another run's checkpoint.
if (!v.resume && existsSync(join(runDir, CHECKPOINT_FILE))) {
  fail(`--out ${runDir} already holds a run's checkpoint; continue it with --resume ${runDir}, or choose another --out/--name`);
}
if (root) {
  const probe = join(runDir, `.write-test-${process.pid}`);
  try {
    mkdirSync(runDir, { recursive: true });
    writeFileSync(probe, '');
    unlinkSync(probe);
    removeStaleTemps(runDir);   // left by a run killed in the middle of a write
  } catch (e) {
    fail(`${v.resume ? '--resume' : '--out'} ${runDir}: cannot write the run directory there (${(e as Error).message})`);
  }
}

if (args.batch < world.size) fail(`--batch ${args.batch} is smaller than the ${world.size} ranks: each rank needs a sample`);
const worldAdapter = await world.adapterOption();
const rt = await Runtime.create(worldAdapter === undefined ? {} : { adapter: worldAdapter });
await world.reportDevices(rt);
const cfg = makeConfig(args.model, args.dataset);
const classes = CLASS_NAMES[args.dataset];
// Datasets as plain specs: the prefetch workers open the same ones (--resume keeps --data-dir).
const specOf = (split: 'train' | 'val'): DatasetSpec => args.dataDir === undefined
  ? { kind: 'synthetic', split, length: split === 'train' ? args.trainSize : args.valSize, res, labels: args.dataset, seed: args.seed }
  : { kind: args.dataset, dataDir: args.dataDir, split: split === 'train' ? 'train' : validationSplit(args.dataset), res, onBad: args.badSamples, seed: args.seed };
let train: Dataset, val: Dataset;
try {
  train = openFromSpec(specOf('train'));
  val = openFromSpec(specOf('val'));
} catch (e) {
  fail((e as Error).message);
}
if (train.length < args.batch) fail(`${train.name} has ${train.length} samples, fewer than --batch ${args.batch}`);
const workers = workersFlag ?? (args.dataDir === undefined ? 0 : 2);
const trainLoader = new BatchPrefetcher(specOf('train'), { workers });
const valLoader = new BatchPrefetcher(specOf('val'), { workers });
const skippedTotal: SkippedSample[] = [train, val].flatMap((d) => (d instanceof FileDataset ? d.skipped : []));
const noteSkipped = (list: readonly SkippedSample[]): void => {
  for (const s of list) { log({ kind: 'skipped', sample: s.name, reason: s.reason }); skippedTotal.push(s); }
  if (list.length > 0 && root) console.error(`\nskipped ${list.length} bad sample(s): ${describeSkipped(list, 3)}`);
};
function initialParams(): ParamStore {
  if (resumed) return loadParams(rt, cfg, resumed.weights, join(runDir, 'checkpoint.safetensors'));
  if (!v['init-from']) return syntheticParams(rt, cfg, args.seed);
  // Fine-tuning: the file decides the architecture; it must agree with --model and --dataset.
  const state = readStateDict(v['init-from']);
  const fileCfg = inferConfig(new Map([...state].map(([k, t]) => [k, t.shape])), v['init-from']);
  if (fileCfg.backbone !== cfg.backbone || CLASS_NAMES[fileCfg.dataset].length !== classes.length) {
    fail(`--init-from ${v['init-from']} holds ${fileCfg.backbone} with ${CLASS_NAMES[fileCfg.dataset].length} classes; ` +
      `pass --model ${fileCfg.backbone} --dataset ${fileCfg.dataset === 'celeb' ? 'celeb' : 'lapa|helen'}`);
  }
  return loadParams(rt, cfg, state, v['init-from']);
}
const params = initialParams();
const optim = new AdamW(params.params(), { lr: args.lr, weightDecay: args.weightDecay });
if (resumed) restoreOptimizer(optim, params, resumed, runDir);
const schedule = new MultiStepLR(args.lr, args.milestones);
const gradSync = world.mpi ? new GradSync(rt, params.params(), world.mpi, { overlap: defaultOverlap(isSoftwareAdapter(rt.device.adapter)) }) : undefined;
const trainer = new Trainer(rt, params, optim, schedule, args.seed, true, gradSync);
const metricsPath = join(runDir, 'metrics.jsonl');
const log = (rec: object): void => void (root && appendFileSync(metricsPath, JSON.stringify({ time: new Date().toISOString(), ...rec }) + '\n'));

if (root) console.log(`${world.size > 1 ? `${world.size} ranks share each batch; ` : ''}adapter ${rt.device.name}; model ${cfg.backbone}/${cfg.dataset} (${params.params().reduce((a, p) => a + p.size, 0).toLocaleString()} parameters), ` +
  `${res} px, batch ${args.batch}, lr ${args.lr}; ${args.dataDir ?? 'synthetic faces'}: ${train.length} train (${train.name}) / ${val.length} val (${val.name}); ` +
  `${workers} loader worker(s); run ${runDir}`);
if (root && skippedTotal.length > 0) console.error(`left out while indexing: ${describeSkipped(skippedTotal)}`);
for (const s of skippedTotal) log({ kind: 'skipped', sample: s.name, reason: s.reason });

let state: TrainState = resumed?.state ?? {
  version: CHECKPOINT_VERSION, epoch: 0, batchInEpoch: 0, globalStep: 0, optimSteps: [], skippedSteps: 0, args,
};
let stopping = false;
process.on('SIGINT', () => {
  if (stopping || trainer.stopRequested) process.exit(130);
  // every rank must stop after the same step: the request travels with the step's loss exchange
  if (world.size > 1) trainer.stopRequested = true;
  else stopping = true;
  if (root) console.error('\ninterrupted: saving a checkpoint after the current step (Ctrl-C again to quit now)');
});

async function save(): Promise<void> {
  state = { ...state, optimSteps: [...optim.steps], args };
  if (!root) return;
  try {
    await saveCheckpoint(runDir, params, optim, state);
  } catch (e) {
    // full disk, quota, permissions: say so and stop; the previous checkpoint is untouched
    console.error(`\nerror: ${(e as Error).message}`);
    process.exit(1);
  }
}

/** Ground truth | prediction overlays of the first validation images, side by side, with a legend. */
function saveSamples(epoch: number, pred: Uint8Array, count: number): void {
  const px = res * res;
  const palette = PALETTES[args.dataset];
  for (let i = 0; i < count; i++) {
    const s = val.get(i);
    const both = new Uint8Array(2 * px * 3);
    const gt = overlay(s.image, s.labels, 0.6, palette);
    const ours = overlay(s.image, pred.subarray(i * px, (i + 1) * px), 0.6, palette);
    for (let y = 0; y < res; y++) {
      both.set(gt.subarray(y * res * 3, (y + 1) * res * 3), y * 2 * res * 3);
      both.set(ours.subarray(y * res * 3, (y + 1) * res * 3), (y * 2 + 1) * res * 3);
    }
    writePng(join(runDir, 'samples', `epoch${String(epoch).padStart(3, '0')}_${i}.png`), withLegend(both, 2 * res, res, classes, palette));
  }
}

/** The validation confusion matrix; `each` sees every batch's predictions (first: the first batch, none skipped). */
async function confusion(each?: (pred: Uint8Array, first: boolean) => void): Promise<ConfusionMatrix> {
  const cm = new ConfusionMatrix(classes.length);
  mkdirSync(join(runDir, 'samples'), { recursive: true });
  let index = 0;
  for await (const loaded of valLoader.batches(sequentialBatches(val.length, args.batch).map((indices) => ({ indices, epoch: 0 })))) {
    noteSkipped(loaded.skipped);
    if (loaded.batch) {
      const pred = await trainer.predict(loaded.batch, res);
      cm.add(loaded.batch.labels, pred);
      each?.(pred, index === 0 && loaded.skipped.length === 0);
    }
    index++;
  }
  return cm;
}

async function validate(epoch: number): Promise<number> {
  if (!root) return NaN;
  const cm = await confusion((pred, first) => { if (first) saveSamples(epoch, pred, Math.min(2, pred.length / (res * res))); });
  const r = cm.results();
  log({ kind: 'val', epoch, meanF1: r.meanF1, mIoU: r.mIoU, pixelAcc: r.pixelAccuracy });
  return r.meanF1;
}

const stepsPerEpoch = Math.floor(train.length / args.batch);
const bar = new cliProgress.SingleBar({
  format: 'epoch {epoch}/{epochs} |{bar}| {value}/{total} steps | loss {loss} | {ips} img/s | ETA {eta_formatted}',
  hideCursor: true,
  ...(root ? {} : { stream: new Writable({ write: (_c, _e, done) => done() }) }),   // other ranks: no bar
}, cliProgress.Presets.shades_classic);
let badInARow = 0;
let lastMeanF1 = NaN;
for (; state.epoch < args.epochs && !stopping; state = { ...state, epoch: state.epoch + 1, batchInEpoch: 0 }) {
  const batches = epochBatches(train.length, args.batch, args.seed, state.epoch);
  bar.start(stepsPerEpoch, state.batchInEpoch, { epoch: state.epoch + 1, epochs: args.epochs, loss: '-', ips: '-' });
  // this rank's share of the global batch
  const shard = (i: number): number[] => { const { start, count } = shardRange(args.batch, world.rank, world.size); return batches[i]!.slice(start, start + count); };
  // Batches load ahead (worker threads); one whose samples were all skipped still counts as a position.
  const stream = trainLoader.batches(batches.slice(state.batchInEpoch).map((_, k) => ({ indices: shard(state.batchInEpoch + k), epoch: state.epoch })));
  const take = async (): Promise<Batch | undefined> => {
    const r = await stream.next();
    if (r.done) return undefined;
    noteSkipped(r.value.skipped);
    if (!r.value.batch && world.size > 1) throw new Error(`rank ${world.rank}: every sample of its shard was skipped; data-parallel steps need one`);
    return r.value.batch ?? { images: new Float32Array(0), labels: new Int32Array(0), size: 0, names: [] };
  };
  let next: Batch | undefined = await take();
  while (state.batchInEpoch < batches.length && next && !stopping) {
    if (next.size === 0) {
      state = { ...state, batchInEpoch: state.batchInEpoch + 1 };
      next = await take();
      continue;
    }
    const t0 = performance.now();
    const pending: Promise<StepResult> = trainer.step(next, res, state.epoch, state.globalStep, shardRange(args.batch, world.rank, world.size).start);
    const following = take();
    const r = await pending;
    if (r.stop) stopping = true;
    next = await following;
    const dt = (performance.now() - t0) / 1000;
    state = { ...state, batchInEpoch: state.batchInEpoch + 1, globalStep: state.globalStep + 1 };
    log({ kind: 'train', epoch: state.epoch, step: state.globalStep, loss: r.total, ce: r.ce, dice: r.dice, gradNorm: r.gradNorm, applied: r.applied, seconds: dt });
    if (!r.applied || !Number.isFinite(r.total)) {
      badInARow++;
      state = { ...state, skippedSteps: state.skippedSteps + 1 };
      if (badInARow >= args.maxBadSteps) {
        bar.stop();
        console.error(`error: ${badInARow} consecutive steps with a non-finite loss or gradient; stopping. The last good checkpoint in ${runDir} is intact.`);
        rt.destroy();
        process.exit(1);
      }
      continue;
    }
    badInARow = 0;
    bar.update(state.batchInEpoch, { loss: r.total.toFixed(4), ips: (args.batch / dt).toFixed(1) });
  }
  bar.stop();
  if (stopping) break;
  if ((state.epoch + 1) % args.evalEvery === 0 || state.epoch + 1 === args.epochs) {
    lastMeanF1 = await validate(state.epoch + 1);
    if (root) {
      console.log(`epoch ${state.epoch + 1}: validation mean F1 ${(lastMeanF1 * 100).toFixed(2)}`);
      writeTrainingCurve(metricsPath, join(runDir, 'curve.png'), `${cfg.backbone} / ${args.dataset}, ${res} px, batch ${args.batch}, ${args.dataDir === undefined ? 'synthetic faces' : basename(args.dataDir)}`);
    }
  }
  await save();
}
await save();
if (!stopping && root) {
  const cm = await confusion();
  console.log(cm.formatTable(classes, args.dataset === 'helen' ? HELEN_MERGES : {}));
}
if (root && skippedTotal.length > 0) console.error(`bad samples left out: ${describeSkipped(skippedTotal)}`);
await Promise.all([trainLoader.close(), valLoader.close()]);
if (root) console.log(`checkpoint: ${join(runDir, 'checkpoint.safetensors')}; metrics: ${metricsPath}${existsSync(metricsPath) ? '' : ' (none)'}`);
if (root && stopping) console.error(`interrupted after step ${state.globalStep}; continue with: npm run train -- --resume ${runDir}`);
rt.destroy();
await world.finish();
// An interrupted run exits 130 (as a shell does after Ctrl-C) so that `train && eval` stops. Under
// MPI each rank ends cleanly (0) and the --devices launcher, which saw the Ctrl-C, returns 130.
if (stopping && world.size === 1) process.exitCode = 130;
