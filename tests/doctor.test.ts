// `npm run doctor --quick` as CI runs it, its JSON, the time budget, and a failing op check
// reported as a failure rather than thrown.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCheck } from '../src/doctor/checks.js';
import type { DoctorReport } from '../src/doctor/doctor.js';
import { doctorSlug } from '../src/doctor/report.js';
import { activation } from '../src/runtime/ops/activation.js';
import { geluRef } from '../src/runtime/reference/activation.js';
import { randn, useRuntime } from './harness.js';

const rt = useRuntime();
const work = mkdtempSync(join(tmpdir(), 'segface-doctor-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const tsx = join('node_modules', '.bin', 'tsx');
const DOCTOR = 'src/cli/segface.ts';

function readReport(dir: string): { report: DoctorReport; markdown: string; files: string[] } {
  const files = readdirSync(dir).sort();
  const json = files.find((f) => f.endsWith('.json'))!;
  return { report: JSON.parse(readFileSync(join(dir, json), 'utf8')) as DoctorReport, markdown: readFileSync(join(dir, json.replace(/\.json$/, '.md')), 'utf8'), files };
}

describe('npm run doctor', () => {
  it('--quick: adapter banner first, then every step, op checks passing, rows with figures', () => {
    const out = join(work, 'quick');
    const stdout = execFileSync(tsx, [DOCTOR, 'doctor', '--quick', '--out', out], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(stdout.split('\n')[0]).toMatch(/^adapter: .+ \(vulkan, .+, (hardware|software, on the CPU)\)$/);
    const { report: r, markdown, files } = readReport(out);
    expect(files).toEqual([`${doctorSlug(r.adapter.name)}.json`, `${doctorSlug(r.adapter.name)}.md`]);
    expect(r.quick).toBe(true);
    expect(r.complete).toBe(true);
    expect(r.steps.map((s) => [s.name, s.status])).toEqual([['roofline', 'done'], ['op checks', 'done'], ['tiny 64', 'done']]);
    expect(r.adapter.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
    expect(r.roofline!.gflops).toBeGreaterThan(0);
    // the 5 checks in f32, then in f16 where the adapter has shader-f16
    const precisions = r.adapter.features.includes('shader-f16') ? ['f32', 'f16'] : ['f32'];
    expect(r.checks.map((c) => c.precision)).toEqual(precisions.flatMap((p) => Array<string>(5).fill(p)));
    for (const c of r.checks) {
      expect(c.ok, `${c.name}: ${c.error}`).toBe(true);
      expect(c.comparisons.length).toBeGreaterThanOrEqual(2); // forward and at least one gradient
    }
    const [search] = r.trainingStep;
    expect(search!.target).toBe('tiny 64');
    expect(search!.rows.map((x) => x.batch)).toEqual([1, 2, 4]);
    expect(search!.largestBatch).toBe(4);
    for (const row of search!.rows) {
      expect(row.imagesPerSec).toBeGreaterThan(0);
      expect(row.peakBytes).toBeGreaterThan(0);
    }
    expect(r.matmul).toHaveLength(4);
    expect(r.windowAttention).toHaveLength(2);
    for (const m of [...r.matmul, ...r.windowAttention]) {
      expect(m.batch).toBe(4);
      expect(m.gflops).toBeGreaterThan(0);
      expect(m.ofFmaPeak).toBeGreaterThan(0);
    }
    expect(markdown).toContain(`${r.checks.length} of ${r.checks.length} passed.`);
    expect(markdown).toContain('tiny 64: largest batch 4');
  }, 600_000);

  it('a budget too small for the steps: stops cleanly, says so, and still writes both files', () => {
    const out = join(work, 'short');
    const r0 = spawnSync(tsx, [DOCTOR, 'doctor', '--quick', '--minutes', '0.002', '--out', out], { encoding: 'utf8' });
    expect(r0.status, r0.stderr).toBe(0);
    const { report: r } = readReport(out);
    expect(r.complete).toBe(false);
    expect(r.stoppedBy).toBe('time budget');
    expect(r.steps.at(-1)).toEqual({ name: 'tiny 64', status: 'not run', seconds: 0, note: 'time budget' });
    expect(r.trainingStep).toEqual([]);
  }, 300_000);

  it('bad flags fail with one line naming the flag', () => {
    const out = join(work, 'bad');
    const r = spawnSync(tsx, [DOCTOR, 'doctor', '--minutes', 'soon', '--out', out], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(/^error: --minutes soon: expected a non-negative number \(segface doctor --help lists the flags\)$/);
    expect(r.stdout).not.toMatch(/adapter/); // no GPU work started
    expect(existsSync(out)).toBe(false);
  }, 60_000);
});

describe('doctor op checks', () => {
  const gelu = (ref: (x: Float64Array) => Float64Array) => ({
    name: 'gelu', inputs: [{ data: randn(256, 5, -4, 4), shape: [256] }],
    run: ([x]: Parameters<typeof activation>[1][]) => activation('gelu', x!), ref: ([x]: Float64Array[]) => ref(x!),
    fwdTol: { atol: 3e-7, rtol: 1e-6 },
  });

  it('a result off by 1 % is a failed check naming the element', async () => {
    const r = await runCheck(rt(), gelu((x) => geluRef(x).map((y) => 1.01 * y)));
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/^gelu: forward: element \d+ is /);
  });

  it('an op that throws is a failed check, not an exception', async () => {
    const r = await runCheck(rt(), { ...gelu(geluRef), run: () => { throw new Error('device lost'); } });
    expect(r).toMatchObject({ ok: false, error: 'device lost', comparisons: [] });
  });

  it('the same check with the right reference passes', async () => {
    const r = await runCheck(rt(), gelu(geluRef));
    expect(r.ok, r.error).toBe(true);
  });
});
