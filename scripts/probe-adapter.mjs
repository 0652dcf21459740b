// Prints the first WebGPU adapter's description and exits 0, or exits 1 when there is none.
// Plain JS so that the set-up script can run it before anything is compiled.
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter();
if (!adapter) { console.error('no WebGPU adapter'); process.exit(1); }
const info = adapter.info;
console.log(`${info.device || info.description || 'unknown'} (${info.vendor}, ${info.architecture})`);
