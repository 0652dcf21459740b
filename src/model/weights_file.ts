// Weights from a file: the official torch.save release (`model_299.pt`, whose dict holds the model
// under `state_dict_backbone`), a plain torch state dict, or safetensors. The configuration is
// inferred from the tensor shapes, and the state dict is checked strictly before any GPU work.
import { readTorchCheckpoint, PyDict, TorchTensor, type TorchValue } from '../runtime/formats/torch_checkpoint.js';
import { readSafetensors } from '../runtime/formats/safetensors.js';
import type { Runtime } from '../runtime/runtime.js';
import type { SegFaceConfig } from './config.js';
import { inferConfig, loadParams, type HostTensor, type ParamStore } from './params.js';

/** The SegFace state dict in a .pt or .safetensors file, by official name. */
export function readStateDict(path: string): Map<string, HostTensor> {
  if (path.endsWith('.safetensors')) {
    // A training checkpoint (src/train/checkpoint.ts) also holds optimizer moments under `optim.`.
    const st = readSafetensors(path);
    return new Map([...st].filter(([k]) => !k.startsWith('optim.')).map(([k, t]) => [k, { shape: t.shape, data: t.data }]));
  }
  // lazy: only the tensors of the state dict are decoded (an official release also holds the optimizer's moments)
  return officialStateDict(readTorchCheckpoint(path, { lazy: true }), path);
}

/** The state dict of a torch.save checkpoint: its `state_dict_backbone` (the official release) or the whole dict; decodes only those tensors. */
export function officialStateDict(top: TorchValue, path: string): Map<string, HostTensor> {
  let dict: unknown = top;
  if (top instanceof PyDict && top.has('state_dict_backbone')) dict = top.get('state_dict_backbone');
  if (!(dict instanceof PyDict)) throw new Error(`${path}: not a SegFace checkpoint (expected a dict with state_dict_backbone, or a state dict)`);
  const out = new Map<string, HostTensor>();
  for (const [k, t] of dict) {
    if (typeof k !== 'string') continue;
    if (!(t instanceof TorchTensor)) throw new Error(`${path}: entry ${k} of the state dict is not a tensor`);
    // DistributedDataParallel saves under `module.`; the official release does not, but accept it.
    out.set(k.startsWith('module.') ? k.slice(7) : k, { shape: t.shape, data: t.data });
  }
  return out;
}

/** Loads a weights file onto the device; returns the parameters and the inferred config. */
export function loadWeightsFile(rt: Runtime, path: string): { params: ParamStore; cfg: SegFaceConfig } {
  const state = readStateDict(path);
  const cfg = inferConfig(new Map([...state].map(([k, t]) => [k, t.shape])), path);
  return { params: loadParams(rt, cfg, state, path), cfg };
}
