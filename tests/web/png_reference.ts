// Node's side of the page's PNG checks (tests/web/png_checks.ts): PNG files decoded by pngjs, an
// independent decoder, with OpenCV's reading rules (cv2.imread(IMREAD_COLOR) through libpng): grey
// 1/2/4-bit scaled to 0..255, 16-bit samples reduced to their high byte, alpha dropped (not
// composited), palette entries' RGB, tRNS ignored. Also writes the 16-bit fixtures the committed
// set lacks (RGB, RGBA and grey+alpha at 16 bits per sample).
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { rng } from '../inputs.js';
import type { PngManifest } from './png_checks.js';

/** OpenCV's 8-bit RGB of a PNG, decoded by pngjs. */
export function pngjsRgb(bytes: Uint8Array): { width: number; height: number; rgb: Uint8Array } {
  const png = PNG.sync.read(Buffer.from(bytes), { skipRescale: true }) as unknown as { width: number; height: number; depth: number; colorType: number; data: ArrayLike<number> };
  const { width, height, depth } = png;
  // skipRescale keeps 16-bit and 1/2/4-bit grey samples raw; palette images come out as 8-bit RGB
  const to8 = png.colorType === 3 || depth === 8 ? (v: number) => v : depth === 16 ? (v: number) => v >> 8 : (v: number) => v * (255 / ((1 << depth) - 1));
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = to8(png.data[i * 4 + c]!);
  return { width, height, rgb };
}

/** 16-bit PNGs of each colour type pngjs writes with alpha or colour (7×5, seeded samples). */
function sixteenBitPngs(): [string, Uint8Array][] {
  const r = rng(1616);
  return ([['fmt_rgb16.png', 2], ['fmt_rgba16.png', 6], ['fmt_la16.png', 4]] as const).map(([name, colorType]) => {
    const png = new PNG({ width: 7, height: 5, bitDepth: 16, colorType, inputColorType: 6, inputHasAlpha: true });
    // pngjs takes 16-bit input as RGBA uint16
    const data = new Uint16Array(7 * 5 * 4).map(() => Math.floor(r() * 65536));
    (png as unknown as { data: Uint16Array }).data = data;
    return [name, new Uint8Array(PNG.sync.write(png, { bitDepth: 16, colorType, inputColorType: 6, inputHasAlpha: true }))];
  });
}

/** Copies the committed PNG fixtures of `images` and the 16-bit ones into `dir`, with png_pngjs.json. */
export function writePngFixtures(images: string, dir: string): number {
  mkdirSync(dir, { recursive: true });
  const cases: PngManifest['cases'] = [];
  const add = (name: string, bytes: Uint8Array) => {
    const { width, height, rgb } = pngjsRgb(bytes);
    cases.push({ png: name, size: [width, height], sha256: createHash('sha256').update(rgb).digest('hex') });
  };
  for (const f of readdirSync(images).filter((f) => f.endsWith('.png'))) {
    copyFileSync(join(images, f), join(dir, f));
    add(f, readFileSync(join(images, f)));
  }
  for (const [name, bytes] of sixteenBitPngs()) {
    writeFileSync(join(dir, name), bytes);
    add(name, bytes);
  }
  writeFileSync(join(dir, 'png_pngjs.json'), JSON.stringify({ cases }));
  return cases.length;
}
