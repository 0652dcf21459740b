// Swin window attention (kernels/window_attention.wgsl) at Swin-B shapes: the fused op's forward
// and forward + backward, on the adapter's default kernels (subgroups where available) and the
// portable ones, next to the unfused composition built from the engine's ops: pad, roll (slice +
// concat), window partition (permute), q·kᵀ (matmul), scale, + bias + mask, softmax, P·v
// (matmul), window reverse, roll back, crop. Ratios: fused / unfused, measured in the same run.
//
// FLOPs are the useful work of attention per (window, head): forward 4·N²·hd (q·kᵀ and P·v),
// backward 8·N²·hd (dP, dV, dQ, dK); the fused backward's recomputation of q·kᵀ is not counted.
// The unfused path gets its relative bias (heads, N, N) and shift mask (windows, heads, N, N)
// precomputed on the host, outside the timing (a gather op would add to its cost), and pads with
// zeros where the fused op uses the qkv bias (same cost). It is checked against the fused op on
// the first shape before anything is timed. Where the adapter has shader-f16, the fused op on the
// default kernels runs again with qkv, out and the gradients stored in f16 (dtype f16 rows, ratio
// vs_f32 against the f32 row of the same run).
import { add, scale } from '../../src/runtime/ops/elementwise.js';
import { concat, padAxis, permute, slice } from '../../src/runtime/ops/layout.js';
import { matmul } from '../../src/runtime/ops/matmul.js';
import { softmax } from '../../src/runtime/ops/softmax.js';
import { defaultWindowAttentionPath, windowAttention, windowGeometry, type WindowAttentionOptions, type WindowAttentionPath } from '../../src/runtime/ops/window_attention.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { row, timeGpu, type BenchContext, type BenchRow } from '../lib.js';

interface Shape { name: string; B: number; H: number; W: number; C: number; heads: number; ws: number; shift: number; v2: boolean; full?: boolean }

const SHAPES: Shape[] = [
  { name: 'swin_b 224 stage 1', B: 1, H: 56, W: 56, C: 128, heads: 4, ws: 7, shift: 3, v2: false },
  { name: 'swin_b 224 stage 3', B: 1, H: 14, W: 14, C: 512, heads: 16, ws: 7, shift: 3, v2: false },
  { name: 'swinv2_b 256 stage 1', B: 1, H: 64, W: 64, C: 128, heads: 4, ws: 8, shift: 4, v2: true },
  { name: 'swin_b 512 stage 1', B: 1, H: 128, W: 128, C: 128, heads: 4, ws: 7, shift: 3, v2: false, full: true },
];

function randomData(n: number, amplitude: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = amplitude * ((s / 4294967296) * 2 - 1);
  }
  return data;
}

const randomTensor = (rt: Runtime, shape: number[], amplitude: number, seed: number): Tensor =>
  rt.tensor(randomData(shape.reduce((a, b) => a * b, 1), amplitude, seed), shape);

// ---- the unfused composition (V1) ----------------------------------------------------------------

/** x'[i] = x[(i + s) mod n] along `axis`. */
function roll(x: Tensor, axis: number, s: number): Tensor {
  const n = x.shape[axis]!;
  return s === 0 ? x : concat([slice(x, axis, s, n - s), slice(x, axis, 0, s)], axis);
}

/** Host-side constants: relative bias (heads, N, N) gathered from the table, mask (windows, heads, N, N). */
function unfusedConstants(rt: Runtime, table: Float32Array, s: Shape): { bias: Tensor; mask: Tensor | null } {
  const { ws, heads } = s;
  const N = ws * ws;
  const g = windowGeometry(s.H, s.W, ws, s.shift);
  const bias = new Float32Array(heads * N * N);
  for (let h = 0; h < heads; h++) for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) {
    const e = (Math.floor(i / ws) - Math.floor(j / ws) + ws - 1) * (2 * ws - 1) + (i % ws) - (j % ws) + ws - 1;
    bias[(h * N + i) * N + j] = table[e * heads + h]!;
  }
  if (g.shiftY === 0 && g.shiftX === 0) return { bias: rt.tensor(bias, [heads, N, N]), mask: null };
  const region = (r: number, n: number, sh: number): number => (sh === 0 || r < n - ws ? 0 : r < n - sh ? 1 : 2);
  const mask = new Float32Array(g.windows * heads * N * N);
  for (let w = 0; w < g.windows; w++) {
    const id = (t: number): number => 3 * region(Math.floor(w / g.nwx) * ws + Math.floor(t / ws), g.Hp, g.shiftY) + region((w % g.nwx) * ws + (t % ws), g.Wp, g.shiftX);
    for (let h = 0; h < heads; h++) for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) {
      mask[((w * heads + h) * N + i) * N + j] = id(i) === id(j) ? 0 : -100;
    }
  }
  return { bias: rt.tensor(bias, [heads, N, N]), mask: rt.tensor(mask, [g.windows, heads, N, N]) };
}

/** V1 window attention from the engine's layout, matmul, elementwise and softmax ops. */
export function unfusedWindowAttention(qkv: Tensor, consts: { bias: Tensor; mask: Tensor | null }, s: Shape): Tensor {
  const rt = qkv.rt;
  const { B, H, W, C, heads, ws } = s;
  const g = windowGeometry(H, W, ws, s.shift);
  const N = ws * ws;
  const hd = C / heads;
  const nW = B * g.windows;
  return rt.scope(() => {
    let x = qkv;
    if (g.Hp > H) x = padAxis(x, 1, 0, g.Hp - H);
    if (g.Wp > W) x = padAxis(x, 2, 0, g.Wp - W);
    x = roll(roll(x, 1, g.shiftY), 2, g.shiftX);
    // (B·nwy, ws, nwx, ws·3C) -> (B·nwy, nwx, ws, ws·3C) = (windows, N, 3C) -> (windows, 3·heads, N, hd)
    const win = permute(x.reshape([B * g.nwy, ws, g.nwx, ws * 3 * C]), [0, 2, 1, 3]);
    const qkvw = permute(win.reshape([nW, N, 3 * heads, hd]), [0, 2, 1, 3]);
    const part = (k: number): Tensor => slice(qkvw, 1, k * heads, heads).reshape([nW * heads, N, hd]);
    let logits = scale(matmul(part(0), part(1), { transB: true }), hd ** -0.5).reshape([nW, heads, N, N]);
    logits = add(logits, consts.bias);
    if (consts.mask) logits = add(logits.reshape([B, g.windows, heads, N, N]), consts.mask);
    const o = matmul(softmax(logits).reshape([nW * heads, N, N]), part(2)); // (windows·heads, N, hd)
    const merged = permute(o.reshape([nW, heads, N, hd]), [0, 2, 1, 3]); // (windows, N, C)
    let y = permute(merged.reshape([B * g.nwy, g.nwx, ws, ws * C]), [0, 2, 1, 3]).reshape([B, g.Hp, g.Wp, C]);
    y = roll(roll(y, 1, (g.Hp - g.shiftY) % g.Hp), 2, (g.Wp - g.shiftX) % g.Wp);
    if (g.Hp > H) y = slice(y, 1, 0, H);
    if (g.Wp > W) y = slice(y, 2, 0, W);
    return y;
  });
}

// ---- the suite -----------------------------------------------------------------------------------

export async function windowAttentionSuite(ctx: BenchContext): Promise<BenchRow[]> {
  const rt = ctx.rt;
  const rows: BenchRow[] = [];
  const paths: WindowAttentionPath[] = [...new Set([defaultWindowAttentionPath(rt), 'portable' as const])];
  let checked = false;
  for (const s of SHAPES) {
    if (s.full && !ctx.full) continue;
    const T = (2 * s.ws - 1) ** 2;
    const g = windowGeometry(s.H, s.W, s.ws, s.shift);
    const N = s.ws * s.ws;
    const hd = s.C / s.heads;
    const pairs = s.B * g.windows * s.heads * N * N;
    const fwdFlops = 4 * pairs * hd;
    const qkv = randomTensor(rt, [s.B, s.H, s.W, 3 * s.C], 2, 1);
    const bias = randomTensor(rt, [3 * s.C], 1, 2);
    const tableHost = randomData(T * s.heads, 1, 3);
    const table = rt.tensor(tableHost, [T, s.heads]);
    const ls = s.v2 ? rt.full([s.heads, 1, 1], Math.log(10)) : undefined;
    const dOut = randomTensor(rt, [s.B, s.H, s.W, s.C], 1, 4);
    const sizes = `${s.name}: B=${s.B} ${s.H}x${s.W}${g.Hp !== s.H ? `->${g.Hp}` : ''} C=${s.C} heads=${s.heads} ws=${s.ws}`;
    const params = [qkv, bias, table, ...(ls ? [ls] : [])];
    const reps = ctx.quick ? 1 : 2;
    const fwdBwd = (run: () => Tensor): void => {
      for (const p of params) p.requiresGrad = true;
      rt.backward(run(), dOut);
      rt.zeroGrad(params);
      for (const p of params) p.requiresGrad = false;
    };
    const fused: Record<string, { fwd: number; fb: number }> = {};
    for (const path of paths) {
      const opts: WindowAttentionOptions = { ws: s.ws, heads: s.heads, shift: s.shift, qkvBias: bias, path, ...(ls ? { logitScale: ls } : {}) };
      const f = await timeGpu(rt, () => { rt.withoutGrad(() => windowAttention(qkv, table, opts)); }, { reps });
      const fb = await timeGpu(rt, () => fwdBwd(() => windowAttention(qkv, table, opts)), { reps });
      fused[path] = { fwd: f.medianMs, fb: fb.medianMs };
      const v = s.v2 ? 'V2' : 'V1';
      rows.push(row(ctx, { suite: 'window_attention', name: `fused fwd ${v} (${path})`, sizes, dtype: 'f32', ...f, gflops: fwdFlops / (f.medianMs * 1e6) }));
      rows.push(row(ctx, {
        suite: 'window_attention', name: `fused fwd+bwd ${v} (${path})`, sizes, dtype: 'f32', ...fb,
        gflops: 3 * fwdFlops / (fb.medianMs * 1e6), ratios: { bwd_over_fwd: (fb.medianMs - f.medianMs) / f.medianMs },
      }));
    }
    if (rt.device.hasF16) {
      // the f32 values rounded to f16: qkv and d(out) in f16, the parameters stay f32
      const path = paths[0]!;
      const qkv16 = rt.tensor(await qkv.read(), qkv.shape, 'f16');
      const dOut16 = rt.tensor(await dOut.read(), dOut.shape, 'f16');
      const params16 = [qkv16, bias, table, ...(ls ? [ls] : [])];
      const opts: WindowAttentionOptions = { ws: s.ws, heads: s.heads, shift: s.shift, qkvBias: bias, path, ...(ls ? { logitScale: ls } : {}) };
      const f = await timeGpu(rt, () => { rt.withoutGrad(() => windowAttention(qkv16, table, opts)); }, { reps });
      const fb = await timeGpu(rt, () => {
        for (const p of params16) p.requiresGrad = true;
        rt.backward(windowAttention(qkv16, table, opts), dOut16);
        rt.zeroGrad(params16);
        for (const p of params16) p.requiresGrad = false;
      }, { reps });
      const v = s.v2 ? 'V2' : 'V1';
      rows.push(row(ctx, { suite: 'window_attention', name: `fused fwd ${v} f16 (${path})`, sizes, dtype: 'f16', ...f, gflops: fwdFlops / (f.medianMs * 1e6), ratios: { vs_f32: fused[path]!.fwd / f.medianMs } }));
      rows.push(row(ctx, { suite: 'window_attention', name: `fused fwd+bwd ${v} f16 (${path})`, sizes, dtype: 'f16', ...fb, gflops: 3 * fwdFlops / (fb.medianMs * 1e6), ratios: { vs_f32: fused[path]!.fb / fb.medianMs } }));
      qkv16.release();
      dOut16.release();
    }
    if (!s.v2) {
      const consts = unfusedConstants(rt, tableHost, s);
      if (!checked && g.Hp === s.H && g.Wp === s.W) {
        const a = await rt.withoutGrad(() => windowAttention(qkv, table, { ws: s.ws, heads: s.heads, shift: s.shift, qkvBias: bias })).read();
        const b = await rt.withoutGrad(() => unfusedWindowAttention(qkv, consts, s)).read();
        let worst = 0;
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
        if (!(worst < 1e-4)) throw new Error(`window_attention bench: unfused path differs from the fused op by ${worst} on ${sizes}`);
        checked = true;
      }
      const best = fused[paths[0]!]!;
      const u = await timeGpu(rt, () => { rt.withoutGrad(() => unfusedWindowAttention(qkv, consts, s)); }, { reps });
      const ub = await timeGpu(rt, () => fwdBwd(() => unfusedWindowAttention(qkv, consts, s)), { reps });
      rows.push(row(ctx, { suite: 'window_attention', name: 'unfused fwd V1', sizes, dtype: 'f32', ...u, gflops: fwdFlops / (u.medianMs * 1e6), ratios: { fused_over_unfused: best.fwd / u.medianMs } }));
      rows.push(row(ctx, { suite: 'window_attention', name: 'unfused fwd+bwd V1', sizes, dtype: 'f32', ...ub, gflops: 3 * fwdFlops / (ub.medianMs * 1e6), ratios: { fused_over_unfused: best.fb / ub.medianMs } }));
      consts.bias.release();
      consts.mask?.release();
    }
    for (const t of [qkv, bias, table, dOut, ...(ls ? [ls] : [])]) t.release();
  }
  return rows;
}
