import { defineConfig } from 'vitest/config';

// One fork per test file: each file opens its own Dawn device in beforeAll and keeps the GPU
// object referenced at module level (see docs/dawn-node.md). Lavapipe runs on the
// CPU, so files run one or two at a time to keep compile-heavy suites from starving each other.
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Deterministic kernels: no autotuning in tests (each test pins the variant it checks).
    env: { SEGFACE_TUNE: '0' },
  },
});
