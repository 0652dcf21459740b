// Multi-head attention core of the two-way decoder: attention(q, k, v, heads) with q (B, Nq, D),
// k and v (B, Nk, D) already projected, D = heads·hd; out (B, Nq, D) = per head
// softmax(Q_h K_hᵀ / sqrt(hd)) V_h, heads concatenated (channel h·hd + d). No masks.
//
// Forward streams keys through an online softmax (kernels/attention.wgsl, attn_fwd) and saves the
// per-row logsumexp (B, heads, Nq). Backward recomputes P = exp(S − lse):
//   dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ∘ (dP − rowsum(dO ∘ O)),  dQ = dS K / sqrt(hd),  dK = dSᵀ Q / sqrt(hd)
// as attn_bwd_dq (one invocation per query, streaming keys; also writes rowsum(dO ∘ O)) then
// attn_bwd_dkv (one invocation per key, streaming queries). No float atomics.
//
// Regimes (decoder at 512 px): self 19×19; token→image Nq 19, Nk 16,384; image→token Nq 16,384,
// Nk 19. Each kernel gets a workgroup of min(64, Nq or Nk rounded up to 8) rows; when that leaves
// few workgroups and the streamed side is long, the streamed side is cut into spans (`splits`):
// the forward merges span results with attn_fwd_combine, dQ / dK / dV span partials are summed
// with sumLeading.
//
// Precision: q, k, v, out, dO and the gradients are f32, or all f16 (the kernels' f16 build stores
// them, and the span partials, in f16 and computes in f32); lse and the backward's stats stay f32.
import type { KernelDecl } from '../kernel.js';
import { shapeStr, type Tensor } from '../tensor.js';
import { sumLeading } from './reduce.js';
import { assertRank, assertSameRuntime, builds, floatDtype, groups, type FloatDType } from './util.js';

const FILE = 'attention.wgsl';
/** Both precisions' builds of one entry point. */
const decl = (entry: string, storage: KernelDecl['storage'], subgroups: boolean): Record<FloatDType, KernelDecl> => builds({ file: FILE, entry, storage, uniform: 'p', subgroups });
const FWD = (sg: boolean) => decl('attn_fwd', { q: 'read', k: 'read', v: 'read', out: 'read_write', lse: 'read_write' }, sg);
const COMBINE = decl('attn_fwd_combine', { part_out: 'read', part_lse: 'read', out: 'read_write', lse: 'read_write' }, false);
const DQ = (sg: boolean) => decl('attn_bwd_dq', { q: 'read', k: 'read', v: 'read', fwd_out: 'read', d_out: 'read', saved_lse: 'read', dq: 'read_write', stats: 'read_write' }, sg);
const DKV = (sg: boolean) => decl('attn_bwd_dkv', { q: 'read', k: 'read', v: 'read', d_out: 'read', saved_stats: 'read', dk: 'read_write', dv: 'read_write' }, sg);

/** Rows per workgroup at most; fewer rows get a workgroup of their count rounded up to 8. */
const MAX_WG = 64;
/** Below this many workgroups the streamed side is cut into spans (parallelism for 19-row sides). */
const TARGET_WORKGROUPS = 32;
/** Streamed rows per span at least. */
const MIN_SPAN = 256;

export interface AttentionOptions {
  /** Use the subgroup kernels (default: when the device has subgroups of at least 8 lanes). */
  subgroups?: boolean;
  /** Spans of the streamed side for every kernel (default: chosen from the shape); for tests. */
  splits?: number;
}

interface Dims { B: number; nq: number; nk: number; D: number; heads: number; hd: number; dtype: FloatDType }

function dims(q: Tensor, k: Tensor, v: Tensor, heads: number): Dims {
  assertSameRuntime('attention', q, k, v);
  const dtype = floatDtype('attention', q, k, v);
  for (const t of [q, k, v]) assertRank('attention', t, 3, 3);
  const [B, nq, D] = q.shape as [number, number, number];
  const [Bk, nk, Dk] = k.shape as [number, number, number];
  if (Bk !== B || Dk !== D || v.shape[0] !== B || v.shape[1] !== nk || v.shape[2] !== D) {
    throw new Error(`attention: q ${shapeStr(q.shape)}, k ${shapeStr(k.shape)}, v ${shapeStr(v.shape)} must be (B, Nq, D), (B, Nk, D), (B, Nk, D)`);
  }
  if (!Number.isInteger(heads) || heads < 1 || D % heads !== 0) throw new Error(`attention: ${heads} heads do not divide D = ${D}`);
  const hd = D / heads;
  if (![4, 8, 16, 32].includes(hd)) throw new Error(`attention: head dim ${hd} (D ${D} / ${heads} heads) must be 4, 8, 16 or 32`);
  if (nq < 1 || nk < 1) throw new Error(`attention: empty sequence (Nq ${nq}, Nk ${nk})`);
  return { B, nq, nk, D, heads, hd, dtype };
}

function useSubgroups(t: Tensor, opts: AttentionOptions): boolean {
  const dev = t.rt.device;
  const ok = dev.hasSubgroups && dev.adapter.subgroupMinSize >= 8;
  if (opts.subgroups && !ok) throw new Error(`attention: subgroups requested, but ${dev.name} has ${dev.hasSubgroups ? `subgroups of ${dev.adapter.subgroupMinSize} lanes (8 needed)` : 'no subgroups'}`);
  return opts.subgroups ?? ok;
}

/** Workgroup shape for `rows` rows per (b, head) streaming `cols` rows: WG, blocks, splits, span. */
export function attentionGrid(rows: number, cols: number, bh: number, hd: number, splits?: number): { wg: number; blocks: number; splits: number; span: number } {
  const wg = Math.min(MAX_WG, Math.ceil(rows / 8) * 8);
  const blocks = Math.ceil(rows / wg);
  const chunkRows = 32 / hd;   // rows per streamed chunk (8 vec4)
  let s = splits ?? 1;
  if (splits === undefined && blocks * bh < TARGET_WORKGROUPS) {
    s = Math.max(1, Math.min(Math.ceil(TARGET_WORKGROUPS / (blocks * bh)), Math.floor(cols / MIN_SPAN)));
  }
  const span = Math.ceil(Math.ceil(cols / s) / chunkRows) * chunkRows;
  return { wg, blocks, splits: Math.ceil(cols / span), span };
}

/**
 * Forward only: the output (B, Nq, D) and the per-row logsumexp (B, heads, Nq). Not recorded.
 * `lse` is created outside any scope (the tape may hold it past the caller's scope): release it.
 */
export function attentionForward(q: Tensor, k: Tensor, v: Tensor, heads: number, opts: AttentionOptions = {}): { out: Tensor; lse: Tensor } {
  const d = dims(q, k, v, heads);
  const sg = useSubgroups(q, opts);
  const rt = q.rt;
  const bh = d.B * heads;
  const g = attentionGrid(d.nq, d.nk, bh, d.hd, opts.splits);
  const params = { rows: d.nq, cols: d.nk, blocks: g.blocks, splits: g.splits, span: g.span, bh, heads, scale: 1 / Math.sqrt(d.hd) };
  const constants = { HD: d.hd, WG: g.wg };
  const out = g.splits === 1 ? rt.empty([d.B, d.nq, d.D], d.dtype, 'attention') : rt.empty([g.splits, d.B, d.nq, d.D], d.dtype, 'attention.spans');
  const lse = g.splits === 1 ? rt.untracked(() => rt.empty([d.B, heads, d.nq], 'f32', 'attention.lse')) : rt.empty([g.splits, d.B, heads, d.nq], 'f32', 'attention.spans_lse');
  rt.dispatch(FWD(sg)[d.dtype], {
    op: 'attn_fwd', storage: { q: q.binding, k: k.binding, v: v.binding, out: out.binding, lse: lse.binding },
    params, constants, workgroups: [g.blocks * g.splits * bh],
  });
  if (g.splits === 1) return { out, lse };
  const merged = rt.empty([d.B, d.nq, d.D], d.dtype, 'attention');
  const mergedLse = rt.untracked(() => rt.empty([d.B, heads, d.nq], 'f32', 'attention.lse'));
  rt.dispatch(COMBINE[d.dtype], {
    op: 'attn_fwd_combine', storage: { part_out: out.binding, part_lse: lse.binding, out: merged.binding, lse: mergedLse.binding },
    params, constants: { HD: d.hd, WG: MAX_WG }, workgroups: [groups(bh * d.nq, MAX_WG)],
  });
  out.release();
  lse.release();
  return { out: merged, lse: mergedLse };
}

/** Sums span partials (splits, ...) to (...) or returns the single span as is. */
function sumSpans(t: Tensor, splits: number, shape: readonly number[]): Tensor {
  if (splits === 1) return t;
  const s = sumLeading(t, shape.length);
  t.release();
  return s;
}

/** Gradients of attention given dOut (B, Nq, D), the forward output and its logsumexp. */
export function attentionBackward(q: Tensor, k: Tensor, v: Tensor, heads: number, out: Tensor, lse: Tensor, dOut: Tensor, opts: AttentionOptions = {}): [Tensor, Tensor, Tensor] {
  const d = dims(q, k, v, heads);
  floatDtype('attention backward', q, out, dOut);
  const sg = useSubgroups(q, opts);
  const rt = q.rt;
  const bh = d.B * heads;
  const scale = 1 / Math.sqrt(d.hd);
  const gq = attentionGrid(d.nq, d.nk, bh, d.hd, opts.splits);
  const dqParts = rt.empty(gq.splits === 1 ? q.shape : [gq.splits, ...q.shape], d.dtype, 'attention.dq');
  const stats = rt.empty([d.B, heads, d.nq, 2], 'f32', 'attention.stats');
  rt.dispatch(DQ(sg)[d.dtype], {
    op: 'attn_bwd_dq',
    storage: {
      q: q.binding, k: k.binding, v: v.binding, fwd_out: out.binding, d_out: dOut.binding,
      saved_lse: lse.binding, dq: dqParts.binding, stats: stats.binding,
    },
    params: { rows: d.nq, cols: d.nk, blocks: gq.blocks, splits: gq.splits, span: gq.span, bh, heads, scale },
    constants: { HD: d.hd, WG: gq.wg }, workgroups: [gq.blocks * gq.splits * bh],
  });
  const gk = attentionGrid(d.nk, d.nq, bh, d.hd, opts.splits);
  const dkParts = rt.empty(gk.splits === 1 ? k.shape : [gk.splits, ...k.shape], d.dtype, 'attention.dk');
  const dvParts = rt.empty(gk.splits === 1 ? v.shape : [gk.splits, ...v.shape], d.dtype, 'attention.dv');
  rt.dispatch(DKV(sg)[d.dtype], {
    op: 'attn_bwd_dkv',
    storage: {
      q: q.binding, k: k.binding, v: v.binding, d_out: dOut.binding,
      saved_stats: stats.binding, dk: dkParts.binding, dv: dvParts.binding,
    },
    params: { rows: d.nk, cols: d.nq, blocks: gk.blocks, splits: gk.splits, span: gk.span, bh, heads, scale },
    constants: { HD: d.hd, WG: gk.wg }, workgroups: [gk.blocks * gk.splits * bh],
  });
  stats.release();
  return [sumSpans(dqParts, gq.splits, q.shape), sumSpans(dkParts, gk.splits, k.shape), sumSpans(dvParts, gk.splits, v.shape)];
}

/** softmax(Q_h K_hᵀ / sqrt(hd)) V_h per head, heads concatenated: (B, Nq, D). Recorded on the tape. */
export function attention(q: Tensor, k: Tensor, v: Tensor, heads: number, opts: AttentionOptions = {}): Tensor {
  const rt = q.rt;
  const { out, lse } = attentionForward(q, k, v, heads, opts);
  rt.tape.record('attention', [q, k, v], out, [q, k, v, out, lse], (dOut) => attentionBackward(q, k, v, heads, out, lse, dOut, opts));
  lse.release();
  return out;
}
