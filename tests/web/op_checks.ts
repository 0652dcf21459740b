// The op checks the web page runs on the browser's adapter: the Node suites' own cases, tolerances
// and float64 references (tests/checks/*, src/runtime/reference/*), with failures collected instead
// of thrown and the largest error against the reference kept per op family. A subset of the Node
// suites (the kernels' portability across adapters is the point, not coverage): matmul, softmax,
// layer norm, decoder attention, window attention V2 (and V1 through `segface doctor`'s checks,
// src/doctor/checks.ts), the fused loss and AdamW, each forward and backward.
import { doctorCases } from '../../src/doctor/checks.js';
import { matmulDefault, matmulKernel } from '../../src/runtime/ops/matmul.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { CASES as LN_CASES, checkLayerNorm } from '../checks/layernorm.js';
import { BATCH, checkMatmul, SHAPES, VARIANTS } from '../checks/matmul.js';
import { checkCase, maxErrors, recordAs } from '../checks/run.js';
import { CASES as SOFTMAX_CASES, checkSoftmax } from '../checks/softmax.js';
import { attention } from '../../src/runtime/ops/attention.js';
import { windowAttention } from '../../src/runtime/ops/window_attention.js';
import { CASES as ATTENTION_CASES, caseName, checkAttention, HEADS, LARGE_LOGITS } from '../checks/attention.js';
import { checkWindowAttention, V2_CASES } from '../checks/window_attention.js';
import { CASES as LOSS_CASES, checkLoss, TERM_CASES } from '../checks/loss.js';
import { checkAdamWSteps, checkGradStats, NORM_CASES, STEP_CONFIGS } from '../checks/adamw.js';

export interface OpCheckReport {
  adapter: string; subgroupSize: number; checks: number; failures: string[]; ms: number;
  /** Checks run and the largest |GPU − float64 reference| over them, per op family. */
  families: Record<string, { checks: number; maxAbsErr: number }>;
}

export async function runOpChecks(rt: Runtime, log: (line: string) => void = () => {}): Promise<OpCheckReport> {
  const failures: string[] = [];
  let checks = 0;
  const counts = new Map<string, number>();
  const t0 = performance.now();
  maxErrors.clear();
  const run = async (name: string, fn: (fail: (m: string) => void) => Promise<void>) => {
    checks++;
    const family = /^doctor/.test(name) ? 'doctor' : name.split(' ')[0]!;
    counts.set(family, (counts.get(family) ?? 0) + 1);
    recordAs(family);
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
  // Decoder attention and Swin V2 window attention: every case on each kernel path this adapter
  // runs (the subgroup kernels share keys 8 lanes at a time: on fewer, as SwiftShader's 4, they are
  // refused by name and the portable ones are the default).
  const eightLanes = dev.hasSubgroups && dev.adapter.subgroupMinSize >= 8;
  if (!eightLanes) {
    await run('attention subgroup kernels refused on this adapter', async (fail) => {
      const q = rt.zeros([1, 1, 128]);
      try { attention(q, q, q, HEADS, { subgroups: true }); fail('attention: subgroups accepted on fewer than 8 lanes'); } catch (e) { if (!/subgroups/.test((e as Error).message)) throw e; } finally { q.release(); }
    });
    await run('windowAttentionV2 subgroup kernels refused on this adapter', async (fail) => {
      const [qkv, table, bias, ls] = [rt.zeros([1, 8, 8, 96]), rt.zeros([225, 1]), rt.zeros([96]), rt.zeros([1, 1, 1])];
      try { windowAttention(qkv, table, { ws: 8, heads: 1, shift: 0, qkvBias: bias, logitScale: ls, path: 'subgroups' }); fail('windowAttention: subgroups accepted on fewer than 8 lanes'); } catch (e) { if (!/subgroups/.test((e as Error).message)) throw e; } finally { for (const t of [qkv, table, bias, ls]) t.release(); }
    });
  }
  for (const subgroups of eightLanes ? [true, false] : [false]) {
    for (const [i, c] of ATTENTION_CASES.entries()) {
      const sc = { ...c, opts: { subgroups } };
      await run(`attention ${caseName(sc).slice(10)}`, (fail) => checkAttention(rt, sc, 100 + 10 * i, fail));
    }
    for (const [c, seed] of LARGE_LOGITS) {
      const sc = { ...c, opts: { subgroups } };
      await run(`attention ${caseName(sc).slice(10)}, large logits`, (fail) => checkAttention(rt, sc, seed, fail));
    }
  }
  for (const path of eightLanes ? ['subgroups', 'portable'] as const : ['portable'] as const) {
    for (const [i, c] of V2_CASES.entries()) await run(`windowAttentionV2 ${c.name} (${path})`, (fail) => checkWindowAttention(rt, c, 300 + 10 * i, fail, path));
  }
  for (const [i, c] of LOSS_CASES.entries()) await run(`segLoss ${c.name}`, (fail) => checkLoss(rt, c, 100 + 10 * i, fail));
  for (const [c, seed] of TERM_CASES) await run(`segLoss ${c.name}`, (fail) => checkLoss(rt, c, seed, fail));
  for (const [k, c] of NORM_CASES.entries()) await run(`adamw gradStats ${c.name}`, (fail) => checkGradStats(rt, c, k, fail));
  for (const [k, c] of STEP_CONFIGS.entries()) await run(`adamw 6 steps, ${c.name}`, (fail) => checkAdamWSteps(rt, c, k, fail));
  recordAs('');
  const families = Object.fromEntries([...counts].map(([f, n]) => [f, { checks: n, maxAbsErr: maxErrors.get(f) ?? NaN }]));
  return { adapter: dev.name, subgroupSize: fixedLanes, checks, failures, ms: performance.now() - t0, families };
}
