// LaPa's RoI tanh warp (src/model/warp.ts): the host maths against float64 references written here
// from the spec's formulas, then the whole warped model (warp, network, inverse warp) against
// PyTorch: the committed case tests/fixtures/tiny64_lapa (tools/reference/gen.py --backbone tiny
// --dataset lapa --res 64 --batch 2 --seed 1 --landmarks jitter --no-weights --no-block-acts
// --max-elems 1024; tensors over 1024 elements are stored strided, see gen.py).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/model/config.js';
import { syntheticParams } from '../../src/model/params.js';
import { loadCase, runCase, type CaseResult } from '../../src/model/reference_case.js';
import { segfaceForward } from '../../src/model/segface.js';
import {
  inverseWarpGrid, lapaFivePoints, lapaTemplate, LAPA_TEMPLATE_512, similarityToTemplate, warpGrid, warpGrids,
} from '../../src/model/warp.js';
import { rng, useRuntime } from '../harness.js';

const rt = useRuntime();
const fixture = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'tiny64_lapa');

// ---- float64 references from the spec -------------------------------------------------------------

/**
 * The least-squares similarity by its normal equations (independent of the closed form): unknowns
 * (a, b, tx, ty); each point gives the rows [sx, sy, 1, 0]·u = dx and [sy, −sx, 0, 1]·u = dy.
 */
function similarityRef(src: ArrayLike<number>, dst: ArrayLike<number>): number[] {
  const ata = Array.from({ length: 4 }, () => [0, 0, 0, 0, 0]);
  for (let k = 0; k < 5; k++) {
    const sx = src[2 * k]!, sy = src[2 * k + 1]!;
    for (const [row, rhs] of [[[sx, sy, 1, 0], dst[2 * k]!], [[sy, -sx, 0, 1], dst[2 * k + 1]!]] as [number[], number][]) {
      for (let i = 0; i < 4; i++) {
        for (let j = 0; j < 4; j++) ata[i]![j]! += row[i]! * row[j]!;
        ata[i]![4]! += row[i]! * rhs;
      }
    }
  }
  // Gauss–Jordan with partial pivoting on the augmented 4×5 system.
  for (let c = 0; c < 4; c++) {
    const piv = [c, c + 1, c + 2, c + 3].filter((r) => r < 4).reduce((m, r) => (Math.abs(ata[r]![c]!) > Math.abs(ata[m]![c]!) ? r : m), c);
    [ata[c], ata[piv]] = [ata[piv]!, ata[c]!];
    for (let r = 0; r < 4; r++) {
      if (r === c) continue;
      const f = ata[r]![c]! / ata[c]![c]!;
      for (let j = c; j < 5; j++) ata[r]![j]! -= f * ata[c]![j]!;
    }
  }
  const [a, b, tx, ty] = ata.map((row, i) => row[4]! / row[i]!) as [number, number, number, number];
  return [a, b, tx, -b, a, ty, 0, 0, 1];
}

/** Spec's warp grid at output pixel (x, y): M⁻¹ applied by solving the 2×2 system M_2x2·q = p − t. */
function warpGridRef(m: number[], res: number, x: number, y: number): [number, number] {
  const expand = (c: number): number => {
    const clamp = (v: number): number => Math.min(0.999, Math.max(-0.999, v));
    return c > 0.2 ? Math.atanh(clamp((c - 0.2) / 0.8)) * 0.8 + 0.2 : c < -0.2 ? Math.atanh(clamp((c + 0.2) / 0.8)) * 0.8 - 0.2 : c;
  };
  const px = ((expand((x / res) * 2 - 1) + 1) / 2) * res - m[2]!;
  const py = ((expand((y / res) * 2 - 1) + 1) / 2) * res - m[5]!;
  const det = m[0]! * m[4]! - m[1]! * m[3]!;
  const qx = (px * m[4]! - py * m[1]!) / det, qy = (py * m[0]! - px * m[3]!) / det;
  return [(qx / res) * 2 - 1, (qy / res) * 2 - 1];
}

/** Spec's inverse grid at input pixel (x, y), with the official ((c + 1)/2·res)/res·2 − 1 round trip. */
function inverseGridRef(m: number[], res: number, x: number, y: number): [number, number] {
  const squash = (c: number): number => (c > 0.2 ? Math.tanh((c - 0.2) / 0.8) * 0.8 + 0.2 : c < -0.2 ? Math.tanh((c + 0.2) / 0.8) * 0.8 - 0.2 : c);
  const p = [m[0]! * x + m[1]! * y + m[2]!, m[3]! * x + m[4]! * y + m[5]!];
  return p.map((v) => (((squash((v / res) * 2 - 1) + 1) / 2) * res) / res * 2 - 1) as [number, number];
}

/** Landmarks = template under the inverse of a known similarity (rotation θ, scale s, shift t), plus optional noise. */
function posedLandmarks(res: number, seed: number, noise: number): Float64Array {
  const r = rng(seed);
  const th = (r() - 0.5) * 1.2, s = 0.6 + r() * 0.8, tx = (r() - 0.5) * res * 0.3, ty = (r() - 0.5) * res * 0.3;
  const t = lapaTemplate(res);
  const out = new Float64Array(10);
  for (let k = 0; k < 5; k++) {
    const x = t[2 * k]! - res / 2, y = t[2 * k + 1]! - res / 2;
    out[2 * k] = s * (Math.cos(th) * x - Math.sin(th) * y) + res / 2 + tx + noise * (r() - 0.5) * res;
    out[2 * k + 1] = s * (Math.sin(th) * x + Math.cos(th) * y) + res / 2 + ty + noise * (r() - 0.5) * res;
  }
  return out;
}

/** One float32 rounding of a float64 value: |got − want| <= 2^-24·|want| (plus float64 noise). */
function expectF32Rounding(what: string, got: number, want: number): void {
  expect(Math.abs(got - want), `${what}: ${got} vs ${want}`).toBeLessThanOrEqual(2 ** -24 * Math.abs(want) * (1 + 1e-9) + 1e-14);
}

// ---- host maths ---------------------------------------------------------------------------------

describe('LaPa warp: host maths against the spec formulas (float64)', () => {
  it('template T = P·(res − 1)/512', () => {
    const t = lapaTemplate(64);
    expect(Array.from(t)).toEqual(LAPA_TEMPLATE_512.flatMap(([x, y]) => [(x * 63) / 512, (y * 63) / 512]));
  });
  it('M maps a pure similarity of the template onto T exactly, and equals the normal-equation solution with noise', () => {
    for (const [seed, res] of [[1, 64], [2, 512], [3, 224]] as const) {
      const src = posedLandmarks(res, seed, 0);
      const m = similarityToTemplate(src, res);
      const t = lapaTemplate(res);
      for (let k = 0; k < 5; k++) {
        const x = m[0]! * src[2 * k]! + m[1]! * src[2 * k + 1]! + m[2]!, y = m[3]! * src[2 * k]! + m[4]! * src[2 * k + 1]! + m[5]!;
        expect(Math.abs(x - t[2 * k]!) + Math.abs(y - t[2 * k + 1]!), `res ${res} landmark ${k}`).toBeLessThan(1e-10 * res);
      }
      const noisy = posedLandmarks(res, seed + 10, 0.05);
      const got = similarityToTemplate(noisy, res), want = similarityRef(noisy, t);
      for (let i = 0; i < 9; i++) expect(Math.abs(got[i]! - want[i]!), `M[${i}]`).toBeLessThan(1e-12 * (1 + Math.abs(want[i]!)));
      expect(Array.from(got.slice(6))).toEqual([0, 0, 1]);
    }
  });
  it('warp and inverse grids at corner, centre, RoI-boundary and random pixels: one float32 rounding of the float64 value', () => {
    const r = rng(7);
    for (const [seed, res] of [[4, 64], [5, 40], [6, 512]] as const) {
      const src = posedLandmarks(res, seed, 0.04);
      const m = Array.from(similarityToTemplate(src, res));
      const grid = warpGrid(m, res, res, res);
      const inv = inverseWarpGrid(m, res, res, res);
      const edge = Math.round(0.6 * res), pixels: [number, number][] = [[0, 0], [res - 1, res - 1], [res >> 1, res >> 1], [edge, 3], [edge - 1, res - 2]];
      for (let i = 0; i < 20; i++) pixels.push([Math.floor(r() * res), Math.floor(r() * res)]);
      for (const [x, y] of pixels) {
        const at = 2 * (y * res + x);
        const g = warpGridRef(m, res, x, y), h = inverseGridRef(m, res, x, y);
        for (let d = 0; d < 2; d++) {
          expectF32Rounding(`res ${res} grid (${x}, ${y})[${d}]`, grid[at + d]!, g[d]!);
          expectF32Rounding(`res ${res} inverse grid (${x}, ${y})[${d}]`, inv[at + d]!, h[d]!);
        }
      }
    }
  });
  it('warpGrids stacks per-image grids; errors name the op', () => {
    const a = posedLandmarks(32, 8, 0.02), b = posedLandmarks(32, 9, 0.02);
    const { grid, inv } = warpGrids(Float32Array.from([...a, ...b]), 2, 32);
    const mb = similarityToTemplate(Float32Array.from(b), 32);
    expect(Array.from(grid.subarray(32 * 32 * 2))).toEqual(Array.from(warpGrid(mb, 32, 32, 32)));
    expect(Array.from(inv.subarray(32 * 32 * 2))).toEqual(Array.from(inverseWarpGrid(mb, 32, 32, 32)));
    expect(() => warpGrids(new Float32Array(10), 2, 32)).toThrow(/warpGrids: landmarks hold 10 numbers, expected \(B, 5, 2\) = 20/);
    expect(() => similarityToTemplate(new Float32Array(10).fill(3), 32)).toThrow(/similarityToTemplate: the 5 landmarks coincide/);
    expect(() => similarityToTemplate([1, 2, 3, 4, 5, 6, 7, 8, 9, NaN], 32)).toThrow(/similarityToTemplate: landmark 4 has a non-finite/);
  });
  it('the 5 points of LaPa-106: mean of 74 & 104, mean of 83 & 105, 54, 84, 90', () => {
    const pts = Float64Array.from({ length: 212 }, (_, i) => i * 10 + (i % 2));
    const p = (i: number): [number, number] => [pts[2 * i]!, pts[2 * i + 1]!];
    const want = [[p(74), p(104)], [p(83), p(105)], [p(54), p(54)], [p(84), p(84)], [p(90), p(90)]]
      .flatMap(([u, v]) => [(u![0] + v![0]) / 2, (u![1] + v![1]) / 2]);
    expect(Array.from(lapaFivePoints(pts))).toEqual(want);
    expect(() => lapaFivePoints(new Float64Array(210))).toThrow(/210 numbers, expected 212/);
  });
});

describe('LaPa warp on the GPU: forward options', () => {
  it('refuses landmarks for a non-LaPa model, a wrong count, a non-square image', () => {
    const r = rt();
    const celeb = syntheticParams(r, makeConfig('tiny', 'celeb'), 1);
    const lapa = syntheticParams(r, makeConfig('tiny', 'lapa'), 1);
    const lm = Float32Array.from(posedLandmarks(32, 1, 0));
    r.withoutGrad(() => r.scope(() => {
      const img = r.tensor(new Float32Array(3 * 32 * 32), [1, 3, 32, 32]);
      expect(() => segfaceForward(celeb, img, { landmarks: lm })).toThrow(/only LaPa models warp \(this model is celeb\)/);
      expect(() => segfaceForward(lapa, img, { landmarks: new Float32Array(20) })).toThrow(/lapaWarp: landmarks hold 20 numbers, expected \(B, 5, 2\) = 10/);
      const wide = r.tensor(new Float32Array(3 * 32 * 48), [1, 3, 32, 48]);
      expect(() => segfaceForward(lapa, wide, { landmarks: lm })).toThrow(/lapaWarp: image .* must be square/);
    }));
    celeb.release();
    lapa.release();
  });
});

// ---- the whole warped model against PyTorch -----------------------------------------------------

// Gradients that are exactly zero by softmax shift invariance (spec): rounding noise on both sides,
// compared absolutely (as tests/model/segface.test.ts).
const ZERO_BY_INVARIANCE = /k_proj\.bias$|output_hypernetwork_mlps\.layers\.2\.bias$/;

describe('SegFace LaPa tiny, warped (64 px, batch 2) against PyTorch 1.13 / torchvision 0.14', () => {
  let result: CaseResult;
  const c = loadCase(fixture);
  it('runs forward and backward through warp and inverse warp', async () => {
    expect(c.manifest.warp?.kind).toBe('lapa_roi_tanh');
    expect(c.inputs.get('landmarks')?.shape).toEqual([2, 5, 2]);
    result = await runCase(rt(), c);
    expect(result.activations.map((a) => a.name)).toEqual(expect.arrayContaining(['warp.grid', 'warp.inv_grid', 'warp.image', 'logits', 'warp.logits']));
    expect(result.activations.length).toBe(Object.keys(c.manifest.activations).length);
  }, 120_000);
  it('loss equals the reference (relative 1e-6)', () => {
    for (const k of ['total', 'ce', 'dice'] as const) {
      expect(Math.abs(result.loss[k] - c.manifest.loss[k]) / c.manifest.loss[k], k).toBeLessThan(1e-6);
    }
  });
  it('every activation (grids, warped image, net logits, un-warped logits) within relative L2 1e-5', () => {
    const worst = result.activations.reduce((m, a) => (a.relL2 > m.relL2 ? a : m));
    console.log(`tiny64_lapa: worst activation ${worst.name} ${worst.relL2.toExponential(2)}; ` +
      result.activations.filter((a) => a.name.startsWith('warp.')).map((a) => `${a.name} ${a.relL2.toExponential(2)}`).join(', '));
    for (const a of result.activations) expect(a.relL2, a.name).toBeLessThan(1e-5);
  });
  it('every gradient within relative L2 1e-4; invariance zeros absolutely 1e-8', () => {
    expect(result.gradients.length).toBe(c.grads.size);
    const rel = result.gradients.filter((g) => !ZERO_BY_INVARIANCE.test(g.name));
    const worst = rel.reduce((m, g) => (g.relL2 > m.relL2 ? g : m));
    const worstAbs = Math.max(...result.gradients.filter((g) => ZERO_BY_INVARIANCE.test(g.name)).map((g) => g.relL2 * g.norm));
    console.log(`tiny64_lapa: ${rel.length} gradients, worst ${worst.name} ${worst.relL2.toExponential(2)}; invariance zeros <= ${worstAbs.toExponential(2)}`);
    for (const g of result.gradients) {
      if (ZERO_BY_INVARIANCE.test(g.name)) expect(g.relL2 * g.norm, g.name).toBeLessThan(1e-8);
      else expect(g.relL2, g.name).toBeLessThan(1e-4);
    }
    expect(result.noGrad).toEqual(['backbone.1.bias', 'backbone.1.weight']);
  });
});
