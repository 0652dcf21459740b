// Stochastic depth (drop path, torchvision's `stochastic_depth(mode='row')`) for training:
//   y = x · s_b per sample b, s_b = 1/(1 − p) with probability 1 − p, else 0;  dx = dy · s_b.
// The per-sample mask is drawn ON THE GPU from a counter-based hash of (seed, b) (kernels/
// droppath.wgsl), so it is reproducible from (seed, p) and needs no upload; backward recomputes it.
// Give every block of every step its own seed (e.g. step · blocks + block): any two distinct u32
// seeds give independent masks. p = 0 or eval mode: the identity (a view, no kernel).
import type { Tensor } from '../tensor.js';
import { assertRank, builds, floatDtype, groups } from './util.js';

// f32 and f16 builds: x, y (and dy, dx) in the input's dtype, the product in f32
const SCALAR = builds({ file: 'droppath.wgsl', entry: 'drop_path', storage: { y: 'read_write', x: 'read' }, uniform: 'dp' });
const VEC4 = builds({ file: 'droppath.wgsl', entry: 'drop_path_vec4', storage: { y4: 'read_write', x4: 'read' }, uniform: 'dp' });
const WG = 256;

export interface DropPathOptions {
  /** False (eval): the identity. Default true. */
  training?: boolean;
  /** Invocations per workgroup (default 256); tests shrink it to exercise grid folding. */
  workgroupSize?: number;
  /** Use the scalar kernel even when the per-sample size is a multiple of 4 (tests). */
  scalar?: boolean;
  /**
   * Index of x's sample 0 in a larger batch (default 0): the masks are those the larger batch
   * would draw for these samples, so a batch split across devices drops the same samples.
   */
  firstSample?: number;
}

/** The kept-sample factor torchvision uses: noise.div_(1 − p) in f32 (0 when p = 1). */
export function dropPathScale(p: number): number {
  return p < 1 ? Math.fround(1 / Math.fround(1 - p)) : 0;
}

function apply(op: string, x: Tensor, p: number, seed: number, opts: DropPathOptions): Tensor {
  const rt = x.rt;
  const perSample = x.size / x.shape[0]!;
  const dtype = floatDtype(op, x);
  const y = rt.empty(x.shape, dtype, op);
  const vec4 = !opts.scalar && perSample % 4 === 0;
  const n = vec4 ? x.size / 4 : x.size;
  const wg = opts.workgroupSize ?? WG;
  rt.dispatch((vec4 ? VEC4 : SCALAR)[dtype], {
    op,
    storage: vec4 ? { y4: y.binding, x4: x.binding } : { y: y.binding, x: x.binding },
    params: { n, per_sample: perSample, seed, p, scale: dropPathScale(p), first_sample: opts.firstSample ?? 0 },
    constants: { WG: wg }, workgroups: [groups(n, wg)],
  });
  return y;
}

/** x (B, ...) with each sample kept (scaled by 1/(1 − p)) or zeroed; seeded, reproducible. */
export function dropPath(x: Tensor, p: number, seed: number, opts: DropPathOptions = {}): Tensor {
  floatDtype('dropPath', x);
  assertRank('dropPath', x, 1);
  if (!(p >= 0 && p <= 1)) throw new Error(`dropPath: drop probability ${p} must be in [0, 1]`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`dropPath: seed ${seed} must be a u32`);
  const first = opts.firstSample ?? 0;
  if (!Number.isInteger(first) || first < 0 || first + x.shape[0]! > 0xffffffff) throw new Error(`dropPath: firstSample ${first} must be a u32 index`);
  const rt = x.rt;
  if (p === 0 || opts.training === false || x.size === 0) return rt.reshape(x, x.shape);
  const y = apply('drop_path_fwd', x, p, seed, opts);
  rt.tape.record('dropPath', [x], y, [], (dy) => [apply('drop_path_bwd', dy, p, seed, opts)]);
  return y;
}
