// A PNG bar chart of matmul GFLOP/s per size: the engine vs TF.js WebGPU (same adapter) vs
// PyTorch CPU, from the peers suite's rows, on a log scale. Drawn pixel by pixel into an RGB
// image with the legend font (no canvas dependency).
import { drawText, fillRect, textWidth } from '../src/train/image/font.js';
import { writePng } from '../src/train/image/index.js';
export const SERIES = [
    { key: 'ours', label: 'segface-webgpu (ours)', color: [31, 119, 180] },
    { key: 'tfjs-webgpu', label: 'TF.js WebGPU, same adapter', color: [255, 127, 14] },
    { key: 'torch-cpu', label: 'PyTorch CPU (OpenBLAS)', color: [44, 160, 44] },
];
/** An RGB canvas drawn with the legend font of src/train/image (fillRect / drawText). */
class Canvas {
    width;
    height;
    rgb;
    constructor(width, height) {
        this.width = width;
        this.height = height;
        this.rgb = new Uint8Array(width * height * 3);
        this.rect(0, 0, width, height, [255, 255, 255]);
    }
    rect(x, y, w, h, c) {
        const x0 = Math.round(x), y0 = Math.round(y);
        fillRect(this.rgb, this.width, this.height, x0, y0, Math.round(x + w) - x0, Math.round(y + h) - y0, c);
    }
    /** Text with its top-left at (x, y); `scale` pixels per font pixel. Returns the width drawn. */
    text(s, x, y, c = [0, 0, 0], scale = 1) {
        const t = s.replace(/ᵀ/g, 'T').replace(/·/g, '.');
        drawText(this.rgb, this.width, this.height, Math.round(x), Math.round(y), t, c, scale);
        return Canvas.textWidth(t, scale);
    }
    static textWidth(s, scale = 1) { return textWidth(s, scale) + scale; }
}
/** The peers suite's matmul rows, grouped per case: `matmul <case> ours|tfjs-webgpu|torch-cpu`. */
export function matmulGroups(rows) {
    const groups = new Map();
    for (const r of rows) {
        if (r.suite !== 'peers' || !r.name.startsWith('matmul '))
            continue;
        const series = SERIES.find((s) => r.name.endsWith(` ${s.key}`));
        if (!series)
            continue;
        const label = r.name.slice('matmul '.length, -series.key.length - 1);
        const g = groups.get(label) ?? { label, gflops: {} };
        if (typeof r.gflops === 'number' && Number.isFinite(r.gflops))
            g.gflops[series.key] = r.gflops;
        groups.set(label, g);
    }
    return [...groups.values()];
}
const shortLabel = (l) => l.replace('square ', '').replace('swin-b ', '').replace(' 224px', '')
    .replace('A·Bᵀ 1024 (dX)', 'dX 1024').replace('Aᵀ·B 1024 (dW)', 'dW 1024').replace(' 512px', ' 512px');
/** Draws the grouped bar chart; returns false (and writes nothing) when there is nothing to draw. */
export function writeMatmulChart(rows, title, file) {
    const groups = matmulGroups(rows).filter((g) => Object.keys(g.gflops).length > 0);
    if (groups.length === 0)
        return false;
    const values = groups.flatMap((g) => Object.values(g.gflops));
    const lo = Math.floor(Math.log10(Math.max(0.1, Math.min(...values))));
    const hi = Math.ceil(Math.log10(Math.max(...values) * 1.05));
    const W = Math.max(900, 120 + groups.length * 110);
    const H = 520;
    const left = 80, right = 20, top = 100, bottom = 70;
    const plotW = W - left - right, plotH = H - top - bottom;
    const c = new Canvas(W, H);
    const yOf = (v) => top + plotH * (1 - (Math.log10(v) - lo) / (hi - lo));
    c.text(title, left, 12, [0, 0, 0], 2);
    // legend
    let lx = left;
    for (const s of SERIES) {
        c.rect(lx, 44, 14, 14, s.color);
        lx += 20 + c.text(s.label, lx + 20, 44, [0, 0, 0], 2) + 20;
    }
    // decades: grid lines and labels
    for (let d = lo; d <= hi; d++) {
        const y = yOf(10 ** d);
        c.rect(left, y, plotW, 1, [210, 210, 210]);
        const label = d >= 0 ? String(10 ** d) : (10 ** d).toFixed(-d);
        c.text(label, left - 10 - Canvas.textWidth(label, 2), y - 7, [60, 60, 60], 2);
    }
    c.rect(left, top, 1, plotH, [0, 0, 0]);
    c.rect(left, top + plotH, plotW, 1, [0, 0, 0]);
    c.text('GFLOP/s', 8, top - 26, [60, 60, 60], 2);
    const gw = plotW / groups.length;
    const bw = Math.min(28, (gw - 16) / SERIES.length);
    groups.forEach((g, i) => {
        const gx = left + i * gw + (gw - bw * SERIES.length) / 2;
        SERIES.forEach((s, j) => {
            const v = g.gflops[s.key];
            const x = gx + j * bw;
            if (v === undefined) {
                c.text('n/a', x, top + plotH - 10, [150, 150, 150]);
                return;
            }
            const y = yOf(Math.max(v, 10 ** lo));
            c.rect(x + 1, y, bw - 2, top + plotH - y, s.color);
            const txt = v >= 100 ? v.toFixed(0) : v.toFixed(1);
            c.text(txt, x + (bw - Canvas.textWidth(txt)) / 2, y - 10, [40, 40, 40]);
        });
        const label = shortLabel(g.label);
        c.text(label, left + i * gw + (gw - Canvas.textWidth(label, 2)) / 2, top + plotH + 12, [0, 0, 0], Canvas.textWidth(label, 2) <= gw - 4 ? 2 : 1);
    });
    c.text('matmul size (square n, SegFace projections, backward products); log scale', left, H - 24, [90, 90, 90], 2);
    writePng(file, { width: c.width, height: c.height, rgb: c.rgb });
    return true;
}
//# sourceMappingURL=chart.js.map