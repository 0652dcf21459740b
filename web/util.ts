// Small page helpers: base64, drawing RGB images and line charts on canvases, downloads.
import type { RgbImage } from '../src/train/image/index.js';

export function base64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function rgbCanvas(img: RgbImage, caption?: string): HTMLElement {
  const canvas = document.createElement('canvas');
  canvas.width = img.width;
  canvas.height = img.height;
  const ctx = canvas.getContext('2d')!;
  const data = ctx.createImageData(img.width, img.height);
  for (let i = 0; i < img.width * img.height; i++) {
    data.data[i * 4] = img.rgb[i * 3]!;
    data.data[i * 4 + 1] = img.rgb[i * 3 + 1]!;
    data.data[i * 4 + 2] = img.rgb[i * 3 + 2]!;
    data.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(data, 0, 0);
  if (img.width < 256) canvas.style.width = `${img.width * 2}px`; // small model resolutions, shown at 2×
  const fig = document.createElement('figure');
  fig.append(canvas);
  if (caption) {
    const c = document.createElement('figcaption');
    c.textContent = caption;
    fig.append(c);
  }
  return fig;
}

export interface Series { name: string; color: string; points: [number, number][] }

/** A line chart of a few series sharing the x axis; each series gets its own y range (labelled). */
export function drawChart(canvas: HTMLCanvasElement, series: Series[], xLabel: string, logY = false): void {
  const ctx = canvas.getContext('2d')!;
  const W = canvas.width;
  const H = canvas.height;
  const pad = { l: 48, r: 12, t: 22, b: 28 };
  ctx.clearRect(0, 0, W, H);
  ctx.font = '12px system-ui, sans-serif';
  ctx.strokeStyle = '#999';
  ctx.strokeRect(pad.l, pad.t, W - pad.l - pad.r, H - pad.t - pad.b);
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  if (xs.length === 0) return;
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs, x0 + 1);
  const f = (v: number) => (logY ? Math.log10(Math.max(v, 1e-12)) : v);
  let legendX = pad.l;
  for (const s of series) {
    const ys = s.points.map((p) => f(p[1]));
    if (ys.length === 0) continue;
    const y0 = Math.min(...ys);
    const y1 = Math.max(...ys, y0 + 1e-9);
    ctx.strokeStyle = s.color;
    ctx.beginPath();
    s.points.forEach(([x, y], i) => {
      const px = pad.l + ((x - x0) / (x1 - x0)) * (W - pad.l - pad.r);
      const py = H - pad.b - ((f(y) - y0) / (y1 - y0)) * (H - pad.t - pad.b);
      if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
    });
    ctx.stroke();
    ctx.fillStyle = s.color;
    const last = s.points[s.points.length - 1]![1];
    const label = `${s.name}: ${last.toPrecision(4)} (range ${logY ? '10^' : ''}${y0.toPrecision(3)}–${y1.toPrecision(3)})`;
    ctx.fillText(label, legendX, 14);
    legendX += ctx.measureText(label).width + 16;
  }
  ctx.fillStyle = '#555';
  ctx.fillText(`${xLabel} ${x0}–${x1}`, pad.l, H - 8);
}

export function download(name: string, bytes: Uint8Array, type = 'application/octet-stream'): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
