// `npm run tune -- [--model swin_t] [--res 224] [--batch 1] [--adapter I|NAME]`: measures every
// kernel tuning unit a training step of that configuration meets and stores the winners in the
// adapter's tuning cache (~/.cache/segface-webgpu/, or $XDG_CACHE_HOME/segface-webgpu/), so later
// runs start on them. Units already cached (same adapter, driver and kernel sources) are skipped.
import cliProgress from 'cli-progress';
import { parseArgs } from 'node:util';
import { BACKBONES } from '../../model/config.js';
import { Runtime } from '../../runtime/runtime.js';
import { FileTuneStore } from '../../runtime/tune_store_node.js';
import { pretuneTrainingStep } from '../tune.js';

const USAGE = `usage: npm run tune -- [--model M] [--res R] [--batch B] [--adapter I|NAME]
  --model    backbone (default swin_t; ${Object.keys(BACKBONES).join(', ')})
  --res      input resolution in pixels, a multiple of 32 (default 224)
  --batch    images per step (default 1)
  --adapter  adapter index or name substring (npm run devices lists them)
Runs two training steps on synthetic weights; every op + shape class met for the first time is
timed on this adapter (each candidate kernel) and its winner cached. SEGFACE_TUNE=0 elsewhere
makes runs ignore the cache and use the built-in defaults.`;

function fail(msg: string): never {
  console.error(`error: ${msg}\n${USAGE}`);
  process.exit(2);
}

let v: { model: string; res: string; batch: string; adapter?: string; help: boolean };
try {
  ({ values: v } = parseArgs({
    options: {
      model: { type: 'string', default: 'swin_t' }, res: { type: 'string', default: '224' }, batch: { type: 'string', default: '1' },
      adapter: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (e) {
  fail((e as Error).message);
}
if (v.help) { console.log(USAGE); process.exit(0); }
if (!(v.model in BACKBONES)) fail(`--model ${v.model}: expected one of ${Object.keys(BACKBONES).join(', ')}`);
const res = Number(v.res);
if (!Number.isInteger(res) || res < 32 || res % 32 !== 0) fail(`--res ${v.res}: expected a positive multiple of 32`);
const batch = Number(v.batch);
if (!Number.isInteger(batch) || batch < 1) fail(`--batch ${v.batch}: expected a positive integer`);

try {
  const adapter = v.adapter === undefined ? undefined : /^\d+$/.test(v.adapter) ? Number(v.adapter) : v.adapter;
  const store = new FileTuneStore();
  const rt = await Runtime.create({ ...(adapter === undefined ? {} : { adapter }), tune: true, tuneStore: store });
  console.log(`adapter: ${rt.device.facts.identity}`);
  console.log(`tuning ${v.model} ${res} px, batch ${batch}: cache ${store.path(rt.tuner.storeKey)}`);
  const bar = new cliProgress.SingleBar({
    format: 'units |{bar}| {value}/{total} | {unit} -> {winner}', hideCursor: true,
  }, cliProgress.Presets.shades_classic);
  let started = false;
  const result = await pretuneTrainingStep(rt, {
    backbone: v.model, res, batch,
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
} catch (e) {
  if (process.env.ENGINE_DEBUG) throw e;
  console.error(`error: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  process.exit(1);
}
