// Training-curve charts: tick choice, that every series is drawn in its colour where its points
// are, and the curve PNG of a metrics.jsonl.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lineChart, niceTicks } from '../../src/train/image/chart.js';
import { readImage } from '../../src/train/image/index.js';
import { writeTrainingCurve } from '../../src/train/curve.js';

const dir = mkdtempSync(join(tmpdir(), 'chart-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function count(img: { rgb: Uint8Array }, c: readonly number[]): number {
  let n = 0;
  for (let i = 0; i < img.rgb.length; i += 3) if (img.rgb[i] === c[0] && img.rgb[i + 1] === c[1] && img.rgb[i + 2] === c[2]) n++;
  return n;
}

describe('charts', () => {
  it('picks round ticks covering the range', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.71, 1.94)).toEqual([0.8, 1, 1.2, 1.4, 1.6, 1.8]);
    expect(niceTicks(0, 960)).toEqual([0, 200, 400, 600, 800]);
    expect(niceTicks(3, 3)).toEqual([3]);
  });

  it('draws each series in its colour along its points, on its own axis', () => {
    const img = lineChart([
      { name: 'falling', points: [[0, 2], [10, 1], [20, 0.5]], color: [10, 200, 30], axis: 'left' },
      { name: 'rising', points: [[0, 0], [20, 50]], color: [200, 10, 30], axis: 'right', dots: true },
    ], { width: 400, height: 300, title: 'test', xLabel: 'step', leftLabel: 'loss', rightLabel: 'F1' });
    expect([img.width, img.height, img.rgb.length]).toEqual([400, 300, 400 * 300 * 3]);
    expect(count(img, [10, 200, 30])).toBeGreaterThan(200);
    expect(count(img, [200, 10, 30])).toBeGreaterThan(200);
    // the falling series starts high on the left: its colour is in the upper-left quarter
    const at = (x: number, y: number): number[] => Array.from(img.rgb.subarray((y * 400 + x) * 3, (y * 400 + x) * 3 + 3));
    let upperLeft = 0;
    for (let y = 0; y < 150; y++) for (let x = 60; x < 200; x++) if (at(x, y).join() === '10,200,30') upperLeft++;
    expect(upperLeft).toBeGreaterThan(20);
  });

  it('writes the curve of a run from its metrics.jsonl, skipping non-applied steps', () => {
    const lines: string[] = [];
    for (let s = 1; s <= 40; s++) lines.push(JSON.stringify({ kind: 'train', epoch: Math.floor((s - 1) / 10), step: s, loss: 2 / s, applied: s !== 7 }));
    for (let e = 1; e <= 4; e++) lines.push(JSON.stringify({ kind: 'val', epoch: e, meanF1: e / 10 }));
    writeFileSync(join(dir, 'metrics.jsonl'), lines.join('\n') + '\n');
    writeTrainingCurve(join(dir, 'metrics.jsonl'), join(dir, 'curve.png'), 'run');
    const png = readImage(join(dir, 'curve.png'));
    expect([png.width, png.height]).toEqual([800, 450]);
    expect(count(png, [31, 119, 180])).toBeGreaterThan(300);
    expect(count(png, [214, 39, 40])).toBeGreaterThan(4 * 40);   // four validation dots and their line
  });
});
