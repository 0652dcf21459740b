// Where kernel WGSL comes from: the one place that differs between Node and a browser.
//
// Node reads kernels/<file>.wgsl from the repository (or package) on first use, as it always did.
// A browser bundle has no file system: its entry point embeds the files (for example with vite's
// `import.meta.glob('/kernels/*.wgsl', { query: '?raw', import: 'default', eager: true })`) and
// hands them to embedKernels() before the first op runs. Embedded sources win over the disk.

const embedded = new Map<string, string>();

/** Registers kernel sources by file name (`matmul.wgsl`) or by any path ending in `/<file name>`. */
export function embedKernels(files: Record<string, string>): void {
  for (const [path, source] of Object.entries(files)) embedded.set(path.slice(path.lastIndexOf('/') + 1), source);
}

/** The WGSL of kernels/`name`, or of `dir`/`name` for kernels kept elsewhere (tests). */
export function kernelSource(name: string, dir?: string): string {
  if (dir === undefined) {
    const source = embedded.get(name);
    if (source !== undefined) return source;
  }
  const node = nodeModules();
  if (!node) throw new Error(`kernel file kernels/${name} is not embedded in this bundle (no file system here)`);
  const path = node.path.join(dir ?? node.path.join(node.path.dirname(node.url.fileURLToPath(import.meta.url)), '..', '..', 'kernels'), name);
  try {
    return node.fs.readFileSync(path, 'utf8');
  } catch {
    throw new Error(`kernel file kernels/${name} not found (${path})`);
  }
}

/** Node's fs/path/url, reached without a static import so that bundles for the web carry none. */
function nodeModules(): { fs: typeof import('node:fs'); path: typeof import('node:path'); url: typeof import('node:url') } | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  if (!proc?.getBuiltinModule) return undefined;
  return {
    fs: proc.getBuiltinModule('node:fs') as typeof import('node:fs'),
    path: proc.getBuiltinModule('node:path') as typeof import('node:path'),
    url: proc.getBuiltinModule('node:url') as typeof import('node:url'),
  };
}
