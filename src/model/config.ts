// SegFace configurations and the official state_dict layout they imply.
//
// The official model is swin_base (Swin V1) or swinv2_base with a 256-wide SegFormer-style neck
// and two-way transformer. swin_t/swin_s/swinv2_t/swinv2_s put the same head on torchvision's
// smaller backbones (fast tests); `tiny` shrinks the head as well, for committed test fixtures.
// `mini` is the default synthetic-training model (src/train/presets.ts): a Swin twice tiny's width
// with window 8 (64 px -> 16, 8, 4, 2 tokens; 96 px -> 24, 12, 6, 3) and a 128-wide head, so the mask head's per-pixel
// features have 128/8 = 16 channels (tiny's 4 cannot separate 19 classes well; swin_base's: 32).
// Dataset decides the class tokens: celeb 19, lapa/helen 11 (docs/segface-model.md).

export type Dataset = 'celeb' | 'lapa' | 'helen';

export interface SegFaceConfig {
  backbone: string;
  dataset: Dataset;
  embed: number;
  depths: number[];
  heads: number[];
  window: number;
  v2: boolean;
  /** Neck and decoder width (256 officially). */
  dim: number;
  /** Two-way transformer MLP hidden width (2048 officially). */
  mlpDim: number;
  decoderHeads: number;
  /** Stochastic-depth probability of the last block; block k of N gets p·k/(N−1). */
  stochasticDepth: number;
}

export const CELEB_TOKENS = ['background', 'neck', 'face', 'cloth', 'rightear', 'leftear', 'rightbro', 'leftbro',
  'righteye', 'lefteye', 'nose', 'innermouth', 'lowerlip', 'upperlip', 'hair', 'glass', 'hat', 'earring', 'necklace'];
export const LAPA_TOKENS = ['background', 'face', 'leftbro', 'rightbro', 'lefteye', 'righteye', 'nose', 'upperlip',
  'innermouth', 'lowerlip', 'hair'];

/** Class names of each dataset's label map, in the official class order. */
export const CLASS_NAMES: Record<Dataset, string[]> = {
  celeb: ['background', 'neck', 'skin', 'cloth', 'l_ear', 'r_ear', 'l_brow', 'r_brow', 'l_eye', 'r_eye', 'nose',
    'mouth', 'l_lip', 'u_lip', 'hair', 'eye_g', 'hat', 'ear_r', 'neck_l'],
  lapa: ['background', 'face', 'left_brow', 'right_brow', 'left_eye', 'right_eye', 'nose', 'upper_lip', 'inner_mouth', 'lower_lip', 'hair'],
  helen: ['background', 'face', 'left_brow', 'right_brow', 'left_eye', 'right_eye', 'nose', 'upper_lip', 'inner_mouth', 'lower_lip', 'hair'],
};

type Shape = Omit<SegFaceConfig, 'backbone' | 'dataset'>;
const HEAD = { dim: 256, mlpDim: 2048, decoderHeads: 8 };
export const BACKBONES: Record<string, Shape> = {
  swin_t: { embed: 96, depths: [2, 2, 6, 2], heads: [3, 6, 12, 24], window: 7, v2: false, stochasticDepth: 0.2, ...HEAD },
  swin_s: { embed: 96, depths: [2, 2, 18, 2], heads: [3, 6, 12, 24], window: 7, v2: false, stochasticDepth: 0.3, ...HEAD },
  swin_base: { embed: 128, depths: [2, 2, 18, 2], heads: [4, 8, 16, 32], window: 7, v2: false, stochasticDepth: 0.5, ...HEAD },
  swinv2_t: { embed: 96, depths: [2, 2, 6, 2], heads: [3, 6, 12, 24], window: 8, v2: true, stochasticDepth: 0.2, ...HEAD },
  swinv2_s: { embed: 96, depths: [2, 2, 18, 2], heads: [3, 6, 12, 24], window: 8, v2: true, stochasticDepth: 0.3, ...HEAD },
  swinv2_base: { embed: 128, depths: [2, 2, 18, 2], heads: [4, 8, 16, 32], window: 8, v2: true, stochasticDepth: 0.5, ...HEAD },
  mini: { embed: 32, depths: [2, 2, 2, 2], heads: [1, 2, 4, 8], window: 8, v2: false, stochasticDepth: 0.1, dim: 128, mlpDim: 256, decoderHeads: 4 },
  tiny: { embed: 16, depths: [2, 2, 2, 2], heads: [1, 2, 4, 8], window: 7, v2: false, stochasticDepth: 0.2, dim: 32, mlpDim: 64, decoderHeads: 2 },
};

export function makeConfig(backbone: string, dataset: Dataset = 'celeb'): SegFaceConfig {
  const shape = BACKBONES[backbone];
  if (!shape) throw new Error(`unknown backbone ${backbone}; known: ${Object.keys(BACKBONES).join(', ')}`);
  return { backbone, dataset, ...structuredClone(shape) };
}

export function tokenNames(cfg: SegFaceConfig): string[] {
  return cfg.dataset === 'celeb' ? CELEB_TOKENS : LAPA_TOKENS;
}

export const stageDims = (cfg: SegFaceConfig): number[] => [0, 1, 2, 3].map((i) => cfg.embed * 2 ** i);

export interface TensorSpec {
  name: string;
  shape: number[];
  /** Buffers are not trained (relative_position_index, relative_coords_table, the PE matrix). */
  kind: 'param' | 'buffer';
  /** int64 in official checkpoints (relative_position_index); int32 in the engine. */
  integer?: boolean;
}

/** The official state_dict keys and shapes of a config, in state_dict order. */
export function stateDictSpec(cfg: SegFaceConfig): TensorSpec[] {
  const out: TensorSpec[] = [];
  const p = (name: string, shape: number[]): void => { out.push({ name, shape, kind: 'param' }); };
  const buf = (name: string, shape: number[], integer = false): void => { out.push({ name, shape, kind: 'buffer', integer }); };
  const E = cfg.embed;
  const w = cfg.window;
  p('backbone.0.0.0.weight', [E, 3, 4, 4]);
  p('backbone.0.0.0.bias', [E]);
  p('backbone.0.0.2.weight', [E]);
  p('backbone.0.0.2.bias', [E]);
  stageDims(cfg).forEach((C, s) => {
    const heads = cfg.heads[s]!;
    for (let j = 0; j < cfg.depths[s]!; j++) {
      const b = `backbone.0.${2 * s + 1}.${j}.`;
      p(`${b}norm1.weight`, [C]);
      p(`${b}norm1.bias`, [C]);
      if (cfg.v2) {
        p(`${b}attn.logit_scale`, [heads, 1, 1]);
        buf(`${b}attn.relative_coords_table`, [1, 2 * w - 1, 2 * w - 1, 2]);
        buf(`${b}attn.relative_position_index`, [w ** 4], true);
      } else {
        p(`${b}attn.relative_position_bias_table`, [(2 * w - 1) ** 2, heads]);
        buf(`${b}attn.relative_position_index`, [w ** 4], true);
      }
      p(`${b}attn.qkv.weight`, [3 * C, C]);
      p(`${b}attn.qkv.bias`, [3 * C]);
      p(`${b}attn.proj.weight`, [C, C]);
      p(`${b}attn.proj.bias`, [C]);
      if (cfg.v2) {
        p(`${b}attn.cpb_mlp.0.weight`, [512, 2]);
        p(`${b}attn.cpb_mlp.0.bias`, [512]);
        p(`${b}attn.cpb_mlp.2.weight`, [heads, 512]);
      }
      p(`${b}norm2.weight`, [C]);
      p(`${b}norm2.bias`, [C]);
      p(`${b}mlp.0.weight`, [4 * C, C]);
      p(`${b}mlp.0.bias`, [4 * C]);
      p(`${b}mlp.3.weight`, [C, 4 * C]);
      p(`${b}mlp.3.bias`, [C]);
    }
    if (s < 3) {
      const m = `backbone.0.${2 * s + 2}.`;
      p(`${m}reduction.weight`, [2 * C, 4 * C]);
      const normC = cfg.v2 ? 2 * C : 4 * C;
      p(`${m}norm.weight`, [normC]);
      p(`${m}norm.bias`, [normC]);
    }
  });
  p('backbone.1.weight', [8 * E]);
  p('backbone.1.bias', [8 * E]);
  const d = cfg.dim;
  buf('pe_layer.positional_encoding_gaussian_matrix', [2, d / 2]);
  const attn = (prefix: string, internal: number): void => {
    p(`${prefix}.q_proj.weight`, [internal, d]); p(`${prefix}.q_proj.bias`, [internal]);
    p(`${prefix}.k_proj.weight`, [internal, d]); p(`${prefix}.k_proj.bias`, [internal]);
    p(`${prefix}.v_proj.weight`, [internal, d]); p(`${prefix}.v_proj.bias`, [internal]);
    p(`${prefix}.out_proj.weight`, [d, internal]); p(`${prefix}.out_proj.bias`, [d]);
  };
  const norm = (prefix: string): void => { p(`${prefix}.weight`, [d]); p(`${prefix}.bias`, [d]); };
  for (let l = 0; l < 2; l++) {
    const L = `face_decoder.transformer.layers.${l}`;
    attn(`${L}.self_attn`, d);
    norm(`${L}.norm1`);
    attn(`${L}.cross_attn_token_to_image`, d / 2);
    norm(`${L}.norm2`);
    p(`${L}.mlp.lin1.weight`, [cfg.mlpDim, d]); p(`${L}.mlp.lin1.bias`, [cfg.mlpDim]);
    p(`${L}.mlp.lin2.weight`, [d, cfg.mlpDim]); p(`${L}.mlp.lin2.bias`, [d]);
    norm(`${L}.norm3`);
    norm(`${L}.norm4`);
    attn(`${L}.cross_attn_image_to_token`, d / 2);
  }
  attn('face_decoder.transformer.final_attn_token_to_image', d / 2);
  norm('face_decoder.transformer.norm_final_attn');
  for (const t of tokenNames(cfg)) p(`face_decoder.${t}_token.weight`, [1, d]);
  p('face_decoder.output_upscaling.0.weight', [d, d / 4, 2, 2]);
  p('face_decoder.output_upscaling.0.bias', [d / 4]);
  p('face_decoder.output_upscaling.1.weight', [d / 4]);
  p('face_decoder.output_upscaling.1.bias', [d / 4]);
  p('face_decoder.output_upscaling.3.weight', [d / 4, d / 8, 2, 2]);
  p('face_decoder.output_upscaling.3.bias', [d / 8]);
  p('face_decoder.output_hypernetwork_mlps.layers.0.weight', [d, d]);
  p('face_decoder.output_hypernetwork_mlps.layers.0.bias', [d]);
  p('face_decoder.output_hypernetwork_mlps.layers.1.weight', [d, d]);
  p('face_decoder.output_hypernetwork_mlps.layers.1.bias', [d]);
  p('face_decoder.output_hypernetwork_mlps.layers.2.weight', [d / 8, d]);
  p('face_decoder.output_hypernetwork_mlps.layers.2.bias', [d / 8]);
  stageDims(cfg).forEach((C, i) => { p(`linear_c.${i}.proj.weight`, [d, C]); p(`linear_c.${i}.proj.bias`, [d]); });
  p('linear_fuse.weight', [d, 4 * d, 1, 1]);
  return out;
}
