// Crash safety of `segface train`: one tiny run (32 px, batch 2, 4 synthetic samples: 2 steps per
// epoch, a checkpoint at every epoch's end) is killed with SIGKILL KILLS times: alternately at the
// moment a checkpoint write starts (the atomic write's temp file appears: inotify through fs.watch)
// and at a random moment of the epoch after a completed save, before the next save (so the run
// makes progress, one epoch at most per kill). After every kill the last checkpoint loads and
// `segface eval` evaluates it; the next start removes the temp file a killed write left, and
// --resume (or a fresh start, when no checkpoint was written yet) goes on; then the run finishes
// all its epochs and `segface eval` evaluates the final checkpoint.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readSafetensorsMetadata } from '../../src/runtime/formats/safetensors.js';
import { CHECKPOINT_FILE, loadCheckpoint } from '../../src/train/checkpoint.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SEGFACE = join(root, 'src/cli/segface.ts');
// Each random kill lets the run go at most two epochs on (the save it waits for and the one after),
// so 4 random kills stay short of 10 epochs.
const EPOCHS = 10;
const STEPS_PER_EPOCH = 2;
const TINY = ['--model', 'tiny', '--res', '32', '--batch', '2', '--train-size', '4', '--val-size', '2', '--epochs', String(EPOCHS)];
const KILLS = Number(process.env.CRASH_KILLS ?? 8);

/** mulberry32 */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

interface Child { pid: number; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>; kill(): void }

// node --import tsx: the child's pid is the training process itself (its temp files carry it).
function start(args: string[]): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', SEGFACE, 'train', ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stderr })));
  return { pid: child.pid!, exited, kill: () => child.kill('SIGKILL') };
}

const stepOf = (runDir: string): number => (JSON.parse(readSafetensorsMetadata(join(runDir, CHECKPOINT_FILE)).segface_train_state!) as { globalStep: number }).globalStep;
const temps = (runDir: string): string[] => (existsSync(runDir) ? readdirSync(runDir).filter((f) => f.endsWith('.tmp')) : []);

/** Resolves true at the first 'rename' event (created, deleted, renamed into place: not a read,
 *  whose atime update is a 'change') of `name` in `runDir`; false when the child exits first. */
function appears(runDir: string, name: string, exited: Promise<unknown>, accept: () => boolean = () => true): { seen: Promise<boolean>; close(): void } {
  let watcher: ReturnType<typeof watch> | undefined;
  let timer: NodeJS.Timeout | undefined;
  const seen = new Promise<boolean>((resolve) => {
    const arm = (): void => {
      if (!existsSync(runDir)) { timer = setTimeout(arm, 20); return; }
      watcher = watch(runDir, (event, file) => { if (event === 'rename' && file === name && accept()) resolve(true); });
    };
    arm();
    void exited.then(() => resolve(false));
  });
  return { seen, close: () => { watcher?.close(); clearTimeout(timer); } };
}

/** `segface eval` reads the run's checkpoint and prints the official metrics. */
function evaluates(runDir: string, when: string): void {
  const ev = spawnSync(process.execPath, ['--import', 'tsx', SEGFACE, 'eval', '--checkpoint', runDir, '--val-size', '2', '--res', '32'], { cwd: root, encoding: 'utf8' });
  expect(ev.status, `${when}: ${ev.stderr}`).toBe(0);
  expect(ev.stdout).toMatch(/Mean IoU/);
}

describe('train CLI under SIGKILL', () => {
  it(`killed ${KILLS} times (at checkpoint writes and at random): the last checkpoint always loads, --resume finishes the run`, async () => {
    const runDir = join(dir, 'run');
    const next = rng(16);
    const log: string[] = [];
    let caughtMidWrite = 0;
    let staleRemoved = 0;
    let lastStep = 0;
    for (let k = 0; k < KILLS; k++) {
      const staleBefore = temps(runDir);
      const resume = existsSync(join(runDir, CHECKPOINT_FILE));
      const child = start(resume ? ['--resume', runDir] : [...TINY, '--out', runDir]);
      const atWrite = k % 2 === 0;
      let killedAt: string;
      if (atWrite) {
        // the moment this process's atomic write creates its temp file
        const w = appears(runDir, `.${CHECKPOINT_FILE}.${child.pid}.tmp`, child.exited);
        const seen = await w.seen;
        if (seen) child.kill();
        w.close();
        killedAt = seen ? 'the start of a checkpoint write' : 'never (exited first)';
      } else {
        // a random moment (0–3 s) after this process completed a checkpoint: inside the next
        // epoch's steps, its validation, or the next save
        const t0 = Date.now();
        // the rename that completes a save of a later step (a resumed run first re-saves the
        // epoch it resumed at, after its validation)
        const newer = (): boolean => { try { return stepOf(runDir) > lastStep; } catch { return false; } };
        const w = appears(runDir, CHECKPOINT_FILE, child.exited, newer);
        const saved = await w.seen;
        w.close();
        // ... but before the save after it, so that each kill costs the run at most one epoch of
        // progress, however fast the machine is: the run cannot reach its end before the last kill
        const ms = Math.floor(next() * 3000);
        let cut = false;
        if (saved) {
          const savedStep = stepOf(runDir);
          const following = appears(runDir, CHECKPOINT_FILE, child.exited, () => { try { return stepOf(runDir) > savedStep; } catch { return false; } });
          cut = await Promise.race([new Promise<boolean>((r) => setTimeout(() => r(false), ms)), following.seen]);
          following.close();
        }
        child.kill();
        killedAt = `${cut ? 'the next save, sooner than ' : ''}${ms} ms after the checkpoint of a new epoch (${saved ? `saved ${((Date.now() - t0 - ms) / 1000).toFixed(1)} s after the start` : 'none: exited first'})`;
      }
      const r = await child.exited;
      expect(r.signal === 'SIGKILL' || r.code === 0, `start ${k}: ${r.stderr}`).toBe(true);
      // the previous start removed what a killed write had left before it
      for (const t of staleBefore) expect(existsSync(join(runDir, t)), `start ${k}: stale ${t} removed`).toBe(false);
      staleRemoved += staleBefore.length;
      const left = temps(runDir).length;
      if (left > 0) caughtMidWrite++;
      if (existsSync(join(runDir, CHECKPOINT_FILE))) {
        const ck = loadCheckpoint(runDir);
        expect(ck.state.globalStep, `start ${k}: checkpoint steps never go back`).toBeGreaterThanOrEqual(lastStep);
        lastStep = ck.state.globalStep;
        expect(ck.weights.size).toBeGreaterThan(0);
        evaluates(runDir, `start ${k}`);
      }
      log.push(`kill ${k + 1}: at ${killedAt}, checkpoint at step ${lastStep}, temp files left ${left}`);
      expect(r.code, `start ${k} finished before its kill`).toBeNull();
    }
    // the run finishes
    const last = start(['--resume', runDir]);
    const r = await last.exited;
    expect(r.code, r.stderr).toBe(0);
    expect(temps(runDir)).toEqual([]);
    const end = loadCheckpoint(runDir).state;
    expect([end.epoch, end.globalStep]).toEqual([EPOCHS, EPOCHS * STEPS_PER_EPOCH]);
    // and `npm run eval` reads the final checkpoint
    evaluates(runDir, 'the finished run');
    console.log(`${log.join('\n')}\n${KILLS} kills survived (${caughtMidWrite} left a half-written temp file, ${staleRemoved} stale temp files removed at the next start); the run finished all ${EPOCHS} epochs`);
  }, 300_000);
});
