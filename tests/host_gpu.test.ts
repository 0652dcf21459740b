// The runtime's GPU-presence check and adapter banner, on fake machine trees.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { adapterBanner, hostGpus, nvidiaDriverVersion } from '../src/runtime/host_gpu.js';

const work = mkdtempSync(join(tmpdir(), 'segface-hostgpu-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let serial = 0;
function tree(files: Record<string, string>): string {
  const root = join(work, String(serial++));
  mkdirSync(root, { recursive: true });
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), content);
  }
  return root;
}

const LAVAPIPE = { name: 'llvmpipe (LLVM 15.0.6, 256 bits)', backend: 'vulkan', vendor: 'mesa', description: 'llvmpipe: Mesa 25.0.7', isFallbackAdapter: true };
const H100 = { name: 'NVIDIA H100 80GB HBM3', backend: 'vulkan', vendor: 'nvidia', description: 'NVIDIA 550.54.15', isFallbackAdapter: false };

describe('hostGpus', () => {
  it('finds NVIDIA device files, AMD and Intel render nodes, and skips virtual display adapters', () => {
    const root = tree({
      'dev/nvidia0': '', 'dev/nvidia1': '', 'dev/nvidiactl': '',
      'dev/dri/renderD128': '', 'sys/class/drm/renderD128/device/vendor': '0x1af4\n',
      'dev/dri/renderD129': '', 'sys/class/drm/renderD129/device/vendor': '0x1002\n',
      'dev/dri/renderD130': '', 'sys/class/drm/renderD130/device/vendor': '0x8086\n',
      'dev/dri/renderD131': '', 'sys/class/drm/renderD131/device/vendor': '0x10de\n',
      'dev/dri/card0': '',
    });
    expect(hostGpus(root)).toEqual([
      { vendor: 'nvidia', where: '/dev/nvidia0' }, { vendor: 'nvidia', where: '/dev/nvidia1' },
      { vendor: 'amd', where: '/dev/dri/renderD129' }, { vendor: 'intel', where: '/dev/dri/renderD130' },
    ]);
  });

  it('finds nothing on a machine with only a virtual GPU, or with no /dev/dri', () => {
    expect(hostGpus(tree({ 'dev/dri/renderD128': '', 'sys/class/drm/renderD128/device/vendor': '0x1b36\n' }))).toEqual([]);
    expect(hostGpus(tree({ 'dev/null': '' }))).toEqual([]);
  });

  it('reads the NVIDIA kernel driver version', () => {
    expect(nvidiaDriverVersion(tree({ 'proc/driver/nvidia/version': 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 2024\n' }))).toBe('550.54.15');
    expect(nvidiaDriverVersion(tree({ 'sys/module/nvidia/version': '535.104.05\n' }))).toBe('535.104.05');
    expect(nvidiaDriverVersion(tree({}))).toBe('');
  });
});

describe('adapterBanner', () => {
  const gpu = [{ vendor: 'nvidia' as const, where: '/dev/nvidia0' }];
  it('warns when a GPU is here but the adapter is software', () => {
    const b = adapterBanner(LAVAPIPE, gpu);
    expect(b.line).toBe('adapter: llvmpipe (LLVM 15.0.6, 256 bits) (vulkan, mesa, software, on the CPU)');
    expect(b.warning).toMatch(/^warning: this machine has a GPU \(NVIDIA \/dev\/nvidia0\) but the adapter is the software rasteriser llvmpipe .*bash scripts\/setup\.sh/);
  });
  it('does not warn for software without a GPU, nor for a hardware adapter', () => {
    expect(adapterBanner(LAVAPIPE, [])).toEqual({ line: 'adapter: llvmpipe (LLVM 15.0.6, 256 bits) (vulkan, mesa, software, on the CPU)' });
    expect(adapterBanner(H100, gpu)).toEqual({ line: 'adapter: NVIDIA H100 80GB HBM3 (vulkan, nvidia, hardware)' });
  });
});
