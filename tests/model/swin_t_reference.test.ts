// swin_t at 224 px against a case generated fresh by PyTorch (tools/reference/gen.py, Debian's
// python3-torch 1.13 + torchvision 0.14, installed by `bash scripts/setup.sh --tests`). The
// thresholds are the project's targets: activations (logits included) 1e-4 and gradients 1e-3
// relative L2; the zero-by-invariance gradients absolutely.
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
const dir = mkdtempSync(join(tmpdir(), 'swin_t224-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('swin_t 224 px against a freshly generated PyTorch case', () => {
  it('matches every activation and gradient', async () => {
    try {
      execFileSync('/usr/bin/python3', [join(root, 'tools/reference/gen.py'), '--backbone', 'swin_t', '--res', '224', '--batch', '1',
        '--seed', '3', '--no-weights', '--no-block-acts', '--out', dir], { env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' }, stdio: 'pipe' });
    } catch (e) {
      throw new Error(`tools/reference/gen.py failed (is python3-torch installed? run: bash scripts/setup.sh --tests):\n${(e as { stderr?: Buffer }).stderr?.toString() ?? e}`);
    }
    const c = loadCase(dir);
    const result = await runCase(rt(), c);
    const verdicts = judge(result);
    const failed = verdicts.filter((v) => !v.ok);
    expect(failed, formatVerdicts(verdicts)).toEqual([]);
    expect(Math.abs(result.loss.total - c.manifest.loss.total)).toBeLessThan(1e-5);
    const logits = result.activations.find((a) => a.name === 'logits')!;
    expect(logits.relL2).toBeLessThan(1e-4);
  }, 900_000);
});
