// Writes bench/README.md from every bench/results/<adapter>.json (and the profile traces
// bench/results/profile-<adapter>.json; npm run doctor's doctor-<adapter>.json stay apart): per adapter its measured roofline, the peers table (ours
// vs TF.js WebGPU on the same adapter vs PyTorch CPU), the whole-model table, the profile's top 15
// ops of a training step, a PNG chart (bench/results/<adapter>.png) and every row with its ratios,
// so the committed summary always matches the committed results.
import { existsSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeMatmulChart } from './chart.js';
import { fmt, type BenchRow } from './lib.js';
import type { ChromeTrace, MatmulInStep } from './profile.js';

interface Result { date: string; adapter: { name: string; description: string }; node: string; full: boolean; roofline: { gflops: number; copyGBps: number; readGBps: number }; rows: BenchRow[]; tuning?: TuningEntry[] }

/**
 * A browser run (`web-<adapter>.json`, written by bench/web.ts from the page's Bench part):
 * the page's rows, its adapter, and the default training step timed in the page and in Node in the
 * same session.
 */
export interface WebResult {
  date: string;
  browser: string;
  adapter: { name: string; vendor: string; architecture: string; subgroupMinSize: number; subgroupMaxSize: number; features: string[] };
  rows: BenchRow[];
  trainStep: { pageMs: number; nodeMs: number; nodeAdapter: string; what: string };
}

/** The browser run's rows beside the same rows of a Node result (matched by suite, name and sizes). */
function webSection(w: WebResult, node: Result | undefined): string[] {
  const a = w.adapter;
  const out = [
    '', `## In a browser: ${a.name} (${w.browser})`, '',
    `${a.vendor}/${a.architecture}; subgroups ${a.subgroupMinSize}..${a.subgroupMaxSize} lanes; shader-f16 ${a.features.includes('shader-f16') ? 'yes' : 'no'}; ` +
      `${w.date.slice(0, 10)}. The page's Bench part (\`npm run web\`), headless, with the variants its matmul rows name. ` +
      'The page runs the package\'s browser build (its entry points in `src/browser/`, as a bundler gets them from `segface-webgpu`); ' +
      'on fewer than 8 subgroup lanes the decoder and window attention kernels run their portable variants.', '',
    `Default training step (${w.trainStep.what}): page ${w.trainStep.pageMs.toFixed(0)} ms, Node on ${w.trainStep.nodeAdapter} ${w.trainStep.nodeMs.toFixed(0)} ms ` +
      `(same session: page ÷ Node time ${(w.trainStep.pageMs / w.trainStep.nodeMs).toFixed(2)}).`, '',
    `| suite | name | sizes | page ms | page GFLOP/s | ${node ? `${node.adapter.name.replace(/-+$/, '')} ms (${node.date.slice(0, 10)}) | its GFLOP/s` : 'node ms | GFLOP/s'} |`,
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of w.rows) {
    const n = node?.rows.find((x) => x.suite === r.suite && x.name === r.name && x.sizes === r.sizes);
    out.push(`| ${r.suite} | ${r.name} | ${r.sizes} | ${fmt(num(r.medianMs))} | ${r.gflops !== undefined ? fmt(num(r.gflops)) : ''} | ${n ? fmt(num(n.medianMs)) : ''} | ${n?.gflops !== undefined ? fmt(num(n.gflops)) : ''} |`);
  }
  return out;
}

const PEERS = ['ours', 'tfjs-webgpu', 'torch-cpu'] as const;

/** NaN timings are stored as null in the JSON files. */
const num = (x: number | null | undefined): number => (typeof x === 'number' ? x : NaN);

function peersTable(rows: readonly BenchRow[]): string[] {
  const byCase = new Map<string, Partial<Record<(typeof PEERS)[number], BenchRow>>>();
  for (const r of rows) {
    if (r.suite !== 'peers') continue;
    const who = PEERS.find((p) => r.name.endsWith(` ${p}`));
    if (!who) continue;
    const label = r.name.slice(0, -who.length - 1);
    byCase.set(label, { ...byCase.get(label), [who]: r });
  }
  if (byCase.size === 0) return [];
  const why = new Set<string>();
  const cell = (r: BenchRow | undefined): [string, string] => {
    if (!r || r.unavailable) {
      if (r?.unavailable) why.add(r.unavailable);
      return ['n/a', 'n/a'];
    }
    const rate = r.gflops !== undefined ? `${fmt(num(r.gflops), 1)} GFLOP/s` : r.gbps !== undefined ? `${fmt(num(r.gbps), 2)} GB/s` : '';
    return [fmt(num(r.medianMs), 2), rate];
  };
  const out = [
    '### Peers: same sizes, same run', '',
    'TF.js 4.22 WebGPU runs on the engine\'s own GPUDevice (same Dawn adapter); PyTorch runs on the CPU',
    '(bench/peers/torch_peer.py). `ours ÷ TF.js` and `ours ÷ PyTorch` are speed ratios (the peer\'s time',
    'over ours): above 1 the engine is faster. Forward only; ms per repetition (median).', '',
    '| case | sizes | ours ms | ours rate | TF.js ms | TF.js rate | PyTorch ms | PyTorch rate | ours ÷ TF.js | ours ÷ PyTorch |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const [label, g] of byCase) {
    const [om, or] = cell(g.ours);
    const [tm, tr] = cell(g['tfjs-webgpu']);
    const [pm, pr] = cell(g['torch-cpu']);
    const ratio = (k: string): string => fmt(num(g.ours?.ratios[k]), 2);
    out.push(`| ${label} | ${(g.ours ?? g['tfjs-webgpu'] ?? g['torch-cpu'])!.sizes} | ${om} | ${or} | ${tm} | ${tr} | ${pm} | ${pr} | ${ratio('vs_tfjs')} | ${ratio('vs_torch')} |`);
  }
  const notes = rows.filter((r) => r.suite === 'peers' && r.peer && r.note && !r.note.startsWith('max |')).map((r) => r.note!.split('; ')[0]!);
  for (const n of new Set(notes)) out.push('', `- ${n}`);
  for (const w of why) out.push('', `- n/a: ${w}`);
  return [...out, ''];
}

function modelTable(rows: readonly BenchRow[]): string[] {
  const ours = rows.filter((r) => r.suite === 'model' && !r.peer && !r.name.endsWith(' torch-cpu'));
  if (ours.length === 0) return [];
  const out = [
    '### Whole model', '',
    'SegFace with synthetic weights, CelebAMask-HQ classes (19), stochastic depth off; the train step is',
    'forward + 0.5·CE + 0.5·Dice + backward + AdamW with one readback (src/train/trainer.ts). Peak is the',
    'buffer pool\'s high-water mark during the measurement (weights, gradients, AdamW state, activations).',
    '`ours ÷ PyTorch`: PyTorch CPU time over ours at the same config and batch.', '',
    '| model | res | what | ours ms | ours img/s | peak GPU MiB | PyTorch ms | PyTorch img/s | ours ÷ PyTorch |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  const why = new Set<string>();
  for (const r of ours) {
    const peer = rows.find((p) => p.suite === 'model' && p.name === `${r.name} torch-cpu`);
    if (peer?.unavailable) why.add(peer.unavailable);
    const [backbone, res, ...what] = r.name.split(' ');
    out.push(`| ${backbone} | ${res} | ${what.join(' ')} | ${fmt(num(r.medianMs), 0)} | ${fmt(num(r.imagesPerSec), 3)} | ${r.peakBytes !== undefined ? (r.peakBytes / 2 ** 20).toFixed(0) : ''} | ${peer && !peer.unavailable ? fmt(num(peer.medianMs), 0) : 'n/a'} | ${peer && !peer.unavailable ? fmt(num(peer.imagesPerSec), 2) : 'n/a'} | ${fmt(num(r.ratios.vs_torch), 3)} |`);
  }
  const torchNote = rows.find((p) => p.suite === 'model' && p.peer === 'torch-cpu' && p.note)?.note;
  if (torchNote) out.push('', `- PyTorch: ${torchNote}`);
  for (const w of why) out.push('', `- n/a: ${w}`);
  return [...out, ''];
}

function profileSection(file: string): string[] {
  if (!existsSync(file)) return [];
  const t = JSON.parse(readFileSync(file, 'utf8')) as ChromeTrace;
  const o = t.otherData;
  const out = [
    `### Profile: ${o.what}`, '',
    `\`npm run bench -- --profile ${String(o.step ?? 'step')} --model ${String(o.backbone)} --res ${String(o.res)} --batch ${String(o.batch ?? 1)}\` (${String(o.date ?? '').slice(0, 10)}): ${o.dispatches} dispatches, ${o.gpuMs.toFixed(1)} ms of GPU time`,
    `(unprofiled step: ${Number(o.wallMs).toFixed(0)} ms wall; GPU idle between dispatches, wall − summed dispatch time: ${(100 * Math.max(0, Number(o.wallMs) - o.gpuMs) / Number(o.wallMs)).toFixed(1)} %${o.load ? `; load average ${String(o.load)}` : ''}). Timing: ${String(o.timing)}. Chrome trace: [${file.split('/').slice(-2).join('/')}](${file.split('/').slice(-2).join('/')})`,
    '(chrome://tracing or ui.perfetto.dev).', '',
    '| # | op | dispatches | total ms | share | mean ms | kernels |', '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  o.top.forEach((s, i) => out.push(`| ${i + 1} | ${s.op} | ${s.count} | ${s.totalMs.toFixed(1)} | ${(100 * s.share).toFixed(1)} % | ${s.meanMs.toFixed(3)} | ${s.kernels.join(', ')} |`));
  const m = o.matmulInStep as MatmulInStep | undefined;
  if (m) {
    out.push('', `Matmul inside the step ÷ the same problems alone (each re-run alone right after, median of 5, same timing): **${m.ratio.toFixed(3)}** (goal ≤ 1.10; ${m.ratioMedian.toFixed(3)} from each problem's median in-step time, which load bursts on single dispatches move less) over ${m.dispatches} dispatches of ${m.problems} problems, ${m.inStepMs.toFixed(1)} ms in the step against ${m.aloneMs.toFixed(1)} ms alone. Largest:`, '',
      '| op | problem | dispatches | in step ms | alone ms each | ratio |', '| --- | --- | --- | --- | --- | --- |');
    for (const r of m.top) out.push(`| ${r.op} | ${r.shape} | ${r.count} | ${r.inStepMs.toFixed(2)} | ${r.aloneMs.toFixed(3)} | ${(r.inStepMs / (r.count * r.aloneMs)).toFixed(2)} |`);
  }
  return [...out, ''];
}

interface TuningEntry { op: string; shapeClass: string; shape: string; times: Record<string, number | null>; winner: string }

/** The autotuner's units of the run: each candidate's ms (— when dropped after its probe) and the winner. */
function tuningTable(tuning: readonly TuningEntry[] | undefined): string[] {
  if (!tuning?.length) return [];
  const out = [
    '### Autotuner: units met in this run', '',
    'Each unit (op + shape class) timed once on this adapter, every candidate on the first shape met',
    '(median ms of 5; — = dropped after one probe run at over 4× the best so far). `npm run tune`',
    'pre-tunes a training step\'s units; results live in ~/.cache/segface-webgpu/ per adapter and driver.', '',
    '| op | shape class | first shape | candidates (ms) | winner |', '| --- | --- | --- | --- | --- |',
  ];
  for (const t of tuning) {
    const times = Object.entries(t.times).map(([c, ms]) => `${c} ${ms === null || !Number.isFinite(ms) ? '—' : ms.toFixed(2)}`).join(' · ');
    out.push(`| ${t.op} | ${t.shapeClass} | ${t.shape} | ${times} | ${t.winner} |`);
  }
  return [...out, ''];
}

export function writeSummary(dir: string): string {
  const all = readdirSync(join(dir, 'results')).filter((f) => f.endsWith('.json') && !f.startsWith('profile-') && !f.startsWith('doctor-')).sort();
  const files = all.filter((f) => !f.startsWith('web-'));
  const parts = [
    '# Benchmarks',
    '',
    'Written by `npm run bench` from `bench/results/*.json` (one file per adapter; a run replaces the rows',
    'it measures and keeps the others with their date). Times are per repetition:',
    'median and min..max over benchmark.js samples; every',
    'ratio compares figures measured in the same run (`of_fma_peak`, `of_copy_bw`: the roofline rows;',
    '`vs_naive`: the one-output-per-invocation matmul; `vs_tfjs`, `vs_torch`: the peers\' time over ours).',
    'Lavapipe shares 2 CPU cores with the host, so runs differ by ±20 %; model rows also carry',
    '`of_fma_peak_paired`, against FMA-peak samples taken just before and after each of a few extra',
    'model samples (medians), which holds where the load changes during a run.',
    '',
    'Commands: `npm run bench` (default suites, a few minutes on lavapipe), `npm run bench -- --full`',
    '(adds swin_base 224/512 and 512 px shapes), `npm run bench -- peers model` (selected suites),',
    '`npm run bench -- --profile step` (per-op GPU time of a swin_t 224 training step + Chrome trace),',
    '`--python PATH` (PyTorch peer interpreter; default `$SEGFACE_PYTHON` or /usr/bin/python3),',
    '`--no-tune` (built-in default kernels; SEGFACE_TUNE=0 does the same).',
    '',
    'Kernels are autotuned per adapter (src/runtime/tuner.ts): the first time an op meets a shape class',
    '(matmul: transposes, bias, vec4 alignment, M/N/K/batch rounded up to powers of two) it runs the',
    'built-in default; the next readback, with the batch empty, times every candidate, so a batched',
    'step is never interrupted. Against noisy winners on a shared machine, the default and the two',
    'best challengers are then re-timed in interleaved rounds (medians of all samples) and the default',
    'stays unless a challenger beats it by 5 %. The JSON\'s `tuning` list and the table per adapter',
    'below show the candidates\' times (matmul units carry their epilogue, e.g. `gelu`, and a fused',
    'bias gradient, `+sumsA` / `+sumsB`, in the class). Families: `matmul` (kernels and tile shapes),',
    '`softmax` and `layernorm` (launch shapes `T<invocations per row>:W<workgroup size>`, classes by',
    'rows and columns), `loss` (`W<workgroup size>:P<pixels per invocation>`). `--profile ... --json',
    'FILE` writes the profile summary and the tuning list.',
    '',
    'What wins where (matmul). Lavapipe, swin_t 224 training step, 2026-12-03 (2 cores shared with',
    'other jobs, so single times are noisy): of the step\'s 89 units, `subgroup:R16:W64` (the built-in',
    'default) won 56 and `subgroup:R8:W64` 33 (no clear shape pattern at this noise level);',
    '`tiled:W64:N8` ran 1–27× slower where timed and was dropped after its probe in 39 units;',
    '`wgmem:M16:N16:K16:C1` never won and was dropped in 86 of 89 (over 4× the best): workgroup',
    'memory and barriers cost more than they save on a CPU. The browser (SwiftShader,',
    '4-lane subgroups: `subgroup:*:L4` kernels) and a GPU have not been tuned yet; their rows appear',
    'here once `npm run bench` runs there.',
    '',
    'Fused epilogues (suite `fusion`). Swin\'s MLP runs as one op (runtime/ops/mlp.ts): GELU in the',
    'first matmul\'s epilogue (which also keeps the pre-activation for the backward) and gelu\' in the',
    'epilogue of the matmul that forms dZ, so neither GELU pass exists: 24 dispatches fewer per swin_t',
    'step (1414 → 1390) and two passes over the hidden tensor fewer each way; results are bit-identical',
    'to linear → GELU → linear. Lavapipe, 2026-12-03 17:15, load average 8.4–8.6 on 2 cores',
    '(contended; two runs), fused ÷ unfused time as median of 11 alternating pairs / best ÷ best:',
    'stage 1 (3136 tokens, 96 → 384 → 96) forward 0.84 / 0.84 and 0.75 / 0.94, forward + backward',
    '0.97 / 0.95 and 0.99 / 0.84; stage 3 (196 tokens, 384 → 1536 → 384) forward 1.00 / 0.95 and',
    '1.00 / 0.90, forward + backward 0.90 / 0.94 and 0.93 / 0.90. So it pays a little (the GELU',
    'passes were ~3 % of the step), most where the hidden tensor is large next to the matmul work',
    '(stage 1 forward); an earlier run at load 17–20 scattered from 0.66 to 1.77.',
    'The residual-add epilogue stays unused by the model (slower on lavapipe when last measured).',
    'Bias gradient fused into the weight-gradient product (kernels/matmul.wgsl `DB`, every kernel):',
    'the workgroups of the first tile column (row) also add up the dY values they load anyway and',
    'write db, so its `sum_cols` pass is gone for every linear layer, the MLP and the convolutions',
    '(their dW products run over all rows at once). The mini 64 px batch-4 step: 1137 → 1041',
    'dispatches, `sum_cols` 154 → 58 (the rest: layer norm\'s dw/db chunk sums and broadcast',
    'adds); quiet, those 96 passes were about 25 ms of the step\'s 426 ms GPU time. Per unit the tuner',
    'times the fused kernel against the same kernel with the sums apart (`:D0`): lavapipe, 2026-12-03,',
    'load 14 (contended), fused ÷ apart over the step\'s 25 units: median 0.86, 0.22–1.00 in 21 of',
    '22 timed (one 1.66, at 65.5 µs timestamp granularity), and `:D0` won none.',
    '',
    'Roofline ratios on lavapipe, 2026-12-03, contended: each figure paired with FMA-peak samples',
    'taken just before and after it (what `bench model`\'s of_fma_peak_paired now does; its plain',
    'of_fma_peak uses the roofline row, which under this load swung 5× within a run), median',
    'of 3 pairs, two runs: at load average 12 → 10.7 matmul 1024³ 0.29, swin_t 224 forward 0.20,',
    'training step 0.23; at load 7.7 → 9.1 0.24 / 0.27 / 0.16 (pairs scattered ±40 %). Pooled',
    'medians: matmul 0.27, forward 0.27, step 0.19 (earlier quiet runs: 0.34 / 0.27 / 0.28). The',
    'targets (0.5 / 0.4 / 0.4) are not met; matmul still takes ~80 % of a swin_t 224 step\'s GPU time',
    '(1390 dispatches, matmul_bwd_b 18 %, the four MLP backward products 31 %). The profile below is',
    'the default recipe\'s step (mini, 64 px, batch 4), where per-dispatch overheads weigh more. Under',
    'load its absolute times are inflated 1.5–3× (shares roughly hold) and its GPU-idle figure is',
    'meaningless (the unprofiled and profiled steps saw different load); on an idle machine before the',
    'bias-gradient fusion it was 1137 dispatches, 426.6 ms of GPU time, 524 ms wall, sum_cols 40 ms.',
    'Matmul inside that step against the same problems alone: 1.075 by sums, 0.99 by per-problem',
    'medians at load 9–11 (earlier runs at load 13: 1.34–1.82 and 1.26–1.70): within the 10 % goal',
    'in the calmer run, but single problems swing 5–17× with load bursts, so a quiet machine must confirm it.',
    'Tried and not kept: the subgroup kernel with 24 or 32 rows per subgroup (a third / half fewer B',
    'loads per FMA, accumulators spilled) measured level with 16 rows (32 rows 0.28 vs 0.30 of the',
    'roofline at 1024³, 8 paired rounds, load ~10), so loads alone do not set the pace any more.',
  ];
  for (const f of files) {
    const slug = f.slice(0, -'.json'.length);
    const r = JSON.parse(readFileSync(join(dir, 'results', f), 'utf8')) as Result;
    const png = `${slug}.png`;
    const charted = writeMatmulChart(r.rows, `matmul GFLOP/s on ${r.adapter.name.replace(/-+$/, '')}`, join(dir, 'results', png));
    parts.push('', `## ${r.adapter.name}`, '', `${r.adapter.description}; ${r.date.slice(0, 10)}; Node ${r.node}${r.full ? '; --full' : ''}.`,
      `Roofline: ${r.roofline.gflops.toFixed(1)} GFLOP/s FMA peak, ${r.roofline.copyGBps.toFixed(1)} GB/s copy, ${r.roofline.readGBps.toFixed(1)} GB/s read.`, '');
    if (!charted && existsSync(join(dir, 'results', png))) unlinkSync(join(dir, 'results', png)); // stale
    if (charted) parts.push(`![matmul GFLOP/s: ours vs TF.js WebGPU vs PyTorch CPU](results/${png})`, '');
    parts.push(...peersTable(r.rows), ...modelTable(r.rows), ...tuningTable(r.tuning), ...profileSection(join(dir, 'results', `profile-${slug}.json`)));
    parts.push('### All rows', '',
      '| suite | name | sizes | median ms | min..max ms | GFLOP/s | GB/s | ratios |', '| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const x of r.rows) {
      const extra = [
        ...(x.imagesPerSec !== undefined ? [`${fmt(num(x.imagesPerSec), 3)} img/s`] : []),
        ...(x.peakBytes !== undefined ? [`peak ${(x.peakBytes / 2 ** 20).toFixed(0)} MiB`] : []),
        ...Object.entries(x.ratios).map(([k, v]) => `${k} ${fmt(num(v), 2)}`),
      ].join(', ');
      const note = x.unavailable ? `unavailable: ${x.unavailable}` : x.note ?? '';
      parts.push(`| ${x.suite} | ${x.name} | ${x.sizes} | ${fmt(num(x.medianMs))} | ${x.unavailable ? '' : `${fmt(num(x.minMs))}..${fmt(num(x.maxMs))}`} | ${x.gflops !== undefined ? fmt(num(x.gflops)) : ''} | ${x.gbps !== undefined ? fmt(num(x.gbps)) : ''} | ${extra}${note ? ` (${note.replace(/\|/g, '\\|')})` : ''} |`);
    }
  }
  const firstNode = files[0] ? JSON.parse(readFileSync(join(dir, 'results', files[0]), 'utf8')) as Result : undefined;
  for (const f of all.filter((x) => x.startsWith('web-'))) {
    parts.push(...webSection(JSON.parse(readFileSync(join(dir, 'results', f), 'utf8')) as WebResult, firstNode));
  }
  const out = join(dir, 'README.md');
  writeFileSync(out, parts.join('\n') + '\n');
  return out;
}
