// Adapters and devices on Dawn (npm `webgpu`, dawn-node).
//
// dawn-node has no adapter enumeration: `requestAdapter()` returns the first adapter in Vulkan
// loader order, and `create(['adapter=NAME'])` picks the first whose name contains NAME. Asking for
// a name that matches nothing makes Dawn list every adapter in its error message, so that is how
// we enumerate. Every object `create()` returns is kept in a module-level map for the life of the
// process: if one is garbage-collected while a device made from it lives, Dawn's event polling
// uses the freed instance and the process crashes (docs/dawn-node.md).
import { create, globals } from 'webgpu';
import { withoutLimitWarnings } from './quiet_native.js';
import { adapterFacts, type AdapterFacts } from './adapter.js';

Object.assign(globalThis, globals);

const gpuInstances = new Map<string, GPU>();

function gpuFor(flags: string[]): GPU {
  const key = flags.join('\u0000');
  let gpu = gpuInstances.get(key);
  if (!gpu) {
    gpu = create(flags);
    gpuInstances.set(key, gpu);
  }
  return gpu;
}

export const INSTALL_HINT =
  'no WebGPU adapter found. Install a Vulkan driver: `bash scripts/setup.sh` does it on Debian bookworm ' +
  '(Mesa >= 25 lavapipe from bookworm-backports: apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1), ' +
  'or install your GPU vendor\'s Vulkan driver.';

export interface AdapterSummary {
  index: number;
  /** Name as Dawn lists it; `adapter=` substring-matches against this. */
  name: string;
  backend: string;
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  subgroupMinSize: number;
  subgroupMaxSize: number;
  features: string[];
  limits: Record<string, number>;
}

/** Names of the adapters Dawn can see, in its order, parsed from its "Available adapters" list. */
async function adapterNames(): Promise<{ backend: string; name: string }[]> {
  try {
    await withoutLimitWarnings(() => gpuFor(['adapter=\u0001no-such-adapter\u0001']).requestAdapter());
  } catch (e) {
    const text = e instanceof Error ? e.message : String(e);
    const found: { backend: string; name: string }[] = [];
    for (const m of text.matchAll(/\* backend: '([^']*)', name: '([^']*)'/g)) found.push({ backend: m[1]!, name: m[2]! });
    return found;
  }
  return [];
}

function summarise(index: number, name: string, backend: string, adapter: GPUAdapter): AdapterSummary {
  const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  const limits: Record<string, number> = {};
  for (const key in adapter.limits) limits[key] = (adapter.limits as unknown as Record<string, number>)[key]!;
  return {
    index,
    name,
    backend,
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isFallbackAdapter: (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
    subgroupMinSize: info.subgroupMinSize ?? 0,
    subgroupMaxSize: info.subgroupMaxSize ?? 0,
    features: [...adapter.features].sort(),
    limits,
  };
}

/** Every adapter Dawn sees, with its limits and features. */
export async function listAdapters(): Promise<AdapterSummary[]> {
  const names = await adapterNames();
  const out: AdapterSummary[] = [];
  for (const [i, { name, backend }] of names.entries()) {
    const adapter = await withoutLimitWarnings(() => gpuFor([`adapter=${name}`]).requestAdapter());
    if (adapter) out.push(summarise(i, name, backend, adapter));
  }
  return out;
}

export interface OpenOptions {
  /** Adapter index in `listAdapters()` order, or a substring of its name. Default: Dawn's first. */
  adapter?: number | string;
}

/** The features the engine uses when the adapter offers them. */
const WANTED_FEATURES = ['timestamp-query', 'shader-f16', 'subgroups'] as const;

/** The limits the engine raises to the adapter's maximum. */
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupSizeZ', 'maxComputeWorkgroupsPerDimension',
  'maxUniformBufferBindingSize',
] as const;

export class GpuError extends Error {
  constructor(message: string, readonly kind: string, readonly op: string | undefined) {
    super(message);
    this.name = 'GpuError';
  }
}

/** The device is gone (driver reset or crash, destroyed while in use): nothing on it can be used
 *  again; what was saved on the host (a checkpoint) is all that is left. Dawn's device-lost
 *  callback (GPUDevice.lost) reports it; a failed readback waits briefly for that report. */
export class DeviceLostError extends GpuError {
  constructor(message: string) {
    super(message, 'lost', undefined);
    this.name = 'DeviceLostError';
  }
}

/** A WebGPU device with the engine's error handling: uncaptured errors and loss become exceptions. */
/** In Node the GPU is dawn-node, whose promises settle by polling from setImmediate; a page's
 *  browser settles them without the page's thread. */
const DAWN_NODE = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';

export class Device {
  readonly features: ReadonlySet<string>;
  /** Software or not, fixed subgroup size, limits, identity (runtime/adapter.ts). */
  readonly facts: AdapterFacts;
  private pendingErrors: GpuError[] = [];
  private lostReason: string | undefined;
  /** Set by destroy(): the loss that follows is ours, not a fault. */
  private destroying = false;

  /** Awaiting a GPU promise busy-polls the JS thread (dawn-node) on an adapter that runs on the same
   *  CPU cores (software): waits should sleep first (runtime/batch.ts, PatientWait). */
  readonly spinsWhileWaiting: boolean;

  constructor(readonly gpu: GPUDevice, readonly adapter: AdapterSummary) {
    this.features = new Set([...gpu.features]);
    this.facts = adapterFacts({ ...adapter, features: this.features, limits: adapter.limits });
    this.spinsWhileWaiting = DAWN_NODE && this.facts.software;
    gpu.addEventListener('uncapturederror', (ev) => {
      const error = (ev as GPUUncapturedErrorEvent).error;
      this.pendingErrors.push(new GpuError(`WebGPU ${error.constructor.name}: ${error.message}`, error.constructor.name, undefined));
    });
    void gpu.lost.then((info) => {
      if (!this.destroying) this.lostReason = `${info.reason === 'destroyed' ? 'destroyed while in use' : info.reason}${info.message ? `: ${info.message}` : ''}`;
    });
  }

  get limits(): GPUSupportedLimits { return this.gpu.limits; }
  get hasSubgroups(): boolean { return this.features.has('subgroups'); }
  get hasTimestamps(): boolean { return this.features.has('timestamp-query'); }
  get hasF16(): boolean { return this.features.has('shader-f16'); }
  get name(): string { return this.adapter.name; }

  /** Throws the first WebGPU error reported outside an error scope, or a device loss. */
  throwIfFailed(context: string): void {
    if (this.lostReason) throw new DeviceLostError(`WebGPU device lost (${this.lostReason}) while ${context}`);
    const first = this.pendingErrors.shift();
    if (first) {
      this.pendingErrors = [];
      throw new GpuError(`${first.message}\n  (reported while ${context})`, first.kind, undefined);
    }
  }

  destroy(): void {
    this.destroying = true;
    this.gpu.destroy();
  }

  /** After a failed GPU operation: the device-lost report, if the device was lost (waits up to
   *  `waitMs` for Dawn's callback, which can arrive after the operation's own failure). */
  async lostAfterFailure(waitMs = 500): Promise<string | undefined> {
    if (this.lostReason || this.destroying) return this.lostReason;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.gpu.lost, new Promise((r) => { timer = setTimeout(r, waitMs); })]);
    clearTimeout(timer);
    await Promise.resolve();   // let the lost handler above run first
    return this.lostReason;
  }

  /** Fault injection for tests: loses the device as a driver reset would (Dawn reports it lost). */
  simulateLoss(): void { this.gpu.destroy(); }
}

/** Opens a device on one adapter, with timestamp queries, f16 and subgroups where offered. */
export async function openDevice(options: OpenOptions = {}): Promise<Device> {
  let flags: string[] = [];
  let summaryName = '';
  let summaryBackend = '';
  let index = 0;
  if (options.adapter !== undefined) {
    const names = await adapterNames();
    const listing = names.map((n, i) => `  ${i}: ${n.name}`).join('\n');
    if (names.length === 0) throw new Error(INSTALL_HINT);
    const i = typeof options.adapter === 'number'
      ? options.adapter
      : names.findIndex((n) => n.name.includes(String(options.adapter)));
    if (i < 0 || i >= names.length) throw new Error(`adapter ${JSON.stringify(options.adapter)} not found; adapters:\n${listing}`);
    const firstSameName = names.findIndex((n) => n.name === names[i]!.name);
    if (firstSameName !== i) {
      throw new Error(`adapter ${i} has the same name as adapter ${firstSameName} (${names[i]!.name}); dawn-node cannot ` +
        'tell identical GPUs apart: select one below Dawn (DRI_PRIME=pci-DDDD_BB_DD_F! or one GPU per container)');
    }
    index = i;
    summaryName = names[i]!.name;
    summaryBackend = names[i]!.backend;
    flags = [`adapter=${summaryName}`];
  }
  const adapter = await withoutLimitWarnings(() => gpuFor(flags).requestAdapter());
  if (!adapter) throw new Error(INSTALL_HINT);
  if (!summaryName) {
    summaryName = adapter.info.device || adapter.info.description || `${adapter.info.vendor} ${adapter.info.architecture}`.trim();
    summaryBackend = 'vulkan';
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  for (const key of WANTED_LIMITS) requiredLimits[key] = adapter.limits[key];
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'segface' });
  return new Device(device, summarise(index, summaryName, summaryBackend, adapter));
}
