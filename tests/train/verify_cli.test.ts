// `npm run verify -- --checkpoint --image --labels --dump-loss --dump-grads` against PyTorch: the
// same weights file, image and label PNGs go through tools/reference/grads_for_image.py (official
// pre-processing with PIL, torchvision ToTensor/Normalize, Debian's python3-torch 1.13). The image
// is not at the model resolution, so both sides resize it (PIL bicubic / nearest for the labels).
// The LaPa run passes the face's 5 landmarks, so both sides warp onto the template and back.
// Tolerances: loss 1e-5 relative; gradients 1e-4 relative L2 (ten times tighter than the project
// target of 1e-3); the zero-by-invariance gradients at the project's absolute L2 limit
// (DEFAULT_TOLERANCES: 1e-6). Measured: gradients <= 2.8e-5; the last hypernetwork bias 3.3e-8
// (PyTorch's own rounding noise there: 4.2e-9, next to a weight gradient of norm 1.7e-3).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/model/config.js';
import { relL2 } from '../../src/model/reference_case.js';
import { DEFAULT_TOLERANCES, ZERO_BY_INVARIANCE } from '../../src/model/verify_report.js';
import { readSafetensors, readSafetensorsMetadata } from '../../src/runtime/formats/safetensors.js';
import { syntheticSample } from '../../src/train/data/synthetic.js';
import { writePng } from '../../src/train/image/index.js';
import { writeSyntheticWeights } from './weights_fixture.js';

const LOSS_REL = 1e-5;
const GRAD_REL_L2 = 1e-4;
const ZERO_ABS_L2 = DEFAULT_TOLERANCES.invariantZeroAbs;

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'verify-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const tsx = join(root, 'node_modules/.bin/tsx');
const segface = join(root, 'src/cli/segface.ts');

function python(args: string[]): void {
  try {
    execFileSync('/usr/bin/python3', args, { env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' }, stdio: 'pipe' });
  } catch (e) {
    throw new Error(`${args[0]} failed (is python3-torch installed? run: bash scripts/setup.sh --tests):\n${(e as { stderr?: Buffer }).stderr?.toString() ?? e}`);
  }
}

function compare(ours: { loss: string; grads: string }, ref: { loss: string; grads: string }): void {
  const a = JSON.parse(readFileSync(ours.loss, 'utf8')) as Record<string, number>;
  const b = JSON.parse(readFileSync(ref.loss, 'utf8')) as Record<string, number>;
  for (const k of ['total', 'ce', 'dice']) expect(Math.abs(a[k]! - b[k]!) / Math.abs(b[k]!), k).toBeLessThan(LOSS_REL);
  const got = readSafetensors(ours.grads);
  const want = readSafetensors(ref.grads);
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  const bad: string[] = [];
  for (const [name, w] of want) {
    const g = got.get(name)!;
    expect(g.shape, name).toEqual(w.shape);
    const zeroByInvariance = ZERO_BY_INVARIANCE.test(name);
    const err = zeroByInvariance ? relL2(g.data, new Float32Array(w.data.length)) : relL2(g.data, w.data);
    if (err > (zeroByInvariance ? ZERO_ABS_L2 : GRAD_REL_L2)) bad.push(`${name} ${err.toExponential(2)}`);
  }
  expect(bad).toEqual([]);
  // backbone.1 (the unused final norm) gets no gradient: listed, written as zeros
  const noGrad = JSON.parse(readSafetensorsMetadata(ours.grads).no_grad!) as string[];
  expect(noGrad).toEqual(['backbone.1.weight', 'backbone.1.bias']);
}

describe('npm run verify --checkpoint (loss and gradients of one image)', () => {
  const files = (dataset: 'celeb' | 'lapa'): { weights: string; image: string; labels: string; landmarks: string } => {
    const f = { weights: join(dir, `${dataset}.safetensors`), image: join(dir, `${dataset}.png`), labels: join(dir, `${dataset}_labels.png`), landmarks: join(dir, `${dataset}_landmarks.json`) };
    writeSyntheticWeights(f.weights, makeConfig('tiny', dataset), 6);
    const face = syntheticSample(3, { res: 72, dataset, seed: 4 });
    writePng(f.image, { width: 72, height: 72, rgb: face.image });
    writePng(f.labels, { width: 72, height: 72, gray: face.labels });
    const points = Array.from({ length: 5 }, (_, k) => [face.landmarks5[2 * k]!, face.landmarks5[2 * k + 1]!]);
    writeFileSync(f.landmarks, JSON.stringify(points));
    return f;
  };
  const celeb = files('celeb');

  it.each(['celeb', 'lapa with landmarks'])('%s: writes the loss and every gradient, equal to PyTorch', (which) => {
    const f = which === 'celeb' ? celeb : files('lapa');
    const extra = which === 'celeb' ? [] : ['--landmarks', f.landmarks];
    const ours = { loss: join(dir, `ours_${f === celeb}.json`), grads: join(dir, `ours_${f === celeb}.safetensors`) };
    const ref = { loss: join(dir, `ref_${f === celeb}.json`), grads: join(dir, `ref_${f === celeb}.safetensors`) };
    execFileSync(tsx, [segface, 'verify', '--checkpoint', f.weights, '--image', f.image, '--labels', f.labels, '--res', '64',
      '--dump-loss', ours.loss, '--dump-grads', ours.grads, ...extra], { cwd: root, stdio: 'pipe' });
    python([join(root, 'tools/reference/grads_for_image.py'), '--weights', f.weights, '--backbone', 'tiny',
      '--dataset', which === 'celeb' ? 'celeb' : 'lapa', '--image', f.image, '--labels', f.labels, '--res', '64',
      '--loss', ref.loss, '--grads', ref.grads, ...extra]);
    compare(ours, ref);
  }, 300_000);

  it('names the bad file before any GPU work', () => {
    const { weights, image, labels, landmarks } = celeb;
    const run = (args: string[]): string => {
      const r = spawnSync(tsx, [segface, 'verify', ...args], { cwd: root, encoding: 'utf8' });
      expect(r.status).not.toBe(0);
      return r.stderr;
    };
    const badLabels = join(dir, 'bad_labels.png');
    writePng(badLabels, { width: 8, height: 8, gray: new Uint8Array(64).fill(19) });
    expect(run(['--checkpoint', weights, '--image', image, '--labels', badLabels, '--res', '64', '--dump-loss', join(dir, 'x.json')]))
      .toMatch(/bad_labels\.png: label 19 .* outside \[0, 19\)/);
    expect(run(['--checkpoint', join(dir, 'missing.safetensors'), '--image', image, '--labels', labels, '--dump-loss', join(dir, 'x.json')]))
      .toMatch(/missing\.safetensors/);
    expect(run(['--checkpoint', weights, '--image', image, '--dump-loss', join(dir, 'x.json')])).toMatch(/--labels is required/);
    expect(run(['--checkpoint', weights, '--image', image, '--labels', labels, '--landmarks', landmarks, '--dump-loss', join(dir, 'x.json')]))
      .toMatch(/only LaPa models warp/);
  }, 120_000);
});
