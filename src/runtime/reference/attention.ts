// float64 reference for multi-head attention (independent of the WGSL): materialises every score.
// q (B, nq, D), k and v (B, nk, D), D = heads·hd; out (B, nq, D); lse (B, heads, nq).

export interface AttnShape { B: number; nq: number; nk: number; heads: number; hd: number }

/** Per (b, h): P = softmax(Q_h K_hᵀ / sqrt(hd)) (nq × nk), and its row logsumexp. */
function probs(s: AttnShape, q: Float64Array, k: Float64Array, b: number, h: number): { P: Float64Array; lse: Float64Array } {
  const { nq, nk, heads, hd } = s;
  const D = heads * hd;
  const scale = 1 / Math.sqrt(hd);
  const P = new Float64Array(nq * nk);
  const lse = new Float64Array(nq);
  for (let i = 0; i < nq; i++) {
    let mx = -Infinity;
    for (let j = 0; j < nk; j++) {
      let dot = 0;
      for (let c = 0; c < hd; c++) dot += q[(b * nq + i) * D + h * hd + c]! * k[(b * nk + j) * D + h * hd + c]!;
      P[i * nk + j] = dot * scale;
      mx = Math.max(mx, dot * scale);
    }
    let sum = 0;
    for (let j = 0; j < nk; j++) sum += Math.exp(P[i * nk + j]! - mx);
    lse[i] = mx + Math.log(sum);
    for (let j = 0; j < nk; j++) P[i * nk + j] = Math.exp(P[i * nk + j]! - lse[i]!);
  }
  return { P, lse };
}

export function attentionRef(s: AttnShape, q: Float64Array, k: Float64Array, v: Float64Array): { out: Float64Array; lse: Float64Array } {
  const { B, nq, nk, heads, hd } = s;
  const D = heads * hd;
  const out = new Float64Array(B * nq * D);
  const lseAll = new Float64Array(B * heads * nq);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      const { P, lse } = probs(s, q, k, b, h);
      lseAll.set(lse, (b * heads + h) * nq);
      for (let i = 0; i < nq; i++) {
        for (let c = 0; c < hd; c++) {
          let acc = 0;
          for (let j = 0; j < nk; j++) acc += P[i * nk + j]! * v[(b * nk + j) * D + h * hd + c]!;
          out[(b * nq + i) * D + h * hd + c] = acc;
        }
      }
    }
  }
  return { out, lse: lseAll };
}

/** Row i of dP_ij = dO_i · V_j (batch b, head h) and its P-weighted sum Σ_j P_ij dP_ij. */
function dpRow(s: AttnShape, dOut: Float64Array, v: Float64Array, P: Float64Array, b: number, h: number, i: number): { dP: Float64Array; rowsum: number } {
  const { nq, nk, heads, hd } = s;
  const at = (n: number, r: number, c: number): number => (b * n + r) * heads * hd + h * hd + c;
  const dP = new Float64Array(nk);
  let rowsum = 0;
  for (let j = 0; j < nk; j++) {
    let x = 0;
    for (let c = 0; c < hd; c++) x += dOut[at(nq, i, c)]! * v[at(nk, j, c)]!;
    dP[j] = x;
    rowsum += P[i * nk + j]! * x;
  }
  return { dP, rowsum };
}

/** [dq, dk, dv] given dOut, by the textbook rules with P materialised. */
export function attentionRefBackward(s: AttnShape, q: Float64Array, k: Float64Array, v: Float64Array, dOut: Float64Array): Float64Array[] {
  const { B, nq, nk, heads, hd } = s;
  const D = heads * hd;
  const scale = 1 / Math.sqrt(hd);
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  const at = (n: number, b: number, r: number, h: number, c: number): number => (b * n + r) * D + h * hd + c;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      const { P } = probs(s, q, k, b, h);
      for (let i = 0; i < nq; i++) {
        // dS_ij = P_ij (dP_ij − Σ_l P_il dP_il)
        const { dP, rowsum } = dpRow(s, dOut, v, P, b, h, i);
        for (let j = 0; j < nk; j++) {
          const pij = P[i * nk + j]!;
          const dS = pij * (dP[j]! - rowsum);
          for (let c = 0; c < hd; c++) {
            dv[at(nk, b, j, h, c)] += pij * dOut[at(nq, b, i, h, c)]!;
            dq[at(nq, b, i, h, c)] += dS * k[at(nk, b, j, h, c)]! * scale;
            dk[at(nk, b, j, h, c)] += dS * q[at(nq, b, i, h, c)]! * scale;
          }
        }
      }
    }
  }
  return [dq, dk, dv];
}

/**
 * Error terms of an f16 backward, per element of [dq, dk, dv]:
 * - `rowDot`: how far each gradient moves when Δ_i = dO_i·O_i is computed from O as stored in
 *   f16, O_c(1 + ε) with |ε| ≤ `u` plus `oAbs` absolute: |δΔ_i| ≤ u·Σ_c |dO_ic|(|O_ic| + oAbs), and
 *   δ(dS_ij) = −P_ij δΔ_i, so dq_i ≤ scale Σ_j P_ij |δΔ_i| |k_j|, dk_j ≤ scale Σ_i P_ij |δΔ_i| |q_i|, dv 0;
 * - `absSum`: the sums of absolute terms, scale Σ_j |dS_ij||k_j|, scale Σ_i |dS_ij||q_i|, Σ_i P_ij |dO_i|,
 *   which bound the partial sums a span-split backward rounds before merging them.
 */
export function attentionRefF16Terms(s: AttnShape, q: Float64Array, k: Float64Array, v: Float64Array, dOut: Float64Array, u: number, oAbs: number): { rowDot: Float64Array[]; absSum: Float64Array[] } {
  const { B, nq, nk, heads, hd } = s;
  const D = heads * hd;
  const scale = 1 / Math.sqrt(hd);
  const rowDot = [new Float64Array(q.length), new Float64Array(k.length), new Float64Array(v.length)];
  const absSum = [new Float64Array(q.length), new Float64Array(k.length), new Float64Array(v.length)];
  const at = (n: number, b: number, r: number, h: number, c: number): number => (b * n + r) * D + h * hd + c;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      const { P } = probs(s, q, k, b, h);
      for (let i = 0; i < nq; i++) {
        const { dP, rowsum } = dpRow(s, dOut, v, P, b, h, i);
        let dDelta = 0;
        for (let c = 0; c < hd; c++) {
          let o = 0;
          for (let j = 0; j < nk; j++) o += P[i * nk + j]! * v[at(nk, b, j, h, c)]!;
          dDelta += Math.abs(dOut[at(nq, b, i, h, c)]!) * (Math.abs(o) + oAbs);
        }
        dDelta *= u;
        for (let j = 0; j < nk; j++) {
          const pij = P[i * nk + j]!;
          const dS = Math.abs(pij * (dP[j]! - rowsum));
          for (let c = 0; c < hd; c++) {
            const qi = Math.abs(q[at(nq, b, i, h, c)]!), kj = Math.abs(k[at(nk, b, j, h, c)]!);
            rowDot[0]![at(nq, b, i, h, c)] += scale * pij * dDelta * kj;
            rowDot[1]![at(nk, b, j, h, c)] += scale * pij * dDelta * qi;
            absSum[0]![at(nq, b, i, h, c)] += scale * dS * kj;
            absSum[1]![at(nk, b, j, h, c)] += scale * dS * qi;
            absSum[2]![at(nk, b, j, h, c)] += pij * Math.abs(dOut[at(nq, b, i, h, c)]!);
          }
        }
      }
    }
  }
  return { rowDot, absSum };
}
