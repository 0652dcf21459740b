// The PyTorch CPU peer: runs bench/peers/torch_peer.py with Debian's python3-torch (or
// $SEGFACE_PYTHON / --python), one process per request, JSON on stdin and stdout. Any failure
// (no python, no torch, a crash, a timeout) comes back as a reason instead of an exception, so a
// bench row can say why the peer is missing.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Timing } from '../lib.js';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'torch_peer.py');

export const DEFAULT_PYTHON = process.env.SEGFACE_PYTHON ?? '/usr/bin/python3';

export type TorchCase =
  | { kind: 'matmul'; M: number; N: number; K: number; transA?: boolean; transB?: boolean; bias?: boolean }
  | { kind: 'softmax' | 'layernorm'; rows: number; cols: number }
  | { kind: 'conv'; B: number; C: number; H: number; W: number; E: number; k: number; stride: number; bias?: boolean }
  | { kind: 'segface'; backbone: string; dataset?: string; res: number; batch: number; mode: 'forward' | 'step' };

export type TorchCaseOptions = { samples?: number; warmup?: number; minMs?: number };

export type TorchResult = ({ ok: true } & Timing) | { ok: false; why: string };

export interface TorchRun {
  /** One result per case, in order. */
  results: TorchResult[];
  /** e.g. `torch 1.13.0a0, 2 threads, openblas-pthread/libblas.so.3, OMP_WAIT_POLICY=PASSIVE`. */
  describe: string;
}

/** Runs the cases in one python process; never throws (every result says why when it failed). */
export async function runTorch(cases: (TorchCase & TorchCaseOptions)[], opts: { python?: string; timeoutMs?: number } = {}): Promise<TorchRun> {
  const python = opts.python ?? DEFAULT_PYTHON;
  const fail = (why: string): TorchRun => ({ results: cases.map(() => ({ ok: false, why })), describe: `PyTorch unavailable: ${why}` });
  let out: string;
  try {
    out = await runProcess(python, [SCRIPT], JSON.stringify({ cases }), {
      env: { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' },
      timeoutMs: opts.timeoutMs ?? 20 * 60_000,
    });
  } catch (e) {
    return fail(e instanceof Error ? e.message : String(e));
  }
  let reply: { error?: string; torch?: string; blas?: string; threads?: number; omp_wait_policy?: string; results?: TorchResult[] };
  try {
    reply = JSON.parse(out) as typeof reply;
  } catch {
    return fail(`${python} ${SCRIPT} printed no JSON: ${out.slice(0, 200)}`);
  }
  if (reply.error || !reply.results) return fail(reply.error ?? 'no results');
  return {
    results: reply.results.map((r) => (r.ok ? r : { ok: false, why: r.why })),
    describe: `torch ${reply.torch}, ${reply.threads} threads, ${reply.blas}, OMP_WAIT_POLICY=${reply.omp_wait_policy}`,
  };
}

function runProcess(cmd: string, args: string[], input: string, opts: { env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn(cmd, args, { env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      reject(new Error(`cannot start ${cmd}: ${e instanceof Error ? e.message : String(e)}`));
      return;
    }
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${cmd} timed out after ${opts.timeoutMs / 1000} s`)); }, opts.timeoutMs);
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', (e) => { clearTimeout(timer); reject(new Error(`cannot run ${cmd}: ${e.message}`)); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${cmd} exited with ${code ?? signal}: ${stderr.trim().split('\n').slice(-2).join(' ').slice(0, 300)}`));
    });
    child.stdin.on('error', () => { /* reported by 'error' / 'close' */ });
    child.stdin.end(input);
  });
}
