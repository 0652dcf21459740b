// `npm run train` under faults, as a subprocess on tiny settings (32 px, batch 2, a few synthetic
// samples): bad flags are refused before any work; an unwritable run directory is named before
// training; Ctrl-C saves a checkpoint and --resume finishes the run exactly as an uninterrupted one;
// a diverging run (an absurd --lr) skips its non-finite steps and stops after --max-bad-steps with
// the last good checkpoint byte for byte intact; a full disk (ENOSPC from the kernel: the atomic
// write's temp file is made a symlink to /dev/full) fails the save with a clear message and leaves
// the previous checkpoint intact.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/model/config.js';
import { syntheticParams } from '../../src/model/params.js';
import { AdamW } from '../../src/runtime/ops/adamw.js';
import { CHECKPOINT_FILE, CHECKPOINT_VERSION, loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';
import { useRuntime } from '../harness.js';
import { readImage } from '../../src/train/image/index.js';

const rt = useRuntime();
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'faults-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SEGFACE = join(root, 'src/cli/segface.ts');
// 8 samples, batch 2: 4 steps per epoch
const TINY = ['--model', 'tiny', '--res', '32', '--batch', '2', '--train-size', '8', '--val-size', '2'];

interface Exit { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

// node --import tsx (not the tsx wrapper): the child's pid is the training process itself, so
// signals reach it directly and its temp-file names (.NAME.PID.tmp) are known.
function start(args: string[]): { pid: number; kill: (s: NodeJS.Signals) => void; done: Promise<Exit> } {
  const child = spawn(process.execPath, ['--import', 'tsx', SEGFACE, 'train', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const done = new Promise<Exit>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { pid: child.pid!, kill: (s) => child.kill(s), done };
}
const run = (args: string[]): Promise<Exit> => start(args).done;

function metrics(runDir: string): { kind: string; step?: number; applied?: boolean; epoch: number }[] {
  return readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}
const bytesOf = (runDir: string): Buffer => readFileSync(join(runDir, CHECKPOINT_FILE));
const tempFiles = (runDir: string): string[] => readdirSync(runDir).filter((f) => f.endsWith('.tmp'));

async function until(cond: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// A finished one-epoch run that the divergence and full-disk cases continue (each on a copy).
const base = join(dir, 'base');
beforeAll(async () => {
  const r = await run([...TINY, '--epochs', '1', '--out', base]);
  if (r.code !== 0) throw new Error(`base run failed (${r.code}):\n${r.stderr}`);
}, 300_000);

describe('train CLI faults', () => {
  it('refuses bad flag values before any work (exit 2, the flag named, no run directory made)', async () => {
    const cases: [string[], RegExp][] = [
      [['--res', '30'], /--res 30: must be a multiple of 4/],
      [['--batch', '0'], /--batch 0: expected an integer >= 1/],
      [['--epochs', '1.5'], /--epochs 1\.5: expected an integer/],
      [['--lr', 'abc'], /--lr abc: expected a non-negative number/],
      [['--lr=-1'], /--lr -1: expected a non-negative number/],
      [['--model', 'nope'], /--model nope: expected one of/],
      [['--preset', 'nope'], /--preset nope: expected default or long/],
      [['--resume', base, '--preset', 'long'], /--preset: --resume .* continues with the run's saved settings/],
      [['--resume', base, '--warmup-steps', '3'], /--warmup-steps 3: the run in .* was made with \d+; --resume keeps it/],
      [['--dataset', 'ade20k'], /--dataset ade20k: expected celeb, lapa or helen/],
      [['--milestones', '3,x'], /--milestones x: expected an integer >= 0/],
      [['--train-size', '1'], /--train-size 1 is smaller than --batch 2/],
      [['--bogus'], /unknown flag --bogus/],
      [['--resume', join(dir, 'no-such-run')], /--resume: .*no-such-run.*no checkpoint there/],
      [['--resume', base, '--res', '64'], /--res 64: the run in .* was made with 32; --resume keeps it/],
      [['--out', base], /already holds a run's checkpoint; continue it with --resume/],   // never overwrites a run
    ];
    const before = bytesOf(base);
    const results = await Promise.all(cases.map(([args], i) => run([...TINY, '--out', join(dir, `bad${i}`), ...args])));
    results.forEach((r, i) => {
      const [args, message] = cases[i]!;
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr, args.join(' ')).toMatch(/segface train --help/);
      expect(r.stderr, args.join(' ')).not.toMatch(/\n\s+at /);            // no stack trace
      expect(r.stdout, args.join(' ')).not.toMatch(/adapter/);             // no GPU work started
      expect(existsSync(join(dir, `bad${i}`)), args.join(' ')).toBe(false);
    });
    expect(bytesOf(base).equals(before)).toBe(true);
  }, 300_000);

  it('a finished run leaves its training curve as a PNG', () => {
    const png = readImage(join(base, 'curve.png'));
    expect([png.width, png.height]).toEqual([800, 450]);
  });

  it('an unwritable --out fails before training with a message naming it', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'not a directory');
    for (const out of [join(file, 'run'), file]) {          // below a file; a file itself
      const r = await run([...TINY, '--out', out]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`--out ${out}: cannot write the run directory there`);
      expect(r.stdout).not.toMatch(/adapter/);
    }
  }, 120_000);

  it('Ctrl-C saves a checkpoint and exits 130; --resume finishes exactly like an uninterrupted run', async () => {
    const a = join(dir, 'interrupted');
    const child = start([...TINY, '--epochs', '2', '--out', a]);
    await until(() => existsSync(join(a, 'metrics.jsonl')) && metrics(a).some((m) => m.kind === 'train'), 'the first training step');
    child.kill('SIGINT');
    const r = await child.done;
    expect(r.signal, r.stderr).toBeNull();                 // handled, not killed by the signal
    expect(r.code, r.stderr).toBe(130);                     // saved, but the run did not finish
    expect(r.stderr).toMatch(/interrupted: saving a checkpoint after the current step/);
    expect(r.stderr).toContain(`continue with: segface train --resume ${a}`);
    const mid = loadCheckpoint(a).state;
    expect(mid.globalStep).toBeGreaterThanOrEqual(1);
    expect(mid.globalStep).toBeLessThan(8);
    expect(tempFiles(a)).toEqual([]);

    const resumed = await run(['--resume', a]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const end = loadCheckpoint(a);
    expect([end.state.epoch, end.state.batchInEpoch, end.state.globalStep]).toEqual([2, 0, 8]);
    // every step ran exactly once across the two processes
    expect(metrics(a).filter((m) => m.kind === 'train').map((m) => m.step)).toEqual(Array.from({ length: 8 }, (_, i) => i + 1));

    const b = join(dir, 'straight');
    const straight = await run([...TINY, '--epochs', '2', '--out', b]);
    expect(straight.code, straight.stderr).toBe(0);
    const want = loadCheckpoint(b);
    for (const [name, t] of want.weights) expect(Array.from(end.weights.get(name)!.data), name).toEqual(Array.from(t.data));
    for (const [name, t] of want.expAvgSq) expect(Array.from(end.expAvgSq.get(name)!.data), name).toEqual(Array.from(t.data));
  }, 300_000);

  it('a diverging run (--lr 1e30) skips its non-finite steps and stops after --max-bad-steps; the last good checkpoint is intact', async () => {
    const d = join(dir, 'diverge');
    cpSync(base, d, { recursive: true });
    const before = bytesOf(d);
    // continue the finished run for another epoch with an absurd learning rate: the first step is
    // finite and throws the weights to ~1e30, every later one overflows
    const r = await run(['--resume', d, '--epochs', '2', '--lr', '1e30', '--max-bad-steps', '2']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`error: 2 consecutive steps with a non-finite loss or gradient; stopping. The last good checkpoint in ${d} is intact.`);
    expect(r.stdout).toMatch(/lr 1e\+30/);
    const steps = metrics(d).filter((m) => m.kind === 'train' && m.epoch === 1);
    expect(steps.map((m) => m.applied)).toEqual([true, false, false]);
    expect(bytesOf(d).equals(before)).toBe(true);
    expect(tempFiles(d)).toEqual([]);
  }, 300_000);

  it('a full disk fails the save with a clear message; the previous checkpoint is intact', async () => {
    const d = join(dir, 'full');
    cpSync(base, d, { recursive: true });
    const before = bytesOf(d);
    const child = start(['--resume', d, '--epochs', '2']);
    // writeFileAtomic writes .checkpoint.safetensors.PID.tmp first: make that /dev/full (ENOSPC)
    const tmp = join(d, `.${CHECKPOINT_FILE}.${child.pid}.tmp`);
    symlinkSync('/dev/full', tmp);
    const r = await child.done;
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`error: could not save ${d.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}/checkpoint\\.safetensors \\(the disk is full\\): .*ENOSPC`));
    expect(r.stderr).toMatch(/the previous checkpoint there \(if any\) is intact/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(bytesOf(d).equals(before)).toBe(true);
    expect(existsSync(tmp)).toBe(false);                    // the failed temp file is removed
    expect(metrics(d).filter((m) => m.kind === 'train' && m.epoch === 1)).toHaveLength(4);   // it did train
  }, 300_000);

  it('saveCheckpoint itself: ENOSPC is reported with the file and what it means, the old file untouched', async () => {
    const d = join(dir, 'unit');
    cpSync(base, d, { recursive: true });
    const before = bytesOf(d);
    const cfg = makeConfig('tiny', 'celeb');
    const params = syntheticParams(rt(), cfg, 1);
    const optim = new AdamW(params.params(), { lr: 1e-3 });
    const tmp = join(d, `.${CHECKPOINT_FILE}.${process.pid}.tmp`);
    symlinkSync('/dev/full', tmp);
    const state = { version: CHECKPOINT_VERSION, epoch: 0, batchInEpoch: 0, globalStep: 0, optimSteps: optim.steps, skippedSteps: 0, args: {} };
    await expect(saveCheckpoint(d, params, optim, state)).rejects.toThrow(/could not save .*checkpoint\.safetensors \(the disk is full\): cannot write .*ENOSPC/);
    expect(bytesOf(d).equals(before)).toBe(true);
    expect(existsSync(tmp)).toBe(false);
    // and a save that can write replaces it atomically
    await saveCheckpoint(d, params, optim, state);
    expect(bytesOf(d).equals(before)).toBe(false);
    expect(tempFiles(d)).toEqual([]);
    params.release();
    optim.destroy();
  }, 120_000);
});
