// float64 reference for Swin window attention (V1 and V2), written literally from the spec
// (docs/segface-model.md, "Network"): pad, roll, partition, attention per (window,
// head), reverse, roll back, crop. Independent of the WGSL: it materialises every intermediate.
//
// Inputs (all row-major):
//   qkv      (B, H, W, 3C)  output of the qkv Linear on the real tokens; channels [q | k | v], each
//                           split into heads of hd = C/heads contiguous channels
//   qkvBias  (3C)           the qkv Linear's bias = q/k/v of a zero-padded token (V2: k third ignored)
//   table    (T, heads)     T = (2ws-1)^2; V1 relative_position_bias_table, V2 raw cpb_mlp output
//   logitScale (heads) | null   V2 logit_scale; null selects V1
// Output (B, H, W, C): softmax(logits)·v per head, channel h*hd + d, before the proj Linear.

export interface WaCfg { B: number; H: number; W: number; C: number; heads: number; ws: number; shift: number }

const LN100 = Math.log(100);
const EPS = 1e-12;

/** Padded size and the per-axis shift actually applied (0 when ws >= padded size). */
export function geometryRef(H: number, W: number, ws: number, shift: number): { Hp: number; Wp: number; sy: number; sx: number } {
  const Hp = Math.ceil(H / ws) * ws;
  const Wp = Math.ceil(W / ws) * ws;
  return { Hp, Wp, sy: ws >= Hp ? 0 : shift, sx: ws >= Wp ? 0 : shift };
}

/** Region id of a rolled padded coordinate r on an axis of size n with shift s (spec step 7). */
function regionOf(r: number, n: number, ws: number, s: number): number {
  if (s === 0) return 0;
  return r < n - ws ? 0 : r < n - s ? 1 : 2;
}

interface Window { pos: number[]; region: number[] }

/**
 * Windows of the padded, rolled map: for each window (b, wy, wx) row-major, the padded-map index
 * (b*Hp + y)*Wp + x of token t = ty*ws + tx (before rolling), and its mask region.
 */
function windows(cfg: WaCfg): Window[] {
  const { Hp, Wp, sy, sx } = geometryRef(cfg.H, cfg.W, cfg.ws, cfg.shift);
  const ws = cfg.ws;
  const out: Window[] = [];
  for (let b = 0; b < cfg.B; b++) {
    for (let wy = 0; wy < Hp / ws; wy++) {
      for (let wx = 0; wx < Wp / ws; wx++) {
        const pos: number[] = [];
        const region: number[] = [];
        for (let ty = 0; ty < ws; ty++) {
          for (let tx = 0; tx < ws; tx++) {
            const yr = wy * ws + ty;
            const xr = wx * ws + tx;
            // rolled x'[yr, xr] = x[(yr + s) mod Hp, (xr + s) mod Wp]
            const y = (yr + sy) % Hp;
            const x = (xr + sx) % Wp;
            pos.push((b * Hp + y) * Wp + x);
            region.push(3 * regionOf(yr, Hp, ws, sy) + regionOf(xr, Wp, ws, sx));
          }
        }
        out.push({ pos, region });
      }
    }
  }
  return out;
}

/** The zero-padded attention input mapped through the Linear: (B, Hp, Wp, 3C); padded tokens = bias. */
function padQkv(qkv: Float64Array, bias: Float64Array, cfg: WaCfg, v2: boolean): Float64Array {
  const { Hp, Wp } = geometryRef(cfg.H, cfg.W, cfg.ws, cfg.shift);
  const C3 = 3 * cfg.C;
  const out = new Float64Array(cfg.B * Hp * Wp * C3);
  for (let b = 0; b < cfg.B; b++) {
    for (let y = 0; y < Hp; y++) {
      for (let x = 0; x < Wp; x++) {
        const o = ((b * Hp + y) * Wp + x) * C3;
        for (let c = 0; c < C3; c++) {
          const padBias = v2 && c >= cfg.C && c < 2 * cfg.C ? 0 : bias[c]!; // V2 zeroes the k bias
          out[o + c] = y < cfg.H && x < cfg.W ? qkv[((b * cfg.H + y) * cfg.W + x) * C3 + c]! : padBias;
        }
      }
    }
  }
  return out;
}

const relIndex = (i: number, j: number, ws: number): number => {
  const yi = Math.floor(i / ws), xi = i % ws, yj = Math.floor(j / ws), xj = j % ws;
  return (yi - yj + ws - 1) * (2 * ws - 1) + (xi - xj + ws - 1);
};
const sigmoid = (t: number): number => 1 / (1 + Math.exp(-t));

/** Per (window, head): q, k, v (N, hd) gathered from the padded qkv. */
function gather(padded: Float64Array, win: Window, h: number, cfg: WaCfg): { q: Float64Array[]; k: Float64Array[]; v: Float64Array[] } {
  const hd = cfg.C / cfg.heads;
  const C3 = 3 * cfg.C;
  const take = (part: number): Float64Array[] => win.pos.map((p) => padded.slice(p * C3 + part * cfg.C + h * hd, p * C3 + part * cfg.C + (h + 1) * hd));
  return { q: take(0), k: take(1), v: take(2) };
}

const dot = (a: Float64Array, b: Float64Array): number => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!; return s; };
const normalize = (a: Float64Array): Float64Array => { const n = Math.max(Math.sqrt(dot(a, a)), EPS); return a.map((x) => x / n); };

interface HeadFwd { P: Float64Array[]; qn: Float64Array[]; kn: Float64Array[]; tau: number }

/** Attention probabilities of one (window, head), and the normalised q/k for V2. */
function headForward(g: ReturnType<typeof gather>, win: Window, h: number, table: Float64Array, ls: Float64Array | null, cfg: WaCfg): HeadFwd {
  const N = g.q.length;
  const hd = cfg.C / cfg.heads;
  const v2 = ls !== null;
  const qn = v2 ? g.q.map(normalize) : g.q;
  const kn = v2 ? g.k.map(normalize) : g.k;
  const tau = v2 ? Math.exp(Math.min(ls[h]!, LN100)) : hd ** -0.5;
  const P: Float64Array[] = [];
  for (let i = 0; i < N; i++) {
    const row = new Float64Array(N);
    for (let j = 0; j < N; j++) {
      const t = table[relIndex(i, j, cfg.ws) * cfg.heads + h]!;
      row[j] = tau * dot(qn[i]!, kn[j]!) + (v2 ? 16 * sigmoid(t) : t) + (win.region[i] !== win.region[j] ? -100 : 0);
    }
    const m = Math.max(...row);
    let sum = 0;
    for (let j = 0; j < N; j++) { row[j] = Math.exp(row[j]! - m); sum += row[j]!; }
    for (let j = 0; j < N; j++) row[j] = row[j]! / sum;
    P.push(row);
  }
  return { P, qn, kn, tau };
}

export function windowAttentionRef(qkv: Float64Array, qkvBias: Float64Array, table: Float64Array, logitScale: Float64Array | null, cfg: WaCfg): Float64Array {
  const { Hp, Wp } = geometryRef(cfg.H, cfg.W, cfg.ws, cfg.shift);
  const hd = cfg.C / cfg.heads;
  const padded = padQkv(qkv, qkvBias, cfg, logitScale !== null);
  const attn = new Float64Array(cfg.B * Hp * Wp * cfg.C); // attention output on the padded, unrolled map
  for (const win of windows(cfg)) {
    for (let h = 0; h < cfg.heads; h++) {
      const g = gather(padded, win, h, cfg);
      const { P } = headForward(g, win, h, table, logitScale, cfg);
      win.pos.forEach((p, i) => {
        for (let d = 0; d < hd; d++) {
          let s = 0;
          for (let j = 0; j < win.pos.length; j++) s += P[i]![j]! * g.v[j]![d]!;
          attn[p * cfg.C + h * hd + d] = s; // window reverse + roll back: back to the token's own position
        }
      });
    }
  }
  return crop(attn, cfg, Hp, Wp, cfg.C);
}

function crop(x: Float64Array, cfg: WaCfg, Hp: number, Wp: number, C: number): Float64Array {
  const out = new Float64Array(cfg.B * cfg.H * cfg.W * C);
  for (let b = 0; b < cfg.B; b++) for (let y = 0; y < cfg.H; y++) for (let x0 = 0; x0 < cfg.W; x0++) {
    out.set(x.subarray(((b * Hp + y) * Wp + x0) * C, ((b * Hp + y) * Wp + x0 + 1) * C), ((b * cfg.H + y) * cfg.W + x0) * C);
  }
  return out;
}

/** d/dx of x / max(|x|, eps) applied to g (torch clamp_min passes the gradient at |x| >= eps). */
function normalizeBackward(x: Float64Array, g: Float64Array): Float64Array {
  const n = Math.sqrt(dot(x, x));
  if (n < EPS) return g.map((v) => v / EPS);
  const xn = x.map((v) => v / n);
  const proj = dot(xn, g);
  return g.map((v, i) => (v - xn[i]! * proj) / n);
}

export interface WaGrads { dqkv: Float64Array; dBias: Float64Array; dTable: Float64Array; dLogitScale: Float64Array }

/** Reverse mode through every step of `windowAttentionRef`, given d(output). */
export function windowAttentionRefBackward(qkv: Float64Array, qkvBias: Float64Array, table: Float64Array, logitScale: Float64Array | null, cfg: WaCfg, dOut: Float64Array): WaGrads {
  const { Hp, Wp } = geometryRef(cfg.H, cfg.W, cfg.ws, cfg.shift);
  const hd = cfg.C / cfg.heads;
  const C3 = 3 * cfg.C;
  const v2 = logitScale !== null;
  const padded = padQkv(qkv, qkvBias, cfg, v2);
  const dAttn = padOutputGrad(dOut, cfg, Hp, Wp);
  const dPadded = new Float64Array(padded.length);
  const dTable = new Float64Array(table.length);
  const dLogitScale = new Float64Array(cfg.heads);
  for (const win of windows(cfg)) {
    const N = win.pos.length;
    for (let h = 0; h < cfg.heads; h++) {
      const g = gather(padded, win, h, cfg);
      const { P, qn, kn, tau } = headForward(g, win, h, table, logitScale, cfg);
      const dO = win.pos.map((p) => dAttn.slice(p * cfg.C + h * hd, p * cfg.C + (h + 1) * hd));
      const dq = g.q.map(() => new Float64Array(hd));
      const dk = g.k.map(() => new Float64Array(hd));
      const dv = g.v.map(() => new Float64Array(hd));
      let dTau = 0;
      for (let i = 0; i < N; i++) {
        // softmax backward: dS_ij = P_ij (dP_ij - sum_l P_il dP_il), dP_ij = dO_i . v_j
        const dP = g.v.map((vj) => dot(dO[i]!, vj));
        let rowDot = 0;
        for (let j = 0; j < N; j++) rowDot += P[i]![j]! * dP[j]!;
        for (let j = 0; j < N; j++) {
          const dS = P[i]![j]! * (dP[j]! - rowDot);
          for (let d = 0; d < hd; d++) {
            dv[j]![d] += P[i]![j]! * dO[i]![d]!;
            dq[i]![d] += tau * dS * kn[j]![d]!;
            dk[j]![d] += tau * dS * qn[i]![d]!;
          }
          const e = relIndex(i, j, cfg.ws) * cfg.heads + h;
          if (v2) {
            const s = sigmoid(table[e]!);
            dTable[e] += dS * 16 * s * (1 - s);
            dTau += dS * dot(qn[i]!, kn[j]!);
          } else {
            dTable[e] += dS;
          }
        }
      }
      if (v2 && logitScale[h]! <= LN100) dLogitScale[h] += dTau * tau; // d exp(ls) = exp(ls); 0 where clamped
      win.pos.forEach((p, t) => {
        const dqt = v2 ? normalizeBackward(g.q[t]!, dq[t]!) : dq[t]!;
        const dkt = v2 ? normalizeBackward(g.k[t]!, dk[t]!) : dk[t]!;
        for (let d = 0; d < hd; d++) {
          dPadded[p * C3 + h * hd + d] += dqt[d]!;
          dPadded[p * C3 + cfg.C + h * hd + d] += dkt[d]!;
          dPadded[p * C3 + 2 * cfg.C + h * hd + d] += dv[t]![d]!;
        }
      });
    }
  }
  return { ...cropAdjoint(dPadded, cfg, Hp, Wp, v2), dTable, dLogitScale };
}

/** d(output) (B, H, W, C) onto the padded map (B, Hp, Wp, C): zero at cropped positions. */
function padOutputGrad(dOut: Float64Array, cfg: WaCfg, Hp: number, Wp: number): Float64Array {
  const dAttn = new Float64Array(cfg.B * Hp * Wp * cfg.C);
  for (let b = 0; b < cfg.B; b++) for (let y = 0; y < cfg.H; y++) for (let x = 0; x < cfg.W; x++) {
    dAttn.set(dOut.subarray(((b * cfg.H + y) * cfg.W + x) * cfg.C, ((b * cfg.H + y) * cfg.W + x + 1) * cfg.C), ((b * Hp + y) * Wp + x) * cfg.C);
  }
  return dAttn;
}

/**
 * Crop's adjoint: real tokens get their gradient; padded tokens' q/k/v are the bias, so their
 * gradients sum into d(bias) (V2: the k third is replaced by 0 in the forward, so its gradient is 0).
 */
function cropAdjoint(dPadded: Float64Array, cfg: WaCfg, Hp: number, Wp: number, v2: boolean): { dqkv: Float64Array; dBias: Float64Array } {
  const C3 = 3 * cfg.C;
  const dqkv = crop(dPadded, cfg, Hp, Wp, C3);
  const dBias = new Float64Array(C3);
  for (let b = 0; b < cfg.B; b++) for (let y = 0; y < Hp; y++) for (let x = 0; x < Wp; x++) {
    if (y < cfg.H && x < cfg.W) continue;
    const o = ((b * Hp + y) * Wp + x) * C3;
    for (let c = 0; c < C3; c++) if (!(v2 && c >= cfg.C && c < 2 * cfg.C)) dBias[c] += dPadded[o + c]!;
  }
  return { dqkv, dBias };
}

/**
 * Bounds on how far each gradient moves when every query's D_i = dO_i·o_i (the softmax
 * backward's row dot, Σ_j P_ij dP_ij) is computed from o as stored in f16, o_d(1 + ε_d) with
 * |ε_d| ≤ `u` plus `oAbs` absolute (the f32 forward's own error): |δD_i| ≤ u·Σ_d |dO_id|·(|o_id| + oAbs).
 * D enters only dS_ij = P_ij (dP_ij − D_i), so δ(dS_ij) = −P_ij δD_i, carried through the same
 * linear maps as dS with every factor taken in absolute value: dq_i ≤ τ Σ_j P_ij |δD_i| |k_j|,
 * dk_j ≤ τ Σ_i P_ij |δD_i| |q_i|, d(table) ≤ Σ P_ij |δD_i| (V2: × 16σ(1 − σ)), dτ ≤ Σ P_ij |δD_i| |q̂_i·k̂_j|;
 * V2's normalize backward (g − x̂(x̂·g))/|x| gives |r_d| ≤ (G_d + |x̂_d| Σ_e |x̂_e| G_e)/|x|.
 * dv does not involve D (bound 0). Returned in the layout of `windowAttentionRefBackward`.
 */
export function windowAttentionRefRowDotBound(qkv: Float64Array, qkvBias: Float64Array, table: Float64Array, logitScale: Float64Array | null, cfg: WaCfg,
  dOut: Float64Array, u: number, oAbs: number): WaGrads {
  const { Hp, Wp } = geometryRef(cfg.H, cfg.W, cfg.ws, cfg.shift);
  const hd = cfg.C / cfg.heads;
  const C3 = 3 * cfg.C;
  const v2 = logitScale !== null;
  const padded = padQkv(qkv, qkvBias, cfg, v2);
  const dAttn = padOutputGrad(dOut, cfg, Hp, Wp);
  const abs = (a: Float64Array): Float64Array => a.map(Math.abs);
  const normBound = (x: Float64Array, G: Float64Array): Float64Array => {
    const n = Math.sqrt(dot(x, x));
    if (n < EPS) return G.map((v) => v / EPS);
    const xn = abs(x.map((v) => v / n));
    const proj = dot(xn, G);
    return G.map((v, i) => (v + xn[i]! * proj) / n);
  };
  const bPadded = new Float64Array(padded.length);
  const bTable = new Float64Array(table.length);
  const bLogitScale = new Float64Array(cfg.heads);
  for (const win of windows(cfg)) {
    const N = win.pos.length;
    for (let h = 0; h < cfg.heads; h++) {
      const g = gather(padded, win, h, cfg);
      const { P, qn, kn, tau } = headForward(g, win, h, table, logitScale, cfg);
      const dO = win.pos.map((p) => dAttn.slice(p * cfg.C + h * hd, p * cfg.C + (h + 1) * hd));
      const Gq = g.q.map(() => new Float64Array(hd));
      const Gk = g.k.map(() => new Float64Array(hd));
      let bTau = 0;
      for (let i = 0; i < N; i++) {
        let dD = 0;
        for (let d = 0; d < hd; d++) {
          let o = 0;
          for (let j = 0; j < N; j++) o += P[i]![j]! * g.v[j]![d]!;
          dD += Math.abs(dO[i]![d]!) * (Math.abs(o) + oAbs);
        }
        dD *= u;
        for (let j = 0; j < N; j++) {
          const dS = P[i]![j]! * dD;
          for (let d = 0; d < hd; d++) {
            Gq[i]![d] += tau * dS * Math.abs(kn[j]![d]!);
            Gk[j]![d] += tau * dS * Math.abs(qn[i]![d]!);
          }
          const e = relIndex(i, j, cfg.ws) * cfg.heads + h;
          if (v2) {
            const s = sigmoid(table[e]!);
            bTable[e] += dS * 16 * s * (1 - s);
            bTau += dS * Math.abs(dot(qn[i]!, kn[j]!));
          } else {
            bTable[e] += dS;
          }
        }
      }
      if (v2 && logitScale[h]! <= LN100) bLogitScale[h] += bTau * tau;
      win.pos.forEach((p, t) => {
        const bq = v2 ? normBound(g.q[t]!, Gq[t]!) : Gq[t]!;
        const bk = v2 ? normBound(g.k[t]!, Gk[t]!) : Gk[t]!;
        for (let d = 0; d < hd; d++) {
          bPadded[p * C3 + h * hd + d] += bq[d]!;
          bPadded[p * C3 + cfg.C + h * hd + d] += bk[d]!;
        }
      });
    }
  }
  return { ...cropAdjoint(bPadded, cfg, Hp, Wp, v2), dTable: bTable, dLogitScale: bLogitScale };
}
