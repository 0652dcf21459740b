// Is there a GPU in this machine, whatever Dawn makes of it? And the adapter banner every run prints
// first, with a warning when a GPU is here but the adapter in use is a software rasteriser
// (lavapipe, SwiftShader): then everything runs on the CPU, 100x slower, and the cause is a missing
// Vulkan driver (`bash scripts/setup.sh` names it).
//
// Detection reads files only (no nvidia-smi: it can take a second): NVIDIA's device files and
// driver version, and DRM render nodes whose PCI vendor is NVIDIA, AMD or Intel. Virtual display
// adapters (virtio-gpu, QXL, bochs, VMware) are not compute GPUs and do not count. scripts/setup.sh
// applies the same rules before anything is installed.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isSoftwareAdapter } from './adapter.js';

export interface HostGpu {
  vendor: 'nvidia' | 'amd' | 'intel';
  /** The file that shows it: /dev/nvidia0, /dev/dri/renderD128. */
  where: string;
}

const PCI_VENDORS: Record<string, HostGpu['vendor']> = { '0x10de': 'nvidia', '0x1002': 'amd', '0x8086': 'intel' };

function readTrimmed(path: string): string {
  try { return readFileSync(path, 'utf8').trim(); } catch { return ''; }
}

function list(dir: string): string[] {
  try { return readdirSync(dir).sort(); } catch { return []; }
}

/** The GPUs this machine shows under `root` (a fake tree in tests), one per vendor and device file. */
export function hostGpus(root = '/'): HostGpu[] {
  const out: HostGpu[] = [];
  for (const f of list(join(root, 'dev'))) {
    if (/^nvidia\d+$/.test(f)) out.push({ vendor: 'nvidia', where: `/dev/${f}` });
  }
  for (const node of list(join(root, 'dev/dri'))) {
    if (!node.startsWith('renderD')) continue;
    const vendor = PCI_VENDORS[readTrimmed(join(root, 'sys/class/drm', node, 'device/vendor'))];
    if (!vendor) continue;
    if (vendor === 'nvidia' && out.some((g) => g.vendor === 'nvidia')) continue;
    out.push({ vendor, where: `/dev/dri/${node}` });
  }
  return out;
}

/** NVIDIA's kernel driver version, from /proc (empty when unknown). */
export function nvidiaDriverVersion(root = '/'): string {
  const proc = readTrimmed(join(root, 'proc/driver/nvidia/version')).match(/Kernel Module\s+([0-9.]+)/);
  if (proc) return proc[1]!;
  return existsSync(join(root, 'sys/module/nvidia/version')) ? readTrimmed(join(root, 'sys/module/nvidia/version')) : '';
}

/** Whether an adapter is a software rasteriser (Dawn marks CPU adapters as fallback adapters). */
export { isSoftwareAdapter };

export interface AdapterNames { name: string; backend: string; vendor: string; description: string; isFallbackAdapter: boolean }

/**
 * The banner line naming the adapter, and a warning when a GPU is in the machine but the adapter is
 * software. `gpus` defaults to this machine's.
 */
export function adapterBanner(adapter: AdapterNames, gpus: HostGpu[] = hostGpus()): { line: string; warning?: string } {
  const software = isSoftwareAdapter(adapter);
  const line = `adapter: ${adapter.name} (${adapter.backend}, ${adapter.vendor || 'unknown vendor'}, ${software ? 'software, on the CPU' : 'hardware'})`;
  if (!software || gpus.length === 0) return { line };
  const where = gpus.map((g) => `${g.vendor.toUpperCase()} ${g.where}`).join(', ');
  return {
    line,
    warning: `warning: this machine has a GPU (${where}) but the adapter is the software rasteriser ${adapter.name}: ` +
      'everything runs on the CPU. Dawn offers no Vulkan adapter for the GPU; `bash scripts/setup.sh` says what is missing ' +
      '(`npm run devices` lists the adapters; --adapter picks one).',
  };
}

/** Prints the banner (stdout) and the warning, if any (stderr). Call it right after opening the runtime. */
export function announceAdapter(adapter: AdapterNames, gpus?: HostGpu[]): void {
  const { line, warning } = adapterBanner(adapter, gpus);
  console.log(line);
  if (warning) console.error(warning);
}
