// `npm run predict -- --checkpoint FILE --image A.jpg [--image B.png ...] [--dataset celeb|lapa|helen]
//   [--res 512] [--out DIR] [--dump-logits LOGITS.npy] [--landmarks L.json|L.txt ...] [--stats]`
// Per image: a class-index mask PNG and a colour overlay PNG with a legend of class names. An image
// already at the model resolution is used pixel for pixel; others are resized with PIL's bicubic
// filter, as the official pre-processing does. LaPa models warp each face onto the 5-point
// template when --landmarks are given (src/model/warp.ts), as the official model always does;
// without them they run unwarped.
import { mkdirSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { CLASS_NAMES, type Dataset } from '../../model/config.js';
import { segfaceForward } from '../../model/segface.js';
import { loadWeightsFile } from '../../model/weights_file.js';
import { Runtime } from '../../runtime/runtime.js';
import { announceAdapter } from '../../runtime/host_gpu.js';
import { overlay, PALETTES, toNormalizedCHW, withLegend, writeNpy, writePng } from '../image/index.js';
import { loadImage, readLandmarks } from './inputs.js';
import { argmaxClasses } from '../trainer.js';

const USAGE = `usage: npm run predict -- --checkpoint FILE(.pt|.safetensors) --image A.jpg [--image B.png ...]
  [--dataset celeb|lapa|helen] [--res N] [--out DIR] [--dump-logits LOGITS.npy] [--landmarks FILE ...]
  [--stats] [--adapter I|NAME]
  --dataset   class names and colours (default from the class count: 19 -> celeb, 11 -> lapa)
  --res       model input size, a multiple of 4 (default 512)
  --out       output folder (default predictions/)
  --landmarks LaPa models: warp each face onto the 5-point template as the official model does
              (without it a LaPa model runs unwarped). Points in the ORIGINAL image's pixels,
              (x, y), in this order: left eye centre, right eye centre, nose tip, left mouth
              corner, right mouth corner (image left first). Either ONE file for all images, a
              JSON array with one [[x,y] x5] entry per --image in order (a bare [[x,y] x5] for a
              single image), or one file per --image in order, each a JSON [[x,y] x5] or a LaPa
              landmark .txt (106, then 106 x y pairs)`;

function fail(msg: string): never {
  console.error(`error: ${msg}\n${USAGE}`);
  process.exit(2);
}

const { values: v } = parseArgs({
  options: {
    checkpoint: { type: 'string' }, image: { type: 'string', multiple: true }, dataset: { type: 'string' },
    res: { type: 'string', default: '512' }, out: { type: 'string', default: 'predictions' }, 'dump-logits': { type: 'string' },
    landmarks: { type: 'string', multiple: true }, stats: { type: 'boolean', default: false }, adapter: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false },
  },
});
if (v.help) { console.log(USAGE); process.exit(0); }
if (!v.checkpoint) fail('--checkpoint is required');
if (!v.image?.length) fail('at least one --image is required');
const res = Number(v.res);
if (!Number.isInteger(res) || res < 4 || res % 4 !== 0) fail(`--res ${v.res}: expected a positive multiple of 4`);
if (v.dataset !== undefined && !['celeb', 'lapa', 'helen'].includes(v.dataset)) fail(`--dataset ${v.dataset}: expected celeb, lapa or helen`);

// Decode every image and landmark file first, so a bad file fails before any GPU work.
const { images, landmarks } = (() => {
  try {
    const imgs = v.image.map((path) => loadImage(path, res));
    return { images: imgs, landmarks: v.landmarks?.length ? readLandmarks(v.landmarks, imgs, res) : undefined };
  } catch (e) {
    fail((e as Error).message);
  }
})();

const adapter = v.adapter === undefined ? undefined : /^\d+$/.test(v.adapter) ? Number(v.adapter) : v.adapter;
const rt = await Runtime.create(adapter === undefined ? {} : { adapter });
announceAdapter(rt.device.adapter);
const { params, cfg } = loadWeightsFile(rt, v.checkpoint);
const dataset: Dataset = (v.dataset as Dataset | undefined) ?? cfg.dataset;
const names = CLASS_NAMES[dataset];
if (names.length !== CLASS_NAMES[cfg.dataset].length) fail(`--dataset ${dataset} has ${names.length} classes, the checkpoint ${CLASS_NAMES[cfg.dataset].length}`);
if (landmarks && cfg.dataset !== 'lapa') fail(`--landmarks: only LaPa models warp; ${v.checkpoint} holds a ${cfg.dataset} model`);
if (!landmarks && cfg.dataset === 'lapa') console.error('note: LaPa model without --landmarks: running unwarped (the official model warps each face onto its 5-point template)');
const palette = PALETTES[dataset];
mkdirSync(v.out!, { recursive: true });

const px = res * res;
const batch = new Float32Array(images.length * 3 * px);
images.forEach((im, b) => batch.set(toNormalizedCHW(im.rgb, res, res), b * 3 * px));
rt.pool.resetPeak();
const t0 = performance.now();
const logits = rt.withoutGrad(() => rt.scope(() => segfaceForward(params, rt.tensor(batch, [images.length, 3, res, res]), { landmarks })));
const data = (await logits.read()) as Float32Array;
const seconds = (performance.now() - t0) / 1000;
const K = logits.shape[1]!;
const pred = argmaxClasses(data, images.length, K, px);
images.forEach((im, b) => {
  const stem = basename(im.path, extname(im.path));
  const mask = pred.subarray(b * px, (b + 1) * px);
  writePng(join(v.out!, `${stem}_mask.png`), { width: res, height: res, gray: mask });
  writePng(join(v.out!, `${stem}_overlay.png`), withLegend(overlay(im.rgb, mask, 0.55, palette), res, res, names, palette));
  console.log(`${im.path}: ${join(v.out!, `${stem}_mask.png`)}, ${join(v.out!, `${stem}_overlay.png`)}`);
});
if (v['dump-logits']) {
  writeNpy(v['dump-logits'], data, [images.length, K, res, res]);
  console.log(`logits (${images.length}, ${K}, ${res}, ${res}) float32: ${v['dump-logits']}`);
}
if (v.stats) console.log(`forward of ${images.length} image(s) at ${res} px: ${seconds.toFixed(2)} s; peak GPU memory ${(rt.memory().bytesPeak / 2 ** 20).toFixed(1)} MiB`);
logits.release();
params.release();
rt.destroy();
