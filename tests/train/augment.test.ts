// LaPa augmentation against torchvision 0.14 / Pillow, generated fresh by /usr/bin/python3 (Debian's
// python3-torch + python3-torchvision, installed by `bash scripts/setup.sh --tests`; CI has them, so
// a missing python fails loudly rather than skipping):
//   * the inverse matrix equals torchvision's _get_inverse_affine_matrix bit for bit;
//   * F.affine on PIL images: BICUBIC on RGB and 'L', NEAREST on 'L', byte-exact, over angles
//     including 0 (Pillow's scale path) and 90, scales 0.5..3, fractional translations, odd sizes;
//   * the whole augmented LaPa train sample (JPEG decode → affine → resize → 5 landmarks) against
//     the official __getitem__ recipe run on the same files with the same parameters: image and
//     labels byte-exact (images stored losslessly, so both sides decode the same pixels), landmarks
//     to float32 rounding (numpy's dot may use FMA: 1e-4 px absolute).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { affineBicubicPIL, affineNearestPIL, affinePoints, inverseAffineMatrix, lapaAugmentParams, sampleSeed, type AffineParams } from '../../src/train/data/augment.js';
import { writeFakeLapa } from '../fake_datasets.js';
import { LapaDataset } from '../../src/train/data/lapa.js';
import { rng } from '../../src/train/random.js';

const dir = mkdtempSync(join(tmpdir(), 'augment-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Landmark tolerance in pixels: float64 maths in both, numpy's BLAS dot may fuse multiply-adds. */
const LANDMARK_TOL = 1e-4;

function python(script: string, args: string[]): string {
  try {
    return execFileSync('/usr/bin/python3', ['-c', script, ...args], { env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' }, stdio: 'pipe' }).toString();
  } catch (e) {
    throw new Error(`/usr/bin/python3 with torchvision failed (is python3-torchvision installed? run: bash scripts/setup.sh --tests):\n${(e as { stderr?: Buffer }).stderr?.toString() ?? e}`);
  }
}

const AFFINE_PY = `
import json, sys, numpy as np
from PIL import Image
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode
d = sys.argv[1]
cases = json.load(open(d + '/cases.json'))
out = []
for c in cases:
    w, h = c['w'], c['h']
    rgb = Image.frombytes('RGB', (w, h), open(d + '/%s_rgb.bin' % c['name'], 'rb').read())
    lab = Image.frombytes('L', (w, h), open(d + '/%s_lab.bin' % c['name'], 'rb').read())
    kw = dict(angle=c['angle'], translate=c['translate'], scale=c['scale'], shear=0)
    open(d + '/%s_rgb_out.bin' % c['name'], 'wb').write(F.affine(rgb, interpolation=InterpolationMode.BICUBIC, **kw).tobytes())
    open(d + '/%s_grey_out.bin' % c['name'], 'wb').write(F.affine(lab, interpolation=InterpolationMode.BICUBIC, **kw).tobytes())
    open(d + '/%s_lab_out.bin' % c['name'], 'wb').write(F.affine(lab, interpolation=InterpolationMode.NEAREST, **kw).tobytes())
    m = F._get_inverse_affine_matrix([w * 0.5, h * 0.5], c['angle'], c['translate'], c['scale'], [0.0, 0.0])
    out.append([float(x).hex() for x in m])
print(json.dumps(out))
`;

function bytes(n: number, seed: number, modulo = 256): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(r() * modulo));
}

/** Smooth-ish content (random blocks + noise), so bicubic overshoot and clamping both occur. */
function image(w: number, h: number, seed: number): Uint8Array {
  const noise = bytes(w * h * 3, seed);
  const out = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h * 3; i++) out[i] = ((Math.floor((i / 3) % w / 5) + Math.floor(i / 3 / w / 4)) % 2) * 200 + (noise[i]! % 56);
  return out;
}

function hexToDouble(s: string): number {
  // Python float.hex(): [-]0x1.<hex>p<exp>
  const m = /^(-?)0x([01])\.([0-9a-f]*)p([+-]\d+)$/.exec(s);
  if (!m) throw new Error(`bad hex float ${s}`);
  const mant = parseInt(m[2]! + (m[3] ?? ''), 16) / 2 ** (4 * (m[3] ?? '').length);
  return (m[1] ? -1 : 1) * mant * 2 ** Number(m[4]);
}

describe('affine resampling against torchvision F.affine (PIL)', () => {
  const cases: (AffineParams & { name: string; w: number; h: number })[] = [
    { name: 'rand_a', w: 37, h: 29, angle: 17.3, scale: 1.37, translate: [3.25, -7.5] },
    { name: 'rand_b', w: 40, h: 48, angle: -28.9, scale: 0.52, translate: [-19.1, 12.7] },
    { name: 'zoom', w: 33, h: 41, angle: 4.1, scale: 2.93, translate: [0.4, 19.9] },
    { name: 'rot90', w: 24, h: 24, angle: 90, scale: 1, translate: [0, 0] },
    { name: 'scale_only', w: 31, h: 22, angle: 0, scale: 1.7, translate: [2.5, -3.25] },
    { name: 'identity', w: 19, h: 13, angle: 0, scale: 1, translate: [0, 0] },
    ...[0, 1, 2].map((i) => ({ name: `recipe_${i}`, w: 45, h: 38, ...lapaAugmentParams(5, 2, i) })),
  ];
  let matrices: string[][] = [];
  it('runs the reference', () => {
    cases.forEach((c, i) => {
      writeFileSync(join(dir, `${c.name}_rgb.bin`), image(c.w, c.h, 100 + i));
      writeFileSync(join(dir, `${c.name}_lab.bin`), bytes(c.w * c.h, 200 + i, 11));
    });
    writeFileSync(join(dir, 'cases.json'), JSON.stringify(cases));
    matrices = JSON.parse(python(AFFINE_PY, [dir])) as string[][];
    expect(matrices.length).toBe(cases.length);
  }, 120_000);

  for (const [i, c] of cases.entries()) {
    it(`${c.name}: ${c.w}×${c.h}, angle ${c.angle.toFixed(2)}, scale ${c.scale.toFixed(2)}: matrix, BICUBIC RGB/L and NEAREST byte-exact`, () => {
      const m = inverseAffineMatrix(c.w, c.h, c);
      expect(m).toEqual(matrices[i]!.map(hexToDouble));
      const rgb = new Uint8Array(readFileSync(join(dir, `${c.name}_rgb.bin`)));
      const lab = new Uint8Array(readFileSync(join(dir, `${c.name}_lab.bin`)));
      expect(Buffer.from(affineBicubicPIL(rgb, c.w, c.h, m)).equals(readFileSync(join(dir, `${c.name}_rgb_out.bin`)))).toBe(true);
      expect(Buffer.from(affineBicubicPIL(lab, c.w, c.h, m)).equals(readFileSync(join(dir, `${c.name}_grey_out.bin`)))).toBe(true);
      expect(Buffer.from(affineNearestPIL(lab, c.w, c.h, m)).equals(readFileSync(join(dir, `${c.name}_lab_out.bin`)))).toBe(true);
    });
  }
});

const LAPA_PY = `
import json, sys, numpy as np
from PIL import Image
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode
root, res = sys.argv[1], int(sys.argv[2])
cases = json.load(open(root + '/lapa_cases.json'))
for c in cases:
    stem = c['stem']
    image = Image.open(root + '/LaPa/train/images/%s.jpg' % stem).convert('RGB')
    label = Image.open(root + '/LaPa/train/labels/%s.png' % stem)
    vals = [float(v) for v in open(root + '/LaPa/train/landmarks/%s.txt' % stem).read().split()]
    landmark = np.reshape(np.array(vals[1:], np.float32), [106, 2])
    w, h = image.size
    center = np.array([w, h]) / 2.0
    angle, scale, translate = c['angle'], c['scale'], tuple(c['translate'])
    image = F.affine(image, angle=angle, translate=translate, scale=scale, shear=0, interpolation=InterpolationMode.BICUBIC)
    label = F.affine(label, angle=angle, translate=translate, scale=scale, shear=0, interpolation=InterpolationMode.NEAREST)
    ar = np.deg2rad(-angle)
    R = np.array([[np.cos(ar), -np.sin(ar)], [np.sin(ar), np.cos(ar)]])
    lt = np.dot(landmark - center, R) * scale
    lt += center + np.array(translate)
    image = F.resize(image, size=(res, res), interpolation=InterpolationMode.BICUBIC)
    label = F.resize(label, size=(res, res), interpolation=InterpolationMode.NEAREST)
    lm = lt * np.array([res / w, res / h])
    five = [[(lm[74][0] + lm[104][0]) / 2, (lm[74][1] + lm[104][1]) / 2], [(lm[83][0] + lm[105][0]) / 2, (lm[83][1] + lm[105][1]) / 2],
            [lm[54][0], lm[54][1]], [lm[84][0], lm[84][1]], [lm[90][0], lm[90][1]]]
    out = c['out']
    open(root + '/%s_img.bin' % out, 'wb').write(image.tobytes())
    open(root + '/%s_lab.bin' % out, 'wb').write(label.tobytes())
    open(root + '/%s_five.bin' % out, 'wb').write(np.array(five, np.float32).tobytes())
print('ok')
`;

describe('augmented LaPa train samples against the official recipe', () => {
  it('image, labels and 5 landmarks match for 3 samples over 2 epochs', () => {
    const root = join(dir, 'lapa');
    writeFakeLapa(root, 'train', 3, { width: 52, height: 44, lossless: true });
    const res = 32;
    const ds = new LapaDataset(join(root, 'LaPa'), 'train', res, { seed: 9 });
    expect(ds.augment).toBe(true);
    const jobs = [0, 1, 2].flatMap((index) => [0, 3].map((epoch) => ({ index, epoch })));
    const ours = jobs.map(({ index, epoch }) => ({ stem: `${ds.sampleName(index).slice('train.'.length)}_e${epoch}`, file: ds.sampleName(index).slice('train.'.length), s: ds.get(index, epoch), p: lapaAugmentParams(9, epoch, index) }));
    writeFileSync(join(root, 'lapa_cases.json'), JSON.stringify(ours.map((o) => ({ stem: o.file, out: o.stem, ...o.p }))));
    python(LAPA_PY, [root, String(res)]);
    for (const o of ours) {
      expect(Buffer.from(o.s.image).equals(readFileSync(join(root, `${o.stem}_img.bin`))), `${o.stem} image`).toBe(true);
      expect(Buffer.from(o.s.labels).equals(readFileSync(join(root, `${o.stem}_lab.bin`))), `${o.stem} labels`).toBe(true);
      const five = new Float32Array(new Uint8Array(readFileSync(join(root, `${o.stem}_five.bin`))).buffer);
      for (let k = 0; k < 10; k++) expect(Math.abs(o.s.landmarks5![k]! - five[k]!), `${o.stem} landmark ${k}`).toBeLessThan(LANDMARK_TOL);
    }
  }, 120_000);
});

describe('augmentation parameters', () => {
  it('are a pure function of (seed, epoch, index), inside the recipe ranges, distinct across epochs and samples', () => {
    expect(lapaAugmentParams(1, 2, 3)).toEqual(lapaAugmentParams(1, 2, 3));
    const seen = new Set<number>();
    for (let e = 0; e < 4; e++) {
      for (let i = 0; i < 50; i++) {
        const p = lapaAugmentParams(7, e, i);
        expect(Math.abs(p.angle)).toBeLessThanOrEqual(30);
        expect(p.scale).toBeGreaterThanOrEqual(0.5);
        expect(p.scale).toBeLessThanOrEqual(3);
        for (const t of p.translate) expect(Math.abs(t)).toBeLessThanOrEqual(20);
        seen.add(sampleSeed(7, e, i));
      }
    }
    expect(seen.size).toBe(200);
  });

  it('landmarks follow the image: a bright dot lands where affinePoints puts it', () => {
    const w = 61, h = 47;
    const p: AffineParams = { angle: 23, scale: 1.6, translate: [4, -6] };
    const img = new Uint8Array(w * h);
    const [px, py] = [22, 19];
    img[py * w + px] = 255;
    const out = affineNearestPIL(img, w, h, inverseAffineMatrix(w, h, p));
    let sx = 0, sy = 0, n = 0;
    for (let i = 0; i < out.length; i++) if (out[i]) { sx += i % w; sy += Math.floor(i / w); n++; }
    expect(n).toBeGreaterThan(0);
    // Pixel (22, 19) covers [22, 23) × [19, 20): its centre moves with the point map.
    const [qx, qy] = affinePoints([px + 0.5, py + 0.5], w, h, p);
    expect(Math.abs(sx / n + 0.5 - qx!)).toBeLessThan(1);
    expect(Math.abs(sy / n + 0.5 - qy!)).toBeLessThan(1);
  });
});
