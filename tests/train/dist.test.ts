// Data parallelism: the pure pieces (sharding, GPU binding, launcher env), the Dice partial-sum
// reduction (ranks simulated on one device against the float64 reference), MPI collectives under
// `mpiexec -n 3`, and whole training steps: 1 rank × B vs 2 ranks × B/2 under `mpiexec -n 2` on
// lavapipe (f32, and f16 with loss scaling), resume of a 2-rank checkpoint on 1 rank, a failing rank, and MPI missing.
// Needs MPICH (`apt-get install mpich`; scripts/setup.sh installs it).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { add, cast, mul } from '../../src/runtime/ops/elementwise.js';
import { asDtype, FlatGroup } from '../../src/runtime/flat.js';
import { segLoss, segLossFinish, segLossPartials } from '../../src/runtime/ops/loss.js';
import { sumLastDim } from '../../src/runtime/ops/reduce.js';
import { shardRange } from '../../src/train/dist/grad_sync.js';
import { chooseBinding, driPrime, sharedGpus, type PciGpu } from '../../src/train/dist/gpu_binding.js';
import { launcherEnv } from '../../src/train/dist/launch.js';
import { paddedLength, sumRows } from '../../src/train/dist/mpi.js';
import { expectClose, randn, rng, useRuntime } from '../harness.js';
import { segLossRef, segLossRefBackward } from '../../src/runtime/reference/loss.js';
import type { WorkerResult } from './dist/worker.js';

const rt = useRuntime();
const dir = mkdtempSync(join(tmpdir(), 'dist-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MPIEXEC = spawnSync('sh', ['-c', 'command -v mpiexec'], { encoding: 'utf8' }).stdout.trim();
const NO_MPI = 'mpiexec not found: these tests need MPICH (apt-get install mpich, or bash scripts/setup.sh)';
/** The launcher; without MPICH every multi-rank test fails with the install hint (never skips). */
function mpiexec(): string {
  if (!MPIEXEC) throw new Error(NO_MPI);
  return MPIEXEC;
}

/** Runs a command; resolves with its exit code and output (killed after `timeoutMs`). */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 240_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code: code ?? (signal ? 128 : 1), out }); });
  });
}

const WORKER = join(import.meta.dirname, 'dist', 'worker.ts');
async function worker(ranks: number, name: string, job: Record<string, unknown>): Promise<{ result: WorkerResult; params: Float32Array; grads?: Float32Array }> {
  const out = join(dir, name);
  mkdirSync(out, { recursive: true });
  const node = [process.execPath, '--import', 'tsx', WORKER, JSON.stringify({ out, ...job })];
  const r = ranks > 1 ? await run(mpiexec(), ['-n', String(ranks), ...node]) : await run(node[0]!, node.slice(1));
  if (r.code !== 0) throw new Error(`${name}: worker exited with ${r.code}:\n${r.out.slice(-3000)}`);
  const f32 = (file: string): Float32Array => { const b = readFileSync(join(out, file)); return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4); };
  const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as WorkerResult;
  let grads: Float32Array | undefined;
  try { grads = f32('grads.bin'); } catch { grads = undefined; }
  return { result, params: f32('params.bin'), grads };
}

const maxRel = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / Math.max(Math.abs(a[i]!), 1e-30));
  return m;
};
/** ‖a − b‖ / ‖a‖ */
const normRel = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let d = 0, n = 0;
  for (let i = 0; i < a.length; i++) { d += (a[i]! - b[i]!) ** 2; n += a[i]! ** 2; }
  return Math.sqrt(d / n);
};

describe('dist: pure pieces', () => {
  it('shards a global batch contiguously, uneven sizes first', () => {
    expect([0, 1].map((r) => shardRange(4, r, 2))).toEqual([{ start: 0, count: 2 }, { start: 2, count: 2 }]);
    expect([0, 1, 2].map((r) => shardRange(7, r, 3))).toEqual([{ start: 0, count: 3 }, { start: 3, count: 2 }, { start: 5, count: 2 }]);
    expect(paddedLength(1001, 3)).toBe(1002);
    expect(Array.from(sumRows(Float64Array.of(1, 2, 10, 20, 100, 200), 3, 2))).toEqual([111, 222]);
  });

  it('binds GPUs from the local rank: by name when they differ, DRI_PRIME when identical', () => {
    const same: PciGpu[] = [{ address: '0000:41:00.0', vendor: '0x10de', device: '0x2330' }, { address: '0000:c1:00.0', vendor: '0x10de', device: '0x2330' }];
    expect(driPrime('0000:c1:00.0')).toBe('pci-0000_c1_00_0!');
    const b1 = chooseBinding(1, 2, same, { env: {}, layerPresent: true });
    expect(b1.env).toEqual({ DRI_PRIME: 'pci-0000_c1_00_0!' });
    expect(b1.pci).toBe('0000:c1:00.0');
    expect(b1.warning).toBeUndefined();
    expect(chooseBinding(0, 2, same, { env: {}, layerPresent: false }).warning).toMatch(/device-select/);
    const differ: PciGpu[] = [same[0]!, { address: '0000:c1:00.0', vendor: '0x1002', device: '0x74a1' }];
    const b2 = chooseBinding(1, 2, differ, { env: {} });
    expect(b2).toMatchObject({ env: {}, adapter: 1, adapterIsHardwareIndex: true, pci: '0000:c1:00.0' });
    expect(chooseBinding(0, 2, [], { env: {} }).env).toEqual({});                              // lavapipe
    expect(chooseBinding(2, 3, same, { env: {}, layerPresent: true }).warning).toMatch(/share/);
    expect(chooseBinding(0, 2, same, { adapter: 'H200', env: {} }).adapter).toBe('H200');
    expect(chooseBinding(0, 2, same, { env: { DRI_PRIME: '1' } }).env).toEqual({});
  });

  it('finds rank, size and local rank from MPICH, Open MPI and Slurm launchers', () => {
    expect(launcherEnv({})).toBeNull();
    expect(launcherEnv({ PMI_RANK: '3', PMI_SIZE: '8', MPI_LOCALRANKID: '1' })).toEqual({ rank: 3, size: 8, localRank: 1, launcher: 'PMI' });
    expect(launcherEnv({ OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_SIZE: '2', OMPI_COMM_WORLD_LOCAL_RANK: '1' })).toMatchObject({ rank: 1, size: 2, localRank: 1 });
    expect(launcherEnv({ SLURM_PROCID: '5', SLURM_NTASKS: '16', SLURM_LOCALID: '1' })).toBeNull();   // sbatch shell, not srun
    expect(launcherEnv({ SLURM_STEP_ID: '0', SLURM_PROCID: '5', SLURM_NTASKS: '16', SLURM_LOCALID: '1' })).toMatchObject({ rank: 5, size: 16, localRank: 1, launcher: 'srun' });
  });

  it('reports ranks sharing one hardware GPU, never software adapters', () => {
    const d = (rank: number, host: string, adapter: string, pci?: string, software = false) => ({ rank, host, adapter, pci, software });
    expect(sharedGpus([d(0, 'a', 'llvmpipe', undefined, true), d(1, 'a', 'llvmpipe', undefined, true)])).toEqual([]);
    expect(sharedGpus([d(0, 'a', 'H200', '0000:41:00.0'), d(1, 'a', 'H200', '0000:c1:00.0'), d(2, 'b', 'H200', '0000:41:00.0')])).toEqual([]);
    expect(sharedGpus([d(0, 'a', 'H200'), d(1, 'a', 'H200'), d(2, 'b', 'H200')])).toEqual([{ ranks: [0, 1], what: 'H200 on a' }]);
  });
});

describe('dist: backward hook', () => {
  it('announces each leaf once, when no later node changes its gradient', async () => {
    // y = sum(a·b + a) · c: a is read by two nodes (its gradient is final only after the earlier one)
    const r = rt();
    const a = r.parameter([1, 2, 3], [1, 3], 'a');
    const b = r.parameter([4, 5, 6], [1, 3], 'b');
    const c = r.parameter([2], [1], 'c');
    const y = r.scope(() => mul(sumLastDim(add(mul(a, b), a)), c));
    // The order is recorded when the hook is called; the reads may resolve in any order.
    const seen: { name: string; grad: number[] }[] = [];
    const pending: Promise<void>[] = [];
    r.tape.backward(y, undefined, (leaf) => {
      const entry = { name: leaf.name!, grad: [] as number[] };
      seen.push(entry);
      const snapshot = r.untracked(() => r.copy(leaf.grad!));
      pending.push(snapshot.read().then((g) => { entry.grad = Array.from(g); snapshot.release(); }));
    });
    await Promise.all(pending);
    expect(seen.map((s) => s.name)).toEqual(['c', 'a', 'b']);
    expect(seen.find((s) => s.name === 'a')!.grad).toEqual([10, 12, 14]);   // c·(b + 1), both uses in
    expect(seen.find((s) => s.name === 'b')!.grad).toEqual([2, 4, 6]);
    expect(seen.find((s) => s.name === 'c')!.grad).toEqual([4 + 10 + 18 + 6]);
    for (const t of [a, b, c]) { t.grad?.release(); t.release(); }
  });

  it('announces a flat-group parameter used through its f16 copy after backward widens its gradient', async () => {
    // y = sum(cast16(a)·b16)·c: a's only gradient is f16 (widened into its f32 slot when backward
    // ends), c's is f32; both are announced, c first, each with its final f32 gradient
    const r = rt();
    if (!r.device.hasF16) throw new Error(`adapter ${r.device.adapter.name} has no shader-f16; this test needs it`);
    const a = r.parameter([1, 2, 3], [1, 3], 'a');
    const c = r.parameter([2], [1], 'c');
    const group = FlatGroup.adopt(r, [a, c], 'hook');
    const b16 = r.tensor([4, 5, 6], [1, 3], 'f16');
    const y = r.scope(() => mul(cast(sumLastDim(mul(asDtype(a, 'f16'), b16)), 'f32'), c));
    const seen: { name: string; dtype: string; grad: number[] }[] = [];
    const pending: Promise<void>[] = [];
    r.tape.backward(y, undefined, (leaf) => {
      const entry = { name: leaf.name!, dtype: leaf.grad!.dtype, grad: [] as number[] };
      seen.push(entry);
      const snapshot = r.untracked(() => r.copy(leaf.grad!));
      pending.push(snapshot.read().then((g) => { entry.grad = Array.from(g); snapshot.release(); }));
    });
    await Promise.all(pending);
    expect(seen.map((s) => [s.name, s.dtype])).toEqual([['c', 'f32'], ['a', 'f32']]);
    expect(seen[1]!.grad).toEqual([8, 10, 12]);   // c·b
    expect(seen[0]!.grad).toEqual([4 + 10 + 18]);
    r.zeroGrad([a, c]);
    for (const t of [a, c, b16, y]) t.release();
    group.release();
  });
});

describe('dist: Dice partial sums', () => {
  // Each simulated rank computes its sums on its shard; the sums are added in rank order in float64
  // (as Mpi.sumOrdered does); Finish + backward on each shard must then give the whole batch's
  // loss and, concatenated, its d(logits). Float32 partial sums over a few hundred pixels: 1e-5.
  const TOL = { atol: 1e-6, rtol: 1e-5 };
  for (const split of [[2, 2], [3, 1], [1, 1, 2]]) {
    it(`shards ${split.join('+')} of a batch of 4 give the single-device loss and gradient`, async () => {
      const r = rt();
      const B = 4, K = 5, H = 6, W = 7, HW = H * W;
      const x = randn(B * K * HW, 11, -3, 3);
      const next = rng(5);
      const labels = Array.from({ length: B * HW }, () => Math.floor(next() * K));
      const ref = segLossRef(x, labels, B, K, HW);
      const dref = segLossRefBackward(x, labels, B, K, HW, 0.5, 0.5);

      const shards = split.reduce<{ b0: number; n: number }[]>((acc, n) => [...acc, { b0: acc.length ? acc[acc.length - 1]!.b0 + acc[acc.length - 1]!.n : 0, n }], []);
      const ranks = shards.map(({ b0, n }) => {
        const logits = r.parameter(x.subarray(b0 * K * HW, (b0 + n) * K * HW), [n, K, H, W]);
        const lab = r.tensor(labels.slice(b0 * HW, (b0 + n) * HW), [n, H, W], 'i32');
        return { logits, lab, partials: segLossPartials(logits, lab) };
      });
      const rows = new Float64Array(ranks.length * (3 * K + 1));
      for (const [i, { partials }] of ranks.entries()) {
        rows[i * (3 * K + 1)] = (await partials.ceSum.read())[0]!;
        rows.set(await partials.dicePartials.read(), i * (3 * K + 1) + 1);
      }
      const sum = sumRows(rows, ranks.length, 3 * K + 1);
      const pixels = B * HW;
      const dlogits: number[] = [];
      for (const { logits, lab } of ranks) {
        const values = segLossFinish(logits, lab, { ceSum: r.tensor([sum[0]!], [1]), dicePartials: r.tensor(sum.subarray(1), [3, K]), pixels }, { ceWeight: 0.5, diceWeight: 0.5 });
        expectClose('total', await values.total.read(), [ref.total], TOL);
        expectClose('ce', await values.ce.read(), [ref.ce], TOL);
        expectClose('dice', await values.dice.read(), [ref.dice], TOL);
        r.backward(values.total);
        dlogits.push(...(await logits.grad!.read()));
      }
      expectClose('d(logits), shards concatenated', dlogits, dref, TOL);
      // and the same as one device on the whole batch
      const whole = r.parameter(x, [B, K, H, W]);
      const single = segLoss(whole, r.tensor(labels, [B, H, W], 'i32'));
      r.backward(single.total);
      expectClose('d(logits) vs single device', dlogits, await whole.grad!.read(), TOL);
    });
  }
});

describe('dist: MPI', () => {
  it('sums in place and in rank order with identical bits on every rank (3 ranks, padded length)', async () => {
    const r = await run(mpiexec(), ['-n', '3', process.execPath, '--import', 'tsx', join(import.meta.dirname, 'dist', 'mpi_worker.ts')]);
    expect(r.code, r.out).toBe(0);
    const lines = r.out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { rank: number; hash: number; first: number[]; small: number[]; names: string[]; localSize: number });
    expect(lines.length).toBe(3);
    for (const l of lines) {
      expect(l.hash).toBe(lines[0]!.hash);
      expect(l.names).toEqual(['rank-0-é', 'rank-1-é', 'rank-2-é']);
      expect(l.localSize).toBe(3);
      expect(l.small).toEqual([0, 1, 2, 3, 4].map((i) => [0, 1, 2].reduce((a, rk) => a + (0.1 * (rk + 1) + i), 0)));
    }
    // element 1: Σ_r fround(sin(0.37 + r)·1e-2), summed by MPI in float32
    const want = [0, 1, 2].map((rk) => Math.fround(Math.sin(0.37 + rk) * 1e-2));
    expect(Math.abs(lines[0]!.first[1]! - (want[0]! + want[1]! + want[2]!))).toBeLessThan(1e-8);
  }, 60_000);
});

describe('dist: training on 2 ranks', () => {
  // Equivalence: 2 ranks × 2 images vs 1 rank × 4 images, 4 AdamW steps (lr 1e-3), tiny model,
  // 32 px, stochastic depth off. Losses and gradients differ only by float32 summation order
  // (1e-5 relative). AdamW's first steps move each weight by about ±lr whatever the gradient's
  // size, so a gradient element that is rounding noise (≈0) can move differently: parameters are
  // compared normwise on their updates (1e-3) and elementwise within 2·lr·steps.
  const LOSS_RTOL = 1e-5;
  const GRAD_NORMWISE = 1e-5;
  const UPDATE_NORMWISE = 1e-3;
  const STEPS = 4;
  let one: Awaited<ReturnType<typeof worker>>;
  let init: Float32Array;

  it('1 rank × 4 and 2 ranks × 2 give the same losses, gradients and parameters; overlap changes no bit', async () => {
    init = (await worker(1, 'init', { from: 0, to: 0 })).params;
    one = await worker(1, 'one', { from: 0, to: STEPS, captureGrads: true });
    const two = await worker(2, 'two', { from: 0, to: STEPS, captureGrads: true, overlap: true });
    const twoNoOverlap = await worker(2, 'two-sequential', { from: 0, to: 2, overlap: false, saveTo: join(dir, 'two-sequential') });
    const lossRel = maxRel(one.result.losses.flat(), two.result.losses.flat());
    const gradRel = normRel(one.grads!, two.grads!);
    const upd = (p: Float32Array): Float32Array => p.map((v, i) => v - init[i]!);
    const updRel = normRel(upd(one.params), upd(two.params));
    let maxAbs = 0;
    for (let i = 0; i < init.length; i++) maxAbs = Math.max(maxAbs, Math.abs(one.params[i]! - two.params[i]!));
    console.log(`1 vs 2 ranks over ${STEPS} steps: losses max rel diff ${lossRel.toExponential(2)}, step-1 gradients normwise ${gradRel.toExponential(2)}, ` +
      `updates normwise ${updRel.toExponential(2)}, parameters max abs diff ${maxAbs.toExponential(2)} (parameter max rel ${maxRel(one.params, two.params).toExponential(2)}); ` +
      `${two.result.buckets} buckets of ${(two.result.gradBytes / 2 ** 20).toFixed(2)} MiB in all`);
    expect(two.result.ranks).toBe(2);
    expect(two.result.buckets).toBeGreaterThan(2);
    expect(two.result.ranksInSync).toBe(true);
    expect(lossRel).toBeLessThan(LOSS_RTOL);
    expect(gradRel).toBeLessThan(GRAD_NORMWISE);
    expect(updRel).toBeLessThan(UPDATE_NORMWISE);
    expect(maxAbs).toBeLessThan(2 * 1e-3 * STEPS);
    // the same sums whether buckets start during backward or after it
    expect(twoNoOverlap.result.losses).toEqual(two.result.losses.slice(0, 2));
  }, 600_000);

  it('with stochastic depth on, 2 ranks drop the samples one device drops (masks by global sample index)', async () => {
    const sdOne = await worker(1, 'sd-one', { from: 0, to: 2, stochasticDepth: true });
    const sdTwo = await worker(2, 'sd-two', { from: 0, to: 2, stochasticDepth: true, overlap: false });
    const lossRel = maxRel(sdOne.result.losses.flat(), sdTwo.result.losses.flat());
    console.log(`stochastic depth on, 1 vs 2 ranks over 2 steps: losses max rel diff ${lossRel.toExponential(2)} ` +
      `(off vs on, 1 rank: ${maxRel(one.result.losses.slice(0, 2).flat(), sdOne.result.losses.flat()).toExponential(2)})`);
    expect(lossRel).toBeLessThan(LOSS_RTOL);
    // and the masks really change the step: on differs from off (measured 3.3e-5; the tiny model's
    // random residual branches are small) by far more than the ranks differ (1.3e-7)
    expect(maxRel(one.result.losses.slice(0, 2).flat(), sdOne.result.losses.flat())).toBeGreaterThan(1e-6);
  }, 600_000);

  // f16 storage with loss scaling (S = 2^16), 1 rank × 4 against 2 ranks × 2. Both compute the same
  // f32 maths in different summation orders, so before each f16 store their values differ by a
  // relative η (η = 1e-5, the f32 bounds above); rounding to f16 then gives equal values or values
  // one f16 spacing (≤ 2·u16·|x|) apart, the latter with probability ≤ η/(2·u16) (a rounding
  // boundary between them). Normwise that is √(2·η·u16) ≈ 9.9e-5 per store; N_fwd ≈ 187 stores in
  // the tiny forward (tests/model/f16.test.ts) and as many in the backward, adding in quadrature
  // with gain 1: losses (a mean over the logits) ≤ √187·9.9e-5 ≈ 1.4e-3 relative, the summed (still
  // scaled) step-1 gradients ≤ √374·9.9e-5 ≈ 1.9e-3 normwise, their norms likewise (|‖a‖ − ‖b‖| ≤
  // ‖a − b‖). Parameters: within 2·lr·steps elementwise, as in f32 (AdamW moves a weight about ±lr
  // a step whatever its gradient's size).
  const U16 = 2 ** -11;
  const PER_STORE = Math.sqrt(2 * 1e-5 * U16);
  const LOSS_RTOL_F16 = Math.sqrt(187) * PER_STORE;
  const GRAD_NORMWISE_F16 = Math.sqrt(374) * PER_STORE;

  it('f16 with loss scaling: 1 rank × 4 and 2 ranks × 2 agree; an overflow skips the step on every rank', async () => {
    const one16 = await worker(1, 'one-f16', { from: 0, to: STEPS, captureGrads: true, precision: 'f16' });
    const two16 = await worker(2, 'two-f16', { from: 0, to: STEPS, captureGrads: true, precision: 'f16', overlap: true });
    const lossRel = maxRel(one16.result.losses.flat(), two16.result.losses.flat());
    const gradRel = normRel(one16.grads!, two16.grads!);
    const normRelStep1 = Math.abs(one16.result.gradNorms[0]! - two16.result.gradNorms[0]!) / one16.result.gradNorms[0]!;
    let maxAbs = 0;
    for (let i = 0; i < one16.params.length; i++) maxAbs = Math.max(maxAbs, Math.abs(one16.params[i]! - two16.params[i]!));
    console.log(`f16, 1 vs 2 ranks over ${STEPS} steps: losses max rel diff ${lossRel.toExponential(2)} (bound ${LOSS_RTOL_F16.toExponential(2)}), ` +
      `step-1 gradients normwise ${gradRel.toExponential(2)} (bound ${GRAD_NORMWISE_F16.toExponential(2)}), gradient norm ${normRelStep1.toExponential(2)}, ` +
      `parameters max abs diff ${maxAbs.toExponential(2)}; f16 vs f32 on 1 rank: step-1 gradients normwise ${normRel(one.grads!.map((g) => g * 2 ** 16), one16.grads!).toExponential(2)}`);
    expect(two16.result.ranksInSync).toBe(true);
    for (const r of [one16.result, two16.result]) {
      expect(r.scales).toEqual(Array(STEPS).fill(2 ** 16));
      expect(r.applied).toEqual(Array(STEPS).fill(true));
    }
    expect(lossRel).toBeLessThan(LOSS_RTOL_F16);
    expect(gradRel).toBeLessThan(GRAD_NORMWISE_F16);
    expect(normRelStep1).toBeLessThan(GRAD_NORMWISE_F16);
    expect(maxAbs).toBeLessThan(2 * 1e-3 * STEPS);
    // S = 2^40 and 2^39 overflow the f16 d(logits) on both ranks: the sum is non-finite everywhere,
    // and every rank skips both steps, keeps every weight bit and halves its scale
    const overflow = await worker(2, 'two-f16-overflow', { from: 0, to: 2, precision: 'f16', initialScale: 2 ** 40 });
    expect(overflow.result.applied).toEqual([false, false]);
    expect(overflow.result.scales).toEqual([2 ** 40, 2 ** 39]);
    expect(overflow.result.ranksInSync).toBe(true);
    expect(overflow.params).toEqual(init);
  }, 600_000);

  it('resumes a 2-rank checkpoint on 1 rank like an uninterrupted run', async () => {
    const resumed = await worker(1, 'resumed', { from: 2, to: STEPS, resume: join(dir, 'two-sequential') });
    const lossRel = maxRel(one.result.losses.slice(2).flat(), resumed.result.losses.flat());
    const updRel = normRel(one.params.map((v, i) => v - init[i]!), resumed.params.map((v, i) => v - init[i]!));
    console.log(`2-rank checkpoint resumed on 1 rank: losses max rel diff ${lossRel.toExponential(2)}, updates normwise ${updRel.toExponential(2)}`);
    expect(lossRel).toBeLessThan(LOSS_RTOL);
    expect(updRel).toBeLessThan(UPDATE_NORMWISE);
  }, 600_000);

  it('a failing rank stops the job with a message naming the rank and the cause', async () => {
    const out = join(dir, 'fault');
    mkdirSync(out, { recursive: true });
    const r = await run(mpiexec(), ['-n', '2', process.execPath, '--import', 'tsx', WORKER, JSON.stringify({ out, from: 0, to: 3, failRank: 1, failStep: 1 })]);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/rank 1 of 2 \(pid \d+ on [^)]+\) failed: Error: injected fault at step 1/);
  }, 300_000);

  it('--devices 2 without MPI says how to install it', async () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    symlinkSync(process.execPath, join(bin, 'node'));
    const cli = join(import.meta.dirname, '..', '..', 'src', 'cli', 'segface.ts');
    const r = await run(join(bin, 'node'), ['--import', 'tsx', cli, 'train', '--devices', '2'], { ...process.env, PATH: bin });
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/no MPI launcher \(mpiexec\) found.*apt-get install mpich/s);
  }, 120_000);
});

