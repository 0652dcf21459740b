// Which GPU a rank uses. dawn-node cannot pick one of several identical GPUs (no index or PCI
// selector; `adapter=NAME` takes the first name match), so a rank is bound BELOW Dawn:
//   - GPUs that differ (distinct PCI vendor:device ids): by adapter name, the rank's local rank
//     indexing the hardware adapters in Dawn's order;
//   - identical GPUs: DRI_PRIME=pci-DDDD_BB_DD_F! (Mesa's device-select Vulkan layer then shows the
//     process only that device), set before the process's first requestAdapter;
//   - no PCI display device (lavapipe, or a container given one GPU): Dawn's default adapter; on
//     lavapipe every rank gets its own software device.
// docs/multi-gpu.md explains why.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PciGpu {
  /** DDDD:BB:DD.F */
  address: string;
  vendor: string;
  device: string;
}

export interface Binding {
  /** Environment to set before the first requestAdapter. */
  env: Record<string, string>;
  /** Adapter option for Runtime.create (index or name substring); undefined: Dawn's default. */
  adapter?: number | string;
  /** Whether `adapter` is an index into the hardware (non-CPU) adapters, to resolve by name. */
  adapterIsHardwareIndex?: boolean;
  pci?: string;
  /** How the GPU was chosen, for the log. */
  note: string;
  warning?: string;
}

/** Display-class (PCI class 0x03xxxx) devices under `root`, sorted by address. */
export function listPciGpus(root = '/sys/bus/pci/devices'): PciGpu[] {
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return [];
  }
  const out: PciGpu[] = [];
  for (const address of entries) {
    const read = (f: string): string => { try { return readFileSync(join(root, address, f), 'utf8').trim(); } catch { return ''; } };
    if (!read('class').startsWith('0x03')) continue;
    out.push({ address, vendor: read('vendor'), device: read('device') });
  }
  return out.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}

/** The DRI_PRIME value selecting exactly the device at a PCI address: pci-DDDD_BB_DD_F! */
export function driPrime(address: string): string {
  return `pci-${address.replace(/[:.]/g, '_')}!`;
}

const DEVICE_SELECT_LAYER = 'VkLayer_MESA_device_select.json';
function hasDeviceSelectLayer(): boolean {
  const dirs = ['/usr/share/vulkan/implicit_layer.d', '/etc/vulkan/implicit_layer.d', '/usr/local/share/vulkan/implicit_layer.d'];
  return dirs.some((d) => existsSync(join(d, DEVICE_SELECT_LAYER)));
}

/**
 * The binding of the rank with `localRank` of `localSize` on this machine (pure apart from the
 * layer check; `env` is the process environment).
 */
export function chooseBinding(
  localRank: number, localSize: number, gpus: readonly PciGpu[],
  opts: { adapter?: number | string; env?: NodeJS.ProcessEnv; layerPresent?: boolean } = {},
): Binding {
  const env = opts.env ?? process.env;
  if (opts.adapter !== undefined) return { env: {}, adapter: opts.adapter, note: `--adapter ${opts.adapter}` };
  if (env.SEGFACE_GPU_BIND === 'none') return { env: {}, note: 'SEGFACE_GPU_BIND=none: Dawn\'s default adapter' };
  if (env.DRI_PRIME) return { env: {}, note: `DRI_PRIME=${env.DRI_PRIME} set by the caller` };
  if (gpus.length === 0) return { env: {}, note: 'no PCI display device: Dawn\'s default adapter (software, or the container\'s one GPU)' };
  if (gpus.length === 1 || localSize === 1) {
    const warning = localSize > 1 ? `${localSize} ranks on this machine share its one GPU ${gpus[0]!.address}` : undefined;
    return { env: {}, pci: gpus.length === 1 ? gpus[0]!.address : undefined, note: 'Dawn\'s default adapter', warning };
  }
  const g = gpus[localRank % gpus.length]!;
  const shared = localSize > gpus.length ? `${localSize} ranks on this machine for ${gpus.length} GPUs: some share one` : undefined;
  const ids = new Set(gpus.map((x) => `${x.vendor}:${x.device}`));
  if (ids.size === gpus.length) {
    return {
      env: {}, adapter: localRank % gpus.length, adapterIsHardwareIndex: true, pci: g.address,
      note: `GPUs differ: hardware adapter ${localRank % gpus.length} in Dawn's order`, warning: shared,
    };
  }
  const layer = opts.layerPresent ?? hasDeviceSelectLayer();
  const missing = layer ? undefined
    : `identical GPUs are told apart by Mesa's device-select Vulkan layer (${DEVICE_SELECT_LAYER}), which is not installed ` +
      '(apt-get install mesa-vulkan-drivers); without it every rank may get the first GPU. Or run one GPU per container';
  return {
    env: { DRI_PRIME: driPrime(g.address) }, pci: g.address, note: `identical GPUs: DRI_PRIME=${driPrime(g.address)}`,
    warning: [shared, missing].filter(Boolean).join('; ') || undefined,
  };
}

/** True for software adapters (each process gets its own, so ranks never share them): the runtime's rule. */
export { isSoftwareAdapter } from '../../runtime/adapter.js';

export interface RankDevice { rank: number; host: string; adapter: string; pci?: string; software: boolean }

/** Ranks on one host using the same hardware GPU, as groups of ranks (empty: no sharing). */
export function sharedGpus(devices: readonly RankDevice[]): { ranks: number[]; what: string }[] {
  const groups = new Map<string, number[]>();
  for (const d of devices) {
    if (d.software) continue;
    const key = `${d.host}\u0000${d.pci ?? d.adapter}`;
    groups.set(key, [...(groups.get(key) ?? []), d.rank]);
  }
  const out: { ranks: number[]; what: string }[] = [];
  for (const [key, ranks] of groups) {
    if (ranks.length < 2) continue;
    const [host, what] = key.split('\u0000') as [string, string];
    out.push({ ranks, what: `${what} on ${host}` });
  }
  return out;
}
