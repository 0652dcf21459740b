// Pointwise activations: ReLU and GELU (exact erf form, as PyTorch's default `gelu`).
// Forward saves the input; backward is dx = dy · act'(x), one kernel (kernels/activation.wgsl).
//   relu'(x) = [x > 0]          gelu'(x) = Φ(x) + x·φ(x)
import { itemBytes, shapeStr, type Tensor } from '../tensor.js';
import { builds, floatDtype, groups } from './util.js';

const WG = 256;
const ACT_FWD = builds({ file: 'activation.wgsl', entry: 'act_fwd', storage: { y: 'read_write', x: 'read' }, uniform: 'p' });
const ACT_BWD = builds({ file: 'activation.wgsl', entry: 'act_bwd', storage: { dx: 'read_write', x: 'read', dy: 'read' }, uniform: 'p' });

export type ActivationKind = 'relu' | 'gelu';
const KIND_CODE: Record<ActivationKind, number> = { relu: 0, gelu: 1 };

/**
 * The kernels move vec4s, so a tensor of n elements is touched over ceil(n/4)·16 bytes (8 in f16);
 * pooled buffers are sized in multiples of 64 bytes, which always covers that. Checked, not assumed.
 */
function vec4Count(op: string, ...ts: Tensor[]): number {
  const n4 = Math.ceil(ts[0]!.size / 4);
  for (const t of ts) {
    const touched = n4 * 4 * itemBytes(t.dtype);
    if (t.boundBytes < touched) throw new Error(`${op}: binding of ${t.describe()} is ${t.boundBytes} bytes, under the ${touched} its vec4 kernel touches`);
  }
  return n4;
}

export interface ActivationOptions {
  /** vec4s per workgroup (default 256); tests make it tiny to exercise grid folding. */
  workgroupSize?: number;
}

/** act(x) elementwise; records dx = dy · act'(x) on the tape. */
export function activation(kind: ActivationKind, x: Tensor, opts: ActivationOptions = {}): Tensor {
  const dtype = floatDtype(kind, x);
  const rt = x.rt;
  const y = rt.empty(x.shape, dtype, kind);
  const n4 = vec4Count(kind, y, x);
  const wg = opts.workgroupSize ?? WG;
  rt.dispatch(ACT_FWD[dtype], {
    op: `${kind}_fwd`, storage: { y: y.binding, x: x.binding },
    params: { n4 }, constants: { KIND: KIND_CODE[kind], WG: wg }, workgroups: [groups(n4, wg)],
  });
  rt.tape.record(kind, [x], y, [x], (dy) => [activationBackward(kind, x, dy, opts)]);
  return y;
}

/** dx = dy · act'(x) (not recorded on the tape). */
export function activationBackward(kind: ActivationKind, x: Tensor, dy: Tensor, opts: ActivationOptions = {}): Tensor {
  const op = `${kind}_bwd`;
  const dtype = floatDtype(op, x, dy);
  if (dy.size !== x.size) throw new Error(`${op}: gradient ${shapeStr(dy.shape)} does not match input ${shapeStr(x.shape)}`);
  const rt = x.rt;
  const dx = rt.empty(x.shape, dtype, op);
  const n4 = vec4Count(op, dx, x, dy);
  const wg = opts.workgroupSize ?? WG;
  rt.dispatch(ACT_BWD[dtype], {
    op, storage: { dx: dx.binding, x: x.binding, dy: dy.binding },
    params: { n4 }, constants: { KIND: KIND_CODE[kind], WG: wg }, workgroups: [groups(n4, wg)],
  });
  return dx;
}

export const relu = (x: Tensor): Tensor => activation('relu', x);
export const gelu = (x: Tensor): Tensor => activation('gelu', x);
