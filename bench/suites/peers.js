// Peers in the same run, on the same sizes: TF.js's WebGPU backend on the engine's own GPUDevice
// (same Dawn adapter) and PyTorch on the CPU (Debian's torch + OpenBLAS, bench/peers/torch_peer.py).
//
// Cases: every matmul configuration of the matmul suite (square 256..2048, SegFace projections,
// the backward's transposed products), softmax over 49-wide window rows, LayerNorm (3136×128),
// the patch-embed conv (4×4, stride 4, 3→128 at 224 px) and linear_fuse's 1×1 conv (1024→256 at
// 56×56), forward only. Each case times the engine's op, then TF.js, back to back; PyTorch runs
// afterwards in one python process while the GPU is idle. The engine's row carries `vs_tfjs` and
// `vs_torch`: the peer's time over ours (above 1: we are faster). A peer that cannot run leaves
// a row saying why. Layouts are each framework's own: NHWC for TF.js convs, NCHW for torch, the
// engine's patchEmbed takes NCHW and returns NHWC tokens. TF.js has no LayerNorm op in tfjs-core;
// its row composes tf.moments + arithmetic, which is what a TF.js model does.
import { conv1x1, patchEmbed } from '../../src/runtime/ops/conv.js';
import { layerNorm } from '../../src/runtime/ops/layernorm.js';
import { matmul } from '../../src/runtime/ops/matmul.js';
import { softmax } from '../../src/runtime/ops/softmax.js';
import { openTfjs } from '../peers/tfjs.js';
import { runTorch } from '../peers/torch.js';
import { row, timeGpu, unavailableRow } from '../lib.js';
import { SEGFACE, SQUARE, TRANSPOSED } from './matmul.js';
function values(n, seed) {
    const a = new Float32Array(n);
    let s = seed >>> 0;
    for (let i = 0; i < n; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        a[i] = (s / 4294967296) * 2 - 1;
    }
    return a;
}
const input = (shape, seed) => [shape, values(shape.reduce((a, b) => a * b, 1), seed)];
function cases(ctx) {
    const out = [];
    for (const c of [...SQUARE, ...SEGFACE, ...TRANSPOSED]) {
        if (c.full && !ctx.full)
            continue;
        const flop = 2 * c.M * c.N * c.K;
        out.push({
            label: `matmul ${c.label}`,
            sizes: `M=${c.M} N=${c.N} K=${c.K}${c.transA ? ' transA' : ''}${c.transB ? ' transB' : ''}${c.bias ? ' +bias' : ''}`,
            flop, reps: Math.max(1, Math.round(2e8 / flop)), samples: ctx.quick ? 2 : c.samples ?? 5, check: c.M * c.N <= 1 << 20,
            inputs: {
                a: input(c.transA ? [c.K, c.M] : [c.M, c.K], 1),
                b: input(c.transB ? [c.N, c.K] : [c.K, c.N], 2),
                ...(c.bias ? { bias: input([c.N], 3) } : {}),
            },
            ours: (x) => matmul(x.a, x.b, { transA: c.transA, transB: c.transB, bias: x.bias }),
            tfjs: (tf, x) => (x.bias
                ? tf.fused.matMul({ a: x.a, b: x.b, transposeA: c.transA ?? false, transposeB: c.transB ?? false, bias: x.bias })
                : tf.matMul(x.a, x.b, c.transA ?? false, c.transB ?? false)),
            torch: { kind: 'matmul', M: c.M, N: c.N, K: c.K, transA: c.transA, transB: c.transB, bias: c.bias },
        });
    }
    const rows = 3136 * 4; // stage-1 windows at 224 px: 64 windows × 4 heads × 49 query rows
    const samples = ctx.quick ? 3 : 5;
    out.push({
        label: 'softmax', sizes: `${rows}x49 (stage 1 window rows, 224 px)`, bytes: 2 * rows * 49 * 4, reps: 4, samples, check: true,
        inputs: { x: input([rows, 49], 4) },
        ours: (x) => softmax(x.x),
        tfjs: (tf, x) => tf.softmax(x.x),
        torch: { kind: 'softmax', rows, cols: 49 },
    });
    out.push({
        label: 'layernorm', sizes: '3136x128 (stage 1, 224 px)', bytes: 2 * 3136 * 128 * 4, reps: 4, samples, check: true,
        inputs: { x: input([3136, 128], 5), w: input([128], 6), b: input([128], 7) },
        ours: (x) => layerNorm(x.x, x.w, x.b, 1e-5),
        tfjs: (tf, x) => {
            const { mean, variance } = tf.moments(x.x, -1, true);
            return tf.add(tf.mul(tf.mul(tf.sub(x.x, mean), tf.rsqrt(tf.add(variance, 1e-5))), x.w), x.b);
        },
        torch: { kind: 'layernorm', rows: 3136, cols: 128 },
    });
    // Patch embed: Conv2d(3, 128, k=4, s=4) + bias on a 224² image (Swin-B).
    const E = 128;
    const img = input([1, 3, 224, 224], 8);
    const imgNHWC = nchwToNhwc(img[1], 3, 224, 224);
    const pw = input([E, 3, 4, 4], 9);
    out.push({
        label: 'conv patch-embed 4x4/4', sizes: '1x3x224x224 -> 56x56x128, +bias', flop: 2 * 56 * 56 * E * 48, reps: 4, samples, check: true,
        inputs: { x: img, xNHWC: [[1, 224, 224, 3], imgNHWC], w: pw, wHWIO: [[4, 4, 3, E], oihwToHwio(pw[1], E, 3, 4)], bias: input([E], 10) },
        ours: (x) => patchEmbed(x.x, x.w, x.bias),
        tfjs: (tf, x) => tf.fused.conv2d({ x: x.xNHWC, filter: x.wHWIO, strides: 4, pad: 'valid', bias: x.bias }),
        torch: { kind: 'conv', B: 1, C: 3, H: 224, W: 224, E, k: 4, stride: 4, bias: true },
    });
    // linear_fuse: Conv2d(1024, 256, k=1), no bias, on the 56² fused neck map (NHWC for the engine).
    const fw = input([256, 1024], 12);
    out.push({
        label: 'conv 1x1 linear_fuse', sizes: '56x56x1024 -> 56x56x256', flop: 2 * 3136 * 1024 * 256, reps: 1, samples, check: true,
        inputs: { x: input([1, 56, 56, 1024], 11), w: fw, wHWIO: [[1, 1, 1024, 256], oihwToHwio(fw[1], 256, 1024, 1)] },
        ours: (x) => conv1x1(x.x, x.w),
        tfjs: (tf, x) => tf.conv2d(x.x, x.wHWIO, 1, 'valid'),
        torch: { kind: 'conv', B: 1, C: 1024, H: 56, W: 56, E: 256, k: 1, stride: 1 },
    });
    return out;
}
function nchwToNhwc(x, C, H, W) {
    const out = new Float32Array(x.length);
    for (let c = 0; c < C; c++)
        for (let i = 0; i < H * W; i++)
            out[i * C + c] = x[c * H * W + i];
    return out;
}
/** (O, I, k, k) -> TF.js's (k, k, I, O). */
function oihwToHwio(w, O, I, k) {
    const out = new Float32Array(w.length);
    for (let o = 0; o < O; o++)
        for (let i = 0; i < I; i++)
            for (let y = 0; y < k; y++)
                for (let x = 0; x < k; x++) {
                    out[((y * k + x) * I + i) * O + o] = w[((o * I + i) * k + y) * k + x];
                }
    return out;
}
const rate = (c, t) => (c.flop !== undefined
    ? { gflops: c.flop / (t.medianMs * 1e6) }
    : { gbps: c.bytes / (t.medianMs * 1e6) });
export async function peersSuite(ctx) {
    const rt = ctx.rt;
    const all = cases(ctx);
    const tfjs = await openTfjs(rt);
    const ours = [];
    const tfRows = [];
    const notes = [];
    for (const c of all) {
        const x = rt.untracked(() => Object.fromEntries(Object.entries(c.inputs).map(([k, [shape, data]]) => [k, rt.tensor(data, shape)])));
        ours.push(await timeGpu(rt, () => { rt.withoutGrad(() => c.ours(x)); }, { reps: c.reps, minSamples: c.samples, maxTime: ctx.quick ? 0.2 : 1 }));
        const base = { suite: 'peers', name: `${c.label} tfjs-webgpu`, sizes: c.sizes };
        if ('why' in tfjs) {
            tfRows.push(unavailableRow(ctx, { ...base, why: tfjs.why }));
        }
        else {
            try {
                const tf = tfjs.tf;
                const tx = Object.fromEntries(Object.entries(c.inputs).map(([k, [shape, data]]) => [k, tf.tensor(data, shape)]));
                let note;
                if (c.check) {
                    const mine = rt.withoutGrad(() => c.ours(x));
                    const a = await mine.read();
                    mine.release();
                    const theirs = c.tfjs(tf, tx);
                    const b = await theirs.data();
                    theirs.dispose();
                    let worst = 0;
                    for (let i = 0; i < a.length; i++)
                        worst = Math.max(worst, Math.abs(a[i] - b[i]));
                    note = `max |ours - tfjs| ${worst.toExponential(1)}`;
                }
                const reps = Math.max(1, Math.round(c.reps / 10));
                const t = await tfjs.time(() => { c.tfjs(tf, tx); }, { reps, minSamples: Math.min(c.samples, 3), maxTime: ctx.quick ? 0.2 : 1 });
                tfRows.push(row(ctx, { ...base, dtype: 'f32', ...t, ...rate(c, t), peer: 'tfjs-webgpu', ...(note ? { note } : {}) }));
                for (const v of Object.values(tx))
                    v.dispose();
            }
            catch (e) {
                tfRows.push(unavailableRow(ctx, { ...base, why: `TF.js failed: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}` }));
            }
        }
        for (const t of Object.values(x))
            t.release();
    }
    if (!('why' in tfjs)) {
        notes.push(tfjs.describe);
        tfjs.dispose();
    }
    await rt.sync();
    const torch = await runTorch(all.map((c) => ({ ...c.torch, samples: c.samples })), { python: ctx.python });
    const rows = [];
    all.forEach((c, i) => {
        const mine = ours[i];
        const tf = tfRows[i];
        const th = torch.results[i];
        const ratios = {};
        if (!tf.unavailable)
            ratios.vs_tfjs = tf.medianMs / mine.medianMs;
        if (th.ok)
            ratios.vs_torch = th.medianMs / mine.medianMs;
        rows.push(row(ctx, { suite: 'peers', name: `${c.label} ours`, sizes: c.sizes, dtype: 'f32', ...mine, ...rate(c, mine), ratios }));
        rows.push(tf);
        rows.push(th.ok
            ? row(ctx, { suite: 'peers', name: `${c.label} torch-cpu`, sizes: c.sizes, dtype: 'f32', ...th, ...rate(c, th), peer: 'torch-cpu', ...(i === 0 ? { note: torch.describe } : {}) })
            : unavailableRow(ctx, { suite: 'peers', name: `${c.label} torch-cpu`, sizes: c.sizes, why: th.why }));
    });
    if (notes.length && rows[1] && !rows[1].unavailable)
        rows[1].note = [notes[0], rows[1].note].filter(Boolean).join('; ');
    return rows;
}
//# sourceMappingURL=peers.js.map