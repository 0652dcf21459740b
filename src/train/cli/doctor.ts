// `npm run doctor [-- --minutes N] [--quick] [--out DIR] [--max-batch N] [--max-memory-gib G] [--adapter I|NAME]`
// One command for a machine you have for a few minutes (src/doctor/doctor.ts): adapter facts and
// limits, roofline, op checks against the float64 references, and the swin_base 224 / 512 training
// step, matmul and window attention rows at the largest batch that fits. Writes
// doctor-<adapter>.json and doctor-<adapter>.md into --out after every step; Ctrl-C stops after the
// current measurement and keeps what was measured. Exits 1 when an op check failed.
import { parseArgs } from 'node:util';
import { Doctor } from '../../doctor/doctor.js';
import { doctorMarkdown, writeDoctorFiles } from '../../doctor/report.js';
import { announceAdapter } from '../../runtime/host_gpu.js';
import { Runtime } from '../../runtime/runtime.js';

const USAGE = `usage: npm run doctor [-- options]
  --minutes N          time budget (default 8); the doctor stops cleanly with what it has measured
  --quick              small shapes (the tiny model at 64 px): about a minute on lavapipe, for CI
  --out DIR            where doctor-<adapter>.json and .md go (default .)
  --max-batch N        largest training batch the doubling tries (default 256; --quick 4)
  --max-memory-gib G   stop doubling before the predicted peak memory passes G GiB
                       (default: half the free host memory on software adapters, no cap on GPUs)
  --adapter I|NAME     WebGPU adapter (npm run devices lists them)`;

function fail(msg: string): never {
  console.error(`error: ${msg}\n${USAGE}`);
  process.exit(2);
}

const { values: v } = parseArgs({
  options: {
    minutes: { type: 'string', default: '8' }, quick: { type: 'boolean', default: false }, out: { type: 'string', default: '.' },
    'max-batch': { type: 'string' }, 'max-memory-gib': { type: 'string' }, adapter: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (v.help) { console.log(USAGE); process.exit(0); }
const positive = (flag: string, s: string): number => {
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) fail(`--${flag} ${s}: expected a positive number`);
  return n;
};
const minutes = positive('minutes', v.minutes!);
const maxBatch = v['max-batch'] === undefined ? undefined : positive('max-batch', v['max-batch']);
if (maxBatch !== undefined && !Number.isInteger(maxBatch)) fail(`--max-batch ${v['max-batch']}: expected an integer`);
const memoryCapBytes = v['max-memory-gib'] === undefined ? undefined : positive('max-memory-gib', v['max-memory-gib']) * 2 ** 30;

const adapter = v.adapter === undefined ? undefined : /^\d+$/.test(v.adapter) ? Number(v.adapter) : v.adapter;
const rt = await Runtime.create(adapter === undefined ? {} : { adapter });
announceAdapter(rt.device.adapter);
const doctor = new Doctor(rt, { minutes, quick: v.quick, ...(maxBatch ? { maxBatch } : {}), ...(memoryCapBytes ? { memoryCapBytes } : {}) });
process.once('SIGINT', () => {
  console.error('doctor: stopping after the current measurement (Ctrl-C again to abort)');
  doctor.stop('interrupted');
});
let files = { json: '', markdown: '' };
let stepsShown = 0;
const report = await doctor.run((r) => {
  files = writeDoctorFiles(r, v.out!);
  for (const s of r.steps.slice(stepsShown)) console.log(`doctor: ${s.name}: ${s.status}${s.note ? ` (${s.note})` : ''}, ${s.seconds.toFixed(1)} s`);
  stepsShown = r.steps.length;
});
console.log(`\n${doctorMarkdown(report)}`);
console.log(`wrote ${files.json} and ${files.markdown}`);
rt.destroy();
process.exit(report.checks.every((c) => c.ok) ? 0 : 1);
