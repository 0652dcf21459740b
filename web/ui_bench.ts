// The Bench part: the matmul and window-attention suites of `segface bench` on this page's adapter,
// their rows as JSON and a GFLOP/s chart.
import { matmulSuite } from '../bench/suites/matmul.js';
import { windowAttentionSuite } from '../bench/suites/window_attention.js';
import type { BenchRow } from '../bench/lib.js';
import type { Runtime } from '../src/runtime/runtime.js';

export async function runBench(rt: Runtime, onRow?: (rows: BenchRow[]) => void): Promise<BenchRow[]> {
  const ctx = { rt, full: false, quick: true };
  const rows: BenchRow[] = [];
  for (const suite of [matmulSuite, windowAttentionSuite]) {
    rows.push(...await suite(ctx));
    onRow?.(rows);
  }
  return rows;
}

export function setupBenchUi(rt: Runtime): void {
  const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
  const button = $<HTMLButtonElement>('bench-run');
  button.addEventListener('click', async () => {
    button.disabled = true;
    $('bench-status').textContent = `running on ${rt.device.name}…`;
    try {
      const rows = await runBench(rt, (rows) => show(rows));
      $('bench-status').textContent = `${rows.length} rows on ${rt.device.name}`;
    } catch (e) {
      $('bench-status').textContent = (e as Error).message;
    } finally {
      button.disabled = false;
    }
  });
  const show = (rows: BenchRow[]) => {
    $('bench-rows').textContent = rows.map((r) => JSON.stringify(r)).join('\n');
    drawBars($<HTMLCanvasElement>('bench-chart'), rows.filter((r) => r.gflops !== undefined && Number.isFinite(r.gflops)));
  };
}

/** Horizontal bars of GFLOP/s per row. */
function drawBars(canvas: HTMLCanvasElement, rows: BenchRow[]): void {
  canvas.height = Math.max(60, rows.length * 16 + 20);
  const ctx = canvas.getContext('2d')!;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.font = '11px system-ui, sans-serif';
  const max = Math.max(...rows.map((r) => r.gflops!), 1e-9);
  const left = 330;
  rows.forEach((r, i) => {
    const y = 10 + i * 16;
    ctx.fillStyle = '#333';
    ctx.fillText(`${r.suite} ${r.name} ${r.sizes}`.slice(0, 58), 4, y + 10);
    ctx.fillStyle = '#2471a3';
    const w = ((canvas.width - left - 60) * r.gflops!) / max;
    ctx.fillRect(left, y + 2, w, 11);
    ctx.fillStyle = '#333';
    ctx.fillText(`${r.gflops!.toFixed(2)} GFLOP/s`, left + w + 4, y + 11);
  });
}
