// `segface train`: a thin wrapper over TrainingRun (src/train/run.ts). With no flags it trains the
// default preset (src/train/presets.ts: the mini config at 64 px with warm-up + cosine) on the
// built-in synthetic faces, so the loss visibly falls and validation mean F1 rises within minutes on
// a CPU. --preset NAME picks another recipe; every flag given overrides its field.
import { join } from 'node:path';
import { ADAPTER_FLAG, NO_TUNE_FLAG, PRECISION_FLAG, UsageError, type Args, type Command, type FlagSpec } from '../args.js';
import { BACKBONES } from '../../model/config.js';
import { GpuError } from '../../runtime/device.js';
import { applyTuneFlag } from '../runtime.js';
import { TRAIN_DEFAULTS as D, type TrainSettings } from '../../train/defaults.js';
import { PRESETS, presetNamed } from '../../train/presets.js';
import { setupWorld } from '../../train/dist/launch.js';
import { flagOf, SettingsError, TrainingRun } from '../../train/run.js';

/** Flags that set a TrainSettings field of the same (camelCase) name. */
const SETTING_FLAGS: Record<string, FlagSpec> = {
  precision: { ...PRECISION_FLAG, default: D.precision },
  dataset: { type: 'string', choices: ['celeb', 'lapa', 'helen'], default: D.dataset, help: 'label set' },
  'data-dir': { type: 'string', value: 'DIR', help: "real dataset root (holding CelebAMask-HQ/, LaPa/ or helen/, or that folder itself);\nwithout it (or with 'synthetic') the built-in synthetic faces are used.\nValidation uses the official val split (Helen: test)" },
  'bad-samples': { type: 'string', choices: ['skip', 'stop'], default: D.badSamples, help: 'a corrupt image, missing label/mask or out-of-range label: leave the\nsample out and count it, or stop naming the file' },
  model: { type: 'string', choices: Object.keys(BACKBONES), default: D.model, help: 'backbone' },
  res: { type: 'int', min: 4, default: D.res, help: 'input resolution, a multiple of 4' },
  batch: { type: 'int', default: D.batch, help: 'global batch size (split over the ranks with --devices)' },
  epochs: { type: 'int', default: D.epochs, help: 'epochs' },
  lr: { type: 'number', help: `AdamW learning rate (default ${D.synthetic.lr} on synthetic data, ${D.real.lr} otherwise)` },
  'weight-decay': { type: 'number', default: D.weightDecay, help: 'AdamW weight decay' },
  schedule: { type: 'string', choices: ['cosine', 'step'], help: `cosine: linear warm-up, then a per-step cosine to --min-lr; step: MultiStepLR\n(x0.1 at --milestones). Default ${D.synthetic.schedule} on synthetic data, ${D.real.schedule} otherwise` },
  'warmup-steps': { type: 'int', min: 0, default: D.warmupSteps, help: 'cosine: linear warm-up optimizer steps from lr x 0.01' },
  'min-lr': { type: 'number', help: `cosine: the learning rate at the last step (default ${D.minLr}, or --lr if lower)` },
  milestones: { type: 'ints', help: `MultiStepLR epochs (x0.1; implies --schedule step), default ${D.real.milestones.join(',')} with --data-dir` },
  'drop-path': { type: 'number', help: `stochastic-depth rate of the last Swin block (default ${D.synthetic.dropPath ?? 'the backbone\'s'} on synthetic data,\nthe backbone's official rate otherwise)` },
  'clip-grad': { type: 'number', help: `clip the global gradient norm to this before each step (default ${D.synthetic.clipGrad ?? 'none'} on synthetic\ndata, none otherwise)` },
  seed: { type: 'int', min: 0, default: D.seed, help: 'seed of the weights, the data order and augmentation' },
  'train-size': { type: 'int', default: D.trainSize, help: 'synthetic training split size' },
  'val-size': { type: 'int', default: D.valSize, help: 'synthetic validation split size' },
  'eval-every': { type: 'int', default: D.evalEvery, help: 'validate every N epochs' },
  'max-bad-steps': { type: 'int', default: D.maxBadSteps, help: 'stop after N consecutive non-finite steps' },
};

const camel = (flag: string): string => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** The TrainSettings of the flags given on the command line (the rest come from the defaults or the resumed run). */
function givenSettings(args: Args): Partial<TrainSettings> {
  const out: Record<string, unknown> = {};
  for (const [flag, f] of Object.entries(SETTING_FLAGS)) {
    if (!args.has(flag)) continue;
    out[camel(flag)] = f.type === 'ints' ? args.ints(flag) : f.type === 'int' ? args.int(flag) : f.type === 'number' ? args.num(flag) : args.str(flag);
  }
  if (out.dataDir === 'synthetic') out.dataDir = undefined;
  return out as Partial<TrainSettings>;
}

export const command: Command = {
  name: 'train',
  summary: 'trains SegFace (default: the mini model on built-in synthetic faces); resumable, data parallel',
  usage: ['[options]'],
  flags: {
    preset: {
      type: 'string', choices: Object.keys(PRESETS),
      help: 'the recipe the settings below default to (src/train/presets.ts; default: default, whose\n' +
        'values are the defaults shown); each flag given overrides its field:\n' +
        Object.entries(PRESETS).map(([n, p]) => `  ${n}: ${p.model}, ${p.res} px, batch ${p.batch}, ${p.epochs} x ${p.trainSize} samples; ${p.summary}`).join('\n'),
    },
    ...SETTING_FLAGS,
    workers: { type: 'int', min: 0, help: `input-pipeline worker threads (default ${D.real.workers} with --data-dir, ${D.synthetic.workers} on synthetic data)` },
    out: { type: 'string', value: 'DIR', help: 'run directory (default runs/NAME)' },
    name: { type: 'string', help: 'run name (default a timestamp)' },
    resume: { type: 'string', value: 'DIR', help: `continue a run from its checkpoint with its saved settings; ${['epochs', 'lr', 'maxBadSteps', 'evalEvery'].map(flagOf).join(', ')}\ngiven with it change them (e.g. extend a run)` },
    'init-from': { type: 'string', value: 'FILE', exists: 'file', help: 'start from weights (.safetensors or official .pt)' },
    adapter: ADAPTER_FLAG,
    'no-tune': NO_TUNE_FLAG,
    devices: { type: 'int', help: 'data parallel on N GPUs of this machine (runs itself under mpiexec -n N;\nneeds MPICH). Under mpiexec/srun/MPIJob the launcher sets the ranks' },
  },
  notes: 'Writes DIR/metrics.jsonl, curve.png, samples/ and an atomic checkpoint.safetensors after each epoch;\n' +
    'Ctrl-C saves after the current step and exits 130 (a second Ctrl-C quits at once).',
  async run(args) {
    applyTuneFlag(args);
    const resume = args.str('resume');
    const dir = resume ?? args.str('out') ?? join('runs', args.str('name') ?? new Date().toISOString().replace(/[:.]/g, '-'));
    if (resume !== undefined && args.has('preset')) args.fail(`--preset: --resume ${resume} continues with the run's saved settings`);
    // Data parallelism: one process per GPU; rank 0 alone writes checkpoints, metrics and images.
    // With --devices N outside an MPI launcher this re-runs the command under mpiexec and exits.
    const world = await setupWorld({ devices: args.int('devices'), adapter: args.adapter().adapter });
    let run: TrainingRun;
    try {
      run = await TrainingRun.open({
        dir, resume: resume !== undefined, settings: givenSettings(args), recipe: presetNamed(args.str('preset') ?? 'default'), initFrom: args.str('init-from'),
        workers: args.int('workers'), world,
      });
    } catch (e) {
      throw e instanceof SettingsError ? new UsageError(e.message) : e;
    }
    let result: Awaited<ReturnType<TrainingRun['run']>>;
    try {
      result = await run.run();
    } catch (e) {
      // A lost device or a GPU error (out of memory): checkpoints are written whole or not at all.
      if (!(e instanceof GpuError)) throw e;
      throw new Error(`${e.message.split('\n')[0]}; the last checkpoint in ${dir} (if any) is intact: continue with segface train --resume ${dir}`);
    }
    if (world.isRoot) console.log(`checkpoint: ${result.checkpoint}; metrics: ${join(dir, 'metrics.jsonl')}`);
    if (world.isRoot && result.outcome === 'interrupted') console.error(`interrupted after step ${result.state.globalStep}; continue with: segface train --resume ${dir}`);
    run.close();
    await world.finish();
    // An interrupted run exits 130 (as a shell does after Ctrl-C) so that `train && eval` stops. Under
    // MPI each rank ends cleanly (0) and the --devices launcher, which saw the Ctrl-C, returns 130.
    return result.outcome === 'interrupted' && world.size === 1 ? 130 : 0;
  },
};
