// Adam7-interlaced PNGs with 1-, 2- or 4-bit samples (grey or palette), which fast-png does not
// de-interlace (it reads each pass's rows as whole bytes per pixel). Each of the 7 passes is itself
// a small non-interlaced image of the same type: its filtered rows are cut out of the inflated
// stream, decoded as a PNG of their own by fast-png (its row filters), and scattered back.
import { decode, type DecodedPng } from 'fast-png';
import { unzlibSync, zlibSync } from 'fflate';

/** Pass origin and step: (x0, y0, dx, dy). */
const PASSES = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;

interface Header { width: number; height: number; depth: number; colorType: number; interlace: number }

function header(bytes: Uint8Array): Header {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: v.getUint32(16), height: v.getUint32(20), depth: bytes[24]!, colorType: bytes[25]!, interlace: bytes[28]! };
}

/** True for the files fast-png cannot de-interlace. */
export function isInterlacedLowDepth(bytes: Uint8Array): boolean {
  const h = header(bytes);
  return h.interlace === 1 && h.depth < 8;
}

function chunk(type: string, data: Uint8Array, crc32: (b: Uint8Array) => number): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  v.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/**
 * Decodes such a file: one sample per pixel (the grey value or palette index, unpacked), row-major,
 * and the palette. `chunks` are the file's chunks (CRC-checked by the caller's reader) by type.
 */
export function decodeInterlacedLowDepth(
  bytes: Uint8Array, chunks: { type: string; data: Uint8Array }[], crc32: (b: Uint8Array) => number,
  unpack: (packed: ArrayLike<number>, perRow: number, rows: number, depth: number) => Uint8Array,
): { samples: Uint8Array; palette?: DecodedPng['palette'] } {
  const h = header(bytes);
  const idat = chunks.filter((c) => c.type === 'IDAT');
  const joined = new Uint8Array(idat.reduce((n, c) => n + c.data.length, 0));
  idat.reduce((at, c) => { joined.set(c.data, at); return at + c.data.length; }, 0);
  const stream = unzlibSync(joined);
  const plte = chunks.find((c) => c.type === 'PLTE');
  const samples = new Uint8Array(h.width * h.height);
  let palette: DecodedPng['palette'];
  let at = 0;
  for (const [x0, y0, dx, dy] of PASSES) {
    const pw = Math.ceil((h.width - x0) / dx);
    const ph = Math.ceil((h.height - y0) / dy);
    if (pw <= 0 || ph <= 0) continue;
    const length = ph * (1 + Math.ceil((pw * h.depth) / 8));
    if (at + length > stream.length) throw new Error(`interlaced image data ends in pass (${x0}, ${y0}) (truncated?)`);
    const ihdr = new Uint8Array(13);
    new DataView(ihdr.buffer).setUint32(0, pw);
    new DataView(ihdr.buffer).setUint32(4, ph);
    ihdr.set([h.depth, h.colorType, 0, 0, 0], 8);
    const parts = [bytes.subarray(0, 8), chunk('IHDR', ihdr, crc32), ...(plte ? [chunk('PLTE', plte.data, crc32)] : []),
      chunk('IDAT', zlibSync(stream.subarray(at, at + length), { level: 0 }), crc32), chunk('IEND', new Uint8Array(0), crc32)];
    const file = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((o, p) => { file.set(p, o); return o + p.length; }, 0);
    const pass = decode(file);
    palette = pass.palette;
    const values = unpack(pass.data, pw, ph, h.depth);
    for (let py = 0; py < ph; py++) for (let px = 0; px < pw; px++) samples[(y0 + py * dy) * h.width + x0 + px * dx] = values[py * pw + px]!;
    at += length;
  }
  return { samples, ...(palette ? { palette } : {}) };
}
