// Kernels from WGSL files: reflection, checks, uniform packing and the pipeline cache.
//
// Each op family has one file under kernels/ with its forward and backward entry points. An op
// module declares which entry points it uses and the names of their storage bindings; at first use
// the declaration is checked against wgsl_reflect's reading of the file, so a renamed or missing
// binding fails loudly with the file and entry point in the message. Shapes travel in one uniform
// struct per entry point (conventionally `p`), packed by member name from the reflection, so WGSL
// is the single schema. Workgroup and tile sizes are `override` constants; pipelines are cached by
// (file, entry point, constants).
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import { KERNEL_DIR, kernelSource } from './kernel_source.js';

export { KERNEL_DIR };

export type Access = 'read' | 'read_write';

/** What an op module expects of one entry point: storage binding names with their access. */
export interface KernelDecl {
  /** File name under kernels/ (or under `dir`, for kernels outside the engine such as benchmarks). */
  file: string;
  dir?: string;
  entry: string;
  storage: Record<string, Access>;
  /** Name of the uniform parameter struct binding, if the entry point has one. */
  uniform?: string;
  /**
   * Which branch of the file's `// #if subgroups` … `// #else` … `// #endif` line blocks to compile
   * (default false). A module with `enable subgroups;` does not compile on a device without the
   * feature, so a file with a subgroup fast path keeps its directive and subgroup code in such blocks.
   */
  subgroups?: boolean;
}

interface UniformMember { name: string; offset: number; scalar: 'u32' | 'i32' | 'f32'; count: number }

export interface ReflectedKernel {
  label: string;
  decl: KernelDecl;
  /** Binding index per storage binding name. */
  storageBinding: Map<string, number>;
  uniformBinding: number | undefined;
  uniformSize: number;
  uniformMembers: UniformMember[];
  workgroupSizeExpr: string[];
  overrideDefaults: Map<string, number>;
  module: GPUShaderModule;
  layout: GPUBindGroupLayout;
  pipelineLayout: GPUPipelineLayout;
}

interface ParsedFile { source: string; reflect: WgslReflect; overrideDefaults: Map<string, number> }

function parseOverrideDefaults(source: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of source.matchAll(/override\s+(\w+)\s*(?::\s*\w+)?\s*=\s*([^;]+);/g)) {
    const value = m[2]!.trim();
    if (value === 'true' || value === 'false') out.set(m[1]!, value === 'true' ? 1 : 0);
    else out.set(m[1]!, Number(value.replace(/[uif]$/, '')));
  }
  return out;
}

/** Keeps the taken branch of each `// #if FLAG` / `// #else` / `// #endif` block (other lines blanked, so line numbers stay). */
export function selectBranches(source: string, flags: Record<string, boolean>, label: string): string {
  const stack: boolean[] = [];
  const lines = source.split('\n').map((line, n) => {
    const m = /^\s*\/\/\s*#(if|else|endif)\b\s*(\w*)/.exec(line);
    if (!m) return stack.every((x) => x) ? line : '';
    if (m[1] === 'if') {
      if (!(m[2]! in flags)) throw new Error(`${label}:${n + 1}: unknown flag '#if ${m[2]}' (known: ${Object.keys(flags).join(', ')})`);
      stack.push(flags[m[2]!]!);
    } else if (m[1] === 'else') {
      if (!stack.length) throw new Error(`${label}:${n + 1}: #else without #if`);
      stack.push(!stack.pop()!);
    } else if (stack.pop() === undefined) throw new Error(`${label}:${n + 1}: #endif without #if`);
    return '';
  });
  if (stack.length) throw new Error(`${label}: unterminated #if`);
  return lines.join('\n');
}

function scalarOf(typeName: string, format: string | undefined): { scalar: UniformMember['scalar']; count: number } {
  const base = typeName.replace(/<.*$/, '');
  const vec = /^vec([234])([uif]?)$/.exec(base);
  if (vec) {
    const s = format ?? (vec[2] === 'u' ? 'u32' : vec[2] === 'i' ? 'i32' : 'f32');
    return { scalar: s as UniformMember['scalar'], count: Number(vec[1]) };
  }
  if (base === 'u32' || base === 'i32' || base === 'f32') return { scalar: base, count: 1 };
  throw new Error(`uniform member type ${typeName} is not supported (use u32, i32, f32 or vecN of them)`);
}

/** One device's kernels: reflected entry points and compiled pipelines. */
export class KernelCache {
  private files = new Map<string, ParsedFile>();
  private modules = new Map<string, GPUShaderModule>();
  private kernels = new Map<string, ReflectedKernel>();
  private pipelines = new Map<string, GPUComputePipeline>();
  private compileChecks: Promise<string | undefined>[] = [];
  pipelinesCreated = 0;

  constructor(private device: GPUDevice) {}

  private file(name: string, dir?: string, subgroups = false): ParsedFile {
    const path = `${dir ?? 'kernels'}/${name}`;
    let parsed = this.files.get(path + (subgroups ? '#subgroups' : ''));
    if (!parsed) {
      const source = selectBranches(kernelSource(name, dir), { subgroups }, `kernels/${name}`);
      let reflect: WgslReflect;
      try { reflect = new WgslReflect(source); } catch (e) {
        throw new Error(`kernels/${name}: WGSL parse error: ${e instanceof Error ? e.message : String(e)}`);
      }
      parsed = { source, reflect, overrideDefaults: parseOverrideDefaults(source) };
      this.files.set(path + (subgroups ? '#subgroups' : ''), parsed);
    }
    return parsed;
  }

  /** A kernel file's text as compiled without subgroups (the tuner's checksums). */
  source(name: string): string { return this.file(name).source; }

  private moduleFor(name: string, dir?: string, subgroups = false): GPUShaderModule {
    const path = `${dir ?? 'kernels'}/${name}` + (subgroups ? '#subgroups' : '');
    let module = this.modules.get(path);
    if (!module) {
      module = this.device.createShaderModule({ code: this.file(name, dir, subgroups).source, label: `kernels/${name}${subgroups ? ' (subgroups)' : ''}` });
      this.modules.set(path, module);
      this.compileChecks.push(module.getCompilationInfo().then((info) => {
        const errors = info.messages.filter((m) => m.type === 'error');
        if (errors.length === 0) return undefined;
        return `kernels/${name}: WGSL compile errors:\n` + errors.map((m) => `  ${m.lineNum}:${m.linePos} ${m.message}`).join('\n');
      }));
    }
    return module;
  }

  /** Resolves once every module created so far has compiled; throws the first compile error. */
  async checkCompiled(): Promise<void> {
    const checks = this.compileChecks;
    this.compileChecks = [];
    const errors = (await Promise.all(checks)).filter((e): e is string => e !== undefined);
    if (errors.length > 0) throw new Error(errors.join('\n'));
  }

  /** The reflected entry point for `decl`, checked against the declaration on first use. */
  kernel(decl: KernelDecl): ReflectedKernel {
    const key = `${decl.dir ?? ''}${decl.file}${decl.subgroups ? '#subgroups' : ''}:${decl.entry}:${JSON.stringify(decl.storage)}:${decl.uniform ?? ''}`;
    let k = this.kernels.get(key);
    if (!k) {
      k = this.reflectKernel(decl);
      this.kernels.set(key, k);
    }
    return k;
  }

  private reflectKernel(decl: KernelDecl): ReflectedKernel {
    const label = `${decl.entry} (kernels/${decl.file})`;
    const parsed = this.file(decl.file, decl.dir, decl.subgroups);
    const entry = parsed.reflect.entry.compute.find((e) => e.name === decl.entry);
    if (!entry) {
      const names = parsed.reflect.entry.compute.map((e) => e.name).join(', ');
      throw new Error(`kernel ${label}: no @compute entry point named ${decl.entry} (entry points: ${names})`);
    }
    const storageBinding = new Map<string, number>();
    let uniformBinding: number | undefined;
    let uniformSize = 0;
    let uniformMembers: UniformMember[] = [];
    const entries: GPUBindGroupLayoutEntry[] = [];
    for (const r of entry.resources) {
      if (r.group !== 0) throw new Error(`kernel ${label}: binding ${r.name} is in group ${r.group}; the engine uses group 0 only`);
      if (r.resourceType === 1 /* storage */) {
        const want = decl.storage[r.name];
        if (!want) throw new Error(`kernel ${label}: WGSL binding ${r.name} is not declared by the op (declared: ${Object.keys(decl.storage).join(', ')})`);
        const access = r.access === 'read' ? 'read' : 'read_write';
        if (access !== want) throw new Error(`kernel ${label}: binding ${r.name} is var<storage, ${r.access}> in WGSL but declared ${want} by the op`);
        storageBinding.set(r.name, r.binding);
        entries.push({ binding: r.binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: access === 'read' ? 'read-only-storage' : 'storage' } });
      } else if (r.resourceType === 0 /* uniform */) {
        if (decl.uniform !== r.name) throw new Error(`kernel ${label}: uniform binding ${r.name} does not match the op's declared uniform ${decl.uniform ?? '(none)'}`);
        uniformBinding = r.binding;
        uniformSize = Math.max(16, Math.ceil(r.type.size / 16) * 16);
        const members = (r.type as unknown as { members?: { name: string; offset: number; type: { name: string; format?: { name: string } } }[] }).members ?? [];
        uniformMembers = members.map((m) => ({ name: m.name, offset: m.offset, ...scalarOf(m.type.name, m.type.format?.name) }));
        entries.push({ binding: r.binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } });
      } else {
        throw new Error(`kernel ${label}: binding ${r.name} is neither storage nor uniform`);
      }
    }
    for (const name of Object.keys(decl.storage)) {
      if (!storageBinding.has(name)) throw new Error(`kernel ${label}: the op declares binding ${name}, which the entry point does not use or the WGSL lacks`);
    }
    if (decl.uniform && uniformBinding === undefined) throw new Error(`kernel ${label}: the op declares uniform ${decl.uniform}, which the entry point does not use`);
    const wgMatch = new RegExp(`@workgroup_size\\(([^)]*)\\)\\s*fn\\s+${decl.entry}\\b`).exec(parsed.source);
    if (!wgMatch) throw new Error(`kernel ${label}: cannot find @workgroup_size(...) directly before fn ${decl.entry}`);
    const layout = this.device.createBindGroupLayout({ entries, label });
    return {
      label, decl, storageBinding, uniformBinding, uniformSize, uniformMembers,
      workgroupSizeExpr: wgMatch[1]!.split(',').map((s) => s.trim()).filter((s) => s.length > 0),
      overrideDefaults: parsed.overrideDefaults,
      module: this.moduleFor(decl.file, decl.dir, decl.subgroups),
      layout,
      pipelineLayout: this.device.createPipelineLayout({ bindGroupLayouts: [layout], label }),
    };
  }

  /** Workgroup size of `k` under `constants` (override names in @workgroup_size resolved). */
  workgroupSize(k: ReflectedKernel, constants: Record<string, number>): [number, number, number] {
    const dims = k.workgroupSizeExpr.map((e) => {
      const n = Number(e.replace(/[ui]$/, ''));
      if (Number.isFinite(n)) return n;
      const v = constants[e] ?? k.overrideDefaults.get(e);
      if (v === undefined) throw new Error(`kernel ${k.label}: workgroup size ${e} has no value`);
      return v;
    });
    return [dims[0] ?? 1, dims[1] ?? 1, dims[2] ?? 1];
  }

  pipeline(k: ReflectedKernel, constants: Record<string, number>): GPUComputePipeline {
    const names = Object.keys(constants).sort();
    for (const n of names) {
      if (!k.overrideDefaults.has(n)) throw new Error(`kernel ${k.label}: constant ${n} is not an override with a default in the file`);
    }
    const key = `${k.decl.dir ?? ''}${k.decl.file}${k.decl.subgroups ? '#subgroups' : ''}:${k.decl.entry}:${names.map((n) => `${n}=${constants[n]}`).join(',')}`;
    let p = this.pipelines.get(key);
    if (!p) {
      p = this.device.createComputePipeline({
        layout: k.pipelineLayout,
        compute: { module: k.module, entryPoint: k.decl.entry, constants },
        label: names.length ? `${k.label} [${names.map((n) => `${n}=${constants[n]}`).join(' ')}]` : k.label,
      });
      this.pipelines.set(key, p);
      this.pipelinesCreated++;
    }
    return p;
  }

  /** Packs `params` into the entry point's uniform struct layout, by member name. */
  packUniform(k: ReflectedKernel, params: Record<string, number | readonly number[]>, into: DataView, at: number): void {
    const seen = new Set<string>();
    for (const m of k.uniformMembers) {
      const v = params[m.name];
      if (v === undefined) throw new Error(`kernel ${k.label}: uniform member ${m.name} not given`);
      seen.add(m.name);
      const values = typeof v === 'number' ? [v] : v;
      if (values.length !== m.count) throw new Error(`kernel ${k.label}: uniform member ${m.name} needs ${m.count} values, got ${values.length}`);
      for (let i = 0; i < m.count; i++) {
        const off = at + m.offset + 4 * i;
        const x = values[i]!;
        if (m.scalar === 'f32') into.setFloat32(off, x, true);
        else {
          if (!Number.isInteger(x)) throw new Error(`kernel ${k.label}: uniform member ${m.name} is ${m.scalar} but got ${x}`);
          if (m.scalar === 'u32') {
            if (x < 0 || x > 0xffffffff) throw new Error(`kernel ${k.label}: uniform member ${m.name} = ${x} does not fit u32`);
            into.setUint32(off, x, true);
          } else into.setInt32(off, x, true);
        }
      }
    }
    for (const name of Object.keys(params)) {
      if (!seen.has(name)) throw new Error(`kernel ${k.label}: uniform has no member ${name}`);
    }
  }
}
