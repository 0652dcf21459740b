// Image I/O against Pillow/libjpeg/torchvision fixtures (tools/reference/make_image_fixtures.py):
// decoding of every PNG colour type and of JPEG, Pillow-exact BICUBIC/NEAREST resizing, the
// ImageNet normalisation, overlays and legends, and .npy files (cross-checked with numpy).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CLASS_NAMES } from '../../src/model/config.js';
import { glyph, GLYPH_H, GLYPH_W } from '../../src/train/image/font.js';
import {
  comparisonPanel, decodeImage, decodeNpy, encodeNpy, encodePng, legendLayout, maskToColor, overlay, PALETTES, paletteFor, readImage,
  readLabelMap, readNpy, resizeBicubicPIL, resizeNearestPIL, toNormalizedCHW, upscaleNearest, withLegend, writeNpy, writePng,
} from '../../src/train/image/index.js';
import { LEGEND_BACKGROUND, LEGEND_TEXT } from '../../src/train/image/overlay.js';
import { pngjsRgb } from '../web/png_reference.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'images');
const HINT = 'HINT: rerun /usr/bin/python3 tools/reference/make_image_fixtures.py';
const PY = '/usr/bin/python3';
const dir = mkdtempSync(join(tmpdir(), 'image-io-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface ResizeCase { name: string; seed: number; src: [number, number, number]; dst: [number, number]; band: number; bandCrc32: string; png?: string; modulo?: number }
interface FormatCase { name: string; png: string; seed: number; size: [number, number]; modulo?: number; paletteSeed?: number }
const M = JSON.parse(readFileSync(join(FIX, 'manifest.json'), 'utf8')) as {
  version: number; pillow: string; bicubic: ResizeCase[]; nearest: ResizeCase[]; formats: FormatCase[];
  jpeg: { name: string; jpg: string; png: string; size: [number, number] }[]; normalize: { npy: string };
  exif: { jpg: string; size: [number, number]; offset: number; littleEndian: boolean; png: string[] };
};

/** The fixtures' xorshift32 byte stream (make_image_fixtures.py prng_bytes). */
function prng(seed: number, n: number): Uint8Array {
  let s = seed >>> 0;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    s = (s ^ (s << 13)) >>> 0;
    s = (s ^ (s >>> 17)) >>> 0;
    s = (s ^ (s << 5)) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

/** CRC-32, written out here so the check does not share code with src/train/image. */
function crc(bytes: Uint8Array): string {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ((~c) >>> 0).toString(16).padStart(8, '0');
}

function maxDiff(a: Uint8Array, b: Uint8Array): { max: number; mean: number } {
  expect(a.length).toBe(b.length);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.length };
}

const pythonHas = (mod: string) => spawnSync(PY, ['-c', `import ${mod}`]).status === 0;

// ---------------------------------------------------------------------------------------------

describe('decoding and encoding', () => {
  it('decodes an RGB PNG written by Pillow to the bytes it was made from', () => {
    const img = readImage(join(FIX, 'src_rgb_37x29.png'));
    expect([img.width, img.height]).toEqual([37, 29]);
    expect(Buffer.from(img.rgb).equals(Buffer.from(prng(1, 37 * 29 * 3))), HINT).toBe(true);
  });

  // Expected pixels per colour type, from the stream each fixture was built from (see manifest notes).
  const expected: Record<string, (f: FormatCase) => { rgb: number[][]; label: number[] | string }> = {
    gray8: (f) => { const g = [...prng(f.seed, 63)]; return { rgb: g.map((v) => [v, v, v]), label: g }; },
    gray1: (f) => { const g = [...prng(f.seed, 63)].map((v) => (v >= 128 ? 255 : 0)); return { rgb: g.map((v) => [v, v, v]), label: g }; },
    la: (f) => { const b = prng(f.seed, 126); const g = Array.from({ length: 63 }, (_, i) => b[2 * i]!); return { rgb: g.map((v) => [v, v, v]), label: g }; },
    rgba: (f) => { const b = prng(f.seed, 252); return { rgb: Array.from({ length: 63 }, (_, i) => [...b.subarray(4 * i, 4 * i + 3)]), label: 'colour PNG' }; },
    gray16: (f) => { const b = prng(f.seed, 126); const g = Array.from({ length: 63 }, (_, i) => b[2 * i]!); return { rgb: g.map((v) => [v, v, v]), label: g }; },
    pal8: palette, pal4: palette, pal_trns: palette,
  };
  function palette(f: FormatCase) {
    const pal = prng(f.paletteSeed!, 57);
    const idx = [...prng(f.seed, 63)].map((v) => v % f.modulo!);
    return { rgb: idx.map((i) => [...pal.subarray(3 * i, 3 * i + 3)]), label: idx };
  }

  it.each(M.formats.map((f) => [f.name, f] as const))('PNG colour type %s: image as cv2.imread, labels as class ids', (name, f) => {
    const want = expected[name]!(f);
    const img = readImage(join(FIX, f.png));
    expect([img.width, img.height]).toEqual(f.size);
    expect(Array.from({ length: 63 }, (_, i) => [...img.rgb.subarray(3 * i, 3 * i + 3)]), HINT).toEqual(want.rgb);
    if (typeof want.label === 'string') {
      expect(() => readLabelMap(join(FIX, f.png))).toThrow(/fmt_rgba\.png: label map is a colour PNG with R≠G≠B at pixel \(0, 0\)/);
    } else {
      const lab = readLabelMap(join(FIX, f.png));
      expect([lab.width, lab.height]).toEqual(f.size);
      expect([...lab.data], HINT).toEqual(want.label);
    }
  });

  it('decodes Adam7-interlaced PNGs (grey 1/2/4/8-bit, palette 2/4-bit, RGB 16-bit) as pngjs does', () => {
    // tools/reference/make_adam7_pngs.py; below 8 bits fast-png cannot de-interlace and the decoder
    // goes pass by pass (src/train/image/png_adam7.ts)
    const files = readdirSync(FIX).filter((f) => f.startsWith('adam7_'));
    expect(files.length).toBe(7);
    for (const f of files) {
      const bytes = readFileSync(join(FIX, f));
      const want = pngjsRgb(bytes);
      const got = decodeImage(bytes, f);
      expect([got.width, got.height], f).toEqual([want.width, want.height]);
      expect(Buffer.from(got.rgb).equals(Buffer.from(want.rgb)), `${f}: pixels`).toBe(true);
      if (f.includes('pal')) expect(Math.max(...readLabelMap(join(FIX, f)).data), `${f}: palette indices as labels`).toBeLessThan(6);
    }
    const corrupt = Uint8Array.from(readFileSync(join(FIX, 'adam7_gray2.png')));
    corrupt[corrupt.length - 20] ^= 0xff; // inside IDAT: the CRC no longer matches
    expect(() => decodeImage(corrupt, 'adam7_gray2.png')).toThrow(/adam7_gray2\.png: cannot decode PNG: CRC error in chunk IDAT/);
  });

  it('writes RGB and grey PNGs that read back unchanged (also as label maps)', () => {
    for (const [w, h, seed] of [[1, 1, 1], [37, 29, 2], [64, 3, 3]] as const) {
      const rgb = prng(seed, w * h * 3);
      const gray = prng(seed + 100, w * h);
      writePng(join(dir, 'rgb.png'), { width: w, height: h, rgb });
      writePng(join(dir, 'gray.png'), { width: w, height: h, gray });
      expect(readImage(join(dir, 'rgb.png'))).toEqual({ width: w, height: h, rgb });
      expect(readLabelMap(join(dir, 'gray.png'))).toEqual({ width: w, height: h, data: gray });
      expect(readImage(join(dir, 'gray.png')).rgb).toEqual(Uint8Array.from([...gray].flatMap((v) => [v, v, v])));
      expect(decodeImage(encodePng({ width: w, height: h, rgb }), 'mem').rgb).toEqual(rgb);
    }
    // RGB with R = G = B everywhere is a valid label map.
    const g = prng(9, 12);
    writePng(join(dir, 'greyish.png'), { width: 4, height: 3, rgb: Uint8Array.from([...g].flatMap((v) => [v, v, v])) });
    expect(readLabelMap(join(dir, 'greyish.png')).data).toEqual(g);
    expect(() => encodePng({ width: 4, height: 3, rgb: new Uint8Array(35) })).toThrow(/rgb has 35 bytes, expected 4×3×3 = 36/);
  });

  // The decoder is libjpeg-turbo itself (WebAssembly), so Pillow's decode is matched exactly;
  // tests/train/jpeg.test.ts holds it to cv2.imread's pixels in more layouts.
  it.each(M.jpeg.map((j) => [j.name, j] as const))('JPEG %s equals libjpeg-turbo via Pillow exactly', (name, j) => {
    const ours = readImage(join(FIX, j.jpg));
    const ref = readImage(join(FIX, j.png));
    expect([ours.width, ours.height]).toEqual(j.size);
    expect(maxDiff(ours.rgb, ref.rgb).max, name).toBe(0);
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8])('applies EXIF orientation %i as cv2.imread does (reference: PIL exif_transpose)', (o) => {
    const e = M.exif;
    const bytes = Uint8Array.from(readFileSync(join(FIX, e.jpg)));
    new DataView(bytes.buffer).setUint16(e.offset, o, e.littleEndian);
    const ours = decodeImage(bytes, `orientation ${o}`);
    const ref = readImage(join(FIX, e.png[o - 1]!));
    expect([ours.width, ours.height]).toEqual(o >= 5 ? [e.size[1], e.size[0]] : e.size);
    expect([ref.width, ref.height]).toEqual([ours.width, ours.height]);
    expect(maxDiff(ours.rgb, ref.rgb).max).toBe(0);
  });

  it('names the file in every error: truncated, corrupt, unsupported, missing, JPEG labels', () => {
    const png = readFileSync(join(FIX, 'src_rgb_37x29.png'));
    const jpg = readFileSync(join(FIX, 'jpeg_420.jpg'));
    const cases: [string, Uint8Array, RegExp][] = [
      ['cut.png', png.subarray(0, 500), /cut\.png: cannot decode PNG: chunk "IDAT" .* runs past the end of the file \(truncated\?\)/],
      ['cut.jpg', jpg.subarray(0, 900), /cut\.jpg: cannot decode JPEG: .*does not end with an EOI marker: truncated\?/],
      ['head.jpg', jpg.subarray(0, 40), /head\.jpg: cannot decode JPEG: .*(truncated|marker|no image)/],
      ['bad.png', Uint8Array.from(png).fill(0x55, 60, 80), /bad\.png: cannot decode PNG: /],
      ['text.png', new TextEncoder().encode('not an image'), /text\.png: unsupported image format \(not PNG or JPEG; starts with 6e 6f 74/],
      ['empty.jpg', new Uint8Array(0), /empty\.jpg: unsupported image format .*the file is empty/],
    ];
    for (const [name, bytes, re] of cases) {
      writeFileSync(join(dir, name), bytes);
      expect(() => readImage(join(dir, name)), name).toThrow(re);
    }
    expect(() => readImage(join(dir, 'missing.png'))).toThrow(/cannot read .*missing\.png/);
    expect(() => readLabelMap(join(FIX, 'jpeg_gray.jpg'))).toThrow(/jpeg_gray\.jpg: label maps must be PNG/);
  });
});

// ---------------------------------------------------------------------------------------------

describe('Pillow-exact resizing (fixtures from Pillow via torchvision.transforms.functional.resize)', () => {
  function check(kind: 'bicubic' | 'nearest', c: ResizeCase): void {
    const [w, h, ch] = c.src;
    const [W, H] = c.dst;
    let src = prng(c.seed, w * h * ch);
    if (c.modulo) src = src.map((v) => v % c.modulo!);
    const out = (kind === 'bicubic' ? resizeBicubicPIL : resizeNearestPIL)(src, w, h, W, H);
    expect(out.length).toBe(W * H * ch);
    if (c.png) { // pixel-level diff first: a clearer failure than a CRC
      const ref = ch === 1 ? readLabelMap(join(FIX, c.png)).data : readImage(join(FIX, c.png)).rgb;
      const d = maxDiff(out, ref);
      expect(d.max, `${kind} ${c.name}: max diff vs Pillow ${d.max} (mean ${d.mean}). ${HINT}`).toBe(0);
    }
    const rowLen = W * ch;
    const bands: string[] = [];
    for (let y = 0; y < H; y += c.band) bands.push(crc(out.subarray(y * rowLen, Math.min(H, y + c.band) * rowLen)));
    const want = c.bandCrc32.split(' ');
    const bad = bands.findIndex((b, i) => b !== want[i]);
    expect(bad, `${kind} ${c.name}: rows ${bad * c.band}.. differ from Pillow ${M.pillow}. ${HINT}`).toBe(-1);
    expect(bands.length).toBe(want.length);
  }

  it.each(M.bicubic.map((c) => [c.name, c] as const))('BICUBIC %s', (_, c) => check('bicubic', c));
  it.each(M.nearest.map((c) => [c.name, c] as const))('NEAREST %s', (_, c) => check('nearest', c));

  it('keeps constant images constant and rejects sizes that do not match the data', () => {
    const flat = new Uint8Array(40 * 30 * 3).fill(77);
    expect(resizeBicubicPIL(flat, 40, 30, 17, 61).every((v) => v === 77)).toBe(true);
    expect(() => resizeBicubicPIL(new Uint8Array(10), 2, 2, 4, 4)).toThrow(/10 bytes is not 2×2×C/);
    expect(() => resizeNearestPIL(new Uint8Array(4), 2, 2, 0, 4)).toThrow(/W = 0 is not a positive integer/);
  });
});

// ---------------------------------------------------------------------------------------------

describe('normalisation', () => {
  it('equals torchvision ToTensor + Normalize(ImageNet) bit for bit, for every u8 value', () => {
    const v = Array.from({ length: 256 }, (_, i) => i);
    const rgb = Uint8Array.from(v.flatMap((i) => [0, 1, 2].map((c) => (i * (2 * c + 1) + 7 * c) % 256)));
    const want = readNpy(join(FIX, M.normalize.npy));
    expect(want.shape).toEqual([3, 16, 16]);
    const ours = toNormalizedCHW(rgb, 16, 16);
    expect(Buffer.from(ours.buffer).equals(Buffer.from(want.data.buffer)), HINT).toBe(true);
    expect(ours[0]).toBe(Math.fround(Math.fround(0 - Math.fround(0.485)) / Math.fround(0.229)));
  });
});

// ---------------------------------------------------------------------------------------------

describe('overlays and legends', () => {
  it('has a distinct colour per class, background black (celeb 19, lapa/helen 11)', () => {
    for (const [ds, n] of [['celeb', 19], ['lapa', 11], ['helen', 11]] as const) {
      const p = PALETTES[ds];
      expect(p.length).toBe(n);
      expect(p[0]).toEqual([0, 0, 0]);
      expect(new Set(p.map((c) => c.join())).size, ds).toBe(n);
    }
    const extra = paletteFor(['background', 'foo', 'bar', 'baz']);
    expect(new Set(extra.map((c) => c.join())).size).toBe(4);
  });

  it('colours masks and blends them over the image, leaving background pixels untouched', () => {
    const p = PALETTES.celeb;
    const labels = Uint8Array.from([0, 1, 14, 18]);
    expect([...maskToColor(labels, p)]).toEqual([...p[0]!, ...p[1]!, ...p[14]!, ...p[18]!]);
    const rgb = Uint8Array.from([10, 20, 30, 40, 50, 60, 70, 80, 90, 200, 210, 220]);
    expect(overlay(rgb, labels, 0, p)).toEqual(rgb);
    expect([...overlay(rgb, labels, 1, p)]).toEqual([10, 20, 30, ...p[1]!, ...p[14]!, ...p[18]!]);
    const half = overlay(rgb, labels, 0.5, p);
    expect(half[3]).toBe(Math.round(0.5 * 40 + 0.5 * p[1]![0]));
    expect(() => maskToColor(Uint8Array.from([0, 19]), p)).toThrow(/label 19 at pixel 1 has no colour \(the palette has 19 classes\)/);
    expect(() => overlay(rgb, labels, 1.5, p)).toThrow(/alpha 1.5/);
  });

  it.each([[64, 512], [40, 24]])('appends a legend panel (image %i×%i): swatches and 5×7 text where the layout says', (w, h) => {
    const names = CLASS_NAMES.celeb;
    const p = PALETTES.celeb;
    const rgb = prng(5, w * h * 3);
    const out = withLegend(rgb, w, h, names, p);
    const L = legendLayout(h, names);
    expect(out.width).toBe(w + L.panelWidth);
    expect(out.height).toBe(Math.max(h, L.height));
    if (h < L.height) expect(out.height).toBeGreaterThan(h); // a short image grows to fit the legend
    const px = (x: number, y: number) => [...out.rgb.subarray((y * out.width + x) * 3, (y * out.width + x) * 3 + 3)];
    for (let y = 0; y < h; y++) expect(Buffer.from(out.rgb.subarray(y * out.width * 3, (y * out.width + w) * 3)).equals(Buffer.from(rgb.subarray(y * w * 3, (y + 1) * w * 3)))).toBe(true);
    if (out.height > h) expect(px(0, out.height - 1)).toEqual([...LEGEND_BACKGROUND]);
    L.rows.forEach((r, k) => {
      const c = Math.floor(r.swatchSize / 2);
      expect(px(w + r.swatchX + c, r.swatchY + c), `swatch ${names[k]}`).toEqual([...p[k]!]);
      // First character of the name, glyph bit by glyph bit (each bit a scale×scale block).
      const rows = glyph(names[k]![0]!);
      for (let gy = 0; gy < GLYPH_H; gy++) {
        for (let gx = 0; gx < GLYPH_W; gx++) {
          const on = (rows[gy]! >> (GLYPH_W - 1 - gx)) & 1;
          const at = px(w + r.textX + gx * L.scale + L.scale - 1, r.textY + gy * L.scale + L.scale - 1);
          expect(at, `${names[k]} glyph bit (${gx}, ${gy})`).toEqual(on ? [...LEGEND_TEXT] : [...LEGEND_BACKGROUND]);
        }
      }
    });
  });

  it('enlarges by whole pixels and lays out image | truth | prediction with a 4-pixel gap and the legend', () => {
    const rgb = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);   // 2×2
    expect([...upscaleNearest(rgb, 2, 2, 2).subarray(0, 12)]).toEqual([1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6]);
    expect([...upscaleNearest(rgb, 2, 2, 2).subarray(12, 24)]).toEqual([1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6]);
    expect(() => upscaleNearest(rgb, 2, 2, 1.5)).toThrow(/factor 1.5/);
    const res = 8, k = 3, p = PALETTES.celeb;
    const image = prng(9, res * res * 3);
    const truth = new Uint8Array(res * res).fill(14), pred = new Uint8Array(res * res).fill(2);
    const out = comparisonPanel(image, truth, pred, res, k, CLASS_NAMES.celeb, p);
    const side = res * k, strip = 3 * side + 8;
    expect(out.width).toBe(strip + legendLayout(side, CLASS_NAMES.celeb).panelWidth);
    const px = (x: number, y: number) => [...out.rgb.subarray((y * out.width + x) * 3, (y * out.width + x) * 3 + 3)];
    const big = { image: upscaleNearest(image, res, res, k), truth: upscaleNearest(overlay(image, truth, 0.6, p), res, res, k), pred: upscaleNearest(overlay(image, pred, 0.6, p), res, res, k) };
    for (const [x, y] of [[0, 0], [5, 17], [23, 23]] as const) {
      const at = (a: Uint8Array) => [...a.subarray((y * side + x) * 3, (y * side + x) * 3 + 3)];
      expect(px(x, y)).toEqual(at(big.image));
      expect(px(side + 4 + x, y)).toEqual(at(big.truth));
      expect(px(2 * side + 8 + x, y)).toEqual(at(big.pred));
    }
    expect(px(side + 1, 3)).toEqual([...LEGEND_BACKGROUND]);   // the gap
  });

  it('has a glyph for every character of every class name', () => {
    const missing = glyph('\u0001');
    const chars = new Set(Object.values(CLASS_NAMES).flat().join(''));
    for (const ch of chars) expect(glyph(ch), JSON.stringify(ch)).not.toBe(missing);
    for (const ch of 'AZaz09_') expect(glyph(ch)).not.toBe(missing);
  });
});

// ---------------------------------------------------------------------------------------------

describe('.npy files', () => {
  it('round-trips float32 arrays of any rank, with a 64-byte-aligned header', () => {
    for (const shape of [[2, 3, 4], [5], [], [1, 19, 8, 8]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = Float32Array.from({ length: n }, (_, i) => (i - 3.5) * 0.1);
      const bytes = encodeNpy(data, shape);
      const header = new DataView(bytes.buffer).getUint16(8, true);
      expect((10 + header) % 64).toBe(0);
      expect(bytes[10 + header - 1]).toBe(0x0a);
      const back = decodeNpy(bytes);
      expect(back.dtype).toBe('<f4');
      expect(back.shape).toEqual(shape);
      expect(back.data).toEqual(data);
    }
    expect(() => encodeNpy(new Float32Array(5), [2, 3])).toThrow(/holds 6 values, data has 5/);
    expect(() => decodeNpy(new Uint8Array(20), 'x.npy')).toThrow(/x\.npy: not a \.npy file/);
  });

  it('writes files numpy.load reads with the same dtype, shape and values', () => {
    expect(pythonHas('numpy'), `${PY} has no numpy: run bash scripts/setup.sh --tests`).toBe(true);
    const data = Float32Array.from({ length: 2 * 3 * 5 }, (_, i) => Math.fround(Math.sin(i) * 1e3));
    const path = join(dir, 'logits.npy');
    writeNpy(path, data, [2, 3, 5]);
    const r = spawnSync(PY, ['-c', 'import sys, json, numpy as np; a = np.load(sys.argv[1]); print(json.dumps({"dtype": a.dtype.str, "shape": list(a.shape), "c": a.flags["C_CONTIGUOUS"], "v": a.astype(float).ravel().tolist()}))', path], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as { dtype: string; shape: number[]; c: boolean; v: number[] };
    expect(got.dtype).toBe('<f4');
    expect(got.shape).toEqual([2, 3, 5]);
    expect(got.c).toBe(true);
    expect(got.v).toEqual([...data]);
  });
});
