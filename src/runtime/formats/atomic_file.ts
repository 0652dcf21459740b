// Files written so that a crash never leaves a half-written one under the real name: every writer of
// the formats (safetensors, .pt, .npy, PNG) and the training checkpoints go through here. The temp
// file's name (.NAME.PID.tmp) is what src/train/checkpoint.ts removes after a killed write.
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Writes `bytes` to `path` atomically: temp file in the same directory, fsync, rename. */
export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w');
    let done = 0;
    while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try { unlinkSync(tmp); } catch { /* the temp file may not exist */ }
    throw new Error(`cannot write ${path}: ${(e as Error).message}`);
  }
  try {
    const dirFd = openSync(dirname(path), 'r');
    fsyncSync(dirFd);
    closeSync(dirFd);
  } catch { /* directories cannot be fsynced on every filesystem; the rename is still atomic */ }
}
