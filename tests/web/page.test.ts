// The demo page in a real headless Chromium (Debian's /usr/bin/chromium through puppeteer-core; no
// browser download) on Chromium's own WebGPU (Dawn on SwiftShader: another shader compiler and
// 4-lane subgroups, where Node has lavapipe with 8):
//   - the automation contract: page logits on the tiny64 fixture's model equal Node's (rel. L2 1e-5);
//   - a bad checkpoint gives { error } naming the URL, not a hang;
//   - five steps of the default training run give Node's losses (rel. 1e-5);
//   - a screenshot of each part (docs/web/*.png, shown in the README).
// Tolerances: the same kernels run on both adapters, but the WGSL compilers (Tint→SPIR-V→lavapipe's
// LLVM vs →SwiftShader's Reactor) may contract a*b+c into FMAs differently and the 4- vs 8-lane
// subgroup reductions sum in another order: each f32 op then differs by an ulp or so (6e-8 rel.),
// and the ~60 layers of the tiny model and its residual stream keep that far below 1e-5 rel. L2.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticStateDict } from '../../src/model/params.js';
import { loadCase, relL2 } from '../../src/model/reference_case.js';
import { segfaceForward } from '../../src/model/segface.js';
import { loadWeightsFile } from '../../src/model/weights_file.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { writeSafetensors } from '../../src/runtime/formats/safetensors.js';
import { encodeTorchCheckpoint, torchTensor } from '../../src/runtime/formats/torch_checkpoint.js';
import { readImage, resizeBicubicPIL, toNormalizedCHW } from '../../src/train/image/index.js';
import { PageTraining } from '../../web/training.js';
import { serve } from './serve.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(ROOT, 'docs', 'web');
const RES = 64;
const fixtures = mkdtempSync(join(tmpdir(), 'web-page-'));
const outDir = mkdtempSync(join(tmpdir(), 'web-dist-'));

let browser: Browser;
let server: Awaited<ReturnType<typeof serve>>;
let rt: Runtime;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: bash scripts/setup.sh --tests installs Debian's chromium`);
  await build({ configFile: join(ROOT, 'web', 'vite.config.ts'), logLevel: 'error', build: { outDir } });
  server = await serve(outDir, fixtures, join(ROOT, 'tests', 'fixtures', 'images'));
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    protocolTimeout: 900_000, // SwiftShader on a loaded 2-core machine can keep the page busy for minutes
    args: ['--no-sandbox', '--enable-unsafe-webgpu', '--ignore-gpu-blocklist', '--disable-gpu-sandbox'],
  });
  rt = await Runtime.create();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rt?.destroy();
  rmSync(fixtures, { recursive: true, force: true });
  rmSync(outDir, { recursive: true, force: true });
});

type Result = { adapter: string; shape: number[]; logits: string; classes: string } | { error: string };
/** The page's globals (web/main.ts), seen from code that puppeteer runs in the page. */
interface PageGlobals {
  segfaceReady?: unknown; segfaceResult?: Result; segfaceTrainSteps?: (n: number) => Promise<number[]>;
  segfaceChecks?: { adapter: string; subgroupSize: number; checks: number; failures: string[]; ms: number; jpeg: { checks: number } } | { error: string };
}

async function open(query = ''): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error(`page error: ${(e as Error).message}`));
  await page.setViewport({ width: 1000, height: 900 });
  // tune=0: the built-in default kernels, as the Node side runs (vitest sets SEGFACE_TUNE=0)
  await page.goto(`${server.url}/${query}${query ? '&' : '?'}tune=0`);
  await page.waitForFunction(() => (globalThis as unknown as PageGlobals).segfaceReady !== undefined || (globalThis as unknown as PageGlobals).segfaceResult !== undefined, { timeout: 120_000 });
  return page;
}


async function automated(query: string): Promise<{ page: Page; result: Result }> {
  const page = await open(query);
  await page.waitForFunction(() => (globalThis as unknown as PageGlobals).segfaceResult !== undefined, { timeout: 300_000, polling: 250 });
  return { page, result: (await page.evaluate(() => (globalThis as unknown as PageGlobals).segfaceResult)) as Result };
}

describe('the page in headless Chromium (WebGPU on SwiftShader)', () => {
  const c = loadCase(join(ROOT, 'tests', 'fixtures', 'tiny64'));
  const state = syntheticStateDict(c.cfg, c.manifest.seed);

  it('automation contract: logits and classes of the tiny64 model equal Node\'s (official .pt read lazily over HTTP)', async () => {
    // The model as an official release (state_dict_backbone) and as safetensors for Node; a JPEG face.
    const sd: Record<string, ReturnType<typeof torchTensor>> = {};
    for (const [k, t] of state) sd[k] = torchTensor(t.shape, t.data, t.data instanceof Int32Array ? { dtype: 'int64' } : {});
    writeFileSync(join(fixtures, 'model_299.pt'), encodeTorchCheckpoint({ epoch: 299, state_dict_backbone: sd }));
    writeSafetensors(join(fixtures, 'model.safetensors'), state);
    const jpg = join(ROOT, 'tests', 'fixtures', 'images', 'jpeg_420_large.jpg');
    copyFileSync(jpg, join(fixtures, 'face.jpg'));

    const img = readImage(jpg);
    const rgb = resizeBicubicPIL(img.rgb, img.width, img.height, RES, RES);
    const { params } = loadWeightsFile(rt, join(fixtures, 'model.safetensors'));
    const out = rt.withoutGrad(() => rt.scope(() => segfaceForward(params, rt.tensor(toNormalizedCHW(rgb, RES, RES), [1, 3, RES, RES]))));
    const node = (await out.read()) as Float32Array;
    const shape = [...out.shape];
    out.release();
    params.release();

    const { page, result } = await automated(`?checkpoint=/fixtures/model_299.pt&image=/fixtures/face.jpg&res=${RES}`);
    if ('error' in result) throw new Error(`page: ${result.error}`);
    expect(result.shape).toEqual(shape);
    const b = Buffer.from(result.logits, 'base64');
    const logits = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    const diff = relL2(logits, node);
    console.log(`page adapter ${result.adapter}: logits [${shape.join(', ')}] rel. L2 vs Node (lavapipe) ${diff.toExponential(2)}`);
    expect(diff).toBeLessThan(1e-5);
    expect(Buffer.from(result.classes, 'base64').length).toBe(RES * RES);
    mkdirSync(SHOTS, { recursive: true });
    const predictPart = await page.$('#predict');
    await predictPart!.screenshot({ path: join(SHOTS, 'predict.png') as `${string}.png` });
    await page.close();
  });

  it('a bad checkpoint gives { error } naming the URL, not a hang', async () => {
    writeFileSync(join(fixtures, 'bad.pt'), new TextEncoder().encode('this is not a checkpoint at all'));
    for (const [name, re] of [['bad.pt', /bad\.pt: not a zip archive/], ['missing.pt', /missing\.pt: HTTP 404/]] as const) {
      const { page, result } = await automated(`?checkpoint=/fixtures/${name}&image=/fixtures/face.jpg&res=${RES}`);
      expect('error' in result ? result.error : 'no error', name).toMatch(re);
      await page.close();
    }
  });

  it('five steps of the default training run give Node\'s losses', async () => {
    const run = new PageTraining(rt);
    const node: number[] = [];
    for (let i = 0; i < 5; i++) node.push((await run.step()).total);
    run.params.release();
    const page = await open();
    const losses: number[] = await page.evaluate(() => (globalThis as unknown as PageGlobals).segfaceTrainSteps!(5));
    console.log(`5 steps: page ${losses.map((l) => l.toFixed(6)).join(' ')}; node ${node.map((l) => l.toFixed(6)).join(' ')}`);
    losses.forEach((l, i) => expect(Math.abs(l - node[i]!) / Math.abs(node[i]!), `step ${i}`).toBeLessThan(1e-5));
    // The Train part through its buttons: a few steps, pause (which validates), screenshot.
    await page.click('#train-start');
    await page.waitForFunction(`/^step ([3-9]|\\d\\d)/.test(document.getElementById('train-status').textContent ?? '')`, { timeout: 300_000, polling: 500 });
    await page.click('#train-pause');
    await page.waitForFunction(`document.querySelectorAll('#train-samples canvas').length > 0`, { timeout: 300_000, polling: 500 });
    const train = await page.$('#train');
    await train!.screenshot({ path: join(SHOTS, 'train.png') as `${string}.png` });
    await page.close();
  });

  it('op checks on Chromium\'s adapter (the Node suites\' matmul, softmax and layer-norm cases and segface doctor\'s window attention, matmul, softmax and GELU checks, against float64) and JPEG decoding bit-exact with cv2', async () => {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error(`page error: ${(e as Error).message}`));
    await page.goto(`${server.url}/checks.html?jpeg=/images/`);
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).segfaceChecks !== undefined, { timeout: 900_000, polling: 1000 });
    const report = (await page.evaluate(() => (globalThis as unknown as PageGlobals).segfaceChecks))!;
    if ('error' in report) throw new Error(`checks page: ${report.error}`);
    console.log(`op checks on ${report.adapter} (subgroups ${report.subgroupSize}): ${report.checks} checks, ${report.failures.length} failures, ${(report.ms / 1000).toFixed(1)} s`);
    await page.screenshot({ path: join(SHOTS, 'checks.png') as `${string}.png` });
    expect(report.failures).toEqual([]);
    // 16 matmul checks per family (naive, tiled, wgmem, and subgroup with one fixed size of 4 to 128
    // lanes: SwiftShader's 4 included), 10 softmax, 8 layer norm, 5 doctor
    const subgroupFamily = report.subgroupSize >= 4 && report.subgroupSize <= 128 ? 1 : 0;
    expect(report.checks).toBe((3 + subgroupFamily) * 16 + 10 + 8 + 5);
    expect(report.jpeg.checks).toBe(17); // 9 layouts + 8 EXIF orientations, bit-exact with cv2.imread in the page too
    await page.close();
  }, 900_000);
});
