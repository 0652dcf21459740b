// Fused Swin window attention, V1 and V2 (spec "Window attention"), forward and backward, in one
// kernel each (kernels/window_attention.wgsl): one workgroup per (window, head), no window
// partition/reverse copies, no padded tensor, no N×N logits in global memory.
//
//   out = windowAttention(qkv, biasTable, { ws, heads, shift, qkvBias, logitScale? })
//   qkv      (B, H, W, 3C)  the qkv Linear on LN1(x) (V1) / x (V2), real tokens only; [q | k | v]
//   qkvBias  (3C)           the qkv Linear's bias: the q/k/v of a zero-padded token (padding is
//                           applied to the attention input, so padded tokens are keys/values too)
//   biasTable ((2ws-1)², heads)  V1: relative_position_bias_table; V2: the RAW cpb_mlp output
//                           (before 16·sigmoid, which the kernel applies)
//   logitScale (heads, 1, 1)     V2 only; its presence selects cosine attention. The k third of
//                           qkvBias is then ignored (torchvision zeroes it every forward) and its
//                           gradient is 0.
//   out      (B, H, W, C)   attention result before the proj Linear, channel h*hd + d.
// qkv may also be (B, H*W, 3C) with opts.H / opts.W given; out then has the same leading dims.
// The relative-position index is computed in the kernel from the spec's formula (it equals the
// state_dict's relative_position_index buffer), so the op takes no index tensor.
//
// Kernel variants (same results, bit for bit on lavapipe): 'subgroups' shares each chunk of 8
// tokens through subgroupBroadcast (one load per 8 tokens; ~3x faster on lavapipe), 'portable'
// needs no subgroups. Default: subgroups when the device has them with >= 8 lanes. Batches whose
// tensors exceed maxStorageBufferBindingSize are split over several dispatches.
//
// Saved for backward: qkv, the small parameter buffer, out and the log-sum-exp per query
// (windows × heads × N floats). Recomputing P from lse instead of saving it: Swin-B at 512 px,
// stage 1 has 19² = 361 windows × 4 heads × 49² P entries = 3.5 M floats (14 MB) per image per
// block, against 71 K floats for lse; backward recomputes q·k, which costs FMAs but no loads it
// does not already make (lavapipe is load-bound).
//
// Precision: qkv, out and d(qkv) are f32, or f16 (mixed precision: the kernel's f16 build stores
// them in f16 and computes in f32); the parameters, lse and the partials stay f32.
//
// Gradients: d(qkv) (B, H, W, 3C); d(biasTable) and d(logitScale) summed over windows from
// per-window partials (sumLeading, no float atomics); d(qkvBias) = Σ over padded tokens of their
// dk, dv (a padded query has dO = 0, hence dq = 0); zeros when nothing is padded.
import type { KernelDecl } from '../kernel.js';
import type { Runtime } from '../runtime.js';
import type { Tensor } from '../tensor.js';
import { sumLeading } from './reduce.js';
import { assertDtype, assertSameRuntime, builds, floatDtype, type FloatDType } from './util.js';

// One file, two builds: `subgroups: true` compiles its `#if subgroups` branch (subgroupBroadcast
// sharing), false the portable branch; entry points and bindings are the same. Each has an f32
// and an f16 build (`builds`).
const FWD_STORAGE = { qkv: 'read', prm: 'read', out: 'read_write', lse: 'read_write' } as const;
const BWD_STORAGE = { qkv: 'read', prm: 'read', o_saved: 'read', lse_saved: 'read', d_out: 'read', d_qkv: 'read_write', d_part: 'read_write' } as const;
type Builds = Record<FloatDType, KernelDecl>;
const kernels = (subgroups: boolean): { fwd: Builds; bwd: Builds } => ({
  fwd: builds({ file: 'window_attention.wgsl', entry: 'attn_fwd', storage: FWD_STORAGE, uniform: 'p', subgroups }),
  bwd: builds({ file: 'window_attention.wgsl', entry: 'attn_bwd', storage: BWD_STORAGE, uniform: 'p', subgroups }),
});
const KERNELS: Record<WindowAttentionPath, { fwd: Builds; bwd: Builds }> = { subgroups: kernels(true), portable: kernels(false) };
const MAX_TOKENS = 64;
const MAX_HD = 32;

/** `subgroups`: keys/queries shared 8 at a time through subgroupBroadcast; `portable`: no subgroups. */
export type WindowAttentionPath = 'subgroups' | 'portable';

/** The subgroup kernels need the feature and subgroups of at least 8 lanes. */
export function defaultWindowAttentionPath(rt: Runtime): WindowAttentionPath {
  return rt.device.hasSubgroups && rt.device.adapter.subgroupMinSize >= 8 ? 'subgroups' : 'portable';
}

export interface WindowAttentionOptions {
  /** Window size: 7 (Swin V1), 8 (V2); ws² <= 64. */
  ws: number;
  heads: number;
  /** ws//2 for odd blocks, 0 for even ones; forced to 0 per axis where ws >= that axis' padded size. */
  shift: number;
  /** The qkv Linear's bias (3C). */
  qkvBias: Tensor;
  /** V2: logit_scale, `heads` elements. */
  logitScale?: Tensor;
  /** Spatial size, needed only when qkv is (B, H*W, 3C). */
  H?: number;
  W?: number;
  /** Images per dispatch (default: as many as fit the storage binding limit); tests lower it. */
  maxBatchPerDispatch?: number;
  /** Kernel variant (default `defaultWindowAttentionPath`); tests force each. */
  path?: WindowAttentionPath;
}

export interface WindowGeometry {
  H: number; W: number; Hp: number; Wp: number;
  /** Shifts actually applied per axis. */
  shiftY: number; shiftX: number;
  nwy: number; nwx: number;
  /** Windows per image. */
  windows: number;
}

/** Padding and shift of one Swin block (spec steps 1–2). */
export function windowGeometry(H: number, W: number, ws: number, shift: number): WindowGeometry {
  const Hp = Math.ceil(H / ws) * ws;
  const Wp = Math.ceil(W / ws) * ws;
  return { H, W, Hp, Wp, shiftY: ws >= Hp ? 0 : shift, shiftX: ws >= Wp ? 0 : shift, nwy: Hp / ws, nwx: Wp / ws, windows: (Hp / ws) * (Wp / ws) };
}

interface Plan {
  B: number; C: number; hd: number; heads: number; ws: number; N: number; T: number;
  geo: WindowGeometry; v2: boolean; hasPad: boolean;
  /** Row length of the per-window gradient partials: [dtable (T, heads) | dls (heads) | dbias (3C)], padded. */
  pt: number;
  /** lse floats per image, padded. */
  lseImg: number;
  /** Images per dispatch. */
  chunk: number;
  path: WindowAttentionPath;
  /** Storage of qkv, out and d(qkv). */
  dtype: FloatDType;
}

function plan(qkv: Tensor, biasTable: Tensor, o: WindowAttentionOptions): Plan {
  const op = 'windowAttention';
  const { ws, heads } = o;
  const dtype = floatDtype(op, qkv);
  assertDtype(op, biasTable);
  assertDtype(op, o.qkvBias);
  assertSameRuntime(op, qkv, biasTable, o.qkvBias, ...(o.logitScale ? [o.logitScale] : []));
  let B: number, H: number, W: number;
  if (qkv.rank === 4) [B, H, W] = qkv.shape as [number, number, number];
  else if (qkv.rank === 3 && o.H !== undefined && o.W !== undefined && o.H * o.W === qkv.shape[1]) [B, H, W] = [qkv.shape[0]!, o.H, o.W];
  else throw new Error(`${op}: qkv ${qkv.describe()} must be (B, H, W, 3C), or (B, H*W, 3C) with H and W given`);
  const C3 = qkv.shape[qkv.rank - 1]!;
  if (C3 % 3 !== 0) throw new Error(`${op}: qkv's last dim ${C3} is not 3C`);
  const C = C3 / 3;
  if (!Number.isInteger(heads) || heads < 1 || C % heads !== 0) throw new Error(`${op}: C = ${C} is not divisible by heads = ${heads}`);
  const hd = C / heads;
  if (!Number.isInteger(ws) || ws < 1 || ws * ws > MAX_TOKENS) throw new Error(`${op}: window size ${ws} unsupported (ws² must be <= ${MAX_TOKENS})`);
  if (hd % 4 !== 0 || hd > MAX_HD || hd > ws * ws) throw new Error(`${op}: head dim ${hd} unsupported (a multiple of 4, <= ${MAX_HD} and <= ws² = ${ws * ws})`);
  if (!Number.isInteger(o.shift) || o.shift < 0 || o.shift >= ws) throw new Error(`${op}: shift ${o.shift} must be in [0, ws)`);
  const T = (2 * ws - 1) ** 2;
  if (biasTable.size !== T * heads) throw new Error(`${op}: biasTable ${biasTable.describe()} must hold (${T}, ${heads}) values for ws ${ws}`);
  if (o.qkvBias.size !== C3) throw new Error(`${op}: qkvBias ${o.qkvBias.describe()} must hold ${C3} values`);
  if (o.logitScale && o.logitScale.size !== heads) throw new Error(`${op}: logitScale ${o.logitScale.describe()} must hold ${heads} values`);
  const geo = windowGeometry(H, W, ws, o.shift);
  const hasPad = geo.Hp > H || geo.Wp > W;
  const N = ws * ws;
  const limits = qkv.rt.device.limits;
  const path = o.path ?? defaultWindowAttentionPath(qkv.rt);
  if (path === 'subgroups' && defaultWindowAttentionPath(qkv.rt) !== 'subgroups') {
    // its kernels share keys 8 at a time: on fewer lanes they would read other lanes' garbage
    const dev = qkv.rt.device;
    throw new Error(`${op}: the subgroups path needs the device feature 'subgroups' with at least 8 lanes; ${dev.name} has ${dev.hasSubgroups ? `subgroups of ${dev.adapter.subgroupMinSize} lanes` : 'none'}`);
  }
  const shared = 4 * (6 * MAX_TOKENS + 225 + N * N);
  if (shared > limits.maxComputeWorkgroupStorageSize) {
    throw new Error(`${op}: needs ${shared} bytes of workgroup memory at ws ${ws}; the device allows ${limits.maxComputeWorkgroupStorageSize}`);
  }
  // Per-image strides of the internal tensors are padded to 64 floats (256 bytes), so a batch
  // chunk's binding offset meets minStorageBufferOffsetAlignment.
  const pt = roundUp((T + 1) * heads + (hasPad ? C3 : 0), 64);
  const lseImg = roundUp(geo.windows * heads * N, 64);
  // Images per dispatch: every binding of a chunk must fit maxStorageBufferBindingSize.
  const perImage = Math.max(H * W * C3 * (dtype === 'f16' ? 2 : 4), geo.windows * pt * 4, lseImg * 4);
  const fit = Math.max(1, Math.floor(limits.maxStorageBufferBindingSize / perImage));
  const chunk = Math.min(B, fit, o.maxBatchPerDispatch ?? B);
  return { B, C, hd, heads, ws, N, T, geo, v2: o.logitScale !== undefined, hasPad, pt, lseImg, chunk, path, dtype };
}

/** [qkv bias (3C) | table (T, heads) | logit_scale (heads)]: the kernel's small read-only inputs. */
function packParams(rt: Runtime, pl: Plan, o: WindowAttentionOptions, biasTable: Tensor): Tensor {
  const prm = rt.untracked(() => rt.empty([3 * pl.C + (pl.T + 1) * pl.heads], 'f32', 'windowAttention.prm'));
  rt.batch.copy(o.qkvBias.buffer, o.qkvBias.byteOffset, prm.buffer, 0, o.qkvBias.bytes);
  rt.batch.copy(biasTable.buffer, biasTable.byteOffset, prm.buffer, 3 * pl.C * 4, biasTable.bytes);
  if (o.logitScale) rt.batch.copy(o.logitScale.buffer, o.logitScale.byteOffset, prm.buffer, (3 * pl.C + pl.T * pl.heads) * 4, o.logitScale.bytes);
  return prm;
}

function uniform(pl: Plan, images: number): Record<string, number> {
  const g = pl.geo;
  return {
    H: g.H, W: g.W, Hp: g.Hp, Wp: g.Wp, nwx: g.nwx, nwin_img: g.windows, shift_y: g.shiftY, shift_x: g.shiftX,
    C: pl.C, heads: pl.heads, num_wh: images * g.windows * pl.heads, scale: pl.hd ** -0.5,
    table_off: 3 * pl.C, ls_off: 3 * pl.C + pl.T * pl.heads, pt: pl.pt, lse_img: pl.lseImg, has_pad: pl.hasPad ? 1 : 0, chunk: 8,
  };
}

/** Per-chunk binding of `t`, whose leading dim is the batch: images [b0, b0 + n) of `perImage` elements each. */
function slab(op: string, t: Tensor, perImage: number, b0: number, n: number): { buffer: GPUBuffer; offset: number; size: number } {
  const bytes = perImage * (t.dtype === 'f16' ? 2 : 4);
  const offset = b0 * bytes;
  const align = t.rt.device.limits.minStorageBufferOffsetAlignment;
  if (offset % align !== 0) throw new Error(`${op}: batch chunk offset ${offset} of ${t.describe()} is not a multiple of ${align}; use a batch that fits one dispatch`);
  return { buffer: t.buffer, offset: t.byteOffset + offset, size: n * bytes };
}

const roundUp = (x: number, m: number): number => Math.ceil(x / m) * m;

/** Lanes: one per token, rounded up to whole groups of 8 (the subgroup kernels share by 8). */
const constants = (pl: Plan): Record<string, number> => ({ WS: pl.ws, HD: pl.hd, V2: pl.v2 ? 1 : 0, WG: 8 * Math.ceil(pl.N / 8) });

/** Swin window attention; see the file comment for shapes. Records its backward on the tape. */
export function windowAttention(qkv: Tensor, biasTable: Tensor, opts: WindowAttentionOptions): Tensor {
  const pl = plan(qkv, biasTable, opts);
  const rt = qkv.rt;
  const { B, C, heads, geo } = pl;
  const prm = packParams(rt, pl, opts, biasTable);
  const out = rt.empty([...qkv.shape.slice(0, -1), C], pl.dtype, 'windowAttention');
  const lse = rt.untracked(() => rt.empty([B, pl.lseImg], 'f32', 'windowAttention.lse'));
  const tokens = geo.H * geo.W;
  for (let b0 = 0; b0 < B; b0 += pl.chunk) {
    const n = Math.min(pl.chunk, B - b0);
    rt.dispatch(KERNELS[pl.path].fwd[pl.dtype], {
      op: 'window_attention_fwd',
      storage: {
        qkv: slab('windowAttention', qkv, tokens * 3 * C, b0, n), prm: prm.binding,
        out: slab('windowAttention', out, tokens * C, b0, n), lse: slab('windowAttention', lse, pl.lseImg, b0, n),
      },
      params: uniform(pl, n), constants: constants(pl), workgroups: [n * geo.windows * heads],
    });
  }
  const inputs = [qkv, opts.qkvBias, biasTable, ...(opts.logitScale ? [opts.logitScale] : [])];
  rt.tape.record('windowAttention', inputs, out, [qkv, prm, out, lse], (dOut) =>
    windowAttentionBackward(pl, qkv, prm, out, lse, dOut, biasTable.shape, opts.logitScale?.shape));
  prm.release();
  lse.release();
  return out;
}

/**
 * d(qkv), d(qkvBias), d(biasTable), d(logitScale) (V2) from d(out); not recorded on the tape.
 * `prm`, `out` and `lse` are the forward's saved tensors.
 */
function windowAttentionBackward(pl: Plan, qkv: Tensor, prm: Tensor, out: Tensor, lse: Tensor, dOut: Tensor,
  tableShape: readonly number[], lsShape: readonly number[] | undefined): (Tensor | null)[] {
  const op = 'windowAttention backward';
  floatDtype(op, out, dOut);
  if (dOut.size !== out.size) throw new Error(`${op}: d(out) ${dOut.describe()} does not match ${out.describe()}`);
  const rt = qkv.rt;
  const { B, C, T, heads, geo, pt } = pl;
  const dqkv = rt.empty(qkv.shape, pl.dtype, 'windowAttention.dqkv');
  const dPart = rt.empty([B * geo.windows, pt], 'f32', 'windowAttention.dpart');
  const tokens = geo.H * geo.W;
  for (let b0 = 0; b0 < B; b0 += pl.chunk) {
    const n = Math.min(pl.chunk, B - b0);
    rt.dispatch(KERNELS[pl.path].bwd[pl.dtype], {
      op: 'window_attention_bwd',
      storage: {
        qkv: slab(op, qkv, tokens * 3 * C, b0, n), prm: prm.binding,
        o_saved: slab(op, out, tokens * C, b0, n), lse_saved: slab(op, lse, pl.lseImg, b0, n),
        d_out: slab(op, dOut, tokens * C, b0, n), d_qkv: slab(op, dqkv, tokens * 3 * C, b0, n),
        d_part: slab(op, dPart, geo.windows * pt, b0, n),
      },
      params: uniform(pl, n), constants: constants(pl), workgroups: [n * geo.windows * heads],
    });
  }
  const summed = sumLeading(dPart, 1); // (pt)
  dPart.release();
  const take = (shape: readonly number[], at: number, count: number): Tensor => {
    const t = rt.empty(shape, 'f32', 'windowAttention.grad');
    rt.batch.copy(summed.buffer, summed.byteOffset + at * 4, t.buffer, t.byteOffset, count * 4);
    return t;
  };
  const dTable = take(tableShape, 0, T * heads);
  const dLs = lsShape ? take(lsShape, T * heads, heads) : null;
  const dBias = pl.hasPad ? take([3 * C], (T + 1) * heads, 3 * C) : rt.zeros([3 * C]);
  summed.release();
  return [dqkv, dBias, dTable, ...(lsShape ? [dLs] : [])];
}
