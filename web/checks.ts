// The op-check page (checks.html): runs tests/web/op_checks.ts on navigator.gpu with NaN-poisoned
// outputs and publishes window.segfaceChecks = { adapter, subgroupSize, checks, failures, ms }.
import { Runtime } from 'segface-webgpu';
import { loadJpegDecoder } from 'segface-webgpu/train';
import { runJpegChecks, type ExifSpec, type JpegManifest } from '../tests/web/jpeg_checks.js';
import { runPngChecks, type PngManifest } from '../tests/web/png_checks.js';
import { runOpChecks, type OpCheckReport } from '../tests/web/op_checks.js';

declare global {
  interface Window { segfaceChecks?: (OpCheckReport & { jpeg: { checks: number; failures: string[] }; png: { checks: number; failures: string[] } }) | { error: string } }
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
      await loadJpegDecoder();
      const cv2 = await (await fetch(new URL('jpeg_cv2.json', base))).json() as JpegManifest;
      const exif = (await (await fetch(new URL('manifest.json', base))).json() as { exif: ExifSpec }).exif;
      jpeg = await runJpegChecks(base, cv2, exif);
      log.textContent += `JPEG vs cv2.imread: ${jpeg.checks} files, ${jpeg.failures.length} failures\n`;
    }
    // ?png=URL of a folder holding PNG files and png_pngjs.json, Node's pngjs decode of each (the tests write it).
    const pngFolder = new URLSearchParams(location.search).get('png');
    let png = { checks: 0, failures: [] as string[] };
    if (pngFolder) {
      const base = new URL(pngFolder.endsWith('/') ? pngFolder : `${pngFolder}/`, location.href).href;
      png = await runPngChecks(base, await (await fetch(new URL('png_pngjs.json', base))).json() as PngManifest);
      log.textContent += `PNG vs Node's pngjs: ${png.checks} files, ${png.failures.length} failures\n`;
    }
    const report = { ...ops, jpeg, png, failures: [...ops.failures, ...jpeg.failures, ...png.failures] };
    const families = Object.entries(report.families).map(([f, r]) => `  ${f}: ${r.checks} checks, max |error| ${r.maxAbsErr.toExponential(1)}`).join('\n');
    document.getElementById('summary')!.textContent =
      `${report.adapter} (subgroups ${report.subgroupSize || 'varying'}): ${report.checks - new Set(report.failures.map((f) => f.split(':')[0])).size} of ${report.checks} checks passed in ${(report.ms / 1000).toFixed(1)} s; ` +
      `${jpeg.checks} JPEG and ${png.checks} PNG decodes\n${families}` +
      (report.failures.length ? `\nfailures:\n${report.failures.join('\n')}` : '');
    window.segfaceChecks = report;
  } catch (e) {
    document.getElementById('summary')!.textContent = (e as Error).message;
    window.segfaceChecks = { error: (e as Error).message };
  }
}

void main();
