// Reference cases written by tools/reference/gen.py: load one, run the engine on it (forward and
// backward in eval mode, loss 0.5·CE + 0.5·Dice) and compare every recorded activation and every
// parameter gradient by relative L2 error.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSegLoss, segLoss } from '../runtime/ops/loss.js';
import { permute } from '../runtime/ops/layout.js';
import type { Runtime } from '../runtime/runtime.js';
import { readSafetensors, type StTensor } from '../runtime/formats/safetensors.js';
import type { Tensor } from '../runtime/tensor.js';
import { makeConfig, type Dataset, type SegFaceConfig } from './config.js';
import { loadParams, syntheticParams, type ParamStore } from './params.js';
import { segfaceForward } from './segface.js';

export const CASE_VERSION = 1;

export interface CaseManifest {
  version: number;
  torch: string;
  config: { backbone: string; dataset: Dataset; classes: number };
  res: number;
  batch: number;
  seed: number;
  weights: 'stored' | 'synthetic';
  loss: { total: number; ce: number; dice: number };
  activations: Record<string, number[]>;
  no_grad: string[];
  /** Present when the case ran LaPa's warped forward with inputs.safetensors' `landmarks` (B, 5, 2). */
  warp?: { kind: string; landmarks: string };
  /**
   * Tensors stored flattened and strided (gen.py --max-elems): name -> stride s; the file holds
   * elements 0, s, 2s, … of the full tensor, whose shape is in `activations` / the parameter's own.
   */
  strided?: { acts: Record<string, number>; grads: Record<string, number> };
}

export interface ReferenceCase {
  dir: string;
  manifest: CaseManifest;
  cfg: SegFaceConfig;
  inputs: Map<string, StTensor>;
  acts: Map<string, StTensor>;
  grads: Map<string, StTensor>;
}

export function loadCase(dir: string): ReferenceCase {
  const mpath = join(dir, 'manifest.json');
  if (!existsSync(mpath)) throw new Error(`${dir}: not a reference case (no manifest.json); HINT: write one with tools/reference/gen.py`);
  const manifest = JSON.parse(readFileSync(mpath, 'utf8')) as CaseManifest;
  if (manifest.version !== CASE_VERSION) throw new Error(`${mpath}: case version ${manifest.version}, expected ${CASE_VERSION}; HINT: rerun tools/reference/gen.py`);
  return {
    dir, manifest,
    cfg: makeConfig(manifest.config.backbone, manifest.config.dataset),
    inputs: readSafetensors(join(dir, 'inputs.safetensors')),
    acts: readSafetensors(join(dir, 'acts.safetensors')),
    grads: readSafetensors(join(dir, 'grads.safetensors')),
  };
}

/** Relative L2 error ‖a − b‖ / ‖b‖ (absolute ‖a‖ when b is all zeros). */
export function relL2(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    const d = got[i]! - want[i]!;
    num += d * d;
    den += want[i]! * want[i]!;
  }
  return den > 0 ? Math.sqrt(num / den) : Math.sqrt(num);
}

export interface Comparison { name: string; shape: number[]; relL2: number; norm: number }

export interface CaseResult {
  loss: { total: number; ce: number; dice: number };
  activations: Comparison[];
  gradients: Comparison[];
  /** Parameters without a reference gradient (PyTorch gave none). */
  noGrad: string[];
  /** Fraction of pixels where our logits' argmax equals the reference's (when logits are stored whole). */
  argmaxAgreement?: number;
}

/** The parameters of a case: stored weights when present, else the shared synthetic init. */
export function caseParams(rt: Runtime, c: ReferenceCase): ParamStore {
  const wpath = join(c.dir, 'weights.safetensors');
  if (c.manifest.weights === 'stored' && existsSync(wpath)) return loadParams(rt, c.cfg, readSafetensors(wpath), wpath);
  return syntheticParams(rt, c.cfg, c.manifest.seed);
}

/** Elements 0, s, 2s, … of x: the sample a strided reference tensor holds. */
function strided(x: ArrayLike<number>, s: number | undefined): ArrayLike<number> {
  if (!s || s === 1) return x;
  const out = new Float64Array(Math.ceil(x.length / s));
  for (let i = 0; i < out.length; i++) out[i] = x[i * s]!;
  return out;
}

/** Our NHWC activations (or (h·w, C) tokens) that the reference stores NCHW, as (1|B, C, h, w). */
const NCHW_IN_REFERENCE = /^neck\.\d$|^neck\.fused$|^pe$/;

function toReferenceLayout(t: Tensor, shape: readonly number[]): Tensor {
  const [b, c, h, w] = shape as [number, number, number, number];
  const nhwc = t.reshape([b, h, w, c]);
  const out = permute(nhwc, [0, 3, 1, 2]);
  nhwc.release();
  return out;
}

export async function runCase(rt: Runtime, c: ReferenceCase, params?: ParamStore): Promise<CaseResult> {
  const p = params ?? caseParams(rt, c);
  const img = c.inputs.get('image')!;
  const lab = c.inputs.get('labels')!;
  const lm = c.inputs.get('landmarks');
  if (c.manifest.warp && !lm) throw new Error(`${c.dir}: the manifest says the case is warped, but inputs.safetensors has no landmarks`);
  const recorded = new Map<string, Tensor>();
  const loss = rt.scope(() => {
    const image = rt.tensor(img.data, img.shape);
    const labels = rt.tensor(lab.data, lab.shape, 'i32');
    const record = (name: string, t: Tensor): void => { recorded.set(name, t.pin()); };
    const logits = segfaceForward(p, image, lm ? { record, landmarks: Float32Array.from(lm.data) } : { record });
    const l = segLoss(logits, labels);
    rt.backward(l.total);
    return l;
  });
  const numbers = await readSegLoss(loss);
  for (const t of [loss.total, loss.ce, loss.dice, loss.badLabels]) t.release();
  const result = { total: numbers.total, ce: numbers.ce, dice: numbers.dice };
  const activations: Comparison[] = [];
  let argmaxAgreement: number | undefined;
  for (const [name, want] of c.acts) {
    const t = recorded.get(name);
    if (!t) continue;
    const shape = c.manifest.activations[name] ?? want.shape;
    const nchw = NCHW_IN_REFERENCE.test(name) ? rt.withoutGrad(() => toReferenceLayout(t, shape)) : undefined;
    const got = strided(await (nchw ?? t).read(), c.manifest.strided?.acts[name]);
    nchw?.release();
    if (got.length !== want.data.length) throw new Error(`${c.dir}: activation ${name} has ${got.length} compared elements, the reference ${want.data.length}`);
    activations.push({ name, shape, relL2: relL2(got, want.data), norm: l2(want.data) });
    if (name === 'logits' && !c.manifest.strided?.acts[name]) argmaxAgreement = agreement(got, want.data, shape);
  }
  for (const t of recorded.values()) t.unpin();
  const gradients: Comparison[] = [];
  for (const [name, want] of c.grads) {
    const t = p.get(name);
    const got = strided(t.grad ? await t.grad.read() : new Float32Array(t.size), c.manifest.strided?.grads[name]);
    if (got.length !== want.data.length) throw new Error(`${c.dir}: gradient ${name} has ${got.length} compared elements, the reference ${want.data.length}`);
    gradients.push({ name, shape: t.shape.slice(), relL2: relL2(got, want.data), norm: l2(want.data) });
  }
  if (!params) p.release();
  return { loss: result, activations, gradients, noGrad: c.manifest.no_grad, ...(argmaxAgreement === undefined ? {} : { argmaxAgreement }) };
}

/** Fraction of pixels whose argmax over classes agrees, for (B, K, H, W) logits. */
export function agreement(a: ArrayLike<number>, b: ArrayLike<number>, [B, K, H, W]: number[]): number {
  const P = H! * W!;
  let same = 0;
  for (let n = 0; n < B!; n++) {
    for (let px = 0; px < P; px++) {
      let ia = 0, ib = 0;
      for (let k = 1; k < K!; k++) {
        const at = (n * K! + k) * P + px;
        if (a[at]! > a[(n * K! + ia) * P + px]!) ia = k;
        if (b[at]! > b[(n * K! + ib) * P + px]!) ib = k;
      }
      if (ia === ib) same++;
    }
  }
  return same / (B! * P);
}

function l2(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s);
}
