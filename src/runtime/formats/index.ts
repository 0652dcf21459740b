// Host file formats: safetensors, PyTorch's torch.save zip (with its pickle and zip layers) and
// NumPy .npy, each read and written without a native library. Writers are atomic.
export { readSafetensors, readSafetensorsMetadata, writeSafetensors, writeFileAtomic, encodeSafetensors, parseSafetensors, type StTensor, type StWrite } from './safetensors.js';
export { readTorchCheckpoint, writeTorchCheckpoint, torchTensor, TorchTensor, PyDict, PyObject, PyTuple, PyFloat, PyGlobal } from './torch_checkpoint.js';
export { readNpy, writeNpy, decodeNpy, encodeNpy, type NpyArray } from './npy.js';
export { blobSource, bytesSource, fileSource, toByteSource, urlSource, type ByteInput, type ByteSource } from './byte_source.js';
export { openTorchCheckpoint, readTorchCheckpointLazy, type LazyCheckpoint } from './torch_lazy.js';
