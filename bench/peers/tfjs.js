// TF.js's WebGPU backend as a benchmark peer on the SAME GPUDevice as the engine's Runtime: the
// backend is constructed from `rt.device.gpu` (`new WebGPUBackend(device, adapterInfo)`) and
// registered as 'webgpu' in place of the package's factory, so both run on one Dawn device,
// adapter and queue.
//
// tfjs-backend-webgpu checks `navigator.gpu` when it loads and when the backend is constructed;
// Node 20 has no navigator, so we define one whose `gpu` is a dawn-node GPU object, kept in a
// module variable for the life of the process (dawn-node crashes if it is garbage-collected while
// devices live). TF.js runs with WEBGPU_CPU_FORWARD off so that small ops stay on the GPU.
import { createRequire } from 'node:module';
import { create } from 'webgpu';
import { timeAsync } from '../lib.js';
// TF.js looks kernels up by backend name, so the shared backend replaces the package's own
// 'webgpu' factory (which would open a second device).
const BACKEND_NAME = 'webgpu';
/** The dawn-node GPU object behind `navigator.gpu`; referenced for the process lifetime. */
let navigatorGpu;
/** Loads TF.js on the runtime's device, or returns why it cannot. */
export async function openTfjs(rt) {
    let tf;
    let WebGPUBackend;
    try {
        const g = globalThis;
        if (!g.navigator?.gpu) {
            navigatorGpu ??= create([]);
            Object.defineProperty(globalThis, 'navigator', {
                value: { ...(g.navigator ?? {}), gpu: navigatorGpu, userAgent: 'node' }, configurable: true, writable: true,
            });
        }
        const require = createRequire(import.meta.url);
        tf = require('@tensorflow/tfjs-core');
        ({ WebGPUBackend } = require('@tensorflow/tfjs-backend-webgpu'));
    }
    catch (e) {
        return { why: `TF.js not loadable (npm install --save-dev @tensorflow/tfjs-core @tensorflow/tfjs-backend-webgpu): ${message(e)}` };
    }
    try {
        const device = rt.device.gpu;
        const info = { vendor: rt.device.adapter.vendor, architecture: rt.device.adapter.architecture };
        const backend = new WebGPUBackend(device, info);
        tf.env().set('WEBGPU_CPU_FORWARD', false);
        try {
            tf.removeBackend(BACKEND_NAME);
        }
        catch { /* not registered (navigator.gpu was missing at load) */ }
        tf.registerBackend(BACKEND_NAME, () => backend, 0);
        if (!(await tf.setBackend(BACKEND_NAME)))
            return { why: 'tf.setBackend failed for the shared WebGPU backend' };
        await tf.ready();
        const sync = async () => {
            backend.ensureCommandEncoderReady();
            backend.endComputePassEncoder();
            backend.submitQueue();
            await device.queue.onSubmittedWorkDone();
        };
        return {
            tf, backend, sync,
            describe: `tfjs-core ${tf.version_core}, WebGPU backend on the engine's GPUDevice`,
            async time(run, opts = {}) {
                const reps = opts.reps ?? 1;
                await rt.sync(); // nothing of ours in flight
                tf.tidy(() => { run(); }); // warm-up: compiles TF.js's pipelines
                await sync();
                return timeAsync(async () => {
                    tf.tidy(() => { for (let i = 0; i < reps; i++)
                        run(); });
                    await sync();
                }, { perCall: reps, minSamples: opts.minSamples, maxTime: opts.maxTime });
            },
            dispose() {
                tf.disposeVariables();
                tf.removeBackend(BACKEND_NAME);
            },
        };
    }
    catch (e) {
        return { why: `TF.js WebGPU backend failed on this device: ${message(e)}` };
    }
}
function message(e) {
    return (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 300);
}
//# sourceMappingURL=tfjs.js.map