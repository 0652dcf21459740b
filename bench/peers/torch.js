// The PyTorch CPU peer: runs bench/peers/torch_peer.py with Debian's python3-torch (or
// $SEGFACE_PYTHON / --python), one process per request, JSON on stdin and stdout. Any failure
// (no python, no torch, a crash, a timeout) comes back as a reason instead of an exception, so a
// bench row can say why the peer is missing.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'torch_peer.py');
export const DEFAULT_PYTHON = process.env.SEGFACE_PYTHON ?? '/usr/bin/python3';
/** Runs the cases in one python process; never throws (every result says why when it failed). */
export async function runTorch(cases, opts = {}) {
    const python = opts.python ?? DEFAULT_PYTHON;
    const fail = (why) => ({ results: cases.map(() => ({ ok: false, why })), describe: `PyTorch unavailable: ${why}` });
    let out;
    try {
        out = await runProcess(python, [SCRIPT], JSON.stringify({ cases }), {
            env: { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' },
            timeoutMs: opts.timeoutMs ?? 20 * 60_000,
        });
    }
    catch (e) {
        return fail(e instanceof Error ? e.message : String(e));
    }
    let reply;
    try {
        reply = JSON.parse(out);
    }
    catch {
        return fail(`${python} ${SCRIPT} printed no JSON: ${out.slice(0, 200)}`);
    }
    if (reply.error || !reply.results)
        return fail(reply.error ?? 'no results');
    return {
        results: reply.results.map((r) => (r.ok ? r : { ok: false, why: r.why })),
        describe: `torch ${reply.torch}, ${reply.threads} threads, ${reply.blas}, OMP_WAIT_POLICY=${reply.omp_wait_policy}`,
    };
}
function runProcess(cmd, args, input, opts) {
    return new Promise((resolve, reject) => {
        let child;
        try {
            child = spawn(cmd, args, { env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
        }
        catch (e) {
            reject(new Error(`cannot start ${cmd}: ${e instanceof Error ? e.message : String(e)}`));
            return;
        }
        let stdout = '';
        let stderr = '';
        const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${cmd} timed out after ${opts.timeoutMs / 1000} s`)); }, opts.timeoutMs);
        child.stdout.on('data', (d) => { stdout += d.toString(); });
        child.stderr.on('data', (d) => { stderr += d.toString(); });
        child.on('error', (e) => { clearTimeout(timer); reject(new Error(`cannot run ${cmd}: ${e.message}`)); });
        child.on('close', (code, signal) => {
            clearTimeout(timer);
            if (code === 0)
                resolve(stdout);
            else
                reject(new Error(`${cmd} exited with ${code ?? signal}: ${stderr.trim().split('\n').slice(-2).join(' ').slice(0, 300)}`));
        });
        child.stdin.on('error', () => { });
        child.stdin.end(input);
    });
}
//# sourceMappingURL=torch.js.map