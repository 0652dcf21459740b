import { describe, expect, it } from 'vitest';
import { gridSample, positionalEncoding, resizeBilinear, resizeBilinearBackward } from '../src/runtime/ops/resample.js';
import type { ImageLayout } from '../src/runtime/ops/vision.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { checkOp, checkRefGradient, expectClose, numel, PRECISIONS, randn, useRuntime } from './harness.js';
import {
  gridSampleBackwardStats, gridSampleRef, gridSampleRefBackward, posEncodingRef, resizeRef, resizeRefBackward, resizeTaps, tokensToNchw,
  unnormalize, type Image,
} from '../src/runtime/reference/resample.js';

const rt = useRuntime();
/** f32 unit roundoff. */
const U = 2 ** -24;
// A handful (<= 16) of f32 roundings of sums of products of values of magnitude <= 1: 16·U < 1e-6.
const ARITH = 1e-6;
const EXACT = { atol: 0, rtol: 0 };

// ---- bilinear resize ------------------------------------------------------------------------------

interface ResizeCase { b: number; c: number; h: number; w: number; oh: number; ow: number; layout: ImageLayout }

/**
 * Neck upsamplings of Swin-B stage maps to stage-1 size (224 px: 28/14/7 -> 56; 512 px: 64/32/16
 * -> 128; 200 px: 25/13/7 -> 50; 21 -> 133 and 4 -> 32 from the brief), odd and non-square sizes,
 * downsampling, one-pixel maps, and sizes whose sample points fall exactly on input pixels
 * (9 -> 3, 3 -> 1, 4 -> 12 where s = (d − 1)/3 is an integer at d = 1, 4, 7 up to f32 rounding).
 */
const RESIZE_CASES: ResizeCase[] = [
  { b: 2, c: 3, h: 28, w: 28, oh: 56, ow: 56, layout: 'NCHW' },
  { b: 1, c: 4, h: 14, w: 14, oh: 56, ow: 56, layout: 'NCHW' },
  { b: 2, c: 3, h: 7, w: 7, oh: 56, ow: 56, layout: 'NCHW' },
  { b: 1, c: 2, h: 16, w: 16, oh: 128, ow: 128, layout: 'NCHW' },
  { b: 1, c: 8, h: 64, w: 64, oh: 128, ow: 128, layout: 'NHWC' },
  { b: 1, c: 8, h: 32, w: 32, oh: 128, ow: 128, layout: 'NHWC' },
  { b: 2, c: 5, h: 7, w: 7, oh: 56, ow: 56, layout: 'NHWC' },
  { b: 1, c: 3, h: 25, w: 25, oh: 50, ow: 50, layout: 'NCHW' },
  { b: 1, c: 3, h: 13, w: 13, oh: 50, ow: 50, layout: 'NHWC' },
  { b: 1, c: 3, h: 7, w: 7, oh: 50, ow: 50, layout: 'NCHW' },
  { b: 1, c: 2, h: 21, w: 21, oh: 133, ow: 133, layout: 'NCHW' },
  { b: 2, c: 3, h: 4, w: 4, oh: 32, ow: 32, layout: 'NCHW' },
  { b: 1, c: 3, h: 5, w: 7, oh: 12, ow: 9, layout: 'NCHW' },
  { b: 1, c: 3, h: 5, w: 7, oh: 12, ow: 9, layout: 'NHWC' },
  { b: 1, c: 4, h: 13, w: 11, oh: 7, ow: 4, layout: 'NCHW' },
  { b: 1, c: 2, h: 9, w: 9, oh: 3, ow: 3, layout: 'NHWC' },
  { b: 2, c: 2, h: 3, w: 3, oh: 1, ow: 1, layout: 'NCHW' },
  { b: 1, c: 3, h: 4, w: 4, oh: 12, ow: 12, layout: 'NCHW' },
  { b: 1, c: 3, h: 1, w: 1, oh: 3, ow: 5, layout: 'NCHW' },
  { b: 1, c: 3, h: 6, w: 8, oh: 6, ow: 24, layout: 'NCHW' },   // one axis unchanged
  { b: 2, c: 3, h: 56, w: 56, oh: 56, ow: 56, layout: 'NHWC' }, // identity (stage 1): exact copy
  { b: 2, c: 40, h: 5, w: 3, oh: 9, ow: 8, layout: 'NHWC' },    // NHWC: 64-lane workgroups, 24 idle
  { b: 1, c: 300, h: 3, w: 5, oh: 7, ow: 4, layout: 'NHWC' },   // NHWC: two channel chunks per pixel, the second partial
];

/**
 * Backward bound for dx[k]: a sum of at most n = ny·nx terms |w·g| <= wy·wx (|g| <= 1), nested as
 * Σ_y wy·(Σ_x wx·g); recursive f32 summation errs by <= (terms − 1)·U·Σ|terms|, so
 * <= (ny + nx + 2)·U·Sy·Sx with ny, nx the outputs reading one input along each axis
 * (<= 2·ceil(out/in) + 2) and Sy, Sx the total weight one input receives (<= out/in + 1).
 */
function resizeGradTol(c: ResizeCase): { atol: number; rtol: number } {
  const ny = 2 * Math.ceil(c.oh / c.h) + 2;
  const nx = 2 * Math.ceil(c.ow / c.w) + 2;
  const sy = c.oh / c.h + 1;
  const sx = c.ow / c.w + 1;
  return { atol: ARITH + (ny + nx + 2) * U * sy * sx, rtol: 0 };
}

const shapeOf = (layout: ImageLayout, b: number, c: number, h: number, w: number): number[] => (layout === 'NCHW' ? [b, c, h, w] : [b, h, w, c]);

describe('resizeBilinear', () => {
  // f16 (the resize's f16 build): input and d(output) rounded to f16 for the reference, the same
  // f32 maths, one rounding of the output / dx (f16Tol); the identity stays an exact copy
  for (const precision of PRECISIONS) for (const [ci, c] of RESIZE_CASES.entries()) {
    const inp: Image = { b: c.b, c: c.c, h: c.h, w: c.w };
    const identity = c.h === c.oh && c.w === c.ow;
    it(`${c.layout} ${c.h}×${c.w} -> ${c.oh}×${c.ow} (B ${c.b}, C ${c.c}, ${precision})`, async () => {
      const shape = shapeOf(c.layout, c.b, c.c, c.h, c.w);
      await checkOp(rt(), {
        name: `resize ${c.layout} ${c.h}×${c.w}->${c.oh}×${c.ow}`,
        inputs: [{ data: randn(numel(shape), 300 + ci), shape }],
        run: ([x]) => {
          const y = resizeBilinear(x!, [c.oh, c.ow], c.layout);
          expect(y.shape).toEqual(shapeOf(c.layout, c.b, c.c, c.oh, c.ow));
          return y;
        },
        ref: ([x]) => resizeRef(x!, c.layout, inp, c.oh, c.ow),
        refBackward: (_, g) => [resizeRefBackward(g, c.layout, inp, c.oh, c.ow)],
        // Identical sample positions (host tables) and weights; the interpolation is a few f32 roundings.
        fwdTol: identity ? EXACT : { atol: ARITH, rtol: 0 },
        gradTol: identity ? EXACT : resizeGradTol(c),
        ...(identity ? { f16: { fwdTol: EXACT, gradTol: EXACT } } : {}),
        seed: ci,
      }, precision);
    });
  }
  it('more than 65535 workgroups (grid folded into y), forward and backward', async () => {
    const inp: Image = { b: 1, c: 24, h: 7, w: 7 };
    const shape = [1, 7, 7, 24];   // output 56·56·24 = 75,264 elements at one invocation per workgroup
    await checkOp(rt(), {
      name: 'resize folded grid', inputs: [{ data: randn(numel(shape), 8), shape }],
      run: ([x]) => resizeBilinear(x!, [56, 56], 'NHWC', { workgroupSize: 1 }),
      ref: ([x]) => resizeRef(x!, 'NHWC', inp, 56, 56),
      refBackward: (_, g) => [resizeRefBackward(g, 'NHWC', inp, 56, 56)],
      fwdTol: { atol: ARITH, rtol: 0 },
      gradTol: resizeGradTol({ ...inp, oh: 56, ow: 56, layout: 'NHWC' }),
    });
  });
  it('factor-2 upsampling samples at quarter pixels (hand-checked)', async () => {
    // 1×2 -> 1×4 along x: s = 0.5·(d + 0.5) − 0.5 = −0.25 (clamped to 0), 0.25, 0.75, 1.25 (lo = 1 = in − 1).
    const x = rt().tensor([1, 5], [1, 1, 1, 2]);
    const y = resizeBilinear(x, [1, 4]);
    expect(Array.from(await y.read())).toEqual([1, 2, 4, 5]);
    x.release();
    y.release();
  });
  it('exact-integer sample points land on input pixels', () => {
    // 9 -> 3: s = 3d + 1 exactly; 3 -> 1: s = 1 exactly.
    expect(resizeTaps(9, 3).map((t) => [t.lo, t.l1])).toEqual([[1, 0], [4, 0], [7, 0]]);
    expect(resizeTaps(3, 1).map((t) => [t.lo, t.l1])).toEqual([[1, 0]]);
  });
  it('resizeBilinearBackward is differentiable (its adjoint is the resize)', async () => {
    const inp: Image = { b: 1, c: 2, h: 5, w: 3 };
    const outShape = [1, 2, 9, 7];
    await checkOp(rt(), {
      name: 'resizeBilinearBackward 9×7 -> 5×3',
      inputs: [{ data: randn(numel(outShape), 77), shape: outShape }],
      run: ([g]) => resizeBilinearBackward(g!, [5, 3]),
      ref: ([g]) => resizeRefBackward(g!, 'NCHW', inp, 9, 7),
      refBackward: (_, g) => [resizeRef(g, 'NCHW', inp, 9, 7)],
      fwdTol: { atol: 1e-5, rtol: 0 },
    });
  });
  it('reference backward matches finite differences', () => {
    for (const layout of ['NCHW', 'NHWC'] as ImageLayout[]) {
      const inp: Image = { b: 1, c: 2, h: 3, w: 4 };
      checkRefGradient(`resize ${layout} up`, [randn(24, 5)], ([x]) => resizeRef(x!, layout, inp, 7, 9), (_, g) => [resizeRefBackward(g, layout, inp, 7, 9)]);
      checkRefGradient(`resize ${layout} down`, [randn(24, 6)], ([x]) => resizeRef(x!, layout, inp, 2, 3), (_, g) => [resizeRefBackward(g, layout, inp, 2, 3)]);
    }
  });
  it('bad inputs throw errors naming the op', () => {
    const x = rt().tensor(randn(12, 1), [1, 3, 4]);
    expect(() => resizeBilinear(x, [2, 2])).toThrow(/resizeBilinear: .* must be rank 4/);
    const x4 = rt().tensor(randn(12, 1), [1, 1, 3, 4]);
    expect(() => resizeBilinear(x4, [0, 2])).toThrow(/resizeBilinear: size \[0, 2\] must be two positive integers/);
    x.release();
    x4.release();
  });
});

// ---- grid_sample ----------------------------------------------------------------------------------

interface GridCase { name: string; inp: Image; oh: number; ow: number; grid: Float64Array }

/** Grid (B, oh, ow, 2) of uniform values in [lo, hi). */
const randomGrid = (b: number, oh: number, ow: number, seed: number, lo: number, hi: number): Float64Array => randn(b * oh * ow * 2, seed, lo, hi);

/** The grid that samples pixel centres of an (h, w) map scaled by `zoom` about the centre (zoom 1: identity). */
function zoomGrid(b: number, oh: number, ow: number, zoom: number, jitter = 0, seed = 1): Float64Array {
  const g = new Float64Array(b * oh * ow * 2);
  const r = randn(g.length, seed, -jitter, jitter);
  for (let bi = 0; bi < b; bi++)
    for (let y = 0; y < oh; y++)
      for (let x = 0; x < ow; x++) {
        const i = ((bi * oh + y) * ow + x) * 2;
        g[i] = Math.fround(((2 * x + 1) / ow - 1) * zoom + r[i]!);
        g[i + 1] = Math.fround(((2 * y + 1) / oh - 1) * zoom + r[i + 1]!);
      }
  return g;
}

/** Grid values g = (2k + 1)/size − 1 hit pixel k exactly (size a power of two: exact in f32); some fall outside. */
function integerGrid(b: number, oh: number, ow: number, h: number, w: number, seed: number): Float64Array {
  const r = randn(b * oh * ow * 2, seed, 0, 1);
  return r.map((v, i) => {
    const size = i % 2 === 0 ? w : h;
    const k = Math.floor(v * (size + 4)) - 2;   // -2 .. size + 1: includes out-of-range pixels
    return Math.fround((2 * k + 1) / size - 1);
  });
}

const GRID_CASES: GridCase[] = [
  { name: 'random grid in [-1.3, 1.3] (out of range)', inp: { b: 2, c: 3, h: 8, w: 10 }, oh: 6, ow: 7, grid: randomGrid(2, 6, 7, 11, -1.3, 1.3) },
  { name: 'far out of range and boundaries', inp: { b: 1, c: 2, h: 5, w: 6 }, oh: 4, ow: 5,
    grid: Float64Array.from([-1, -1, 1, 1, -1, 1, 1, -1, 0, 0, -5, 0.3, 7, -0.2, 0.4, -9, 1e6, -1e6, -1.1, -1.1,
      1.05, 0.99, -0.95, 1.1, 0.5, 0.5, -0.5, -0.5, 0.999, -0.999, 1.2, 1.2, -1.2, 0, 0, 1.15, 0.25, -1.05, -1.0001, 1.0001]) },
  { name: 'exact-integer sample points', inp: { b: 2, c: 3, h: 16, w: 8 }, oh: 5, ow: 9, grid: integerGrid(2, 5, 9, 16, 8, 12) },
  { name: 'identity grid', inp: { b: 1, c: 3, h: 12, w: 12 }, oh: 12, ow: 12, grid: zoomGrid(1, 12, 12, 1) },
  { name: '2x upsampling grid (many outputs per input pixel)', inp: { b: 1, c: 3, h: 8, w: 8 }, oh: 16, ow: 16, grid: zoomGrid(1, 16, 16, 1) },
  { name: 'LaPa-like warp: 11 classes at 64 px, zoom 0.8 with jitter', inp: { b: 2, c: 11, h: 64, w: 64 }, oh: 64, ow: 64, grid: zoomGrid(2, 64, 64, 0.8, 0.05, 3) },
  { name: 'RGB image warp at 128 px, zoom 1.3 (partly outside)', inp: { b: 1, c: 3, h: 128, w: 128 }, oh: 128, ow: 128, grid: zoomGrid(1, 128, 128, 1.3, 0.02, 4) },
];

/**
 * A device may fuse (g + 1)·size − 1 into one FMA: the unnormalised coordinate then differs by up
 * to one f32 rounding, U·((|g| + 1)·size + 1), after the halving; each bilinear weight moves by at
 * most that per axis, so an output (|x| <= 1) by <= 2·2·Δ.
 */
function gridSlack(c: GridCase): number {
  let worst = 0;
  for (let i = 0; i < c.grid.length; i++) {
    const size = i % 2 === 0 ? c.inp.w : c.inp.h;
    const g = Math.abs(c.grid[i]!);
    if (g < 2) worst = Math.max(worst, U * ((g + 1) * size + 1));   // farther out, every corner is outside
  }
  return 4 * worst;
}

describe('gridSample', () => {
  // f16 (the f16 build): image and d(output) rounded to f16 for the reference, the grid kept f32;
  // the same f32 maths and f32 scatter, then one rounding of the output / dx to f16 (f16Tol)
  for (const precision of PRECISIONS) for (const [ci, c] of GRID_CASES.entries()) {
    it(`${c.name} (${precision})`, async () => {
      const xShape = [c.inp.b, c.inp.c, c.inp.h, c.inp.w];
      const dOutSeed = ci + 1000;   // checkOp draws dOut with seed (c.seed ?? 1) + 1000, and c.seed = ci
      const dOut = randn(c.inp.b * c.inp.c * c.oh * c.ow, dOutSeed);
      const stats = gridSampleBackwardStats(dOut, c.grid, c.inp, c.oh, c.ow);
      const slack = gridSlack(c);
      await checkOp(rt(), {
        name: `gridSample ${c.name}`,
        inputs: [{ data: randn(numel(xShape), 400 + ci), shape: xShape }, { data: c.grid, shape: [c.inp.b, c.oh, c.ow, 2], dtype: 'f32', grad: false }],
        run: ([x, grid]) => gridSample(x!, grid!),
        ref: ([x, grid]) => gridSampleRef(x!, grid!, c.inp, c.oh, c.ow),
        refBackward: ([, grid], g) => [gridSampleRefBackward(g, grid!, c.inp, c.oh, c.ow), new Float64Array(0)],
        fwdTol: { atol: ARITH + slack, rtol: 0 },
        // dx: a sum of maxTerms products in unspecified (atomic) order: <= maxTerms·U·Σ|w·g| each
        // for the sum and one rounding per product, plus the FMA slack per term.
        gradTol: { atol: ARITH + (stats.maxTerms + 1) * U * stats.maxAbsSum + stats.maxTerms * slack, rtol: 0 },
        seed: ci,
      }, precision);
    });
  }
  it('an f16 grid is widened: the same samples as its f32 values', async () => {
    const c = GRID_CASES[0]!;
    const x = rt().tensor(randn(c.inp.b * c.inp.c * c.inp.h * c.inp.w, 7), [c.inp.b, c.inp.c, c.inp.h, c.inp.w], 'f16');
    const g16 = rt().tensor(c.grid, [c.inp.b, c.oh, c.ow, 2], 'f16');
    if (!rt().device.hasF16) {
      expect(() => gridSample(x, g16)).toThrow(/shader-f16/);
      for (const t of [x, g16]) t.release();
      return;
    }
    const g32 = rt().tensor(await g16.read(), [c.inp.b, c.oh, c.ow, 2]);
    const a = gridSample(x, g16);
    const b = gridSample(x, g32);
    expect(a.dtype).toBe('f16');
    expectClose('f16 grid against its f32 values', await a.read(), await b.read(), EXACT);
    for (const t of [x, g16, g32, a, b]) t.release();
  });
  it('a pixel-centre grid returns the input exactly up to rounding', async () => {
    const x = rt().tensor(randn(2 * 16 * 8, 5), [1, 2, 16, 8]);
    const grid = rt().tensor(zoomGrid(1, 16, 8, 1), [1, 16, 8, 2]);
    const y = gridSample(x, grid);
    expectClose('identity grid_sample', await y.read(), randn(2 * 16 * 8, 5), { atol: ARITH, rtol: 0 });
    for (const t of [x, grid, y]) t.release();
  });
  it('unnormalize is PyTorch align_corners=False (−1 -> −0.5, 1 -> size − 0.5)', () => {
    expect(unnormalize(-1, 10)).toBe(-0.5);
    expect(unnormalize(1, 10)).toBe(9.5);
  });
  it('refuses a grid that requires a gradient', () => {
    const x = rt().tensor(randn(8, 1), [1, 2, 2, 2]);
    const grid = rt().tensor(randn(8, 2), [1, 2, 2, 2]);
    x.requiresGrad = true;
    grid.requiresGrad = true;
    expect(() => gridSample(x, grid)).toThrow(/gridSample: grid .* requires a gradient/);
    const bad = rt().tensor(randn(12, 2), [1, 2, 2, 3]);
    expect(() => gridSample(x, bad)).toThrow(/gridSample: grid .* must be \(B, H_out, W_out, 2\)/);
    for (const t of [x, grid, bad]) t.release();
  });
  it('reference backward matches finite differences', () => {
    const inp: Image = { b: 1, c: 2, h: 4, w: 5 };
    const grid = randomGrid(1, 3, 3, 21, -1.2, 1.2);
    checkRefGradient('gridSample', [randn(40, 8)], ([x]) => gridSampleRef(x!, grid, inp, 3, 3), (_, g) => [gridSampleRefBackward(g, grid, inp, 3, 3)]);
  });
});

// ---- positional encoding -----------------------------------------------------------------------------

/**
 * sin/cos of the f32 argument c are computed to ~1e-7 (ARITH covers them); a device may fuse
 * cx·G0 + cy·G1 into an FMA, moving c by up to one rounding of u and one of c: <= 2^-22·|c|.
 */
const peTol = (maxAbsC: number): { atol: number; rtol: number } => ({ atol: ARITH + 2 ** -22 * maxAbsC, rtol: 0 });

describe('positionalEncoding', () => {
  // Stage-1 map sizes: 224 px (56), 512 px (128), 200 px (50); small, non-square maps; G ~ N(0, 1)
  // in the model: values in [-3, 3] cover it, so |c| reaches ~2π·6.
  const CASES: { h: number; w: number; f: number; layout: 'tokens' | 'NCHW' }[] = [
    { h: 56, w: 56, f: 128, layout: 'tokens' },
    { h: 128, w: 128, f: 128, layout: 'tokens' },
    { h: 50, w: 50, f: 128, layout: 'tokens' },
    { h: 7, w: 13, f: 5, layout: 'tokens' },
    { h: 7, w: 13, f: 5, layout: 'NCHW' },
    { h: 1, w: 1, f: 3, layout: 'NCHW' },
  ];
  for (const [ci, c] of CASES.entries()) {
    it(`${c.layout} ${c.h}×${c.w}, F = ${c.f}`, async () => {
      const gData = randn(2 * c.f, 500 + ci, -3, 3);
      const g = rt().tensor(gData, [2, c.f]);
      const pe = positionalEncoding(g, c.h, c.w, c.layout);
      expect(pe.shape).toEqual(c.layout === 'tokens' ? [c.h * c.w, 2 * c.f] : [1, 2 * c.f, c.h, c.w]);
      const { tokens, maxAbsC } = posEncodingRef(gData, c.h, c.w, c.f);
      const want = c.layout === 'tokens' ? tokens : tokensToNchw(tokens, c.h, c.w, 2 * c.f);
      expectClose(`positionalEncoding ${c.layout} ${c.h}×${c.w}`, await pe.read(), want, peTol(maxAbsC));
      g.release();
      pe.release();
    });
  }
  it('large arguments: |c| up to ~2π·40', async () => {
    const gData = randn(2 * 64, 9, -20, 20);
    const g = rt().tensor(gData, [2, 64]);
    const pe = positionalEncoding(g, 9, 11);
    const { tokens, maxAbsC } = posEncodingRef(gData, 9, 11, 64);
    expect(maxAbsC).toBeGreaterThan(150);
    expectClose('positionalEncoding large |c|', await pe.read(), tokens, peTol(maxAbsC));
    g.release();
    pe.release();
  });
  it('refuses G that requires a gradient', () => {
    const g = rt().tensor(randn(8, 1), [2, 4]);
    g.requiresGrad = true;
    expect(() => positionalEncoding(g, 2, 2)).toThrow(/positionalEncoding: G .* forward only/);
    g.release();
  });
});

describe('memory', () => {
  it('forward + backward and inference release every intermediate (pool back to its starting size)', async () => {
    const r = rt();
    await r.sync();
    const before = r.memory().bytesLive;
    const x = r.tensor(randn(2 * 3 * 5 * 5, 1), [2, 3, 5, 5]);
    x.requiresGrad = true;
    const grid = r.tensor(randomGrid(2, 10, 10, 2, -1.1, 1.1), [2, 10, 10, 2]);
    const g = r.tensor(randn(2 * 4, 3), [2, 4]);
    const run = (): Tensor => {
      const up = resizeBilinear(x, [10, 10]);
      const warped = gridSample(up, grid);
      up.release();
      return warped;
    };
    const y = run();
    const dy = r.tensor(randn(y.size, 4), y.shape);
    r.backward(y, dy);
    const yInfer = r.withoutGrad(run);
    const pe = positionalEncoding(g, 3, 4);
    expect(r.tape.length).toBe(0);
    for (const t of [x.grad!, x, grid, g, y, dy, yInfer, pe]) t.release();
    await r.sync();
    expect(r.memory().bytesLive).toBe(before);
  });
});
