// Predict in the page: checkpoint + images (+ LaPa landmarks) from Files or URLs to logits, class
// maps and overlays. The same engine pieces as `segface predict`: the lazy checkpoint reader, the
// libjpeg-turbo decoder, Pillow-exact bicubic resizing, and the forward with its argmax on the GPU.
import { CLASS_NAMES } from '../src/model/config.js';
import { inferConfig, loadParams } from '../src/model/params.js';
import { predict as predictClasses } from '../src/model/classes.js';
import { readStateDictFrom } from '../src/model/weights_file.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { landmarksAtResolution, parseLandmarkSets } from '../src/train/data/landmarks.js';
import { decodeImage, maskToColor, overlay, PALETTES, resizeBicubicPIL, toNormalizedCHW, withLegend, type Rgb, type RgbImage } from '../src/train/image/index.js';

/** A file the user dropped, or a URL. */
export type Input = File | string;

export const inputName = (i: Input): string => (typeof i === 'string' ? i : i.name);

async function bytesOf(i: Input): Promise<Uint8Array> {
  if (typeof i !== 'string') return new Uint8Array(await i.arrayBuffer());
  let res: Response;
  try { res = await fetch(i); } catch (e) { throw new Error(`${i}: cannot fetch (${(e as Error).message})`); }
  if (!res.ok) throw new Error(`${i}: HTTP ${res.status} ${res.statusText}`.trimEnd());
  return new Uint8Array(await res.arrayBuffer());
}

export interface PredictRequest { checkpoint: Input; images: Input[]; res: number; landmarks?: Input }

export interface PredictResult {
  adapter: string;
  /** [B, K, H, W]. */
  shape: number[];
  logits: Float32Array;
  classes: Uint8Array;
  /** Per image: the overlay with a legend, and the mask in class colours (res × res). */
  overlays: RgbImage[];
  masks: RgbImage[];
  names: string[];
  palette: readonly Rgb[];
  timings: { loadMs: number; decodeMs: number; forwardMs: number };
}

export async function predict(rt: Runtime, req: PredictRequest): Promise<PredictResult> {
  const { res } = req;
  if (!Number.isInteger(res) || res < 4 || res % 4 !== 0) throw new Error(`res ${res}: expected a positive multiple of 4`);
  const t0 = performance.now();
  const name = inputName(req.checkpoint);
  // A URL string is resolved against the page (relative links work); the name stays as given.
  const state = await readStateDictFrom(typeof req.checkpoint === 'string' ? new URL(req.checkpoint, location.href) : req.checkpoint, name);
  const cfg = inferConfig(new Map([...state].map(([k, t]) => [k, t.shape])), name);
  const t1 = performance.now();
  const images = await Promise.all(req.images.map(async (i) => {
    const img = decodeImage(await bytesOf(i), inputName(i));
    return { img, rgb: img.width === res && img.height === res ? img.rgb : resizeBicubicPIL(img.rgb, img.width, img.height, res, res) };
  }));
  const landmarks = req.landmarks === undefined ? undefined : await landmarksAtRes(req.landmarks, images.map((i) => i.img), res);
  if (landmarks && cfg.dataset !== 'lapa') throw new Error(`${inputName(req.landmarks!)}: only LaPa models warp; ${name} holds a ${cfg.dataset} model`);
  const t2 = performance.now();
  const params = loadParams(rt, cfg, state, name);
  const px = res * res;
  const batch = new Float32Array(images.length * 3 * px);
  images.forEach((im, b) => batch.set(toNormalizedCHW(im.rgb, res, res), b * 3 * px));
  const t3 = performance.now();
  const shape = [images.length, CLASS_NAMES[cfg.dataset].length, res, res];
  // the one forward-to-classes path (segface predict's): forward and argmax on the GPU, one readback
  const maps = await predictClasses(params, batch, [images.length, 3, res, res], { landmarks, keepLogits: true });
  const t4 = performance.now();
  params.release();
  const { classes } = maps;
  const logits = maps.logits!;
  const names = CLASS_NAMES[cfg.dataset];
  const palette = PALETTES[cfg.dataset];
  const overlays: RgbImage[] = [];
  const masks: RgbImage[] = [];
  images.forEach((im, b) => {
    const mask = classes.subarray(b * px, (b + 1) * px);
    overlays.push(withLegend(overlay(im.rgb, mask, 0.55, palette), res, res, names, palette));
    masks.push({ width: res, height: res, rgb: maskToColor(mask, palette) });
  });
  return {
    adapter: rt.device.name, shape, logits, classes, overlays, masks, names, palette,
    timings: { loadMs: t1 - t0, decodeMs: t2 - t1, forwardMs: t4 - t3 },
  };
}

/** (B, 5, 2) points at the model resolution: a JSON [[x, y] ×5] per image (or one array of them) or a LaPa .txt. */
async function landmarksAtRes(input: Input, imgs: RgbImage[], res: number): Promise<Float32Array> {
  const file = inputName(input);
  const text = new TextDecoder().decode(await bytesOf(input));
  const sets = parseLandmarkSets(text, file, imgs.length === 1);
  if (sets.length !== imgs.length) throw new Error(`${file}: ${sets.length} landmark sets for ${imgs.length} images`);
  return landmarksAtResolution(sets, imgs, res);
}
