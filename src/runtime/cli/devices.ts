// `npm run devices`: the WebGPU adapters Dawn sees, with the features and limits the engine uses.
import { parseArgs } from 'node:util';
import { INSTALL_HINT, listAdapters } from '../device.js';

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
    console.log(`    backend ${a.backend}, vendor ${a.vendor || '?'}, architecture ${a.architecture || '?'}, ${a.isFallbackAdapter ? 'fallback (software) ' : ''}${a.description}`);
    console.log(`    engine features: ${ENGINE_FEATURES.map((f) => `${f} ${a.features.includes(f) ? 'yes' : 'no'}`).join(', ')}; subgroup size ${a.subgroupMinSize}..${a.subgroupMaxSize}`);
    for (const k of KEY_LIMITS) console.log(`    ${k} ${a.limits[k]}`);
  }
}
