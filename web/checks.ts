// The op-check page (checks.html): runs tests/web/op_checks.ts on navigator.gpu with NaN-poisoned
// outputs and publishes window.segfaceChecks = { adapter, subgroupSize, checks, failures, ms }.
import { embedKernels } from '../src/runtime/kernel_source.js';
import { Runtime } from '../src/runtime/runtime.js';
import { runOpChecks, type OpCheckReport } from '../tests/web/op_checks.js';

embedKernels(import.meta.glob('../kernels/*.wgsl', { query: '?raw', import: 'default', eager: true }) as Record<string, string>);

declare global {
  interface Window { segfaceChecks?: OpCheckReport | { error: string } }
}

async function main(): Promise<void> {
  const log = document.getElementById('log')!;
  try {
    const rt = await Runtime.create({ poisonOutputs: true });
    const report = await runOpChecks(rt, (line) => { log.textContent += `${line}\n`; });
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
