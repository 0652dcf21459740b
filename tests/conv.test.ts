import { describe, expect, it } from 'vitest';
import { conv1x1, convTranspose2x2, patchEmbed } from '../src/runtime/ops/conv.js';
import type { ImageLayout } from '../src/runtime/ops/vision.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { checkOp, checkRefGradient, numel, randn, useRuntime, type Tol } from './harness.js';
import {
  conv1x1Ref, conv1x1RefBackward, convT2x2Ref, convT2x2RefBackward, patchConvRef, patchConvRefBackward,
  type Conv1x1, type ConvT, type PatchConv,
} from '../src/runtime/reference/conv.js';

const rt = useRuntime();
const U = 2 ** -24;

/**
 * Every output and gradient element is a sum of K products. Higham & Mary's probabilistic bound
 * for f32 summation in any order: |error| <= λ·√K·U·Σ|terms| with probability >= 1 − 2·exp(−λ²/2)
 * per element; λ = 6 (failure ~3e-8 per element), plus 2 roundings for the product and bias. The
 * scale Σ|terms| is the largest over the tensor, from the reference run on absolute values.
 */
function sumTol(k: number, absScale: number): Tol {
  return { atol: (6 * Math.sqrt(k) + 2) * U * absScale + 1e-7, rtol: 0 };
}

const maxOf = (a: Float64Array): number => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const abs = (a: Float64Array): Float64Array => a.map(Math.abs);

/** Tolerances of an op with inputs (x, w, bias?) from the reference on absolute values. */
function tolerances(
  fwd: (x: Float64Array, w: Float64Array, b: Float64Array) => Float64Array,
  bwd: (x: Float64Array, w: Float64Array, g: Float64Array) => Float64Array[],
  x: Float64Array, w: Float64Array, b: Float64Array, dOut: Float64Array,
  terms: { fwd: number; dx: number; dw: number; db: number },
): { fwdTol: Tol; gradTols: Tol[] } {
  const [dx, dw, db] = bwd(abs(x), abs(w), abs(dOut));
  return {
    fwdTol: sumTol(terms.fwd, maxOf(fwd(abs(x), abs(w), abs(b)))),
    gradTols: [sumTol(terms.dx, maxOf(dx!)), sumTol(terms.dw, maxOf(dw!)), sumTol(terms.db, maxOf(db!))],
  };
}

/** checkOp with one gradient tolerance: the loosest of the inputs' (each is a sound bound for its tensor). */
const loosest = (tols: Tol[]): Tol => ({ atol: Math.max(...tols.map((t) => t.atol)), rtol: 0 });

// ---- patch embed ------------------------------------------------------------------------------------

const PATCH_CASES: PatchConv[] = [
  { b: 1, cin: 3, h: 8, w: 8, e: 8, p: 4 },
  { b: 2, cin: 3, h: 32, w: 48, e: 16, p: 4 },
  { b: 1, cin: 3, h: 200, w: 200, e: 32, p: 4 },    // 200 px: 50×50 tokens
  { b: 1, cin: 3, h: 224, w: 224, e: 128, p: 4 },   // Swin-B patch embed at 224 px: 56×56×128
  { b: 2, cin: 5, h: 6, w: 4, e: 7, p: 2 },
];

describe('patchEmbed (Conv2d k=P, s=P, NCHW -> NHWC tokens)', () => {
  for (const [ci, s] of PATCH_CASES.entries()) {
    it(`[${s.b}, ${s.cin}, ${s.h}, ${s.w}] -> E ${s.e}, P ${s.p}`, async () => {
      const x = randn(s.b * s.cin * s.h * s.w, 600 + ci);
      const w = randn(s.e * s.cin * s.p * s.p, 700 + ci, -0.5, 0.5);
      const b = randn(s.e, 800 + ci);
      const rows = s.b * (s.h / s.p) * (s.w / s.p);
      const k = s.cin * s.p * s.p;
      const dOut = randn(rows * s.e, ci + 1000);   // the dOut checkOp draws (seed ci)
      const tol = tolerances((xx, ww, bb) => patchConvRef(xx, ww, bb, s), (xx, ww, g) => patchConvRefBackward(xx, ww, g, s), x, w, b, dOut,
        { fwd: k + 1, dx: s.e, dw: rows, db: rows });
      await checkOp(rt(), {
        name: `patchEmbed [${s.b},${s.cin},${s.h},${s.w}]`,
        inputs: [{ data: x, shape: [s.b, s.cin, s.h, s.w] }, { data: w, shape: [s.e, s.cin, s.p, s.p] }, { data: b, shape: [s.e] }],
        run: ([xx, ww, bb]) => {
          const y = patchEmbed(xx!, ww!, bb!);
          expect(y.shape).toEqual([s.b, s.h / s.p, s.w / s.p, s.e]);
          return y;
        },
        ref: ([xx, ww, bb]) => patchConvRef(xx!, ww!, bb!, s),
        refBackward: ([xx, ww], g) => patchConvRefBackward(xx!, ww!, g, s),
        fwdTol: tol.fwdTol,
        gradTol: loosest(tol.gradTols),
        seed: ci,
      });
    });
  }
  it('without bias', async () => {
    const s: PatchConv = { b: 1, cin: 3, h: 8, w: 12, e: 4, p: 4 };
    const zero = new Float64Array(s.e);
    await checkOp(rt(), {
      name: 'patchEmbed no bias',
      inputs: [{ data: randn(numel([1, 3, 8, 12]), 1), shape: [1, 3, 8, 12] }, { data: randn(4 * 48, 2), shape: [4, 3, 4, 4] }],
      run: ([x, w]) => patchEmbed(x!, w!, null),
      ref: ([x, w]) => patchConvRef(x!, w!, zero, s),
      refBackward: ([x, w], g) => patchConvRefBackward(x!, w!, g, s).slice(0, 2),
      fwdTol: sumTol(49, 48), gradTol: sumTol(6, 6),
    });
  });
  it('reference backward matches finite differences', () => {
    const s: PatchConv = { b: 1, cin: 2, h: 4, w: 6, e: 3, p: 2 };
    checkRefGradient('patchConv', [randn(48, 1), randn(24, 2), randn(3, 3)], ([x, w, b]) => patchConvRef(x!, w!, b!, s), ([x, w], g) => patchConvRefBackward(x!, w!, g, s));
  });
  it('bad inputs throw errors naming the op', () => {
    const x = rt().tensor(randn(3 * 8 * 8, 1), [1, 3, 8, 8]);
    const w = rt().tensor(randn(4 * 2 * 16, 1), [4, 2, 4, 4]);
    expect(() => patchEmbed(x, w, null)).toThrow(/patchEmbed: image .* must be NCHW \(B, 2, H, W\)/);
    x.release();
    w.release();
  });
});

// ---- 1×1 convolution ------------------------------------------------------------------------------

const CONV1_CASES: { s: Conv1x1; inLayout: ImageLayout; outLayout: ImageLayout; bias: boolean; weight4d: boolean }[] = [
  { s: { b: 2, cin: 24, h: 7, w: 9, cout: 16 }, inLayout: 'NHWC', outLayout: 'NHWC', bias: false, weight4d: true },
  { s: { b: 2, cin: 24, h: 7, w: 9, cout: 16 }, inLayout: 'NHWC', outLayout: 'NHWC', bias: true, weight4d: false },
  { s: { b: 1, cin: 12, h: 5, w: 6, cout: 4 }, inLayout: 'NCHW', outLayout: 'NCHW', bias: true, weight4d: true },
  { s: { b: 1, cin: 12, h: 5, w: 6, cout: 4 }, inLayout: 'NCHW', outLayout: 'NHWC', bias: false, weight4d: true },
  { s: { b: 2, cin: 8, h: 3, w: 5, cout: 6 }, inLayout: 'NHWC', outLayout: 'NCHW', bias: true, weight4d: true },
  // neck linear_fuse: concat of four 256-channel maps -> 256, on a 14×14 map (56×56 at 224 px)
  { s: { b: 1, cin: 1024, h: 14, w: 14, cout: 256 }, inLayout: 'NHWC', outLayout: 'NHWC', bias: false, weight4d: true },
];

describe('conv1x1', () => {
  for (const [ci, c] of CONV1_CASES.entries()) {
    const { s } = c;
    it(`${c.inLayout} -> ${c.outLayout} [${s.b}, ${s.cin}, ${s.h}, ${s.w}] -> ${s.cout}${c.bias ? ' + bias' : ''}`, async () => {
      const xShape = c.inLayout === 'NCHW' ? [s.b, s.cin, s.h, s.w] : [s.b, s.h, s.w, s.cin];
      const x = randn(numel(xShape), 900 + ci);
      const w = randn(s.cout * s.cin, 950 + ci, -0.5, 0.5);
      const b = c.bias ? randn(s.cout, 990 + ci) : new Float64Array(s.cout);
      const rows = s.b * s.h * s.w;
      const dOut = randn(rows * s.cout, ci + 1000);
      const tol = tolerances((xx, ww, bb) => conv1x1Ref(xx, ww, bb, s, c.inLayout, c.outLayout),
        (xx, ww, g) => conv1x1RefBackward(xx, ww, g, s, c.inLayout, c.outLayout), x, w, b, dOut, { fwd: s.cin + 1, dx: s.cout, dw: rows, db: rows });
      const inputs = [{ data: x, shape: xShape }, { data: w, shape: c.weight4d ? [s.cout, s.cin, 1, 1] : [s.cout, s.cin] }];
      if (c.bias) inputs.push({ data: b, shape: [s.cout] });
      await checkOp(rt(), {
        name: `conv1x1 ${c.inLayout}->${c.outLayout}`,
        inputs,
        run: ([xx, ww, bb]) => conv1x1(xx!, ww!, { inLayout: c.inLayout, outLayout: c.outLayout, bias: bb ?? null }),
        ref: ([xx, ww, bb]) => conv1x1Ref(xx!, ww!, bb ?? null, s, c.inLayout, c.outLayout),
        refBackward: ([xx, ww], g) => conv1x1RefBackward(xx!, ww!, g, s, c.inLayout, c.outLayout).slice(0, c.bias ? 3 : 2),
        fwdTol: tol.fwdTol,
        gradTol: loosest(c.bias ? tol.gradTols : tol.gradTols.slice(0, 2)),
        seed: ci,
      });
    });
  }
  it('token tensors (B, T, Cin) -> (B, T, Cout)', async () => {
    const s: Conv1x1 = { b: 2, cin: 32, h: 1, w: 49, cout: 8 };
    await checkOp(rt(), {
      name: 'conv1x1 tokens',
      inputs: [{ data: randn(2 * 49 * 32, 3), shape: [2, 49, 32] }, { data: randn(8 * 32, 4), shape: [8, 32, 1, 1] }],
      run: ([x, w]) => conv1x1(x!, w!),
      ref: ([x, w]) => conv1x1Ref(x!, w!, null, s, 'NHWC', 'NHWC'),
      refBackward: ([x, w], g) => conv1x1RefBackward(x!, w!, g, s, 'NHWC', 'NHWC').slice(0, 2),
      fwdTol: sumTol(33, 32), gradTol: sumTol(98, 98),
    });
  });
  it('reference backward matches finite differences', () => {
    const s: Conv1x1 = { b: 1, cin: 3, h: 2, w: 2, cout: 2 };
    for (const [il, ol] of [['NCHW', 'NHWC'], ['NHWC', 'NCHW']] as [ImageLayout, ImageLayout][]) {
      checkRefGradient(`conv1x1 ${il}->${ol}`, [randn(12, 1), randn(6, 2), randn(2, 3)], ([x, w, b]) => conv1x1Ref(x!, w!, b!, s, il, ol), ([x, w], g) => conv1x1RefBackward(x!, w!, g, s, il, ol));
    }
  });
  it('bad inputs throw errors naming the op', () => {
    const x = rt().tensor(randn(2 * 3 * 5, 1), [2, 3, 5]);
    const w = rt().tensor(randn(4 * 6, 1), [4, 6, 1, 1]);
    expect(() => conv1x1(x, w)).toThrow(/conv1x1: .* has 5 channels, weight \[4, 6, 1, 1\] expects 6/);
    const w3 = rt().tensor(randn(4 * 6 * 9, 1), [4, 6, 3, 3]);
    expect(() => conv1x1(x, w3)).toThrow(/conv1x1: weight .* must be \(Cout, Cin, 1, 1\)/);
    for (const t of [x, w, w3]) t.release();
  });
});

// ---- ConvTranspose2d k=2 s=2 --------------------------------------------------------------------------

const CONVT_CASES: { s: ConvT; inLayout: ImageLayout; outLayout: ImageLayout }[] = [
  { s: { b: 1, cin: 3, h: 4, w: 5, cout: 5 }, inLayout: 'NHWC', outLayout: 'NCHW' },
  { s: { b: 2, cin: 6, h: 3, w: 2, cout: 4 }, inLayout: 'NHWC', outLayout: 'NHWC' },
  { s: { b: 2, cin: 6, h: 3, w: 2, cout: 4 }, inLayout: 'NCHW', outLayout: 'NCHW' },
  { s: { b: 1, cin: 4, h: 5, w: 3, cout: 3 }, inLayout: 'NCHW', outLayout: 'NHWC' },
  // the output head: output_upscaling.0 (256 -> 64, NHWC out for LayerNorm) on a 14×14 map, then
  // output_upscaling.3 (64 -> 32, NCHW out) on the 28×28 result
  { s: { b: 1, cin: 256, h: 14, w: 14, cout: 64 }, inLayout: 'NHWC', outLayout: 'NHWC' },
  { s: { b: 2, cin: 64, h: 28, w: 28, cout: 32 }, inLayout: 'NHWC', outLayout: 'NCHW' },
];

describe('convTranspose2x2', () => {
  for (const [ci, c] of CONVT_CASES.entries()) {
    const { s } = c;
    it(`${c.inLayout} -> ${c.outLayout} [${s.b}, ${s.cin}, ${s.h}, ${s.w}] -> ${s.cout}`, async () => {
      const xShape = c.inLayout === 'NCHW' ? [s.b, s.cin, s.h, s.w] : [s.b, s.h, s.w, s.cin];
      const x = randn(numel(xShape), 1100 + ci);
      const w = randn(s.cin * s.cout * 4, 1150 + ci, -0.5, 0.5);
      const b = randn(s.cout, 1190 + ci);
      const pixels = s.b * s.h * s.w;
      const dOut = randn(4 * pixels * s.cout, ci + 1000);
      const tol = tolerances((xx, ww, bb) => convT2x2Ref(xx, ww, bb, s, c.inLayout, c.outLayout),
        (xx, ww, g) => convT2x2RefBackward(xx, ww, g, s, c.inLayout, c.outLayout), x, w, b, dOut,
        { fwd: s.cin + 1, dx: 4 * s.cout, dw: pixels, db: 4 * pixels });
      await checkOp(rt(), {
        name: `convTranspose2x2 ${c.inLayout}->${c.outLayout} [${s.b},${s.cin},${s.h},${s.w}]->${s.cout}`,
        inputs: [{ data: x, shape: xShape }, { data: w, shape: [s.cin, s.cout, 2, 2] }, { data: b, shape: [s.cout] }],
        run: ([xx, ww, bb]) => {
          const y = convTranspose2x2(xx!, ww!, bb!, { inLayout: c.inLayout, outLayout: c.outLayout });
          expect(y.shape).toEqual(c.outLayout === 'NCHW' ? [s.b, s.cout, 2 * s.h, 2 * s.w] : [s.b, 2 * s.h, 2 * s.w, s.cout]);
          return y;
        },
        ref: ([xx, ww, bb]) => convT2x2Ref(xx!, ww!, bb!, s, c.inLayout, c.outLayout),
        refBackward: ([xx, ww], g) => convT2x2RefBackward(xx!, ww!, g, s, c.inLayout, c.outLayout),
        fwdTol: tol.fwdTol,
        gradTol: loosest(tol.gradTols),
        seed: ci,
      });
    });
  }
  it('without bias', async () => {
    const s: ConvT = { b: 1, cin: 3, h: 2, w: 3, cout: 2 };
    const zero = new Float64Array(2);
    await checkOp(rt(), {
      name: 'convTranspose2x2 no bias',
      inputs: [{ data: randn(18, 5), shape: [1, 2, 3, 3] }, { data: randn(24, 6), shape: [3, 2, 2, 2] }],
      run: ([x, w]) => convTranspose2x2(x!, w!, null),
      ref: ([x, w]) => convT2x2Ref(x!, w!, zero, s, 'NHWC', 'NCHW'),
      refBackward: ([x, w], g) => convT2x2RefBackward(x!, w!, g, s, 'NHWC', 'NCHW').slice(0, 2),
      fwdTol: sumTol(4, 3), gradTol: sumTol(8, 8),
    });
  });
  it('two stacked (the head\'s layout chain: NHWC -> NHWC, then NHWC -> NCHW)', async () => {
    const s1: ConvT = { b: 1, cin: 8, h: 3, w: 4, cout: 6 };
    const s2: ConvT = { b: 1, cin: 6, h: 6, w: 8, cout: 4 };
    const x = randn(numel([1, 3, 4, 8]), 31);
    const w1 = randn(8 * 6 * 4, 32, -0.5, 0.5);
    const w2 = randn(6 * 4 * 4, 33, -0.5, 0.5);
    const b1 = randn(6, 34);
    const b2 = randn(4, 35);
    await checkOp(rt(), {
      name: 'convTranspose2x2 chain',
      inputs: [{ data: x, shape: [1, 3, 4, 8] }, { data: w1, shape: [8, 6, 2, 2] }, { data: b1, shape: [6] }, { data: w2, shape: [6, 4, 2, 2] }, { data: b2, shape: [4] }],
      run: ([xx, ww1, bb1, ww2, bb2]) => {
        const mid = convTranspose2x2(xx!, ww1!, bb1!, { outLayout: 'NHWC' });
        return convTranspose2x2(mid, ww2!, bb2!, { outLayout: 'NCHW' });
      },
      ref: ([xx, ww1, bb1, ww2, bb2]) => convT2x2Ref(convT2x2Ref(xx!, ww1!, bb1!, s1, 'NHWC', 'NHWC'), ww2!, bb2!, s2, 'NHWC', 'NCHW'),
      refBackward: ([xx, ww1, bb1, ww2], g) => {
        const mid = convT2x2Ref(xx!, ww1!, bb1!, s1, 'NHWC', 'NHWC');
        const [dMid, dw2, db2] = convT2x2RefBackward(mid, ww2!, g, s2, 'NHWC', 'NCHW');
        const [dx, dw1, db1] = convT2x2RefBackward(xx!, ww1!, dMid!, s1, 'NHWC', 'NHWC');
        return [dx!, dw1!, db1!, dw2!, db2!];
      },
      // |mid| <= 8·0.5 + 1 = 5: sums of <= 96 terms of magnitude <= 5 (two layers' roundings)
      fwdTol: sumTol(8, 30), gradTol: sumTol(200, 200),
    });
  });
  it('reference backward matches finite differences', () => {
    const s: ConvT = { b: 1, cin: 2, h: 2, w: 3, cout: 2 };
    for (const [il, ol] of [['NHWC', 'NCHW'], ['NCHW', 'NHWC']] as [ImageLayout, ImageLayout][]) {
      checkRefGradient(`convT ${il}->${ol}`, [randn(12, 1), randn(16, 2), randn(2, 3)], ([x, w, b]) => convT2x2Ref(x!, w!, b!, s, il, ol), ([x, w], g) => convT2x2RefBackward(x!, w!, g, s, il, ol));
    }
  });
  it('bad inputs throw errors naming the op', () => {
    const x = rt().tensor(randn(2 * 2 * 3, 1), [1, 2, 2, 3]);
    const w = rt().tensor(randn(4 * 2 * 4, 1), [4, 2, 2, 2]);
    expect(() => convTranspose2x2(x, w, null)).toThrow(/convTranspose2x2: .* has 3 channels, weight \[4, 2, 2, 2\] expects 4/);
    const w3 = rt().tensor(randn(3 * 2 * 9, 1), [3, 2, 3, 3]);
    expect(() => convTranspose2x2(x, w3, null)).toThrow(/convTranspose2x2: weight .* must be \(Cin, Cout, 2, 2\)/);
    for (const t of [x, w, w3]) t.release();
  });
});

describe('memory', () => {
  it('forward + backward and inference release every intermediate (pool back to its starting size)', async () => {
    const r = rt();
    await r.sync();
    const before = r.memory().bytesLive;
    const img = r.tensor(randn(2 * 3 * 8 * 8, 1), [2, 3, 8, 8]);
    img.requiresGrad = true;
    const pw = r.parameter(randn(16 * 48, 2), [16, 3, 4, 4], 'patch.w');
    const pb = r.parameter(randn(16, 3), [16], 'patch.b');
    const fw = r.parameter(randn(8 * 16, 4), [8, 16, 1, 1], 'fuse.w');
    const tw = r.parameter(randn(8 * 4 * 4, 5), [8, 4, 2, 2], 'up.w');
    const tb = r.parameter(randn(4, 6), [4], 'up.b');
    const run = (): Tensor => {
      const tokens = patchEmbed(img, pw, pb);                                     // (2, 2, 2, 16)
      const nchw = conv1x1(tokens, fw, { inLayout: 'NHWC', outLayout: 'NCHW' });  // (2, 8, 2, 2)
      const up = convTranspose2x2(nchw, tw, tb, { inLayout: 'NCHW' });           // (2, 4, 4, 4)
      tokens.release();
      nchw.release();
      return up;
    };
    const y = run();
    const dy = r.tensor(randn(y.size, 7), y.shape);
    r.backward(y, dy);
    const yInfer = r.withoutGrad(run);
    expect(r.tape.length).toBe(0);
    for (const t of [img.grad!, img, y, dy, yInfer]) t.release();
    for (const p of [pw, pb, fw, tw, tb]) { p.grad!.release(); p.release(); }
    await r.sync();
    expect(r.memory().bytesLive).toBe(before);
  });
});
