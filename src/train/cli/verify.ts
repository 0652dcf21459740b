// `npm run verify` in two modes:
//   --case DIR: runs the engine on a reference case written by tools/reference/gen.py and prints,
//     layer by layer, the relative L2 error of the activations and of every gradient; exits 1
//     beyond tolerance.
//   --checkpoint FILE --image IMG --labels LABELS.png: one eval-mode forward and backward with the
//     loss 0.5·CE + 0.5·Dice; writes the loss values as JSON and every parameter's gradient under
//     its official name (float32 safetensors), for comparison with any other implementation.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CLASS_NAMES } from '../../model/config.js';
import { loadCase, runCase } from '../../model/reference_case.js';
import { segfaceForward } from '../../model/segface.js';
import { formatVerdicts, judge } from '../../model/verify_report.js';
import { readStateDict } from '../../model/weights_file.js';
import { inferConfig, loadParams } from '../../model/params.js';
import { readSegLoss, segLoss } from '../../runtime/ops/loss.js';
import { Runtime } from '../../runtime/runtime.js';
import { announceAdapter } from '../../runtime/host_gpu.js';
import { writeSafetensors, type StWrite } from '../../runtime/safetensors.js';
import { toNormalizedCHW } from '../image/index.js';
import { labelsAtRes, loadImage, readLandmarks } from './inputs.js';

const USAGE = `usage: npm run verify -- --case DIR [--all] [--stats] [--adapter INDEX|NAME]
       npm run verify -- --checkpoint FILE --image IMG --labels LABELS.png [--res N]
                         [--landmarks L.json|L.txt] [--dump-loss LOSS.json] [--dump-grads GRADS.safetensors] [--stats]
  --case DIR        a reference case (python3 tools/reference/gen.py --backbone swin_t --res 224 --out DIR)
  --all             print every gradient, not only failures
  --checkpoint      weights (.pt official release, .safetensors state dict or training checkpoint)
  --image/--labels  one image and its label map (class ids); resized to --res as the official loader does
  --res N           model input size, a multiple of 4 (default 512)
  --landmarks FILE  LaPa models: the face's 5 points (JSON [[x, y] x5] or a LaPa 106-point .txt, original
                    image pixels); the forward then warps as the official model does
  --dump-loss       write {"total","ce","dice"} of 0.5·CE + 0.5·Dice (eval mode)
  --dump-grads      write every parameter's gradient, official names, float32 (zeros where none flows)
  --stats           print time and peak GPU memory of the forward+backward`;

function fail(msg: string): never {
  console.error(`error: ${msg}\n${USAGE}`);
  process.exit(2);
}

const { values: v } = parseArgs({
  options: {
    case: { type: 'string' }, checkpoint: { type: 'string' }, image: { type: 'string' }, labels: { type: 'string' },
    res: { type: 'string', default: '512' }, landmarks: { type: 'string', multiple: true }, 'dump-loss': { type: 'string' }, 'dump-grads': { type: 'string' },
    adapter: { type: 'string' }, all: { type: 'boolean', default: false },
    stats: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false },
  },
});
if (v.help) { console.log(USAGE); process.exit(0); }
if (v.case && v.checkpoint) fail('--case and --checkpoint are two different modes; give one');
if (!v.case && !v.checkpoint) fail('give --case DIR or --checkpoint FILE');
const adapter = v.adapter === undefined ? undefined : /^\d+$/.test(v.adapter) ? Number(v.adapter) : v.adapter;

if (v.case) await verifyCase(v.case);
else await dumpGradients(v.checkpoint!);

async function verifyCase(dir: string): Promise<void> {
  const c = loadCase(dir);
  const rt = await Runtime.create(adapter === undefined ? {} : { adapter });
  announceAdapter(rt.device.adapter);
  console.log(`case ${dir}: ${c.cfg.backbone}/${c.cfg.dataset} ${c.manifest.res} px, batch ${c.manifest.batch} (reference torch ${c.manifest.torch}); adapter ${rt.device.name}`);
  rt.pool.resetPeak();
  const t0 = performance.now();
  const result = await runCase(rt, c);
  const ms = performance.now() - t0;
  const verdicts = judge(result);
  console.log(formatVerdicts(verdicts, v.all));
  const ref = c.manifest.loss;
  console.log(`loss: ours ${result.loss.total.toFixed(7)} (ce ${result.loss.ce.toFixed(7)}, dice ${result.loss.dice.toFixed(7)}); ` +
    `reference ${ref.total.toFixed(7)} (ce ${ref.ce.toFixed(7)}, dice ${ref.dice.toFixed(7)})`);
  if (result.argmaxAgreement !== undefined) console.log(`argmax agreement of the logits: ${(result.argmaxAgreement * 100).toFixed(4)} %`);
  if (v.stats) console.log(`forward+backward+readback: ${(ms / 1000).toFixed(2)} s; peak GPU memory ${(rt.memory().bytesPeak / 2 ** 20).toFixed(1)} MiB`);
  const failed = verdicts.filter((x) => !x.ok);
  rt.destroy();
  if (failed.length) { console.error(`verify: ${failed.length} comparisons beyond tolerance`); process.exit(1); }
  console.log('verify: all comparisons within tolerance');
}

async function dumpGradients(checkpoint: string): Promise<void> {
  if (!v.image) fail('--image is required with --checkpoint');
  if (!v.labels) fail('--labels is required with --checkpoint');
  if (!v['dump-loss'] && !v['dump-grads'] && !v.stats) fail('nothing to do: give --dump-loss, --dump-grads or --stats');
  const res = Number(v.res);
  if (!Number.isInteger(res) || res < 4 || res % 4 !== 0) fail(`--res ${v.res}: expected a positive multiple of 4`);
  // Everything that can be wrong with the files is found before any GPU work.
  const { state, cfg, rgb, labelIds, landmarks } = (() => {
    try {
      const st = readStateDict(checkpoint);
      const c = inferConfig(new Map([...st].map(([k, t]) => [k, t.shape])), checkpoint);
      const img = loadImage(v.image!, res);
      const marks = v.landmarks?.length ? readLandmarks(v.landmarks, [img], res) : undefined;
      if (marks && c.dataset !== 'lapa') throw new Error(`--landmarks: only LaPa models warp; ${checkpoint} holds a ${c.dataset} model`);
      return { state: st, cfg: c, rgb: img.rgb, labelIds: labelsAtRes(v.labels!, res, CLASS_NAMES[c.dataset].length), landmarks: marks };
    } catch (e) {
      fail((e as Error).message);
    }
  })();

  const rt = await Runtime.create(adapter === undefined ? {} : { adapter });
  announceAdapter(rt.device.adapter);
  console.log(`${checkpoint}: ${cfg.backbone}/${cfg.dataset}; ${v.image} at ${res} px; adapter ${rt.device.name}`);
  const params = loadParams(rt, cfg, state, checkpoint);
  rt.pool.resetPeak();
  const t0 = performance.now();
  const loss = rt.scope(() => {
    const image = rt.tensor(toNormalizedCHW(rgb, res, res), [1, 3, res, res]);
    const labels = rt.tensor(Int32Array.from(labelIds), [1, res, res], 'i32');
    const l = segLoss(segfaceForward(params, image, { landmarks }), labels);
    rt.backward(l.total);
    return l;
  });
  const numbers = await readSegLoss(loss);
  for (const t of [loss.total, loss.ce, loss.dice, loss.badLabels]) t.release();
  const grads = new Map<string, StWrite>();
  const noGrad: string[] = [];
  for (const [name, t] of params.tensors) {
    if (!t.requiresGrad) continue;   // buffers (relative position indices, coordinate tables)
    if (!t.grad) noGrad.push(name);
    grads.set(name, { shape: t.shape, data: t.grad ? (await t.grad.read()) as Float32Array : new Float32Array(t.size) });
  }
  const seconds = (performance.now() - t0) / 1000;
  const values = { total: numbers.total, ce: numbers.ce, dice: numbers.dice };
  console.log(`loss ${values.total.toFixed(7)} (ce ${values.ce.toFixed(7)}, dice ${values.dice.toFixed(7)})`);
  if (v['dump-loss']) {
    writeFileSync(v['dump-loss'], JSON.stringify(values, null, 2) + '\n');
    console.log(`loss: ${v['dump-loss']}`);
  }
  if (v['dump-grads']) {
    writeSafetensors(v['dump-grads'], grads, { no_grad: JSON.stringify(noGrad) });
    console.log(`${grads.size} gradients (${noGrad.length} without one, written as zeros): ${v['dump-grads']}`);
  }
  if (v.stats) console.log(`forward+backward+readback: ${seconds.toFixed(2)} s; peak GPU memory ${(rt.memory().bytesPeak / 2 ** 20).toFixed(1)} MiB`);
  params.release();
  rt.destroy();
}
