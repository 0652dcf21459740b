// scripts/setup.sh on machines with a GPU but no Vulkan driver for it: it must stop with one message
// naming what is missing and the fix, never go on with lavapipe unless --allow-software says so.
// The GPU is faked: an `nvidia-smi` on PATH, and /dev, /sys, /proc and the Vulkan folders under
// SEGFACE_SETUP_HOST_ROOT. Dawn is limited to lavapipe (or to nothing) through VK_DRIVER_FILES, so a
// real GPU on the test machine cannot hide the message. --dry-run and SEGFACE_SETUP_NO_APT keep the
// script from installing anything.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const work = mkdtempSync(join(tmpdir(), 'segface-setup-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const ICD_DIR = '/usr/share/vulkan/icd.d';
const lavapipeIcd = existsSync(ICD_DIR) ? readdirSync(ICD_DIR).find((f) => f.startsWith('lvp_icd')) : undefined;
const onlySoftware = lavapipeIcd ? join(ICD_DIR, lavapipeIcd) : '/nonexistent/lvp_icd.json';

let serial = 0;

/** A fake machine: files (path -> content) under a fresh root, and an nvidia-smi script or none. */
function machine(files: Record<string, string>, nvidiaSmi?: string): { root: string; bin: string } {
  const base = join(work, String(serial++));
  const root = join(base, 'root');
  const bin = join(base, 'bin');
  mkdirSync(root, { recursive: true });
  mkdirSync(bin, { recursive: true });
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  if (nvidiaSmi !== undefined) {
    writeFileSync(join(bin, 'nvidia-smi'), `#!/bin/sh\n${nvidiaSmi}\n`);
    chmodSync(join(bin, 'nvidia-smi'), 0o755);
  }
  return { root, bin };
}

const H100_SMI = `case "$*" in
  *--query-gpu=name,driver_version*) echo "NVIDIA H100 80GB HBM3, 550.54.15" ;;
  *) echo "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0)" ;;
esac`;
/** An nvidia-smi that cannot reach the driver, as in a container started without the GPU's tools. */
const BROKEN_SMI = 'echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver." >&2; exit 9';

function setup(m: { root: string; bin: string }, args: string[] = [], env: Record<string, string> = {}) {
  const base = { ...process.env };
  for (const k of ['NVIDIA_VISIBLE_DEVICES', 'NVIDIA_DRIVER_CAPABILITIES', 'KUBERNETES_SERVICE_HOST', 'VK_ICD_FILENAMES', 'VK_DRIVER_FILES']) delete base[k];
  const r = spawnSync('bash', ['scripts/setup.sh', '--dry-run', ...args], {
    encoding: 'utf8',
    env: {
      ...base,
      PATH: `${m.bin}:${process.env.PATH}`,
      SEGFACE_SETUP_NO_APT: '1',
      SEGFACE_SETUP_HOST_ROOT: m.root,
      VK_DRIVER_FILES: onlySoftware,
      VK_ICD_FILENAMES: onlySoftware,
      ...env,
    },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('setup: error:'));

describe('setup.sh with a GPU that Dawn cannot use', () => {
  it('NVIDIA without a Vulkan driver, in a container: one message with what is missing and the fix', () => {
    const r = setup(machine({ '.dockerenv': '' }, H100_SMI), [], { NVIDIA_DRIVER_CAPABILITIES: 'compute,utility' });
    expect(r.status).toBe(1);
    expect(errorLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toContain('this machine has a GPU (NVIDIA H100 80GB HBM3, driver 550.54.15) but Dawn offers no hardware WebGPU adapter');
    expect(r.stderr).toMatch(/the Vulkan ICD file nvidia_icd\.json: not found/);
    expect(r.stderr).toMatch(/libGLX_nvidia\.so\.550\.54\.15 .*same version as the kernel driver 550\.54\.15: not found/);
    expect(r.stderr).toContain('fix, in this container:');
    expect(r.stderr).toContain('NVIDIA_DRIVER_CAPABILITIES must include graphics (it is "compute,utility")');
    expect(r.stderr).toContain('docker run --gpus all -e NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics');
    expect(r.stderr).toContain('apt-get install libnvidia-gl-550');
    expect(r.stderr).toContain('bash scripts/setup.sh --allow-software');
    expect(r.stdout).toContain('setup: GPU in this machine: NVIDIA H100 80GB HBM3, driver 550.54.15');
    expect(r.stdout).not.toMatch(/lavapipe|adapter is available/);
  });

  it('NVIDIA with an ICD and a Vulkan library of another version than the kernel driver', () => {
    const r = setup(machine({
      'etc/vulkan/icd.d/nvidia_icd.json': '{"ICD": {"library_path": "libGLX_nvidia.so.0"}}',
      'usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.535.104.05': '',
    }, H100_SMI));
    expect(r.status).toBe(1);
    expect(errorLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toContain('nvidia_icd.json: /etc/vulkan/icd.d/nvidia_icd.json');
    expect(r.stderr).toContain('must match the kernel driver: found /usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.535.104.05 (version 535.104.05), kernel driver 550.54.15');
    expect(r.stderr).toContain('fix, in a container:');
    expect(r.stderr).toContain('unset, which means compute,utility');
  });

  it('NVIDIA found by /dev/nvidia0 when nvidia-smi fails, driver version from /proc', () => {
    const r = setup(machine({
      'dev/nvidia0': '',
      'proc/driver/nvidia/version': 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n',
    }, BROKEN_SMI));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('this machine has a GPU (NVIDIA GPU /dev/nvidia0, driver 535.104.05)');
    expect(r.stderr).toContain('libGLX_nvidia.so.535.104.05');
  });

  it('an AMD render node: RADV and the Mesa command', () => {
    const r = setup(machine({ 'dev/dri/renderD128': '', 'sys/class/drm/renderD128/device/vendor': '0x1002\n' }, BROKEN_SMI));
    expect(r.status).toBe(1);
    expect(errorLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toContain('this machine has a GPU (AMD GPU, render node /dev/dri/renderD128)');
    expect(r.stderr).toContain("Mesa >= 25's RADV");
    expect(r.stderr).toContain('apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1');
  });

  it('a virtual display adapter (virtio-gpu) is not a GPU', () => {
    const r = setup(machine({ 'dev/dri/renderD128': '', 'sys/class/drm/renderD128/device/vendor': '0x1af4\n' }, BROKEN_SMI));
    expect(r.stdout + r.stderr).not.toContain('GPU in this machine');
    expect(r.stderr).not.toContain('this machine has a GPU');
  });

  it('--allow-software goes on without the GPU, saying so', () => {
    const r = setup(machine({}, H100_SMI), ['--allow-software']);
    expect(r.stderr).not.toContain('this machine has a GPU');
    expect(r.stdout).toContain('setup: warning: --allow-software: Dawn offers no adapter for the GPU; going on with a software adapter');
  });
});
