// Writes bench/README.md from every bench/results/<adapter>.json: one table per adapter, with the
// adapter's measured roofline and each row's ratios, so the committed summary always matches the
// committed results.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchRow } from './lib.js';

interface Result { date: string; adapter: { name: string; description: string }; node: string; full: boolean; roofline: { gflops: number; copyGBps: number; readGBps: number }; rows: BenchRow[] }

export function writeSummary(dir: string): string {
  const files = readdirSync(join(dir, 'results')).filter((f) => f.endsWith('.json')).sort();
  const parts = [
    '# Benchmarks',
    '',
    'Written by `npm run bench` from `bench/results/*.json` (one file per adapter; each run replaces its',
    "adapter's file). Times are per repetition: median and min..max over benchmark.js samples; every",
    'ratio compares figures measured in the same run (`of_fma_peak`, `of_copy_bw`: the roofline rows;',
    '`vs_naive`: the one-output-per-invocation matmul). Lavapipe shares 2 CPU cores with the host, so',
    'runs differ by ±20 %.',
  ];
  for (const f of files) {
    const r = JSON.parse(readFileSync(join(dir, 'results', f), 'utf8')) as Result;
    parts.push('', `## ${r.adapter.name}`, '', `${r.adapter.description}; ${r.date.slice(0, 10)}; Node ${r.node}${r.full ? '; --full' : ''}.`,
      `Roofline: ${r.roofline.gflops.toFixed(1)} GFLOP/s FMA peak, ${r.roofline.copyGBps.toFixed(1)} GB/s copy, ${r.roofline.readGBps.toFixed(1)} GB/s read.`, '',
      '| suite | name | sizes | median ms | min..max ms | GFLOP/s | GB/s | ratios |', '| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const x of r.rows) {
      const ratios = Object.entries(x.ratios).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ');
      parts.push(`| ${x.suite} | ${x.name} | ${x.sizes} | ${x.medianMs.toFixed(2)} | ${x.minMs.toFixed(2)}..${x.maxMs.toFixed(2)} | ${x.gflops?.toFixed(2) ?? ''} | ${x.gbps?.toFixed(2) ?? ''} | ${ratios}${x.note ? ` (${x.note})` : ''} |`);
    }
  }
  const out = join(dir, 'README.md');
  writeFileSync(out, parts.join('\n') + '\n');
  return out;
}
