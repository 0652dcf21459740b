// `segface devices`: the WebGPU adapters Dawn sees, with the features and limits the engine uses.
import { ADAPTER_FLAG, type Command } from '../args.js';
import { INSTALL_HINT, listAdapters } from '../../runtime/device.js';
import { adapterBanner, hostGpus, isSoftwareAdapter } from '../../runtime/host_gpu.js';

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
      console.log(`    backend ${a.backend}, vendor ${a.vendor || '?'}, architecture ${a.architecture || '?'}, ${isSoftwareAdapter(a) ? 'software (CPU), ' : 'hardware, '}${a.description}`);
      console.log(`    engine features: ${ENGINE_FEATURES.map((f) => `${f} ${a.features.includes(f) ? 'yes' : 'no'}`).join(', ')}; subgroup size ${a.subgroupMinSize}..${a.subgroupMaxSize}`);
      for (const k of KEY_LIMITS) console.log(`    ${k} ${a.limits[k]}`);
    }
    // A GPU in the machine that Dawn offers no adapter for: say so (scripts/setup.sh names what is missing).
    const gpus = hostGpus();
    if (gpus.length > 0 && adapters.every(isSoftwareAdapter)) console.error(adapterBanner(adapters[0]!, gpus).warning);
  },
};
