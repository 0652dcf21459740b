// The device of a command: the runtime on the adapter that --adapter names, announced on the
// command's first line (with a warning when a GPU is in the machine but the adapter is software),
// with kernel autotuning unless --no-tune.
import type { Args } from './args.js';
import { announceAdapter } from '../runtime/host_gpu.js';
import { Runtime } from '../runtime/runtime.js';

/**
 * --no-tune as the environment's switch (SEGFACE_TUNE=0), which every runtime of this process and
 * of the ranks it launches reads (runtime/tuner.ts).
 */
export function applyTuneFlag(args: Args): void {
  if (args.bool('no-tune')) process.env.SEGFACE_TUNE = '0';
}

export async function openRuntime(args: Args): Promise<Runtime> {
  applyTuneFlag(args);
  const rt = await Runtime.create(args.adapter());
  announceAdapter(rt.device.adapter);
  if (args.precision() === 'f16' && !rt.device.hasF16) {
    rt.destroy();
    args.fail(`--precision f16: adapter ${rt.device.adapter.name} has no shader-f16; use --precision f32`);
  }
  return rt;
}
