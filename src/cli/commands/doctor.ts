// `segface doctor`: one command for a machine you have for a few minutes (src/doctor/doctor.ts):
// adapter facts and limits, roofline, op checks against the float64 references, and the swin_base
// 224 / 512 training step, matmul and window attention rows at the largest batch that fits. Writes
// doctor-<adapter>.json and doctor-<adapter>.md into --out after every step; Ctrl-C stops after the
// current measurement and keeps what was measured. Exits 1 when an op check failed.
import { ADAPTER_FLAG, NO_TUNE_FLAG, PRECISION_FLAG, type Command } from '../args.js';
import { openRuntime } from '../runtime.js';
import { Doctor } from '../../doctor/doctor.js';
import { doctorMarkdown, writeDoctorFiles } from '../../doctor/report.js';

export const command: Command = {
  name: 'doctor',
  summary: 'checks and measures this adapter in a time budget: op checks, roofline, largest batch, step rows',
  usage: ['[--minutes N] [--quick] [--out DIR] [--max-batch N] [--max-memory-gib G]'],
  flags: {
    minutes: { type: 'number', default: 8, help: 'time budget; the doctor stops cleanly with what it has measured' },
    quick: { type: 'boolean', help: 'small shapes (the tiny model at 64 px): about a minute on lavapipe, for CI' },
    out: { type: 'string', value: 'DIR', default: '.', help: 'where doctor-<adapter>.json and .md go' },
    'max-batch': { type: 'int', help: 'largest training batch the doubling tries (default 256; --quick 4)' },
    'max-memory-gib': { type: 'number', value: 'G', help: 'stop doubling before the predicted peak memory passes G GiB\n(default: half the free host memory on software adapters, no cap on GPUs)' },
    precision: { ...PRECISION_FLAG, default: undefined, help: 'run the op checks in this precision only (default: f32, and f16 too where the adapter has shader-f16)' },
    adapter: ADAPTER_FLAG,
    'no-tune': NO_TUNE_FLAG,
  },
  async run(args) {
    const minutes = args.num('minutes')!;
    if (minutes <= 0) args.fail(`--minutes ${minutes}: expected a positive number`);
    const maxBatch = args.int('max-batch');
    const gib = args.num('max-memory-gib');
    if (gib !== undefined && gib <= 0) args.fail(`--max-memory-gib ${gib}: expected a positive number`);
    const out = args.str('out')!;
    const rt = await openRuntime(args);
    const doctor = new Doctor(rt, {
      minutes, quick: args.bool('quick'), ...(maxBatch ? { maxBatch } : {}), ...(gib ? { memoryCapBytes: gib * 2 ** 30 } : {}),
      ...(args.has('precision') ? { checkPrecisions: [args.precision()] } : {}),
    });
    process.once('SIGINT', () => {
      console.error('doctor: stopping after the current measurement (Ctrl-C again to abort)');
      doctor.stop('interrupted');
    });
    let files = { json: '', markdown: '' };
    let stepsShown = 0;
    const report = await doctor.run((r) => {
      files = writeDoctorFiles(r, out);
      for (const s of r.steps.slice(stepsShown)) console.log(`doctor: ${s.name}: ${s.status}${s.note ? ` (${s.note})` : ''}, ${s.seconds.toFixed(1)} s`);
      stepsShown = r.steps.length;
    });
    console.log(`\n${doctorMarkdown(report)}`);
    console.log(`wrote ${files.json} and ${files.markdown}`);
    rt.destroy();
    return report.checks.every((c) => c.ok) ? 0 : 1;
  },
};
