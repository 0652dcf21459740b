// `segface devices`: the WebGPU adapters Dawn sees, with the features and limits the engine uses.
import { ADAPTER_FLAG, type Command } from '../args.js';
import { INSTALL_HINT, listAdapters } from '../../runtime/device.js';

const KEY_LIMITS = ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupsPerDimension', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupStorageSize'];
const ENGINE_FEATURES = ['subgroups', 'shader-f16', 'timestamp-query'];

export const command: Command = {
  name: 'devices',
  summary: 'lists the WebGPU adapters: index, name, backend, features, key limits',
  usage: ['[--json]'],
  flags: { json: { type: 'boolean', help: 'print the full adapter descriptions as JSON' } },
  notes: `Select one elsewhere with --adapter INDEX|NAME (${ADAPTER_FLAG.help.split(':')[0]}).`,
  async run(args) {
    const adapters = await listAdapters();
    if (adapters.length === 0) throw new Error(INSTALL_HINT);
    if (args.bool('json')) {
      console.log(JSON.stringify(adapters, null, 2));
      return;
    }
    for (const a of adapters) {
      console.log(`[${a.index}] ${a.name}`);
      console.log(`    backend ${a.backend}, vendor ${a.vendor || '?'}, architecture ${a.architecture || '?'}, ${a.isFallbackAdapter ? 'fallback (software) ' : ''}${a.description}`);
      console.log(`    engine features: ${ENGINE_FEATURES.map((f) => `${f} ${a.features.includes(f) ? 'yes' : 'no'}`).join(', ')}; subgroup size ${a.subgroupMinSize}..${a.subgroupMaxSize}`);
      for (const k of KEY_LIMITS) console.log(`    ${k} ${a.limits[k]}`);
    }
  },
};
