// `segface bench`: the benchmarks of bench/ (roofline, kernels, peers, whole model, profiles). They
// write bench/results/ and bench/README.md of the repository, so they run from a clone (through
// tsx: `npm run bench`), not from the installed package.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ADAPTER_FLAG, NO_TUNE_FLAG, type Command } from '../args.js';
import { applyTuneFlag } from '../runtime.js';

/** What bench/index.ts's runBench takes. */
export interface BenchOptions {
  suites: string[];
  full: boolean;
  quick: boolean;
  json?: string;
  adapter?: number | string;
  python?: string;
  profile?: string;
  trace?: string;
  model: string;
  res: number;
  batch: number;
}

interface BenchModule { runBench(o: BenchOptions): Promise<number> }

/** bench/index.ts of this checkout, when running from the sources. */
function benchEntry(): URL | undefined {
  if (!import.meta.url.endsWith('.ts')) return undefined;
  const url = new URL('../../../bench/index.ts', import.meta.url);
  return existsSync(fileURLToPath(url)) ? url : undefined;
}

export const command: Command = {
  name: 'bench',
  summary: 'benchmarks: roofline, kernels, peers (TF.js WebGPU, PyTorch), whole model, kernel profiles',
  usage: ['[SUITE ...] [--full] [--quick] [--json FILE]', '--profile step|forward [--model NAME] [--res N] [--batch N] [--trace FILE] [--json FILE]'],
  positionals: 'SUITE',
  flags: {
    full: { type: 'boolean', help: 'add the big (GPU-sized) configurations' },
    quick: { type: 'boolean', help: 'fewer repetitions' },
    json: { type: 'string', value: 'FILE', help: 'also write the rows to FILE (results always go to bench/results/<adapter>.json); with --profile, the profile summary (matmul in the step against alone) and the tuner\'s units' },
    python: { type: 'string', value: 'PATH', help: 'python with torch for the PyTorch peer (default $SEGFACE_PYTHON or /usr/bin/python3)' },
    profile: { type: 'string', choices: ['step', 'forward'], help: 'instead of suites: time every dispatch of one training step (or forward);\nprints the top 15 ops by GPU time and writes a Chrome/Perfetto trace' },
    trace: { type: 'string', value: 'FILE', help: 'the trace file of --profile (default bench/results/profile-<adapter>.json)' },
    model: { type: 'string', default: 'swin_t', help: 'model of --profile' },
    res: { type: 'int', min: 4, default: 224, help: 'resolution of --profile' },
    batch: { type: 'int', default: 1, help: 'batch of --profile' },
    adapter: ADAPTER_FLAG,
    'no-tune': NO_TUNE_FLAG,
  },
  notes: 'suites: matmul, window_attention, attention, ops, peers, model (the default set); opt-in: input, dist.\nThe roofline (FMA peak, copy/read bandwidth) always runs first.',
  async run(args) {
    applyTuneFlag(args);
    const entry = benchEntry();
    if (!entry) throw new Error('segface bench runs from a clone of the repository (it writes bench/results/ there): npm run bench');
    const bench = await import(entry.href) as BenchModule;
    const { adapter } = args.adapter();
    return bench.runBench({
      suites: args.positionals, full: args.bool('full'), quick: args.bool('quick'), json: args.str('json'), adapter,
      python: args.str('python'), profile: args.str('profile'), trace: args.str('trace'),
      model: args.str('model')!, res: args.int('res')!, batch: args.int('batch')!,
    });
  },
};
