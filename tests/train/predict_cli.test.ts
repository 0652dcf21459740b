// `npm run predict` end to end: weights in a safetensors file, an image at another resolution, a
// mask PNG with valid class ids, an overlay with a legend, and the raw logits as .npy.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/model/config.js';
import { syntheticParams } from '../../src/model/params.js';
import { relL2 } from '../../src/model/reference_case.js';
import { segfaceForward } from '../../src/model/segface.js';
import { lapaTemplate } from '../../src/model/warp.js';
import { syntheticSample } from '../../src/train/data/synthetic.js';
import { readImage, readLabelMap, readNpy, resizeBicubicPIL, toNormalizedCHW, writePng } from '../../src/train/image/index.js';
import { useRuntime } from '../harness.js';
import { writeSyntheticWeights } from './weights_fixture.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'predict-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const tsx = join(root, 'node_modules/.bin/tsx');
const segface = join(root, 'src/cli/segface.ts');
const rt = useRuntime();

describe('npm run predict', () => {
  it('writes a mask, an overlay with legend and the logits', () => {
    const cfg = makeConfig('tiny', 'lapa');
    const ckpt = join(dir, 'tiny_lapa.safetensors');
    writeSyntheticWeights(ckpt, cfg, 2);
    const face = syntheticSample(5, { res: 40, dataset: 'lapa', seed: 2 });
    const img = join(dir, 'face.png');
    writePng(img, { width: 40, height: 40, rgb: face.image });
    const out = join(dir, 'out');
    const npy = join(dir, 'logits.npy');
    execFileSync(join(root, 'node_modules/.bin/tsx'), [segface, 'predict', '--checkpoint', ckpt, '--image', img,
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
  it('--precision f16: the same masks and logits within f16 storage error', () => {
    // runs after the test above, on its checkpoint and image (f32 logits in logits.npy)
    const out = join(dir, 'out16');
    const npy = join(dir, 'logits16.npy');
    execFileSync(tsx, [segface, 'predict', '--checkpoint', join(dir, 'tiny_lapa.safetensors'), '--image', join(dir, 'face.png'),
      '--res', '32', '--out', out, '--dump-logits', npy, '--precision', 'f16'], { cwd: root, stdio: 'pipe' });
    const f16 = readNpy(npy);
    const f32 = readNpy(join(dir, 'logits.npy'));
    expect(f16.shape).toEqual(f32.shape);
    // the relative L2 bound of tests/model/f16.test.ts (derived there for the tiny model)
    expect(relL2(f16.data, f32.data)).toBeLessThan(4e-3);
    const mask = readLabelMap(join(out, 'face_mask.png'));
    for (const p of [0, 100, 555, 1023]) {
      let best = 0;
      for (let k = 1; k < 11; k++) if (f16.data[k * 1024 + p]! > f16.data[best * 1024 + p]!) best = k;
      expect(mask.data[p]).toBe(best);
    }
  }, 300_000);
  it('fails on a bad image before any GPU work, naming the file', () => {
    const bad = join(dir, 'broken.jpg');
    writePng(join(dir, 'ok.png'), { width: 4, height: 4, gray: new Uint8Array(16) });
    writeFileSync(bad, 'not a JPEG');
    const weights = join(dir, 'unread.safetensors');   // exists; images are read first
    writeFileSync(weights, '');
    expect(() => execFileSync(join(root, 'node_modules/.bin/tsx'), [segface, 'predict', '--checkpoint', weights,
      '--image', bad, '--res', '32'], { cwd: root, stdio: 'pipe' })).toThrow(/broken\.jpg/);
  });
  it('--landmarks warps LaPa faces: a LaPa .txt and a JSON for two images (40 px and 32 px), logits equal the in-process warped forward', async () => {
    const cfg = makeConfig('tiny', 'lapa');
    const ckpt = join(dir, 'tiny_lapa_warp.safetensors');
    writeSyntheticWeights(ckpt, cfg, 2);
    const face = syntheticSample(5, { res: 40, dataset: 'lapa', seed: 2 });
    const small = syntheticSample(6, { res: 32, dataset: 'lapa', seed: 2 });
    const imgs = [join(dir, 'lm_a.png'), join(dir, 'lm_b.png')];
    writePng(imgs[0]!, { width: 40, height: 40, rgb: face.image });
    writePng(imgs[1]!, { width: 32, height: 32, rgb: small.image });
    // image a: its own landmarks (40 px coordinates) as a LaPa 106-point .txt (5 points = mean of
    // 74 & 104, mean of 83 & 105, 54, 84, 90; the others are filler); image b: a face at 60% of the
    // template size as a bare JSON list. One --landmarks file per --image.
    const t = lapaTemplate(32);
    const sets = [Array.from({ length: 5 }, (_, k) => [face.landmarks5[2 * k]!, face.landmarks5[2 * k + 1]!]),
      Array.from({ length: 5 }, (_, k) => [16 + 0.6 * (t[2 * k]! - 16), 14 + 0.6 * (t[2 * k + 1]! - 16)])];
    const pts = Array.from({ length: 106 }, (_, i) => [20 + (i % 7), 20 + (i % 5)]);
    const [le, re, nose, ml, mr] = sets[0]! as [number, number][];
    [pts[74], pts[104], pts[83], pts[105]] = [[le[0] + 1, le[1] - 0.5], [le[0] - 1, le[1] + 0.5], [re[0] + 0.5, re[1] + 1], [re[0] - 0.5, re[1] - 1]];
    [pts[54], pts[84], pts[90]] = [nose, ml, mr];
    const txtFile = join(dir, 'lm_a.txt');
    writeFileSync(txtFile, `106\n${pts.map(([x, y]) => `${x} ${y}`).join('\n')}\n`);
    const lmFile = join(dir, 'lm_b.json');
    writeFileSync(lmFile, JSON.stringify(sets[1]));
    const out = join(dir, 'out_lm');
    const npy = join(dir, 'logits_lm.npy');
    execFileSync(tsx, [segface, 'predict', '--checkpoint', ckpt, '--image', imgs[0]!, '--image', imgs[1]!, '--res', '32', '--out', out,
      '--dump-logits', npy, '--landmarks', txtFile, '--landmarks', lmFile], { cwd: root, stdio: 'pipe' });
    for (const stem of ['lm_a', 'lm_b']) expect(readLabelMap(join(out, `${stem}_mask.png`)).width).toBe(32);
    const logits = readNpy(npy);
    expect(logits.shape).toEqual([2, 11, 32, 32]);
    // The same forward in process: image a resized 40 -> 32 (PIL bicubic), landmarks × 32/40 as the
    // official loader scales them. Same kernels on the same adapter: equal up to rounding.
    const r = rt();
    const batch = new Float32Array(2 * 3 * 1024);
    batch.set(toNormalizedCHW(resizeBicubicPIL(face.image, 40, 40, 32, 32), 32, 32), 0);
    batch.set(toNormalizedCHW(small.image, 32, 32), 3 * 1024);
    const landmarks = Float32Array.from(sets.flatMap((set, b) => set.flatMap(([x, y]) => [(x! * 32) / (b === 0 ? 40 : 32), (y! * 32) / (b === 0 ? 40 : 32)])));
    const p = syntheticParams(r, cfg, 2);
    const [warped, plain] = await Promise.all([{ landmarks }, {}].map((opts) => {
      const y = r.withoutGrad(() => r.scope(() => segfaceForward(p, r.tensor(batch, [2, 3, 32, 32]), opts)));
      return y.read().finally(() => y.release());
    }));
    p.release();
    let diff = 0, unwarped = 0;
    for (let i = 0; i < logits.data.length; i++) {
      diff = Math.max(diff, Math.abs(logits.data[i]! - warped![i]!));
      unwarped = Math.max(unwarped, Math.abs(logits.data[i]! - plain![i]!));
    }
    console.log(`predict --landmarks: max |logit − in-process| ${diff.toExponential(2)}, vs unwarped ${unwarped.toExponential(2)}`);
    expect(diff).toBeLessThan(1e-5);
    expect(unwarped).toBeGreaterThan(1e-2);       // the landmarks did change the result
  }, 300_000);
  it('bad --landmarks files fail before any GPU work, naming the file', () => {
    const img = join(dir, 'lm_ok.png');
    writePng(img, { width: 8, height: 8, gray: new Uint8Array(64) });
    const weights = join(dir, 'unread.safetensors');   // exists; landmarks are read first
    writeFileSync(weights, '');
    const run = (files: string[], images = [img]): (() => void) => () => execFileSync(tsx, [segface, 'predict', '--checkpoint', weights,
      ...images.flatMap((i) => ['--image', i]), ...files.flatMap((f) => ['--landmarks', f]), '--res', '32'], { cwd: root, stdio: 'pipe' });
    const write = (name: string, text: string): string => { const f = join(dir, name); writeFileSync(f, text); return f; };
    const four = write('four_points.json', JSON.stringify([[1, 2], [3, 4], [5, 6], [7, 8]]));
    expect(run([four])).toThrow(/four_points\.json: the landmark list has 4 points, expected 5/);
    const five = write('five_points.json', JSON.stringify([[1, 2], [3, 4], [5, 6], [7, 8], [9, 1]]));
    expect(run([five], [img, img])).toThrow(/five_points\.json: holds a single set of 5 points, but there are several images/);
    const three = write('three_sets.json', JSON.stringify([[[1, 2], [3, 4], [5, 6], [7, 8], [9, 1]], [[1, 2], [3, 4], [5, 6], [7, 8], [9, 1]], [[1, 2], [3, 4], [5, 6], [7, 8], [9, 1]]]));
    expect(run([three], [img, img])).toThrow(/three_sets\.json: 3 landmark sets for 2 images/);
    expect(run([write('garbage.json', '{oops')])).toThrow(/garbage\.json: not JSON/);
    expect(run([write('short.txt', `106 ${'1 2 '.repeat(100)}`)])).toThrow(/short\.txt: expected the number 106 followed by 212 coordinates, found 201 numbers/);
    expect(run([join(dir, 'absent.json')])).toThrow(/absent\.json/);
    expect(run([five, five, five], [img, img])).toThrow(/3 --landmarks files for 2 images/);
  }, 120_000);
});
