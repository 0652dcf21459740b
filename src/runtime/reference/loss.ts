// float64 references for the segmentation losses (independent of the WGSL).
// logits (B, K, HW) row-major, labels (B, HW); labels outside [0, K) are skipped and counted.

export interface LossRef { ce: number; dice: number; total: number; ceSum: number; I: Float64Array; Z: Float64Array; Y: Float64Array; bad: number }

function softmaxAt(x: Float64Array, K: number, HW: number, b: number, s: number): Float64Array {
  const p = new Float64Array(K);
  let m = -Infinity;
  for (let k = 0; k < K; k++) m = Math.max(m, x[(b * K + k) * HW + s]!);
  let sum = 0;
  for (let k = 0; k < K; k++) { p[k] = Math.exp(x[(b * K + k) * HW + s]! - m); sum += p[k]!; }
  for (let k = 0; k < K; k++) p[k]! /= sum;
  return p;
}

/** CE (mean over all B·HW pixels), Dice, and w_ce·CE + w_dice·Dice, with the intermediate sums. */
export function segLossRef(x: Float64Array, labels: ArrayLike<number>, B: number, K: number, HW: number, wCe = 0.5, wDice = 0.5): LossRef {
  const I = new Float64Array(K);
  const Z = new Float64Array(K);
  const Y = new Float64Array(K);
  let ceSum = 0;
  let bad = 0;
  for (let b = 0; b < B; b++) {
    for (let s = 0; s < HW; s++) {
      const lab = labels[b * HW + s]!;
      if (!(lab >= 0 && lab < K)) { bad++; continue; }
      const p = softmaxAt(x, K, HW, b, s);
      ceSum -= Math.log(p[lab]!);
      for (let k = 0; k < K; k++) Z[k] += p[k]! * p[k]!;
      I[lab] += p[lab]!;
      Y[lab] += 1;
    }
  }
  const ce = ceSum / (B * HW);
  let dice = 0;
  for (let k = 0; k < K; k++) dice += 1 - (2 * I[k]! + 1e-5) / (Z[k]! + Y[k]! + 1e-5);
  dice /= K;
  return { ce, dice, total: wCe * ce + wDice * dice, ceSum, I, Z, Y, bad };
}

/** d(logits) of dTotal·(w_ce·CE + w_dice·Dice), analytic (checked by finite differences in the tests). */
export function segLossRefBackward(x: Float64Array, labels: ArrayLike<number>, B: number, K: number, HW: number, wCe: number, wDice: number, dTotal = 1): Float64Array {
  const r = segLossRef(x, labels, B, K, HW, wCe, wDice);
  const N = B * HW;
  const dx = new Float64Array(x.length);
  // Dice_k = 1 − num_k/den_k  ⇒  d(Dice)/d p_k(pixel) = (2/K)(num_k p_k / den_k² − t_k / den_k)
  const a = new Float64Array(K);
  const c = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    const num = 2 * r.I[k]! + 1e-5;
    const den = r.Z[k]! + r.Y[k]! + 1e-5;
    a[k] = (2 / K) * num / (den * den);
    c[k] = (2 / K) / den;
  }
  for (let b = 0; b < B; b++) {
    for (let s = 0; s < HW; s++) {
      const lab = labels[b * HW + s]!;
      if (!(lab >= 0 && lab < K)) continue;
      const p = softmaxAt(x, K, HW, b, s);
      const G = new Float64Array(K);  // d(loss)/d p_k at this pixel
      for (let k = 0; k < K; k++) {
        const t = k === lab ? 1 : 0;
        // CE = −log p_lab / N: d/dp_k = −t_k / (N p_k)
        G[k] = wCe * (t ? -1 / (N * p[k]!) : 0) + wDice * (a[k]! * p[k]! - c[k]! * t);
      }
      let pg = 0;
      for (let k = 0; k < K; k++) pg += p[k]! * G[k]!;
      for (let k = 0; k < K; k++) dx[(b * K + k) * HW + s] = dTotal * p[k]! * (G[k]! - pg);
    }
  }
  return dx;
}
