// `npm run export`: a training checkpoint (tiny, after 2 AdamW steps) written in the official
// torch.save layout. Checked three ways: our own reader (every tensor bit for bit, dtypes, the
// optimizer and scheduler fields); PyTorch (python3-torch 1.13): torch.load, load_state_dict
// (strict=True) into tools/reference/segface_ref.py's SegFace, the optimizer and scheduler state
// loaded into AdamW(model.parameters()) and MultiStepLR, then one torch step from that state; and
// the logits of torch's forward of the exported weights against our forward. A warm-up + cosine
// run's scheduler loads into torch's SequentialLR and continues the schedule. A missing python fails.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { makeConfig, stateDictSpec } from '../../src/model/config.js';
import { syntheticParams } from '../../src/model/params.js';
import { readStateDict } from '../../src/model/weights_file.js';
import { segfaceForward } from '../../src/model/segface.js';
import { AdamW } from '../../src/runtime/ops/adamw.js';
import { readSafetensors, writeSafetensors } from '../../src/runtime/formats/safetensors.js';
import { PyDict, PyObject, readTorchCheckpoint, TorchTensor } from '../../src/runtime/formats/torch_checkpoint.js';
import { CHECKPOINT_VERSION, loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';
import { epochBatches, makeBatch } from '../../src/train/data/dataset.js';
import { SyntheticDataset } from '../../src/train/data/synthetic_dataset.js';
import { MultiStepLR } from '../../src/train/schedule.js';
import { Trainer } from '../../src/train/trainer.js';
import { useRuntime } from '../harness.js';

const rt = useRuntime();
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const tsx = join(root, 'node_modules/.bin/tsx');
const RES = 32;
// torch's forward of the same float32 weights: the project's activation target (relative L2).
const LOGITS_RELL2 = 1e-4;

function runExport(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(tsx, [join(root, 'src/cli/segface.ts'), 'export', ...args], { cwd: root, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const get = (d: unknown, ...keys: (string | number)[]): unknown => keys.reduce((x, k) => (x as PyDict).get(k), d);

describe('npm run export', () => {
  it('writes the official layout: torch loads it strictly, the optimizer and scheduler resume, logits agree', async () => {
    const cfg = makeConfig('tiny', 'celeb');
    const params = syntheticParams(rt(), cfg, 7);
    const optim = new AdamW(params.params(), { lr: 1e-3, weightDecay: 1e-5 });
    const schedule = new MultiStepLR(1e-3, [1, 3]);
    const trainer = new Trainer(rt(), params, optim, schedule, 1, false);
    const data = new SyntheticDataset('train', 4, RES, 'celeb', 2);
    const batches = epochBatches(4, 2, 2, 0);
    for (let s = 0; s < 2; s++) expect((await trainer.step(makeBatch(data, batches[s]!), RES, 0, s)).applied).toBe(true);
    const run = join(dir, 'run');
    mkdirSync(run);
    await saveCheckpoint(run, params, optim, {
      version: CHECKPOINT_VERSION, epoch: 1, batchInEpoch: 0, globalStep: 2, optimSteps: [...optim.steps], skippedSteps: 0,
      args: { model: 'tiny', dataset: 'celeb', lr: 1e-3, weightDecay: 1e-5, milestones: [1, 3] },
    });
    const ck = loadCheckpoint(run);
    const pt = join(dir, 'model.pt');
    const r = runExport('--checkpoint', run, '--out', pt);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/tiny\/celeb, 1 epoch\(s\) completed, 2 step\(s\)/);

    // ---- our reader: the same bits, the official dtypes and fields
    const back = readTorchCheckpoint(pt) as PyDict;
    expect([...back.keys()]).toEqual(['epoch', 'iteration', 'state_dict_backbone', 'optimizer', 'scheduler']);
    expect(back.get('epoch')).toBe(0);          // the last completed epoch, 0-based (model_299.pt: 299)
    expect(back.get('iteration')).toBe(2);
    const sd = back.get('state_dict_backbone') as PyDict;
    const specs = stateDictSpec(cfg);
    expect([...sd.keys()]).toEqual(specs.map((s) => s.name));
    for (const s of specs) {
      const t = sd.get(s.name) as TorchTensor;
      expect(t.dtype, s.name).toBe(s.integer ? 'int64' : 'float32');
      expect(t.shape, s.name).toEqual(s.shape);
      expect(Buffer.from(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)).equals(
        Buffer.from(new Uint8Array(ck.weights.get(s.name)!.data.buffer))), s.name).toBe(true);
    }
    // and the project's own loaders (--init-from, predict, verify) read it back
    const again = readStateDict(pt);
    for (const s of specs) expect(Array.from(again.get(s.name)!.data), s.name).toEqual(Array.from(ck.weights.get(s.name)!.data));
    const trainable = specs.filter((s) => s.kind === 'param');
    const state = get(back, 'optimizer', 'state') as PyDict;
    // every parameter but the unused final Swin norm (backbone.1.*) was stepped twice
    expect([...state.keys()]).toEqual(trainable.map((s, i) => (s.name.startsWith('backbone.1.') ? -1 : i)).filter((i) => i >= 0));
    for (const [i, s] of trainable.entries()) {
      if (!state.has(i)) continue;
      expect(Array.from((get(state, i, 'step') as TorchTensor).data)).toEqual([2]);
      expect(Array.from((get(state, i, 'exp_avg') as TorchTensor).data)).toEqual(Array.from(ck.expAvg.get(s.name)!.data));
      expect(Array.from((get(state, i, 'exp_avg_sq') as TorchTensor).data)).toEqual(Array.from(ck.expAvgSq.get(s.name)!.data));
    }
    const group = (get(back, 'optimizer', 'param_groups') as PyDict[])[0]!;
    expect(group.get('lr')).toBeCloseTo(1e-4, 15);           // one milestone (1) passed
    expect(group.get('initial_lr')).toBe(1e-3);
    expect(group.get('weight_decay')).toBe(1e-5);
    expect(group.get('params')).toEqual(trainable.map((_, i) => i));
    const sched = back.get('scheduler') as PyDict;
    expect(sched.get('last_epoch')).toBe(1);
    expect(sched.get('_step_count')).toBe(2);
    expect([...((sched.get('milestones') as PyObject).args[0] as PyDict)]).toEqual([[1, 1], [3, 1]]);

    // ---- PyTorch: strict load, optimizer + scheduler resume, forward on a fixed image
    const image = makeBatch(data, [3]).images;
    writeSafetensors(join(dir, 'image.safetensors'), { image: { shape: [1, 3, RES, RES], data: image } });
    const script = `
import sys, json, torch, numpy as np
sys.path.insert(0, ${JSON.stringify(join(root, 'tools/reference'))})
from segface_ref import SegFace, make_config, seg_losses
from safetensors_io import read_safetensors, write_safetensors
d = ${JSON.stringify(dir)}
ck = torch.load(d + '/model.pt', map_location='cpu')
model = SegFace(make_config('tiny', 'celeb')).eval()
res = model.load_state_dict(ck['state_dict_backbone'], strict=True)
st = read_safetensors(d + '/run/checkpoint.safetensors')
same = all(np.array_equal(v.numpy(), st[k].astype(v.numpy().dtype)) for k, v in model.state_dict().items())
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-5, foreach=False)
sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[1, 3], gamma=0.1)
opt.load_state_dict(ck['optimizer'])
sched.load_state_dict(ck['scheduler'])
x = torch.from_numpy(read_safetensors(d + '/image.safetensors')['image'].copy())
with torch.no_grad():
    logits = model(x)
write_safetensors(d + '/torch_logits.safetensors', {'logits': logits.numpy()})
# one more step from the loaded optimizer state, then the scheduler's next epoch
loss = seg_losses(model(x), torch.zeros(1, ${RES}, ${RES}, dtype=torch.long))[0]
loss.backward()
opt.step(); sched.step()
steps = sorted({int(s['step']) for s in opt.state.values()})
print(json.dumps({'same': bool(same), 'lr_before': ck['optimizer']['param_groups'][0]['lr'], 'lr_after': sched.get_last_lr()[0],
                  'steps': steps, 'n_state': len(opt.state), 'version': torch.__version__}))
`;
    writeFileSync(join(dir, 'check.py'), script);
    let out: string;
    try {
      out = execFileSync('/usr/bin/python3', [join(dir, 'check.py')], { env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' }, encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      throw new Error(`python3-torch could not load the export (is python3-torch installed? run: bash scripts/setup.sh --tests):\n${(e as { stderr?: string }).stderr ?? e}`);
    }
    const py = JSON.parse(out.trim().split('\n').pop()!) as { same: boolean; lr_before: number; lr_after: number; steps: number[]; n_state: number };
    expect(py.same).toBe(true);                              // weights bit for bit after load_state_dict
    expect(py.lr_before).toBeCloseTo(1e-4, 15);
    expect(py.lr_after).toBeCloseTo(1e-4, 15);               // epoch 2: still one milestone passed
    expect(py.steps).toEqual([3]);                           // resumed from step 2
    expect(py.n_state).toBe(state.size);

    const logits = rt().withoutGrad(() => rt().scope(() => segfaceForward(params, rt().tensor(image, [1, 3, RES, RES]))));
    const ours = await logits.read();
    logits.release();
    const theirs = readSafetensors(join(dir, 'torch_logits.safetensors')).get('logits')!.data;
    let d2 = 0;
    let n2 = 0;
    for (let i = 0; i < theirs.length; i++) { d2 += (ours[i]! - theirs[i]!) ** 2; n2 += theirs[i]! ** 2; }
    const rel = Math.sqrt(d2 / n2);
    console.log(`export: torch forward of the exported weights vs ours, relative L2 ${rel.toExponential(2)}`);
    expect(rel).toBeLessThan(LOGITS_RELL2);
    params.release();
    optim.destroy();
  }, 300_000);

  it('a warm-up + cosine run exports SequentialLR(LinearLR, CosineAnnealingLR) state that torch resumes', () => {
    // The first test's checkpoint (2 steps) relabelled as a cosine run: 3 epochs of 2 steps, 1 warm-up step.
    const run = join(dir, 'run-cosine');
    mkdirSync(run);
    const ck = loadCheckpoint(join(dir, 'run'));
    const args = { ...ck.state.args, epochs: 3, schedule: 'cosine', warmupSteps: 1, minLr: 1e-5 };
    writeSafetensors(join(run, 'checkpoint.safetensors'), readSafetensors(join(dir, 'run', 'checkpoint.safetensors')),
      { segface_train_state: JSON.stringify({ ...ck.state, args, stepsPerEpoch: 2 }) });
    const pt = join(dir, 'cosine.pt');
    const r = runExport('--checkpoint', run, '--out', pt);
    expect(r.status, r.stderr).toBe(0);
    const script = `
import sys, json, torch
sys.path.insert(0, ${JSON.stringify(join(root, 'tools/reference'))})
from segface_ref import SegFace, make_config
ck = torch.load(${JSON.stringify(pt)}, map_location='cpu')
model = SegFace(make_config('tiny', 'celeb'))
model.load_state_dict(ck['state_dict_backbone'], strict=True)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-5, foreach=False)
lin = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.01, end_factor=1.0, total_iters=1)
cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5, eta_min=1e-5)
sched = torch.optim.lr_scheduler.SequentialLR(opt, [lin, cos], milestones=[1])
opt.load_state_dict(ck['optimizer'])
sched.load_state_dict(ck['scheduler'])
lrs = [opt.param_groups[0]['lr']]
for _ in range(3):
    opt.step(); sched.step(); lrs.append(opt.param_groups[0]['lr'])
print(json.dumps(lrs))
`;
    writeFileSync(join(dir, 'check_cosine.py'), script);
    const lrs = JSON.parse(execFileSync('/usr/bin/python3', [join(dir, 'check_cosine.py')], { env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' }, encoding: 'utf8' }).trim().split('\n').pop()!) as number[];
    // Steps 2..5 of the cosine: eta_min + (base − eta_min)(1 + cos(π (t − 1) / 5)) / 2; torch recurses
    // from the loaded state, a few float64 roundings a step (schedule.test.ts's bound, 1e-12 · base).
    const want = [2, 3, 4, 5].map((t) => 1e-5 + ((1e-3 - 1e-5) * (1 + Math.cos((Math.PI * (t - 1)) / 5))) / 2);
    lrs.forEach((lr, i) => expect(Math.abs(lr - want[i]!)).toBeLessThanOrEqual(1e-12 * 1e-3));
  }, 120_000);

  it('refuses bad arguments with a clear message', () => {
    let r = runExport('--out', join(dir, 'x.pt'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--checkpoint is required/);
    r = runExport('--checkpoint', join(dir, 'nothing-here'), '--out', join(dir, 'x.pt'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/nothing-here: no such file/);
    r = runExport('--checkpoint', dir, '--out', join(dir, 'x.pt'), '--bogus');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/bogus/);
    // a safetensors state dict without training state
    writeSafetensors(join(dir, 'plain.safetensors'), { w: { shape: [1], data: new Float32Array(1) } });
    r = runExport('--checkpoint', join(dir, 'plain.safetensors'), '--out', join(dir, 'x.pt'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/plain\.safetensors: not a training checkpoint/);
    r = runExport('--checkpoint', join(dir, 'run'), '--out', dir);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/is a directory/);
  }, 120_000);
});
