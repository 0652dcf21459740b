// A SegFace state dict with the shared synthetic initialisation (src/model/params.ts), written as
// safetensors, for CLI tests that need a weights file without GPU work.
import type { SegFaceConfig } from '../../src/model/config.js';
import { syntheticStateDict } from '../../src/model/params.js';
import { writeSafetensors } from '../../src/runtime/formats/safetensors.js';

export function writeSyntheticWeights(path: string, cfg: SegFaceConfig, seed: number): void {
  writeSafetensors(path, syntheticStateDict(cfg, seed));
}
