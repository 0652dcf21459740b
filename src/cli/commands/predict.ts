// `segface predict --checkpoint FILE --image A.jpg [--image B.png ...]`: per image a class-index
// mask PNG and a colour overlay PNG with a legend of class names. An image already at the model
// resolution is used pixel for pixel; others are resized with PIL's bicubic filter, as the
// official pre-processing does. LaPa models warp each face onto the 5-point template when
// --landmarks are given (src/model/warp.ts), as the official model always does; without them they
// run unwarped. The GPU turns logits into class ids; only B·H·W bytes come back (--dump-logits
// also reads the float logits).
import { mkdirSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { ADAPTER_FLAG, NO_TUNE_FLAG, PRECISION_FLAG, type Command } from '../args.js';
import { loadImage, readLandmarks } from '../inputs.js';
import { CLASS_NAMES, type Dataset } from '../../model/config.js';
import { segfaceClasses } from '../../model/classes.js';
import { inferConfig, loadParams } from '../../model/params.js';
import { readStateDict } from '../../model/weights_file.js';
import { openRuntime } from '../runtime.js';
import { writeNpy } from '../../runtime/formats/npy.js';
import { overlay, PALETTES, toNormalizedCHW, withLegend, writePng } from '../../train/image/index.js';

export const command: Command = {
  name: 'predict',
  summary: 'class masks and overlays of images (PNG), optionally the logits (.npy)',
  usage: ['--checkpoint FILE --image A.jpg [--image B.png ...] [options]'],
  flags: {
    checkpoint: { type: 'string', value: 'FILE', exists: 'file', help: 'weights: official .pt release, .safetensors state dict or training checkpoint' },
    image: { type: 'string', value: 'FILE', multiple: true, exists: 'file', help: 'an image (PNG or JPEG)' },
    dataset: { type: 'string', choices: ['celeb', 'lapa', 'helen'], help: 'class names and colours (default from the class count: 19 -> celeb, 11 -> lapa)' },
    res: { type: 'int', min: 4, default: 512, help: 'model input size, a multiple of 4' },
    out: { type: 'string', value: 'DIR', default: 'predictions', help: 'output folder' },
    'dump-logits': { type: 'string', value: 'FILE.npy', help: 'also write the (B, K, res, res) float32 logits' },
    landmarks: {
      type: 'string', value: 'FILE', multiple: true, exists: 'file',
      help: 'LaPa models: warp each face onto the 5-point template as the official model does\n' +
        '(without it a LaPa model runs unwarped). Points in the ORIGINAL image\'s pixels, (x, y):\n' +
        'left eye centre, right eye centre, nose tip, left mouth corner, right mouth corner (image\n' +
        'left first). ONE file for all images (a JSON array with one [[x,y] x5] per --image, a bare\n' +
        '[[x,y] x5] for a single image), or one file per --image (JSON, or a LaPa 106-point .txt)',
    },
    stats: { type: 'boolean', help: 'print the forward time and peak GPU memory' },
    precision: PRECISION_FLAG,
    adapter: ADAPTER_FLAG,
    'no-tune': NO_TUNE_FLAG,
  },
  async run(args) {
    const checkpoint = args.need<string>('checkpoint');
    const paths = args.list('image');
    if (paths.length === 0) args.fail('at least one --image is required');
    const res = args.int('res')!;
    if (res % 4 !== 0) args.fail(`--res ${res}: expected a positive multiple of 4`);
    // Every file is read and checked before the GPU opens.
    const images = paths.map((path) => loadImage(path, res));
    const landmarks = args.list('landmarks').length ? readLandmarks(args.list('landmarks'), images, res) : undefined;
    const state = readStateDict(checkpoint);
    const cfg = inferConfig(new Map([...state].map(([k, t]) => [k, t.shape])), checkpoint);
    const dataset: Dataset = (args.str('dataset') as Dataset | undefined) ?? cfg.dataset;
    const names = CLASS_NAMES[dataset];
    if (names.length !== CLASS_NAMES[cfg.dataset].length) args.fail(`--dataset ${dataset} has ${names.length} classes, the checkpoint ${CLASS_NAMES[cfg.dataset].length}`);
    if (landmarks && cfg.dataset !== 'lapa') args.fail(`--landmarks: only LaPa models warp; ${checkpoint} holds a ${cfg.dataset} model`);
    const out = args.str('out')!;
    mkdirSync(out, { recursive: true });

    const rt = await openRuntime(args);
    const params = loadParams(rt, cfg, state, checkpoint);
    if (!landmarks && cfg.dataset === 'lapa') console.error('note: LaPa model without --landmarks: running unwarped (the official model warps each face onto its 5-point template)');
    const palette = PALETTES[dataset];
    const px = res * res;
    const batch = new Float32Array(images.length * 3 * px);
    images.forEach((im, b) => batch.set(toNormalizedCHW(im.rgb, res, res), b * 3 * px));
    rt.pool.resetPeak();
    const t0 = performance.now();
    const dump = args.str('dump-logits');
    const input = rt.tensor(batch, [images.length, 3, res, res]);
    const { classes: pred, logits } = await segfaceClasses(params, input, { landmarks, keepLogits: dump !== undefined, precision: args.precision() });
    input.release();
    const seconds = (performance.now() - t0) / 1000;
    images.forEach((im, b) => {
      const stem = basename(im.path, extname(im.path));
      const mask = pred.subarray(b * px, (b + 1) * px);
      writePng(join(out, `${stem}_mask.png`), { width: res, height: res, gray: mask });
      writePng(join(out, `${stem}_overlay.png`), withLegend(overlay(im.rgb, mask, 0.55, palette), res, res, names, palette));
      console.log(`${im.path}: ${join(out, `${stem}_mask.png`)}, ${join(out, `${stem}_overlay.png`)}`);
    });
    if (dump !== undefined && logits) {
      writeNpy(dump, logits, [images.length, names.length, res, res]);
      console.log(`logits (${images.length}, ${names.length}, ${res}, ${res}) float32: ${dump}`);
    }
    if (args.bool('stats')) console.log(`forward of ${images.length} image(s) at ${res} px: ${seconds.toFixed(2)} s; peak GPU memory ${(rt.memory().bytesPeak / 2 ** 20).toFixed(1)} MiB`);
    params.release();
    rt.destroy();
  },
};
