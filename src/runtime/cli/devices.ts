// `npm run devices`: the WebGPU adapters Dawn sees, with the features and limits the engine uses.
import { parseArgs } from 'node:util';
import { INSTALL_HINT, listAdapters } from '../device.js';
import { adapterBanner, hostGpus, isSoftwareAdapter } from '../host_gpu.js';

const { values } = parseArgs({ options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } } });
if (values.help) {
  console.log('usage: npm run devices [-- --json]\n  Lists WebGPU adapters (index, name, backend, vendor, features, key limits).\n  Select one elsewhere with --adapter INDEX|NAME.');
  process.exit(0);
}
const adapters = await listAdapters();
if (adapters.length === 0) {
  console.error(`error: ${INSTALL_HINT}`);
  process.exit(1);
}
if (values.json) {
  console.log(JSON.stringify(adapters, null, 2));
} else {
  const KEY_LIMITS = ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupsPerDimension', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupStorageSize'];
  const ENGINE_FEATURES = ['subgroups', 'shader-f16', 'timestamp-query'];
  for (const a of adapters) {
    console.log(`[${a.index}] ${a.name}`);
    console.log(`    backend ${a.backend}, vendor ${a.vendor || '?'}, architecture ${a.architecture || '?'}, ${isSoftwareAdapter(a) ? 'software (CPU), ' : 'hardware, '}${a.description}`);
    console.log(`    engine features: ${ENGINE_FEATURES.map((f) => `${f} ${a.features.includes(f) ? 'yes' : 'no'}`).join(', ')}; subgroup size ${a.subgroupMinSize}..${a.subgroupMaxSize}`);
    for (const k of KEY_LIMITS) console.log(`    ${k} ${a.limits[k]}`);
  }
}
// A GPU in the machine that Dawn offers no adapter for: say so (scripts/setup.sh names what is missing).
const gpus = hostGpus();
if (gpus.length > 0 && adapters.every(isSoftwareAdapter)) console.error(adapterBanner(adapters[0]!, gpus).warning);
