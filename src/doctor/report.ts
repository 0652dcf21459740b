// The doctor's files: doctor-<adapter>.json (everything measured) and doctor-<adapter>.md (a summary
// to paste into an issue), written atomically (temporary file, then rename) after every step.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DoctorReport } from './doctor.js';
import type { Timing } from './measure.js';

/** doctor-<adapter>: the adapter's name in lower case, runs of other characters as one '-'. */
export function doctorSlug(adapterName: string): string {
  return `doctor-${adapterName.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}`;
}

const GiB = 2 ** 30;
const num = (x: number | undefined, digits = 2): string => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits));
const ms = (t: Timing | undefined): string => (t ? `${num(t.medianMs, t.medianMs < 10 ? 3 : 1)} ms` : '–');
const pct = (x: number | undefined): string => (x === undefined ? '–' : `${(100 * x).toFixed(1)} %`);

const LIMITS = [
  'maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage',
];

export function doctorMarkdown(r: DoctorReport): string {
  const a = r.adapter;
  const out: string[] = [];
  out.push(`# segface doctor: ${a.name}`, '');
  out.push(`${r.date}, ${r.quick ? '--quick, ' : ''}${num(r.elapsedSeconds, 0)} s of a ${r.budgetMinutes} min budget; ` +
    `${r.complete ? 'every step ran to its end' : `stopped early (${r.stoppedBy ?? 'a step ran out of its share'}): rows below are what was measured`}.`, '');
  out.push('## Adapter', '');
  out.push(`- ${a.name}: backend ${a.backend}, vendor ${a.vendor || '?'}, architecture ${a.architecture || '?'}, ${a.software ? '**software (CPU)**' : 'hardware'}; ${a.description}`);
  out.push(`- features: ${a.features.join(', ')}; subgroup size ${a.subgroupMinSize}..${a.subgroupMaxSize}`);
  out.push(`- limits: ${LIMITS.map((k) => `${k} ${a.limits[k]}`).join(', ')}`);
  const gpus = r.host.gpus.map((g) => `${g.vendor} ${g.where}`).join(', ');
  out.push(`- host: ${r.host.platform}, Node ${r.host.node}, ${r.host.cpus} × ${r.host.cpuModel}, ${num(r.host.freeMemoryBytes / GiB, 1)} GiB free; ` +
    `GPUs in the machine: ${gpus || 'none'}${r.host.nvidiaDriver ? ` (NVIDIA driver ${r.host.nvidiaDriver})` : ''}`);
  if (a.software && r.host.gpus.length) out.push(`- **warning: a GPU is in the machine but this adapter is software**: \`bash scripts/setup.sh\` says what is missing`);
  if (r.roofline) out.push(`- measured roofline: FMA peak ${num(r.roofline.gflops, 1)} GFLOP/s${r.roofline.gflopsF16 !== undefined ? ` (f16: ${num(r.roofline.gflopsF16, 1)})` : ''}, copy ${num(r.roofline.copyGBps, 1)} GB/s, read ${num(r.roofline.readGBps, 1)} GB/s`);
  out.push('', '## Op checks against the float64 references', '');
  const passed = r.checks.filter((c) => c.ok).length;
  out.push(`${passed} of ${r.checks.length} passed.`, '', '| check | result | worst abs. error | time |', '| --- | --- | --- | --- |');
  for (const c of r.checks) out.push(`| ${c.name} | ${c.ok ? 'pass' : `**FAIL**: ${c.error}`} | ${c.maxAbsErr.toExponential(2)} | ${num(c.ms / 1000, 1)} s |`);
  out.push('', '## Training step (forward + loss + backward + AdamW), largest batch by doubling', '');
  out.push('| model | batch | step | images/s | peak memory | first step (compiling) |', '| --- | --- | --- | --- | --- | --- |');
  for (const s of r.trainingStep) {
    for (const row of s.rows) {
      const warm = row.warmupMs === undefined ? '' : `${num(row.warmupMs / 1000, 1)} s`;
      if (row.error) out.push(`| ${row.target} | ${row.batch} | does not fit: ${row.error} | | | |`);
      else if (row.skipped) out.push(`| ${row.target} | ${row.batch} | not timed: ${row.skipped} | | | ${warm} |`);
      else out.push(`| ${row.target} | ${row.batch} | ${ms(row.timing)} | ${num(row.imagesPerSec)} | ${num((row.peakBytes ?? NaN) / GiB, 2)} GiB | ${warm} |`);
    }
  }
  for (const s of r.trainingStep) {
    out.push('', `${s.target}: largest batch ${s.largestBatch || 'none'}; doubling stopped: ${s.stoppedBy}; building the model took ${num(s.buildSeconds, 1)} s.`);
  }
  out.push('', '## Matmul (x · Wᵀ + bias, at the largest batch)', '');
  out.push('| model | projection | M × N × K | time | GFLOP/s | of FMA peak |', '| --- | --- | --- | --- | --- | --- |');
  for (const m of r.matmul) {
    out.push(`| ${m.target}, batch ${m.batch} | ${m.label} | ${m.M} × ${m.N} × ${m.K} | ${m.error ? `failed: ${m.error}` : ms(m.timing)} | ${num(m.gflops, 1)} | ${pct(m.ofFmaPeak)} |`);
  }
  out.push('', '## Window attention (fused, at the largest batch)', '');
  out.push('| model | stage | sizes | forward | forward + backward | GFLOP/s (f+b) | of FMA peak |', '| --- | --- | --- | --- | --- | --- | --- |');
  for (const w of r.windowAttention) {
    out.push(`| ${w.target} | ${w.label} | ${w.sizes} | ${w.error ? `failed: ${w.error}` : ms(w.forward)} | ${ms(w.forwardBackward)} | ${num(w.gflops, 1)} | ${pct(w.ofFmaPeak)} |`);
  }
  out.push('', '## Steps', '', '| step | status | seconds | note |', '| --- | --- | --- | --- |');
  for (const s of r.steps) out.push(`| ${s.name} | ${s.status} | ${num(s.seconds, 1)} | ${s.note ?? ''} |`);
  return `${out.join('\n')}\n`;
}

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Writes both files into `dir`; returns their paths. */
export function writeDoctorFiles(r: DoctorReport, dir: string): { json: string; markdown: string } {
  mkdirSync(dir, { recursive: true });
  const base = join(dir, doctorSlug(r.adapter.name));
  const json = `${base}.json`;
  const markdown = `${base}.md`;
  writeAtomic(json, `${JSON.stringify(r, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
  writeAtomic(markdown, doctorMarkdown(r));
  return { json, markdown };
}
