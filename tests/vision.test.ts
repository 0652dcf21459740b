import { describe, expect, it } from 'vitest';
import { depthToSpace, patchify, patchMerge, patchMergeBackward, spaceToDepth, unpatchify, type ImageLayout } from '../src/runtime/ops/vision.js';
import { checkOp, checkRefGradient, numel, PRECISIONS, randn, useRuntime } from './harness.js';
import { depthToSpaceRef, depthToSpaceRefBackward, patchMergeRef, patchMergeRefBackward, spaceToDepthRef, spaceToDepthRefBackward } from '../src/runtime/reference/vision.js';

const rt = useRuntime();
// Layout ops copy 32-bit values (16-bit ones in f16; or write zeros), forward and backward: results
// must be bit-exact in both precisions.
const EXACT = { atol: 0, rtol: 0 };

// ---- space <-> depth ----------------------------------------------------------------------------

/** Image cases as (B, C, H, W) whatever the layout; H, W multiples of P. */
const S2D_CASES: { b: number; c: number; hh: number; ww: number; p: number; layout: ImageLayout }[] = [
  { b: 1, c: 3, hh: 4, ww: 4, p: 4, layout: 'NCHW' },
  { b: 2, c: 3, hh: 8, ww: 12, p: 4, layout: 'NCHW' },
  { b: 1, c: 3, hh: 200, ww: 200, p: 4, layout: 'NCHW' },     // 200 px input: 50×50 tokens
  { b: 2, c: 3, hh: 224, ww: 224, p: 4, layout: 'NCHW' },     // patch embed at 224 px: 56×56×48
  { b: 1, c: 3, hh: 512, ww: 512, p: 4, layout: 'NCHW' },     // 512 px: 128×128×48
  { b: 2, c: 5, hh: 6, ww: 10, p: 2, layout: 'NCHW' },
  { b: 2, c: 5, hh: 6, ww: 10, p: 2, layout: 'NHWC' },
  { b: 1, c: 7, hh: 9, ww: 3, p: 3, layout: 'NHWC' },
  { b: 2, c: 3, hh: 8, ww: 12, p: 4, layout: 'NHWC' },
  { b: 1, c: 16, hh: 112, ww: 112, p: 2, layout: 'NCHW' },   // the upscaling head's pixel shuffle at 224 px
  { b: 3, c: 1, hh: 1, ww: 1, p: 1, layout: 'NCHW' },
];

const imageShape = (c: (typeof S2D_CASES)[number]): number[] => (c.layout === 'NCHW' ? [c.b, c.c, c.hh, c.ww] : [c.b, c.hh, c.ww, c.c]);
const tokenShape = (c: (typeof S2D_CASES)[number]): number[] => [c.b, c.hh / c.p, c.ww / c.p, c.c * c.p * c.p];

describe.each(PRECISIONS)('spaceToDepth / depthToSpace (%s)', (precision) => {
  for (const [ci, c] of S2D_CASES.entries()) {
    const dims = { b: c.b, c: c.c, hh: c.hh, ww: c.ww };
    it(`spaceToDepth ${c.layout} [${imageShape(c)}] P=${c.p}`, async () => {
      await checkOp(rt(), {
        name: `spaceToDepth ${c.layout} [${imageShape(c)}] P=${c.p}`,
        inputs: [{ data: randn(numel(imageShape(c)), 10 + ci), shape: imageShape(c) }],
        run: ([x]) => spaceToDepth(x!, c.p, c.layout),
        ref: ([x]) => spaceToDepthRef(x!, dims, c.p, c.layout),
        refBackward: (_, g) => [spaceToDepthRefBackward(g, dims, c.p, c.layout)],
        fwdTol: EXACT,
        f16: { fwdTol: EXACT, gradTol: EXACT },
      }, precision);
    });
    it(`depthToSpace ${c.layout} [${tokenShape(c)}] P=${c.p}`, async () => {
      await checkOp(rt(), {
        name: `depthToSpace ${c.layout} [${tokenShape(c)}] P=${c.p}`,
        inputs: [{ data: randn(numel(tokenShape(c)), 50 + ci), shape: tokenShape(c) }],
        run: ([t]) => depthToSpace(t!, c.p, c.layout),
        ref: ([t]) => depthToSpaceRef(t!, dims, c.p, c.layout),
        refBackward: (_, g) => [depthToSpaceRefBackward(g, dims, c.p, c.layout)],
        fwdTol: EXACT,
        f16: { fwdTol: EXACT, gradTol: EXACT },
      }, precision);
    });
  }
  it('patchify matches the Conv2d weight order (c, kh, kw) on a hand-checked element', async () => {
    // image[b=1, c=2, y=5, x=6] lands in token (i=1, j=1) at channel (2·4 + 1)·4 + 2 = 38.
    const shape = [2, 3, 8, 8];
    const data = randn(numel(shape), 3);
    const x = rt().tensor(data, shape);
    const t = patchify(x);
    expect(t.shape).toEqual([2, 2, 2, 48]);
    const got = await t.read();
    expect(got[((1 * 2 + 1) * 2 + 1) * 48 + 38]).toBe(Math.fround(data[((1 * 3 + 2) * 8 + 5) * 8 + 6]!));
    const back = unpatchify(t);
    expect(Array.from(await back.read())).toEqual(Array.from(Float32Array.from(data)));
    for (const v of [x, t, back]) v.release();
  });
  it('more than 65535 workgroups (grid folded into y), forward and backward', async () => {
    const c = { b: 1, c: 3, hh: 160, ww: 160, p: 4, layout: 'NCHW' as ImageLayout };
    const shape = [1, 3, 160, 160];   // 76,800 elements at one invocation per workgroup
    await checkOp(rt(), {
      name: 'spaceToDepth folded grid', inputs: [{ data: randn(numel(shape), 7), shape }],
      run: ([x]) => spaceToDepth(x!, 4, 'NCHW', { workgroupSize: 1 }),
      ref: ([x]) => spaceToDepthRef(x!, c, 4, 'NCHW'),
      refBackward: (_, g) => [spaceToDepthRefBackward(g, c, 4, 'NCHW')],
      fwdTol: EXACT,
    });
  });
  it('i32 tensors', async () => {
    const data = Float64Array.from({ length: 2 * 4 * 4 * 6 }, (_, i) => i * 3 - 100);
    await checkOp(rt(), {
      name: 'spaceToDepth i32', inputs: [{ data, shape: [2, 4, 4, 6], dtype: 'i32' }],
      run: ([x]) => spaceToDepth(x!, 2, 'NHWC'),
      ref: ([x]) => spaceToDepthRef(x!, { b: 2, c: 6, hh: 4, ww: 4 }, 2, 'NHWC'),
      fwdTol: EXACT,
    });
  });
  it('reference backward matches finite differences', () => {
    const dims = { b: 1, c: 2, hh: 4, ww: 6 };
    for (const layout of ['NCHW', 'NHWC'] as ImageLayout[]) {
      checkRefGradient(`s2d ${layout}`, [randn(48, 1)], ([x]) => spaceToDepthRef(x!, dims, 2, layout), (_, g) => [spaceToDepthRefBackward(g, dims, 2, layout)]);
      checkRefGradient(`d2s ${layout}`, [randn(48, 2)], ([x]) => depthToSpaceRef(x!, dims, 2, layout), (_, g) => [depthToSpaceRefBackward(g, dims, 2, layout)]);
    }
  });
  it('bad inputs throw errors naming the op', () => {
    const x = rt().tensor(randn(2 * 3 * 6 * 8, 1), [2, 3, 6, 8]);
    expect(() => spaceToDepth(x, 4)).toThrow(/spaceToDepth: image 6×8 .* not a multiple of the patch size 4/);
    expect(() => depthToSpace(x, 3)).toThrow(/depthToSpace: .* 8 channels, not a multiple of P·P = 9/);
    const x3 = rt().tensor(randn(6, 1), [2, 3]);
    expect(() => patchify(x3)).toThrow(/spaceToDepth: .* must be rank 4/);
    expect(() => spaceToDepth(x, 2, 'NCWH' as ImageLayout)).toThrow(/spaceToDepth: layout NCWH/);
    x.release();
    x3.release();
  });
});

// ---- Swin patch merging ----------------------------------------------------------------------------

/** (B, H, W, C): Swin-B stage maps at 224 and 512 px (channels cut to keep the suite quick), odd maps from 200 px, edge cases. */
const MERGE_CASES: number[][] = [
  [1, 56, 56, 16], [2, 28, 28, 8], [1, 14, 14, 32], [1, 128, 128, 4], [1, 64, 64, 8], [1, 32, 32, 16],
  [1, 50, 50, 4], [2, 25, 25, 6], [1, 13, 13, 4], [2, 7, 7, 5],
  [1, 1, 1, 3], [1, 3, 4, 2], [1, 4, 3, 2], [2, 1, 5, 3], [1, 2, 2, 1],
];

describe.each(PRECISIONS)('patchMerge (%s)', (precision) => {
  for (const [ci, shape] of MERGE_CASES.entries()) {
    const [b, h, w, c] = shape as [number, number, number, number];
    it(`[${shape}]`, async () => {
      await checkOp(rt(), {
        name: `patchMerge [${shape}]`,
        inputs: [{ data: randn(numel(shape), 200 + ci), shape }],
        run: ([x]) => {
          const y = patchMerge(x!);
          expect(y.shape).toEqual([b, Math.ceil(h / 2), Math.ceil(w / 2), 4 * c]);
          return y;
        },
        ref: ([x]) => patchMergeRef(x!, b, h, w, c),
        refBackward: (_, g) => [patchMergeRefBackward(g, b, h, w, c)],
        fwdTol: EXACT,
        f16: { fwdTol: EXACT, gradTol: EXACT },
      }, precision);
    });
  }
  it('block order: block 1 is the odd row, block 2 the odd column', async () => {
    // x[0, y, x, 0] = 10·y + x on a 2×2 map: the merged token is [x00, x10, x01, x11] = [0, 10, 1, 11].
    const x = rt().tensor([0, 1, 10, 11], [1, 2, 2, 1]);
    const y = patchMerge(x);
    expect(Array.from(await y.read())).toEqual([0, 10, 1, 11]);
    x.release();
    y.release();
  });
  it('patchMergeBackward is itself differentiable (its adjoint is patchMerge)', async () => {
    const [b, h, w, c] = [1, 5, 3, 2];
    const outShape = [b, 3, 2, 4 * c];
    await checkOp(rt(), {
      name: 'patchMergeBackward [1,5,3,2]',
      inputs: [{ data: randn(numel(outShape), 9), shape: outShape }],
      run: ([g]) => patchMergeBackward(g!, h, w),
      ref: ([g]) => patchMergeRefBackward(g!, b, h, w, c),
      refBackward: (_, g) => [patchMergeRef(g, b, h, w, c)],
      fwdTol: EXACT,
    });
  });
  it('reference backward matches finite differences', () => {
    checkRefGradient('patchMerge [1,3,5,2]', [randn(30, 4)], ([x]) => patchMergeRef(x!, 1, 3, 5, 2), (_, g) => [patchMergeRefBackward(g, 1, 3, 5, 2)]);
  });
  it('bad inputs throw errors naming the op', () => {
    const x = rt().tensor(randn(24, 1), [2, 3, 4]);
    expect(() => patchMerge(x)).toThrow(/patchMerge: .* must be rank 4/);
    const g = rt().tensor(randn(2 * 2 * 2 * 8, 1), [2, 2, 2, 8]);
    expect(() => patchMergeBackward(g, 5, 4)).toThrow(/patchMergeBackward: .* not the merge of a 5×4 map/);
    x.release();
    g.release();
  });
});
