// Visualising label maps for `npm run predict`: a fixed colour per class, colour masks, masks
// blended over the photo, and a legend panel (swatch + class name per row) drawn with the built-in
// 5×7 font. Background is black in masks and left untouched (transparent) in overlays.
import { CLASS_NAMES, type Dataset } from '../../model/config.js';
import type { RgbImage } from './decode.js';
import { drawText, fillRect, GLYPH_H, textWidth } from './font.js';

export type Rgb = readonly [number, number, number];

/**
 * Colours by class name (both the CelebAMask-HQ and the LaPa/Helen spellings). Left/right pairs
 * share a hue in two shades; lips are reds, eyes blues, brows greens.
 */
const CLASS_COLORS: Record<string, Rgb> = {
  background: [0, 0, 0],
  skin: [255, 160, 110], face: [255, 160, 110],
  neck: [190, 100, 30],
  cloth: [30, 110, 220],
  l_ear: [255, 235, 60], r_ear: [200, 190, 0],
  l_brow: [0, 150, 110], left_brow: [0, 150, 110], r_brow: [100, 220, 160], right_brow: [100, 220, 160],
  l_eye: [0, 230, 255], left_eye: [0, 230, 255], r_eye: [0, 120, 255], right_eye: [0, 120, 255],
  nose: [255, 0, 200],
  mouth: [140, 0, 20], inner_mouth: [140, 0, 20],
  u_lip: [255, 30, 30], upper_lip: [255, 30, 30], l_lip: [255, 120, 150], lower_lip: [255, 120, 150],
  hair: [130, 40, 200],
  eye_g: [40, 220, 40],
  hat: [0, 100, 0],
  ear_r: [250, 250, 250],
  neck_l: [160, 160, 160],
};

/**
 * One colour per class for a list of class names: the fixed colours above, then, for names not
 * in the table, hues spaced by the golden angle (distinct from each other, fully saturated).
 */
export function paletteFor(classNames: readonly string[]): Rgb[] {
  let extra = 0;
  return classNames.map((name) => CLASS_COLORS[name] ?? hue(extra++ * 137.508));
}

/** The palette of each dataset's classes, in label order (celeb 19, lapa/helen 11). */
export const PALETTES: Record<Dataset, Rgb[]> = {
  celeb: paletteFor(CLASS_NAMES.celeb),
  lapa: paletteFor(CLASS_NAMES.lapa),
  helen: paletteFor(CLASS_NAMES.helen),
};

function hue(deg: number): Rgb {
  const h = ((deg % 360) + 360) % 360 / 60;
  const x = Math.round(255 * (1 - Math.abs((h % 2) - 1)));
  const table: Rgb[] = [[255, x, 0], [x, 255, 0], [0, 255, x], [0, x, 255], [x, 0, 255], [255, 0, x]];
  return table[Math.floor(h) % 6]!;
}

function colorOf(labels: Uint8Array, i: number, palette: readonly Rgb[]): Rgb {
  const c = palette[labels[i]!];
  if (!c) throw new Error(`label ${labels[i]} at pixel ${i} has no colour (the palette has ${palette.length} classes)`);
  return c;
}

// ---------------------------------------------------------------------------------------------
// Masks and overlays

/** (H, W) class ids → (H, W, 3) colours. */
export function maskToColor(labels: Uint8Array, palette: readonly Rgb[]): Uint8Array {
  const out = new Uint8Array(labels.length * 3);
  for (let i = 0; i < labels.length; i++) out.set(colorOf(labels, i, palette), i * 3);
  return out;
}

/**
 * Blends each non-background pixel's class colour over the image:
 * out = round((1 − alpha)·rgb + alpha·colour); background (class 0) pixels are copied.
 */
export function overlay(rgb: Uint8Array, labels: Uint8Array, alpha: number, palette: readonly Rgb[]): Uint8Array {
  if (rgb.length !== labels.length * 3) throw new Error(`overlay: image has ${rgb.length / 3} pixels, labels ${labels.length}`);
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`overlay: alpha ${alpha} is outside [0, 1]`);
  const out = rgb.slice();
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === 0) continue;
    const c = colorOf(labels, i, palette);
    for (let ch = 0; ch < 3; ch++) out[i * 3 + ch] = Math.round((1 - alpha) * rgb[i * 3 + ch]! + alpha * c[ch]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Legend

export const LEGEND_BACKGROUND: Rgb = [24, 24, 24];
export const LEGEND_TEXT: Rgb = [255, 255, 255];
export const LEGEND_OUTLINE: Rgb = [128, 128, 128];

export interface LegendLayout {
  /** Font and spacing scale (1–4), chosen so the rows fit the image height when they can. */
  scale: number;
  panelWidth: number;
  /** Height of the combined image: the image's, or the legend's when that is taller. */
  height: number;
  /** Per class: swatch square (x relative to the panel) and text origin. */
  rows: { swatchX: number; swatchY: number; swatchSize: number; textX: number; textY: number }[];
}

/** Geometry of the legend panel for `classNames` next to an image of height h. */
export function legendLayout(h: number, classNames: readonly string[]): LegendLayout {
  const n = classNames.length;
  const scale = Math.min(4, Math.max(1, Math.floor(h / (n * 11 + 8))));
  const pad = 4 * scale;
  const swatchSize = 9 * scale;
  const rowH = 11 * scale;
  const longest = Math.max(0, ...classNames.map((s) => textWidth(s, scale)));
  const rows = classNames.map((_, k) => {
    const swatchY = pad + k * rowH;
    return { swatchX: pad, swatchY, swatchSize, textX: pad + swatchSize + pad, textY: swatchY + (swatchSize - GLYPH_H * scale) / 2 };
  });
  return { scale, panelWidth: 3 * pad + swatchSize + longest, height: Math.max(h, 2 * pad + n * rowH - 2 * scale), rows };
}

/** Appends a legend panel to the right of an (h, w, 3) image: one swatch + class name per row. */
export function withLegend(rgb: Uint8Array, w: number, h: number, classNames: readonly string[], palette: readonly Rgb[]): RgbImage {
  if (rgb.length !== w * h * 3) throw new Error(`withLegend: ${rgb.length} bytes is not ${w}×${h}×3`);
  if (palette.length < classNames.length) throw new Error(`withLegend: ${classNames.length} classes but ${palette.length} colours`);
  const layout = legendLayout(h, classNames);
  const W = w + layout.panelWidth;
  const H = layout.height;
  const out = new Uint8Array(W * H * 3);
  fillRect(out, W, H, 0, 0, W, H, LEGEND_BACKGROUND);
  for (let y = 0; y < h; y++) out.set(rgb.subarray(y * w * 3, (y + 1) * w * 3), y * W * 3);
  layout.rows.forEach((r, k) => {
    const x = w + r.swatchX;
    fillRect(out, W, H, x, r.swatchY, r.swatchSize, r.swatchSize, LEGEND_OUTLINE);
    fillRect(out, W, H, x + 1, r.swatchY + 1, r.swatchSize - 2, r.swatchSize - 2, palette[k]!);
    drawText(out, W, H, w + r.textX, r.textY, classNames[k]!, LEGEND_TEXT, layout.scale);
  });
  return { width: W, height: H, rgb: out };
}

// ---------------------------------------------------------------------------------------------
// Comparison panels

/** Nearest-neighbour enlargement of an (h, w, 3) image by an integer factor k (label edges stay sharp). */
export function upscaleNearest(rgb: Uint8Array, w: number, h: number, k: number): Uint8Array {
  if (rgb.length !== w * h * 3) throw new Error(`upscaleNearest: ${rgb.length} bytes is not ${w}×${h}×3`);
  if (!(Number.isInteger(k) && k >= 1)) throw new Error(`upscaleNearest: factor ${k} must be an integer >= 1`);
  const W = w * k;
  const out = new Uint8Array(W * h * k * 3);
  for (let y = 0; y < h * k; y++) {
    const src = Math.floor(y / k) * w;
    for (let x = 0; x < W; x++) {
      const i = 3 * (src + Math.floor(x / k)), o = 3 * (y * W + x);
      out[o] = rgb[i]!; out[o + 1] = rgb[i + 1]!; out[o + 2] = rgb[i + 2]!;
    }
  }
  return out;
}

/**
 * Image | ground truth | prediction of one (res × res) sample, each enlarged k times with a
 * 4-pixel gap, and the class legend on the right: what a user looks at after each validation.
 */
export function comparisonPanel(image: Uint8Array, truth: Uint8Array, pred: Uint8Array, res: number, k: number,
  classNames: readonly string[], palette: readonly Rgb[], alpha = 0.6): RgbImage {
  const side = res * k, gap = 4, W = 3 * side + 2 * gap;
  const strip = new Uint8Array(W * side * 3);
  fillRect(strip, W, side, 0, 0, W, side, LEGEND_BACKGROUND);
  [image, overlay(image, truth, alpha, palette), overlay(image, pred, alpha, palette)].forEach((panel, p) => {
    const big = upscaleNearest(panel, res, res, k);
    for (let y = 0; y < side; y++) strip.set(big.subarray(y * side * 3, (y + 1) * side * 3), (y * W + p * (side + gap)) * 3);
  });
  return withLegend(strip, W, side, classNames, palette);
}
