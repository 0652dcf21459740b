// The op checks the web page runs on the browser's adapter: the Node suites' own cases, tolerances
// and float64 references (tests/checks/*, src/runtime/reference/*), with failures collected instead of thrown.
// A subset of the Node suites (the kernels' portability across adapters is the point, not coverage),
// plus `segface doctor`'s checks (src/doctor/checks.ts).
import { doctorCases } from '../../src/doctor/checks.js';
import { matmulDefault, matmulKernel } from '../../src/runtime/ops/matmul.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { CASES as LN_CASES, checkLayerNorm } from '../checks/layernorm.js';
import { BATCH, checkMatmul, SHAPES, VARIANTS } from '../checks/matmul.js';
import { checkCase } from '../checks/run.js';
import { CASES as SOFTMAX_CASES, checkSoftmax } from '../checks/softmax.js';

export interface OpCheckReport { adapter: string; subgroupSize: number; checks: number; failures: string[]; ms: number }

export async function runOpChecks(rt: Runtime, log: (line: string) => void = () => {}): Promise<OpCheckReport> {
  const failures: string[] = [];
  let checks = 0;
  const t0 = performance.now();
  const run = async (name: string, fn: (fail: (m: string) => void) => Promise<void>) => {
    checks++;
    const before = failures.length;
    try {
      await fn((m) => failures.push(m));
    } catch (e) {
      failures.push(`${name}: ${(e as Error).message}`);
    }
    log(`${failures.length > before ? 'FAIL' : 'ok  '} ${name}`);
  };
  const dev = rt.device;
  const fixedLanes = dev.hasSubgroups && dev.adapter.subgroupMinSize === dev.adapter.subgroupMaxSize ? dev.adapter.subgroupMinSize : 0;
  // Every family this adapter can run (the subgroup kernel needs one fixed size of 4 to 128 lanes).
  const runs = (v: string): boolean => { try { matmulKernel(v, dev.facts); return true; } catch { return false; } };
  const variants = VARIANTS.filter(runs);
  log(`matmul default on this adapter: ${matmulDefault(dev.facts)}; families checked: ${variants.join(', ')}`);
  for (const variant of variants) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const bias of [false, true]) {
          for (const batchedB of [true, false]) {
            await run(`matmul ${variant} ${transA ? 'Aᵀ' : 'A'}·${transB ? 'Bᵀ' : 'B'}${bias ? '+bias' : ''} ${batchedB ? 'batched' : 'shared'} B`, async (fail) => {
              for (const [i, [M, N, K]] of SHAPES.entries()) {
                await checkMatmul(rt, { s: { batch: BATCH, M, N, K, batchedB, transA, transB }, lead: [BATCH], bias, variant }, 100 * i + 7, fail);
              }
            });
          }
        }
      }
    }
  }
  for (const [i, c] of SOFTMAX_CASES.entries()) await run(`softmax [${c.shape}]`, (fail) => checkSoftmax(rt, c, i, fail));
  for (const [i, c] of LN_CASES.entries()) await run(`layerNorm [${c.shape}] eps ${c.eps}`, (fail) => checkLayerNorm(rt, c, i, fail));
  // segface doctor's checks at Swin's sizes: window attention V1, Swin's matmuls, softmax, GELU
  for (const c of doctorCases(rt, false)) await run(`doctor: ${c.name}`, (fail) => checkCase(rt, c, fail));
  return { adapter: dev.name, subgroupSize: fixedLanes, checks, failures, ms: performance.now() - t0 };
}
