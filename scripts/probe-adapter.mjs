// Lists the WebGPU adapters Dawn offers, one line each: "NAME [vendor V, hardware|software]".
// Exits 0 when there is one, 1 when there is none; with --hardware, 0 only when a hardware (not
// software-rasteriser) adapter is among them, and that one is printed first.
// Plain JS so that the set-up script can run it before anything is compiled.
//
// dawn-node cannot enumerate adapters, so this asks for a name that matches nothing: Dawn's error
// lists every adapter (src/runtime/device.ts does the same). Every object create() returns stays
// referenced until exit (a collected one crashes Dawn's event polling).
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);

const wantHardware = process.argv.includes('--hardware');
const keep = [];
const gpuFor = (flags) => { const gpu = create(flags); keep.push(gpu); return gpu; };

/** lavapipe/llvmpipe and SwiftShader: Dawn marks CPU adapters as fallback adapters. */
function isSoftware(info) {
  return info.isFallbackAdapter === true || info.architecture === 'software'
    || /llvmpipe|lavapipe|swiftshader/i.test(`${info.device} ${info.description}`);
}

async function adapterNames() {
  try {
    await gpuFor(['adapter=\u0001no-such-adapter\u0001']).requestAdapter();
  } catch (e) {
    return [...String(e?.message ?? e).matchAll(/\* backend: '[^']*', name: '([^']*)'/g)].map((m) => m[1]);
  }
  return [];
}

const found = [];
for (const name of await adapterNames()) {
  const adapter = await gpuFor([`adapter=${name}`]).requestAdapter();
  if (!adapter) continue;
  const info = adapter.info;
  found.push({ line: `${name} [vendor ${info.vendor || '?'}, ${isSoftware(info) ? 'software' : 'hardware'}]`, software: isSoftware(info) });
}
found.sort((a, b) => Number(a.software) - Number(b.software));
for (const a of found) console.log(a.line);
if (found.length === 0) { console.error('no WebGPU adapter'); process.exit(1); }
if (wantHardware && found[0].software) { console.error('no hardware WebGPU adapter'); process.exit(1); }
process.exit(0);
