// A SegFace state dict with the shared synthetic initialisation (src/model/synthetic_init.ts),
// written as safetensors, for CLI tests that need a weights file without GPU work.
import type { SegFaceConfig } from '../../src/model/config.js';
import { stateDictSpec } from '../../src/model/config.js';
import { relativeCoordsTable, relativePositionIndex } from '../../src/model/params.js';
import { syntheticValue } from '../../src/model/synthetic_init.js';
import { writeSafetensors, type StWrite } from '../../src/runtime/safetensors.js';

export function writeSyntheticWeights(path: string, cfg: SegFaceConfig, seed: number): void {
  const weights: Record<string, StWrite> = {};
  for (const s of stateDictSpec(cfg)) {
    const data = s.name.endsWith('relative_position_index') ? relativePositionIndex(cfg.window)
      : s.name.endsWith('relative_coords_table') ? relativeCoordsTable(cfg.window)
        : syntheticValue(s.name, s.shape, seed);
    weights[s.name] = { shape: s.shape, data };
  }
  writeSafetensors(path, weights);
}
