// `npm run bench:web`: the page's Bench part (matmul + window attention) in headless Chromium, and
// the default training step timed in the page and in Node in the same session; writes
// bench/results/web-<adapter>.json and regenerates bench/README.md (its "In a browser" section)
// and docs/web/bench.png.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';
import { build } from 'vite';
import { Runtime } from '../src/runtime/runtime.js';
import { serve } from '../tests/web/serve.js';
import { PageTraining } from '../web/training.js';
import type { BenchRow } from './lib.js';
import { writeSummary, type WebResult } from './summary.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const STEPS = 10;

/** Milliseconds per step of the default run after 2 warm-up steps, in Node. */
async function nodeStepMs(): Promise<{ ms: number; adapter: string }> {
  const rt = await Runtime.create();
  const run = new PageTraining(rt);
  for (let i = 0; i < 2; i++) await run.step();
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) await run.step();
  const ms = (performance.now() - t0) / STEPS;
  const adapter = rt.device.name;
  rt.destroy();
  return { ms, adapter };
}

export async function main(): Promise<void> {
  const outDir = join(ROOT, 'web', 'dist');
  await build({ configFile: join(ROOT, 'web', 'vite.config.ts'), logLevel: 'error' });
  const server = await serve(outDir, join(ROOT, 'tests', 'fixtures'));
  // No protocol timeout: the bench keeps the page's main thread busy for long stretches.
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, protocolTimeout: 0, args: ['--no-sandbox', '--enable-unsafe-webgpu', '--ignore-gpu-blocklist', '--disable-gpu-sandbox'] });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1000, height: 900 });
    await page.goto(`${server.url}/`);
    await page.waitForFunction('window.segfaceReady !== undefined', { timeout: 120_000 });
    const adapter = await page.evaluate('window.segfaceRuntime.device.adapter') as WebResult['adapter'];
    const pageMs = await page.evaluate(`(async () => { const f = window.segfaceTrainSteps; await f(2); const t0 = performance.now(); await f(${STEPS}); return (performance.now() - t0) / ${STEPS}; })()`) as number;
    await page.click('#bench-run');
    await page.waitForFunction(`document.getElementById('bench-status').textContent.includes('rows')`, { timeout: 3_600_000, polling: 2000 });
    const rows = (await page.evaluate(`document.getElementById('bench-rows').textContent`) as string).split('\n').filter(Boolean).map((l) => JSON.parse(l) as BenchRow);
    mkdirSync(join(ROOT, 'docs', 'web'), { recursive: true });
    await (await page.$('#bench'))!.screenshot({ path: join(ROOT, 'docs', 'web', 'bench.png') as `${string}.png` });
    const node = await nodeStepMs();
    const result: WebResult = {
      date: new Date().toISOString(),
      browser: execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).trim(),
      adapter, rows,
      trainStep: { pageMs, nodeMs: node.ms, nodeAdapter: node.adapter, what: `tiny, 64 px, batch 4, mean of ${STEPS} after 2 warm-up` },
    };
    const slug = adapter.name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
    writeFileSync(join(ROOT, 'bench', 'results', `web-${slug}.json`), JSON.stringify(result, null, 1) + '\n');
    console.log(`page step ${pageMs.toFixed(0)} ms, Node step ${node.ms.toFixed(0)} ms (${node.adapter}); ${rows.length} rows; ${writeSummary(join(ROOT, 'bench'))}`);
  } finally {
    await browser.close();
    await server.close();
  }
}

await main();
