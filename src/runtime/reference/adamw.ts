// float64 reference of torch.optim.AdamW's algorithm with torch.nn.utils.clip_grad_norm_ in front
// (independent of the WGSL). A step whose gradients hold a NaN/Inf is skipped entirely.

export interface AdamWRefHyper { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; maxNorm?: number }

export interface AdamWRefState { p: Float64Array[]; m: Float64Array[]; v: Float64Array[]; step: number[] }

export function adamwRefInit(params: Float64Array[]): AdamWRefState {
  return {
    p: params.map((x) => Float64Array.from(x)),
    m: params.map((x) => new Float64Array(x.length)),
    v: params.map((x) => new Float64Array(x.length)),
    step: params.map(() => 0),
  };
}

/** ‖g‖₂ over all tensors and torch's clip coefficient min(1, maxNorm / (‖g‖ + 1e-6)). */
export function gradStatsRef(grads: (Float64Array | null)[], maxNorm?: number): { norm: number; scale: number; nonFinite: boolean } {
  let sq = 0;
  let nonFinite = false;
  for (const g of grads) {
    if (!g) continue;
    for (const x of g) { sq += x * x; if (!Number.isFinite(x)) nonFinite = true; }
  }
  const norm = Math.sqrt(sq);
  const scale = maxNorm !== undefined && maxNorm > 0 ? Math.min(1, maxNorm / (norm + 1e-6)) : 1;
  return { norm, scale, nonFinite };
}

/** One step in place; parameters with a null gradient are left alone. Returns the gradient stats. */
export function adamwRefStep(s: AdamWRefState, grads: (Float64Array | null)[], h: AdamWRefHyper): ReturnType<typeof gradStatsRef> {
  const stats = gradStatsRef(grads, h.maxNorm);
  if (stats.nonFinite) return stats;
  grads.forEach((g, i) => {
    if (!g) return;
    const p = s.p[i]!; const m = s.m[i]!; const v = s.v[i]!;
    const t = ++s.step[i]!;
    const bc1 = 1 - h.beta1 ** t;
    const bc2 = 1 - h.beta2 ** t;
    for (let j = 0; j < p.length; j++) {
      const gj = g[j]! * stats.scale;
      p[j] *= 1 - h.lr * h.weightDecay;
      m[j] = h.beta1 * m[j]! + (1 - h.beta1) * gj;
      v[j] = h.beta2 * v[j]! + (1 - h.beta2) * gj * gj;
      const denom = Math.sqrt(v[j]!) / Math.sqrt(bc2) + h.eps;
      p[j] -= (h.lr / bc1) * m[j]! / denom;
    }
  });
  return stats;
}

/**
 * The same step (without clipping) in float32 with torch's CPU operation order, every operation
 * rounded (Math.fround): exp_avg.mul_(β1).add_(g, alpha=1−β1), exp_avg_sq.mul_(β2).addcmul_(g, g,
 * value=1−β2), denom = sqrt(v) / sqrt(bc2) + eps, param.addcdiv_(m, denom, value=−lr/bc1), the
 * scalars computed in float64 and rounded once, as torch passes Python floats to f32 kernels.
 */
export function adamwRefStepF32(s: AdamWRefState, grads: Float64Array[], h: AdamWRefHyper): void {
  const f = Math.fround;
  grads.forEach((g, i) => {
    const p = s.p[i]!; const m = s.m[i]!; const v = s.v[i]!;
    const t = ++s.step[i]!;
    const decay = f(1 - h.lr * h.weightDecay);
    const negStep = f(-(h.lr / (1 - h.beta1 ** t)));
    const bc2Sqrt = f(Math.sqrt(1 - h.beta2 ** t));
    for (let j = 0; j < p.length; j++) {
      const gj = g[j]!;
      p[j] = f(p[j]! * decay);
      m[j] = f(f(m[j]! * f(h.beta1)) + f(f(1 - h.beta1) * gj));
      v[j] = f(f(v[j]! * f(h.beta2)) + f(f(f(1 - h.beta2) * gj) * gj));
      const denom = f(f(f(Math.sqrt(v[j]!)) / bc2Sqrt) + f(h.eps));
      p[j] = f(p[j]! + f(f(negStep * m[j]!) / denom));
    }
  });
}
