// Weights from a file: the official torch.save release (`model_299.pt`, whose dict holds the model
// under `state_dict_backbone`), a plain torch state dict, or safetensors. The configuration is
// inferred from the tensor shapes, and the state dict is checked strictly before any GPU work.
import { toByteSource, type ByteInput } from '../runtime/formats/byte_source.js';
import { PyDict, TorchTensor } from '../runtime/formats/torch_checkpoint.js';
import { openTorchCheckpoint, readTorchCheckpointLazy } from '../runtime/formats/torch_lazy.js';
import { parseSafetensors, readSafetensors, type StTensor } from '../runtime/formats/safetensors.js';
import type { Runtime } from '../runtime/runtime.js';
import type { SegFaceConfig } from './config.js';
import { inferConfig, loadParams, type HostTensor, type ParamStore } from './params.js';

/** The SegFace state dict in a .pt or .safetensors file, by official name. */
export function readStateDict(path: string): Map<string, HostTensor> {
  if (path.endsWith('.safetensors')) {
    return modelTensors(readSafetensors(path));
  }
  // lazy: the zip directory, the pickle, then only the state dict's storages (an official release
  // also holds the optimizer's moments, several times the model's size)
  return tensorsOf(readTorchCheckpointLazy(path, (top) => stateDictIn(top, path)) as PyDict, path);
}

/**
 * The same from a File, Blob, ArrayBuffer, URL or path, read lazily: an official `model_299.pt`
 * (about 1 GB with its optimizer state) costs its zip directory, its pickle and the model's storages.
 * Safetensors files are read whole.
 */
export async function readStateDictFrom(input: ByteInput, name?: string): Promise<Map<string, HostTensor>> {
  const source = await toByteSource(input, name);
  const label = source.name;
  try {
    if (label.endsWith('.safetensors')) {
      return modelTensors(parseSafetensors(await source.read(0, source.size), label));
    }
    const ckpt = await openTorchCheckpoint(source);
    const dict = stateDictIn(ckpt.root, label);
    await ckpt.load(dict);
    return tensorsOf(dict, label);
  } finally {
    await source.close?.();
  }
}

/** A safetensors file's model tensors: a training checkpoint (src/train/checkpoint.ts) also holds optimizer moments under `optim.`. */
function modelTensors(st: Map<string, StTensor>): Map<string, HostTensor> {
  return new Map([...st].filter(([k]) => !k.startsWith('optim.')).map(([k, t]) => [k, { shape: t.shape, data: t.data }]));
}

/** The model's dict: `state_dict_backbone` of an official release, or the checkpoint itself. */
function stateDictIn(top: unknown, path: string): PyDict {
  let dict: unknown = top;
  if (top instanceof PyDict && top.has('state_dict_backbone')) dict = top.get('state_dict_backbone');
  if (!(dict instanceof PyDict)) throw new Error(`${path}: not a SegFace checkpoint (expected a dict with state_dict_backbone, or a state dict)`);
  return dict;
}

function tensorsOf(dict: PyDict, path: string): Map<string, HostTensor> {
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
