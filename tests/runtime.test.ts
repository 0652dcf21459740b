// The runtime's own contracts: devices, pool, batching counts, autograd bookkeeping, errors.
import { describe, expect, it } from 'vitest';
import { AUTO_FLUSH_DISPATCHES, PatientWait, SLEEP_SHARE } from '../src/runtime/batch.js';
import { listAdapters } from '../src/runtime/device.js';
import type { KernelDecl } from '../src/runtime/kernel.js';
import { add, affine, mul, scale } from '../src/runtime/ops/elementwise.js';
import { sumLastDim, sumLeading } from '../src/runtime/ops/reduce.js';
import { bucketSize } from '../src/runtime/pool.js';
import { randn, useRuntime } from './harness.js';

const rt = useRuntime();

describe('devices', () => {
  it('lists at least one adapter with name, limits and features', async () => {
    const adapters = await listAdapters();
    expect(adapters.length).toBeGreaterThan(0);
    const a = adapters[0]!;
    expect(a.name.length).toBeGreaterThan(0);
    expect(a.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
    expect(Array.isArray(a.features)).toBe(true);
  });
  it('opened the device with the engine features the adapter offers', () => {
    const d = rt().device;
    for (const f of ['subgroups', 'shader-f16', 'timestamp-query']) {
      expect(d.features.has(f), f).toBe(d.adapter.features.includes(f));
    }
  });
});

describe('buffer pool', () => {
  it('buckets sizes four per octave with at most 25% waste', () => {
    expect(bucketSize(1)).toBe(256);
    expect(bucketSize(256)).toBe(256);
    expect(bucketSize(257)).toBe(320);
    expect(bucketSize(1024)).toBe(1024);
    expect(bucketSize(1025)).toBe(1280);
    for (const n of [300, 1000, 4097, 123457, 9_999_999]) {
      const b = bucketSize(n);
      expect(b).toBeGreaterThanOrEqual(n);
      expect(b / n).toBeLessThanOrEqual(1.25);
    }
  });
  it('reuses released buffers and reports live, peak and free bytes', async () => {
    const r = rt();
    await r.sync();
    const before = r.memory();
    const a = r.empty([1000]);
    const mid = r.memory();
    expect(mid.bytesLive - before.bytesLive).toBe(4096);
    a.release();
    const b = r.empty([1000]);
    const after = r.memory();
    expect(after.reuses).toBe(mid.reuses + 1);
    expect(after.creations).toBe(mid.creations);
    expect(after.bytesPeak).toBeGreaterThanOrEqual(after.bytesLive);
    b.release();
    expect(r.memory().bytesLive).toBe(before.bytesLive);
  });
  it('does not grow across repeated forward+backward steps', async () => {
    const r = rt();
    const w = r.parameter(randn(64 * 32, 1), [64, 32]);
    const x = r.tensor(randn(8 * 64 * 32, 2), [8, 64, 32]);
    const step = async (): Promise<void> => {
      const loss = r.scope(() => sumLastDim(sumLeading(mul(add(x, w), w), 2).reshape([1, 64 * 32])));
      r.backward(loss);
      loss.release();
      await r.sync();
      r.zeroGrad([w]);
    };
    await step();
    const first = r.memory();
    for (let i = 0; i < 5; i++) await step();
    const last = r.memory();
    expect(last.bytesAllocated).toBe(first.bytesAllocated);
    expect(last.bytesLive).toBe(first.bytesLive);
    w.release();
    x.release();
  });
  it('rejects a binding over maxStorageBufferBindingSize, naming the op and the limit', () => {
    const r = rt();
    const limit = r.device.limits.maxStorageBufferBindingSize;
    const n = limit / 4 + 64;
    if (n * 4 > r.device.limits.maxBufferSize) return;
    const big = r.zeros([n]);   // fill splits into binding-sized windows
    try {
      expect(() => affine(big, 2, 0)).toThrow(new RegExp(`affine: binding .* over the device's maxStorageBufferBindingSize \\(${limit}\\)`));
    } finally {
      big.release();
    }
  });
});

describe('batched execution', () => {
  it('a 10-op forward+backward makes few submits and no readback before item()', async () => {
    const r = rt();
    await r.sync();
    const w1 = r.parameter(randn(4 * 16, 3), [4, 16]);
    const w2 = r.parameter(randn(16, 4), [16]);
    const x = r.tensor(randn(4 * 16, 5), [4, 16]);
    const c0 = { ...r.counters };
    const loss = r.scope(() => {
      let h = mul(x, w1);           // 1
      h = add(h, w2);               // 2
      h = scale(h, 0.5);            // 3
      h = mul(h, h);                // 4
      h = add(h, w1);               // 5
      h = affine(h, 2, 1);          // 6
      h = mul(h, w2);               // 7
      const s = sumLeading(h, 1);   // 8
      const t = mul(s, w2);         // 9
      return sumLastDim(t);         // 10
    });
    r.backward(loss);
    const c1 = { ...r.counters };
    expect(c1.readbacks - c0.readbacks).toBe(0);
    expect(c1.submits - c0.submits).toBeLessThanOrEqual(1);
    expect(c1.dispatches - c0.dispatches).toBeGreaterThan(20);
    const v = await loss.item();
    const c2 = { ...r.counters };
    expect(c2.readbacks - c1.readbacks).toBe(1);
    expect(c2.submits - c0.submits).toBeLessThanOrEqual(2);
    expect(Number.isFinite(v)).toBe(true);
    loss.release();
    for (const t of [w1, w2]) { t.grad?.release(); t.release(); }
    x.release();
  });
  it('submits a long graph in chunks before anything is read, so the GPU starts while the host encodes', async () => {
    const r = rt();
    await r.sync();
    const x = r.tensor(randn(64, 11), [64]);
    const c0 = { ...r.counters };
    let y = x;
    for (let i = 0; i < 300; i++) { const next = affine(y, 0.5, 1); if (y !== x) y.release(); y = next; }
    const c1 = { ...r.counters };
    const dispatches = c1.dispatches - c0.dispatches;   // 300, or 600 with the harness's output poisoning
    expect(dispatches).toBeGreaterThanOrEqual(300);
    expect(c1.readbacks - c0.readbacks).toBe(0);
    expect(c1.submits - c0.submits).toBe(Math.floor(dispatches / AUTO_FLUSH_DISPATCHES));
    // y_{k+1} = y_k / 2 + 1 converges to 2 whatever x is: 300 halvings leave 2 exactly in float32
    expect([...((await y.read()) as Float32Array)].every((v) => v === 2)).toBe(true);
    y.release();
    x.release();
  });
  it('waits on lavapipe without spinning the JS thread (dawn-node polls while a promise is pending)', () => {
    const r = rt();
    expect(r.device.spinsWhileWaiting).toBe(r.device.facts.software);
  });
  it('splits a dispatch over maxComputeWorkgroupsPerDimension into a 2-D grid', async () => {
    const r = rt();
    // 256 per workgroup: 65,536 workgroups > 65,535 forces the fold; every element must be written.
    const n = 256 * 65536 + 17;
    const x = r.full([n], 1.5);
    const y = affine(x, 2, 1);
    const data = (await y.read()) as Float32Array;
    let bad = -1;
    for (let i = 0; i < n; i++) if (data[i] !== 4) { bad = i; break; }
    expect(bad).toBe(-1);
    x.release();
    y.release();
  });
});

describe('patient waits (runtime/batch.ts PatientWait)', () => {
  const fake = (): { wait: PatientWait; slept: number[] } => {
    const slept: number[] = [];
    return { wait: new PatientWait(true, async (ms) => { slept.push(ms); }), slept };
  };
  it('does not sleep before it has seen a wait, then sleeps the share of the learned rate', async () => {
    const { wait, slept } = fake();
    wait.submitted(100);
    await wait.sleep();
    expect(slept).toEqual([]);
    wait.done(200);                        // 2 ms per dispatch, learned at 100 outstanding (class of 92–109)
    wait.submitted(105);
    expect(wait.plannedMs).toBeCloseTo(SLEEP_SHARE * 2 * 105, 12);
    await wait.sleep();
    expect(slept).toEqual([SLEEP_SHARE * 2 * 105]);
  });
  it('a wait of another size does not sleep: one timed 100 ms matmul says nothing about a 565-dispatch step', async () => {
    const { wait, slept } = fake();
    wait.submitted(1); await wait.sleep(); wait.done(100);
    wait.submitted(565);
    expect(wait.plannedMs).toBe(0);
    await wait.sleep();
    wait.done(170);                        // learned afresh from this size
    wait.submitted(565);
    expect(wait.plannedMs).toBeCloseTo(SLEEP_SHARE * 170, 9);
    expect(slept).toEqual([]);
  });
  it('steps with a small readback between them still sleep: each size learns its own rate', async () => {
    const { wait, slept } = fake();
    for (let i = 0; i < 3; i++) {
      wait.submitted(565); await wait.sleep(); wait.done(170);   // the step
      wait.submitted(3); await wait.sleep(); wait.done(0.2);     // a 4-byte readback
    }
    expect(slept.filter((ms) => ms > 100)).toHaveLength(2);      // every step after the first
    expect(slept.every((ms) => ms <= SLEEP_SHARE * 170 + 1e-9)).toBe(true);
  });
  it('an estimate that oversleeps is lowered by a fifth until the sleep ends before the GPU does', async () => {
    const { wait } = fake();
    wait.submitted(100); await wait.sleep(); wait.done(10_000);   // 100 ms per dispatch; the GPU really needs 1
    let rounds = 0;
    for (; rounds < 40; rounds++) {
      wait.submitted(100);
      const planned = wait.plannedMs;
      await wait.sleep();
      wait.done(Math.max(planned, 100));   // the fake sleep returns at once: waited the sleep, or the GPU's 100 ms if longer
      if (planned < 100) break;
    }
    expect(rounds).toBeLessThanOrEqual(20); // 8500 ms × 0.8^20 is below 100
    for (let i = 0; i < 30; i++) { wait.submitted(100); await wait.sleep(); wait.done(100); }
    wait.submitted(100);
    expect(wait.plannedMs).toBeLessThan(100);                 // sleeps less than the GPU needs, polls the rest
    expect(wait.plannedMs).toBeGreaterThan(0.95 * SLEEP_SHARE * 100);
  });
  it('never sleeps when disabled (a GPU, or a page whose browser waits for it)', async () => {
    const slept: number[] = [];
    const wait = new PatientWait(false, async (ms) => { slept.push(ms); });
    wait.submitted(100); wait.done(500); wait.submitted(100);
    await wait.sleep();
    expect(slept).toEqual([]);
  });
});

describe('autograd', () => {
  it('accumulates gradients of a tensor used several times', async () => {
    const r = rt();
    const a = r.parameter([1, 2, 3], [3]);
    // L = sum(a*a + a) -> dL/da = 2a + 1
    const loss = r.scope(() => sumLastDim(add(mul(a, a), a).reshape([1, 3])));
    r.backward(loss);
    expect(Array.from(await a.grad!.read())).toEqual([3, 5, 7]);
    // a second backward accumulates into the parameter's gradient
    const loss2 = r.scope(() => sumLastDim(scale(a, 2).reshape([1, 3])));
    r.backward(loss2);
    expect(Array.from(await a.grad!.read())).toEqual([5, 7, 9]);
    r.zeroGrad([a]);
    expect(a.grad).toBeNull();
    for (const t of [loss, loss2, a]) t.release();
  });
  it('records nothing without grad and frees intermediates as scopes end', async () => {
    const r = rt();
    const a = r.parameter(randn(1000, 9), [1000]);
    await r.sync();
    const live0 = r.memory().bytesLive;
    const out = r.withoutGrad(() => r.scope(() => {
      let h = a;
      for (let i = 0; i < 8; i++) h = r.scope(() => affine(h, 1.01, 0.1));
      return h;
    }));
    expect(r.tape.length).toBe(0);
    expect(out.requiresGrad).toBe(false);
    // only the result is alive: every intermediate went back to the pool
    expect(r.memory().bytesLive - live0).toBe(4096);
    out.release();
    a.release();
  });
  it('keeps tensors saved for backward alive after their scope ends', async () => {
    const r = rt();
    const a = r.parameter([1, 2, 3, 4], [4]);
    const loss = r.scope(() => {
      const h = add(a, a);              // saved by mul below, released by this scope
      return sumLastDim(mul(h, h).reshape([1, 4]));
    });
    r.backward(loss);                   // d/da (2a)^2 = 8a
    expect(Array.from(await a.grad!.read())).toEqual([8, 16, 24, 32]);
    loss.release();
    a.grad!.release();
    a.release();
  });
  it('throws a clear error for backward from a tensor with nothing recorded', () => {
    const r = rt();
    const x = r.tensor([1], [1]);
    expect(() => r.backward(x)).toThrow(/does not require a gradient/);
    x.release();
  });
});

describe('kernels and errors', () => {
  it('rejects an op declaration whose binding names differ from the WGSL, naming file and entry', () => {
    const bad: KernelDecl = { file: 'elementwise.wgsl', entry: 'fill', storage: { out: 'read_write' }, uniform: 'fp' };
    expect(() => rt().kernels.kernel(bad)).toThrow(/fill \(kernels\/elementwise\.wgsl\).*fill_out/);
  });
  it('rejects a wrong access mode, a missing entry point and a missing file', () => {
    const k = rt().kernels;
    expect(() => k.kernel({ file: 'elementwise.wgsl', entry: 'accumulate', storage: { acc: 'read', acc_x: 'read' }, uniform: 'cp' }))
      .toThrow(/accumulate \(kernels\/elementwise\.wgsl\): binding acc is var<storage, read_write>/);
    expect(() => k.kernel({ file: 'elementwise.wgsl', entry: 'nope', storage: {} })).toThrow(/no @compute entry point named nope/);
    expect(() => k.kernel({ file: 'nope.wgsl', entry: 'x', storage: {} })).toThrow(/kernels\/nope\.wgsl not found/);
  });
  it('rejects missing or unknown uniform members by name', () => {
    const r = rt();
    const decl: KernelDecl = { file: 'elementwise.wgsl', entry: 'affine', storage: { aff_out: 'read_write', aff_x: 'read' }, uniform: 'ap' };
    const x = r.empty([4]);
    expect(() => r.dispatch(decl, { op: 'affine', storage: { aff_out: { buffer: x.buffer }, aff_x: { buffer: x.buffer } }, params: { n: 4, alpha: 1 }, workgroups: [1] }))
      .toThrow(/uniform member beta not given/);
    expect(() => r.dispatch(decl, { op: 'affine', storage: { aff_out: { buffer: x.buffer }, aff_x: { buffer: x.buffer } }, params: { n: 4, alpha: 1, beta: 0, gamma: 2 }, workgroups: [1] }))
      .toThrow(/uniform has no member gamma/);
    x.release();
  });
  it('turns a WebGPU validation error into an exception naming the op', async () => {
    const r = rt();
    const x = r.empty([4]);
    // The same buffer bound as read-only and read-write in one dispatch is a validation error.
    const decl: KernelDecl = { file: 'elementwise.wgsl', entry: 'affine', storage: { aff_out: 'read_write', aff_x: 'read' }, uniform: 'ap' };
    r.dispatch(decl, { op: 'aliasing_affine', storage: { aff_out: { buffer: x.buffer }, aff_x: { buffer: x.buffer } }, params: { n: 4, alpha: 1, beta: 0 }, workgroups: [1] });
    await expect(r.sync()).rejects.toThrow(/aliasing_affine/);
    x.release();
    await r.sync();
  });
  it('rejects shape mismatches at the op boundary, naming the op', () => {
    const r = rt();
    const a = r.empty([2, 3]);
    const b = r.empty([2]);
    expect(() => add(a, b)).toThrow(/add: cannot broadcast \[2, 3\] with \[2\]/);
    a.release();
    b.release();
  });
});

describe('autograd inside scopes', () => {
  it('parameter gradients outlive a scope that ran backward', async () => {
    const r = rt();
    const a = r.parameter([1, 2], [2]);
    r.scope(() => {
      const loss = sumLastDim(mul(a, a).reshape([1, 2]));
      r.backward(loss);
    });
    expect(Array.from(await a.grad!.read())).toEqual([2, 4]);
    a.grad!.release();
    a.release();
  });
});
