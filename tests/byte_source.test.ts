// Lazy checkpoint reading (src/runtime/formats/byte_source.ts, torch_lazy.ts, model/weights_file.ts's
// readStateDictFrom): an official-layout checkpoint whose optimizer state dwarfs the model is read
// from a path, a Blob and a URL (HTTP Range) with the model's bytes and the zip/pickle metadata only,
// and gives exactly what the whole-file reader gives.
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStateDict, readStateDictFrom } from '../src/model/weights_file.js';
import { fileSource, type ByteSource } from '../src/runtime/formats/byte_source.js';
import { encodeTorchCheckpoint, torchTensor } from '../src/runtime/formats/torch_checkpoint.js';
import { ZipReader } from '../src/runtime/formats/zip.js';

const dir = mkdtempSync(join(tmpdir(), 'byte-source-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Deterministic non-trivial values. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 3;
  }
  return out;
}

const OPTIM_FLOATS = 2_000_000; // 8 MB of "optimizer state" next to a 40 KB model
function officialLike(zip64: boolean): Uint8Array {
  return encodeTorchCheckpoint({
    epoch: 299,
    state_dict_backbone: {
      'backbone.0.0.0.weight': torchTensor([16, 3, 4, 4], values(768, 1)),
      'backbone.0.0.0.bias': torchTensor([16], values(16, 2)),
      'proj.weight': torchTensor([64, 128], values(8192, 3)),
    },
    optimizer: { exp_avg: torchTensor([OPTIM_FLOATS], values(OPTIM_FLOATS, 4)), step: torchTensor([1], new Int32Array([299]), { dtype: 'int64' }) },
  }, { zip64 });
}

/** Wraps a source to record every range read. */
function counting(src: ByteSource): { src: ByteSource; ranges: [number, number][] } {
  const ranges: [number, number][] = [];
  return { ranges, src: { ...src, read: (o, n) => { ranges.push([o, o + n]); return src.read(o, n); } } };
}

/** The byte range of the optimizer's storage entry (data only). */
function optimizerRange(bytes: Uint8Array): [number, number] {
  const zip = new ZipReader(bytes, 'x');
  const big = [...zip.entries.values()].find((e) => e.size === OPTIM_FLOATS * 4)!;
  const start = big.headerOffset + 30 + new DataView(bytes.buffer, bytes.byteOffset).getUint16(big.headerOffset + 26, true)
    + new DataView(bytes.buffer, bytes.byteOffset).getUint16(big.headerOffset + 28, true);
  return [start, start + big.size];
}

describe.each([false, true])('lazy torch checkpoint (zip64 %s)', (zip64) => {
  const bytes = officialLike(zip64);
  const path = join(dir, `model_${zip64}.pt`);
  writeFileSync(path, bytes);
  const expected = readStateDict(path);
  const [optBegin, optEnd] = optimizerRange(bytes);

  it('from a path: equals the whole-file reader and never touches the optimizer storage', async () => {
    const { src, ranges } = counting(await fileSource(path));
    const got = await readStateDictFrom(src);
    expect([...got.keys()]).toEqual([...expected.keys()]);
    for (const [k, t] of expected) {
      expect(got.get(k)!.shape, k).toEqual(t.shape);
      expect(got.get(k)!.data, k).toEqual(t.data);
    }
    const read = ranges.reduce((a, [b, e]) => a + e - b, 0);
    expect(read, `${read} of ${bytes.byteLength} bytes read`).toBeLessThan(5 * 64 * 1024 + 40_000);
    // Only the fixed first/last 64 KiB blocks and 64 KiB minimum reads may stray into the optimizer's storage.
    const inOptimizer = ranges.reduce((a, [b, e]) => a + Math.max(0, Math.min(e, optEnd) - Math.max(b, optBegin)), 0);
    expect(inOptimizer, `${inOptimizer} bytes of the optimizer's ${optEnd - optBegin} read`).toBeLessThanOrEqual(3 * 64 * 1024);
  });

  it('from a Blob, the same tensors', async () => {
    const got = await readStateDictFrom(new Blob([bytes]), 'model_299.pt');
    for (const [k, t] of expected) expect(got.get(k)!.data, k).toEqual(t.data);
  });
});

describe('from a URL', () => {
  const bytes = officialLike(false);
  let server: Server;
  let base = '';
  let rangeRequests = 0;
  let honourRange = true;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url !== '/model_299.pt') { res.writeHead(404).end(); return; }
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
      if (!m || !honourRange) { res.writeHead(200, { 'Content-Length': bytes.byteLength }).end(bytes); return; }
      rangeRequests++;
      const b = Number(m[1]);
      const e = Math.min(Number(m[2]), bytes.byteLength - 1);
      res.writeHead(206, { 'Content-Range': `bytes ${b}-${e}/${bytes.byteLength}`, 'Content-Length': e - b + 1 }).end(bytes.subarray(b, e + 1));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('reads with Range requests, and falls back to one download when the server ignores Range', async () => {
    const path = join(dir, 'url.pt');
    writeFileSync(path, bytes);
    const expected = readStateDict(path);
    const got = await readStateDictFrom(`${base}/model_299.pt`);
    for (const [k, t] of expected) expect(got.get(k)!.data, k).toEqual(t.data);
    expect(rangeRequests).toBeGreaterThan(2);
    honourRange = false;
    const whole = await readStateDictFrom(`${base}/model_299.pt`);
    for (const [k, t] of expected) expect(whole.get(k)!.data, k).toEqual(t.data);
  });

  it('names the URL or file in errors: 404, truncated archive', async () => {
    await expect(readStateDictFrom(`${base}/missing.pt`)).rejects.toThrow(/missing\.pt: HTTP 404/);
    await expect(readStateDictFrom(new Blob([bytes.subarray(0, 100_000)]), 'cut.pt')).rejects.toThrow(/cut\.pt: .*(truncated|not a zip)/);
    await expect(readStateDictFrom(join(dir, 'nope.pt'))).rejects.toThrow(/nope\.pt: cannot read/);
  });
});
