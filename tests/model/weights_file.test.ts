// An official-style torch.save checkpoint (written by PyTorch, CUDA-free) loaded in TypeScript: the
// config is inferred from shapes, and the engine then reproduces PyTorch's activations and gradients.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCase, runCase } from '../../src/model/reference_case.js';
import { judge } from '../../src/model/verify_report.js';
import { loadWeightsFile, readStateDict } from '../../src/model/weights_file.js';
import { useRuntime } from '../harness.js';

const rt = useRuntime();
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'weights-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('official-format checkpoint', () => {
  it('loads model_299.pt-style files and reproduces PyTorch (lapa tiny, 32 px)', async () => {
    const pt = join(dir, 'model_299.pt');
    try {
      execFileSync('/usr/bin/python3', [join(root, 'tools/reference/gen.py'), '--backbone', 'tiny', '--dataset', 'lapa', '--res', '32',
        '--seed', '5', '--no-weights', '--save-pt', pt, '--out', join(dir, 'case')], { env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' }, stdio: 'pipe' });
    } catch (e) {
      throw new Error(`tools/reference/gen.py failed (is python3-torch installed? run: bash scripts/setup.sh --tests):\n${(e as { stderr?: Buffer }).stderr?.toString() ?? e}`);
    }
    const { params, cfg } = loadWeightsFile(rt(), pt);
    expect([cfg.backbone, cfg.dataset]).toEqual(['tiny', 'lapa']);
    const result = await runCase(rt(), loadCase(join(dir, 'case')), params);
    expect(judge(result).filter((v) => !v.ok)).toEqual([]);
    params.release();
  }, 300_000);
  it('rejects a foreign or truncated file before any GPU work, naming it', () => {
    const bad = join(dir, 'not_a_model.pt');
    writeFileSync(bad, 'hello');
    expect(() => readStateDict(bad)).toThrow(/not_a_model\.pt/);
  });
});
