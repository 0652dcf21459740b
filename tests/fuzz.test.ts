// Seeded mutation fuzzing of every file reader that takes bytes from a user: zip, pickle, torch
// checkpoint, safetensors, npy, PNG and JPEG (through decodeImage, the public entry).
//
// Each reader gets valid seed files (written by our own writers, and the PyTorch / Pillow / libjpeg
// fixtures), then ≥ 2,000 inputs made from them by a seeded generator: truncations, bit flips,
// "interesting" bytes, huge 16/32/64-bit lengths and counts written over random offsets (which is
// where lengths, counts and offsets live), deleted and duplicated ranges, splices between seeds,
// plus hand-built deep nesting (pickle lists/tuples/dicts, JSON, npy shapes). Every input must end
// in a result or an Error naming the input (no crash, no other exception type escaping unnamed, no
// hang: each input must finish within SLOW_MS), keep no more than a bounded multiple of its size
// (MAX_RETAINED), and the whole run must not grow the process's peak RSS by more than PEAK_RSS_MB
// (a transient allocation a hostile length asked for). No pickle may run code: a marker file that
// pickled os.system / eval / subprocess calls would create must not appear.
//
// Why a loop of our own rather than fast-check: the inputs are byte mutations of seed files, not
// values drawn from types, and a failing input is kept as a file (tests/fixtures/fuzz/<reader>/),
// not shrunk; a 60-line seeded generator does exactly that with no dependency.
//
// Failing inputs found while writing the readers' fixes are replayed first (regression fixtures).
// FUZZ_SAVE=1 writes any new failing input there; FUZZ_INPUTS=N changes the count per reader.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodePickle, PyObject, unpickle } from '../src/runtime/formats/pickle.js';
import { encodeSafetensors, parseSafetensors } from '../src/runtime/formats/safetensors.js';
import { encodeTorchCheckpoint, parseTorchCheckpoint, torchTensor } from '../src/runtime/formats/torch_checkpoint.js';
import { encodeZip, ZipReader } from '../src/runtime/formats/zip.js';
import { crc32, decodeImage, encodePng } from '../src/train/image/decode.js';
import { decodeNpy, encodeNpy } from '../src/runtime/formats/npy.js';
import { rng as uniform } from '../src/train/random.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = join(root, 'tests/fixtures/fuzz');
const INPUTS = Number(process.env.FUZZ_INPUTS ?? 2000);
const SLOW_MS = 1000;
const PEAK_RSS_MB = 512;
const MARKER = join(tmpdir(), `segface-fuzz-pickle-ran-code-${process.pid}`);

// ---- the generator

/** A seeded stream of uint32: the project's mulberry32 (train/random.ts), scaled back to integers. */
function rng(seed: number): () => number {
  const next = uniform(seed);
  return () => next() * 4294967296;
}

const HUGE32 = [0xffffffff, 0x7fffffff, 0x80000000, 0x40000000, 0xfffffffe, 0x10000];
const HUGE64 = [0xffffffffffffffffn, 0x7fffffffffffffffn, 0x1fffffffffffffn, 0x100000000n, 0xffffffffn];

/** One mutated copy of a seed (1–3 stacked mutations). */
function mutate(seeds: readonly Uint8Array[], next: () => number): Uint8Array {
  let b: Uint8Array = Uint8Array.from(seeds[next() % seeds.length]!);
  const pick = (n: number): number => (n > 0 ? next() % n : 0);
  for (let m = 1 + pick(3); m > 0; m--) {
    const at = pick(b.length);
    switch (pick(9)) {
      case 0: b = b.slice(0, pick(b.length)); break;                                        // truncate
      case 1: for (let k = 1 + pick(8); k > 0; k--) b[pick(b.length)] ^= 1 << pick(8); break; // flip bits
      case 2: b[at] = [0, 1, 0x7f, 0x80, 0xff][pick(5)]!; break;                              // interesting byte
      case 3: if (at + 4 <= b.length) new DataView(b.buffer).setUint32(at, HUGE32[pick(HUGE32.length)]!, pick(2) === 0); break;
      case 4: if (at + 8 <= b.length) new DataView(b.buffer).setBigUint64(at, HUGE64[pick(HUGE64.length)]!, pick(2) === 0); break;
      case 5: if (at + 2 <= b.length) new DataView(b.buffer).setUint16(at, [0xffff, 0x8000, 0][pick(3)]!, pick(2) === 0); break;
      case 6: { const n = pick(Math.min(64, b.length - at) + 1); b = concat(b.subarray(0, at), b.subarray(at + n)); break; }  // delete
      case 7: { const n = pick(Math.min(256, b.length - at) + 1); b = concat(b.subarray(0, at + n), b.subarray(at, at + n), b.subarray(at + n)); break; } // duplicate
      default: { // splice: this seed's head, another seed's tail
        const o = seeds[pick(seeds.length)]!;
        b = concat(b.subarray(0, at), o.subarray(pick(o.length)));
      }
    }
  }
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

// ---- the oracle

/** Bytes the result keeps alive beyond the input itself: typed arrays (distinct buffers) and strings. */
function retained(result: unknown, input: Uint8Array): number {
  const seenBuf = new Set<ArrayBufferLike>([input.buffer]);
  const seen = new Set<object>();
  const todo: unknown[] = [result];
  let bytes = 0;
  while (todo.length) {
    const x = todo.pop();
    if (typeof x === 'string') { bytes += 2 * x.length; continue; }
    if (x === null || typeof x !== 'object' || seen.has(x)) continue;
    seen.add(x);
    if (ArrayBuffer.isView(x)) {
      if (!seenBuf.has(x.buffer)) { seenBuf.add(x.buffer); bytes += x.buffer.byteLength; }
      continue;
    }
    if (x instanceof Map) for (const [k, v] of x) todo.push(k, v);
    else if (x instanceof Set) for (const v of x) todo.push(v);
    else for (const v of Object.values(x)) todo.push(v);
    bytes += 16;
  }
  return bytes;
}

interface Reader {
  name: string;
  seeds: Uint8Array[];
  /** Hand-built hostile inputs (deep nesting and the like), run before the mutations. */
  crafted?: Uint8Array[];
  /** Parses fully (every entry, every tensor decoded); `name` must appear in any error. */
  parse(bytes: Uint8Array, name: string): unknown;
  /** Result bytes allowed per input byte (a decoded image may legitimately expand; see below). */
  factor: number;
}

/** Why an input failed (null: it did not), and whether it parsed (else it ended in a named error). */
function check(r: Reader, bytes: Uint8Array, name: string): { why: string | null; parsed: boolean } {
  const out = checkOne(r, bytes, name);
  return typeof out === 'string' ? { why: out, parsed: false } : { why: null, parsed: out };
}

function checkOne(r: Reader, bytes: Uint8Array, name: string): string | boolean {
  const t0 = performance.now();
  let result: unknown;
  try {
    result = r.parse(bytes, name);
  } catch (e) {
    const ms = performance.now() - t0;
    if (!(e instanceof Error)) return `threw a non-Error: ${String(e)}`;
    if (!e.message.includes(name)) return `${e.constructor.name} that does not name the input: ${e.message.slice(0, 300)}`;
    if (ms > SLOW_MS) return `took ${ms.toFixed(0)} ms to fail`;
    return false;
  }
  const ms = performance.now() - t0;
  if (ms > SLOW_MS) return `took ${ms.toFixed(0)} ms`;
  const kept = retained(result, bytes);
  if (kept > r.factor * bytes.length + 65536) return `keeps ${kept} bytes for a ${bytes.length}-byte input`;
  return true;
}

function fixtureName(r: Reader, bytes: Uint8Array): string {
  return join(FIXTURES, r.name, `${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.bin`);
}

// ---- the readers and their seeds

const fixtureFiles = (dir: string, ext: string): Uint8Array[] =>
  readdirSync(join(root, dir)).filter((f) => f.endsWith(ext)).sort().map((f) => new Uint8Array(readFileSync(join(root, dir, f))));

/** Pickles that would run code if an unpickler called what they name (GLOBAL, args, REDUCE). */
const EVIL_PICKLES = [
  ['os\nsystem\n', [`touch ${MARKER}`]],
  ['__builtin__\neval\n', [`require("fs").writeFileSync("${MARKER}", "")`]],
  ['builtins\nexec\n', [`open("${MARKER}", "w")`]],
  ['subprocess\ncall\n', ['touch', MARKER]],
].map(([global, args]) => {
  const str = (x: string): number[] => { const b = ascii(x); return [0x8c, b.length, ...b]; };   // SHORT_BINUNICODE
  const argv = (args as string[]).flatMap(str);
  // c<module>\n<name>\n ( <strs> t R .   — GLOBAL, MARK, the strings, TUPLE, REDUCE, STOP
  return Uint8Array.from([0x80, 0x02, 0x63, ...ascii(global as string), 0x28, ...argv, 0x74, 0x52, 0x2e]);
});

/** Nesting `depth` deep: lists, tuples, dicts (protocol 2). */
function deepPickles(depth: number): Uint8Array[] {
  const head = [0x80, 0x02];
  const lists = [...head, ...new Array(depth).fill(0x5d), ...new Array(depth - 1).fill(0x61), 0x2e];         // ]]]…aaa.
  const tuples = [...head, 0x29, ...new Array(depth).fill(0x85), 0x2e];                                      // ) then TUPLE1 × depth
  const dicts = [...head, 0x7d, ...new Array(depth).fill([0x4b, 1, 0x7d]).flat(), ...new Array(depth).fill(0x73), 0x2e]; // {K1{K1{…sss
  const marks = [...head, ...new Array(depth).fill(0x28), 0x4e, 0x2e];                                       // ((((…N.
  return [lists, tuples, dicts, marks].map((a) => Uint8Array.from(a));
}

/** Lengths and counts a reader must not trust: a negative BINSTRING length (moved the reader
 *  backwards: an endless loop), a 1 MB LONG4 (decoded in quadratic time), 200k APPENDS items
 *  (spread into one call: stack overflow), a BINUNICODE8 length of 2^63. */
function hostilePickles(): Uint8Array[] {
  const n = 200_000;
  return [
    Uint8Array.from([0x80, 0x02, 0x54, 0xfb, 0xff, 0xff, 0xff, 0x2e]),
    Uint8Array.from([0x80, 0x02, 0x8b, 0x00, 0x00, 0x10, 0x00, ...new Array(1 << 20).fill(0x7f), 0x2e]),
    Uint8Array.from([0x80, 0x02, 0x5d, 0x28, ...new Array(n).fill(0x4e), 0x65, 0x2e]),
    Uint8Array.from([0x80, 0x02, 0x8d, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x2e]),
  ];
}

function pickleReader(): Reader {
  const seeds = [
    encodePickle({ a: 1, b: [1.5, 'two', 3n ** 40n, null, true], c: new Map<string, unknown>([['x', new Uint8Array([1, 2, 3])]]) } as Record<string, unknown>),
    encodePickle([[], [[]], 'é', -1, 2 ** 40] as never),
    ...EVIL_PICKLES,
  ];
  for (const f of ['checkpoint.pt', 'state_dict.pt']) {
    const z = new ZipReader(new Uint8Array(readFileSync(join(root, 'tests/fixtures/torch', f))), f);
    const pkl = [...z.entries.keys()].find((n) => n.endsWith('data.pkl'))!;
    seeds.push(Uint8Array.from(z.read(pkl)));
  }
  return {
    name: 'pickle', seeds, crafted: [...deepPickles(20_000), ...hostilePickles()], factor: 64,
    parse: (b, name) => unpickle(b, name, { persistentLoad: (pid) => new PyObject('persistent', [pid]) }),
  };
}

/** A deflated entry that declares 10 bytes and inflates to 64 MB (a deflate bomb, ~64 kB). */
function deflateBomb(): Uint8Array {
  const z = encodeZip([{ name: 'bomb', data: deflateRawSync(new Uint8Array(64 << 20)) }]);
  const v = new DataView(z.buffer);
  const central = z.length - 22 - (46 + 'bomb'.length);
  v.setUint16(8, 8, true);                       // local header: method deflate
  v.setUint16(central + 10, 8, true);            // central directory: method deflate
  v.setUint32(central + 24, 10, true);           // uncompressed size 10
  return z;
}

function zipReader(): Reader {
  const rnd = rng(1);
  const blob = Uint8Array.from({ length: 300 }, () => rnd() & 255);
  const seeds = [
    encodeZip([{ name: 'a/data.pkl', data: ascii('hello') }, { name: 'a/data/0', data: blob }], { align: 64 }),
    encodeZip([{ name: 'x', data: blob }, { name: 'y/z', data: new Uint8Array(0) }], { zip64: true }),
    ...fixtureFiles('tests/fixtures/torch', '.pt'),
  ];
  return {
    name: 'zip', seeds, crafted: [deflateBomb()], factor: 4,
    parse: (b, name) => { const z = new ZipReader(b, name); return [...z.entries.keys()].map((k) => z.read(k)); },
  };
}

function torchReader(): Reader {
  const deepZip = deepPickles(20_000).map((p) => encodeZip([{ name: 'archive/data.pkl', data: p }, { name: 'archive/version', data: ascii('3\n') }]));
  const seeds = [
    encodeTorchCheckpoint({ w: torchTensor([2, 3], Float32Array.from([1, 2, 3, 4, 5, 6])), n: torchTensor([4], Int32Array.from([1, -2, 3, 4])), meta: { epoch: 3 } } as never),
    encodeTorchCheckpoint({ w: torchTensor([5], Float32Array.from([1, 2, 3, 4, 5])) } as never, { zip64: true }),
    ...fixtureFiles('tests/fixtures/torch', '.pt').filter((b) => !new TextDecoder('latin1').decode(b).includes('byteorderbig')),
  ];
  return { name: 'torch-checkpoint', seeds, crafted: deepZip, factor: 16, parse: (b, name) => parseTorchCheckpoint(b, name) };
}

function safetensorsReader(): Reader {
  const seeds = [
    encodeSafetensors({ a: { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }, b: { shape: [3], data: Int32Array.from([7, 8, 9]) } }, { note: 'x' }),
    encodeSafetensors({ empty: { shape: [0, 4], data: new Float32Array(0) }, s: { shape: [], data: Float32Array.from([2]) } }),
  ];
  // hand-written headers: the dtypes our writer does not produce, and deep JSON
  const header = (h: string, data: Uint8Array): Uint8Array => {
    const text = ascii(h);
    const out = new Uint8Array(8 + text.length + data.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
    out.set(text, 8);
    out.set(data, 8 + text.length);
    return out;
  };
  seeds.push(header('{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"l":{"dtype":"I64","shape":[1],"data_offsets":[4,12]},"f":{"dtype":"F64","shape":[1],"data_offsets":[12,20]}}',
    Uint8Array.from([0, 60, 0, 192, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 240, 63])));
  const crafted = [
    header(`{"a":${'['.repeat(50_000)}${']'.repeat(50_000)}}`, new Uint8Array(0)),
    header(`{"a":{"dtype":"F32","shape":[${new Array(20_000).fill(1).join(',')}],"data_offsets":[0,4]}}`, new Uint8Array(4)),
    header('null', new Uint8Array(0)),
    header('{"a":{"dtype":"F32","shape":[1],"data_offsets":5}}', new Uint8Array(4)),
    header('{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}', new Uint8Array(4)),
  ];
  return { name: 'safetensors', seeds, crafted, factor: 8, parse: (b, name) => parseSafetensors(b, name) };
}

function npyReader(): Reader {
  const v2 = (header: string, data: Uint8Array): Uint8Array => {
    const text = ascii(header);
    const out = new Uint8Array(12 + text.length + data.length);
    out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0]);
    new DataView(out.buffer).setUint32(8, text.length, true);
    out.set(text, 12);
    out.set(data, 12 + text.length);
    return out;
  };
  const seeds = [
    encodeNpy(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]),
    encodeNpy(new Float32Array(0), [0]),
    v2("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }\n", Uint8Array.from([1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0])),
    v2("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }\n", Uint8Array.from([1, 2, 3, 4])),
  ];
  const crafted = [
    v2(`{'descr': '<f4', 'fortran_order': False, 'shape': (${new Array(20_000).fill('1').join(', ')}), }\n`, new Uint8Array(4)),
    v2(`{'descr': '<f4', 'fortran_order': False, 'shape': (${'('.repeat(20_000)}), }\n`, new Uint8Array(4)),
    v2("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, -4), }\n", new Uint8Array(16)),
  ];
  return { name: 'npy', seeds, crafted, factor: 4, parse: (b, name) => decodeNpy(b, name) };
}

// Images legitimately expand: deflate reaches ~1,032:1 and a PNG pixel can be 1 bit (RGB out: 24×),
// a JPEG 8×8 block of the first component costs ≥ 1 bit (RGB out: 3 · 64 · 8 per byte); the bound on what a decoded image keeps is therefore its
// format's expansion, not a small factor. What must hold is that dimensions the data cannot fill
// are refused before anything of their size is allocated (peak RSS, below).
function pngReader(): Reader {
  const rnd = rng(2);
  const seeds = [
    encodePng({ width: 5, height: 4, rgb: Uint8Array.from({ length: 60 }, () => rnd() & 255) }),
    encodePng({ width: 7, height: 3, gray: Uint8Array.from({ length: 21 }, () => rnd() & 255) }),
    ...readdirSync(join(root, 'tests/fixtures/images')).filter((f) => f.endsWith('.png') && (f.startsWith('fmt_') || f.startsWith('exif_1') || f.includes('tiny')))
      .sort().map((f) => new Uint8Array(readFileSync(join(root, 'tests/fixtures/images', f)))),
  ];
  // 30000 × 30000 declared in IHDR (CRC fixed up), a few bytes of pixels
  const huge = Uint8Array.from(seeds[0]!);
  const v = new DataView(huge.buffer);
  v.setUint32(16, 30000);
  v.setUint32(20, 30000);
  v.setUint32(29, crc32(huge.subarray(12, 29)));
  return { name: 'png', seeds, crafted: [huge], factor: 24 * 1100, parse: (b, name) => decodeImage(b, name) };
}

function jpegReader(): Reader {
  // every fixture libjpeg-turbo decodes: not the arithmetic-coded one (SOF9, FF C9: a marker only,
  // since entropy-coded data stuffs each FF with 00), which the decoder refuses by design
  const sof9 = (b: Uint8Array) => b.some((x, i) => x === 0xff && b[i + 1] === 0xc9);
  const seeds = fixtureFiles('tests/fixtures/images', '.jpg').filter((b) => !sof9(b));
  // 60000 × 60000 declared in the first SOF, the scan data of a small image
  const huge = Uint8Array.from(seeds[0]!);
  for (let at = 2; at + 9 < huge.length; at++) {
    if (huge[at] === 0xff && (huge[at + 1] === 0xc0 || huge[at + 1] === 0xc2)) { new DataView(huge.buffer).setUint16(at + 5, 60000); new DataView(huge.buffer).setUint16(at + 7, 60000); break; }
  }
  return { name: 'jpeg', seeds, crafted: [huge], factor: 3 * 512 + 64, parse: (b, name) => decodeImage(b, name) };
}

const READERS = [zipReader, pickleReader, torchReader, safetensorsReader, npyReader, pngReader, jpegReader];

describe('fuzzed file readers: every input ends in a result or a named error', () => {
  const peakAtStart = process.resourceUsage().maxRSS;
  rmSync(MARKER, { force: true });

  for (const make of READERS) {
    const r = make();
    it(`${r.name}: seeds parse, fixtures and ${INPUTS} mutations end cleanly`, () => {
      // seeds are valid files (EVIL_PICKLES included: they parse to inert objects)
      r.seeds.forEach((s, i) => expect(() => r.parse(s, `${r.name}-seed-${i}`), `${r.name} seed ${i}`).not.toThrow());
      const failures: string[] = [];
      const save = (bytes: Uint8Array, why: string, label: string): void => {
        failures.push(`${label}: ${why}`);
        if (process.env.FUZZ_SAVE) { const f = fixtureName(r, bytes); mkdirSync(dirname(f), { recursive: true }); writeFileSync(f, bytes); }
      };
      const fixtureDir = join(FIXTURES, r.name);
      const fixtures = existsSync(fixtureDir) ? readdirSync(fixtureDir).sort() : [];
      for (const f of fixtures) {
        const { why } = check(r, new Uint8Array(readFileSync(join(fixtureDir, f))), `fixture ${r.name}/${f}`);
        if (why) failures.push(`fixture ${f}: ${why}`);
      }
      (r.crafted ?? []).forEach((b, i) => { const { why } = check(r, b, `${r.name}-crafted-${i}`); if (why) save(b, why, `crafted ${i}`); });
      const next = rng(0x5eed + r.name.length * 7919 + r.name.charCodeAt(0));
      let results = 0;
      for (let i = 0; i < INPUTS; i++) {
        const b = mutate(r.seeds, next);
        const name = `${r.name}-input-${i}`;
        const { why, parsed } = check(r, b, name);
        if (why) save(b, why, name);
        else if (parsed) results++;
      }
      console.log(`fuzz ${r.name}: ${fixtures.length} fixtures, ${r.crafted?.length ?? 0} crafted, ${INPUTS} mutations (${results} parsed, ${INPUTS - results - failures.length} named errors), ${failures.length} failures`);
      expect(failures.slice(0, 20)).toEqual([]);
    }, 120_000);
  }

  it('no pickle ran code; peak RSS stayed bounded', () => {
    expect(existsSync(MARKER), `${MARKER} exists: a pickle ran code`).toBe(false);
    const grownMb = (process.resourceUsage().maxRSS - peakAtStart) / 1024;
    console.log(`fuzz: peak RSS grew by ${grownMb.toFixed(0)} MB over all readers`);
    expect(grownMb).toBeLessThan(PEAK_RSS_MB);
  });
});
