import { describe, expect, it } from 'vitest';
import { makeConfig, stateDictSpec } from '../../src/model/config.js';

const count = (backbone: string, dataset: 'celeb' | 'lapa' = 'celeb') => {
  const spec = stateDictSpec(makeConfig(backbone, dataset));
  const params = spec.filter((t) => t.kind === 'param');
  return {
    tensors: spec.length,
    params: params.length,
    buffers: spec.length - params.length,
    paramElements: params.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0),
    elements: spec.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0),
  };
};

// Figures from docs/segface-model.md ("State dict"), counted from the official model.
describe('official state_dict layout', () => {
  it('swin_base + celeb: 474 tensors = 449 params + 25 buffers, 91,007,800 parameters', () => {
    expect(count('swin_base')).toEqual({ tensors: 474, params: 449, buffers: 25, paramElements: 91_007_800, elements: 91_065_680 });
  });
  it('swin_base + lapa: 466 tensors, 91,005,752 parameters', () => {
    const c = count('swin_base', 'lapa');
    expect(c.tensors).toBe(466);
    expect(c.paramElements).toBe(91_005_752);
  });
  it('swinv2_base + celeb: 570 tensors = 521 params + 49 buffers, 91,170,424 parameters', () => {
    const c = count('swinv2_base');
    expect([c.tensors, c.params, c.buffers, c.paramElements]).toEqual([570, 521, 49, 91_170_424]);
  });
  it('names are unique and the head keys are in the spec order', () => {
    const spec = stateDictSpec(makeConfig('swin_base'));
    expect(new Set(spec.map((t) => t.name)).size).toBe(spec.length);
    const head = spec.filter((t) => !t.name.startsWith('backbone.')).map((t) => t.name);
    expect(head.length).toBe(123);
    expect(head[0]).toBe('pe_layer.positional_encoding_gaussian_matrix');
    expect(head[1]).toBe('face_decoder.transformer.layers.0.self_attn.q_proj.weight');
    expect(head[head.length - 1]).toBe('linear_fuse.weight');
  });
});
