import { describe, expect, it } from 'vitest';
import { mlp } from '../src/runtime/ops/mlp.js';
import { matmul } from '../src/runtime/ops/matmul.js';
import { activation } from '../src/runtime/ops/activation.js';
import { checkOp, checkRefGradient, expectClose, PRECISIONS, randn, useRuntime } from './harness.js';
import { abs, GELU_ABS, GELU_CURVE, GELU_REL, GELU_SLOPE, maxOf, tolFor, U } from './checks/matmul.js';
import { geluRefBackward } from '../src/runtime/reference/activation.js';
import { matmulRef, matmulRefBackward, type MatmulShape } from '../src/runtime/reference/matmul.js';
import { mlpRef, mlpRefBackward, mlpRefParts, type MlpShape } from '../src/runtime/reference/mlp.js';
import { f16Tol, type Precision, type Tol } from '../src/runtime/reference/check.js';
import { roundHalf } from '../src/runtime/half.js';

const rt = useRuntime();

const lin = (R: number, N: number, K: number): MatmulShape => ({ batch: 1, M: R, N, K, batchedB: false, transA: false, transB: true });
const ones = (n: number): Float64Array => new Float64Array(n).fill(1);

/**
 * Error bounds through the chain (tests/checks/matmul.ts has the per-step rules): each product's
 * own rounding, 4·√(L+1)·u·Σ|terms| (tolFor), plus the error of its input times Σ|other operand|.
 * Forward: e_z, then e_h = 1.13·e_z + 3e-7 + 1e-6·|h|, then y. Backward (dY exact): e_dH from
 * dY·W₂, e_dZ = 1.13·e_dH + |dH|·(0.8·e_z + 3e-7 + 1.13e-6) + u·|dZ|, then dX, dW₁, db₁ carry
 * e_dZ, dW₂ carries e_h. The tolerance is the largest of them.
 * In f16 storage (u16 = 2^-11; inputs and dY rounded to f16 first, as the harness does) three
 * stored intermediates add their rounding: H (u16·|h|, into y and dW₂), the saved Z that the
 * backward's gelu' reads (u16·|z|, into e_dZ through gelu''), and dZ (u16·|dZ|); the outputs' own
 * rounding is f16Tol's.
 */
function mlpTols(s: MlpShape, x: Float64Array, w1: Float64Array, b1: Float64Array, w2: Float64Array, b2: Float64Array, dY: Float64Array, u16 = 0): { fwdTol: Tol; gradTol: Tol } {
  const { R, C, H, O } = s;
  const { z, h } = mlpRefParts(s, x, w1, b1, w2, b2);
  const ezOwn = tolFor(C + 1, maxOf(matmulRef(lin(R, H, C), abs(x), abs(w1), abs(b1)))).atol;
  const eh = GELU_SLOPE * ezOwn + GELU_ABS + GELU_REL * maxOf(abs(h)) + u16 * maxOf(abs(h));
  const ez = ezOwn + u16 * maxOf(abs(z));   // the Z the backward reads
  const sumW2 = maxOf(matmulRef(lin(1, O, H), ones(H), abs(w2)));   // max_o Σ_j |W₂(o, j)|
  const ey = tolFor(H + 1, maxOf(matmulRef(lin(R, O, H), abs(h), abs(w2), abs(b2)))).atol + eh * sumW2;
  const [dH] = matmulRefBackward(lin(R, O, H), h, w2, dY, false);
  const [, dW2own, db2own] = matmulRefBackward(lin(R, O, H), abs(h), abs(w2), abs(dY), true).map(maxOf);
  const eDh = tolFor(O, maxOf(matmulRefBackward(lin(R, O, H), abs(h), abs(w2), abs(dY), false)[0]!)).atol;
  const dZ = geluRefBackward(z, dH!);
  const eDz = GELU_SLOPE * eDh + maxOf(abs(dH!)) * (GELU_CURVE * ez + GELU_ABS + GELU_REL * GELU_SLOPE) + (U + u16) * maxOf(abs(dZ));
  const own1 = matmulRefBackward(lin(R, H, C), abs(x), abs(w1), abs(dZ), true).map(maxOf);
  const carried1 = matmulRefBackward(lin(R, H, C), abs(x), abs(w1), ones(R * H), true).map(maxOf);
  const dW2carried = eh * maxOf(matmulRefBackward(lin(R, O, H), ones(R * H), abs(w2), abs(dY), false)[1]!);   // e_h·Σ_r |dY(r, o)|
  const grads = [
    tolFor(H, own1[0]!).atol + eDz * carried1[0]!,   // dX
    tolFor(R, own1[1]!).atol + eDz * carried1[1]!,   // dW₁
    tolFor(R, own1[2]!).atol + eDz * carried1[2]!,   // db₁
    tolFor(R, dW2own!).atol + dW2carried,            // dW₂
    tolFor(R, db2own!).atol,                         // db₂
  ];
  return { fwdTol: { atol: ey, rtol: 0 }, gradTol: { atol: Math.max(...grads), rtol: 0 } };
}

// (lead, C, H, O): H not a multiple of 4 (scalar loads and stores), and one with vec4 paths and
// more rows than a tile.
const CASES: [number[], number, number, number][] = [[[2, 7], 13, 18, 7], [[2, 33], 16, 64, 12]];

// The kernels' epilogues are checked for every family and candidate in tests/matmul.test.ts; here
// the composition runs on the oracle kernel and on this adapter's default.
const half = (a: Float64Array): Float64Array => a.map(roundHalf);

describe.each(PRECISIONS)('mlp (linear → GELU → linear, fused) against float64 (%s)', (precision: Precision) => {
  for (const variant of ['naive', undefined]) {
    it(variant ?? 'default kernel', async () => {
      for (const [i, [lead, C, H, O]] of CASES.entries()) {
        const R = lead.reduce((p, q) => p * q, 1);
        const s: MlpShape = { R, C, H, O };
        const x = randn(R * C, 40 + i, -2, 2);
        const w1 = randn(H * C, 41 + i);
        const b1 = randn(H, 42 + i);
        const w2 = randn(O * H, 43 + i);
        const b2 = randn(O, 44 + i);
        await checkOp(rt(), {
          name: `mlp ${variant} ${JSON.stringify(s)}`,
          seed: 1,
          inputs: [
            { data: x, shape: [...lead, C] }, { data: w1, shape: [H, C] }, { data: b1, shape: [H] },
            { data: w2, shape: [O, H] }, { data: b2, shape: [O] },
          ],
          run: ([xt, w1t, b1t, w2t, b2t]) => mlp(xt!, { weight: w1t!, bias: b1t }, { weight: w2t!, bias: b2t }, { variant }),
          ref: ([xr, w1r, b1r, w2r, b2r]) => mlpRef(s, xr!, w1r!, b1r!, w2r!, b2r!),
          refBackward: ([xr, w1r, b1r, w2r, b2r], g) => mlpRefBackward(s, xr!, w1r!, b1r!, w2r!, b2r!, g),
          ...mlpTols(s, x, w1, b1, w2, b2, randn(R * O, 1001)),
          f16: f16Tols(mlpTols(s, half(x), half(w1), half(b1), half(w2), half(b2), half(randn(R * O, 1001)), 2 ** -11)),
        }, precision);
      }
    });
  }
});

const f16Tols = (t: { fwdTol: Tol; gradTol: Tol }): { fwdTol: Tol; gradTol: Tol } => ({ fwdTol: f16Tol(t.fwdTol), gradTol: f16Tol(t.gradTol) });

describe('mlp: reference and dispatches', () => {

  it('reference backward matches finite differences', () => {
    const s: MlpShape = { R: 3, C: 4, H: 5, O: 2 };
    checkRefGradient('mlp', [randn(12, 1, -2, 2), randn(20, 2), randn(5, 3), randn(10, 4), randn(2, 5)],
      ([x, w1, b1, w2, b2]) => mlpRef(s, x!, w1!, b1!, w2!, b2!), (xs, g) => mlpRefBackward(s, xs[0]!, xs[1]!, xs[2]!, xs[3]!, xs[4]!, g));
  });

  it('equals linear → activation → linear, with two dispatches fewer each way', async () => {
    const r = rt();
    const ops: string[] = [];
    const dispatch = r.dispatch.bind(r);
    r.dispatch = (decl, args) => { ops.push(args.op); dispatch(decl, args); };
    try {
      const x = r.parameter(randn(10 * 8, 5), [10, 8]);
      const w1 = r.parameter(randn(12 * 8, 6), [12, 8]);
      const w2 = r.parameter(randn(3 * 12, 7), [3, 12]);
      const dY = r.tensor(randn(30, 8), [10, 3]);
      const fused = mlp(x, { weight: w1 }, { weight: w2 });
      r.backward(fused, dY);
      const compute = (): string[] => ops.filter((o) => /^(matmul|mlp|gelu)/.test(o));
      const fusedOps = compute();
      const got = [await fused.read(), await x.grad!.read(), await w1.grad!.read(), await w2.grad!.read()];
      r.zeroGrad([x, w1, w2]);
      ops.length = 0;
      const plain = matmul(activation('gelu', matmul(x, w1, { transB: true })), w2, { transB: true });
      r.backward(plain, dY);
      expect(fusedOps).toEqual(['mlp_fc1', 'mlp_fc2', 'mlp_fc2_bwd_w', 'mlp_fc2_bwd_x', 'mlp_fc1_bwd_w', 'mlp_fc1_bwd_x']);
      expect(compute()).toEqual(['matmul', 'gelu_fwd', 'matmul', 'matmul_bwd_a', 'matmul_bwd_b', 'gelu_bwd', 'matmul_bwd_a', 'matmul_bwd_b']);
      // The same products in the same kernels, and the same GELU code in the epilogue as in the
      // activation kernel: the same float32 results.
      const want = [await plain.read(), await x.grad!.read(), await w1.grad!.read(), await w2.grad!.read()];
      want.forEach((w, i) => expectClose(`fused vs unfused ${i}`, got[i]!, w, { atol: 0, rtol: 0 }));
      r.zeroGrad([x, w1, w2]);
      for (const t of [x, w1, w2, dY, fused, plain]) t.release();
    } finally {
      r.dispatch = dispatch;
    }
  });

  it('checks shapes, naming the weight', () => {
    const r = rt();
    expect(() => mlp(r.zeros([2, 4]), { weight: r.zeros([6, 5]) }, { weight: r.zeros([3, 6]) })).toThrow(/mlp: fc1.weight \[6, 5\] must be \(out, 4\)/);
    expect(() => mlp(r.zeros([2, 4]), { weight: r.zeros([6, 4]), bias: r.zeros([5]) }, { weight: r.zeros([3, 6]) })).toThrow(/mlp: fc1.bias \[5\] must be \(6\)/);
    expect(() => mlp(r.zeros([2, 4]), { weight: r.zeros([6, 4]) }, { weight: r.zeros([3, 5]) })).toThrow(/mlp: fc2.weight \[3, 5\] must be \(out, 6\)/);
  });
});
