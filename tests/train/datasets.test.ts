// The on-disk dataset loaders against their official recipes (docs/segface-model.md, "Datasets"), on tiny fake
// folders written in the official layouts: splits and sample names, CelebAMask-HQ's merged part
// masks, LaPa's and Helen's 5 landmarks, Helen's crop, Pillow-exact resizing, errors that name the
// file, the skip policy's counting, and the prefetch queue (worker threads) giving exactly the
// batches of direct loading, in order.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadBatch } from '../../src/train/data/batches.js';
import { CelebDataset, celebSplit } from '../../src/train/data/celeb.js';
import { makeBatch } from '../../src/train/data/dataset.js';
import { fakeImage, writeFakeCeleb, writeFakeHelen, writeFakeLapa } from '../fake_datasets.js';
import { BadSampleError } from '../../src/train/data/file_dataset.js';
import { helenCrop, HelenDataset } from '../../src/train/data/helen.js';
import { LapaDataset } from '../../src/train/data/lapa.js';
import { openDataset, openFromSpec, type DatasetSpec } from '../../src/train/data/open.js';
import { BatchPrefetcher } from '../../src/train/data/prefetch.js';
import { SyntheticDataset } from '../../src/train/data/synthetic_dataset.js';
import { encodePng, readImage, readLabelMap, resizeBicubicPIL, resizeNearestPIL } from '../../src/train/image/index.js';

const dir = mkdtempSync(join(tmpdir(), 'datasets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const RES = 32;

/** A fresh dataset root per test (tests that break files must not affect the others). */
let rootCount = 0;
function freshRoot(): string {
  const r = join(dir, `root${rootCount++}`);
  mkdirSync(r, { recursive: true });
  return r;
}

describe('LaPa', () => {
  const root = freshRoot();
  writeFakeLapa(root, 'train', 4, { width: 40, height: 48 });
  writeFakeLapa(root, 'val', 3, { width: 44, height: 36 });

  it('lists the .jpg images of a split, sorted, named split.stem', () => {
    writeFileSync(join(root, 'LaPa', 'val', 'images', 'notes.txt'), 'not an image');
    const ds = openDataset('lapa', root, 'val', RES);
    expect(ds.length).toBe(3);
    expect([0, 1, 2].map((i) => ds.sampleName(i))).toEqual(['val.img_val_000', 'val.img_val_001', 'val.img_val_002']);
    expect(openDataset('lapa', join(root, 'LaPa'), 'train', RES).length).toBe(4); // the LaPa folder itself works too
  });

  it('val: image BICUBIC and labels NEAREST to res, 5 points from the 106 scaled by (res/w, res/h)', () => {
    const ds = openDataset('lapa', root, 'val', RES) as LapaDataset;
    expect(ds.augment).toBe(false);
    const s = ds.get(1);
    const base = join(root, 'LaPa', 'val');
    const img = readImage(join(base, 'images', 'img_val_001.jpg'));
    const lab = readLabelMap(join(base, 'labels', 'img_val_001.png'));
    expect([img.width, img.height]).toEqual([44, 36]);
    expect(s.image).toEqual(resizeBicubicPIL(img.rgb, 44, 36, RES, RES));
    expect(s.labels).toEqual(resizeNearestPIL(lab.data, 44, 36, RES, RES));
    const v = readFileSync(join(base, 'landmarks', 'img_val_001.txt'), 'utf8').trim().split(/\s+/).map(Number);
    expect(v[0]).toBe(106);
    const p = (k: number, c: number): number => Math.fround(v[1 + 2 * k + c]!);
    const sc = [RES / 44, RES / 36];
    const want = [[74, 104], [83, 105], [54], [84], [90]].flatMap((ks) => [0, 1].map((c) =>
      Math.fround((ks.length === 2 ? Math.fround(p(ks[0]!, c) + p(ks[1]!, c)) / 2 : p(ks[0]!, c)) * sc[c]!)));
    expect(Array.from(s.landmarks5!)).toEqual(want);
  });

  it('train: augmented by default, deterministic per (seed, epoch, index); augment: false is the plain resize', () => {
    const ds = openDataset('lapa', root, 'train', RES, { seed: 4 }) as LapaDataset;
    expect(ds.augment).toBe(true);
    const a = ds.get(2, 0), b = ds.get(2, 0), c = ds.get(2, 1);
    expect(a).toEqual(b);
    expect(a.image).not.toEqual(c.image);
    const plain = openDataset('lapa', root, 'train', RES, { augment: false }).get(2);
    const img = readImage(join(root, 'LaPa', 'train', 'images', 'img_train_002.jpg'));
    expect(plain.image).toEqual(resizeBicubicPIL(img.rgb, 40, 48, RES, RES));
  });

  it('a missing label file stops indexing naming it, or is skipped and counted', () => {
    const r = freshRoot();
    writeFakeLapa(r, 'val', 3);
    rmSync(join(r, 'LaPa', 'val', 'labels', 'img_val_001.png'));
    expect(() => openDataset('lapa', r, 'val', RES)).toThrow(/labels\/img_val_001\.png: label map missing/);
    const ds = openDataset('lapa', r, 'val', RES, { onBad: 'skip' });
    expect(ds.length).toBe(2);
    expect(ds.skipped).toEqual([{ name: 'val.img_val_001', reason: expect.stringMatching(/img_val_001\.png: label map missing/) }]);
  });

  it('a malformed landmark file names the file', () => {
    const r = freshRoot();
    writeFakeLapa(r, 'val', 2);
    writeFileSync(join(r, 'LaPa', 'val', 'landmarks', 'img_val_000.txt'), '68 1 2 3');
    expect(() => openDataset('lapa', r, 'val', RES)).toThrow(/landmarks\/img_val_000\.txt: expected the number 106/);
  });
});

describe('bad samples at load time', () => {
  const root = freshRoot();
  writeFakeLapa(root, 'val', 4);
  const base = join(root, 'LaPa', 'val');
  truncateSync(join(base, 'images', 'img_val_001.jpg'), 200); // corrupt JPEG
  const bad = new Uint8Array(40 * 48);
  bad[5 * 40 + 7] = 12;
  writeFileSync(join(base, 'labels', 'img_val_003.png'), encodePng({ width: 40, height: 48, gray: bad }));

  it('errors name the file: a truncated JPEG, a label value outside [0, 11) with its pixel', () => {
    const ds = openDataset('lapa', root, 'val', RES);
    expect(() => ds.get(1)).toThrow(BadSampleError);
    expect(() => ds.get(1)).toThrow(/images\/img_val_001\.jpg: cannot decode JPEG/);
    expect(() => ds.get(3)).toThrow(/labels\/img_val_003\.png: label value 12 at pixel \(7, 5\) is outside \[0, 11\)/);
    expect(() => loadBatch(ds, [0, 1], 0, 'stop')).toThrow(/img_val_001\.jpg/);
  });

  it("'skip' leaves them out of their batch and reports them; an all-bad batch is empty", () => {
    const ds = openDataset('lapa', root, 'val', RES, { onBad: 'skip' });
    const r = loadBatch(ds, [0, 1, 2, 3], 0, 'skip');
    expect(r.batch!.size).toBe(2);
    expect(r.batch!.names).toEqual(['val.img_val_000', 'val.img_val_002']);
    expect(r.skipped.map((s) => s.name)).toEqual(['val.img_val_001', 'val.img_val_003']);
    expect(loadBatch(ds, [1, 3], 0, 'skip').batch).toBeUndefined();
  });
});

describe('Helen', () => {
  it('the crop box follows the official arithmetic (float32 box, int centre, side int(1.2·max wh)), clipped', () => {
    // 68 points spanning x 20..40, y 16..36 in the file (halved: 10..20, 8..18).
    const pts = new Float32Array(136);
    for (let i = 0; i < 68; i++) { pts[2 * i] = 20 + (i % 11) * 2; pts[2 * i + 1] = 16 + (i % 6) * 4; }
    // min (10, 8), max (20, 18): wh = 11, centre = int(10 + 5.5) = 15, int(8 + 5.5) = 13, side = int(13.2) = 13.
    const c = helenCrop(pts, 100, 100);
    expect([c.x1, c.y1, c.x2, c.y2]).toEqual([9, 7, 22, 20]);
    expect([c.points[0], c.points[1]]).toEqual([10 - 9, 8 - 7]);
    const clipped = helenCrop(pts, 18, 15);
    expect([clipped.x1, clipped.y1, clipped.x2, clipped.y2]).toEqual([9, 7, 18, 15]);
  });

  it('train/test splits, names, crop then resize, 5 points from the 68; val reads test/', () => {
    const root = freshRoot();
    const names = writeFakeHelen(root, { train: 3, test: 2 }, { width: 48, height: 40 });
    writeFileSync(join(root, 'helen', 'test', `${names[3]}_viz.png`), 'x'); // visualisations do not add samples
    const train = openDataset('helen', root, 'train', RES);
    const val = openDataset('helen', root, 'val', RES) as HelenDataset;
    expect(train.length).toBe(3);
    expect(val.name).toBe('helen-test');
    expect([0, 1].map((i) => val.sampleName(i))).toEqual(['100_test', '101_test']);
    const s = val.get(1);
    const img = readImage(join(root, 'helen', 'test', '101_test_image.jpg'));
    const lab = readLabelMap(join(root, 'helen', 'test', '101_test_label.png'));
    const line = readFileSync(join(root, 'helen', 'landmarks.txt'), 'utf8').split('\n').find((l) => l.endsWith(' 101_test'))!;
    const pts = Float32Array.from(line.split(' ').slice(0, 136).map(Number));
    const { x1, y1, x2, y2, points } = helenCrop(pts, 48, 40);
    const cw = x2 - x1, ch = y2 - y1;
    const rgb = new Uint8Array(cw * ch * 3), lb = new Uint8Array(cw * ch);
    for (let y = 0; y < ch; y++) {
      for (let x = 0; x < cw; x++) {
        for (let k = 0; k < 3; k++) rgb[(y * cw + x) * 3 + k] = img.rgb[((y + y1) * 48 + x + x1) * 3 + k]!;
        lb[y * cw + x] = lab.data[(y + y1) * 48 + x + x1]!;
      }
    }
    expect(s.image).toEqual(resizeBicubicPIL(rgb, cw, ch, RES, RES));
    expect(s.labels).toEqual(resizeNearestPIL(lb, cw, ch, RES, RES));
    const P = (k: number, c: number): number => points[2 * k + c]! * (c === 0 ? RES / cw : RES / ch);
    const mean = (from: number, c: number): number => { let t = 0; for (let k = from; k < from + 6; k++) t += P(k, c); return t / 6; };
    const want = [mean(36, 0), mean(36, 1), mean(42, 0), mean(42, 1), P(30, 0), P(30, 1), P(48, 0), P(48, 1), P(54, 0), P(54, 1)].map(Math.fround);
    expect(Array.from(s.landmarks5!)).toEqual(want);
  });

  it('a sample without a landmarks entry is an indexing problem', () => {
    const root = freshRoot();
    writeFakeHelen(root, { test: 2 });
    writeFileSync(join(root, 'helen', 'test', '555_x_image.jpg'), readFileSync(join(root, 'helen', 'test', '100_test_image.jpg')));
    writeFileSync(join(root, 'helen', 'test', '555_x_label.png'), readFileSync(join(root, 'helen', 'test', '100_test_label.png')));
    expect(() => openDataset('helen', root, 'test', RES)).toThrow(/landmarks\.txt: no landmarks for 555_x/);
    expect(openDataset('helen', root, 'test', RES, { onBad: 'skip' }).skipped.map((s) => s.name)).toEqual(['555_x']);
  });
});

describe('CelebAMask-HQ', () => {
  const root = freshRoot();
  // id 0: skin, nose, hair (hair last: overwrites); id 4: no masks at all.
  writeFakeCeleb(root, 9, { parts: (id) => (id === 4 ? [] : ['skin', 'nose', 'hair']) });
  const hq = join(root, 'CelebAMask-HQ');

  it('splits by the mapping and partition files, in partition order, skipping files outside CelebA-HQ', () => {
    expect(celebSplit(hq, 'train')).toEqual([0, 3, 6]);
    expect(celebSplit(hq, 'val')).toEqual([1, 4, 7]);
    expect(celebSplit(hq, 'test')).toEqual([2, 5, 8]);
  });

  it('merges the part masks in the official order onto a 512² zero map (later parts overwrite)', () => {
    const ds = openDataset('celeb', root, 'train', 512) as CelebDataset;
    const s = ds.get(0);
    expect(s.name).toBe('0');
    const want = new Uint8Array(512 * 512);
    for (const [part, value] of [['skin', 2], ['nose', 10], ['hair', 14]] as const) {
      const m = readLabelMap(join(hq, 'CelebAMask-HQ-mask-anno', '0', `00000_${part}.png`));
      for (let i = 0; i < m.data.length; i++) if (m.data[i]! > 0) want[i] = value;
    }
    // (Buffer.equals: vitest's deep equality is slow on 512² arrays.)
    expect(Buffer.from(s.labels).equals(want)).toBe(true);
    expect([2, 10, 14].every((v) => want.includes(v))).toBe(true);
    const img = readImage(join(hq, 'CelebA-HQ-img', '0.jpg'));
    expect(Buffer.from(s.image).equals(resizeBicubicPIL(img.rgb, 64, 64, 512, 512))).toBe(true);
    expect(openDataset('celeb', root, 'train', RES).get(0).labels).toEqual(resizeNearestPIL(want, 512, 512, RES, RES));
  });

  it('a sample with no part mask at all is a missing mask, named', () => {
    const ds = openDataset('celeb', root, 'val', RES);
    expect(() => ds.get(1)).toThrow(/00004_\*\.png: no part mask for sample 4/);
  });
});

describe('prefetch queue (worker threads)', () => {
  const root = freshRoot();
  writeFakeLapa(root, 'train', 7, { width: 40, height: 48 });
  truncateSync(join(root, 'LaPa', 'train', 'images', 'img_train_005.jpg'), 100);
  const spec: DatasetSpec = { kind: 'lapa', dataDir: root, split: 'train', res: RES, onBad: 'skip', seed: 3 };
  // Uneven jobs over two epochs, so workers finish out of order.
  const jobs = [[6, 0, 1], [2], [5, 3], [4, 1, 0, 2], [3, 6]].flatMap((indices) => [0, 1].map((epoch) => ({ indices, epoch })));

  it('yields exactly the batches of direct loading, in job order, for 0, 1 and 2 workers', async () => {
    const ds = openFromSpec(spec);
    const direct = jobs.map((j) => loadBatch(ds, j.indices, j.epoch, 'skip'));
    expect(direct[4]!.skipped.map((s) => s.name)).toEqual(['train.img_train_005']);
    for (const workers of [0, 1, 2]) {
      const p = new BatchPrefetcher(spec, { workers, depth: 4 });
      const got = [];
      for await (const b of p.batches(jobs)) got.push(b);
      await p.close();
      expect(got, `${workers} workers`).toEqual(direct);
    }
  }, 120_000);

  it("'stop' errors travel from the worker, naming the file", async () => {
    const p = new BatchPrefetcher({ ...spec, onBad: 'stop' }, { workers: 1 });
    const run = async (): Promise<void> => { for await (const _ of p.batches([{ indices: [0], epoch: 0 }, { indices: [5], epoch: 0 }])) { /* drain */ } };
    await expect(run()).rejects.toThrow(/img_train_005\.jpg: cannot decode JPEG/);
    await p.close();
  }, 60_000);

  it('serves the synthetic dataset too, equal to makeBatch', async () => {
    const sspec: DatasetSpec = { kind: 'synthetic', split: 'train', length: 6, res: RES, labels: 'lapa', seed: 2 };
    const p = new BatchPrefetcher(sspec, { workers: 2 });
    const got = [];
    for await (const b of p.batches([{ indices: [0, 1, 2], epoch: 0 }, { indices: [5, 4], epoch: 0 }])) got.push(b.batch);
    await p.close();
    const ds = new SyntheticDataset('train', 6, RES, 'lapa', 2);
    expect(got).toEqual([makeBatch(ds, [0, 1, 2]), makeBatch(ds, [5, 4])]);
  }, 60_000);
});

describe('fake data', () => {
  it('is deterministic', () => {
    expect(fakeImage(9, 7, 3)).toEqual(fakeImage(9, 7, 3));
  });
});
