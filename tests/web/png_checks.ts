// PNG decoding in the page against Node's pngjs: every colour type (grey 1/8/16-bit, grey+alpha,
// RGB 8/16-bit, RGBA 8/16-bit, palette 4/8-bit, palette with tRNS, Adam7-interlaced at 1 to 16 bits). Node decodes each file with
// pngjs and OpenCV's reading rules (tests/web/png_reference.ts) and writes the SHA-256 of the RGB
// pixels to png_pngjs.json; the page decodes the same files with the engine's decoder and compares.
import { decodeImage } from '../../src/train/image/index.js';

export interface PngManifest { cases: { png: string; size: [number, number]; sha256: string }[] }

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Fetches each file of the manifest from `base` (a URL folder) and compares the decode. */
export async function runPngChecks(base: string, m: PngManifest): Promise<{ checks: number; failures: string[] }> {
  const failures: string[] = [];
  for (const c of m.cases) {
    try {
      const bytes = new Uint8Array(await (await fetch(new URL(c.png, base))).arrayBuffer());
      const img = decodeImage(bytes, c.png);
      if (img.width !== c.size[0] || img.height !== c.size[1]) failures.push(`${c.png}: ${img.width}×${img.height}, pngjs ${c.size.join('×')}`);
      else if (await sha256(img.rgb) !== c.sha256) failures.push(`${c.png}: pixels differ from Node's (pngjs)`);
    } catch (e) {
      failures.push((e as Error).message);
    }
  }
  return { checks: m.cases.length, failures };
}
