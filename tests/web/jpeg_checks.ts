// The JPEG decoder in the page against cv2.imread's pixels: the fixtures' SHA-256 from
// tests/fixtures/images/jpeg_cv2.json (tools/reference/make_jpeg_fixtures.py), as tests/train/jpeg.test.ts
// checks them in Node, here on the same WebAssembly decoder inside the browser.
import { decodeImage } from '../../src/train/image/index.js';

interface Case { size: [number, number]; sha256: string }
export interface JpegManifest { cases: (Case & { jpg: string })[]; exif: (Case & { orientation: number })[] }
export interface ExifSpec { jpg: string; offset: number; littleEndian: boolean }

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Fetches each fixture from `base` (a URL folder) and compares the decode; returns failures. */
export async function runJpegChecks(base: string, m: JpegManifest, exif: ExifSpec): Promise<{ checks: number; failures: string[] }> {
  const failures: string[] = [];
  let checks = 0;
  const fetchBytes = async (name: string) => new Uint8Array(await (await fetch(new URL(name, base))).arrayBuffer());
  const compare = async (what: string, bytes: Uint8Array, c: Case) => {
    checks++;
    try {
      const img = decodeImage(bytes, what);
      if (img.width !== c.size[0] || img.height !== c.size[1]) failures.push(`${what}: ${img.width}×${img.height}, cv2 ${c.size.join('×')}`);
      else if (await sha256(img.rgb) !== c.sha256) failures.push(`${what}: pixels differ from cv2.imread's`);
    } catch (e) {
      failures.push((e as Error).message);
    }
  };
  for (const c of m.cases.filter((k) => !k.jpg.includes('arithmetic'))) await compare(c.jpg, await fetchBytes(c.jpg), c);
  const base8 = await fetchBytes(exif.jpg);
  for (const c of m.exif) {
    const bytes = base8.slice();
    new DataView(bytes.buffer).setUint16(exif.offset, c.orientation, exif.littleEndian);
    await compare(`${exif.jpg} orientation ${c.orientation}`, bytes, c);
  }
  return { checks, failures };
}
