import { describe, expect, it } from 'vitest';
import { hashUniform, syntheticValue } from '../../src/model/synthetic_init.js';

// Values printed by tools/reference/gen.py's synthetic_value / hash_uniform (numpy), pinned here so
// the TypeScript and Python generators cannot drift apart without a failing test.
describe('synthetic init shared with the PyTorch reference', () => {
  it('hash uniform matches the reference generator', () => {
    expect(Array.from(hashUniform(12345, 4))).toEqual(PINNED_HASH);
  });
  it('parameter values match the reference generator', () => {
    expect(Array.from(syntheticValue('backbone.0.1.0.attn.qkv.weight', [6, 4], 1).slice(0, 4))).toEqual(PINNED_QKV);
    expect(Array.from(syntheticValue('backbone.0.1.0.norm1.weight', [4], 1))).toEqual(PINNED_NORM);
  });
});

const PINNED_HASH = [0.23545509576797485, 0.3032728433609009, 0.958345353603363, 0.8283588290214539];
const PINNED_QKV = [0.4150943160057068, 0.48726993799209595, -0.09308844804763794, -0.2131785750389099];
const PINNED_NORM = [1.0811349153518677, 0.922573447227478, 1.0908914804458618, 0.9429996013641357];
