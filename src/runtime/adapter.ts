// Adapter facts: the one place that decides what kind of adapter the engine runs on.
//
// Everything that tunes itself to the adapter (kernel plans, launch shapes, gradient-sync overlap,
// the autotuner's cache key) asks here, so the rules cannot disagree. Plain data in, plain data
// out: no device needed, so the browser page and the MPI launcher (which only sees adapter
// listings) use the same rules as an open Runtime.

/** What the facts are derived from: the fields of a WebGPU adapter's info, features and limits. */
export interface AdapterInfoLike {
  /** Dawn's listing name (Node); in a browser, the same as `device` or `description`. */
  name?: string;
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
  subgroupMinSize?: number;
  subgroupMaxSize?: number;
  features?: Iterable<string>;
  limits?: Record<string, number>;
}

export interface AdapterFacts {
  /** A CPU implementation (lavapipe/llvmpipe, SwiftShader, softpipe, WARP) or a fallback adapter. */
  software: boolean;
  /** Whether the 'subgroups' feature is offered. */
  subgroups: boolean;
  /** The subgroup size when every subgroup has one fixed size (min == max), else 0. */
  fixedSubgroupSize: number;
  /** Workgroup storage and invocation limits the kernels size their tiles by. */
  limits: { maxComputeWorkgroupStorageSize: number; maxComputeInvocationsPerWorkgroup: number; maxStorageBufferBindingSize: number };
  /** Adapter identity for caches: vendor / architecture / device / description (which names the driver on Mesa and Dawn). */
  identity: string;
  /** The driver part of the description when one can be told apart (e.g. "Mesa 25.0.7 (LLVM 15.0.6)"), else the description. */
  driver: string;
}

const SOFTWARE_NAMES = /llvmpipe|lavapipe|swiftshader|softpipe|microsoft basic render|\bwarp\b/i;

/** True for CPU implementations of WebGPU: each process gets its own, and they share the CPU's cores. */
export function isSoftwareAdapter(a: AdapterInfoLike): boolean {
  return (a.isFallbackAdapter ?? false) || a.architecture === 'software' ||
    SOFTWARE_NAMES.test(`${a.name ?? ''} ${a.device ?? ''} ${a.description ?? ''}`);
}

/** The driver named in an adapter description ("llvmpipe: Mesa 25.0.7 (LLVM 15.0.6) 0.0.1" → "Mesa 25.0.7 (LLVM 15.0.6) 0.0.1"). */
function driverOf(description: string): string {
  const colon = description.indexOf(': ');
  return colon >= 0 ? description.slice(colon + 2) : description;
}

export function adapterFacts(a: AdapterInfoLike): AdapterFacts {
  const features = new Set(a.features ?? []);
  const subgroups = features.has('subgroups');
  const lo = a.subgroupMinSize ?? 0;
  const hi = a.subgroupMaxSize ?? 0;
  const limit = (key: string, fallback: number): number => a.limits?.[key] ?? fallback;
  const description = a.description ?? '';
  return {
    software: isSoftwareAdapter(a),
    subgroups,
    fixedSubgroupSize: subgroups && lo === hi ? lo : 0,
    limits: {
      maxComputeWorkgroupStorageSize: limit('maxComputeWorkgroupStorageSize', 16384),
      maxComputeInvocationsPerWorkgroup: limit('maxComputeInvocationsPerWorkgroup', 256),
      maxStorageBufferBindingSize: limit('maxStorageBufferBindingSize', 128 << 20),
    },
    identity: [a.vendor, a.architecture, a.device || a.name, description].map((s) => s || '?').join(' / '),
    driver: driverOf(description),
  };
}
