// The JPEG decoder (libjpeg-turbo in WebAssembly, src/train/image/jpeg.ts) against cv2.imread:
// bit-exact, in every chroma layout and coding mode of the fixtures, and for all eight EXIF
// orientations; arithmetic coding (not in the WebAssembly build) is refused by name. The expected pixels' SHA-256 come from tools/reference/make_jpeg_fixtures.py
// (OpenCV 4.6 on Debian's libjpeg62-turbo), so the test needs no Python.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/train/image/index.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'images');
interface Case { size: [number, number]; sha256: string }
const CV2 = JSON.parse(readFileSync(join(FIX, 'jpeg_cv2.json'), 'utf8')) as {
  cases: (Case & { jpg: string })[]; exif: (Case & { orientation: number })[];
};
const M = JSON.parse(readFileSync(join(FIX, 'manifest.json'), 'utf8')) as { exif: { jpg: string; offset: number; littleEndian: boolean } };

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('JPEG decoding is bit-exact with cv2.imread (libjpeg-turbo: islow IDCT, fancy upsampling)', () => {
  it('covers every layout: grey, 4:4:4, 4:2:2, 4:2:0, 4:4:0, 4:1:1, progressive, restart markers, arithmetic', () => {
    expect(CV2.cases.map((c) => c.jpg).sort()).toEqual([
      'jpeg_411.jpg', 'jpeg_420.jpg', 'jpeg_420_arithmetic.jpg', 'jpeg_420_large.jpg', 'jpeg_420_progressive.jpg',
      'jpeg_420_restart.jpg', 'jpeg_422.jpg', 'jpeg_440.jpg', 'jpeg_444.jpg', 'jpeg_gray.jpg',
    ]);
  });

  const decodable = CV2.cases.filter((c) => c.jpg !== 'jpeg_420_arithmetic.jpg');
  it.each(decodable.map((c) => [c.jpg, c] as const))('%s', (jpg, c) => {
    const img = decodeImage(readFileSync(join(FIX, jpg)), jpg);
    expect([img.width, img.height]).toEqual(c.size);
    expect(sha256(img.rgb)).toBe(c.sha256);
  });

  it.each(CV2.exif.map((c) => [c.orientation, c] as const))('EXIF orientation %i', (o, c) => {
    const bytes = Uint8Array.from(readFileSync(join(FIX, M.exif.jpg)));
    new DataView(bytes.buffer).setUint16(M.exif.offset, o, M.exif.littleEndian);
    const img = decodeImage(bytes, `orientation ${o}`);
    expect([img.width, img.height]).toEqual(c.size);
    expect(sha256(img.rgb)).toBe(c.sha256);
  });

  it('refuses arithmetic coding by name', () => {
    expect(() => decodeImage(readFileSync(join(FIX, 'jpeg_420_arithmetic.jpg')), 'a.jpg')).toThrow(/a\.jpg: cannot decode JPEG: arithmetic-coded JPEG \(SOF marker 0xc9\) is not supported/);
  });

  it('decodes again after a corrupt file (libjpeg error_exit ends the WebAssembly instance)', () => {
    const jpg = readFileSync(join(FIX, 'jpeg_420.jpg'));
    expect(() => decodeImage(jpg.subarray(0, 40), 'head.jpg')).toThrow(/head\.jpg: cannot decode JPEG: /);
    const c = CV2.cases.find((k) => k.jpg === 'jpeg_420.jpg')!;
    expect(sha256(decodeImage(jpg, 'jpeg_420.jpg').rgb)).toBe(c.sha256);
  });
});
