// Data parallelism (`npm run bench -- dist`): gradient all-reduce bandwidth over MPI, and training
// step time on 1 and 2 ranks with and without overlapping communication with backward.
//
//   all-reduce: Mpi.sumInPlace (reduce-scatter + all-gather, what training uses) and plain
//     MPI_Allreduce, on 91 M floats (SegFace's gradient count) and on the tiny config's 622 k, under
//     `mpiexec -n 2`. GB/s is the buffer size over the time ("algorithm bandwidth").
//   step: tests/train/dist/worker.ts trains the tiny model (stochastic depth off) for a few steps on
//     1 rank × B and on 2 ranks × B/2, bucketed sync with overlap and without; median step time,
//     images/s, and the share of the step spent inside MPI calls (`comm`).
// This file is also its own all-reduce worker (run with --worker under mpiexec).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findMpiexec } from '../../src/train/dist/launch.js';
import { row, unavailableRow } from '../lib.js';
const SUITE = 'dist';
const SEGFACE_GRADS = 91_000_000;
const TINY_GRADS = 622_254;
const here = fileURLToPath(import.meta.url);
const STEP_WORKER = join(here, '..', '..', '..', 'tests', 'train', 'dist', 'worker.ts');
function median(xs) {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
function run(cmd, args) {
    return new Promise((resolve) => {
        const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d) => { out += d.toString(); });
        child.stderr.on('data', (d) => { out += d.toString(); });
        child.on('exit', (code) => resolve({ code: code ?? 1, out }));
    });
}
/** Worker: times sumInPlace and MPI_Allreduce of `floats` floats `reps` times; rank 0 prints JSON. */
async function allreduceWorker(floats, reps) {
    const { Mpi, paddedLength } = await import('../../src/train/dist/mpi.js');
    const mpi = Mpi.init();
    const data = new Float32Array(paddedLength(floats, mpi.size)).fill(1);
    const scratch = new Float32Array(data.length / mpi.size);
    const times = { floats, ordered: [], allreduce: [] };
    await mpi.sumInPlace(data, scratch); // warm-up: first touch, connections
    for (let i = 0; i < reps; i++) {
        await mpi.barrier();
        let t = performance.now();
        await mpi.sumInPlace(data, scratch);
        times.ordered.push((performance.now() - t) / 1000);
        await mpi.barrier();
        t = performance.now();
        await mpi.allreduceInPlace(data);
        times.allreduce.push((performance.now() - t) / 1000);
    }
    if (mpi.rank === 0)
        console.log(`RESULT ${JSON.stringify(times)}`);
    await mpi.finalize();
}
export async function distSuite(ctx) {
    const rows = [];
    let mpiexec;
    try {
        mpiexec = findMpiexec();
    }
    catch (e) {
        return [unavailableRow(ctx, { suite: SUITE, name: 'all', sizes: '-', why: e.message })];
    }
    const node = [process.execPath, '--import', 'tsx'];
    // ---- all-reduce bandwidth ----
    for (const [label, floats, reps] of [['SegFace grads', SEGFACE_GRADS, ctx.quick ? 2 : 4], ['tiny grads', TINY_GRADS, 20]]) {
        const r = await run(mpiexec, ['-n', '2', ...node, here, '--worker', String(floats), String(reps)]);
        const line = r.out.split('\n').find((l) => l.startsWith('RESULT '));
        if (r.code !== 0 || !line) {
            rows.push(unavailableRow(ctx, { suite: SUITE, name: `all-reduce ${label}`, sizes: `${floats} f32`, why: `worker failed: ${r.out.slice(-300)}` }));
            continue;
        }
        const t = JSON.parse(line.slice(7));
        for (const [name, xs] of [['reduce-scatter+all-gather (used)', t.ordered], ['MPI_Allreduce', t.allreduce]]) {
            const med = median(xs);
            rows.push(row(ctx, {
                suite: SUITE, name: `all-reduce ${label}: ${name}`, sizes: `${(floats / 1e6).toFixed(floats > 1e7 ? 0 : 2)} M f32, 2 ranks`, dtype: 'f32',
                medianMs: med * 1000, minMs: Math.min(...xs) * 1000, maxMs: Math.max(...xs) * 1000, samples: xs.length,
                gbps: (4 * floats) / med / 1e9,
            }));
        }
    }
    // ---- training steps ----
    const steps = ctx.quick ? 5 : 10;
    const B = 4, res = 32;
    const dir = mkdtempSync(join(tmpdir(), 'bench-dist-'));
    try {
        const cases = [
            { name: '1 rank', ranks: 1, overlap: true },
            { name: '2 ranks, buckets after backward', ranks: 2, overlap: false },
            { name: '2 ranks, buckets overlap backward', ranks: 2, overlap: true },
        ];
        let base = NaN;
        let sequential = NaN;
        for (const c of cases) {
            const out = join(dir, c.name.replace(/\W+/g, '-'));
            const job = JSON.stringify({ out, from: 0, to: steps, batch: B, res, samples: B * steps, overlap: c.overlap });
            const r = c.ranks > 1
                ? await run(mpiexec, ['-n', String(c.ranks), ...node, STEP_WORKER, job])
                : await run(node[0], [...node.slice(1), STEP_WORKER, job]);
            if (r.code !== 0) {
                rows.push(unavailableRow(ctx, { suite: SUITE, name: `step ${c.name}`, sizes: `tiny ${res} px batch ${B}`, why: r.out.slice(-300) }));
                continue;
            }
            const s = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
            // drop the first two steps (pipeline compilation, bucket plan)
            const xs = s.stepSeconds.slice(2);
            const comm = s.commSeconds.slice(2);
            const med = median(xs);
            if (c.ranks === 1)
                base = med;
            if (c.ranks > 1 && !c.overlap)
                sequential = med;
            const ratios = { comm_share: median(comm) / med };
            if (c.ranks > 1)
                ratios.vs_1_rank = base / med;
            if (c.ranks > 1 && c.overlap)
                ratios.overlap_saves_share = (sequential - med) / sequential;
            rows.push(row(ctx, {
                suite: SUITE, name: `step ${c.name}`, sizes: `tiny ${res} px, global batch ${B}${c.ranks > 1 ? `, ${s.buckets} buckets ${(s.gradBytes / 2 ** 20).toFixed(1)} MiB` : ''}`,
                dtype: 'f32', medianMs: med * 1000, minMs: Math.min(...xs) * 1000, maxMs: Math.max(...xs) * 1000, samples: xs.length, ratios, imagesPerSec: B / med,
                note: c.ranks > 1 ? `inside MPI ${(median(comm) * 1000).toFixed(0)} ms/step; sync tail after backward recording ${(median(s.tailSeconds.slice(2)) * 1000).toFixed(0)} ms` : undefined,
            }));
        }
    }
    finally {
        rmSync(dir, { recursive: true, force: true });
    }
    return rows;
}
if (process.argv[1] === here && process.argv[2] === '--worker') {
    await allreduceWorker(Number(process.argv[3]), Number(process.argv[4]));
}
//# sourceMappingURL=dist.js.map