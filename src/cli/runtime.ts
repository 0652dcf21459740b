// The device of a command: the runtime on the adapter that --adapter names, announced on the
// command's first line (with a warning when a GPU is in the machine but the adapter is software).
import type { Args } from './args.js';
import { announceAdapter } from '../runtime/host_gpu.js';
import { Runtime } from '../runtime/runtime.js';

export async function openRuntime(args: Args): Promise<Runtime> {
  const rt = await Runtime.create(args.adapter());
  announceAdapter(rt.device.adapter);
  return rt;
}
