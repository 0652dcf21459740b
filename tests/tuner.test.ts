// The autotuner's bookkeeping with a fake device: what it picks, when it measures, what it stores,
// and when a stored result is stale. (Kernel candidates themselves are checked against float64
// references in each op's test, e.g. tests/matmul.test.ts's "every tuning candidate".)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { adapterFacts, isSoftwareAdapter } from '../src/runtime/adapter.js';
import { FileTuneStore, defaultTuneDir } from '../src/runtime/tune_store_node.js';
import { checksum, MemoryTuneStore, pickWinner, sizeBucket, Tuner, TUNE_MARGIN, tuningFromEnv, type TuneHost, type TuneUnit } from '../src/runtime/tuner.js';

const LAVAPIPE = {
  name: 'llvmpipe-llvm-15-0-6-256-bits-', vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15-0-6-256-bits-',
  description: 'llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1', isFallbackAdapter: true, subgroupMinSize: 8, subgroupMaxSize: 8,
  features: ['subgroups', 'timestamp-query'], limits: { maxComputeWorkgroupStorageSize: 32768 },
};

/** A fake device: candidate c's dispatch "takes" cost[c] ms; the kernel source is editable. */
function fakeHost(cost: Record<string, number>, source = { text: 'v1' }): TuneHost & { runs: string[] } {
  let recorded: string[] = [];
  const runs: string[] = [];
  return {
    runs,
    facts: adapterFacts(LAVAPIPE),
    kernelSource: () => source.text,
    timeDispatches: async (record) => {
      recorded = [];
      record();
      return recorded.map((c) => cost[c]!);
    },
    // the unit's run() pushes here through the closure below
    get _sink(): string[] { return recorded; },
  } as TuneHost & { runs: string[]; _sink: string[] };
}

function unit(host: ReturnType<typeof fakeHost>, shapeClass = 'M64'): TuneUnit {
  return {
    family: 'mm', shapeClass, shape: 'M=60', candidates: ['a', 'b', 'c'],
    prepare: () => ({ run: (c) => { (host as unknown as { _sink: string[] })._sink.push(c); host.runs.push(c); }, dispose: () => {} }),
  };
}

describe('adapter facts', () => {
  it('one rule for software adapters and subgroup sizes', () => {
    const f = adapterFacts(LAVAPIPE);
    expect(f.software).toBe(true);
    expect(f.fixedSubgroupSize).toBe(8);
    expect(f.limits.maxComputeWorkgroupStorageSize).toBe(32768);
    expect(f.driver).toBe('Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1');
    expect(f.identity).toContain('mesa / software / llvmpipe');
    expect(isSoftwareAdapter({ description: 'SwiftShader Device (Subzero)' })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'nvidia', architecture: 'ampere', description: 'NVIDIA GeForce RTX 3090' })).toBe(false);
    expect(adapterFacts({ subgroupMinSize: 8, subgroupMaxSize: 32, features: ['subgroups'] }).fixedSubgroupSize).toBe(0);
    expect(adapterFacts({ subgroupMinSize: 32, subgroupMaxSize: 32, features: [] }).fixedSubgroupSize).toBe(0);
  });
});

describe('tuner', () => {
  it('runs the default until measured, then the fastest; measures each unit once', async () => {
    const host = fakeHost({ a: 3, b: 1, c: 2 });
    const t = new Tuner(host, { enabled: true });
    expect(t.choose(unit(host), ['f.wgsl'])).toBe('a');
    expect(t.choose(unit(host), ['f.wgsl'])).toBe('a');
    expect(t.pendingCount).toBe(1);
    const recs = await t.tunePending();
    expect(recs).toHaveLength(1);
    expect(recs[0]!.winner).toBe('b');
    expect(recs[0]!.times).toEqual({ a: 3, b: 1, c: 2 });
    expect(t.choose(unit(host), ['f.wgsl'])).toBe('b');
    expect(t.pendingCount).toBe(0);
    expect(await t.tunePending()).toEqual([]);
  });

  it('a run of several dispatches counts their times together', async () => {
    // candidate b is a kernel plus a second pass (e.g. matmul ':D0' and its column sums): 0.6 + 0.6 ms a run
    const host = fakeHost({ a: 1, b: 0.6, b2: 0.6, c: 2 });
    const sink = (c: string): number => (host as unknown as { _sink: string[] })._sink.push(c);
    const t = new Tuner(host, { enabled: true });
    t.choose({
      family: 'mm', shapeClass: 'two', shape: 'M=60', candidates: ['a', 'b', 'c'],
      prepare: () => ({ run: (c) => { sink(c); if (c !== 'b') return 1; sink('b2'); return 2; }, dispose: () => {} }),
    }, []);
    const [rec] = await t.tunePending();
    expect(rec!.times).toEqual({ a: 1, b: 1.2, c: 2 });
    expect(rec!.winner).toBe('a');
  });

  it('drops a candidate far slower than the best so far after one probe', async () => {
    const host = fakeHost({ a: 1, b: 10, c: 2 });
    const t = new Tuner(host, { enabled: true });
    t.choose(unit(host), []);
    const [rec] = await t.tunePending();
    expect(rec!.times.b).toBe(Infinity);
    expect(host.runs.filter((c) => c === 'b')).toHaveLength(2);   // compile + probe
    expect(rec!.winner).toBe('a');
  });

  // A fake timer with load that comes and goes: the k-th timing call (0-based) is slowed by load(k).
  function loadedHost(cost: Record<string, number>, load: (call: number) => number): ReturnType<typeof fakeHost> & { calls: string[][] } {
    const host = fakeHost(cost) as ReturnType<typeof fakeHost> & { calls: string[][]; _sink: string[] };
    const sink = (host as unknown as { _sink: string[] })._sink;
    const calls: string[][] = [];
    host.calls = calls;
    host.timeDispatches = async (record) => {
      sink.length = 0;
      record();
      const factor = load(calls.length);
      calls.push([...sink]);
      return sink.map((c) => cost[c]! * factor);
    };
    return host;
  }

  it('noisy winners: a burst of load on the default during its first pass does not crown a tie', async () => {
    // a (default) and b are equally fast, c slower; the default's first timed runs (calls 0-2:
    // compile, probe, 5 runs) see twice the time. Ranked on the first pass alone, b would win.
    const host = loadedHost({ a: 1, b: 1, c: 1.5 }, (k) => (k <= 2 ? 2 : 1));
    const t = new Tuner(host, { enabled: true });
    t.choose(unit(host), []);
    const [rec] = await t.tunePending();
    expect(rec!.winner).toBe('a');
    expect(rec!.times.a).toBe(1);   // median of 5 loaded + 9 interleaved samples
  });

  it('noisy winners: a challenger clearly faster under changing load wins; rounds interleave the finalists', async () => {
    const host = loadedHost({ a: 1, b: 0.8, c: 1.5 }, (k) => 1 + 0.3 * Math.sin(k));
    const t = new Tuner(host, { enabled: true });
    t.choose(unit(host), []);
    const [rec] = await t.tunePending();
    expect(rec!.winner).toBe('b');
    // first pass: 3 calls per candidate (compile, probe, runs); then 3 rounds of a, b, c (all 3 are finalists)
    const rounds = host.calls.slice(9).map((c) => `${c[0]}×${c.length}`);
    expect(rounds).toEqual(['a×3', 'b×3', 'c×3', 'a×3', 'b×3', 'c×3', 'a×3', 'b×3', 'c×3']);
  });

  it('the default stays unless a challenger beats it by the margin', () => {
    expect(TUNE_MARGIN).toBe(0.05);
    expect(pickWinner(['a', 'b', 'c'], { a: 1, b: 0.97, c: 2 })).toBe('a');
    expect(pickWinner(['a', 'b', 'c'], { a: 1, b: 0.97, c: 0.9 })).toBe('c');
    expect(pickWinner(['a', 'b'], { a: 1, b: Infinity })).toBe('a');
    expect(pickWinner(['a'], { a: 1 })).toBe('a');
  });

  it('off: defaults only, nothing measured; a pin beats everything', async () => {
    const host = fakeHost({ a: 3, b: 1, c: 2 });
    const t = new Tuner(host, { enabled: false });
    expect(t.choose(unit(host), [])).toBe('a');
    expect(t.pendingCount).toBe(0);
    t.pin('mm', 'c');
    expect(t.choose(unit(host), [])).toBe('c');
    t.pin('mm', undefined);
    expect(t.choose(unit(host), [])).toBe('a');
  });

  it('off ignores cached winners', async () => {
    const store = new MemoryTuneStore();
    const host = fakeHost({ a: 3, b: 1, c: 2 });
    const on = new Tuner(host, { enabled: true, store });
    on.choose(unit(host), []);
    await on.tunePending();
    const off = new Tuner(host, { enabled: false, store });
    await off.load();
    expect(off.choose(unit(host), [])).toBe('a');
  });

  it('persists per adapter; a changed kernel source re-tunes', async () => {
    const store = new MemoryTuneStore();
    const source = { text: 'v1' };
    const host = fakeHost({ a: 3, b: 1, c: 2 }, source);
    const first = new Tuner(host, { enabled: true, store });
    first.choose(unit(host), ['f.wgsl']);
    await first.tunePending();
    const again = new Tuner(host, { enabled: true, store });
    await again.load();
    expect(again.choose(unit(host), ['f.wgsl'])).toBe('b');
    expect(again.pendingCount).toBe(0);
    source.text = 'v2';
    const changed = new Tuner(host, { enabled: true, store });
    await changed.load();
    expect(changed.choose(unit(host), ['f.wgsl'])).toBe('a');
    expect(changed.pendingCount).toBe(1);
  });

  it('stores JSON under the cache directory, atomically; a corrupt file reads as empty', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'segface-tune-'));
    try {
      const store = new FileTuneStore(dir);
      const host = fakeHost({ a: 3, b: 1, c: 2 });
      const t = new Tuner(host, { enabled: true, store });
      t.choose(unit(host), []);
      await t.tunePending();
      const file = JSON.parse(readFileSync(store.path(t.storeKey), 'utf8'));
      expect(file.adapter).toBe(adapterFacts(LAVAPIPE).identity);
      expect(Object.values(file.records).map((r) => (r as { winner: string }).winner)).toEqual(['b']);
      expect((await store.load(t.storeKey))!.records['mm M64']!.winner).toBe('b');
      expect(await store.load('nothing-here')).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('environment and helpers', () => {
    expect(tuningFromEnv({})).toBe(true);
    expect(tuningFromEnv({ SEGFACE_TUNE: '0' })).toBe(false);
    expect(tuningFromEnv({ SEGFACE_TUNE: 'off' })).toBe(false);
    expect(defaultTuneDir({ XDG_CACHE_HOME: '/c' })).toBe('/c/segface-webgpu');
    expect(defaultTuneDir({ SEGFACE_TUNE_DIR: '/t', XDG_CACHE_HOME: '/c' })).toBe('/t');
    expect(checksum('abc')).not.toBe(checksum('abd'));
    expect([1, 2, 3, 5, 64, 65].map(sizeBucket)).toEqual([1, 2, 4, 8, 64, 128]);
  });
});
