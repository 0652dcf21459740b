// What a browser bundle of the engine swaps in for Node's (one list, used by the package's browser
// build, web/vite.package.config.ts, and by the demo page, web/vite.config.ts):
//   webgpu (Dawn)              -> src/browser/webgpu.ts (navigator.gpu)
//   node:fs/path/zlib/url/os/module -> src/browser/node_builtins.ts (Files/Blobs/URLs are read instead;
//                                 CRC-32 and raw inflate are real)
//   runtime/tune_store_node    -> src/browser/tune_store.ts (autotuning results in localStorage)
// and src/browser/kernels.ts embeds kernels/*.wgsl.
import { fileURLToPath } from 'node:url';
import type { Alias } from 'vite';

const src = (p: string) => fileURLToPath(new URL(`../src/${p}`, import.meta.url));

export const browserAliases: Alias[] = [
  { find: /^webgpu$/, replacement: src('browser/webgpu.ts') },
  { find: /^node:(fs|path|zlib|url|os|module)$/, replacement: src('browser/node_builtins.ts') },
  { find: /^\.\/tune_store_node\.js$/, replacement: src('browser/tune_store.ts') },
];

/** The browser entry points of the package, by export subpath. */
export const browserEntries = {
  index: src('browser/index.ts'),
  model: src('browser/model.ts'),
  train: src('browser/train.ts'),
};
