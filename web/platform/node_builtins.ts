// What the web build puts in place of Node's fs, path and zlib (web/vite.config.ts aliases them
// here). The engine's shared modules import them for their Node entry points (reading and writing
// files by path); a page never takes those paths: it reads Files, Blobs and URLs through
// src/runtime/formats/byte_source.ts. The file-system functions therefore say so if ever called, and the two
// pure functions the shared readers do use in a page (path joining, CRC-32) are real.

function nodeOnly(name: string): never {
  throw new Error(`${name} needs Node's file system; in a browser pass a File, Blob or URL instead`);
}

// ---- node:fs -----------------------------------------------------------------------------------
export const readFileSync = (p: unknown): never => nodeOnly(`readFileSync(${String(p)})`);
export const writeFileSync = (p: unknown): never => nodeOnly(`writeFileSync(${String(p)})`);
export const existsSync = (): boolean => false;
export const readdirSync = (p: unknown): never => nodeOnly(`readdirSync(${String(p)})`);
export const statSync = (p: unknown): never => nodeOnly(`statSync(${String(p)})`);
export const mkdirSync = (p: unknown): never => nodeOnly(`mkdirSync(${String(p)})`);
export const openSync = (p: unknown): never => nodeOnly(`openSync(${String(p)})`);
export const closeSync = (): never => nodeOnly('closeSync');
export const writeSync = (): never => nodeOnly('writeSync');
export const fsyncSync = (): never => nodeOnly('fsyncSync');
export const renameSync = (p: unknown): never => nodeOnly(`renameSync(${String(p)})`);
export const unlinkSync = (p: unknown): never => nodeOnly(`unlinkSync(${String(p)})`);
export const appendFileSync = (p: unknown): never => nodeOnly(`appendFileSync(${String(p)})`);
export const accessSync = (p: unknown): never => nodeOnly(`accessSync(${String(p)})`);
export const rmSync = (p: unknown): never => nodeOnly(`rmSync(${String(p)})`);
export const mkdtempSync = (p: unknown): never => nodeOnly(`mkdtempSync(${String(p)})`);
export const constants = {};

// ---- node:path (POSIX joining, enough for messages and names) ------------------------------------
export const join = (...parts: string[]): string => parts.filter((p) => p !== '').join('/').replace(/\/+/g, '/');
export const basename = (p: string, ext?: string): string => {
  const b = p.slice(p.lastIndexOf('/') + 1);
  return ext && b.endsWith(ext) ? b.slice(0, -ext.length) : b;
};
export const dirname = (p: string): string => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) || '/' : '.');
export const extname = (p: string): string => {
  const b = basename(p);
  const i = b.lastIndexOf('.');
  return i > 0 ? b.slice(i) : '';
};
export const delimiter = ':';

// ---- node:zlib -----------------------------------------------------------------------------------
let table: Uint32Array | undefined;
/** CRC-32 (ISO-HDLC), as zlib.crc32. */
export function crc32(bytes: Uint8Array, initial = 0): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let c = ~initial >>> 0;
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
export const inflateRawSync = (): never => {
  throw new Error('deflate-compressed zip entries are not supported in the browser (torch.save stores entries uncompressed)');
};

// ---- node:url ------------------------------------------------------------------------------------
export const fileURLToPath = (u: unknown): never => nodeOnly(`fileURLToPath(${String(u)})`);
export const pathToFileURL = (p: unknown): never => nodeOnly(`pathToFileURL(${String(p)})`);

export default {};
