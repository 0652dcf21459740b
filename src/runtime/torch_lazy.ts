// torch.save checkpoints read lazily from a File, Blob, ArrayBuffer, URL or (Node) path: the zip's
// end records and central directory, then data.pkl, then only the storages of the tensors the
// caller keeps. The parse is torch_checkpoint.ts's, run over a SparseBytes (./byte_source.ts).
import { faultIn, openSparse, toByteSource, type ByteInput } from './byte_source.js';
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
      const tensors: TorchTensor[] = [];
      forEachTensor(value, (t) => tensors.push(t));
      for (const t of tensors) await faultIn(source, sparse, () => t.data);
    },
    close: async () => { await source.close?.(); },
  };
}
