// The Train part: start/pause/resume the default run, a live loss and mean-F1 chart, validation
// overlays, and the two downloads.
import type { Runtime } from '../src/runtime/runtime.js';
import { PageTraining } from './training.js';
import { download, drawChart, rgbCanvas, type Series } from './util.js';

const VALIDATE_EVERY = 24; // steps (a quarter of an epoch of the default run)

export function setupTrainUi(rt: Runtime): void {
  const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
  const status = $('train-status');
  const start = $<HTMLButtonElement>('train-start');
  const pause = $<HTMLButtonElement>('train-pause');
  const save = $<HTMLButtonElement>('train-save');
  const exportPt = $<HTMLButtonElement>('train-export');
  const loss: Series = { name: 'loss', color: '#c0392b', points: [] };
  const f1: Series = { name: 'val mean F1', color: '#2471a3', points: [] };
  let run: PageTraining | undefined;
  let paused = true;
  let looping = false;

  const loop = async () => {
    if (looping) return;
    looping = true;
    try {
      while (!paused && run) {
        const t0 = performance.now();
        const r = await run.step();
        const ms = performance.now() - t0;
        loss.points.push([run.globalStep, r.total]);
        status.textContent = `step ${run.globalStep} (epoch ${run.epoch}): loss ${r.total.toFixed(4)} (CE ${r.ce.toFixed(4)}, Dice ${r.dice.toFixed(4)}), ${ms.toFixed(0)} ms/step on ${rt.device.name}`;
        drawChart($<HTMLCanvasElement>('train-chart'), [loss, f1], 'step');
        if (run.globalStep % VALIDATE_EVERY === 0) await validate(run);
      }
      // Paused: validate now, so the chart and the samples show where the model stands.
      if (run && run.globalStep > 0 && f1.points.at(-1)?.[0] !== run.globalStep) await validate(run);
    } catch (e) {
      status.classList.add('error');
      status.textContent = (e as Error).message;
      paused = true;
    } finally {
      looping = false;
    }
  };
  const validate = async (r: PageTraining) => {
    const v = await r.validate();
    f1.points.push([r.globalStep, v.meanF1]);
    $('train-samples').replaceChildren(...v.overlays.map((o, i) => rgbCanvas(o, `val ${i} @ step ${r.globalStep}`)));
    drawChart($<HTMLCanvasElement>('train-chart'), [loss, f1], 'step');
  };

  start.addEventListener('click', () => {
    run ??= new PageTraining(rt);
    paused = false;
    start.disabled = true;
    pause.disabled = false;
    save.disabled = false;
    exportPt.disabled = false;
    void loop();
  });
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.textContent = paused ? 'Resume' : 'Pause';
    if (!paused) void loop();
  });
  save.addEventListener('click', async () => { if (run) download(`segface-web-step${run.globalStep}.safetensors`, await run.checkpointSafetensors()); });
  exportPt.addEventListener('click', async () => { if (run) download(`segface-web-step${run.globalStep}.pt`, await run.officialPt()); });
}
