// Reading an official-layout .pt decodes only `state_dict_backbone`: the optimizer's moments (twice
// the model's size in a release) stay undecoded in the archive.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readStateDict } from '../../src/model/weights_file.js';
import { encodeTorchCheckpoint, parseTorchCheckpoint, PyDict, torchTensor, TorchTensor } from '../../src/runtime/formats/torch_checkpoint.js';

const dir = mkdtempSync(join(tmpdir(), 'state-dict-only-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readStateDict of an official-layout .pt', () => {
  it('decodes the state dict and leaves every other tensor undecoded', () => {
    const file = encodeTorchCheckpoint({
      epoch: 299,
      state_dict_backbone: { 'a.weight': torchTensor([2, 2], Float32Array.of(1, 2, 3, 4)), 'a.index': torchTensor([3], Int32Array.of(0, 2, 1)) },
      optimizer: { exp_avg: torchTensor([4], Float32Array.of(5, 6, 7, 8)) },
    });
    const path = join(dir, 'model_299.pt');
    writeFileSync(path, file);
    const state = readStateDict(path);
    const top = parseTorchCheckpoint(file, 'model_299.pt', { lazy: true });
    expect([...state.keys()]).toEqual(['a.weight', 'a.index']);
    expect(Array.from(state.get('a.weight')!.data)).toEqual([1, 2, 3, 4]);
    expect(Array.from(state.get('a.index')!.data)).toEqual([0, 2, 1]);
    const moment = ((top as PyDict).get('optimizer') as PyDict).get('exp_avg') as TorchTensor;
    expect(moment.lazy).toBe(true);
    expect(Array.from(moment.data)).toEqual([5, 6, 7, 8]);   // still readable on demand
  });
});
