// The input pipeline alone (no GPU work): a temporary fake LaPa train split of 512×512 JPEG images
// with PNG labels and 106-point landmarks, loaded as training does it (decode, the random affine
// augmentation, Pillow-exact resize to the model resolution, normalisation, batching) through the
// prefetch queue with 0 (main thread), 1 and 2 worker threads, at 512 and 224 px. Each row's time
// is milliseconds per image (median over epochs, each epoch a fresh augmentation); `imagesPerSec`
// is its inverse. Worker start-up is outside the timed region.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFakeLapa } from '../../tests/fake_datasets.js';
import { BatchPrefetcher } from '../../src/train/data/prefetch.js';
import { row, type BenchContext, type BenchRow } from '../lib.js';

const SIZE = 512;
const BATCH = 4;

export async function inputSuite(ctx: BenchContext): Promise<BenchRow[]> {
  const images = ctx.quick ? 8 : 16;
  const epochs = ctx.quick ? 2 : 3;
  const dir = mkdtempSync(join(tmpdir(), 'bench-input-'));
  const rows: BenchRow[] = [];
  try {
    writeFakeLapa(dir, 'train', images, { width: SIZE, height: SIZE });
    for (const res of [512, 224]) {
      for (const workers of [0, 1, 2]) {
        const loader = new BatchPrefetcher({ kind: 'lapa', dataDir: dir, split: 'train', res, onBad: 'stop', seed: 1 }, { workers });
        const jobs = (epoch: number): { indices: number[]; epoch: number }[] =>
          Array.from({ length: images / BATCH }, (_, b) => ({ indices: Array.from({ length: BATCH }, (_, i) => b * BATCH + i), epoch }));
        for await (const _ of loader.batches(jobs(100).slice(0, Math.max(1, workers)))) { /* warm-up: workers open the dataset */ }
        const perImage: number[] = [];
        for (let e = 0; e < epochs; e++) {
          const t0 = performance.now();
          let n = 0;
          for await (const b of loader.batches(jobs(e))) n += b.batch?.size ?? 0;
          perImage.push((performance.now() - t0) / n);
        }
        await loader.close();
        const sorted = [...perImage].sort((a, b) => a - b);
        const median = sorted[sorted.length >> 1]!;
        rows.push(row(ctx, {
          suite: 'input', name: `lapa train ${workers === 0 ? 'main thread' : `${workers} worker${workers > 1 ? 's' : ''}`}`,
          sizes: `${SIZE}² JPEG -> ${res}², batch ${BATCH}, augment on`, dtype: 'u8->f32',
          medianMs: median, minMs: sorted[0]!, maxMs: sorted[sorted.length - 1]!, samples: perImage.length,
          imagesPerSec: 1000 / median,
          note: 'decode + affine + resize + normalise',
        }));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
