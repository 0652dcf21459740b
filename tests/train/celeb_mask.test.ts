// CelebAMask-HQ part masks read as the official loader reads them: cv2.imread(path,
// IMREAD_GRAYSCALE) (Debian's python3-opencv, installed by `bash scripts/setup.sh --tests`; a
// missing cv2 fails the test). Coloured masks in the three colour PNG layouts (RGB, palette, RGBA)
// with random colours: our grey must equal OpenCV's on every pixel.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { maskGrey } from '../../src/train/data/celeb.js';
import { crc32 } from '../../src/train/image/decode.js';

const dir = mkdtempSync(join(tmpdir(), 'celeb-mask-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const W = 64;
const H = 48;

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** An 8-bit PNG of colour type 2 (RGB), 3 (palette) or 6 (RGBA); rows unfiltered. */
function png(colorType: 2 | 3 | 6, pixels: Uint8Array, palette?: Uint8Array): Uint8Array {
  const channels = { 2: 3, 3: 1, 6: 4 }[colorType];
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, W);
  v.setUint32(4, H);
  ihdr.set([8, colorType, 0, 0, 0], 8);
  const raw = new Uint8Array(H * (1 + W * channels));
  for (let y = 0; y < H; y++) raw.set(pixels.subarray(y * W * channels, (y + 1) * W * channels), y * (1 + W * channels) + 1);
  const parts = [new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr)];
  if (palette) parts.push(chunk('PLTE', palette));
  parts.push(chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0)));
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** xorshift32 bytes. */
function bytes(n: number, seed: number): Uint8Array {
  let x = seed >>> 0;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; out[i] = x & 255; }
  return out;
}

/** Colours that decide "> 0" differently under the two fixed-point rules, then random ones: small
 *  values (a mask's anti-aliased edge) and a full random spread. */
function colours(n: number, seed: number): Uint8Array {
  const rnd = bytes(3 * n, seed);
  for (let i = 0; i < 3 * n; i++) if (i < n) rnd[i] = rnd[i]! & 7;   // the first third: channels 0..7
  rnd.set([0, 0, 3, 0, 1, 0, 1, 0, 1, 2, 0, 0, 0, 0, 5, 1, 1, 1, 255, 0, 0, 0, 0, 255]);
  return rnd;
}

function cv2Grey(paths: string[]): Uint8Array[] {
  const script = 'import sys, cv2\nfor p in sys.argv[1:]:\n    g = cv2.imread(p, cv2.IMREAD_GRAYSCALE)\n    open(p + ".grey", "wb").write(g.tobytes())\n';
  try {
    execFileSync('/usr/bin/python3', ['-c', script, ...paths], { stdio: 'pipe' });
  } catch (e) {
    throw new Error(`cv2.imread failed (is python3-opencv installed? run: bash scripts/setup.sh --tests):\n${(e as { stderr?: Buffer }).stderr?.toString() ?? e}`);
  }
  return paths.map((p) => new Uint8Array(readFileSync(`${p}.grey`)));
}

describe('CelebAMask-HQ mask grey = cv2.imread(IMREAD_GRAYSCALE)', () => {
  it('RGB, palette and RGBA masks with coloured pixels: every pixel equal', () => {
    const n = W * H;
    const rgb = colours(n, 7);
    const rgba = new Uint8Array(4 * n);
    const alpha = bytes(n, 9);
    for (let i = 0; i < n; i++) rgba.set([rgb[3 * i]!, rgb[3 * i + 1]!, rgb[3 * i + 2]!, alpha[i]!], 4 * i);
    const palette = colours(256, 11);
    const indices = bytes(n, 13);
    const files: [string, Uint8Array][] = [
      ['rgb.png', png(2, rgb)],
      ['palette.png', png(3, indices, palette)],
      ['rgba.png', png(6, rgba)],
    ];
    const paths = files.map(([name, data]) => { const p = join(dir, name); writeFileSync(p, data); return p; });
    const want = cv2Grey(paths);
    paths.forEach((p, f) => {
      const got = maskGrey(p);
      expect([got.width, got.height]).toEqual([W, H]);
      expect(Array.from(got.grey), files[f]![0]).toEqual(Array.from(want[f]!));
    });
    // the case the issue names: cv2.cvtColor's rounded 14-bit weights would call some of these
    // pixels foreground where IMREAD_GRAYSCALE gives 0 (so the test tells the two rules apart)
    const cvt = (i: number) => (rgb[3 * i]! * 4899 + rgb[3 * i + 1]! * 9617 + rgb[3 * i + 2]! * 1868 + 8192) >> 14;
    const differs = Array.from({ length: n }, (_, i) => i).filter((i) => (cvt(i) > 0) !== (want[0]![i]! > 0)).length;
    expect(differs).toBeGreaterThan(0);
  });
});
