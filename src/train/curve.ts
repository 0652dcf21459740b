// The training curve of a run as a PNG: the training loss (a moving average over the steps) on the
// left axis and the validation mean F1 (%) on the right, both against the step count, read from
// the run's metrics.jsonl.
import { readFileSync } from 'node:fs';
import { lineChart } from './image/chart.js';
import { writePng } from './image/index.js';

interface TrainRecord { kind: 'train'; epoch: number; step: number; loss: number; applied: boolean }
interface ValRecord { kind: 'val'; epoch: number; meanF1: number }

/** Moving average of the last `window` values. */
function smooth(values: number[], window: number): number[] {
  let sum = 0;
  return values.map((v, i) => {
    sum += v;
    if (i >= window) sum -= values[i - window]!;
    return sum / Math.min(i + 1, window);
  });
}

export function writeTrainingCurve(metricsPath: string, pngPath: string, title: string): void {
  const records = readFileSync(metricsPath, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as TrainRecord | ValRecord);
  const train = records.filter((r): r is TrainRecord => r.kind === 'train' && r.applied && Number.isFinite(r.loss));
  const val = records.filter((r): r is ValRecord => r.kind === 'val');
  // A validation after epoch e sits at the last step of that epoch.
  const endStep = new Map<number, number>();
  for (const r of train) endStep.set(r.epoch + 1, r.step);
  const window = Math.max(1, Math.round(train.length / 50));
  const loss = smooth(train.map((r) => r.loss), window);
  writePng(pngPath, lineChart([
    { name: `train loss (mean of ${window} steps)`, points: train.map((r, i) => [r.step, loss[i]!]), color: [31, 119, 180], axis: 'left' },
    { name: 'val mean F1 %', points: val.filter((r) => endStep.has(r.epoch)).map((r) => [endStep.get(r.epoch)!, r.meanF1 * 100]), color: [214, 39, 40], axis: 'right', dots: true },
  ], { title, xLabel: 'step', leftLabel: 'loss', rightLabel: 'mean F1 %' }));
}
