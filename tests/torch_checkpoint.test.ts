// torch.save checkpoints: the reader against fixtures written by torch itself
// (tools/reference/make_torch_fixtures.py), the writer against torch.load when python3-torch is
// installed, and every failure mode naming the file.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { encodePickle, PyPersistent, unpickle, type PyValue } from '../src/runtime/formats/pickle.js';
import { halfToFloat, readSafetensors } from '../src/runtime/formats/safetensors.js';
import {
  encodeTorchCheckpoint, floatToHalf, forEachTensor, parseTorchCheckpoint, PyDict, PyFloat, PyGlobal, PyObject, PyTuple,
  readTorchCheckpoint, torchTensor, TorchTensor, writeTorchCheckpoint, type TorchValue,
} from '../src/runtime/formats/torch_checkpoint.js';
import { encodeZip, ZipReader } from '../src/runtime/formats/zip.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'torch');
const HINT = 'HINT: rerun /usr/bin/python3 tools/reference/make_torch_fixtures.py';
const dir = mkdtempSync(join(tmpdir(), 'torch-ckpt-'));
const PY = '/usr/bin/python3';
const torchMissing = ((): string | null => {
  const r = spawnSync(PY, ['-c', 'import torch'], { encoding: 'utf8' });
  return r.status === 0 ? null : `${PY} cannot import torch (${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`;
})();

function tensors(v: TorchValue): Map<string, TorchTensor> {
  const out = new Map<string, TorchTensor>();
  forEachTensor(v, (t, p) => out.set(p, t));
  return out;
}

const MANIFEST = JSON.parse(readFileSync(join(FIX, 'manifest.json'), 'utf8')) as {
  version: number; torch: string; files: Record<string, Record<string, { dtype: string; shape: number[] }>>;
};

/** Every tensor of `v` has the manifest's dtype and shape and the values of `<name>.expected.safetensors`, by dotted path. */
function expectFixtureValues(v: TorchValue, name: string): void {
  const want = readSafetensors(join(FIX, `${name}.expected.safetensors`));
  const meta = MANIFEST.files[name]!;
  const got = tensors(v);
  expect([...got.keys()].sort(), `${name}: tensor paths. ${HINT}`).toEqual(Object.keys(meta).sort());
  expect([...want.keys()].sort(), `${name}: expected values. ${HINT}`).toEqual(Object.keys(meta).sort());
  for (const [path, w] of want) {
    const t = got.get(path)!;
    expect(t.dtype, `${name}: ${path} dtype`).toBe(meta[path]!.dtype);
    expect(t.shape, `${name}: ${path} shape`).toEqual(meta[path]!.shape);
    expect(t.data instanceof Float32Array, `${name}: ${path} array type`).toBe(w.data instanceof Float32Array);
    expect(Array.from(t.data), `${name}: ${path} values. ${HINT}`).toEqual(Array.from(w.data));
  }
}

const get = (v: TorchValue | undefined, ...keys: (string | number)[]): TorchValue => {
  let x = v as TorchValue;
  for (const k of keys) {
    if (x instanceof Map) x = x.get(k) as TorchValue;
    else if (Array.isArray(x)) x = x[k as number]!;
    else throw new Error(`no ${k} in ${String(x)}`);
  }
  return x;
};

describe('torch checkpoint reader (fixtures written by torch.save)', () => {
  it('reads a state dict: OrderedDict with _metadata, every dtype, a Parameter, views of one storage', () => {
    const sd = readTorchCheckpoint(join(FIX, 'state_dict.pt'));
    expect(sd).toBeInstanceOf(PyDict);
    const d = sd as PyDict;
    expect(d.ordered).toBe(true);
    expect([...d.keys()].slice(0, 5)).toEqual(['relative_position_index', 'proj.weight', 'proj.bias', 'norm.weight', 'norm.bias']);
    expect(get(d.attrs?.get('_metadata') ?? null, 'proj', 'version')).toBe(1);
    const t = tensors(sd);
    const dtypes = Object.fromEntries([...t].map(([k, x]) => [k, x.dtype]));
    expect(dtypes).toMatchObject({ relative_position_index: 'int64', half: 'float16', bf16: 'bfloat16', f64: 'float64', i32: 'int32', u8: 'uint8', mask: 'bool', scalar: 'float32' });
    expect(t.get('param')!.parameter).toBe(true);
    expect(t.get('param')!.requiresGrad).toBe(true);
    expect(t.get('proj.weight')!.parameter).toBe(false);
    expect(t.get('scalar')!.shape).toEqual([]);
    expect(Array.from(t.get('transposed')!.data)).toEqual([-3, -1, 1, -2.5, -0.5, 1.5, -2, 0, 2, -1.5, 0.5, 2.5]);
    expect(Array.from(t.get('row1')!.data)).toEqual([-1, -0.5, 0, 0.5]);
    expect(Array.from(t.get('half')!.data)).toEqual([1, -2, 0.333251953125, 65504, 1 * 2 ** -24]);
    expectFixtureValues(sd, 'state_dict');
  });

  it("reads model_299.pt's layout: epoch, state_dict_backbone, AdamW and MultiStepLR state, opaque globals", () => {
    const ck = readTorchCheckpoint(join(FIX, 'checkpoint.pt'));
    expect(get(ck, 'epoch')).toBe(299);
    expect(get(ck, 'iteration')).toBe(123456789012);
    expect(tensors(get(ck, 'state_dict_backbone')).get('relative_position_index')!.dtype).toBe('int64');
    const state = get(ck, 'optimizer', 'state') as PyDict;
    expect([...state.keys()]).toEqual([0, 1, 2, 3]);
    expect(Array.from((get(state, 0, 'step') as TorchTensor).data)).toEqual([2]);
    const group = get(ck, 'optimizer', 'param_groups', 0);
    expect(get(group, 'lr')).toBe(1e-3);
    expect((get(group, 'betas') as PyTuple).items).toEqual([0.9, 0.999]);
    expect(get(group, 'params')).toEqual([0, 1, 2, 3]);
    const milestones = get(ck, 'scheduler', 'milestones') as PyObject;
    expect(milestones).toBeInstanceOf(PyObject);
    expect(milestones.global).toBe('collections.Counter');
    expect([...(milestones.args[0] as PyDict)]).toEqual([[100, 1], [200, 2]]);
    const args = get(ck, 'args') as PyObject;
    expect(args.global).toBe('argparse.Namespace');
    expect(get(args.state!, 'model')).toBe('swin_base');
    expect(get(ck, 'device')).toEqual(new PyObject('torch.device', ['cuda', 0]));
    expectFixtureValues(ck, 'checkpoint');
  });

  it('keeps only the asked top-level keys, and defers decoding when lazy', () => {
    const path = join(FIX, 'checkpoint.pt');
    const only = readTorchCheckpoint(path, { keys: ['state_dict_backbone'] }) as PyDict;
    expect([...only.keys()]).toEqual(['state_dict_backbone']);
    expect([...tensors(only).values()].every((t) => !t.lazy)).toBe(true);
    const lazy = readTorchCheckpoint(path, { lazy: true });
    const all = [...tensors(lazy).values()];
    expect(all.every((t) => t.lazy)).toBe(true);
    const w = tensors(get(lazy, 'state_dict_backbone')).get('proj.weight')!;
    expect(w.data.length).toBe(6);
    expect(w.lazy).toBe(false);
    expect(all.filter((t) => t.lazy).length).toBe(all.length - 1);
    expect(() => readTorchCheckpoint(path, { keys: ['model'] })).toThrow(/checkpoint\.pt: no top-level key 'model' \(keys: epoch, iteration, state_dict_backbone/);
  });

  it("maps a storage saved on 'cuda:0' to host memory, and reads deflated entries", () => {
    const raw = readFileSync(join(FIX, 'cuda.pt'));
    expect(raw.includes('cuda:0')).toBe(true);
    for (const name of ['cuda', 'deflate']) {
      const v = readTorchCheckpoint(join(FIX, `${name}.pt`));
      expect(get(v, 'note')).toBe('saved with location cuda:0');
      expect(Array.from((get(v, 'w') as TorchTensor).data)).toEqual([0, 2, 4, 6, 8, 10]);
      expectFixtureValues(v, 'cuda');
    }
    const deflated = new ZipReader(new Uint8Array(readFileSync(join(FIX, 'deflate.pt'))), 'deflate.pt');
    expect([...deflated.entries.values()].some((e) => e.method === 8)).toBe(true);
  });
  it('reads the storage forms torch 1.13 cannot write: UntypedStorage with _rebuild_tensor_v3, dtype globals, torch.cuda.*Storage', () => {
    // Hand-built with our pickle writer: torch >= 2 may name storages by untyped bytes plus a dtype global.
    const pid = (type: string, key: string, numel: number): PyPersistent => new PyPersistent(new PyTuple(['storage', new PyGlobal(type), key, 'cuda:1', numel]));
    const hooks = new PyDict();
    const value = {
      v3: new PyObject('torch._utils._rebuild_tensor_v3', [pid('torch.storage.UntypedStorage', '0', 12), 1, new PyTuple([2]), new PyTuple([1]), false, hooks, new PyGlobal('torch.float32')]),
      half: new PyObject('torch._utils._rebuild_tensor_v2', [pid('torch.float16', '1', 2), 0, new PyTuple([2]), new PyTuple([1]), true, hooks, new PyDict()]),
      cuda: new PyObject('torch._utils._rebuild_tensor_v2', [pid('torch.cuda.LongStorage', '2', 1), 0, new PyTuple([]), new PyTuple([]), false, hooks]),
    };
    const bytes = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer);
    const file = encodeZip([
      { name: 'x/data.pkl', data: encodePickle(value) },
      { name: 'x/data/0', data: bytes(Float32Array.from([9, 1.5, -2])) },
      { name: 'x/data/1', data: bytes(Uint16Array.from([0x3c00, 0xc000])) },
      { name: 'x/data/2', data: bytes(BigInt64Array.from([-5n])) },
    ]);
    const v = parseTorchCheckpoint(file, 'torch2.pt');
    expect(Array.from((get(v, 'v3') as TorchTensor).data)).toEqual([1.5, -2]);
    expect((get(v, 'half') as TorchTensor).dtype).toBe('float16');
    expect((get(v, 'half') as TorchTensor).requiresGrad).toBe(true);
    expect(Array.from((get(v, 'half') as TorchTensor).data)).toEqual([1, -2]);
    expect(Array.from((get(v, 'cuda') as TorchTensor).data)).toEqual([-5]);
  });
});

describe('torch checkpoint reader errors name the file and the fault', () => {
  const good = readFileSync(join(FIX, 'state_dict.pt'));
  const write = (name: string, bytes: Uint8Array): string => { const p = join(dir, name); writeFileSync(p, bytes); return p; };
  const pickleZip = (pkl: Uint8Array, extra: { name: string; data: Uint8Array }[] = []): Uint8Array =>
    encodeZip([{ name: 'archive/data.pkl', data: pkl }, ...extra, { name: 'archive/version', data: new TextEncoder().encode('3\n') }]);
  const storagePid = (key: string, numel: number): PyPersistent =>
    new PyPersistent(new PyTuple(['storage', new PyGlobal('torch.FloatStorage'), key, 'cpu', numel]));
  const rebuild = (pid: PyPersistent, offset: number, shape: number[]): PyObject =>
    new PyObject('torch._utils._rebuild_tensor_v2', [pid, offset, new PyTuple(shape), new PyTuple(shape.map(() => 1)), false, new PyDict()]);

  const cases: { name: string; make: () => string; error: RegExp }[] = [
    { name: 'truncated file', make: () => write('trunc.pt', good.subarray(0, good.length - 100)), error: /trunc\.pt: truncated zip .* no end-of-central-directory record/ },
    { name: 'zip without data.pkl', make: () => join(FIX, 'no_pickle.zip'), error: /no_pickle\.zip: not a torch checkpoint: the zip has no <archive>\/data\.pkl \(entries: archive\/version\)/ },
    { name: 'safetensors passed as .pt', make: () => join(FIX, 'state_dict.expected.safetensors'), error: /state_dict\.expected\.safetensors: not a torch checkpoint: this looks like a safetensors file/ },
    { name: 'random bytes', make: () => write('junk.pt', new TextEncoder().encode('hello, this is not a checkpoint at all.')), error: /junk\.pt: not a zip archive/ },
    { name: 'legacy (pre-1.6) format', make: () => write('legacy.pt', Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc])), error: /legacy\.pt: legacy \(pre-1\.6, non-zip\) torch\.save format/ },
    { name: 'missing file', make: () => join(dir, 'absent.pt'), error: /absent\.pt: cannot read/ },
    { name: 'big-endian archive', make: () => join(FIX, 'big_endian.pt'), error: /big_endian\.pt: big-endian archive \(cuda\/byteorder = big\) is not supported/ },
    {
      name: 'unknown opcode', make: () => write('opcode.pt', pickleZip(Uint8Array.from([0x80, 0x02, 0x7d, 0x28, 0xfe, 0x2e]))),
      error: /opcode\.pt: archive\/data\.pkl: pickle opcode 0xfe at offset 4: unknown or unsupported opcode/,
    },
    {
      name: 'pickle without STOP', make: () => write('nostop.pt', pickleZip(Uint8Array.from([0x80, 0x02, 0x7d]))),
      error: /nostop\.pt: archive\/data\.pkl: .* ends without STOP/,
    },
    {
      name: 'storage entry missing', make: () => write('nostorage.pt', pickleZip(encodePickle({ w: rebuild(storagePid('0', 4), 0, [4]) }))),
      error: /nostorage\.pt: storage entry archive\/data\/0 is missing/,
    },
    {
      name: 'offset out of range',
      make: () => write('offset.pt', pickleZip(encodePickle({ w: rebuild(storagePid('0', 4), 2, [4]) }), [{ name: 'archive/data/0', data: new Uint8Array(16) }])),
      error: /offset\.pt: archive\/data\.pkl: tensor \[4\] with offset 2 .* beyond storage 0 \(4 elements\): offset out of range/,
    },
    {
      name: 'storage shorter than numel',
      make: () => write('short.pt', pickleZip(encodePickle({ w: rebuild(storagePid('0', 4), 0, [4]) }), [{ name: 'archive/data/0', data: new Uint8Array(12) }])),
      error: /short\.pt: storage entry archive\/data\/0 has 12 bytes, expected 16 \(float32 × 4\)/,
    },
    {
      name: 'corrupt storage bytes (CRC)',
      make: () => {
        const bad = Uint8Array.from(good);
        const e = new ZipReader(bad, 'x').entries.get('state_dict/data/1')!;
        const at = e.headerOffset + 30 + new DataView(bad.buffer).getUint16(e.headerOffset + 26, true) + new DataView(bad.buffer).getUint16(e.headerOffset + 28, true);
        bad[at] ^= 0xff;
        return write('crc.pt', bad);
      },
      error: /crc\.pt: zip entry state_dict\/data\/1 is corrupt \(CRC-32/,
    },
  ];
  for (const c of cases) it(c.name, () => expect(() => readTorchCheckpoint(c.make())).toThrow(c.error));

  it('an int64 beyond int32 is an error naming the tensor', () => {
    const big = encodeTorchCheckpoint({ idx: torchTensor([2], new Int32Array([1, 2]), { dtype: 'int64' }) });
    // Patch the second int64 to 2^40 (a value our writer cannot produce from Int32Array).
    const r = new ZipReader(big, 'mem');
    const data = r.read('archive/data/0');
    new DataView(data.buffer, data.byteOffset).setBigInt64(8, 2n ** 40n, true);
    const fixed = encodeZip([...r.entries.keys()].map((name) => ({ name, data: name === 'archive/data/0' ? data : r.read(name) })));
    expect(() => parseTorchCheckpoint(fixed, 'big.pt')).toThrow(/big\.pt: archive\/data\.pkl: tensor on storage 0: int64 value 1099511627776 at 1 does not fit int32/);
  });
});

describe('pickle', () => {
  it('round-trips Python values through our writer and reader', () => {
    const value = new PyDict();
    value.ordered = true;
    value.attrs = new Map([['_metadata', 'm']]);
    const inner = new PyDict();
    inner.set(0, 'zero').set(-1, null).set('k', new PyTuple([]));
    value.set('ints', [0, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 31, 2 ** 53 - 1, -(2n ** 80n), 2n ** 63n, 2n ** 64n - 1n]);
    value.set('floats', [0.1, -2.5, 1e-300, new PyFloat(3), -0, Infinity]);
    value.set('text', ['', 'ascii', 'ünïcødé ✓ 😀']);
    value.set('bytes', Uint8Array.from([0, 127, 128, 255]));
    value.set('tuples', [new PyTuple([1]), new PyTuple([1, 2]), new PyTuple([1, 2, 3]), new PyTuple([1, 2, 3, 4])]);
    value.set('misc', [true, false, null, inner, new PyGlobal('torch.float32'), new PyObject('collections.Counter', [inner])]);
    value.set('long', Array.from({ length: 2500 }, (_, i) => i));
    const back = unpickle(encodePickle(value), 'mem', { persistentLoad: () => { throw new Error('no pids'); } }) as PyDict;
    expect(back.ordered).toBe(true);
    expect(back.attrs).toEqual(new Map([['_metadata', 'm']]));
    expect(back.get('ints')).toEqual([0, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 31, 2 ** 53 - 1, -(2n ** 80n), 2n ** 63n, 2n ** 64n - 1n]);
    expect(back.get('floats')).toEqual([0.1, -2.5, 1e-300, 3, -0, Infinity]);
    expect(back.get('text')).toEqual(['', 'ascii', 'ünïcødé ✓ 😀']);
    expect(back.get('bytes')).toEqual(Uint8Array.from([0, 127, 128, 255]));
    expect(back.get('tuples')).toEqual(value.get('tuples'));
    expect(back.get('misc')).toEqual(value.get('misc'));
    expect(back.get('long')).toEqual(value.get('long'));
  });
  it('refuses what Python could not load', () => {
    expect(() => encodePickle({ d: new Map<PyValue, PyValue>([[[1], 2]]) })).toThrow(/a list cannot be a dict key/);
    const cyc: PyValue[] = [];
    cyc.push(cyc);
    expect(() => encodePickle(cyc)).toThrow(/cycle/);
    expect(() => encodePickle({ f: new Float32Array(2) as unknown as PyValue })).toThrow(/cannot write/);
  });
});

// ---- writer

function sample(): PyDict {
  const sd = new PyDict();
  sd.ordered = true;
  const meta = new PyDict();
  meta.ordered = true;
  meta.set('', { version: 1 } as unknown as PyValue);
  sd.attrs = new Map([['_metadata', meta]]);
  sd.set('w', torchTensor([2, 3], Float32Array.from([1.5, -2, 0.25, 3e-8, -1e20, 7])));
  sd.set('relative_position_index', torchTensor([2, 2], Int32Array.from([3, 2, 1, 0]), { dtype: 'int64' }));
  sd.set('i32', torchTensor([2], Int32Array.from([-(2 ** 31), 2 ** 31 - 1])));
  sd.set('p', torchTensor([3], Float32Array.from([1, 2, 3]), { parameter: true }));
  sd.set('scalar', torchTensor([], Float32Array.from([4])));
  sd.set('empty', torchTensor([0, 3], new Float32Array(0)));
  sd.set('mask', torchTensor([3], Int32Array.from([1, 0, 1]), { dtype: 'bool' }));
  sd.set('f64', torchTensor([2], Float32Array.from([0.1, -3]), { dtype: 'float64' }));
  const tricky = [0.1, 1 / 3, 65519, 65520, 1e-8, 2 ** -25, 3 * 2 ** -26, 2049, 2051, -0, 1e5, 1e-7, 6.1e-5, 1.00390625, 1.01171875, 3.4e38, -5.5e-39, Infinity];
  const src = Float32Array.from(tricky);
  sd.set('h', torchTensor([src.length], src, { dtype: 'float16' }));
  sd.set('h_src', torchTensor([src.length], src));
  sd.set('bf', torchTensor([src.length], src, { dtype: 'bfloat16' }));
  sd.set('bf_src', torchTensor([src.length], src));
  return sd;
}

function sampleCheckpoint(): Record<string, unknown> {
  const shared = Float32Array.from([1, 2, 3, 4]);
  const state = new PyDict();
  state.set(0, { step: 10, exp_avg: torchTensor([4], shared), exp_avg_sq: torchTensor([2, 2], shared) } as unknown as PyValue);
  return {
    epoch: 299,
    iteration: 2n ** 40n,
    lr: new PyFloat(1),
    nested: { a: [1, 'two', new PyTuple([3.5, null, true])], b: new Map([['x', false]]) },
    state_dict_backbone: sample(),
    optimizer: { state, param_groups: [{ lr: 1e-4, betas: new PyTuple([0.9, 0.999]), params: [0] }] },
    blob: Uint8Array.from([1, 2, 250]),
    text: 'ünï',
  };
}

describe('torch checkpoint writer', () => {
  it('round-trips through our reader, zip and zip64, with 64-byte aligned storages', () => {
    for (const zip64 of [false, true]) {
      const path = join(dir, `rt${zip64 ? '64' : ''}.pt`);
      writeTorchCheckpoint(path, sampleCheckpoint(), { zip64 });
      const bytes = new Uint8Array(readFileSync(path));
      const zip = new ZipReader(bytes, path);
      expect([...zip.entries.keys()].slice(0, 2)).toEqual(['archive/data.pkl', 'archive/byteorder']);
      expect(new TextDecoder().decode(zip.read('archive/version'))).toBe('3\n');
      for (const name of zip.entries.keys()) {
        const data = zip.read(name);
        if (name.startsWith('archive/data/') && data.byteLength) expect(data.byteOffset % 64, name).toBe(0);
      }
      const back = readTorchCheckpoint(path);
      expect(get(back, 'epoch')).toBe(299);
      expect(get(back, 'iteration')).toBe(2 ** 40);
      expect(get(back, 'lr')).toBe(1);
      expect(get(back, 'blob')).toEqual(Uint8Array.from([1, 2, 250]));
      const t = tensors(get(back, 'state_dict_backbone'));
      const want = tensors(sample() as TorchValue);
      for (const [k, w] of want) {
        expect(t.get(k)!.dtype, k).toBe(w.dtype);
        expect(t.get(k)!.shape, k).toEqual(w.shape);
        expect(t.get(k)!.parameter, k).toBe(w.parameter);
        if (w.dtype !== 'float16' && w.dtype !== 'bfloat16' && w.dtype !== 'float64') expect(Array.from(t.get(k)!.data), k).toEqual(Array.from(w.data));
      }
      expect(Array.from(t.get('h')!.data).slice(0, 4)).toEqual([0.0999755859375, 0.333251953125, 65504, Infinity]);
      expect(Array.from(t.get('f64')!.data)).toEqual([Math.fround(0.1), -3]);
      // exp_avg and exp_avg_sq share one array, so they share one storage
      // (h_src and bf_src share one too: storages 0-10 hold the state dict)
      expect(zip.entries.has('archive/data/11')).toBe(true);
      expect(zip.entries.has('archive/data/12')).toBe(false);
    }
  });

  it('converts float32 to float16 with round-to-nearest-even', () => {
    expect([1, -2, 65504, 65519, 65520, 2 ** -24, 2 ** -25, 3 * 2 ** -25, 2049, 2051, -0].map(floatToHalf))
      .toEqual([0x3c00, 0xc000, 0x7bff, 0x7bff, 0x7c00, 0x0001, 0x0000, 0x0002, 0x6800, 0x6802, 0x8000]);
    expect(floatToHalf(NaN) & 0x7e00).toBe(0x7e00);
  });

  it('rejects a tensor whose array does not match its dtype or shape, and an int out of range', () => {
    expect(() => torchTensor([2], new Float32Array(2), { dtype: 'int64' })).toThrow(/int64 data must be a Int32Array/);
    expect(() => torchTensor([3], new Float32Array(2))).toThrow(/2 values for shape \[3\]/);
    expect(() => encodeTorchCheckpoint({ m: torchTensor([1], Int32Array.from([2]), { dtype: 'bool' }) })).toThrow(/value 2 at 0 does not fit bool/);
    expect(() => writeTorchCheckpoint(join(dir, 'rt.pt', 'x.pt'), {})).toThrow(/cannot write .*x\.pt/);
  });

  it('torch.load (python3-torch) reads what we write, values equal', () => {
    const files = [join(dir, 'py.pt'), join(dir, 'py64.pt'), join(dir, 'py_weights_only.pt')];
    writeTorchCheckpoint(files[0]!, sampleCheckpoint());
    writeTorchCheckpoint(files[1]!, sampleCheckpoint(), { zip64: true });
    writeTorchCheckpoint(files[2]!, sample());
    // Our reader returns Python ints and floats both as numbers, so this comparison is loose about which.
    for (const f of files) {
      expect(pyJson(readTorchCheckpoint(f), true), f).toEqual(pyJson(f.includes('weights_only') ? sample() : sampleCheckpoint(), true));
    }
    if (torchMissing) {
      // Only the torch.load half needs Python; the reader tests and the line above still ran.
      console.warn(`torch.load cross-check skipped: ${torchMissing}`);
      return;
    }
    const r = spawnSync(PY, ['-c', PY_DUMP, ...files], { encoding: 'utf8', maxBuffer: 1 << 26 });
    expect(r.status, r.stderr).toBe(0);
    const [full, full64, weightsOnly] = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(full.load).toEqual(pyJson(sampleCheckpoint()));
    expect(full.roundings).toEqual({ h: true, bf: true });
    expect(full64).toEqual(full);
    expect(weightsOnly.load).toEqual(pyJson(sample()));
    expect(weightsOnly.weights_only).toBe(true);
    expect(full.version).toMatch(/^\d+\.\d+/);
  });
});

/** Loads each file with torch.load (also checking CRCs with zipfile) and prints one JSON line each. */
const PY_DUMP = String.raw`
import collections, json, math, sys, zipfile
import torch
def num(x):
    return x if math.isfinite(x) else repr(x)
def enc(v):
    if isinstance(v, torch.nn.Parameter):
        return {"param": enc(v.data), "requires_grad": v.requires_grad}
    if isinstance(v, torch.Tensor):
        return {"tensor": str(v.dtype).replace("torch.", ""), "shape": list(v.shape), "values": [num(float(x)) if v.is_floating_point() else int(x) for x in v.flatten().tolist()]}
    if isinstance(v, collections.OrderedDict):
        return {"odict": [[enc(k), enc(x)] for k, x in v.items()], "attrs": {k: enc(x) for k, x in vars(v).items()}}
    if isinstance(v, dict):
        return {"dict": [[enc(k), enc(x)] for k, x in v.items()]}
    if isinstance(v, tuple):
        return {"tuple": [enc(x) for x in v]}
    if isinstance(v, list):
        return [enc(x) for x in v]
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, float):
        return {"float": num(v)}
    if isinstance(v, bytes):
        return {"bytes": list(v)}
    raise TypeError(type(v))
for path in sys.argv[1:]:
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None, path
    weights_only = path.endswith("weights_only.pt")
    v = torch.load(path, weights_only=True) if weights_only else torch.load(path)
    sd = v.get("state_dict_backbone", v)
    roundings = {k: bool(sd[k].equal(sd[k + "_src"].to(sd[k].dtype))) for k in ("h", "bf")}
    print(json.dumps({"load": enc(v), "roundings": roundings, "weights_only": weights_only, "version": torch.__version__}))
`;

/** What PY_DUMP prints for a value we wrote (`loose`: ints and floats alike). */
function pyJson(v: unknown, loose = false): unknown {
  const rec = (x: unknown): unknown => pyJson(x, loose);
  const num = (x: number): number | string => (Number.isFinite(x) ? x : Number.isNaN(x) ? 'nan' : x > 0 ? 'inf' : '-inf');
  if (v instanceof TorchTensor) {
    // float16 as our writer rounds it; bfloat16 rounding is checked against torch's own .to(bfloat16) instead.
    const values: unknown = v.dtype === 'float16' ? Array.from(v.data, (x) => num(halfToFloat(floatToHalf(x))))
      : v.dtype === 'bfloat16' ? expect.any(Array) : Array.from(v.data, num);
    const t = { tensor: v.dtype, shape: v.shape, values };
    return v.parameter ? { param: t, requires_grad: v.requiresGrad } : t;
  }
  if (loose && (typeof v === 'number' || typeof v === 'bigint' || v instanceof PyFloat)) return { number: num(v instanceof PyFloat ? v.value : Number(v)) };
  if (v instanceof PyFloat) return { float: num(v.value) };
  if (typeof v === 'number') return Number.isInteger(v) && !Object.is(v, -0) ? { int: String(v) } : { float: num(v) };
  if (typeof v === 'bigint') return { int: String(v) };
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (v instanceof Uint8Array) return { bytes: Array.from(v) };
  if (v instanceof PyTuple) return { tuple: v.items.map(rec) };
  if (Array.isArray(v)) return v.map(rec);
  if (v instanceof Map) {
    const items = [...v].map(([k, x]) => [rec(k), rec(x)]);
    if (v instanceof PyDict && !v.ordered) return { dict: items };
    const attrs = Object.fromEntries([...(v instanceof PyDict && v.attrs ? v.attrs : [])].map(([k, x]) => [k, rec(x)]));
    return { odict: items, attrs };
  }
  if (typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype) {
    return { dict: Object.entries(v).map(([k, x]) => [k, rec(x)]) };
  }
  throw new Error(`pyJson: ${String(v)}`);
}
