// The demo page's build (`npm run web`). The page imports the engine's src/ directly; only device
// creation, kernel sources and file access differ from Node, and those are swapped here:
//   webgpu (Dawn)            -> web/platform/webgpu.ts (navigator.gpu)
//   node:fs/path/zlib/url    -> web/platform/node_builtins.ts (Files/Blobs/URLs are read instead)
//   pngjs                    -> its browser build
//   runtime/tune_store_node  -> web/platform/tune_store.ts (autotuning results in localStorage)
//   kernels/*.wgsl           -> embedded by web/main.ts with import.meta.glob
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const builtins = here('./platform/node_builtins.ts');

export default defineConfig({
  root: here('.'),
  base: './',
  resolve: {
    alias: [
      { find: /^webgpu$/, replacement: here('./platform/webgpu.ts') },
      { find: /^node:(fs|path|zlib|url)$/, replacement: builtins },
      // pngjs's self-contained browser build (its Node build needs streams and zlib).
      { find: /^pngjs$/, replacement: 'pngjs/browser.js' },
      { find: /^\.\/tune_store_node\.js$/, replacement: here('./platform/tune_store.ts') },
    ],
  },
  server: { host: '127.0.0.1', fs: { allow: [here('..')] } },
  preview: { host: '127.0.0.1' },
  build: {
    outDir: here('./dist'), emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 2048,
    // The demo page, and the op-check page the browser tests open (the Node suites' checks on this adapter).
    rollupOptions: { input: { main: here('./index.html'), checks: here('./checks.html') } },
  },
});
