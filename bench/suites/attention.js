// Attention core of the two-way decoder (src/runtime/ops/attention.ts), batch 1, 8 heads, in the
// three regimes the model meets: self-attention of the 19 class tokens (hd 32), token→image
// (19 queries, h/4·w/4 image keys, hd 16) and image→token (the transpose), at 224 px (3136 image
// tokens) and, with --full, 512 px (16,384).
//
// GFLOP/s count the algorithm, not the kernels: forward 4·Nq·Nk·hd per (b, head) (Q Kᵀ and P V);
// backward 10 (S recomputed, dV, dP, dQ, dK), so forward+backward 14. The kernels do more: the
// backward recomputes Q Kᵀ and dO Vᵀ in both of its passes (dQ, then dK/dV), 14 instead of 10.
import { attention } from '../../src/runtime/ops/attention.js';
import { row, timeGpu } from '../lib.js';
const HEADS = 8;
function regimes(full) {
    const out = [{ name: 'self', nq: 19, nk: 19, hd: 32 }];
    for (const tokens of full ? [3136, 16384] : [3136]) {
        out.push({ name: 'token2image', nq: 19, nk: tokens, hd: 16 });
        out.push({ name: 'image2token', nq: tokens, nk: 19, hd: 16 });
    }
    return out;
}
function values(n, seed) {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++)
        a[i] = 2 * Math.sin(seed + i * 0.7071);
    return a;
}
export async function attentionSuite(ctx) {
    const rt = ctx.rt;
    const rows = [];
    const opts = { minSamples: ctx.quick ? 3 : 6, maxTime: ctx.quick ? 1 : 2 };
    for (const r of regimes(ctx.full)) {
        const D = HEADS * r.hd;
        const q = rt.parameter(values(r.nq * D, 1), [1, r.nq, D], 'q');
        const k = rt.parameter(values(r.nk * D, 2), [1, r.nk, D], 'k');
        const v = rt.parameter(values(r.nk * D, 3), [1, r.nk, D], 'v');
        const dOut = rt.untracked(() => rt.tensor(values(r.nq * D, 4), [1, r.nq, D]));
        const sizes = `B=1 heads=${HEADS} hd=${r.hd} Nq=${r.nq} Nk=${r.nk}`;
        const flop = HEADS * r.nq * r.nk * r.hd;
        const fwd = await timeGpu(rt, () => { rt.withoutGrad(() => attention(q, k, v, HEADS)); }, opts);
        rows.push(row(ctx, { suite: 'attention', name: `${r.name} fwd`, sizes, dtype: 'f32', ...fwd, gflops: (4 * flop) / (fwd.medianMs * 1e6) }));
        const both = await timeGpu(rt, () => {
            rt.backward(attention(q, k, v, HEADS), dOut);
            rt.zeroGrad([q, k, v]);
        }, opts);
        rows.push(row(ctx, { suite: 'attention', name: `${r.name} fwd+bwd`, sizes, dtype: 'f32', ...both, gflops: (14 * flop) / (both.medianMs * 1e6) }));
        for (const t of [q, k, v, dOut])
            t.release();
    }
    return rows;
}
//# sourceMappingURL=attention.js.map