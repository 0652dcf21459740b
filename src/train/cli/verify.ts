// `npm run verify -- --case DIR [--adapter I|NAME] [--all] [--stats]`: runs the engine on a reference
// case written by tools/reference/gen.py and prints, layer by layer, the relative L2 error of the
// activations and of every gradient; exits 1 beyond tolerance.
import { parseArgs } from 'node:util';
import { loadCase, runCase } from '../../model/reference_case.js';
import { formatVerdicts, judge } from '../../model/verify_report.js';
import { Runtime } from '../../runtime/runtime.js';

const USAGE = `usage: npm run verify -- --case DIR [--adapter INDEX|NAME] [--all] [--stats]
  --case DIR   a reference case (python3 tools/reference/gen.py --backbone swin_t --res 224 --out DIR)
  --all        print every gradient, not only failures
  --stats      print time and peak GPU memory of the forward+backward`;

const { values } = parseArgs({
  options: {
    case: { type: 'string' }, adapter: { type: 'string' }, all: { type: 'boolean', default: false },
    stats: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) { console.log(USAGE); process.exit(0); }
if (!values.case) { console.error(`error: --case is required\n${USAGE}`); process.exit(2); }

const c = loadCase(values.case);
const adapter = values.adapter === undefined ? undefined : /^\d+$/.test(values.adapter) ? Number(values.adapter) : values.adapter;
const rt = await Runtime.create(adapter === undefined ? {} : { adapter });
console.log(`case ${values.case}: ${c.cfg.backbone}/${c.cfg.dataset} ${c.manifest.res} px, batch ${c.manifest.batch} (reference torch ${c.manifest.torch}); adapter ${rt.device.name}`);
rt.pool.resetPeak();
const t0 = performance.now();
const result = await runCase(rt, c);
const ms = performance.now() - t0;
const verdicts = judge(result);
console.log(formatVerdicts(verdicts, values.all));
const ref = c.manifest.loss;
console.log(`loss: ours ${result.loss.total.toFixed(7)} (ce ${result.loss.ce.toFixed(7)}, dice ${result.loss.dice.toFixed(7)}); ` +
  `reference ${ref.total.toFixed(7)} (ce ${ref.ce.toFixed(7)}, dice ${ref.dice.toFixed(7)})`);
if (values.stats) console.log(`forward+backward+readback: ${(ms / 1000).toFixed(2)} s; peak GPU memory ${(rt.memory().bytesPeak / 2 ** 20).toFixed(1)} MiB`);
const failed = verdicts.filter((v) => !v.ok);
rt.destroy();
if (failed.length) { console.error(`verify: ${failed.length} comparisons beyond tolerance`); process.exit(1); }
console.log('verify: all comparisons within tolerance');
