// swin_t at 224 px and swinv2_t at 160 px against cases generated fresh by PyTorch (tools/reference/gen.py, Debian's
// python3-torch 1.13 + torchvision 0.14, installed by `bash scripts/setup.sh --tests`). The
// thresholds are the project's targets: activations (logits included) 1e-4 and gradients 1e-3
// relative L2; the zero-by-invariance gradients absolutely. swinv2_t at 160 px pads every stage
// after the first (window 8: 40, 20→24, 10→16, 5→8 tokens a side; the last stage unshifted).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCase, runCase } from '../../src/model/reference_case.js';
import { formatVerdicts, judge } from '../../src/model/verify_report.js';
import { useRuntime } from '../harness.js';

const rt = useRuntime();
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const caseRoot = mkdtempSync(join(tmpdir(), 'swin-reference-'));
afterAll(() => rmSync(caseRoot, { recursive: true, force: true }));

function generate(dir: string, backbone: string, res: number): void {
  try {
    execFileSync('/usr/bin/python3', [join(root, 'tools/reference/gen.py'), '--backbone', backbone, '--res', String(res), '--batch', '1',
      '--seed', '3', '--no-weights', '--no-block-acts', '--out', dir], { env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' }, stdio: 'pipe' });
  } catch (e) {
    throw new Error(`tools/reference/gen.py failed (is python3-torch installed? run: bash scripts/setup.sh --tests):\n${(e as { stderr?: Buffer }).stderr?.toString() ?? e}`);
  }
}

describe.each([['swin_t', 224], ['swinv2_t', 160]] as const)('%s %i px against a freshly generated PyTorch case', (backbone, res) => {
  it('matches every activation and gradient', async () => {
    const dir = join(caseRoot, `${backbone}_${res}`);
    generate(dir, backbone, res);
    const c = loadCase(dir);
    const result = await runCase(rt(), c);
    const verdicts = judge(result);
    const failed = verdicts.filter((v) => !v.ok);
    expect(failed, formatVerdicts(verdicts)).toEqual([]);
    expect(Math.abs(result.loss.total - c.manifest.loss.total)).toBeLessThan(1e-5);
    const logits = result.activations.find((a) => a.name === 'logits')!;
    expect(logits.relL2).toBeLessThan(1e-4);
    expect(result.argmaxAgreement).toBeGreaterThanOrEqual(0.999);   // the target
  }, 900_000);
});
