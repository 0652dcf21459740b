// The demo page: boots the engine on navigator.gpu with the kernels embedded in the bundle, then
// wires Predict, Train and Bench. The automation contract (tests, embedding):
//   /?checkpoint=URL&image=URL[&image=URL…]&res=N[&landmarks=URL] runs one prediction on load and sets
//   window.segfaceResult = { adapter, shape: [B, K, H, W], logits: base64 f32 LE, classes: base64 u8 }
//   or { error } naming the file or URL.
import './platform/benchmark_globals.js';
import jpegWasmUrl from '@cwasm/jpeg-turbo/jpeg-turbo.wasm?url';
import { embedKernels } from '../src/runtime/kernel_source.js';
import { Runtime } from '../src/runtime/runtime.js';
import { useJpegWasm } from '../src/train/image/index.js';
import { predict, type Input } from './predict.js';
import { setupPredictUi, showPrediction, showPredictionError } from './ui_predict.js';
import { setupTrainUi } from './ui_train.js';
import { setupBenchUi } from './ui_bench.js';
import { PageTraining } from './training.js';
import { base64 } from './util.js';

embedKernels(import.meta.glob('../kernels/*.wgsl', { query: '?raw', import: 'default', eager: true }) as Record<string, string>);

declare global {
  interface Window {
    segfaceResult?: { adapter: string; shape: number[]; logits: string; classes: string } | { error: string };
    segfaceReady?: { adapter: string; subgroupMinSize: number; subgroupMaxSize: number };
    segfaceRuntime?: Runtime;
    /** Runs `n` steps of the default training run from its start; resolves to their total losses. */
    segfaceTrainSteps?: (n: number) => Promise<number[]>;
  }
}

async function boot(): Promise<Runtime> {
  const wasm = await fetch(jpegWasmUrl);
  useJpegWasm(await WebAssembly.compile(await wasm.arrayBuffer()));
  // ?tune=0: every op's built-in default kernel (the tests' deterministic choice); otherwise kernels
  // are autotuned at first use and the winners kept in localStorage.
  return Runtime.create({ tune: new URLSearchParams(location.search).get('tune') !== '0' });
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const automated = params.has('checkpoint') || params.has('image');
  let rt: Runtime;
  try {
    rt = await boot();
  } catch (e) {
    const error = (e as Error).message;
    document.getElementById('adapter')!.textContent = `WebGPU unavailable: ${error}`;
    if (automated) window.segfaceResult = { error };
    return;
  }
  const a = rt.device.adapter;
  document.getElementById('adapter')!.textContent =
    `adapter: ${a.name} (${a.vendor}/${a.architecture}), subgroups ${a.subgroupMinSize}–${a.subgroupMaxSize} lanes, ` +
    `shader-f16 ${a.features.includes('shader-f16') ? 'yes' : 'no'}, timestamps ${a.features.includes('timestamp-query') ? 'yes' : 'no'}`;
  window.segfaceRuntime = rt;
  window.segfaceReady = { adapter: a.name, subgroupMinSize: a.subgroupMinSize, subgroupMaxSize: a.subgroupMaxSize };
  window.segfaceTrainSteps = async (n) => {
    const run = new PageTraining(rt);
    const losses: number[] = [];
    for (let i = 0; i < n; i++) losses.push((await run.step()).total);
    run.params.release();
    return losses;
  };
  setupPredictUi(rt);
  setupTrainUi(rt);
  setupBenchUi(rt);
  if (automated) await runAutomation(rt, params);
}

async function runAutomation(rt: Runtime, params: URLSearchParams): Promise<void> {
  try {
    const checkpoint = params.get('checkpoint');
    const images = params.getAll('image');
    if (!checkpoint) throw new Error('?checkpoint=URL is missing');
    if (images.length === 0) throw new Error('?image=URL is missing');
    const res = Number(params.get('res') ?? '512');
    const landmarks: Input | undefined = params.get('landmarks') ?? undefined;
    const r = await predict(rt, { checkpoint, images, res, ...(landmarks ? { landmarks } : {}) });
    showPrediction(r);
    window.segfaceResult = {
      adapter: r.adapter, shape: r.shape,
      logits: base64(new Uint8Array(r.logits.buffer, r.logits.byteOffset, r.logits.byteLength)),
      classes: base64(r.classes),
    };
  } catch (e) {
    showPredictionError((e as Error).message);
    window.segfaceResult = { error: (e as Error).message };
  }
}

void main();
