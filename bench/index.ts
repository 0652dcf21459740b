// `segface bench [SUITE ...] [--full] [--json FILE] [--adapter I|NAME] [--python PATH]`
// `segface bench --profile step|forward [--model swin_t] [--res 224] [--batch 1] [--trace FILE]`
// (flags: src/cli/commands/bench.ts; `npm run bench` is an alias)
//
// Runs the roofline first (the adapter's measured FMA peak and bandwidth), then the selected
// suites, prints one table and writes bench/results/<adapter>.json. Ratios in a row are against
// figures measured in this same run.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../src/cli/args.js';
import type { BenchOptions } from '../src/cli/commands/bench.js';
import { Runtime } from '../src/runtime/runtime.js';
import { announceAdapter } from '../src/runtime/host_gpu.js';
import { fmt, type BenchContext, type BenchRow } from './lib.js';
import { attentionSuite } from './suites/attention.js';
import { distSuite } from './suites/dist.js';
import { fusionSuite } from './suites/fusion.js';
import { inputSuite } from './suites/input.js';
import { matmulSuite } from './suites/matmul.js';
import { modelSuite } from './suites/model.js';
import { opsSuite } from './suites/ops.js';
import { peersSuite } from './suites/peers.js';
import { runProfile } from './profile.js';
import { writeSummary } from './summary.js';
import { rooflineSuite, type Roofline } from './suites/roofline.js';
import { windowAttentionSuite } from './suites/window_attention.js';

type Suite = (ctx: BenchContext) => Promise<BenchRow[]>;
const SUITES: Record<string, Suite> = {
  dist: distSuite,   // opt-in (spawns mpiexec): npm run bench -- dist
  matmul: matmulSuite,
  fusion: fusionSuite,
  attention: attentionSuite,
  window_attention: windowAttentionSuite,
  ops: opsSuite,
  input: inputSuite,
  peers: peersSuite,
  model: modelSuite,
};
const DEFAULT_SUITES = ['matmul', 'fusion', 'window_attention', 'attention', 'ops', 'peers', 'model'];


export async function runBench(values: BenchOptions): Promise<number> {
  const positionals = values.suites;
  const unknown = positionals.filter((s) => !(s in SUITES));
  if (unknown.length) throw new UsageError(`unknown suite(s) ${unknown.join(', ')}; known: ${Object.keys(SUITES).join(', ')}`);
  if (values.profile !== undefined && values.profile !== 'step' && values.profile !== 'forward') throw new UsageError(`--profile takes step or forward, not ${values.profile}`);
  const rt = await Runtime.create(values.adapter === undefined ? {} : { adapter: values.adapter });
  announceAdapter(rt.device.adapter);
  const ctx: BenchContext = { rt, full: values.full, quick: values.quick, ...(values.python ? { python: values.python } : {}) };
  const here = dirname(fileURLToPath(import.meta.url));
  const slug = rt.device.name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');

  console.log(`adapter: ${rt.device.name} (${rt.device.adapter.description}); subgroups ${rt.device.hasSubgroups ? `yes (${rt.device.adapter.subgroupMinSize}..${rt.device.adapter.subgroupMaxSize})` : 'no'}`);
  if (values.profile !== undefined) {
    const out = values.trace ?? join(here, 'results', `profile-${slug}.json`);
    const trace = await runProfile(rt, { what: values.profile as 'step' | 'forward', backbone: values.model, res: values.res, batch: values.batch, out });
    if (!values.trace) console.log(`summary: ${writeSummary(here)}`);
    if (values.json) {
      // the trace's summary (per-op totals, matmul in the step against alone) and the tuner's units
      writeFileSync(values.json, JSON.stringify({ date: new Date().toISOString(), adapter: rt.device.adapter, profile: trace.otherData, tuning: tuningList(rt) }, null, 2) + '\n');
      console.log(`results: ${values.json}`);
    }
    rt.destroy();
    return 0;
  }
  const roof = await rooflineSuite(ctx);
  const rows: BenchRow[] = [...roof.rows];
  for (const name of positionals.length ? positionals : DEFAULT_SUITES) {
    console.log(`running ${name} ...`);
    rows.push(...addRoofline(await SUITES[name]!(ctx), roof.peak));
  }
  printTable(rows);

  const date = new Date().toISOString();
  const suitesRun = positionals.length ? positionals : DEFAULT_SUITES;
  mkdirSync(join(here, 'results'), { recursive: true });
  const out = join(here, 'results', `${slug}.json`);
  // Rows not measured now (other suites, or --full rows after a default run) are kept from the
  // adapter's earlier results with the date they were measured (their ratios are against that run's
  // roofline); rows measured now replace their namesakes.
  const earlier = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')) as Results : undefined;
  const key = (r: BenchRow): string => `${r.suite}\u0000${r.name}`;
  const measured = new Set(rows.map(key));
  const kept = (earlier?.rows ?? []).filter((r) => r.suite !== 'roofline' && !measured.has(key(r))).map((r) => ({ ...r, date: r.date ?? earlier!.date }));
  const result = {
    date,
    adapter: rt.device.adapter,
    node: process.version,
    full: values.full,
    suites: suitesRun,
    roofline: roof.peak,
    rows: [...rows, ...kept],
    /** The autotuner's units met in this run (or loaded from its cache): each candidate's ms and the winner. */
    tuning: tuningList(rt),
  };
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 2) + '\n');
  console.log(`results: ${out}${values.json ? ` and ${values.json}` : ''}; summary: ${writeSummary(here)}`);
  rt.destroy();
  return 0;
}

interface Results { date: string; rows: BenchRow[] }

/** The autotuner's units met in this run (or loaded from its cache), every family: each candidate's ms and the winner. */
function tuningList(rt: Runtime): { op: string; shapeClass: string; shape: string; times: Record<string, number>; winner: string }[] {
  return rt.tuner.list().map((t) => ({ op: t.family, shapeClass: t.shapeClass, shape: t.shape, times: t.times, winner: t.winner }));
}

/**
 * Adds each row's fraction of the measured FMA peak or bandwidth. f16 rows too are against the f32
 * peak: their kernels store f16 but compute in f32 (fma_peak_f16 is what f16 arithmetic reaches).
 */
function addRoofline(rs: BenchRow[], peak: Roofline): BenchRow[] {
  return rs.map((r) => (r.unavailable || r.peer === 'torch-cpu' ? r : {
    ...r,
    ratios: {
      ...r.ratios,
      ...(r.gflops !== undefined ? { of_fma_peak: r.gflops / peak.gflops } : {}),
      ...(r.gbps !== undefined ? { of_copy_bw: r.gbps / peak.copyGBps } : {}),
    },
  }));
}

function printTable(rs: BenchRow[]): void {
  const header = ['suite', 'name', 'sizes', 'median ms', 'min..max ms', 'GFLOP/s', 'GB/s', 'ratios'];
  const body = rs.map((r) => [
    r.suite, r.name, r.sizes, fmt(r.medianMs, 3), r.unavailable ? '' : `${fmt(r.minMs, 3)}..${fmt(r.maxMs, 3)}`,
    r.gflops !== undefined ? fmt(r.gflops) : '', r.gbps !== undefined ? fmt(r.gbps) : '',
    r.unavailable ? `unavailable: ${r.unavailable}` : [
      ...(r.imagesPerSec !== undefined ? [`${fmt(r.imagesPerSec, 3)} img/s`] : []),
      ...(r.peakBytes !== undefined ? [`peak ${(r.peakBytes / 2 ** 20).toFixed(0)} MiB`] : []),
      ...Object.entries(r.ratios).map(([k, v]) => `${k} ${v.toFixed(2)}`),
    ].join(', ') + (r.note ? ` (${r.note})` : ''),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
}
