// The package as a user meets it: build, `npm pack`, install the tarball into an empty folder
// without dev dependencies (so no tsx), then, with plain `node`: the README's "Use it from code"
// example and `segface predict` on seeded tiny weights; and in a browser: a page importing the
// installed package, bundled by vite through the "browser" export condition, in headless Chromium
// (WebGPU on SwiftShader). Needs the npm registry or a warm npm cache, and /usr/bin/chromium.
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import puppeteer from 'puppeteer-core';
import { build, createLogger } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relL2 } from '../src/model/reference_case.js';
import { serve } from './web/serve.js';

const root = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'segface-package-'));
const app = join(dir, 'app');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const run = (cmd: string, args: string[], cwd: string): string =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 });

/** The first ```js block after the README's "## Use it from code" heading. */
function readmeExample(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Use it from code'));
  const m = /```js\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error('README.md: no ```js block under "## Use it from code"');
  return m[1]!;
}

let tarball = '';
beforeAll(() => {
  // `npm pack` builds first (prepack: npm run build)
  const out = run('npm', ['pack', '--pack-destination', dir, '--json'], root);
  const [info] = JSON.parse(out.slice(out.indexOf('['))) as { filename: string; size: number; files: { path: string }[] }[];
  tarball = join(dir, info!.filename);
  console.log(`package: ${info!.filename}, ${(info!.size / 1024).toFixed(1)} kB packed, ${info!.files.length} files`);
  run('mkdir', ['-p', app], dir);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  run('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', tarball], app);
}, 300_000);

describe('the installed package', () => {
  it('holds the built library, the kernels and the segface command, and no tsx', () => {
    const pkg = join(app, 'node_modules', 'segface-webgpu');
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/model/index.js', 'dist/train/index.js', 'dist/cli/segface.js', 'kernels/matmul.wgsl', 'kernels/argmax.wgsl']) {
      expect(existsSync(join(pkg, f)), f).toBe(true);
    }
    expect(existsSync(join(pkg, 'src'))).toBe(false);
    expect(readdirSync(join(app, 'node_modules'))).not.toContain('tsx');
    expect(existsSync(join(app, 'node_modules', '.bin', 'segface'))).toBe(true);
  });

  it('runs the README example with plain node', () => {
    writeFileSync(join(app, 'example.mjs'), readmeExample());
    const out = run(process.execPath, ['example.mjs'], app);
    console.log(out);
    expect(out).toMatch(/Float32Array\(4\) \[ 58, 64, 139, 154 \]/);
    expect(out).toMatch(/class maps: 2048 bytes/);
  }, 120_000);

  it('segface predict works from the installed bin', () => {
    writeFileSync(join(app, 'make.mjs'), `
import { formats } from 'segface-webgpu';
import { makeConfig, syntheticStateDict } from 'segface-webgpu/model';
import { writePng } from 'segface-webgpu/train';
const state = syntheticStateDict(makeConfig('tiny', 'celeb'), 1);
formats.writeSafetensors('tiny.safetensors', new Map([...state].map(([k, t]) => [k, { shape: t.shape, data: t.data }])));
writePng('face.png', { width: 40, height: 40, rgb: new Uint8Array(40 * 40 * 3).map((_, i) => (i * 37) % 251) });
`);
    run(process.execPath, ['make.mjs'], app);
    // a JPEG too: libjpeg-turbo's .wasm must resolve from the installed package
    copyFileSync(join(root, 'tests/fixtures/images/jpeg_420.jpg'), join(app, 'photo.jpg'));
    const out = run(join(app, 'node_modules', '.bin', 'segface'), ['predict', '--checkpoint', 'tiny.safetensors', '--image', 'face.png', '--image', 'photo.jpg', '--res', '32', '--out', 'pred'], app);
    console.log(out);
    expect(out).toContain('face.png: pred/face_mask.png, pred/face_overlay.png');
    expect(out).toContain('photo.jpg: pred/photo_mask.png, pred/photo_overlay.png');
    expect(existsSync(join(app, 'pred', 'face_mask.png'))).toBe(true);
    const help = run(join(app, 'node_modules', '.bin', 'segface'), ['--help'], app);
    expect(help).toMatch(/train .*\n.*eval/);
  }, 120_000);
});

/** Sizes of the .js files in `dir` (recursively): raw and gzipped bytes. */
function jsSize(dir: string): { raw: number; gzip: number } {
  let raw = 0;
  let gzip = 0;
  for (const f of readdirSync(dir, { recursive: true }) as string[]) {
    if (!f.endsWith('.js')) continue;
    const bytes = readFileSync(join(dir, f));
    raw += bytes.length;
    gzip += gzipSync(bytes).length;
  }
  return { raw, gzip };
}

const kB = (n: number) => `${(n / 1024).toFixed(0)} kB`;

describe('the installed package in a browser page', () => {
  it('a page bundled by vite from the installed package runs in headless Chromium and matches Node', async () => {
    const pkg = join(app, 'node_modules', 'segface-webgpu');
    const browserDist = join(pkg, 'dist', 'browser');
    const size = jsSize(browserDist);
    console.log(`package browser build (dist/browser): ${kB(size.raw)}, ${kB(size.gzip)} gzipped`);
    // The browser build embeds every kernel and nothing in it imports a Node built-in.
    const bundled = readdirSync(browserDist).filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(browserDist, f), 'utf8')).join('\n');
    for (const k of readdirSync(join(root, 'kernels'))) {
      const opening = readFileSync(join(root, 'kernels', k), 'utf8').split('\n').slice(0, 3).join('\n');
      expect(bundled, `kernels/${k} embedded`).toContain(JSON.stringify(opening).slice(1, -1)); // as a string literal
    }
    expect(bundled).not.toMatch(/from ["']node:|require\(["']|__vite-browser-external/);

    // The app: the same module in Node and in the page, with seeded tiny weights, a PNG and a JPEG.
    cpSync(join(root, 'tests', 'fixtures', 'package_app'), app, { recursive: true });
    copyFileSync(join(root, 'tests/fixtures/images/jpeg_420.jpg'), join(app, 'photo.jpg'));
    copyFileSync(join(root, 'tests/fixtures/images/src_rgb_37x29.png'), join(app, 'face.png'));
    run(process.execPath, ['make_tiny.mjs'], app);
    const node = JSON.parse(run(process.execPath, ['run_node.mjs'], app)) as AppResult;

    // Bundled as a user's vite project would be: no config, no aliases; any warning fails.
    const warnings: string[] = [];
    const logger = createLogger('warn');
    logger.warn = (m) => { warnings.push(m); };
    logger.warnOnce = (m) => { warnings.push(m); };
    const outDir = join(app, 'dist');
    await build({ root: app, configFile: false, logLevel: 'warn', customLogger: logger, build: { outDir, target: 'es2022', chunkSizeWarningLimit: 4096 } });
    expect(warnings).toEqual([]);
    const page = jsSize(outDir);
    console.log(`the page's bundle: ${kB(page.raw)}, ${kB(page.gzip)} gzipped (libjpeg-turbo's .wasm inlined)`);

    const server = await serve(outDir, app);
    const browser = await puppeteer.launch({
      executablePath: '/usr/bin/chromium', headless: true, protocolTimeout: 600_000,
      args: ['--no-sandbox', '--enable-unsafe-webgpu', '--ignore-gpu-blocklist', '--disable-gpu-sandbox'],
    });
    try {
      const tab = await browser.newPage();
      tab.on('pageerror', (e) => console.error(`page error: ${(e as Error).message}`));
      await tab.goto(`${server.url}/`);
      await tab.waitForFunction(() => (globalThis as { appResult?: unknown }).appResult !== undefined, { timeout: 600_000, polling: 500 });
      const got = (await tab.evaluate(() => (globalThis as unknown as { appResult: AppResult | { error: string } }).appResult));
      if ('error' in got) throw new Error(`page: ${got.error}`);
      console.log(`page adapter ${got.adapter}; Node adapter ${node.adapter}`);

      // matmul 37×53 · 53×29 against float64. The inputs are smooth (sines), not random, so rounding
      // errors need not cancel: the rigorous bound of an f32 dot product of K terms in any order,
      // |error| ≤ K·2^-24·Σ|a·b|, per element.
      const { a, b } = matmulInputsOf();
      let maxErr = 0;
      let worst = 0;
      for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
        let want = 0;
        let absSum = 0;
        for (let k = 0; k < K; k++) { want += a[i * K + k]! * b[k * N + j]!; absSum += Math.abs(a[i * K + k]! * b[k * N + j]!); }
        const err = Math.abs(got.matmul[i * N + j]! - want);
        maxErr = Math.max(maxErr, err);
        worst = Math.max(worst, err / (K * 2 ** -24 * absSum));
      }
      console.log(`page matmul ${M}×${K}·${K}×${N}: max |error| vs float64 ${maxErr.toExponential(2)}, ${(100 * worst).toFixed(0)}% of the bound`);
      expect(worst).toBeLessThanOrEqual(1);
      // Decoders: pixel for pixel Node's (the same fast-png and libjpeg-turbo code in both).
      expect(got.images).toEqual(node.images);
      // Logits: the same kernels on two adapters (see tests/web/page.test.ts for the 1e-5 bound).
      const diff = relL2(Float32Array.from(got.logits), Float32Array.from(node.logits));
      console.log(`page logits vs Node: rel. L2 ${diff.toExponential(2)} over ${got.logits.length} values`);
      expect(got.logits.length).toBe(node.logits.length);
      expect(diff).toBeLessThan(1e-5);
    } finally {
      await browser.close();
      await server.close();
    }
  }, 900_000);
});

interface AppResult { adapter: string; matmul: number[]; images: { width: number; height: number; rgb: number[] }[]; logits: number[] }
const M = 37, K = 53, N = 29;
/** The app's matmul inputs (tests/fixtures/package_app/app.mjs), in float64. */
function matmulInputsOf(): { a: Float64Array; b: Float64Array } {
  return {
    a: Float64Array.from({ length: M * K }, (_, i) => Math.fround(Math.sin(0.37 * i + 0.1))),
    b: Float64Array.from({ length: K * N }, (_, i) => Math.fround(Math.cos(0.23 * i - 0.4))),
  };
}
