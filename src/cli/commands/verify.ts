// `segface verify` in two modes:
//   --case DIR: runs the engine on a reference case written by tools/reference/gen.py and prints,
//     layer by layer, the relative L2 error of the activations and of every gradient; exits 1
//     beyond tolerance.
//   --checkpoint FILE --image IMG --labels LABELS.png: one eval-mode forward and backward with the
//     loss 0.5·CE + 0.5·Dice; writes the loss values as JSON and every parameter's gradient under
//     its official name (float32 safetensors), for comparison with any other implementation.
import { writeFileSync } from 'node:fs';
import { ADAPTER_FLAG, NO_TUNE_FLAG, type Args, type Command } from '../args.js';
import { labelsAtRes, loadImage, readLandmarks } from '../inputs.js';
import { CLASS_NAMES, type Dataset } from '../../model/config.js';
import { loadCase, runCase } from '../../model/reference_case.js';
import { segfaceForward } from '../../model/segface.js';
import { formatVerdicts, judge } from '../../model/verify_report.js';
import { readStateDict } from '../../model/weights_file.js';
import { inferConfig, loadParams } from '../../model/params.js';
import { readSegLoss, segLoss } from '../../runtime/ops/loss.js';
import { openRuntime } from '../runtime.js';
import { writeSafetensors, type StWrite } from '../../runtime/formats/safetensors.js';
import { toNormalizedCHW } from '../../train/image/index.js';

export const command: Command = {
  name: 'verify',
  summary: 'checks the engine against a PyTorch reference case, or dumps one image\'s loss and gradients',
  usage: [
    '--case DIR [--all] [--stats]',
    '--checkpoint FILE --image IMG --labels LABELS.png [--dataset NAME] [--res N] [--landmarks FILE]\n' +
    '                      [--dump-loss LOSS.json] [--dump-grads GRADS.safetensors] [--stats]',
  ],
  flags: {
    case: { type: 'string', value: 'DIR', exists: 'dir', help: 'a reference case (python3 tools/reference/gen.py --backbone swin_t --res 224 --out DIR)' },
    all: { type: 'boolean', help: 'print every gradient, not only failures' },
    checkpoint: { type: 'string', value: 'FILE', exists: 'file', help: 'weights (.pt official release, .safetensors state dict or training checkpoint)' },
    image: { type: 'string', value: 'IMG', exists: 'file', help: 'one image; resized to --res as the official loader does' },
    labels: { type: 'string', value: 'PNG', exists: 'file', help: 'its label map (class ids), resized with nearest neighbour' },
    dataset: { type: 'string', choices: ['celeb', 'lapa', 'helen'], help: 'label set of --labels (default from the checkpoint\'s class count: 19 -> celeb, 11 -> lapa)' },
    res: { type: 'int', min: 4, default: 512, help: 'model input size, a multiple of 4' },
    landmarks: { type: 'string', value: 'FILE', multiple: true, exists: 'file', help: 'LaPa models: the face\'s 5 points (JSON [[x, y] x5] or a LaPa 106-point .txt,\noriginal image pixels); the forward then warps as the official model does' },
    'dump-loss': { type: 'string', value: 'FILE', help: 'write {"total","ce","dice"} of 0.5·CE + 0.5·Dice (eval mode)' },
    'dump-grads': { type: 'string', value: 'FILE', help: 'write every parameter\'s gradient, official names, float32 (zeros where none flows)' },
    stats: { type: 'boolean', help: 'print time and peak GPU memory of the forward+backward' },
    adapter: ADAPTER_FLAG,
    'no-tune': NO_TUNE_FLAG,
  },
  async run(args) {
    const dir = args.str('case');
    const checkpoint = args.str('checkpoint');
    if (dir && checkpoint) args.fail('--case and --checkpoint are two different modes; give one');
    if (!dir && !checkpoint) args.fail('give --case DIR or --checkpoint FILE');
    return dir ? verifyCase(args, dir) : dumpGradients(args, checkpoint!);
  },
};

async function verifyCase(args: Args, dir: string): Promise<number> {
  const c = loadCase(dir);
  const rt = await openRuntime(args);
  console.log(`case ${dir}: ${c.cfg.backbone}/${c.cfg.dataset} ${c.manifest.res} px, batch ${c.manifest.batch} (reference torch ${c.manifest.torch}); adapter ${rt.device.name}`);
  rt.pool.resetPeak();
  const t0 = performance.now();
  const result = await runCase(rt, c);
  const ms = performance.now() - t0;
  const verdicts = judge(result);
  console.log(formatVerdicts(verdicts, args.bool('all')));
  const ref = c.manifest.loss;
  console.log(`loss: ours ${result.loss.total.toFixed(7)} (ce ${result.loss.ce.toFixed(7)}, dice ${result.loss.dice.toFixed(7)}); ` +
    `reference ${ref.total.toFixed(7)} (ce ${ref.ce.toFixed(7)}, dice ${ref.dice.toFixed(7)})`);
  if (result.argmaxAgreement !== undefined) console.log(`argmax agreement of the logits: ${(result.argmaxAgreement * 100).toFixed(4)} %`);
  if (args.bool('stats')) console.log(`forward+backward+readback: ${(ms / 1000).toFixed(2)} s; peak GPU memory ${(rt.memory().bytesPeak / 2 ** 20).toFixed(1)} MiB`);
  const failed = verdicts.filter((x) => !x.ok);
  rt.destroy();
  if (failed.length) {
    console.error(`verify: ${failed.length} comparisons beyond tolerance`);
    return 1;
  }
  console.log('verify: all comparisons within tolerance');
  return 0;
}

async function dumpGradients(args: Args, checkpoint: string): Promise<number> {
  const image = args.need<string>('image');
  const labels = args.need<string>('labels');
  if (!args.str('dump-loss') && !args.str('dump-grads') && !args.bool('stats')) args.fail('nothing to do: give --dump-loss, --dump-grads or --stats');
  const res = args.int('res')!;
  if (res % 4 !== 0) args.fail(`--res ${res}: expected a positive multiple of 4`);
  // Everything that can be wrong with the files is found before any GPU work.
  const state = readStateDict(checkpoint);
  const cfg = inferConfig(new Map([...state].map(([k, t]) => [k, t.shape])), checkpoint);
  const dataset = (args.str('dataset') as Dataset | undefined) ?? cfg.dataset;
  const classes = CLASS_NAMES[dataset].length;
  if (classes !== CLASS_NAMES[cfg.dataset].length) args.fail(`--dataset ${dataset} has ${classes} classes, the checkpoint ${CLASS_NAMES[cfg.dataset].length}`);
  const img = loadImage(image, res);
  const landmarks = args.list('landmarks').length ? readLandmarks(args.list('landmarks'), [img], res) : undefined;
  if (landmarks && cfg.dataset !== 'lapa') args.fail(`--landmarks: only LaPa models warp; ${checkpoint} holds a ${cfg.dataset} model`);
  const labelIds = labelsAtRes(labels, res, classes);

  const rt = await openRuntime(args);
  console.log(`${checkpoint}: ${cfg.backbone}/${cfg.dataset}; ${image} at ${res} px; adapter ${rt.device.name}`);
  const params = loadParams(rt, cfg, state, checkpoint);
  rt.pool.resetPeak();
  const t0 = performance.now();
  const loss = rt.scope(() => {
    const x = rt.tensor(toNormalizedCHW(img.rgb, res, res), [1, 3, res, res]);
    const y = rt.tensor(Int32Array.from(labelIds), [1, res, res], 'i32');
    const l = segLoss(segfaceForward(params, x, { landmarks }), y);
    rt.backward(l.total);
    return l;
  });
  const numbers = await readSegLoss(loss);
  for (const t of [loss.total, loss.ce, loss.dice, loss.badLabels]) t.release();
  // every gradient in one readback
  const trainable = [...params.tensors].filter(([, t]) => t.requiresGrad);   // not buffers (position indices, coordinate tables)
  const noGrad = trainable.filter(([, t]) => !t.grad).map(([name]) => name);
  const withGrad = trainable.filter(([, t]) => t.grad);
  const data = await rt.readMany(withGrad.map(([, t]) => t.grad!));
  const byName = new Map(withGrad.map(([name], i) => [name, data[i]!]));
  const grads = new Map<string, StWrite>(trainable.map(([name, t]) => [name, { shape: t.shape, data: (byName.get(name) as Float32Array | undefined) ?? new Float32Array(t.size) }]));
  const seconds = (performance.now() - t0) / 1000;
  const values = { total: numbers.total, ce: numbers.ce, dice: numbers.dice };
  console.log(`loss ${values.total.toFixed(7)} (ce ${values.ce.toFixed(7)}, dice ${values.dice.toFixed(7)})`);
  const dumpLoss = args.str('dump-loss');
  if (dumpLoss) {
    writeFileSync(dumpLoss, JSON.stringify(values, null, 2) + '\n');
    console.log(`loss: ${dumpLoss}`);
  }
  const dumpGrads = args.str('dump-grads');
  if (dumpGrads) {
    writeSafetensors(dumpGrads, grads, { no_grad: JSON.stringify(noGrad) });
    console.log(`${grads.size} gradients (${noGrad.length} without one, written as zeros): ${dumpGrads}`);
  }
  if (args.bool('stats')) console.log(`forward+backward+readback: ${seconds.toFixed(2)} s; peak GPU memory ${(rt.memory().bytesPeak / 2 ** 20).toFixed(1)} MiB`);
  params.release();
  rt.destroy();
  return 0;
}
