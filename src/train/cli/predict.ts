// `npm run predict -- --checkpoint FILE --image A.jpg [--image B.png ...] [--dataset celeb|lapa|helen]
//   [--res 512] [--out DIR] [--dump-logits LOGITS.npy] [--landmarks L.json|L.txt ...] [--stats]`
// Per image: a class-index mask PNG and a colour overlay PNG with a legend of class names. An image
// already at the model resolution is used pixel for pixel; others are resized with PIL's bicubic
// filter, as the official pre-processing does. LaPa models warp each face onto the 5-point
// template when --landmarks are given (src/model/warp.ts), as the official model always does;
// without them they run unwarped.
import { mkdirSync, readFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { CLASS_NAMES, type Dataset } from '../../model/config.js';
import { segfaceForward } from '../../model/segface.js';
import { lapaFivePoints } from '../../model/warp.js';
import { loadWeightsFile } from '../../model/weights_file.js';
import { Runtime } from '../../runtime/runtime.js';
import { overlay, PALETTES, readImage, resizeBicubicPIL, toNormalizedCHW, withLegend, writeNpy, writePng } from '../image/index.js';
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
const images = v.image.map((path) => {
  const img = readImage(path);
  const rgb = img.width === res && img.height === res ? img.rgb : resizeBicubicPIL(img.rgb, img.width, img.height, res, res);
  return { path, rgb, width: img.width, height: img.height };
});
const landmarks = v.landmarks?.length ? readLandmarks(v.landmarks, images, res) : undefined;

const adapter = v.adapter === undefined ? undefined : /^\d+$/.test(v.adapter) ? Number(v.adapter) : v.adapter;
const rt = await Runtime.create(adapter === undefined ? {} : { adapter });
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

/**
 * The (B, 5, 2) landmarks at the model resolution from --landmarks files (see USAGE), each point
 * scaled by (res/w, res/h) of its image as the official loader does. Errors name the file.
 */
function readLandmarks(files: string[], imgs: { path: string; width: number; height: number }[], size: number): Float32Array {
  let sets: number[][];
  if (files.length === 1) {
    sets = readLandmarkFile(files[0]!, imgs.length === 1);
    if (sets.length !== imgs.length) fail(`${files[0]}: ${sets.length} landmark sets for ${imgs.length} images (give one set of 5 points per --image, in order)`);
  } else if (files.length === imgs.length) {
    sets = files.map((f) => {
      const one = readLandmarkFile(f, true);
      if (one.length !== 1) fail(`${f}: ${one.length} landmark sets; with one --landmarks file per --image each holds the 5 points of its image`);
      return one[0]!;
    });
  } else {
    fail(`${files.length} --landmarks files for ${imgs.length} images: give one file for all images or one per --image`);
  }
  const out = new Float32Array(imgs.length * 10);
  imgs.forEach((im, b) => {
    for (let k = 0; k < 5; k++) {
      out[b * 10 + 2 * k] = (sets[b]![2 * k]! * size) / im.width;
      out[b * 10 + 2 * k + 1] = (sets[b]![2 * k + 1]! * size) / im.height;
    }
  });
  return out;
}

/** One file's landmark sets, each 10 numbers (5 (x, y) points), in original-image pixels. */
function readLandmarkFile(file: string, bareAllowed: boolean): number[][] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    fail(`--landmarks ${file}: ${(e as Error).message}`);
  }
  if (file.toLowerCase().endsWith('.txt')) {
    const nums = text.split(/\s+/).filter((t) => t.length > 0).map(Number);
    if (nums[0] !== 106 || nums.length !== 213) fail(`${file}: a LaPa landmark file holds the number 106 then 212 coordinates; found ${nums.length} numbers starting with ${nums[0]}`);
    const bad = nums.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) fail(`${file}: value ${bad} is not a number`);
    return [Array.from(lapaFivePoints(Float32Array.from(nums.slice(1))))];
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(`${file}: not JSON (${(e as Error).message}); expected [[x, y] x5] or an array of them`);
  }
  const isPoint = (p: unknown): boolean => Array.isArray(p) && p.length === 2 && p.every((x) => typeof x === 'number' && Number.isFinite(x));
  const asSet = (set: unknown, where: string): number[] => {
    if (!Array.isArray(set) || !set.every(isPoint)) fail(`${file}: ${where} must be a list of [x, y] number pairs`);
    if (set.length !== 5) fail(`${file}: ${where} has ${set.length} points, expected 5 (left eye, right eye, nose tip, left and right mouth corner)`);
    return (set as number[][]).flat();
  };
  if (!Array.isArray(json) || json.length === 0) fail(`${file}: expected a JSON array: [[x, y] x5] or an array of them`);
  if (isPoint(json[0])) {
    if (!bareAllowed) fail(`${file}: holds a single set of 5 points, but there are several images: give an array with one set per --image`);
    return [asSet(json, 'the landmark list')];
  }
  return json.map((set, i) => asSet(set, `set ${i}`));
}
