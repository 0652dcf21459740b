import { mkdtempSync, readFileSync, writeFileSync, chmodSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeSafetensors, halfToFloat, parseSafetensors, readSafetensors, writeSafetensors } from '../src/runtime/formats/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'st-'));

function withHeader(header: object, data: Uint8Array): Uint8Array {
  const text = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

describe('safetensors', () => {
  it('round-trips float32 and int32 tensors with metadata', () => {
    const path = join(dir, 'a.safetensors');
    const w = new Float32Array([1.5, -2, 3.25, NaN, 1e-30, 7]);
    const i = new Int32Array([-3, 0, 2147483647]);
    writeSafetensors(path, { 'x.weight': { shape: [2, 3], data: w }, idx: { shape: [3], data: i } }, { note: 'hi' });
    const back = readSafetensors(path);
    expect(back.get('x.weight')!.shape).toEqual([2, 3]);
    expect(Array.from(back.get('x.weight')!.data)).toEqual(Array.from(w));
    expect(back.get('idx')!.dtype).toBe('I32');
    expect(Array.from(back.get('idx')!.data)).toEqual([-3, 0, 2147483647]);
  });
  it('decodes F16, BF16 and I64', () => {
    const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7c00]).buffer);
    const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0xc040]).buffer);
    const i64 = new Uint8Array(new BigInt64Array([5n, -7n]).buffer);
    const data = new Uint8Array([...f16, ...bf16, ...i64]);
    const t = parseSafetensors(withHeader({
      h: { dtype: 'F16', shape: [4], data_offsets: [0, 8] },
      b: { dtype: 'BF16', shape: [2], data_offsets: [8, 12] },
      l: { dtype: 'I64', shape: [2], data_offsets: [12, 28] },
    }, data), 'mem');
    expect(Array.from(t.get('h')!.data)).toEqual([1, -2, 2 ** -24, Infinity]);
    expect(Array.from(t.get('b')!.data)).toEqual([1, -3]);
    expect(Array.from(t.get('l')!.data)).toEqual([5, -7]);
    expect(halfToFloat(0x3555)).toBeCloseTo(0.33325, 5);
  });
  it('rejects truncated, foreign and inconsistent files, naming file and tensor', () => {
    const good = encodeSafetensors({ w: { shape: [4], data: new Float32Array([1, 2, 3, 4]) } });
    const truncated = join(dir, 'trunc.safetensors');
    writeFileSync(truncated, good.subarray(0, good.length - 3));
    expect(() => readSafetensors(truncated)).toThrow(/trunc\.safetensors: tensor w: data .* beyond the end of the file/);
    const foreign = join(dir, 'foreign.safetensors');
    writeFileSync(foreign, 'PK\u0003\u0004 this is a zip file, not safetensors');
    expect(() => readSafetensors(foreign)).toThrow(/foreign\.safetensors: not a safetensors file/);
    expect(() => parseSafetensors(withHeader({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), 'f')).toThrow(/f: tensor w: 8 bytes for F32\[3\]/);
    expect(() => parseSafetensors(withHeader({ w: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)), 'f')).toThrow(/unsupported dtype Q4/);
    expect(() => readSafetensors(join(dir, 'missing.safetensors'))).toThrow(/missing\.safetensors: cannot read/);
  });
  it('writes atomically: a failed write leaves the previous file intact and no temp file', () => {
    if (process.getuid?.() === 0) {
      // root ignores directory permissions; use a path whose parent is a file instead
      const path = join(dir, 'a.safetensors', 'x.safetensors');
      expect(() => writeSafetensors(path, { w: { shape: [1], data: new Float32Array([1]) } })).toThrow(/cannot write .*x\.safetensors/);
      return;
    }
    const sub = join(dir, 'ro');
    const path = join(sub, 'keep.safetensors');
    writeSafetensors(path, { w: { shape: [1], data: new Float32Array([1]) } });
    const before = readFileSync(path);
    chmodSync(sub, 0o500);
    try {
      expect(() => writeSafetensors(path, { w: { shape: [1], data: new Float32Array([2]) } })).toThrow(/cannot write/);
    } finally { chmodSync(sub, 0o700); }
    expect(readFileSync(path)).toEqual(before);
    expect(readdirSync(sub).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(existsSync(path)).toBe(true);
  });
});
