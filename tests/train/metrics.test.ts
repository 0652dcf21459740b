import { describe, expect, it } from 'vitest';
import { ConfusionMatrix, HELEN_MERGES } from '../../src/train/metrics.js';
import { rng } from '../../src/train/random.js';

// ---------------------------------------------------------------------------- hand-computed cases

describe('ConfusionMatrix: hand-computed', () => {
  // gt   0 0 1 1 2 2 255       hist (row gt, col pred)   rows 2 2 2, cols 2 3 1, tp 1 2 1
  // pred 0 1 1 1 2 0 2         [1 1 0; 0 2 0; 1 0 1]
  const cm = new ConfusionMatrix(3).add(Uint8Array.from([0, 0, 1, 1, 2, 2, 255]), Int32Array.from([0, 1, 1, 1, 2, 0, 2]));

  it('counts hist[gt, pred] and drops gt 255', () => {
    expect(Array.from(cm.hist)).toEqual([1, 1, 0, 0, 2, 0, 1, 0, 1]);
    expect(cm.results().pixels).toBe(6);
  });

  it('F1, IoU, accuracies', () => {
    const r = cm.results();
    expect(r.f1[0]).toBeCloseTo(2 / 4, 12);
    expect(r.f1[1]).toBeCloseTo(4 / 5, 12);
    expect(r.f1[2]).toBeCloseTo(2 / 3, 12);
    expect(r.meanF1).toBeCloseTo((4 / 5 + 2 / 3) / 2, 12); // background excluded
    expect(r.iou[0]).toBeCloseTo(100 / 3, 10);
    expect(r.iou[1]).toBeCloseTo(200 / 3, 10);
    expect(r.iou[2]).toBeCloseTo(50, 10);
    expect(r.mIoU).toBeCloseTo(50, 10); // background included
    expect(r.pixelAccuracy).toBeCloseTo((4 / 6) * 100, 10);
    expect(r.meanAccuracy).toBeCloseTo(((0.5 + 1 + 0.5) / 3) * 100, 10);
  });

  it('a class absent from gt and prediction: NaN F1, NaN mean F1, IoU and accuracy 0 and still averaged', () => {
    const c = new ConfusionMatrix(4).add([0, 1, 2, 2], [0, 1, 2, 1]);
    const r = c.results();
    expect(r.f1[3]).toBeNaN();
    expect(r.meanF1).toBeNaN();
    expect(r.iou[3]).toBe(0);
    // IoU: 100, 50, 50, 0
    expect(r.mIoU).toBeCloseTo(50, 10);
    // accuracy: 1, 1, 0.5, 0
    expect(r.meanAccuracy).toBeCloseTo(62.5, 10);
    expect(r.pixelAccuracy).toBeCloseTo(75, 10);
  });

  it('absent only from gt: F1 0 (false positives), not NaN', () => {
    const r = new ConfusionMatrix(3).add([0, 1, 1], [0, 1, 2]).results();
    expect(r.f1[2]).toBe(0);
    expect(r.meanF1).toBeCloseTo((2 / 3 + 0) / 2, 12);
  });

  it("Helen's merged F1 counts the whole group block as the intersection", () => {
    // Helen ids: lb 2, rb 3, le 4, re 5, nose 6, ulip 7, imouth 8, llip 9
    const gt = [4, 4, 5, 5, 2, 3, 7, 8, 9, 1, 6, 255];
    const pr = [4, 5, 5, 1, 3, 3, 8, 8, 1, 7, 6, 4];
    const r = new ConfusionMatrix(11).add(gt, pr).results(HELEN_MERGES);
    // eyes {4,5}: gt rows 4, pred cols 3, block hits (4→4, 4→5, 5→5) = 3  → 6/7
    expect(r.merged.eyes).toBeCloseTo(6 / 7, 12);
    // brows {2,3}: rows 2, cols 2, hits 2 (2→3 counts) → 1
    expect(r.merged.brows).toBeCloseTo(1, 12);
    // mouth {7,8,9}: rows 3, cols 3 (8, 8, 7), hits 2 → 4/6
    expect(r.merged.mouth).toBeCloseTo(4 / 6, 12);
    // overall {2..9}: rows 10 (all but gt 1), cols 9 (all but the two pred 1s), hits 8 → 16/19
    expect(r.merged.overall).toBeCloseTo(16 / 19, 12);
    // merged groups are not part of the mean; per-class le: 2·1/(2+1), re: 2·1/(2+2)
    expect(r.f1[4]).toBeCloseTo(2 / 3, 12);
    expect(r.f1[5]).toBeCloseTo(2 / 4, 12);
    expect(r.f1[10]).toBeNaN();
    expect(r.meanF1).toBeNaN();
  });

  it('rejects labels or predictions outside [0, K) and mismatched lengths', () => {
    const c = new ConfusionMatrix(3);
    expect(() => c.add([0, 3], [0, 0])).toThrow(/label 3/);
    expect(() => c.add([0, 1], [0, 7])).toThrow(/prediction 7/);
    expect(() => c.add([0, 1], [0])).toThrow(/2 labels but 1 predictions/);
    expect(() => c.add(new ConfusionMatrix(4))).toThrow(/merge 4 classes into 3/);
    expect(() => c.add([255, 255], [9, 9])).not.toThrow(); // ignored pixels are not checked
  });
});

// ---------------------------------------------------------------------------- brute force

/** Metrics straight from the pixels (no matrix): tp/fp/fn per class and set membership for groups. */
function bruteForce(gts: number[][], preds: number[][], K: number, groups: Record<string, readonly number[]>) {
  const tp = new Array<number>(K).fill(0), fp = new Array<number>(K).fill(0), fn = new Array<number>(K).fill(0);
  const inG: Record<string, number[]> = Object.fromEntries(Object.keys(groups).map((g) => [g, [0, 0, 0]]));
  let n = 0;
  gts.forEach((gt, m) => gt.forEach((g, i) => {
    if (g === 255) return;
    const p = preds[m]![i]!;
    n++;
    if (g === p) tp[g]++; else { fn[g]++; fp[p]++; }
    for (const [name, set] of Object.entries(groups)) {
      const a = set.includes(g), b = set.includes(p);
      const acc = inG[name]!;
      if (a) acc[0]++;
      if (b) acc[1]++;
      if (a && b) acc[2]++;
    }
  }));
  const f1 = tp.map((t, k) => (2 * t) / (2 * t + fp[k]! + fn[k]!));
  const iou = tp.map((t, k) => (100 * t) / Math.max(1, t + fp[k]! + fn[k]!));
  let meanF1 = 0;
  for (let k = 1; k < K; k++) meanF1 += f1[k]! / (K - 1);
  return {
    f1, iou, meanF1,
    mIoU: iou.reduce((a, b) => a + b) / K,
    pixelAccuracy: (100 * tp.reduce((a, b) => a + b)) / n,
    meanAccuracy: (100 * tp.reduce((a, t, k) => a + t / Math.max(1, t + fn[k]!), 0)) / K,
    merged: Object.fromEntries(Object.entries(inG).map(([g, [a, b, c]]) => [g, (2 * c!) / (a! + b!)])),
  };
}

describe('ConfusionMatrix: against a brute-force computation on random label maps', () => {
  const cases = [
    { K: 19, maps: 5, pixels: 32 * 32, seed: 1, ignore: 0.05 },
    { K: 11, maps: 3, pixels: 24 * 24, seed: 2, ignore: 0 },
    { K: 11, maps: 4, pixels: 16 * 16, seed: 3, ignore: 0.2, absent: [10] },
    { K: 2, maps: 2, pixels: 100, seed: 4, ignore: 0.5 },
  ];
  for (const c of cases) {
    it(`K ${c.K}, ${c.maps} maps of ${c.pixels} px, seed ${c.seed}`, () => {
      const r = rng(c.seed);
      const draw = (): number => {
        for (;;) {
          // skewed towards low ids so F1s differ across classes; some predictions copy gt
          const v = Math.floor(c.K * r() ** 1.5);
          if (!c.absent?.includes(v)) return v;
        }
      };
      const gts: number[][] = [], preds: number[][] = [];
      const cm = new ConfusionMatrix(c.K), parts: ConfusionMatrix[] = [];
      for (let m = 0; m < c.maps; m++) {
        const gt = Array.from({ length: c.pixels }, () => (r() < c.ignore ? 255 : draw()));
        const pred = gt.map((g) => (g !== 255 && r() < 0.6 ? g : draw()));
        gts.push(gt); preds.push(pred);
        cm.add(Uint8Array.from(gt), Int32Array.from(pred));
        parts.push(new ConfusionMatrix(c.K).add(gt, pred));
      }
      const groups = c.K === 11 ? HELEN_MERGES : { pair: [0, 1] };
      const got = cm.results(groups), want = bruteForce(gts, preds, c.K, groups);
      const close = (a: number, b: number, what: string): void => {
        if (Number.isNaN(b)) expect(a, what).toBeNaN();
        else expect(Math.abs(a - b), `${what}: ${a} vs ${b}`).toBeLessThan(1e-9);
      };
      for (let k = 0; k < c.K; k++) { close(got.f1[k]!, want.f1[k]!, `f1[${k}]`); close(got.iou[k]!, want.iou[k]!, `iou[${k}]`); }
      for (const key of ['meanF1', 'mIoU', 'pixelAccuracy', 'meanAccuracy'] as const) close(got[key], want[key], key);
      for (const g of Object.keys(groups)) close(got.merged[g]!, want.merged[g]!, `merged ${g}`);
      if (c.absent) expect(got.meanF1).toBeNaN();

      // data-parallel merge: the sum of per-map matrices equals the running matrix
      const merged = parts.reduce((a, p) => a.add(p), new ConfusionMatrix(c.K));
      expect(Array.from(merged.hist)).toEqual(Array.from(cm.hist));
      // lossless JSON round trip
      const back = ConfusionMatrix.fromJSON(JSON.parse(JSON.stringify(cm)));
      expect(Array.from(back.hist)).toEqual(Array.from(cm.hist));
    });
  }
});

// ---------------------------------------------------------------------------- table

describe('ConfusionMatrix.formatTable', () => {
  it('aligns class rows and prints the summary and merged lines', () => {
    const names = ['bg', 'face', 'lb', 'rb', 'le', 're', 'nose', 'ulip', 'imouth', 'llip', 'hair'];
    const cm = new ConfusionMatrix(11).add([0, 1, 4, 5, 6, 7, 8, 9], [0, 1, 5, 5, 6, 7, 8, 9]);
    const t = cm.formatTable(names, HELEN_MERGES);
    console.log(t);
    const lines = t.split('\n');
    const rows = lines.filter((l) => names.some((n) => l.startsWith(n + ' ')));
    expect(rows.length).toBe(11);
    expect(new Set(rows.map((l) => l.length)).size).toBe(1); // aligned
    expect(lines.find((l) => l.startsWith('re '))).toMatch(/66\.67\s+50\.00$/);
    expect(lines.find((l) => l.startsWith('lb '))).toMatch(/nan\s+0\.00$/);
    expect(lines.find((l) => l.startsWith('eyes '))).toMatch(/100\.00/);
    expect(t).toMatch(/Mean F1 \(classes 1\.\.10\): nan/);
    expect(t).toMatch(/Mean IoU \(all 11 classes\): /);
    expect(t).toMatch(/Pixel accuracy: 87\.50/);
    expect(() => cm.formatTable(names.slice(1))).toThrow(/10 names for 11 classes/);
  });
});
