// Swin V1/V2 backbone on NHWC tensors (torchvision's `features`, official names `backbone.0.*`).
//
//   patch embed: Conv2d(3, E, 4, 4) -> LayerNorm(E)                        (B, H/4, W/4, E)
//   stage s (C = E·2^s): depth[s] blocks, even blocks unshifted, odd ones shifted by ws//2
//     V1 block: x += drop(proj(WA(qkv(LN1 x))));  x += drop(fc2(GELU(fc1(LN2 x))))
//     V2 block: x += drop(LN1(proj(WA(qkv x))));  x += drop(LN2(fc2(GELU(fc1 x))))
//   merge after stages 1..3: gather 2x2 -> V1: LN(4C) then Linear(4C, 2C); V2: Linear then LN(2C)
// The outputs of the four stages (before merging) are the multi-scale features. The final
// `backbone.1` LayerNorm is never used by SegFace (its result is discarded officially).
import { activation } from '../runtime/ops/activation.js';
import { patchEmbed } from '../runtime/ops/conv.js';
import { dropPath } from '../runtime/ops/droppath.js';
import { add } from '../runtime/ops/elementwise.js';
import { asDtype } from '../runtime/flat.js';
import { floatDtype } from '../runtime/ops/util.js';
import { layerNorm } from '../runtime/ops/layernorm.js';
import { concat, slice } from '../runtime/ops/layout.js';
import { matmul } from '../runtime/ops/matmul.js';
import { mlp, type Linear } from '../runtime/ops/mlp.js';
import { patchMerge } from '../runtime/ops/vision.js';
import { windowAttention } from '../runtime/ops/window_attention.js';
import type { Tensor } from '../runtime/tensor.js';
import { stageDims, type SegFaceConfig } from './config.js';
import type { ParamStore } from './params.js';

const LN_EPS = 1e-5;

export interface RunOptions {
  /** Train mode: stochastic depth active (drop path with per-block probability). */
  train?: boolean;
  /** Seed of the drop-path masks (combine with the step so each step differs). */
  seed?: number;
  /** Index of the batch's first sample in the global batch (data parallelism; default 0). */
  firstSample?: number;
  /** Called with every block-boundary activation, named like the PyTorch reference. */
  record?: (name: string, t: Tensor) => void;
  /**
   * Storage of activations (default f32). f16 (mixed precision, adapter feature shader-f16): the
   * image is rounded to f16, weights are cast to f16 where an f16 activation meets them (LayerNorm
   * and window attention keep their f32 parameters), maths stays f32 inside the kernels, and the
   * logits come back as f32 unless `f16Logits`.
   */
  precision?: 'f32' | 'f16';
  /**
   * With precision f16: hand back the logits as stored (f16) instead of widened to f32 (the
   * training loss reads f16). Not with landmarks: the LaPa warp back runs in f32 and returns f32.
   */
  f16Logits?: boolean;
}

/** x (..., in) @ W(out, in)^T + b: PyTorch's Linear on the last dim (W, b cast to x's precision). */
export function linear(x: Tensor, w: Tensor, b?: Tensor | null): Tensor {
  const dt = floatDtype('linear', x);
  return matmul(x, asDtype(w, dt), b ? { transB: true, bias: asDtype(b, dt) } : { transB: true });
}

/** A Linear's weight and bias, cast to x's precision as linear() does. */
const linearOf = (p: ParamStore, prefix: string, x: Tensor): Linear =>
  ({ weight: p.get(`${prefix}.weight`, floatDtype('linear', x)), bias: p.get(`${prefix}.bias`, floatDtype('linear', x)) });

function ln(p: ParamStore, prefix: string, x: Tensor, eps = LN_EPS): Tensor {
  return layerNorm(x, p.get(`${prefix}.weight`), p.get(`${prefix}.bias`), eps);
}

/** The V2 relative-position bias before 16·sigmoid: cpb_mlp(relative_coords_table), (15², heads). */
function cpbTable(p: ParamStore, prefix: string, ws: number): Tensor {
  const coords = p.get(`${prefix}.relative_coords_table`).reshape([(2 * ws - 1) ** 2, 2]);
  const hidden = activation('relu', linear(coords, p.get(`${prefix}.cpb_mlp.0.weight`), p.get(`${prefix}.cpb_mlp.0.bias`)));
  return linear(hidden, p.get(`${prefix}.cpb_mlp.2.weight`));
}

/** V2 zeroes the k third of the qkv bias at every forward (its gradient is therefore 0). */
function v2QkvBias(p: ParamStore, prefix: string, C: number): Tensor {
  const rt = p.rt;
  const qkv = p.get(`${prefix}.qkv.bias`).reshape([3, C]);
  const q = slice(qkv, 0, 0, 1);
  const v = slice(qkv, 0, 2, 1);
  const k0 = rt.zeros([1, C]);
  const bias = concat([q, k0, v], 0);
  for (const t of [qkv, q, v, k0]) t.release();
  const flat = bias.reshape([3 * C]);
  bias.release();
  return flat;
}

interface BlockCtx { cfg: SegFaceConfig; stage: number; index: number; globalIndex: number; totalBlocks: number; opts: RunOptions }

function residual(x: Tensor, branch: Tensor, c: BlockCtx, which: number): Tensor {
  const prob = c.cfg.stochasticDepth * c.globalIndex / Math.max(1, c.totalBlocks - 1);
  const kept = c.opts.train && prob > 0
    ? dropPath(branch, prob, (((c.opts.seed ?? 0) * 1009 + c.globalIndex) * 2 + which) >>> 0, { training: true, firstSample: c.opts.firstSample ?? 0 })
    : branch;
  return add(x, kept);
}

function swinBlock(p: ParamStore, x: Tensor, c: BlockCtx): Tensor {
  const { cfg, stage } = c;
  const prefix = `backbone.0.${2 * stage + 1}.${c.index}`;
  const C = x.shape[3]!;
  const heads = cfg.heads[stage]!;
  const shift = c.index % 2 === 1 ? Math.floor(cfg.window / 2) : 0;
  const attnIn = cfg.v2 ? x : ln(p, `${prefix}.norm1`, x);
  const qkvBias = cfg.v2 ? v2QkvBias(p, `${prefix}.attn`, C) : p.get(`${prefix}.attn.qkv.bias`);
  const qkv = linear(attnIn, p.get(`${prefix}.attn.qkv.weight`), qkvBias);
  const table = cfg.v2 ? cpbTable(p, `${prefix}.attn`, cfg.window) : p.get(`${prefix}.attn.relative_position_bias_table`);
  const attn = windowAttention(qkv, table, {
    ws: cfg.window, heads, shift, qkvBias,
    ...(cfg.v2 ? { logitScale: p.get(`${prefix}.attn.logit_scale`) } : {}),
  });
  let branch = linear(attn, p.get(`${prefix}.attn.proj.weight`), p.get(`${prefix}.attn.proj.bias`));
  if (cfg.v2) branch = ln(p, `${prefix}.norm1`, branch);
  x = residual(x, branch, c, 0);
  const mlpIn = cfg.v2 ? x : ln(p, `${prefix}.norm2`, x);
  // mlp.0 → GELU → mlp.3, fused (runtime/ops/mlp.ts: GELU in the matmul epilogues)
  let out = mlp(mlpIn, linearOf(p, `${prefix}.mlp.0`, mlpIn), linearOf(p, `${prefix}.mlp.3`, mlpIn));
  if (cfg.v2) out = ln(p, `${prefix}.norm2`, out);
  return residual(x, out, c, 1);
}

function merge(p: ParamStore, x: Tensor, cfg: SegFaceConfig, stage: number): Tensor {
  const prefix = `backbone.0.${2 * stage + 2}`;
  const gathered = patchMerge(x);
  if (cfg.v2) return ln(p, `${prefix}.norm`, linear(gathered, p.get(`${prefix}.reduction.weight`)));
  return linear(ln(p, `${prefix}.norm`, gathered), p.get(`${prefix}.reduction.weight`));
}

/**
 * image (B, 3, H, W) NCHW -> the four stage outputs, NHWC (B, h_s, w_s, C_s). Each block's input
 * is released as soon as the next exists (the tape keeps what backward needs), so inference
 * holds about two activations of the backbone at a time, plus the stage outputs.
 */
export function swinForward(p: ParamStore, image: Tensor, opts: RunOptions = {}): Tensor[] {
  const cfg = p.cfg;
  const rt = p.rt;
  const record = opts.record ?? ((): void => {});
  let x = rt.scope(() => ln(p, 'backbone.0.0.2', patchEmbed(image, p.get('backbone.0.0.0.weight', floatDtype('patchEmbed', image)), p.get('backbone.0.0.0.bias', floatDtype('patchEmbed', image)))));
  record('backbone.0.0', x);
  const totalBlocks = cfg.depths.reduce((a, b) => a + b, 0);
  const stages: Tensor[] = [];
  const advance = (next: Tensor): void => {
    if (!stages.includes(x)) x.release();
    x = next;
  };
  let globalIndex = 0;
  stageDims(cfg).forEach((_, s) => {
    for (let j = 0; j < cfg.depths[s]!; j++) {
      const ctx: BlockCtx = { cfg, stage: s, index: j, globalIndex, totalBlocks, opts };
      advance(rt.scope(() => swinBlock(p, x, ctx)));
      record(`backbone.0.${2 * s + 1}.${j}`, x);
      globalIndex++;
    }
    stages.push(x);
    if (s < 3) {
      advance(rt.scope(() => merge(p, x, cfg, s)));
      record(`backbone.0.${2 * s + 2}`, x);
    }
  });
  return stages;
}
