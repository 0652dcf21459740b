import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CLASS_NAMES, type Dataset } from '../../src/model/config.js';
import { SYNTHETIC_VAL_OFFSET, syntheticSample, syntheticSplit } from '../../src/train/data/synthetic.js';

const DATASETS: Dataset[] = ['celeb', 'lapa', 'helen'];
const digest = (s: { image: Uint8Array; labels: Uint8Array; landmarks5: Float32Array }): string =>
  createHash('sha256').update(s.image).update(s.labels).update(new Uint8Array(s.landmarks5.buffer)).digest('hex');

/** Label ids by role, per dataset (celeb ids / LaPa-Helen ids; "left" = image left). */
const ROLE: Record<Dataset, { eyes: [number, number]; nose: number; mouth: number[]; face: number[] }> = {
  celeb: { eyes: [8, 9], nose: 10, mouth: [11, 12, 13], face: [2, 6, 7, 8, 9, 10, 11, 12, 13, 15] },
  lapa: { eyes: [4, 5], nose: 6, mouth: [7, 8, 9], face: [1, 2, 3, 4, 5, 6, 7, 8, 9] },
  helen: { eyes: [4, 5], nose: 6, mouth: [7, 8, 9], face: [1, 2, 3, 4, 5, 6, 7, 8, 9] },
};

/** Distance from (x, y) to the nearest pixel centre carrying one of `ids` (Infinity if none). */
function nearest(labels: Uint8Array, res: number, x: number, y: number, ids: number[]): number {
  let best = Infinity;
  for (let j = 0; j < res; j++) {
    for (let i = 0; i < res; i++) {
      if (ids.includes(labels[j * res + i]!)) best = Math.min(best, Math.hypot(i - x, j - y));   // pixel centres at integers
    }
  }
  return best;
}

describe('synthetic faces', () => {
  it('are deterministic in (index, seed, res, dataset) and differ across indices and seeds', () => {
    for (const dataset of DATASETS) {
      const a = syntheticSample(7, { res: 48, dataset, seed: 3 });
      const b = syntheticSample(7, { res: 48, dataset, seed: 3 });
      expect(digest(a)).toBe(digest(b));
      expect(a.name).toBe(b.name);
      expect(digest(syntheticSample(8, { res: 48, dataset, seed: 3 }))).not.toBe(digest(a));
      expect(digest(syntheticSample(7, { res: 48, dataset, seed: 4 }))).not.toBe(digest(a));
    }
    const hashes = new Set(Array.from({ length: 64 }, (_, i) => digest(syntheticSample(i, { res: 32 }))));
    expect(hashes.size).toBe(64);
  });

  it('draw the same face with each label set (geometry does not depend on the dataset)', () => {
    const c = syntheticSample(5, { res: 64, dataset: 'celeb', seed: 1 });
    const l = syntheticSample(5, { res: 64, dataset: 'lapa', seed: 1 });
    expect(Array.from(l.landmarks5)).toEqual(Array.from(c.landmarks5));
    // celeb skin (2) is LaPa face (1) wherever no accessory is drawn on top
    let skin = 0, agree = 0;
    for (let i = 0; i < c.labels.length; i++) if (c.labels[i] === 2) { skin++; if (l.labels[i] === 1) agree++; }
    expect(agree / skin).toBeGreaterThan(0.9);
  });

  it('have the documented shapes and only valid label ids, at any res', () => {
    for (const dataset of DATASETS) {
      for (const res of [32, 33, 64]) {
        const s = syntheticSample(1, { res, dataset });
        expect(s.image).toBeInstanceOf(Uint8Array);
        expect(s.image.length).toBe(res * res * 3);
        expect(s.labels.length).toBe(res * res);
        expect(s.landmarks5.length).toBe(10);
        expect(Math.max(...s.labels)).toBeLessThan(CLASS_NAMES[dataset].length);
      }
    }
    expect(() => syntheticSample(0, { res: 4 })).toThrow(/res 4/);
    expect(() => syntheticSample(-1)).toThrow(/bad index/);
  });

  for (const dataset of DATASETS) {
    it(`${dataset}: every class appears in the first 50 samples at 64 px`, () => {
      const K = CLASS_NAMES[dataset].length;
      const pixels = new Array<number>(K).fill(0);
      for (let i = 0; i < 50; i++) for (const v of syntheticSample(i, { res: 64, dataset }).labels) pixels[v]++;
      const missing = CLASS_NAMES[dataset].filter((_, k) => pixels[k] === 0);
      console.log(`${dataset} pixel share %: ${CLASS_NAMES[dataset].map((n, k) => `${n} ${((100 * pixels[k]!) / (50 * 64 * 64)).toFixed(2)}`).join(', ')}`);
      expect(missing).toEqual([]);
    });
  }

  it('put the 5 landmarks on the eyes, nose tip and mouth corners (image-left first)', () => {
    const res = 96;
    for (const dataset of DATASETS) {
      const role = ROLE[dataset];
      for (let i = 0; i < 20; i++) {
        const s = syntheticSample(i, { res, dataset, seed: 11 });
        const p = (k: number): [number, number] => [s.landmarks5[2 * k]!, s.landmarks5[2 * k + 1]!];
        const at = ([x, y]: [number, number]): number => s.labels[Math.round(y) * res + Math.round(x)]!;   // the pixel whose centre is nearest
        const where = `${dataset} sample ${i}`;
        for (let k = 0; k < 5; k++) {
          const [x, y] = p(k);
          expect(x > 0 && x < res && y > 0 && y < res, `${where} landmark ${k} (${x}, ${y}) inside the image`).toBe(true);
          expect(role.face, `${where} landmark ${k}: label ${at(p(k))} is not a face part`).toContain(at(p(k)));
        }
        expect(p(0)[0], `${where}: the first eye is on the image left`).toBeLessThan(p(1)[0]);
        expect(p(3)[0], `${where}: the first mouth corner is on the image left`).toBeLessThan(p(4)[0]);
        expect(nearest(s.labels, res, ...p(0), [role.eyes[0]]), `${where}: left eye`).toBeLessThan(1.5);
        expect(nearest(s.labels, res, ...p(1), [role.eyes[1]]), `${where}: right eye`).toBeLessThan(1.5);
        expect(nearest(s.labels, res, ...p(2), [role.nose]), `${where}: nose tip`).toBeLessThan(1);
        expect(nearest(s.labels, res, ...p(3), role.mouth), `${where}: left mouth corner`).toBeLessThan(2);
        expect(nearest(s.labels, res, ...p(4), role.mouth), `${where}: right mouth corner`).toBeLessThan(2);
      }
    }
  });

  it('keep labels consistent with the picture: eyes hold both light sclera and dark pupil pixels', () => {
    const res = 128;
    for (let i = 0; i < 10; i++) {
      const s = syntheticSample(i, { res });
      const lum: number[] = [];
      for (let j = 0; j < res * res; j++) {
        if (s.labels[j] === 8 || s.labels[j] === 9) lum.push((s.image[3 * j]! + s.image[3 * j + 1]! + s.image[3 * j + 2]!) / 3);
      }
      expect(Math.max(...lum) - Math.min(...lum), `sample ${i}`).toBeGreaterThan(100);
    }
  });

  it('train and val splits never share a sample', () => {
    const train = syntheticSplit('train', 300), val = syntheticSplit('val', 300);
    expect(train[0]).toBe(0);
    expect(val[0]).toBe(SYNTHETIC_VAL_OFFSET);
    expect(train.filter((i) => val.includes(i))).toEqual([]);
    const seen = new Set(train.slice(0, 100).map((i) => digest(syntheticSample(i, { res: 32 }))));
    for (const i of val.slice(0, 100)) expect(seen.has(digest(syntheticSample(i, { res: 32 })))).toBe(false);
  });

  it('times a 128 px sample (logged, not asserted)', () => {
    for (let i = 0; i < 20; i++) syntheticSample(i, { res: 128 });
    const n = 200, t0 = performance.now();
    for (let i = 0; i < n; i++) syntheticSample(1000 + i, { res: 128 });
    console.log(`synthetic 128 px sample: ${((performance.now() - t0) / n).toFixed(2)} ms`);
  });
});
