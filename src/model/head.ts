// SegFace's head: SegFormer-style neck, two-way transformer decoder with class tokens, upscaling
// and hypernetwork MLPs (official names `linear_c.*`, `linear_fuse`, `pe_layer.*`, `face_decoder.*`).
//
// Layouts: token tensors (B, N, d) row-major, image maps NHWC, so the chain needs no transposes:
//   stage s (B, h_s, w_s, C_s) -> linear_c[s] -> (B, h_s, w_s, d) -> bilinear to (h1, w1)
//   -> concat [s4, s3, s2, s1] on channels -> 1x1 conv (linear_fuse) = keys (B, h1·w1, d)
//   decoder(queries = class tokens T (K, d), keys, kpe) -> hs (B, K, d), keys (B, h1·w1, d)
//   keys as (B, h1, w1, d) -> ConvT 2x2 (NHWC) -> LayerNorm2d(eps 1e-6) -> GELU
//   -> ConvT 2x2 (NCHW) -> GELU = upscaled (B, d/8, 4h1, 4w1)
//   logits (B, K, 4h1·4w1) = MLP(hs) (B, K, d/8) @ upscaled viewed (B, d/8, 4h1·4w1)
import { activation } from '../runtime/ops/activation.js';
import { attention } from '../runtime/ops/attention.js';
import { conv1x1, convTranspose2x2 } from '../runtime/ops/conv.js';
import { add, castLike } from '../runtime/ops/elementwise.js';
import { layerNorm } from '../runtime/ops/layernorm.js';
import { concat } from '../runtime/ops/layout.js';
import { matmul } from '../runtime/ops/matmul.js';
import { broadcastTo } from '../runtime/ops/reduce.js';
import { floatDtype } from '../runtime/ops/util.js';
import { positionalEncoding, resizeBilinear } from '../runtime/ops/resample.js';
import type { Tensor } from '../runtime/tensor.js';
import { tokenNames } from './config.js';
import type { ParamStore } from './params.js';
import { linear, type RunOptions } from './swin.js';

const LN_EPS = 1e-5;
const LN2D_EPS = 1e-6;

function ln(p: ParamStore, prefix: string, x: Tensor, eps = LN_EPS): Tensor {
  return layerNorm(x, p.get(`${prefix}.weight`), p.get(`${prefix}.bias`), eps);
}

/** The four stage maps (NHWC) -> fused map (B, h1, w1, d) NHWC. */
export function neck(p: ParamStore, stages: Tensor[], opts: RunOptions = {}): Tensor {
  const [h1, w1] = [stages[0]!.shape[1]!, stages[0]!.shape[2]!];
  const maps = stages.map((s, i) => {
    const projected = linear(s, p.get(`linear_c.${i}.proj.weight`), p.get(`linear_c.${i}.proj.bias`));
    const resized = i === 0 ? projected : resizeBilinear(projected, [h1, w1], 'NHWC');
    opts.record?.(`neck.${i}`, resized);
    return resized;
  });
  const cat = concat([...maps].reverse(), 3);
  const fused = conv1x1(cat, p.get('linear_fuse.weight', floatDtype('conv1x1', cat)));
  opts.record?.('neck.fused', fused);
  return fused;
}

/** SAM-style attention block: out_proj(MHA(q_proj q, k_proj k, v_proj v)). */
function attend(p: ParamStore, prefix: string, q: Tensor, k: Tensor, v: Tensor): Tensor {
  const w = (n: string): Tensor => p.get(`${prefix}.${n}`);
  const Q = linear(q, w('q_proj.weight'), w('q_proj.bias'));
  const K = linear(k, w('k_proj.weight'), w('k_proj.bias'));
  const V = linear(v, w('v_proj.weight'), w('v_proj.bias'));
  return linear(attention(Q, K, V, p.cfg.decoderHeads), w('out_proj.weight'), w('out_proj.bias'));
}

export interface DecoderOut { hs: Tensor; keys: Tensor }

/** The two-way transformer (depth 2): class tokens attend to image tokens and back. */
export function twoWayTransformer(p: ParamStore, fused: Tensor, opts: RunOptions = {}): DecoderOut {
  const rt = p.rt;
  const [B, h, w, d] = fused.shape as [number, number, number, number];
  const T = concat(tokenNames(p.cfg).map((t) => p.get(`face_decoder.${t}_token.weight`, floatDtype('tokens', fused))), 0);  // (K, d)
  const kpe = rt.withoutGrad(() => castLike(positionalEncoding(p.get('pe_layer.positional_encoding_gaussian_matrix'), h, w, 'tokens'), fused));
  opts.record?.('pe', kpe);
  let keys = fused.reshape([B, h * w, d]);
  let queries = broadcastTo(T, [B, T.shape[0]!, d]);
  const L = 'face_decoder.transformer';
  for (let l = 0; l < 2; l++) {
    const pre = `${L}.layers.${l}`;
    if (l === 0) {
      queries = ln(p, `${pre}.norm1`, attend(p, `${pre}.self_attn`, queries, queries, queries));
    } else {
      const q = add(queries, T);
      queries = ln(p, `${pre}.norm1`, add(queries, attend(p, `${pre}.self_attn`, q, q, queries)));
    }
    const keysPe = add(keys, kpe);
    queries = ln(p, `${pre}.norm2`, add(queries, attend(p, `${pre}.cross_attn_token_to_image`, add(queries, T), keysPe, keys)));
    const hidden = activation('relu', linear(queries, p.get(`${pre}.mlp.lin1.weight`), p.get(`${pre}.mlp.lin1.bias`)));
    queries = ln(p, `${pre}.norm3`, add(queries, linear(hidden, p.get(`${pre}.mlp.lin2.weight`), p.get(`${pre}.mlp.lin2.bias`))));
    keys = ln(p, `${pre}.norm4`, add(keys, attend(p, `${pre}.cross_attn_image_to_token`, keysPe, add(queries, T), queries)));
    opts.record?.(`decoder.layers.${l}.queries`, queries);
    opts.record?.(`decoder.layers.${l}.keys`, keys);
  }
  const final = attend(p, `${L}.final_attn_token_to_image`, add(queries, T), add(keys, kpe), keys);
  const hs = ln(p, `${L}.norm_final_attn`, add(queries, final));
  opts.record?.('decoder.hs', hs);
  return { hs, keys };
}

/** Upscaling + hypernetwork: decoder output -> logits (B, K, 4h, 4w). */
export function maskHead(p: ParamStore, dec: DecoderOut, h: number, w: number, opts: RunOptions = {}): Tensor {
  const [B, , d] = dec.keys.shape as [number, number, number];
  const up = 'face_decoder.output_upscaling';
  const map = dec.keys.reshape([B, h, w, d]);
  let x = convTranspose2x2(map, p.get(`${up}.0.weight`, floatDtype(up, map)), p.get(`${up}.0.bias`, floatDtype(up, map)), { inLayout: 'NHWC', outLayout: 'NHWC' });
  x = activation('gelu', ln(p, `${up}.1`, x, LN2D_EPS));
  x = convTranspose2x2(x, p.get(`${up}.3.weight`, floatDtype(up, x)), p.get(`${up}.3.bias`, floatDtype(up, x)), { inLayout: 'NHWC', outLayout: 'NCHW' });
  const upscaled = activation('gelu', x);                                  // (B, d/8, 4h, 4w)
  opts.record?.('decoder.upscaled', upscaled);
  const m = 'face_decoder.output_hypernetwork_mlps.layers';
  let hyper = activation('relu', linear(dec.hs, p.get(`${m}.0.weight`), p.get(`${m}.0.bias`)));
  hyper = activation('relu', linear(hyper, p.get(`${m}.1.weight`), p.get(`${m}.1.bias`)));
  hyper = linear(hyper, p.get(`${m}.2.weight`), p.get(`${m}.2.bias`));      // (B, K, d/8)
  opts.record?.('decoder.hyper', hyper);
  const [, c, H, W] = upscaled.shape as [number, number, number, number];
  const K = hyper.shape[1]!;
  const logits = matmul(hyper, upscaled.reshape([B, c, H * W])).reshape([B, K, H, W]);
  opts.record?.('logits', logits);
  return logits;
}
