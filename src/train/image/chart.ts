// Small PNG charts drawn with the legend font: line series over a shared x axis, each series on
// the left or the right y axis (e.g. training loss on the left, validation mean F1 on the right).
import type { RgbImage } from './decode.js';
import { drawText, fillRect, GLYPH_H, textWidth } from './font.js';
import type { Rgb } from './overlay.js';

export interface Series {
  name: string;
  /** (x, y) points in drawing order; non-finite y values break the line. */
  points: readonly (readonly [number, number])[];
  color: Rgb;
  axis: 'left' | 'right';
  /** Draw a dot on every point (for sparse series such as per-epoch validation). */
  dots?: boolean;
}

export interface ChartOptions {
  width?: number;
  height?: number;
  title: string;
  xLabel: string;
  leftLabel: string;
  rightLabel?: string;
}

const BACKGROUND: Rgb = [255, 255, 255];
const INK: Rgb = [40, 40, 40];
const GRID: Rgb = [225, 225, 225];
const SCALE = 2;
const TEXT_H = GLYPH_H * SCALE;

/** Round tick values covering [lo, hi]: 1, 2 or 5 times a power of ten apart. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  // The candidate step whose tick count is closest to `count`.
  const steps = [1, 2, 5, 10].map((m) => m * mag);
  const step = steps.reduce((best, s) => (Math.abs((hi - lo) / s - count) < Math.abs((hi - lo) / best - count) ? s : best));
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function tickText(v: number): string {
  return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(0) : String(Number(v.toPrecision(4)));
}

function range(values: number[]): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  const lo = Math.min(...finite), hi = Math.max(...finite);
  return lo === hi ? [lo - 0.5, hi + 0.5] : [lo, hi];
}

function line(img: RgbImage, x0: number, y0: number, x1: number, y1: number, color: Rgb): void {
  const n = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
  for (let i = 0; i <= n; i++) {
    const x = Math.round(x0 + ((x1 - x0) * i) / n), y = Math.round(y0 + ((y1 - y0) * i) / n);
    fillRect(img.rgb, img.width, img.height, x, y, 2, 2, color);
  }
}

/** A line chart of `series` as an RGB image. */
export function lineChart(series: readonly Series[], o: ChartOptions): RgbImage {
  const width = o.width ?? 800, height = o.height ?? 450;
  const img: RgbImage = { width, height, rgb: new Uint8Array(width * height * 3) };
  fillRect(img.rgb, width, height, 0, 0, width, height, BACKGROUND);
  const text = (x: number, y: number, s: string, c: Rgb = INK): void => drawText(img.rgb, width, height, Math.round(x), Math.round(y), s, c, SCALE);
  const left = 70, right = width - (o.rightLabel ? 70 : 20), top = 50, bottom = height - 84;
  const xr = range(series.flatMap((s) => s.points.map((p) => p[0])));
  const yr = (axis: Series['axis']): [number, number] => range(series.filter((s) => s.axis === axis).flatMap((s) => s.points.map((p) => p[1])));
  const ticks = { x: niceTicks(...xr), left: niceTicks(...yr('left')), right: niceTicks(...yr('right')) };
  // Axes span the ticks so every tick sits inside the plot.
  const xs: [number, number] = [Math.min(xr[0], ticks.x[0]!), Math.max(xr[1], ticks.x.at(-1)!)];
  const spans = { left: [Math.min(yr('left')[0], ticks.left[0]!), Math.max(yr('left')[1], ticks.left.at(-1)!)], right: [Math.min(yr('right')[0], ticks.right[0]!), Math.max(yr('right')[1], ticks.right.at(-1)!)] };
  const px = (x: number): number => left + ((x - xs[0]) / (xs[1] - xs[0])) * (right - left);
  const py = (y: number, axis: Series['axis']): number => bottom - ((y - spans[axis][0]!) / (spans[axis][1]! - spans[axis][0]!)) * (bottom - top);

  for (const t of ticks.left) {
    fillRect(img.rgb, width, height, left, Math.round(py(t, 'left')), right - left, 1, GRID);
    text(left - 8 - textWidth(tickText(t), SCALE), py(t, 'left') - TEXT_H / 2, tickText(t));
  }
  if (o.rightLabel) for (const t of ticks.right) text(right + 8, py(t, 'right') - TEXT_H / 2, tickText(t));
  for (const t of ticks.x) {
    fillRect(img.rgb, width, height, Math.round(px(t)), bottom, 1, 6, INK);
    text(px(t) - textWidth(tickText(t), SCALE) / 2, bottom + 10, tickText(t));
  }
  fillRect(img.rgb, width, height, left, top, 1, bottom - top, INK);
  fillRect(img.rgb, width, height, left, bottom, right - left, 1, INK);
  if (o.rightLabel) fillRect(img.rgb, width, height, right, top, 1, bottom - top, INK);

  for (const s of series) {
    let prev: [number, number] | undefined;
    for (const [x, y] of s.points) {
      if (!Number.isFinite(y)) { prev = undefined; continue; }
      const p: [number, number] = [px(x), py(y, s.axis)];
      if (prev) line(img, prev[0], prev[1], p[0], p[1], s.color);
      if (s.dots) fillRect(img.rgb, width, height, Math.round(p[0]) - 3, Math.round(p[1]) - 3, 7, 7, s.color);
      prev = p;
    }
  }
  text((width - textWidth(o.title, SCALE)) / 2, 12, o.title);
  text((width - textWidth(o.xLabel, SCALE)) / 2, bottom + 32, o.xLabel);
  text(8, top - TEXT_H - 8, o.leftLabel);
  if (o.rightLabel) text(width - 8 - textWidth(o.rightLabel, SCALE), top - TEXT_H - 8, o.rightLabel);
  // Legend: one swatch + name per series, centred on the bottom line.
  const entryW = (s: Series): number => 24 + textWidth(s.name, SCALE) + 20;
  let x = (width - series.reduce((w, s) => w + entryW(s), 0)) / 2;
  for (const s of series) {
    fillRect(img.rgb, width, height, Math.round(x), height - 24 + TEXT_H / 2 - 2, 18, 4, s.color);
    text(x + 24, height - 24, s.name);
    x += entryW(s);
  }
  return img;
}
