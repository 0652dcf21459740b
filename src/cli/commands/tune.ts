// `segface tune`: measures every kernel tuning unit a training step of one configuration meets and
// stores the winners in the adapter's tuning cache (~/.cache/segface-webgpu/, or
// $XDG_CACHE_HOME/segface-webgpu/), so later runs start on them. Units already cached (same
// adapter, driver and kernel sources) are skipped.
import cliProgress from 'cli-progress';
import { ADAPTER_FLAG, type Command } from '../args.js';
import { BACKBONES } from '../../model/config.js';
import { announceAdapter } from '../../runtime/host_gpu.js';
import { Runtime } from '../../runtime/runtime.js';
import { FileTuneStore } from '../../runtime/tune_store_node.js';
import { pretuneTrainingStep } from '../../train/tune.js';

export const command: Command = {
  name: 'tune',
  summary: 'autotunes the kernels a training step of a configuration meets, and caches the winners',
  usage: ['[--model M] [--res R] [--batch B]'],
  flags: {
    model: { type: 'string', default: 'swin_t', choices: Object.keys(BACKBONES), help: 'backbone' },
    res: { type: 'int', min: 32, default: 224, help: 'input resolution in pixels, a multiple of 32' },
    batch: { type: 'int', default: 1, help: 'images per step' },
    adapter: ADAPTER_FLAG,
  },
  notes: 'Runs two training steps on synthetic weights; every op + shape class met for the first time is\n' +
    'timed on this adapter (each candidate kernel) and its winner cached. --no-tune or SEGFACE_TUNE=0\n' +
    'elsewhere makes runs ignore the cache and use the built-in defaults.',
  async run(args) {
    const res = args.int('res')!;
    if (res % 32 !== 0) args.fail(`--res ${res}: expected a multiple of 32`);
    const model = args.str('model')!;
    const batch = args.int('batch')!;
    const store = new FileTuneStore();
    const rt = await Runtime.create({ ...args.adapter(), tune: true, tuneStore: store });
    announceAdapter(rt.device.adapter);
    console.log(`tuning ${model} ${res} px, batch ${batch}: cache ${store.path(rt.tuner.storeKey)}`);
    const bar = new cliProgress.SingleBar({ format: 'units |{bar}| {value}/{total} | {unit} -> {winner}', hideCursor: true }, cliProgress.Presets.shades_classic);
    let started = false;
    const result = await pretuneTrainingStep(rt, {
      backbone: model, res, batch,
      onUnit: (done, total, rec) => {
        if (!started) { bar.start(total, 0, { unit: '', winner: '' }); started = true; }
        bar.setTotal(Math.max(total, done));
        bar.update(done, { unit: `${rec.family} ${rec.shapeClass}`, winner: rec.winner });
        if (done === total) { bar.stop(); started = false; }
      },
    });
    if (started) bar.stop();
    console.log(`measured ${result.measured.length} unit(s) now; ${result.known.length} known for this adapter`);
    const wins = new Map<string, number>();
    for (const r of result.known) wins.set(r.winner, (wins.get(r.winner) ?? 0) + 1);
    for (const [winner, n] of [...wins].sort((a, b) => b[1] - a[1])) console.log(`  ${winner}: wins ${n} unit(s)`);
    rt.destroy();
  },
};
