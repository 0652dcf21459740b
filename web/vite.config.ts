// The demo page's build (`npm run web`). The page boots through the package's browser entry points:
// 'segface-webgpu', '/model' and '/train' resolve to src/browser/ (what dist/browser is built from,
// web/vite.package.config.ts), with the same platform swaps (web/browser_aliases.ts). Its other
// modules import the engine's src/ directly, in the same bundle.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { browserAliases, browserEntries } from './browser_aliases.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: './',
  resolve: {
    alias: [
      { find: /^segface-webgpu$/, replacement: browserEntries.index },
      { find: /^segface-webgpu\/model$/, replacement: browserEntries.model },
      { find: /^segface-webgpu\/train$/, replacement: browserEntries.train },
      ...browserAliases,
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
