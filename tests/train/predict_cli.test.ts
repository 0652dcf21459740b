// `npm run predict` end to end: weights in a safetensors file, an image at another resolution, a
// mask PNG with valid class ids, an overlay with a legend, and the raw logits as .npy.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { makeConfig, stateDictSpec } from '../../src/model/config.js';
import { relativePositionIndex } from '../../src/model/params.js';
import { syntheticValue } from '../../src/model/synthetic_init.js';
import { writeSafetensors, type StWrite } from '../../src/runtime/safetensors.js';
import { syntheticSample } from '../../src/train/data/synthetic.js';
import { readImage, readLabelMap, readNpy, writePng } from '../../src/train/image/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'predict-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run predict', () => {
  it('writes a mask, an overlay with legend and the logits', () => {
    const cfg = makeConfig('tiny', 'lapa');
    const weights: Record<string, StWrite> = {};
    for (const s of stateDictSpec(cfg)) {
      weights[s.name] = { shape: s.shape, data: s.integer ? relativePositionIndex(cfg.window) : syntheticValue(s.name, s.shape, 2) };
    }
    const ckpt = join(dir, 'tiny_lapa.safetensors');
    writeSafetensors(ckpt, weights);
    const face = syntheticSample(5, { res: 40, dataset: 'lapa', seed: 2 });
    const img = join(dir, 'face.png');
    writePng(img, { width: 40, height: 40, rgb: face.image });
    const out = join(dir, 'out');
    const npy = join(dir, 'logits.npy');
    execFileSync(join(root, 'node_modules/.bin/tsx'), [join(root, 'src/train/cli/predict.ts'), '--checkpoint', ckpt, '--image', img,
      '--res', '32', '--out', out, '--dump-logits', npy], { cwd: root, stdio: 'pipe' });
    const mask = readLabelMap(join(out, 'face_mask.png'));
    expect([mask.width, mask.height]).toEqual([32, 32]);
    expect(Math.max(...mask.data)).toBeLessThan(11);
    const overlayImg = readImage(join(out, 'face_overlay.png'));
    expect(overlayImg.height).toBeGreaterThanOrEqual(32);
    expect(overlayImg.width).toBeGreaterThan(32);          // the legend panel is appended on the right
    const logits = readNpy(npy);
    expect(logits.shape).toEqual([1, 11, 32, 32]);
    // the mask is the argmax of the dumped logits
    for (const p of [0, 100, 555, 1023]) {
      let best = 0;
      for (let k = 1; k < 11; k++) if (logits.data[k * 1024 + p]! > logits.data[best * 1024 + p]!) best = k;
      expect(mask.data[p]).toBe(best);
    }
  }, 300_000);
  it('fails on a bad image before any GPU work, naming the file', () => {
    const bad = join(dir, 'broken.jpg');
    writePng(join(dir, 'ok.png'), { width: 4, height: 4, gray: new Uint8Array(16) });
    expect(() => execFileSync(join(root, 'node_modules/.bin/tsx'), [join(root, 'src/train/cli/predict.ts'), '--checkpoint', 'x.safetensors',
      '--image', bad, '--res', '32'], { cwd: root, stdio: 'pipe' })).toThrow(/broken\.jpg/);
  });
});
