// The package's browser build (`npm run build` runs it after tsc): dist/browser/{index,model,train}.js,
// the targets of package.json's "browser" export conditions. ES modules with their dependencies
// (wgsl_reflect, fast-png, fflate) bundled in, the kernels embedded and libjpeg-turbo's .wasm inlined,
// so a user's bundler (vite, webpack, esbuild) needs nothing but the import.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { browserAliases, browserEntries } from './browser_aliases.js';

export default defineConfig({
  publicDir: false,
  resolve: { alias: browserAliases },
  build: {
    outDir: fileURLToPath(new URL('../dist/browser', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    minify: false,
    reportCompressedSize: false,
    lib: { entry: browserEntries, formats: ['es'] },
  },
});
