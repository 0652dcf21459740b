// The package as a user meets it: build, `npm pack`, install the tarball into an empty folder
// without dev dependencies (so no tsx), then, with plain `node`: the README's "Use it from code"
// example and `segface predict` on seeded tiny weights. Needs the npm registry or a warm npm cache.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

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
