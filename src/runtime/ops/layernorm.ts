// LayerNorm over the last dim with weight and bias of shape (C), eps a parameter (1e-5 in Swin,
// 1e-6 in the head's LayerNorm2d applied channels-last). Forward saves the row mean and rstd
// (biased variance, as PyTorch). Backward (kernels/layernorm.wgsl):
//   dx = rstd · (g − mean_c(g) − x̂ · mean_c(g · x̂)),  g = dy · w,  x̂ = (x − mean) · rstd
//   dw = Σ_rows dy · x̂,   db = Σ_rows dy
// dw and db are summed per chunk of CHUNK rows by one kernel, then over chunks by `sumLeading`,
// so no invocation loops over all rows.
import type { KernelDecl } from '../kernel.js';
import type { Runtime } from '../runtime.js';
import { shapeStr, type Tensor } from '../tensor.js';
import { sumLeading } from './reduce.js';
import { rowLaunch, type RowLaunch } from './row_launch.js';
import type { RowOpOptions } from './softmax.js';
import { assertDtype, assertRank, assertSameRuntime, builds, floatDtype, groups, type FloatDType } from './util.js';

// x, y, dy, dx in act_t (f32 or f16); w, b, mean, rstd, dw, db always f32
const LN_FWD = builds({
  file: 'layernorm.wgsl', entry: 'ln_fwd', uniform: 'p',
  storage: { y: 'read_write', mean: 'read_write', rstd: 'read_write', x: 'read', w: 'read', b: 'read' },
});
const LN_BWD_DX = builds({
  file: 'layernorm.wgsl', entry: 'ln_bwd_dx', uniform: 'bp',
  storage: { dx: 'read_write', dy: 'read', x: 'read', w: 'read', mean_saved: 'read', rstd_saved: 'read' },
});
const LN_BWD_PARAMS = builds({
  file: 'layernorm.wgsl', entry: 'ln_bwd_params', uniform: 'bp',
  storage: { dw_part: 'read_write', db_part: 'read_write', dy: 'read', x: 'read', mean_saved: 'read', rstd_saved: 'read' },
});
const FILES = ['layernorm.wgsl'] as const;

/**
 * The launch of ln_fwd ('fwd') or ln_bwd_dx ('bwd_dx') over (rows, cols): forced TPR, else the
 * runtime's choice (family 'layernorm'; row_launch.ts), timed on scratch rows of 0.5 / 1.
 */
function launchOf(rt: Runtime, kind: 'fwd' | 'bwd_dx', dtype: FloatDType, rows: number, cols: number, opts: RowOpOptions): RowLaunch {
  return rowLaunch(rt, {
    family: 'layernorm', kind, rows, cols, dtype,
    prepare: () => {
      const act = (): Tensor => rt.untracked(() => rt.full([Math.max(1, rows * cols)], 0.5, dtype));
      const f32 = (n: number): Tensor => rt.untracked(() => rt.full([Math.max(1, n)], 1, 'f32'));
      const [x, y, dy, w, b, mean, rstd] = [act(), act(), act(), f32(cols), f32(cols), f32(rows), f32(rows)];
      const t = { x: x.binding, w: w.binding };
      return {
        run: (l) => (kind === 'fwd'
          ? dispatchRows(LN_FWD[dtype], 'layernorm_fwd', { y: y.binding, mean: mean.binding, rstd: rstd.binding, b: b.binding, ...t }, { rows, cols, eps: 1e-5 }, l)
          : dispatchRows(LN_BWD_DX[dtype], 'layernorm_bwd_dx', { dx: y.binding, dy: dy.binding, mean_saved: mean.binding, rstd_saved: rstd.binding, ...t }, { rows, cols }, l)),
        dispose: () => { for (const s of [x, y, dy, w, b, mean, rstd]) s.release(); },
      };
    },
  }, FILES, opts.threadsPerRow);

  /** One row kernel dispatch (rows in params) with launch l. */
  function dispatchRows(decl: KernelDecl, op: string, storage: Record<string, { buffer: GPUBuffer }>, params: Record<string, number>, l: RowLaunch): void {
    rt.dispatch(decl, { op, storage, params, constants: { TPR: l.tpr, WG: l.wg }, workgroups: [groups(params.rows!, l.wg / l.tpr)] });
  }
}

/** Rows per dw/db partial: 3136·B rows of a Swin stage-1 image give 49·B partial rows. */
const CHUNK = 64;
const PARAMS_WG = 64;

/** Launch overrides; tests make the dw/db ones tiny to exercise the chunk sums and grid folding. */
export interface LayerNormOptions extends RowOpOptions {
  /** Rows per dw/db partial (default 64). */
  paramsChunk?: number;
  /** Invocations per workgroup of the dw/db kernel (default 64). */
  paramsWorkgroupSize?: number;
}

/** The forward's results: y (..., C) and the saved per-row statistics mean, rstd (rows). */
export interface LayerNormResult { y: Tensor; mean: Tensor; rstd: Tensor }

function dims(op: string, x: Tensor, w: Tensor, b: Tensor | null): { rows: number; cols: number } {
  assertRank(op, x, 1);
  floatDtype(op, x);
  assertDtype(op, w);
  const cols = x.shape[x.rank - 1]!;
  for (const [name, t] of [['weight', w], ['bias', b]] as const) {
    if (t && (t.rank !== 1 || t.shape[0] !== cols)) throw new Error(`${op}: ${name} ${shapeStr(t.shape)} must be [${cols}] for input ${shapeStr(x.shape)}`);
  }
  return { rows: cols === 0 ? 0 : x.size / cols, cols };
}

/**
 * y = LayerNorm(x)·w + b over the last dim, with the row statistics (caller owns all three
 * tensors; not recorded on the tape). `layerNorm` is the recorded op.
 */
export function layerNormForward(x: Tensor, w: Tensor, b: Tensor, eps: number, opts: RowOpOptions = {}): LayerNormResult {
  assertSameRuntime('layerNorm', x, w, b);
  assertDtype('layerNorm', b);
  const { rows, cols } = dims('layerNorm', x, w, b);
  if (!(eps > 0)) throw new Error(`layerNorm: eps must be positive, got ${eps}`);
  const rt = x.rt;
  const dtype = floatDtype('layerNorm', x);
  const y = rt.empty(x.shape, dtype, 'layerNorm');
  // the statistics live as long as the tape needs them, independently of the caller's scopes
  const { mean, rstd } = rt.untracked(() => ({ mean: rt.empty([rows], 'f32', 'layerNorm.mean'), rstd: rt.empty([rows], 'f32', 'layerNorm.rstd') }));
  const { tpr, wg } = launchOf(rt, 'fwd', dtype, rows, cols, opts);
  rt.dispatch(LN_FWD[dtype], {
    op: 'layernorm_fwd',
    storage: { y: y.binding, mean: mean.binding, rstd: rstd.binding, x: x.binding, w: w.binding, b: b.binding },
    params: { rows, cols, eps }, constants: { TPR: tpr, WG: wg }, workgroups: [groups(rows, wg / tpr)],
  });
  return { y, mean, rstd };
}

/** LayerNorm over the last dim; records a tape node whose backward returns [dx, dw, db]. */
export function layerNorm(x: Tensor, w: Tensor, b: Tensor, eps: number, opts: LayerNormOptions = {}): Tensor {
  const { y, mean, rstd } = layerNormForward(x, w, b, eps, opts);
  x.rt.tape.record('layerNorm', [x, w, b], y, [x, w, mean, rstd], (dy) => {
    const { dx, dw, db } = layerNormBackward(dy, x, w, mean, rstd, {
      ...opts, needInput: x.requiresGrad, needParams: w.requiresGrad || b.requiresGrad,
    });
    return [dx, dw, db];
  });
  mean.release();   // the tape holds them if it recorded, else they are done
  rstd.release();
  return y;
}

export interface LayerNormBackwardOptions extends LayerNormOptions {
  /** Compute dx (default true). */
  needInput?: boolean;
  /** Compute dw and db (default true). */
  needParams?: boolean;
}

/** dx (rows, C), dw (C), db (C) from the saved x, w, mean, rstd (not recorded on the tape). */
export function layerNormBackward(
  dy: Tensor, x: Tensor, w: Tensor, mean: Tensor, rstd: Tensor, opts: LayerNormBackwardOptions = {},
): { dx: Tensor | null; dw: Tensor | null; db: Tensor | null } {
  const op = 'layerNorm_bwd';
  const dtype = floatDtype(op, x, dy);
  const { rows, cols } = dims(op, x, w, null);
  if (dy.size !== x.size) throw new Error(`${op}: gradient ${shapeStr(dy.shape)} does not match input ${shapeStr(x.shape)}`);
  if (mean.size !== rows || rstd.size !== rows) throw new Error(`${op}: saved statistics ${mean.describe()}, ${rstd.describe()} must have ${rows} rows`);
  const rt = x.rt;
  const saved = { dy: dy.binding, x: x.binding, mean_saved: mean.binding, rstd_saved: rstd.binding };
  let dx: Tensor | null = null;
  if (opts.needInput ?? true) {
    dx = rt.empty(x.shape, dtype, op);
    const { tpr, wg } = launchOf(rt, 'bwd_dx', dtype, rows, cols, opts);
    rt.dispatch(LN_BWD_DX[dtype], {
      op: 'layernorm_bwd_dx', storage: { dx: dx.binding, w: w.binding, ...saved },
      params: { rows, cols }, constants: { TPR: tpr, WG: wg }, workgroups: [groups(rows, wg / tpr)],
    });
  }
  if (!(opts.needParams ?? true)) return { dx, dw: null, db: null };
  if (rows === 0) return { dx, dw: rt.zeros([cols]), db: rt.zeros([cols]) };   // empty sums
  const chunk = opts.paramsChunk ?? CHUNK;
  const wg = opts.paramsWorkgroupSize ?? PARAMS_WG;
  const chunks = groups(rows, chunk);
  // one chunk: the partials are the result
  const partShape = chunks === 1 ? [cols] : [chunks, cols];
  const dwPart = rt.empty(partShape, 'f32', `${op}.dw`);
  const dbPart = rt.empty(partShape, 'f32', `${op}.db`);
  rt.dispatch(LN_BWD_PARAMS[dtype], {
    op: 'layernorm_bwd_params', storage: { dw_part: dwPart.binding, db_part: dbPart.binding, ...saved },
    params: { rows, cols }, constants: { CHUNK: chunk, WG: wg }, workgroups: [groups(chunks * cols, wg)],
  });
  if (chunks === 1) return { dx, dw: dwPart, db: dbPart };
  const [dw, db] = rt.withoutGrad(() => [sumLeading(dwPart, 1), sumLeading(dbPart, 1)]);
  dwPart.release();
  dbPart.release();
  return { dx, dw: dw!, db: db! };
}
