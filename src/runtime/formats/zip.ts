// Minimal zip reader and writer for torch.save archives (PKWARE APPNOTE 6.3: local headers, central
// directory, end-of-central-directory record, and the zip64 EOCD, locator and extra field).
//
// Reading is strict: every record's signature is checked, every offset must lie inside the file, and
// an entry's bytes are CRC-checked when they are first read. Stored (method 0) and deflated (method 8)
// entries are supported; torch writes stored ones. Writing produces stored entries whose data starts
// on an `align`-byte boundary (torch pads with an extra field, id "FB", so storages can be mmapped),
// switching to zip64 records when a size or offset needs it, or when asked to.
import { crc32, inflateRawSync } from 'node:zlib';
import type { SparseBytes } from './byte_source.js';

export interface ZipEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  /** Offset of the entry's local header. */
  headerOffset: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const U32_MAX = 0xffffffff;

/**
 * The archive's bytes: the whole file, or a SparseBytes (./byte_source.ts) that loads ranges on
 * demand, so that a 1 GB checkpoint is read without being held.
 */
export type ZipBytes = Uint8Array | SparseBytes;

/** Reads a zip archive's central directory; entries are read on demand with `read`. */
export class ZipReader {
  readonly entries = new Map<string, ZipEntry>();
  private readonly view: Pick<DataView, 'getUint16' | 'getUint32' | 'getBigUint64'>;

  constructor(readonly file: ZipBytes, readonly path: string) {
    this.view = file instanceof Uint8Array ? new DataView(file.buffer, file.byteOffset, file.byteLength) : file.view;
    const eocd = this.findEocd();
    let count = this.view.getUint16(eocd + 10, true);
    let cdSize: number = this.view.getUint32(eocd + 12, true);
    let cdOffset: number = this.view.getUint32(eocd + 16, true);
    if (eocd >= 20 && this.view.getUint32(eocd - 20, true) === SIG_ZIP64_LOCATOR) {
      const at = this.u64(eocd - 20 + 8, 'zip64 EOCD offset');
      if (at + 56 > eocd - 20 || this.view.getUint32(at, true) !== SIG_ZIP64_EOCD) {
        throw new Error(`${path}: corrupt zip: zip64 locator points at ${at}, where there is no zip64 end-of-central-directory record`);
      }
      count = this.u64(at + 32, 'zip64 entry count');
      cdSize = this.u64(at + 40, 'zip64 central directory size');
      cdOffset = this.u64(at + 48, 'zip64 central directory offset');
    } else if (count === 0xffff || cdSize === U32_MAX || cdOffset === U32_MAX) {
      throw new Error(`${path}: corrupt zip: the EOCD record asks for zip64 but there is no zip64 locator`);
    }
    if (cdOffset + cdSize > file.byteLength) {
      throw new Error(`${path}: corrupt or truncated zip: central directory [${cdOffset}, ${cdOffset + cdSize}) lies beyond the end of the file (${file.byteLength} bytes)`);
    }
    let at = cdOffset;
    for (let i = 0; i < count; i++) {
      if (at + 46 > cdOffset + cdSize || this.view.getUint32(at, true) !== SIG_CENTRAL) {
        throw new Error(`${path}: corrupt zip: central directory entry ${i} of ${count} at offset ${at} has no valid signature`);
      }
      const flags = this.view.getUint16(at + 8, true);
      const method = this.view.getUint16(at + 10, true);
      const crc = this.view.getUint32(at + 16, true);
      let compressedSize: number = this.view.getUint32(at + 20, true);
      let size: number = this.view.getUint32(at + 24, true);
      const nameLen = this.view.getUint16(at + 28, true);
      const extraLen = this.view.getUint16(at + 30, true);
      const commentLen = this.view.getUint16(at + 32, true);
      let headerOffset: number = this.view.getUint32(at + 42, true);
      const name = new TextDecoder().decode(file.subarray(at + 46, at + 46 + nameLen));
      if (flags & 1) throw new Error(`${path}: zip entry ${name} is encrypted`);
      // zip64 extra field: the 8-byte values present are exactly those whose 4-byte field is 0xFFFFFFFF, in this order.
      const extraEnd = at + 46 + nameLen + extraLen;
      if (extraEnd + commentLen > cdOffset + cdSize) {
        throw new Error(`${path}: corrupt zip: central directory entry ${i} (${name}) runs past the end of the central directory`);
      }
      for (let x = at + 46 + nameLen; x + 4 <= extraEnd;) {
        const id = this.view.getUint16(x, true);
        const len = this.view.getUint16(x + 2, true);
        if (id === 0x0001) {
          let p = x + 4;
          const next = (what: string): number => {
            if (p + 8 > x + 4 + len) throw new Error(`${path}: corrupt zip: zip64 extra field of ${name} lacks the ${what}`);
            const v = this.u64(p, `${name} ${what}`);
            p += 8;
            return v;
          };
          if (size === U32_MAX) size = next('size');
          if (compressedSize === U32_MAX) compressedSize = next('compressed size');
          if (headerOffset === U32_MAX) headerOffset = next('header offset');
        }
        x += 4 + len;
      }
      this.entries.set(name, { name, method, crc, compressedSize, size, headerOffset });
      at = extraEnd + commentLen;
    }
  }

  /** The entry's uncompressed bytes (a view into the file for stored entries), CRC-checked. */
  read(name: string): Uint8Array {
    const e = this.entries.get(name);
    if (!e) throw new Error(`${this.path}: zip entry ${name} is missing`);
    const at = e.headerOffset;
    if (at + 30 > this.file.byteLength || this.view.getUint32(at, true) !== SIG_LOCAL) {
      throw new Error(`${this.path}: corrupt zip: entry ${name} has no local header at offset ${at}`);
    }
    const start = at + 30 + this.view.getUint16(at + 26, true) + this.view.getUint16(at + 28, true);
    if (start + e.compressedSize > this.file.byteLength) {
      throw new Error(`${this.path}: zip entry ${name}: data [${start}, ${start + e.compressedSize}) lies beyond the end of the file (truncated? ${this.file.byteLength} bytes)`);
    }
    const raw = this.file.subarray(start, start + e.compressedSize);
    let data: Uint8Array;
    if (e.method === 0) {
      if (e.compressedSize !== e.size) throw new Error(`${this.path}: zip entry ${name} is stored but its sizes differ (${e.compressedSize} vs ${e.size})`);
      data = raw;
    } else if (e.method === 8) {
      // at most the declared size (+1 to tell "longer" from "exact"): a deflate bomb stops there
      try { data = inflateRawSync(raw, { maxOutputLength: e.size + 1 }); } catch (err) { throw new Error(`${this.path}: zip entry ${name}: cannot inflate (${(err as Error).message})`); }
      if (data.byteLength !== e.size) throw new Error(`${this.path}: zip entry ${name} inflates to ${data.byteLength} bytes, expected ${e.size}`);
    } else {
      throw new Error(`${this.path}: zip entry ${name} uses compression method ${e.method}; only stored (0) and deflate (8) are supported`);
    }
    const crc = crc32(data) >>> 0;
    if (crc !== e.crc) throw new Error(`${this.path}: zip entry ${name} is corrupt (CRC-32 ${hex(crc)}, expected ${hex(e.crc)})`);
    return data;
  }

  private findEocd(): number {
    const n = this.file.byteLength;
    // The EOCD record is 22 bytes plus a comment of up to 65535 bytes, at the end of the file.
    for (let at = n - 22; at >= Math.max(0, n - 22 - 0xffff); at--) {
      if (this.view.getUint32(at, true) === SIG_EOCD && at + 22 + this.view.getUint16(at + 20, true) === n) return at;
    }
    const looksZip = n >= 4 && this.view.getUint32(0, true) === SIG_LOCAL;
    throw new Error(looksZip
      ? `${this.path}: truncated zip (${n} bytes; starts like a zip but has no end-of-central-directory record)`
      : `${this.path}: not a zip archive (no end-of-central-directory record in ${n} bytes)`);
  }

  private u64(at: number, what: string): number {
    const v = this.view.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${this.path}: corrupt zip: ${what} ${v} is too large`);
    return Number(v);
  }
}

function hex(v: number): string { return `0x${v.toString(16).padStart(8, '0')}`; }

// ---- writer

export interface ZipWriteEntry { name: string; data: Uint8Array }
export interface ZipWriteOptions {
  /** Data of every entry starts on a multiple of this (torch uses 64). */
  align?: number;
  /** Write zip64 records even when no size or offset needs them (tests the zip64 path on small files). */
  zip64?: boolean;
}

/** Builds a zip archive of stored (uncompressed) entries. */
export function encodeZip(entries: readonly ZipWriteEntry[], opts: ZipWriteOptions = {}): Uint8Array {
  const align = opts.align ?? 64;
  const names = entries.map((e) => new TextEncoder().encode(e.name));
  const total = entries.reduce((a, e) => a + e.data.byteLength, 0);
  // Upper bound of every header's size; zip64 is needed once an offset or size passes 32 bits.
  const bound = total + entries.length * (30 + 20 + 4 + align + 46 + 28) + names.reduce((a, n) => a + 2 * n.byteLength, 0) + 98;
  const zip64 = opts.zip64 === true || bound >= U32_MAX;
  const out = new Uint8Array(bound);
  const view = new DataView(out.buffer);
  const DOS_DATE = (0 << 9) | (1 << 5) | 1; // 1980-01-01, the earliest DOS date
  const version = zip64 ? 45 : 20;
  let at = 0;
  const central: { crc: number; size: number; offset: number }[] = [];
  entries.forEach((e, i) => {
    const name = names[i]!;
    const crc = crc32(e.data) >>> 0;
    const offset = at;
    const base = at + 30 + name.byteLength + (zip64 ? 20 : 0);
    const pad = base % align === 0 ? -1 : (align - ((base + 4) % align)) % align;
    const extraLen = (zip64 ? 20 : 0) + (pad >= 0 ? 4 + pad : 0);
    view.setUint32(at, SIG_LOCAL, true);
    view.setUint16(at + 4, version, true);
    view.setUint16(at + 12, DOS_DATE, true);
    view.setUint32(at + 14, crc, true);
    view.setUint32(at + 18, zip64 ? U32_MAX : e.data.byteLength, true);
    view.setUint32(at + 22, zip64 ? U32_MAX : e.data.byteLength, true);
    view.setUint16(at + 26, name.byteLength, true);
    view.setUint16(at + 28, extraLen, true);
    out.set(name, at + 30);
    at += 30 + name.byteLength;
    if (zip64) {
      view.setUint16(at, 0x0001, true);
      view.setUint16(at + 2, 16, true);
      view.setBigUint64(at + 4, BigInt(e.data.byteLength), true);
      view.setBigUint64(at + 12, BigInt(e.data.byteLength), true);
      at += 20;
    }
    if (pad >= 0) {
      view.setUint16(at, 0x4246, true); // "FB", torch's padding field
      view.setUint16(at + 2, pad, true);
      out.fill(0x5a, at + 4, at + 4 + pad); // 'Z'
      at += 4 + pad;
    }
    out.set(e.data, at);
    at += e.data.byteLength;
    central.push({ crc, size: e.data.byteLength, offset });
  });
  const cdOffset = at;
  entries.forEach((_, i) => {
    const name = names[i]!;
    const c = central[i]!;
    view.setUint32(at, SIG_CENTRAL, true);
    view.setUint16(at + 4, version, true);
    view.setUint16(at + 6, version, true);
    view.setUint16(at + 14, DOS_DATE, true);
    view.setUint32(at + 16, c.crc, true);
    view.setUint32(at + 20, zip64 ? U32_MAX : c.size, true);
    view.setUint32(at + 24, zip64 ? U32_MAX : c.size, true);
    view.setUint16(at + 28, name.byteLength, true);
    view.setUint16(at + 30, zip64 ? 28 : 0, true);
    view.setUint32(at + 42, zip64 ? U32_MAX : c.offset, true);
    out.set(name, at + 46);
    at += 46 + name.byteLength;
    if (zip64) {
      view.setUint16(at, 0x0001, true);
      view.setUint16(at + 2, 24, true);
      view.setBigUint64(at + 4, BigInt(c.size), true);
      view.setBigUint64(at + 12, BigInt(c.size), true);
      view.setBigUint64(at + 20, BigInt(c.offset), true);
      at += 28;
    }
  });
  const cdSize = at - cdOffset;
  if (zip64) {
    const eocd64 = at;
    view.setUint32(at, SIG_ZIP64_EOCD, true);
    view.setBigUint64(at + 4, 44n, true);
    view.setUint16(at + 12, 45, true);
    view.setUint16(at + 14, 45, true);
    view.setBigUint64(at + 24, BigInt(entries.length), true);
    view.setBigUint64(at + 32, BigInt(entries.length), true);
    view.setBigUint64(at + 40, BigInt(cdSize), true);
    view.setBigUint64(at + 48, BigInt(cdOffset), true);
    at += 56;
    view.setUint32(at, SIG_ZIP64_LOCATOR, true);
    view.setBigUint64(at + 8, BigInt(eocd64), true);
    view.setUint32(at + 16, 1, true);
    at += 20;
  }
  view.setUint32(at, SIG_EOCD, true);
  view.setUint16(at + 8, zip64 ? 0xffff : entries.length, true);
  view.setUint16(at + 10, zip64 ? 0xffff : entries.length, true);
  view.setUint32(at + 12, zip64 ? U32_MAX : cdSize, true);
  view.setUint32(at + 16, zip64 ? U32_MAX : cdOffset, true);
  at += 22;
  return out.subarray(0, at);
}
