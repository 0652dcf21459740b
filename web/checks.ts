// The op-check page (checks.html): runs tests/web/op_checks.ts on navigator.gpu with NaN-poisoned
// outputs and publishes window.segfaceChecks = { adapter, subgroupSize, checks, failures, ms }.
import { embedKernels } from '../src/runtime/kernel_source.js';
import { Runtime } from '../src/runtime/runtime.js';
import jpegWasmUrl from '@cwasm/jpeg-turbo/jpeg-turbo.wasm?url';
import { useJpegWasm } from '../src/train/image/index.js';
import { runJpegChecks, type ExifSpec, type JpegManifest } from '../tests/web/jpeg_checks.js';
import { runOpChecks, type OpCheckReport } from '../tests/web/op_checks.js';

embedKernels(import.meta.glob('../kernels/*.wgsl', { query: '?raw', import: 'default', eager: true }) as Record<string, string>);

declare global {
  interface Window { segfaceChecks?: (OpCheckReport & { jpeg: { checks: number; failures: string[] } }) | { error: string } }
}

async function main(): Promise<void> {
  const log = document.getElementById('log')!;
  try {
    // The checks pin their kernels; nothing is autotuned here.
    const rt = await Runtime.create({ poisonOutputs: true, tune: false });
    const ops = await runOpChecks(rt, (line) => { log.textContent += `${line}\n`; });
    // ?jpeg=URL of a folder holding the JPEG fixtures, jpeg_cv2.json and manifest.json (the tests serve it).
    const folder = new URLSearchParams(location.search).get('jpeg');
    let jpeg = { checks: 0, failures: [] as string[] };
    if (folder) {
      const base = new URL(folder.endsWith('/') ? folder : `${folder}/`, location.href).href;
      useJpegWasm(await WebAssembly.compile(await (await fetch(jpegWasmUrl)).arrayBuffer()));
      const cv2 = await (await fetch(new URL('jpeg_cv2.json', base))).json() as JpegManifest;
      const exif = (await (await fetch(new URL('manifest.json', base))).json() as { exif: ExifSpec }).exif;
      jpeg = await runJpegChecks(base, cv2, exif);
      log.textContent += `JPEG vs cv2.imread: ${jpeg.checks} files, ${jpeg.failures.length} failures\n`;
    }
    const report = { ...ops, jpeg, failures: [...ops.failures, ...jpeg.failures] };
    document.getElementById('summary')!.textContent =
      `${report.adapter} (subgroups ${report.subgroupSize || 'varying'}): ${report.checks - new Set(report.failures.map((f) => f.split(':')[0])).size} of ${report.checks} checks passed in ${(report.ms / 1000).toFixed(1)} s` +
      (report.failures.length ? `; failures:\n${report.failures.join('\n')}` : '');
    window.segfaceChecks = report;
  } catch (e) {
    document.getElementById('summary')!.textContent = (e as Error).message;
    window.segfaceChecks = { error: (e as Error).message };
  }
}

void main();
