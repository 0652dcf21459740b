// One training step of the default recipe, engine against PyTorch float64 (tools/reference/
// train_ref.py train), at the start of a run or after N steps of it:
//   npx tsx tools/reference/compare_step.ts [--after N] [--seed 1] [--res 64] [--batch 4]
// The engine runs the real training path (Trainer, the flat AdamW with clipping, the preset's
// warm-up + cosine schedule, the run's synthetic samples and order, stochastic depth off as in the
// default recipe) for N steps, then its step N is compared:
// - the loss, against PyTorch float64 and float32 at the same weights and batch;
// - every parameter's gradient: RMS error against float64 relative to the gradient's RMS, next to
//   PyTorch float32's own (rounding32); the 12 worst ratios first. A tensor whose exact gradient is
//   zero (an invariance: the softmax ignores a shift shared by every logit) shows relative errors
//   of 1e8 and more on both sides: pure rounding;
// - the optimizer update the engine applied, against torch.optim.AdamW's formula in float64 on the
//   engine's own state (weights, moments, step counts, gradients, clip scale from their norm, lr).
// With N > 0 this checks the maths where training actually is (peaky softmaxes, moments built up,
// clipping active), not only at the initialisation.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeConfig } from '../../src/model/config.js';
import { syntheticParams } from '../../src/model/params.js';
import { readSafetensors, readSafetensorsMetadata, writeSafetensors } from '../../src/runtime/formats/safetensors.js';
import { AdamW } from '../../src/runtime/ops/adamw.js';
import { adamwRefStep, type AdamWRefState } from '../../src/runtime/reference/adamw.js';
import { Runtime } from '../../src/runtime/runtime.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { epochBatches, makeBatch } from '../../src/train/data/dataset.js';
import { SyntheticDataset } from '../../src/train/data/synthetic_dataset.js';
import { PRESETS } from '../../src/train/presets.js';
import { scheduleFor } from '../../src/train/schedule.js';
import { Trainer } from '../../src/train/trainer.js';

const D = PRESETS.default!;
const S = D.synthetic;
const { values: v } = parseArgs({
  options: { after: { type: 'string', default: '0' }, res: { type: 'string', default: String(D.res) }, batch: { type: 'string', default: String(D.batch) }, seed: { type: 'string', default: '1' } },
});
const AFTER = Number(v.after), RES = Number(v.res), B = Number(v.batch), SEED = Number(v.seed);
const dir = mkdtempSync(join(tmpdir(), 'compare-step-'));

// ---- the engine: N steps of the run, then step N with its gradients and state captured ----------
const rt = await Runtime.create();
const cfg = makeConfig(D.model, 'celeb');
cfg.stochasticDepth = S.dropPath ?? 0;
const params = syntheticParams(rt, cfg, SEED);
const optim = new AdamW(params.params(), { lr: S.lr, weightDecay: D.weightDecay, maxGradNorm: S.clipGrad });
const data = new SyntheticDataset('train', D.trainSize, RES, 'celeb', SEED);
const perEpoch = Math.floor(data.length / B);
const schedule = scheduleFor({ ...D, ...S }, perEpoch);
const trainer = new Trainer(rt, params, optim, schedule, SEED, true);
const epochOf = (s: number): number => Math.floor(s / perEpoch);
const batchAt = (s: number): ReturnType<typeof makeBatch> => makeBatch(data, epochBatches(data.length, B, SEED, epochOf(s))[s % perEpoch]!);
for (let s = 0; s < AFTER; s++) await trainer.step(batchAt(s), RES, epochOf(s), s);

const read64 = (ts: readonly Tensor[]): Promise<Float64Array[]> => Promise.all(ts.map(async (t) => Float64Array.from(await t.read())));
const trained = params.params();
const before = { p: await read64(trained), m: await read64(optim.expAvg), v: await read64(optim.expAvgSq), steps: [...optim.steps] };
let grads: Promise<(Float64Array | null)[]> | undefined;
const step = optim.step.bind(optim);
optim.step = (o) => {   // the gradients AdamW is about to use
  const copies = trained.map((p) => (p.grad ? rt.untracked(() => rt.copy(p.grad!)) : null));
  grads = Promise.all(copies.map(async (c) => { if (!c) return null; const d = Float64Array.from(await c.read()); c.release(); return d; }));
  return step(o);
};
const batch = batchAt(AFTER);
const result = await trainer.step(batch, RES, epochOf(AFTER), AFTER);
const g = await grads!;
const after = await read64(trained);
const lr = schedule.lrAt(epochOf(AFTER), AFTER);

// ---- PyTorch float64 (and float32) at the same weights and batch ---------------------------------
const start: Record<string, { shape: number[]; data: Float32Array }> = {};
trained.forEach((p, i) => { start[`param.${p.name}`] = { shape: [...p.shape], data: Float32Array.from(before.p[i]!) }; });
writeSafetensors(join(dir, 'in.safetensors'), { images: { shape: [1, B, 3, RES, RES], data: batch.images }, labels: { shape: [1, B, RES, RES], data: batch.labels }, ...start });
execFileSync('/usr/bin/python3', [join(import.meta.dirname, 'train_ref.py'), 'train', '--inputs', join(dir, 'in.safetensors'), '--out', join(dir, 'out.safetensors'), '--config',
  JSON.stringify({ backbone: D.model, dataset: 'celeb', seed: SEED, lr: 1e-4, weight_decay: D.weightDecay, milestones: [], gamma: 0.1 })], { stdio: ['ignore', 'inherit', 'ignore'] });
const ref = readSafetensors(join(dir, 'out.safetensors'));
const meta = readSafetensorsMetadata(join(dir, 'out.safetensors'));
const rounding32 = JSON.parse(meta.rounding32!) as Record<string, number[]>;
console.log(`${D.model} at ${RES} px, batch ${B}, seed ${SEED}, step ${AFTER} (lr ${lr.toExponential(4)}); loss [total, ce, dice]: engine ${JSON.stringify([result.total, result.ce, result.dice])}, ` +
  `PyTorch float64 ${meta.losses}, float32 ${meta.losses32}`);

// ---- gradients ----------------------------------------------------------------------------------
const rows: [number, string, number][] = [];
for (const [i, p] of trained.entries()) {
  const g64 = ref.get(`step0.grad.${p.name}`)?.data;
  const ours = g[i];
  if (!g64 || !ours) { console.log(`${p.name}: no gradient (engine ${ours ? 'has one' : 'none'}, PyTorch ${g64 ? 'has one' : 'none'})`); continue; }
  let err = 0, norm = 0, dot = 0, sq = 0;
  for (let j = 0; j < ours.length; j++) { err += (ours[j]! - g64[j]!) ** 2; norm += g64[j]! ** 2; dot += ours[j]! * g64[j]!; sq += ours[j]! ** 2; }
  const rel = Math.sqrt(err / norm), torchRel = rounding32[p.name!]![0]! / Math.sqrt(norm / ours.length);
  const cosine = dot / Math.sqrt(norm * sq);
  rows.push([rel / torchRel, `${p.name}: ours ${rel.toExponential(2)}, PyTorch float32 ${torchRel.toExponential(2)}, cosine to float64 ${cosine.toFixed(7)}`, cosine]);
}
rows.sort((a, b) => b[0] - a[0]);
console.log('relative gradient error (RMS error / RMS gradient), worst ratio ours / PyTorch float32 first:');
for (const [r, line] of rows.slice(0, 12)) console.log(`${r.toFixed(2)}×  ${line}`);
const apart = rows.filter(([, , c]) => !(c >= 0.999999));
const rest = rows.filter(([, , c]) => c >= 0.999999);
console.log(`${rows.length} tensors: cosine to float64 >= 0.999999 on ${rest.length}, worst ratio among them ${Math.max(...rest.map(([r]) => r)).toFixed(2)}×; ` +
  `below: ${apart.map(([, l]) => l.split(':')[0]).join(', ') || 'none'}`);

// ---- the update: torch.optim.AdamW (+ clip_grad_norm_) in float64 on the engine's own state ------
const host: AdamWRefState = { p: before.p.map((x) => Float64Array.from(x)), m: before.m, v: before.v, step: [...before.steps] };
const [beta1, beta2] = optim.betas;
const stats = adamwRefStep(host, g, { lr, beta1, beta2, eps: optim.eps, weightDecay: optim.weightDecay, maxNorm: S.clipGrad });
let err = 0, norm = 0, worst = 0, worstAt = '';
trained.forEach((p, i) => {
  if (!g[i]) return;   // no gradient: torch leaves the parameter alone, and so does the engine
  for (let j = 0; j < after[i]!.length; j++) {
    const want = host.p[i]![j]!;
    err += (after[i]![j]! - want) ** 2;
    norm += (want - before.p[i]![j]!) ** 2;
    if (Math.abs(after[i]![j]! - want) > worst) { worst = Math.abs(after[i]![j]! - want); worstAt = `${p.name}[${j}]`; }
  }
});
console.log(`update against float64 AdamW on the engine's state (gradient norm ${stats.norm.toPrecision(6)}, clip scale ${stats.scale.toPrecision(6)}): ` +
  `relative RMS ${Math.sqrt(err / norm).toExponential(2)}, worst |Δ| ${worst.toExponential(2)} at ${worstAt} (float32 weights near 1 round by 6e-8)`);
rt.destroy();
process.exit(0);
