// The whole model against PyTorch: the committed tiny case (tools/reference/gen.py --backbone tiny
// --res 64 --batch 2 --seed 1 --no-weights; the weights are the shared synthetic init), forward
// activations at every block boundary, the loss, and every parameter gradient.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { agreement, loadCase, runCase, type CaseResult } from '../../src/model/reference_case.js';
import { useRuntime } from '../harness.js';

const rt = useRuntime();
const fixture = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'tiny64');

// Gradients that are exactly zero by softmax shift invariance (spec): rounding noise on both sides,
// compared absolutely.
const ZERO_BY_INVARIANCE = /k_proj\.bias$|output_hypernetwork_mlps\.layers\.2\.bias$/;

describe('SegFace tiny (64 px, batch 2) against PyTorch 1.13 / torchvision 0.14', () => {
  let result: CaseResult;
  const c = loadCase(fixture);
  it('runs forward and backward', async () => {
    result = await runCase(rt(), c);
    expect(result.activations.length).toBe(Object.keys(c.manifest.activations).length);
  });
  it('loss equals the reference (relative 1e-6)', () => {
    for (const k of ['total', 'ce', 'dice'] as const) {
      expect(Math.abs(result.loss[k] - c.manifest.loss[k]) / c.manifest.loss[k], k).toBeLessThan(1e-6);
    }
  });
  it('every activation within relative L2 1e-5 (measured <= 8e-7)', () => {
    for (const a of result.activations) expect(a.relL2, a.name).toBeLessThan(1e-5);
  });
  it('every gradient within relative L2 1e-4 (measured <= 4e-5); invariance zeros absolutely 1e-8', () => {
    expect(result.gradients.length).toBe(c.grads.size);
    for (const g of result.gradients) {
      if (ZERO_BY_INVARIANCE.test(g.name)) expect(g.relL2 * g.norm, g.name).toBeLessThan(1e-8);
      else expect(g.relL2, g.name).toBeLessThan(1e-4);
    }
    expect(result.noGrad).toEqual(['backbone.1.bias', 'backbone.1.weight']);
  });
  it('argmax of the logits agrees on at least 99.9 % of pixels', () => {
    expect(result.argmaxAgreement).toBeGreaterThanOrEqual(0.999);
  });
});

describe('argmax agreement', () => {
  it('counts pixels whose best class is the same (B 1, K 3, 1×2)', () => {
    // pixel 0: classes (1, 3, 2) vs (1, 2, 3) -> 1 vs 2; pixel 1: (5, 0, 0) vs (4, 1, 1) -> 0 vs 0
    expect(agreement([1, 5, 3, 0, 2, 0], [1, 4, 2, 1, 3, 1], [1, 3, 1, 2])).toBe(0.5);
  });
});
