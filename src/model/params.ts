// The model's tensors by official state_dict name: loading (with strict checks), synthetic
// initialisation, and the buffers Swin derives from its window size.
import { asDtype } from '../runtime/flat.js';
import type { FloatDType } from '../runtime/ops/util.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Tensor } from '../runtime/tensor.js';
import { BACKBONES, CELEB_TOKENS, LAPA_TOKENS, makeConfig, stateDictSpec, type Dataset, type SegFaceConfig, type TensorSpec } from './config.js';
import { syntheticValue } from './synthetic_init.js';

export interface HostTensor { shape: number[]; data: Float32Array | Int32Array }

/** torchvision's relative_position_index: (ws², ws²) flattened, query-major. */
export function relativePositionIndex(ws: number): Int32Array {
  const n = ws * ws;
  const out = new Int32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const dy = Math.floor(i / ws) - Math.floor(j / ws) + ws - 1;
      const dx = (i % ws) - (j % ws) + ws - 1;
      out[i * n + j] = dy * (2 * ws - 1) + dx;
    }
  }
  return out;
}

/** Swin V2's relative_coords_table (1, 2ws−1, 2ws−1, 2): sign(t)·log2(|t|+1)/3 with t = 8·d/(ws−1). */
export function relativeCoordsTable(ws: number): Float32Array {
  const m = 2 * ws - 1;
  const out = new Float32Array(m * m * 2);
  const f = (d: number): number => {
    const t = Math.fround((Math.fround(d / (ws - 1))) * 8);
    return Math.fround(Math.sign(t) * Math.fround(Math.log2(Math.fround(Math.abs(t) + 1))) / 3);
  };
  for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) {
    out[(a * m + b) * 2] = f(a - (ws - 1));
    out[(a * m + b) * 2 + 1] = f(b - (ws - 1));
  }
  return out;
}

/** Infers the configuration of a state dict from its key set and shapes, or says what is wrong. */
export function inferConfig(shapes: Map<string, number[]>, source: string): SegFaceConfig {
  const need = (name: string): number[] => {
    const s = shapes.get(name);
    if (!s) throw new Error(`${source}: not a SegFace state dict (missing ${name})`);
    return s;
  };
  const embed = need('backbone.0.0.0.weight')[0]!;
  const v2 = shapes.has('backbone.0.1.0.attn.logit_scale');
  const depths = [1, 3, 5, 7].map((s) => {
    let j = 0;
    while (shapes.has(`backbone.0.${s}.${j}.norm1.weight`)) j++;
    return j;
  });
  const heads = [1, 3, 5, 7].map((s) => (v2 ? need(`backbone.0.${s}.0.attn.logit_scale`)[0]! : need(`backbone.0.${s}.0.attn.relative_position_bias_table`)[1]!));
  const window = v2 ? (need('backbone.0.1.0.attn.relative_coords_table')[1]! + 1) / 2 : Math.round((Math.sqrt(need('backbone.0.1.0.attn.relative_position_bias_table')[0]!) + 1) / 2);
  const tokens = [...shapes.keys()].filter((k) => /^face_decoder\.\w+_token\.weight$/.test(k)).map((k) => k.slice('face_decoder.'.length, -'_token.weight'.length));
  let dataset: Dataset;
  if (tokens.length === CELEB_TOKENS.length && CELEB_TOKENS.every((t) => tokens.includes(t))) dataset = 'celeb';
  else if (tokens.length === LAPA_TOKENS.length && LAPA_TOKENS.every((t) => tokens.includes(t))) dataset = 'lapa';
  else throw new Error(`${source}: class tokens [${tokens.join(', ')}] match neither CelebAMask-HQ (19) nor LaPa/Helen (11)`);
  const dim = need('linear_fuse.weight')[0]!;
  const mlpDim = need('face_decoder.transformer.layers.0.mlp.lin1.weight')[0]!;
  const match = Object.entries(BACKBONES).find(([, b]) => b.embed === embed && b.v2 === v2 && b.window === window && b.dim === dim &&
    b.depths.join() === depths.join() && b.heads.join() === heads.join());
  const base = match ? makeConfig(match[0], dataset) : undefined;
  // Head dims and decoder heads cannot be read from shapes alone; known backbones give them.
  return base ?? { backbone: `custom(embed ${embed}, depths ${depths.join('/')})`, dataset, embed, depths, heads, window, v2, dim, mlpDim, decoderHeads: 8, stochasticDepth: 0.5 };
}

/** Checks a state dict against a config: every key present, none unexpected, every shape right. */
export function checkStateDict(cfg: SegFaceConfig, shapes: Map<string, number[]>, source: string): void {
  const spec = stateDictSpec(cfg);
  const wanted = new Map(spec.map((t) => [t.name, t]));
  const missing = spec.filter((t) => !shapes.has(t.name)).map((t) => t.name);
  const unexpected = [...shapes.keys()].filter((k) => !wanted.has(k));
  const mismatched = spec.filter((t) => shapes.has(t.name) && shapes.get(t.name)!.join() !== t.shape.join())
    .map((t) => `${t.name}: file [${shapes.get(t.name)!.join(', ')}], model [${t.shape.join(', ')}]`);
  const problems: string[] = [];
  const list = (xs: string[]): string => xs.slice(0, 8).join(', ') + (xs.length > 8 ? `, … (${xs.length} in all)` : '');
  if (missing.length) problems.push(`missing keys: ${list(missing)}`);
  if (unexpected.length) problems.push(`unexpected keys: ${list(unexpected)}`);
  if (mismatched.length) problems.push(`shape mismatches: ${list(mismatched)}`);
  if (problems.length) throw new Error(`${source}: state dict does not fit ${cfg.backbone}/${cfg.dataset}:\n  ${problems.join('\n  ')}`);
}

/** The model's tensors on the device, by official name. */
export class ParamStore {
  readonly tensors = new Map<string, Tensor>();
  readonly specs: TensorSpec[];

  constructor(readonly rt: Runtime, readonly cfg: SegFaceConfig, values: (spec: TensorSpec) => Float32Array | Int32Array) {
    this.specs = stateDictSpec(cfg);
    for (const spec of this.specs) {
      const data = values(spec);
      const t = rt.untracked(() => rt.tensor(data, spec.shape, spec.integer ? 'i32' : 'f32'));
      t.name = spec.name;
      t.requiresGrad = spec.kind === 'param';
      this.tensors.set(spec.name, t);
    }
  }

  /**
   * The tensor `name`; with `dtype` (an f16 model), a float tensor in that dtype: the f16 copy the
   * runtime keeps of a parameter in a flat group (kept in step by whatever updates it), or a cast.
   */
  get(name: string, dtype?: FloatDType): Tensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`model has no tensor ${name}`);
    return dtype === undefined ? t : asDtype(t, dtype);
  }

  /** Trainable parameters in state_dict order. */
  params(): Tensor[] {
    return this.specs.filter((s) => s.kind === 'param').map((s) => this.tensors.get(s.name)!);
  }

  release(): void {
    for (const t of this.tensors.values()) { t.grad?.release(); t.release(); }
    this.tensors.clear();
  }
}

/** Values of the derived buffers (relative position index and coords table). */
function derivedBuffer(cfg: SegFaceConfig, spec: TensorSpec): Float32Array | Int32Array | undefined {
  if (spec.name.endsWith('relative_position_index')) return relativePositionIndex(cfg.window);
  if (spec.name.endsWith('relative_coords_table')) return relativeCoordsTable(cfg.window);
  return undefined;
}

/** The value of one state-dict entry under the synthetic initialisation (derived buffers as always). */
function syntheticEntry(cfg: SegFaceConfig, spec: TensorSpec, seed: number): Float32Array | Int32Array {
  return derivedBuffer(cfg, spec) ?? syntheticValue(spec.name, spec.shape, seed);
}

/** The whole synthetic state dict on the host, official names (e.g. to write a weights file). */
export function syntheticStateDict(cfg: SegFaceConfig, seed: number): Map<string, HostTensor> {
  return new Map(stateDictSpec(cfg).map((spec) => [spec.name, { shape: spec.shape, data: syntheticEntry(cfg, spec, seed) }]));
}

/** Synthetic weights identical to the PyTorch reference generator's (tools/reference/gen.py). */
export function syntheticParams(rt: Runtime, cfg: SegFaceConfig, seed: number): ParamStore {
  return new ParamStore(rt, cfg, (spec) => syntheticEntry(cfg, spec, seed));
}

/** Parameters from a host state dict, checked strictly first (before any GPU work). */
export function loadParams(rt: Runtime, cfg: SegFaceConfig, state: Map<string, HostTensor>, source: string): ParamStore {
  checkStateDict(cfg, new Map([...state].map(([k, v]) => [k, v.shape])), source);
  return new ParamStore(rt, cfg, (spec) => {
    const t = state.get(spec.name)!;
    if (spec.integer) return t.data instanceof Int32Array ? t.data : Int32Array.from(t.data);
    return t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
  });
}
