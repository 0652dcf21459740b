import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { makeConfig, stateDictSpec } from '../../src/model/config.js';
import { checkStateDict, inferConfig, relativeCoordsTable, relativePositionIndex } from '../../src/model/params.js';
import { readSafetensors } from '../../src/runtime/formats/safetensors.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const shapesOf = (backbone: string, dataset: 'celeb' | 'lapa' = 'celeb') =>
  new Map(stateDictSpec(makeConfig(backbone, dataset)).map((t) => [t.name, t.shape]));

describe('derived Swin buffers equal torchvision\'s', () => {
  const ref = readSafetensors(join(fixtures, 'swin_buffers.safetensors'));
  it('relative_position_index for windows 7 and 8', () => {
    expect(Array.from(relativePositionIndex(7))).toEqual(Array.from(ref.get('v1.relative_position_index')!.data));
    expect(Array.from(relativePositionIndex(8))).toEqual(Array.from(ref.get('v2.relative_position_index')!.data));
  });
  it('V2 relative_coords_table (exact float32)', () => {
    expect(Array.from(relativeCoordsTable(8))).toEqual(Array.from(ref.get('v2.relative_coords_table')!.data));
  });
});

describe('config inference and strict state-dict checks', () => {
  it('infers each known config from shapes alone', () => {
    for (const b of ['swin_t', 'swin_s', 'swin_base', 'swinv2_t', 'swinv2_base', 'tiny']) {
      for (const d of ['celeb', 'lapa'] as const) {
        const cfg = inferConfig(shapesOf(b, d), 'test');
        expect([cfg.backbone, cfg.dataset]).toEqual([b, d]);
      }
    }
  });
  it('names missing, unexpected and mis-shaped keys and the file', () => {
    const shapes = shapesOf('swin_base');
    shapes.delete('linear_fuse.weight');
    shapes.set('extra.weight', [3]);
    shapes.set('linear_c.0.proj.weight', [256, 64]);
    expect(() => checkStateDict(makeConfig('swin_base'), shapes, 'model_299.pt')).toThrow(
      /model_299\.pt: state dict does not fit swin_base\/celeb:\n {2}missing keys: linear_fuse\.weight\n {2}unexpected keys: extra\.weight\n {2}shape mismatches: linear_c\.0\.proj\.weight: file \[256, 64\], model \[256, 128\]/);
  });
  it('rejects a foreign state dict with a clear message', () => {
    expect(() => inferConfig(new Map([['conv1.weight', [64, 3, 7, 7]]]), 'resnet.pt')).toThrow(/resnet\.pt: not a SegFace state dict \(missing backbone\.0\.0\.0\.weight\)/);
  });
});
