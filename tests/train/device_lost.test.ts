// A lost GPU device: (a) destroyed in the middle of a training step (recorded and submitted, its
// readback pending): the step rejects with DeviceLostError, one line; (b) `npm run train` whose
// device is lost mid-step (SEGFACE_FAULT_LOSE_DEVICE_AT_DISPATCH: Dawn reports it through the
// device-lost callback, as after a driver reset): one clear line, exit 1, no stack trace; the last
// checkpoint loads and --resume finishes the run; (c) `segface train` whose batch's out-of-memory
// error scope reports an error (SEGFACE_FAULT_OOM_AT_DISPATCH): the same one line, naming it.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/model/config.js';
import { syntheticParams } from '../../src/model/params.js';
import { DeviceLostError } from '../../src/runtime/device.js';
import { AdamW } from '../../src/runtime/ops/adamw.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { CHECKPOINT_FILE, loadCheckpoint } from '../../src/train/checkpoint.js';
import { epochBatches, makeBatch } from '../../src/train/data/dataset.js';
import { SyntheticDataset } from '../../src/train/data/synthetic_dataset.js';
import { MultiStepLR } from '../../src/train/schedule.js';
import { Trainer } from '../../src/train/trainer.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'device-lost-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SEGFACE = join(root, 'src/cli/segface.ts');
const TINY = ['--model', 'tiny', '--res', '32', '--batch', '2', '--train-size', '4', '--val-size', '2', '--epochs', '3'];

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', SEGFACE, 'train', ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

// the runtime stays referenced at module level while anything made from it lives (dawn-node)
let rt: Runtime | undefined;
afterAll(() => rt?.destroy());

describe('a lost GPU device', () => {
  it('destroyed in the middle of a training step: the step rejects with DeviceLostError (one line)', async () => {
    rt = await Runtime.create();
    const data = new SyntheticDataset('train', 4, 32, 'celeb', 1);
    const params = syntheticParams(rt, makeConfig('tiny', 'celeb'), 1);
    const trainer = new Trainer(rt, params, new AdamW(params.params(), { lr: 1e-4, weightDecay: 0 }), new MultiStepLR(1e-4, []), 1);
    const batches = epochBatches(data.length, 2, 1, 0).map((idx) => makeBatch(data, idx));
    expect((await trainer.step(batches[0]!, 32, 0, 0)).applied).toBe(true);
    const pending = trainer.step(batches[1]!, 32, 0, 1);     // recorded and submitted; its readback waits
    rt.device.simulateLoss();
    const err = await pending.then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceLostError);
    expect((err as Error).message).toMatch(/^WebGPU device lost \(destroyed while in use[^\n]*\) while reading back$/);
  });

  it('segface train: one line and exit 1; the last checkpoint loads and --resume finishes', async () => {
    const runDir = join(dir, 'run');
    // 1,700 kernel dispatches: inside the second epoch's first step (an epoch is 2 steps of about
    // 610 dispatches and a validation of about 180: dispatches 1,407-2,018), after the first epoch's checkpoint
    const lost = await run([...TINY, '--out', runDir], { SEGFACE_FAULT_LOSE_DEVICE_AT_DISPATCH: '1700' });
    expect(lost.code, lost.stderr).toBe(1);
    const lines = lost.stderr.trim().split('\n');
    expect(lines[lines.length - 1]).toMatch(/^error: WebGPU device lost \(destroyed while in use.*continue with segface train --resume /);
    expect(lost.stderr).not.toMatch(/\n\s+at /);             // no stack trace
    const mid = loadCheckpoint(runDir).state;
    expect(mid.globalStep).toBe(2);                          // the first epoch's checkpoint
    const resumed = await run(['--resume', runDir]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const end = loadCheckpoint(join(runDir, CHECKPOINT_FILE)).state;
    expect([end.epoch, end.globalStep]).toEqual([3, 6]);
  }, 300_000);

  it('segface train out of GPU memory (the batch\'s out-of-memory error scope): one line naming it and exit 1; --resume finishes', async () => {
    const runDir = join(dir, 'oom');
    // the same moment: the second epoch's first step, after the first epoch's checkpoint
    const oom = await run([...TINY, '--out', runDir], { SEGFACE_FAULT_OOM_AT_DISPATCH: '1700' });
    expect(oom.code, oom.stderr).toBe(1);
    const lines = oom.stderr.trim().split('\n');
    expect(lines[lines.length - 1]).toMatch(/^error: WebGPU GPUOutOfMemoryError in .*Out of memory.*continue with segface train --resume /);
    expect(oom.stderr).not.toMatch(/\n\s+at /);
    expect(loadCheckpoint(runDir).state.globalStep).toBe(2);
    const resumed = await run(['--resume', runDir]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(loadCheckpoint(runDir).state.globalStep).toBe(6);
  }, 300_000);
});
