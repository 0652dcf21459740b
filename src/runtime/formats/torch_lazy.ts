// torch.save checkpoints read lazily from a File, Blob, ArrayBuffer, URL or (Node) path: the zip's
// end records and central directory, then data.pkl, then only the storages of the tensors the
// caller keeps. The parse is torch_checkpoint.ts's, run over a SparseBytes (./byte_source.ts);
// a path can also be read synchronously the same way (readTorchCheckpointLazy).
import { faultIn, faultInSync, fileSourceSync, openSparse, openSparseSync, toByteSource, type ByteInput } from './byte_source.js';
import { forEachTensor, parseTorchCheckpoint, TorchTensor, type TorchValue } from './torch_checkpoint.js';

export interface LazyCheckpoint {
  /** The checkpoint's value; tensors are decoded only by `load`. */
  root: TorchValue;
  /** Decodes the tensors under `value` (a part of `root`), fetching only their storages. */
  load(value: TorchValue): Promise<void>;
  /** The file's name, its size, and how many of its bytes have been read so far. */
  name: string;
  size: number;
  bytesRead(): number;
  close(): Promise<void>;
}

function tensorsUnder(value: TorchValue): TorchTensor[] {
  const tensors: TorchTensor[] = [];
  forEachTensor(value, (t) => tensors.push(t));
  return tensors;
}

export async function openTorchCheckpoint(input: ByteInput): Promise<LazyCheckpoint> {
  const source = await toByteSource(input);
  const sparse = await openSparse(source);
  const root = await faultIn(source, sparse, () => parseTorchCheckpoint(sparse, source.name, { lazy: true }));
  return {
    root,
    name: source.name,
    size: source.size,
    bytesRead: () => sparse.loadedBytes,
    load: async (value) => {
      for (const t of tensorsUnder(value)) await faultIn(source, sparse, () => t.data);
    },
    close: async () => { await source.close?.(); },
  };
}

/**
 * A checkpoint file read synchronously and lazily: `pick` chooses the part of the checkpoint to
 * keep (the model's dict of an official release), and only its tensors' storages are read.
 */
export function readTorchCheckpointLazy(path: string, pick: (root: TorchValue) => TorchValue = (root) => root): TorchValue {
  const source = fileSourceSync(path);
  try {
    const sparse = openSparseSync(source);
    const kept = pick(faultInSync(source, sparse, () => parseTorchCheckpoint(sparse, path, { lazy: true })));
    for (const t of tensorsUnder(kept)) faultInSync(source, sparse, () => t.data);
    return kept;
  } finally {
    source.close();
  }
}
