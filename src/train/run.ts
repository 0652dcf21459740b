// A whole training run: settings (TRAIN_DEFAULTS for what is not given), the run directory, the
// datasets and their loader threads, the model, AdamW with its schedule (warm-up + cosine per step,
// or MultiStepLR per epoch), epochs with validation, image | truth | prediction samples and the training curve, an atomic checkpoint after each epoch, resuming, Ctrl-C
// (save after the current step), the non-finite-step policy, and data-parallel sharding over the
// ranks of a World. `segface train` is a thin wrapper over this class.
//
//   const run = await TrainingRun.open({ dir: 'runs/a', settings: { epochs: 2 } });
//   const result = await run.run();          // { outcome: 'finished', state, meanF1 }
//   const more = await TrainingRun.open({ dir: 'runs/a', resume: true, settings: { epochs: 4 } });
import { appendFileSync, existsSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Writable } from 'node:stream';
import cliProgress from 'cli-progress';
import { BACKBONES, CLASS_NAMES, makeConfig, type SegFaceConfig } from '../model/config.js';
import { inferConfig, loadParams, syntheticParams, type ParamStore } from '../model/params.js';
import { readStateDict } from '../model/weights_file.js';
import { AdamW } from '../runtime/ops/adamw.js';
import { Runtime } from '../runtime/runtime.js';
import { announceAdapter } from '../runtime/host_gpu.js';
import { CHECKPOINT_FILE, CHECKPOINT_VERSION, loadCheckpoint, removeStaleTemps, restoreOptimizer, saveCheckpoint, type LoadedCheckpoint, type TrainState } from './checkpoint.js';
import { writeTrainingCurve } from './curve.js';
import { sequentialBatches } from './data/batches.js';
import { epochBatches, type Batch, type Dataset } from './data/dataset.js';
import { describeSkipped, FileDataset, type SkippedSample } from './data/file_dataset.js';
import { openFromSpec, validationSplit, type DatasetSpec } from './data/open.js';
import { BatchPrefetcher } from './data/prefetch.js';
import { defaultWorkers, withDefaults, type TrainRecipe, type TrainSettings } from './defaults.js';
import { isSoftwareAdapter } from './dist/gpu_binding.js';
import { defaultOverlap, GradSync, shardRange } from './dist/grad_sync.js';
import type { World } from './dist/launch.js';
import { comparisonPanel, PALETTES, writePng } from './image/index.js';
import { ConfusionMatrix, HELEN_MERGES } from './metrics.js';
import { scheduleFor } from './schedule.js';
import { Trainer, type StepResult } from './trainer.js';

/** A setting that cannot work (named as its `segface train` flag); found before any GPU work. */
export class SettingsError extends Error {
  override name = 'SettingsError';
}

export interface TrainingRunOptions {
  /** Run directory: metrics.jsonl, curve.png, samples/, checkpoint.safetensors. */
  dir: string;
  /** Settings; those not given come from `recipe` (a new run) or the checkpoint (resume). */
  settings?: Partial<TrainSettings>;
  /** The defaults of settings not given (default TRAIN_DEFAULTS). */
  recipe?: TrainRecipe;
  /** Continue the run in `dir` from its checkpoint. Only epochs, lr, maxBadSteps and evalEvery may change. */
  resume?: boolean;
  /** Start from these weights (official .pt, safetensors state dict or training checkpoint). */
  initFrom?: string;
  /** Loader threads (default: none on synthetic faces, 2 on a real dataset). */
  workers?: number;
  /** WebGPU adapter (ignored when `world` binds one). */
  adapter?: number | string;
  /** Data parallelism: this process's rank among several (default: one device). */
  world?: World;
  /** No progress bar and no console lines (metrics.jsonl is still written). */
  quiet?: boolean;
  /** Ctrl-C saves after the current step and ends the run as 'interrupted'; a second one quits (default true). */
  stopOnSigint?: boolean;
  /** Called after every training step. */
  onStep?: (step: StepRecord) => void;
}

export interface StepRecord extends StepResult { epoch: number; step: number; seconds: number }

export interface RunResult {
  /** finished: every epoch ran; interrupted: stopped on request after saving (resume continues it). */
  outcome: 'finished' | 'interrupted';
  state: TrainState;
  /** Validation mean F1 of the last validation (NaN when none ran). */
  meanF1: number;
  checkpoint: string;
}

const CHANGEABLE = ['epochs', 'lr', 'maxBadSteps', 'evalEvery'] as const;

/** `trainSize` -> `--train-size`: settings are named by their flags in messages. */
export const flagOf = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

function checkSettings(s: TrainSettings): void {
  if (!['celeb', 'lapa', 'helen'].includes(s.dataset)) throw new SettingsError(`--dataset ${s.dataset}: expected celeb, lapa or helen`);
  if (!(s.model in BACKBONES)) throw new SettingsError(`--model ${s.model}: expected one of ${Object.keys(BACKBONES).join(', ')}`);
  if (!Number.isInteger(s.res) || s.res < 4 || s.res % 4 !== 0) throw new SettingsError(`--res ${s.res}: must be a multiple of 4`);
  for (const k of ['batch', 'epochs', 'trainSize', 'valSize', 'evalEvery', 'maxBadSteps'] as const) {
    if (!Number.isInteger(s[k]) || s[k] < 1) throw new SettingsError(`${flagOf(k)} ${s[k]}: expected an integer >= 1`);
  }
  if (s.precision !== 'f32' && s.precision !== 'f16') throw new SettingsError(`--precision ${String(s.precision)}: expected f32 or f16`);
  if (s.schedule !== 'cosine' && s.schedule !== 'step') throw new SettingsError(`--schedule ${s.schedule}: expected cosine or step`);
  if (!Number.isInteger(s.warmupSteps) || s.warmupSteps < 0) throw new SettingsError(`--warmup-steps ${s.warmupSteps}: expected an integer >= 0`);
  if (s.clipGrad !== undefined && !(s.clipGrad > 0)) throw new SettingsError(`--clip-grad ${s.clipGrad}: expected a number > 0`);
  if (s.dropPath !== undefined && !(s.dropPath >= 0 && s.dropPath < 1)) throw new SettingsError(`--drop-path ${s.dropPath}: expected a number in [0, 1)`);
  if (!(s.minLr >= 0 && s.minLr <= s.lr)) throw new SettingsError(`--min-lr ${s.minLr}: expected a number in [0, --lr ${s.lr}]`);
  if (s.dataDir === undefined && s.trainSize < s.batch) throw new SettingsError(`--train-size ${s.trainSize} is smaller than --batch ${s.batch}`);
}

/** The schedule in the start-up line. */
function describeSchedule(s: TrainSettings): string {
  return s.schedule === 'cosine' ? `${s.warmupSteps} warm-up steps, cosine to ${s.minLr}` : `x0.1 at epochs ${s.milestones.join(',') || 'never'}`;
}

export class TrainingRun {
  private stopping = false;
  private badInARow = 0;
  private readonly skippedTotal: SkippedSample[] = [];
  private readonly metricsPath: string;

  private constructor(
    readonly dir: string,
    readonly settings: TrainSettings,
    readonly rt: Runtime,
    readonly world: World | undefined,
    readonly cfg: SegFaceConfig,
    readonly params: ParamStore,
    readonly optim: AdamW,
    readonly trainer: Trainer,
    readonly train: Dataset,
    readonly val: Dataset,
    private readonly trainLoader: BatchPrefetcher,
    private readonly valLoader: BatchPrefetcher,
    public state: TrainState,
    private readonly opts: TrainingRunOptions,
  ) {
    this.metricsPath = join(dir, 'metrics.jsonl');
    this.skippedTotal.push(...[train, val].flatMap((d) => (d instanceof FileDataset ? d.skipped : [])));
  }

  private get root(): boolean { return this.world?.isRoot ?? true; }
  private get rank(): number { return this.world?.rank ?? 0; }
  private get ranks(): number { return this.world?.size ?? 1; }

  /** Checks the settings and the run directory (SettingsError), then opens the device and loads everything. */
  static async open(opts: TrainingRunOptions): Promise<TrainingRun> {
    const { dir } = opts;
    const given = opts.settings ?? {};
    let settings = withDefaults(given, opts.recipe);
    let resumed: LoadedCheckpoint | undefined;
    if (opts.resume) {
      try { resumed = loadCheckpoint(dir); } catch (e) { throw new SettingsError(`--resume: ${(e as Error).message}`); }
      // The run continues as it was saved; epochs, lr, maxBadSteps and evalEvery given now change it
      // (e.g. extend a finished run); any other setting that contradicts the saved run is an error.
      const saved = resumed.state.args as Partial<TrainSettings>;
      for (const key of Object.keys(given) as (keyof TrainSettings)[]) {
        if ((CHANGEABLE as readonly string[]).includes(key) || !(key in saved)) continue;
        if (JSON.stringify(settings[key]) !== JSON.stringify(saved[key])) {
          throw new SettingsError(`${flagOf(key)} ${JSON.stringify(settings[key])}: the run in ${dir} was made with ${JSON.stringify(saved[key])}; ` +
            `--resume keeps it (only ${CHANGEABLE.map(flagOf).join(', ')} may change)`);
        }
      }
      const changes = Object.fromEntries(CHANGEABLE.filter((k) => k in given).map((k) => [k, settings[k]]));
      settings = { ...settings, ...saved, ...changes };
      if (!('schedule' in saved)) settings.schedule = 'step';   // runs saved before schedules were named used MultiStepLR
      if (!('dropPath' in saved)) settings.dropPath = undefined; // no rate saved: the backbone's official one
      if (!('clipGrad' in saved)) settings.clipGrad = undefined; // none saved: no clipping
    }
    checkSettings(settings);
    const world = opts.world;
    const root = world?.isRoot ?? true;
    // The run directory must be writable before any work starts (a probe file is created and removed),
    // and a new run never overwrites another run's checkpoint.
    if (!opts.resume && existsSync(join(dir, CHECKPOINT_FILE))) {
      throw new SettingsError(`--out ${dir} already holds a run's checkpoint; continue it with --resume ${dir}, or choose another --out/--name`);
    }
    if (root) {
      const probe = join(dir, `.write-test-${process.pid}`);
      try {
        mkdirSync(dir, { recursive: true });
        writeFileSync(probe, '');
        unlinkSync(probe);
        removeStaleTemps(dir);   // left by a run killed in the middle of a write
      } catch (e) {
        throw new SettingsError(`${opts.resume ? '--resume' : '--out'} ${dir}: cannot write the run directory there (${(e as Error).message})`);
      }
    }
    const ranks = world?.size ?? 1;
    if (settings.batch < ranks) throw new SettingsError(`--batch ${settings.batch} is smaller than the ${ranks} ranks: each rank needs a sample`);
    // Datasets as plain specs: the prefetch workers open the same ones.
    const specOf = (split: 'train' | 'val'): DatasetSpec => settings.dataDir === undefined
      ? { kind: 'synthetic', split, length: split === 'train' ? settings.trainSize : settings.valSize, res: settings.res, labels: settings.dataset, seed: settings.seed }
      : { kind: settings.dataset, dataDir: settings.dataDir, split: split === 'train' ? 'train' : validationSplit(settings.dataset), res: settings.res, onBad: settings.badSamples, seed: settings.seed };
    let train: Dataset, val: Dataset;
    try {
      train = openFromSpec(specOf('train'));
      val = openFromSpec(specOf('val'));
    } catch (e) {
      throw new SettingsError((e as Error).message);
    }
    if (train.length < settings.batch) throw new SettingsError(`${train.name} has ${train.length} samples, fewer than --batch ${settings.batch}`);
    const cfg = makeConfig(settings.model, settings.dataset);
    if (settings.dropPath !== undefined) cfg.stochasticDepth = settings.dropPath;
    // Fine-tuning: the file decides the architecture; it must agree with the model and dataset.
    const init = !resumed && opts.initFrom ? readStateDict(opts.initFrom) : undefined;
    if (init) {
      const fileCfg = inferConfig(new Map([...init].map(([k, t]) => [k, t.shape])), opts.initFrom!);
      if (fileCfg.backbone !== cfg.backbone || CLASS_NAMES[fileCfg.dataset].length !== CLASS_NAMES[cfg.dataset].length) {
        throw new SettingsError(`--init-from ${opts.initFrom} holds ${fileCfg.backbone} with ${CLASS_NAMES[fileCfg.dataset].length} classes; ` +
          `pass --model ${fileCfg.backbone} --dataset ${fileCfg.dataset === 'celeb' ? 'celeb' : 'lapa|helen'}`);
      }
    }

    const adapter = world ? await world.adapterOption() : opts.adapter;
    const rt = await Runtime.create(adapter === undefined ? {} : { adapter });
    if (root && !opts.quiet) announceAdapter(rt.device.adapter);
    if (world) await world.reportDevices(rt);
    if (settings.precision === 'f16' && !rt.device.hasF16) {
      rt.destroy();
      throw new SettingsError(`--precision f16: adapter ${rt.device.adapter.name} has no shader-f16; use --precision f32`);
    }
    const params = resumed ? loadParams(rt, cfg, resumed.weights, join(dir, CHECKPOINT_FILE))
      : init ? loadParams(rt, cfg, init, opts.initFrom!)
        : syntheticParams(rt, cfg, settings.seed);
    const optim = new AdamW(params.params(), { lr: settings.lr, weightDecay: settings.weightDecay, maxGradNorm: settings.clipGrad });
    if (resumed) restoreOptimizer(optim, params, resumed, dir);
    // Cosine runs over every step of the run; extending a run (--epochs on resume) stretches its cosine.
    const stepsPerEpoch = Math.floor(train.length / settings.batch);
    const schedule = scheduleFor(settings, stepsPerEpoch);
    const gradSync = world?.mpi ? new GradSync(rt, params.params(), world.mpi, { overlap: defaultOverlap(isSoftwareAdapter(rt.device.adapter)) }) : undefined;
    const trainer = new Trainer(rt, params, optim, schedule, settings.seed, true, gradSync);
    trainer.precision = settings.precision;
    if (resumed?.state.lossScale) trainer.scaler.restore(resumed.state.lossScale);
    const workers = opts.workers ?? defaultWorkers(settings.dataDir, opts.recipe);
    const state: TrainState = resumed ? { ...resumed.state, stepsPerEpoch } : {
      version: CHECKPOINT_VERSION, epoch: 0, batchInEpoch: 0, globalStep: 0, optimSteps: [], skippedSteps: 0, args: { ...settings }, stepsPerEpoch,
    };
    const run = new TrainingRun(dir, settings, rt, world, cfg, params, optim, trainer, train, val,
      new BatchPrefetcher(specOf('train'), { workers }), new BatchPrefetcher(specOf('val'), { workers }), state, opts);
    run.say(`${ranks > 1 ? `${ranks} ranks share each batch; ` : ''}adapter ${rt.device.name}; model ${cfg.backbone}/${cfg.dataset} (${params.params().reduce((a, p) => a + p.size, 0).toLocaleString()} parameters), ` +
      `${settings.res} px, batch ${settings.batch}, lr ${settings.lr} (${describeSchedule(settings)}), drop path ${cfg.stochasticDepth}, ${settings.clipGrad === undefined ? 'no gradient clipping' : `gradient norm clipped to ${settings.clipGrad}`}; ${settings.dataDir ?? 'synthetic faces'}: ${train.length} train (${train.name}) / ${val.length} val (${val.name}); ` +
      `${workers} loader worker(s); run ${dir}`);
    if (run.skippedTotal.length > 0) run.warn(`left out while indexing: ${describeSkipped(run.skippedTotal)}`);
    for (const s of run.skippedTotal) run.log({ kind: 'skipped', sample: s.name, reason: s.reason });
    return run;
  }

  /** Asks the run to stop after the current step (and save); every rank stops after the same step. */
  requestStop(): void {
    if (this.ranks > 1) this.trainer.stopRequested = true;
    else this.stopping = true;
  }

  /** Trains to the last epoch (or a stop request), validating and saving after each epoch. */
  async run(): Promise<RunResult> {
    const onSigint = (): void => {
      if (this.stopping || this.trainer.stopRequested) process.exit(130);
      this.requestStop();
      this.warn('\ninterrupted: saving a checkpoint after the current step (Ctrl-C again to quit now)');
    };
    if (this.opts.stopOnSigint ?? true) process.on('SIGINT', onSigint);
    let meanF1 = NaN;
    try {
      const s = this.settings;
      for (; this.state.epoch < s.epochs && !this.stopping; this.state = { ...this.state, epoch: this.state.epoch + 1, batchInEpoch: 0 }) {
        await this.epoch();
        if (this.stopping) break;
        if ((this.state.epoch + 1) % s.evalEvery === 0 || this.state.epoch + 1 === s.epochs) {
          meanF1 = await this.validate(this.state.epoch + 1);
          if (this.root) {
            this.say(`epoch ${this.state.epoch + 1}: validation mean F1 ${(meanF1 * 100).toFixed(2)}`);
            writeTrainingCurve(this.metricsPath, join(this.dir, 'curve.png'), `${this.cfg.backbone} / ${s.dataset}, ${s.res} px, batch ${s.batch}, ${s.dataDir === undefined ? 'synthetic faces' : basename(s.dataDir)}`);
          }
        }
        await this.save();
      }
      await this.save();
      if (!this.stopping && this.root && !this.opts.quiet) {
        const cm = await this.confusion();
        this.say(`\nvalidation (${this.val.length} images), per class, %:\n${cm.formatTable(CLASS_NAMES[s.dataset], s.dataset === 'helen' ? HELEN_MERGES : {})}`);
      }
      if (this.root && this.skippedTotal.length > 0) this.warn(`bad samples left out: ${describeSkipped(this.skippedTotal)}`);
    } finally {
      process.off('SIGINT', onSigint);
      await Promise.all([this.trainLoader.close(), this.valLoader.close()]);
    }
    const checkpoint = join(this.dir, CHECKPOINT_FILE);
    return { outcome: this.stopping || this.trainer.stopRequested ? 'interrupted' : 'finished', state: this.state, meanF1, checkpoint };
  }

  /** Releases the device and what lives on it. */
  close(): void {
    this.params.release();
    this.optim.destroy();
    this.rt.destroy();
  }

  // ---- one epoch -----------------------------------------------------------------------------

  private async epoch(): Promise<void> {
    const s = this.settings;
    const batches = epochBatches(this.train.length, s.batch, s.seed, this.state.epoch);
    const bar = this.progressBar();
    bar.start(Math.floor(this.train.length / s.batch), this.state.batchInEpoch, { epoch: this.state.epoch + 1, epochs: s.epochs, loss: '-', ips: '-' });
    const { start, count } = shardRange(s.batch, this.rank, this.ranks);   // this rank's share of the global batch
    // Batches load ahead (worker threads); one whose samples were all skipped still counts as a position.
    const stream = this.trainLoader.batches(batches.slice(this.state.batchInEpoch)
      .map((b) => ({ indices: b.slice(start, start + count), epoch: this.state.epoch })));
    const take = async (): Promise<Batch | undefined> => {
      const r = await stream.next();
      if (r.done) return undefined;
      this.noteSkipped(r.value.skipped);
      if (!r.value.batch && this.ranks > 1) throw new Error(`rank ${this.rank}: every sample of its shard was skipped; data-parallel steps need one`);
      return r.value.batch ?? { images: new Float32Array(0), labels: new Int32Array(0), size: 0, names: [] };
    };
    try {
      let next = await take();
      while (this.state.batchInEpoch < batches.length && next && !this.stopping) {
        if (next.size === 0) {
          this.state = { ...this.state, batchInEpoch: this.state.batchInEpoch + 1 };
          next = await take();
          continue;
        }
        const t0 = performance.now();
        const pending = this.trainer.step(next, s.res, this.state.epoch, this.state.globalStep, start);
        const following = take();   // the next batch loads while the GPU works
        const r = await pending;
        if (r.stop) this.stopping = true;
        next = await following;
        const seconds = (performance.now() - t0) / 1000;
        this.state = { ...this.state, batchInEpoch: this.state.batchInEpoch + 1, globalStep: this.state.globalStep + 1 };
        this.log({ kind: 'train', epoch: this.state.epoch, step: this.state.globalStep, loss: r.total, ce: r.ce, dice: r.dice, gradNorm: r.gradNorm, applied: r.applied, seconds, ...(r.scale === undefined ? {} : { scale: r.scale }) });
        this.opts.onStep?.({ ...r, epoch: this.state.epoch, step: this.state.globalStep, seconds });
        this.checkFinite(r);
        if (r.applied && Number.isFinite(r.total)) bar.update(this.state.batchInEpoch, { loss: r.total.toFixed(4), ips: (s.batch / seconds).toFixed(1) });
      }
    } finally {
      bar.stop();
    }
  }

  /** The non-finite-step policy: such a step leaves the weights untouched; too many in a row stop the run. */
  private checkFinite(r: StepResult): void {
    if (r.applied && Number.isFinite(r.total)) {
      this.badInARow = 0;
      return;
    }
    this.state = { ...this.state, skippedSteps: this.state.skippedSteps + 1 };
    // f16: an overflow of the scaled gradients while the loss scale can still fall is expected (the
    // scale halves); only a non-finite loss, or gradients still non-finite at scale 1, count as bad
    if (r.scale !== undefined && r.scale > 1 && Number.isFinite(r.total)) return;
    this.badInARow++;
    if (this.badInARow >= this.settings.maxBadSteps) {
      throw new Error(`${this.badInARow} consecutive steps with a non-finite loss or gradient; stopping. The last good checkpoint in ${this.dir} is intact.`);
    }
  }

  private async save(): Promise<void> {
    this.state = {
      ...this.state, optimSteps: [...this.optim.steps], args: { ...this.settings },
      ...(this.settings.precision === 'f16' ? { lossScale: this.trainer.scaler.state() } : {}),
    };
    if (this.root) await saveCheckpoint(this.dir, this.params, this.optim, this.state);
  }

  // ---- validation ----------------------------------------------------------------------------

  /** The validation confusion matrix; `each` sees every batch's predictions (first: the first batch, none skipped). */
  async confusion(each?: (pred: Uint8Array, first: boolean) => void): Promise<ConfusionMatrix> {
    const cm = new ConfusionMatrix(CLASS_NAMES[this.settings.dataset].length);
    let index = 0;
    const jobs = sequentialBatches(this.val.length, this.settings.batch).map((indices) => ({ indices, epoch: 0 }));
    for await (const loaded of this.valLoader.batches(jobs)) {
      this.noteSkipped(loaded.skipped);
      if (loaded.batch) {
        const pred = await this.trainer.predict(loaded.batch, this.settings.res);
        cm.add(loaded.batch.labels, pred);
        each?.(pred, index === 0 && loaded.skipped.length === 0);
      }
      index++;
    }
    return cm;
  }

  /** Validation mean F1 after `epoch` (rank 0; NaN elsewhere), with sample overlays of the first batch. */
  async validate(epoch: number): Promise<number> {
    if (!this.root) return NaN;
    const res = this.settings.res;
    const cm = await this.confusion((pred, first) => { if (first) this.saveSamples(epoch, pred, Math.min(2, pred.length / (res * res))); });
    const r = cm.results();
    this.log({ kind: 'val', epoch, meanF1: r.meanF1, mIoU: r.mIoU, pixelAcc: r.pixelAccuracy });
    return r.meanF1;
  }

  /** Image | ground truth | prediction of the first validation images, enlarged to >= 256 px, with a legend. */
  private saveSamples(epoch: number, pred: Uint8Array, count: number): void {
    const res = this.settings.res;
    const px = res * res;
    const k = Math.max(1, Math.ceil(256 / res));
    mkdirSync(join(this.dir, 'samples'), { recursive: true });
    for (let i = 0; i < count; i++) {
      const s = this.val.get(i);
      const panel = comparisonPanel(s.image, s.labels, pred.subarray(i * px, (i + 1) * px), res, k, CLASS_NAMES[this.settings.dataset], PALETTES[this.settings.dataset]);
      writePng(join(this.dir, 'samples', `epoch${String(epoch).padStart(3, '0')}_${i}.png`), panel);
    }
  }

  // ---- output --------------------------------------------------------------------------------

  private log(rec: object): void {
    if (this.root) appendFileSync(this.metricsPath, JSON.stringify({ time: new Date().toISOString(), ...rec }) + '\n');
  }

  private say(line: string): void { if (this.root && !this.opts.quiet) console.log(line); }
  private warn(line: string): void { if (this.root && !this.opts.quiet) console.error(line); }

  private noteSkipped(list: readonly SkippedSample[]): void {
    for (const s of list) { this.log({ kind: 'skipped', sample: s.name, reason: s.reason }); this.skippedTotal.push(s); }
    if (list.length > 0) this.warn(`\nskipped ${list.length} bad sample(s): ${describeSkipped(list, 3)}`);
  }

  private progressBar(): cliProgress.SingleBar {
    const silent = !this.root || this.opts.quiet;
    return new cliProgress.SingleBar({
      format: 'epoch {epoch}/{epochs} |{bar}| {value}/{total} steps | loss {loss} | {ips} img/s | ETA {eta_formatted}',
      hideCursor: true,
      ...(silent ? { stream: new Writable({ write: (_c, _e, done) => done() }) } : {}),
    }, cliProgress.Presets.shades_classic);
  }
}
