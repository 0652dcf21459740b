// The Predict part: drop or choose a checkpoint, images and optional landmarks; shows overlays,
// masks, the adapter and timings.
import type { Runtime } from '../src/runtime/runtime.js';
import { predict, type Input, type PredictResult } from './predict.js';
import { rgbCanvas } from './util.js';

export function setupPredictUi(rt: Runtime): void {
  const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
  const status = $('predict-status');
  const drop = $('drop');
  let dropped: { checkpoint?: File; images: File[]; landmarks?: File } = { images: [] };
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    for (const f of e.dataTransfer?.files ?? []) {
      if (/\.(pt|safetensors)$/i.test(f.name)) dropped.checkpoint = f;
      else if (/\.(json|txt)$/i.test(f.name)) dropped.landmarks = f;
      else dropped.images.push(f);
    }
    status.textContent = `dropped: ${[dropped.checkpoint?.name, ...dropped.images.map((f) => f.name), dropped.landmarks?.name].filter(Boolean).join(', ')}`;
  });
  $('run').addEventListener('click', async () => {
    const checkpoint: Input | undefined = $<HTMLInputElement>('ckpt').files?.[0] ?? dropped.checkpoint;
    const images: Input[] = [...($<HTMLInputElement>('images').files ?? [])];
    if (images.length === 0) images.push(...dropped.images);
    const landmarks: Input | undefined = $<HTMLInputElement>('landmarks').files?.[0] ?? dropped.landmarks;
    const res = Number($<HTMLInputElement>('res').value);
    status.classList.remove('error');
    if (!checkpoint || images.length === 0) { status.textContent = 'choose a checkpoint and at least one image'; return; }
    status.textContent = 'running…';
    try {
      showPrediction(await predict(rt, { checkpoint, images, res, ...(landmarks ? { landmarks } : {}) }));
      dropped = { images: [] };
    } catch (e) {
      showPredictionError((e as Error).message);
    }
  });
}

/** Shows a prediction's overlays, masks, adapter and timings (the UI's and the automation's runs). */
export function showPrediction(r: PredictResult): void {
  const out = document.getElementById('predict-out')!;
  const status = document.getElementById('predict-status')!;
  out.replaceChildren(...r.overlays.flatMap((o, b) => [rgbCanvas(o, `overlay ${b}`), rgbCanvas(r.masks[b]!, `mask ${b}`)]));
  const t = r.timings;
  status.classList.remove('error');
  status.textContent = `${r.adapter}: logits [${r.shape.join(', ')}]; checkpoint ${t.loadMs.toFixed(0)} ms, ` +
    `decode ${t.decodeMs.toFixed(0)} ms, forward ${t.forwardMs.toFixed(0)} ms`;
}

export function showPredictionError(message: string): void {
  const status = document.getElementById('predict-status')!;
  status.classList.add('error');
  status.textContent = message;
}
