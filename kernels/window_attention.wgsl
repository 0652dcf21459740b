// #if subgroups
enable subgroups;
// #endif
// #if f16
enable f16;
alias act_t = f16;
// #else
alias act_t = f32;
// #endif

// Fused Swin window attention, V1 (scaled dot product) and V2 (cosine), forward and backward.
//
// Geometry (spec "Window attention"): the attention input is zero-padded bottom/right to (Hp, Wp),
// multiples of WS, cyclically shifted (x'[i,j] = x[(i+sy) mod Hp, (j+sx) mod Wp]) and cut into
// WS×WS windows, row-major. A padded token's q/k/v is the qkv Linear's bias (V2: k = 0). Shift-mask
// region ids live on the rolled map; -100 (not -inf) is added where query and key regions differ.
// Windows are never materialised: each lane maps its token to a row of qkv (or to the bias).
//
// One workgroup per (window, head): wh = window * heads + h, window = (b * nwy + wy) * nwx + wx.
// Lane t < N = WS² owns token t = ty * WS + tx of the window (lanes >= N shadow token N-1 and
// write nothing).
//
// Logits (i = query, j = key, e(i,j) = (yi-yj+WS-1)(2WS-1) + (xi-xj+WS-1)):
//   V1: s_ij = (q_i·k_j) hd^-0.5 + table[e, h] + mask_ij
//   V2: s_ij = (q_i/|q_i|)·(k_j/|k_j|) τ_h + 16 σ(table[e, h]) + mask_ij,  τ_h = exp(min(ls_h, ln 100)),
//       |v| = max(‖v‖, 1e-12); `table` is the raw cpb_mlp output.
// Forward (attn_fwd), lane = query i: o_i = Σ_j softmax_j(s_ij) v_j, and lse_i = log Σ_j exp(s_ij).
// Saved for backward: o (the op's result) and lse, N floats per (window, head); P is recomputed.
// Backward (attn_bwd), P_ij = exp(s_ij - lse_i), D_i = dO_i·o_i, dS_ij = P_ij (dO_i·v_j - D_i):
//   phase 1, lane = query i: dS_i· into workgroup memory; dq_i = c Σ_j dS_ij k_j
//   gather,  lane = table entry e: dtable[e] = Σ_{e(i,j)=e} dS_ij (this window; the host sums windows)
//   phase 2, lane = key j: dv_j = Σ_i P_ij dO_i, dk_j = c Σ_i dS_ij q_i
//   with c = hd^-0.5 (V1), or c = τ on the normalised vectors followed by normalize's backward (V2);
//   dτ = Σ dS_ij q̂_i·k̂_j and d ls = τ dτ where ls <= ln 100. Padded keys' dk, dv sum into the
//   window's d(bias) partial. Partials are per window, reduced on the host side (no atomics).
//
// Tokens are taken in chunks of 8 (keys in the forward and in phase 1, queries in phase 2). The
// variants differ only in how a chunk's vectors reach every lane (the `sharing` section):
//   subgroups: lane l loads token 8c + (l mod 8) only and every lane reads the 8 vectors through
//              subgroupBroadcast from lanes 0..7: one load per 8 tokens instead of 8. On lavapipe,
//              where loads run lane by lane and dominate, that is 3-4x faster. Works for any
//              subgroup size that is a multiple of 8 (the host checks the minimum is >= 8).
//   portable:  every lane loads the 8 tokens itself (compiles without `enable subgroups`).
// Chunk loops are uniform (subgroup operations need every lane); tokens >= N in the last chunk
// get probability 0.
//
// Precision: qkv, out (= o_saved), d_out and d_qkv are stored as act_t (f16 in the `#if f16`
// build), loaded as vec4<act_t> (4 elements, so the vec4 indices are the same in both builds) and
// widened to vec4f at once; logits, softmax, lse, every sum and the small f32 parameters (prm) and
// gradient partials (d_part) are f32. The backward's D = dO·o reads o as stored (rounded once).

override WS: u32 = 7;       // window size, WS² <= MAXN
override HD: u32 = 32;      // head dim, multiple of 4, <= 4 * HD4, <= WS²
override V2: bool = false;  // cosine attention (Swin V2)
override WG: u32 = 64;      // lanes: WS² rounded up to a multiple of 8
const MAXN: u32 = 64u;      // most tokens in a window
const HD4: u32 = 8u;        // vec4s of the longest head a lane holds in registers
const MAX_T: u32 = 225u;    // (2 * 8 - 1)²: table entries at WS = 8
const LN100: f32 = 4.605170185988092;
const EPS: f32 = 1e-12;
const NEG_BIG: f32 = -3.0e38;
// Every function-scope `var` has an explicit initialiser: on Dawn + lavapipe, a `var x: T;` in a
// loop body (or in a function inlined into one) keeps the previous iteration's value instead of
// restarting at zero (seen with npm webgpu 0.6.2, Mesa 25.0.7).

struct Params {
  H: u32, W: u32, Hp: u32, Wp: u32,
  nwx: u32, nwin_img: u32,        // windows per row; windows per image
  shift_y: u32, shift_x: u32,     // applied shifts (already 0 where WS >= padded size)
  C: u32, heads: u32,             // channels of each of q, k, v; heads (C = heads * HD)
  num_wh: u32,                    // windows * heads = workgroups
  scale: f32,                     // V1: hd^-0.5
  table_off: u32, ls_off: u32,    // offsets of the table and logit_scale in prm
  pt: u32,                        // row length of d_part
  lse_img: u32,                   // lse floats per image (windows * heads * N, padded for binding offsets)
  has_pad: u32,                   // 1 when Hp > H or Wp > W
  chunk: u32,                     // 8 (portable kernels' chunk loops read it, see dots8)
}

@group(0) @binding(0) var<storage, read> qkv: array<vec4<act_t>>;          // (B, H, W, 3C)
@group(0) @binding(1) var<storage, read> prm: array<f32>;            // [qkv bias (3C) | table (T, heads) | logit_scale (heads)]
@group(0) @binding(2) var<storage, read_write> out: array<vec4<act_t>>;    // fwd: (B, H, W, C)
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;      // fwd: (B, lse_img) = (B, windows, heads, N) + padding
@group(0) @binding(2) var<storage, read> o_saved: array<vec4<act_t>>;      // bwd: (B, H, W, C) forward output
@group(0) @binding(3) var<storage, read> lse_saved: array<f32>;      // bwd: as lse
@group(0) @binding(4) var<storage, read> d_out: array<vec4<act_t>>;        // bwd: (B, H, W, C)
@group(0) @binding(5) var<storage, read_write> d_qkv: array<vec4<act_t>>;  // bwd: (B, H, W, 3C)
@group(0) @binding(6) var<storage, read_write> d_part: array<f32>;   // bwd: (windows, pt) = [dtable (T, heads) | dls (heads) | dbias (3C) if has_pad]
@group(0) @binding(7) var<uniform> p: Params;

var<workgroup> tok_row: array<i32, MAXN>;      // token's index (b * H + y) * W + x in (B, H, W), -1 if padded
var<workgroup> tok_region: array<u32, MAXN>;   // shift-mask region id
var<workgroup> bias_col: array<f32, MAX_T>;  // this head's bias per table entry (V2: 16 σ)
var<workgroup> k_inv: array<f32, MAXN>;        // V2: 1 / |k_t|
var<workgroup> q_inv: array<f32, MAXN>;        // bwd, V2: 1 / |q_t|
var<workgroup> tok_lse: array<f32, MAXN>;      // bwd: lse_t
var<workgroup> tok_d: array<f32, MAXN>;        // bwd: D_t = dO_t · o_t; then V2's per-query dτ
var<workgroup> ds_tile: array<f32, WS * WS * WS * WS>;  // bwd: dS (N, N); reused as (N, HD) for d(bias)

fn ntok() -> u32 { return WS * WS; }
fn ntable() -> u32 { return (2u * WS - 1u) * (2u * WS - 1u); }

/** Region id of a rolled padded coordinate r on an axis of size n shifted by s (spec step 7). */
fn region(r: u32, n: u32, s: u32) -> u32 {
  if (s == 0u || r < n - WS) { return 0u; }
  if (r < n - s) { return 1u; }
  return 2u;
}

/** Relative-position table entry of query i and key j. */
fn rel(i: u32, j: u32) -> u32 {
  return (i / WS + WS - 1u - j / WS) * (2u * WS - 1u) + (i % WS + WS - 1u - j % WS);
}

/** Index of query t's lse for window `win`, head h. */
fn lse_at(win: u32, h: u32, t: u32) -> u32 {
  return (win / p.nwin_img) * p.lse_img + ((win % p.nwin_img) * p.heads + h) * ntok() + t;
}

fn tau(h: u32) -> f32 { return exp(min(prm[p.ls_off + h], LN100)); }

/** Head h's slice of part (0 q, 1 k, 2 v) of token `row`; a padded token (row < 0) gets the bias. */
fn load_head(row: i32, part: u32, h: u32) -> array<vec4f, HD4> {
  var r = array<vec4f, HD4>();
  if (row >= 0) {
    let base = u32(row) * (3u * p.C / 4u) + part * (p.C / 4u) + h * (HD / 4u);
    for (var d = 0u; d < HD / 4u; d++) { r[d] = vec4f(qkv[base + d]); }
  } else if (!(V2 && part == 1u)) {
    let base = part * p.C + h * HD;
    for (var d = 0u; d < HD / 4u; d++) { r[d] = vec4f(prm[base + 4u * d], prm[base + 4u * d + 1u], prm[base + 4u * d + 2u], prm[base + 4u * d + 3u]); }
  }
  return r;
}

fn dot_head(a: array<vec4f, HD4>, b: array<vec4f, HD4>) -> f32 {
  var s = 0.0;
  for (var d = 0u; d < HD / 4u; d++) { s += dot(a[d], b[d]); }
  return s;
}

/** 1 / max(‖x‖, eps). */
fn inv_norm(x: array<vec4f, HD4>) -> f32 { return 1.0 / max(sqrt(dot_head(x, x)), EPS); }

/**
 * Backward of x̂ = x / max(‖x‖, eps) given g = d x̂: (g - x̂ (x̂·g)) / ‖x‖ where ‖x‖ >= eps, else
 * g / eps (the clamp blocks the norm's gradient, as torch's clamp_min).
 */
fn normalize_bwd(x: array<vec4f, HD4>, g: array<vec4f, HD4>) -> array<vec4f, HD4> {
  let nrm = sqrt(dot_head(x, x));
  let inv = 1.0 / max(nrm, EPS);
  var xn = x;
  for (var d = 0u; d < HD / 4u; d++) { xn[d] *= inv; }
  let proj = select(0.0, dot_head(xn, g), nrm >= EPS);
  var r = array<vec4f, HD4>();
  for (var d = 0u; d < HD / 4u; d++) { r[d] = inv * (g[d] - xn[d] * proj); }
  return r;
}

/** Fills tok_row, tok_region, bias_col (and k_inv for V2) for window `win`, head h. */
fn setup(win: u32, h: u32, lid: u32) {
  if (lid < ntok()) {
    let b = win / p.nwin_img;
    let w = win % p.nwin_img;
    let yr = (w / p.nwx) * WS + lid / WS;   // position on the rolled padded map
    let xr = (w % p.nwx) * WS + lid % WS;
    let y = (yr + p.shift_y) % p.Hp;         // position before the roll
    let x = (xr + p.shift_x) % p.Wp;
    let row = select(-1, i32((b * p.H + y) * p.W + x), y < p.H && x < p.W);
    tok_row[lid] = row;
    tok_region[lid] = 3u * region(yr, p.Hp, p.shift_y) + region(xr, p.Wp, p.shift_x);
    if (V2) { k_inv[lid] = inv_norm(load_head(row, 1u, h)); }
  }
  for (var e = lid; e < ntable(); e += WG) {
    let t = prm[p.table_off + e * p.heads + h];
    bias_col[e] = select(t, 16.0 / (1.0 + exp(-t)), V2);
  }
}

/** The logit's coefficient of q_i·k_j for key j (q already normalised in V2). */
fn key_coef(j: u32, h: u32) -> f32 {
  if (V2) { return tau(h) * k_inv[j]; }
  return p.scale;
}


/** Head h of the forward output o (which 0) or of d(out) (which 1) at `row`; 0 for a padded token. */
fn load_o(row: i32, h: u32, which: u32) -> array<vec4f, HD4> {
  var r = array<vec4f, HD4>();
  if (row >= 0) {
    let base = u32(row) * (p.C / 4u) + h * (HD / 4u);
    if (which == 0u) {
      for (var d = 0u; d < HD / 4u; d++) { r[d] = vec4f(o_saved[base + d]); }
    } else {
      for (var d = 0u; d < HD / 4u; d++) { r[d] = vec4f(d_out[base + d]); }
    }
  }
  return r;
}

// ---- sharing a chunk of 8 tokens ----------------------------------------------------------------
// load_chunk(c, part, h, sl): the chunk's vectors of part 0 q (q̂ in V2), 1 k, 2 v;
// dots8(a, ch)[r] = a · vector r of the chunk;  axpy8(acc, w, ch) = acc + Σ_r w[r] · vector r;
// axpy8_dout: the same with the chunk's dO (backward only: the forward must not reach d_out);
// tok8(c, sl, what, h)[r] = a per-token scalar of token 8c + r.

const TOK_COEF: u32 = 0u;     // key_coef
const TOK_KINV: u32 = 1u;     // V2: 1 / |k|
const TOK_REGION: u32 = 2u;   // shift-mask region id (exact in f32)
const TOK_LSE: u32 = 3u;      // lse, after phase 1 of the backward

/** Token j's vector of `part` (0 q, q̂ in V2 once q_inv is filled; 1 k; 2 v). */
fn token_vec(j: u32, part: u32, h: u32) -> array<vec4f, HD4> {
  var v = load_head(tok_row[j], part, h);
  if (V2 && part == 0u) {
    let inv = q_inv[j];
    for (var d = 0u; d < HD / 4u; d++) { v[d] *= inv; }
  }
  return v;
}

fn tok_value(j: u32, what: u32, h: u32) -> f32 {
  if (what == TOK_COEF) { return key_coef(j, h); }
  if (what == TOK_KINV) { return select(1.0, k_inv[j], V2); }
  if (what == TOK_REGION) { return f32(tok_region[j]); }
  return tok_lse[j];
}

// #if subgroups
/** This lane's token of the chunk: 8c + (subgroup lane mod 8). */
struct Chunk { own: array<vec4f, HD4> }

fn load_chunk(c: u32, part: u32, h: u32, sl: u32) -> Chunk {
  return Chunk(token_vec(min(8u * c + sl, ntok() - 1u), part, h));
}

fn dots8(a: array<vec4f, HD4>, ch: Chunk) -> array<f32, 8> {
  var s = array<f32, 8>();
  for (var d = 0u; d < HD / 4u; d++) {
    let ad = a[d];
    let bd = ch.own[d];
    s[0] += dot(ad, subgroupBroadcast(bd, 0u));
    s[1] += dot(ad, subgroupBroadcast(bd, 1u));
    s[2] += dot(ad, subgroupBroadcast(bd, 2u));
    s[3] += dot(ad, subgroupBroadcast(bd, 3u));
    s[4] += dot(ad, subgroupBroadcast(bd, 4u));
    s[5] += dot(ad, subgroupBroadcast(bd, 5u));
    s[6] += dot(ad, subgroupBroadcast(bd, 6u));
    s[7] += dot(ad, subgroupBroadcast(bd, 7u));
  }
  return s;
}

/** One 8-term chain per register write. */
fn axpy8(acc: array<vec4f, HD4>, w: array<f32, 8>, ch: Chunk) -> array<vec4f, HD4> {
  var r = array<vec4f, HD4>();
  for (var d = 0u; d < HD / 4u; d++) {
    let bd = ch.own[d];
    r[d] = acc[d] + w[0] * subgroupBroadcast(bd, 0u) + w[1] * subgroupBroadcast(bd, 1u)
                  + w[2] * subgroupBroadcast(bd, 2u) + w[3] * subgroupBroadcast(bd, 3u)
                  + w[4] * subgroupBroadcast(bd, 4u) + w[5] * subgroupBroadcast(bd, 5u)
                  + w[6] * subgroupBroadcast(bd, 6u) + w[7] * subgroupBroadcast(bd, 7u);
  }
  return r;
}

fn axpy8_dout(acc: array<vec4f, HD4>, w: array<f32, 8>, c: u32, h: u32, sl: u32) -> array<vec4f, HD4> {
  return axpy8(acc, w, Chunk(load_o(tok_row[min(8u * c + sl, ntok() - 1u)], h, 1u)));
}

fn tok8(c: u32, sl: u32, what: u32, h: u32) -> array<f32, 8> {
  let x = tok_value(min(8u * c + sl, ntok() - 1u), what, h);
  return array<f32, 8>(subgroupBroadcast(x, 0u), subgroupBroadcast(x, 1u), subgroupBroadcast(x, 2u), subgroupBroadcast(x, 3u),
                       subgroupBroadcast(x, 4u), subgroupBroadcast(x, 5u), subgroupBroadcast(x, 6u), subgroupBroadcast(x, 7u));
}
// #else
/** The chunk is only named; each use loads its 8 tokens. */
struct Chunk { c: u32, part: u32, h: u32 }

fn load_chunk(c: u32, part: u32, h: u32, sl: u32) -> Chunk { return Chunk(c, part, h); }

fn chunk_tok(ch: Chunk, r: u32) -> u32 { return min(8u * ch.c + r, ntok() - 1u); }

// Loops over r run to p.chunk (= 8) from the uniform, so the compiler keeps them loops instead of
// inlining 8 copies of every token load (lavapipe's compile time grows with code size).
fn dots8(a: array<vec4f, HD4>, ch: Chunk) -> array<f32, 8> {
  var s = array<f32, 8>();
  for (var r = 0u; r < p.chunk; r++) { s[r] = dot_head(a, token_vec(chunk_tok(ch, r), ch.part, ch.h)); }
  return s;
}

fn axpy8(acc: array<vec4f, HD4>, w: array<f32, 8>, ch: Chunk) -> array<vec4f, HD4> {
  var r = acc;
  for (var t = 0u; t < p.chunk; t++) {
    let b = token_vec(chunk_tok(ch, t), ch.part, ch.h);
    for (var d = 0u; d < HD / 4u; d++) { r[d] += w[t] * b[d]; }
  }
  return r;
}

fn axpy8_dout(acc: array<vec4f, HD4>, w: array<f32, 8>, c: u32, h: u32, sl: u32) -> array<vec4f, HD4> {
  var r = acc;
  for (var t = 0u; t < p.chunk; t++) {
    let b = load_o(tok_row[min(8u * c + t, ntok() - 1u)], h, 1u);
    for (var d = 0u; d < HD / 4u; d++) { r[d] += w[t] * b[d]; }
  }
  return r;
}

fn tok8(c: u32, sl: u32, what: u32, h: u32) -> array<f32, 8> {
  var s = array<f32, 8>();
  for (var r = 0u; r < p.chunk; r++) { s[r] = tok_value(min(8u * c + r, ntok() - 1u), what, h); }
  return s;
}
// #endif

// ---- forward ------------------------------------------------------------------------------------

@compute @workgroup_size(WG) fn attn_fwd(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                        @builtin(local_invocation_index) lid: u32,
// #if subgroups
                                        @builtin(subgroup_invocation_id) sgid: u32) {
  let sl = sgid % 8u;
// #else
                                        ) {
  let sl = 0u;
// #endif
  let wh = wid.x + wid.y * nwg.x;
  if (wh >= p.num_wh) { return; }
  let h = wh % p.heads;
  setup(wh / p.heads, h, lid);
  workgroupBarrier();
  let n = ntok();
  let i = min(lid, n - 1u);
  let row_i = tok_row[i];
  let reg_i = tok_region[i];
  var q = load_head(row_i, 0u, h);
  if (V2) {
    let inv = inv_norm(q);
    for (var d = 0u; d < HD / 4u; d++) { q[d] *= inv; }
  }
  // Pass 1: logits of query i against every key, and their max.
  var s_row = array<f32, MAXN>();
  var m = NEG_BIG;
  for (var c = 0u; c < (n + 7u) / 8u; c++) {
    let qk = dots8(q, load_chunk(c, 1u, h, sl));
    let coef = tok8(c, sl, TOK_COEF, h);
    let reg = tok8(c, sl, TOK_REGION, h);
    for (var r = 0u; r < 8u; r++) {
      let j = 8u * c + r;
      let s = select(NEG_BIG, qk[r] * coef[r] + bias_col[rel(i, min(j, n - 1u))] + select(0.0, -100.0, f32(reg_i) != reg[r]), j < n);
      s_row[j] = s;
      m = max(m, s);
    }
  }
  // Pass 2: o = Σ_j exp(s_ij - m) v_j / Σ_j exp(s_ij - m).
  var o = array<vec4f, HD4>();
  var l = 0.0;
  for (var c = 0u; c < (n + 7u) / 8u; c++) {
    var pr = array<f32, 8>();
    for (var r = 0u; r < 8u; r++) {
      pr[r] = exp(s_row[8u * c + r] - m);   // 0 for keys >= N
      l += pr[r];
    }
    o = axpy8(o, pr, load_chunk(c, 2u, h, sl));
  }
  if (lid < n) {
    if (row_i >= 0) {
      let base = u32(row_i) * (p.C / 4u) + h * (HD / 4u);
      let rl = 1.0 / l;
      for (var d = 0u; d < HD / 4u; d++) { out[base + d] = vec4<act_t>(o[d] * rl); }
    }
    lse[lse_at(wh / p.heads, h, i)] = m + log(l);
  }
}

// ---- backward -----------------------------------------------------------------------------------

@compute @workgroup_size(WG) fn attn_bwd(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                        @builtin(local_invocation_index) lid: u32,
// #if subgroups
                                        @builtin(subgroup_invocation_id) sgid: u32) {
  let sl = sgid % 8u;
// #else
                                        ) {
  let sl = 0u;
// #endif
  let wh = wid.x + wid.y * nwg.x;
  if (wh >= p.num_wh) { return; }
  let h = wh % p.heads;
  let win = wh / p.heads;
  let n = ntok();
  let is_tok = lid < n;
  let t = min(lid, n - 1u);
  setup(win, h, lid);
  workgroupBarrier();

  // Own token as a query: q (normalised in V2), dO, D = dO·o, lse.
  let row_t = tok_row[t];
  let reg_t = f32(tok_region[t]);
  let q_raw = load_head(row_t, 0u, h);
  var qn = q_raw;
  var qinv = 1.0;
  if (V2) {
    qinv = inv_norm(q_raw);
    for (var d = 0u; d < HD / 4u; d++) { qn[d] *= qinv; }
  }
  let dO = load_o(row_t, h, 1u);
  let D = dot_head(dO, load_o(row_t, h, 0u));
  let lse_t = lse_saved[lse_at(win, h, t)];

  // Phase 1, lane = query t, keys in chunks.
  var dq = array<vec4f, HD4>();
  var dtau = 0.0;
  for (var c = 0u; c < (n + 7u) / 8u; c++) {
    let kc = load_chunk(c, 1u, h, sl);
    let qk = dots8(qn, kc);
    let dov = dots8(dO, load_chunk(c, 2u, h, sl));
    let coef = tok8(c, sl, TOK_COEF, h);
    let kinv = tok8(c, sl, TOK_KINV, h);
    let reg = tok8(c, sl, TOK_REGION, h);
    var g = array<f32, 8>();
    for (var r = 0u; r < 8u; r++) {
      let j = 8u * c + r;
      let pr = select(0.0, exp(qk[r] * coef[r] + bias_col[rel(t, min(j, n - 1u))] + select(0.0, -100.0, reg_t != reg[r]) - lse_t), j < n);
      let ds = pr * (dov[r] - D);
      if (is_tok && j < n) { ds_tile[t * n + j] = ds; }
      g[r] = ds * coef[r];
      dtau += ds * qk[r] * kinv[r];
    }
    dq = axpy8(dq, g, kc);
  }
  if (V2) { dq = normalize_bwd(q_raw, dq); }
  if (is_tok) {
    if (row_t >= 0) {
      let base = u32(row_t) * (3u * p.C / 4u) + h * (HD / 4u);
      for (var d = 0u; d < HD / 4u; d++) { d_qkv[base + d] = vec4<act_t>(dq[d]); }
    }
    tok_lse[t] = lse_t;
    tok_d[t] = dtau;
    q_inv[t] = qinv;
  }
  workgroupBarrier();

  // Gather: this window's d(table) column h, d(logit_scale), per table entry (dy, dx).
  let dpart = win * p.pt;
  for (var e = lid; e < ntable(); e += WG) {
    let dy = i32(e / (2u * WS - 1u)) - i32(WS) + 1;
    let dx = i32(e % (2u * WS - 1u)) - i32(WS) + 1;
    var s = 0.0;
    for (var yi = max(dy, 0); yi < min(i32(WS), i32(WS) + dy); yi++) {
      for (var xi = max(dx, 0); xi < min(i32(WS), i32(WS) + dx); xi++) {
        s += ds_tile[u32(yi * i32(WS) + xi) * n + u32((yi - dy) * i32(WS) + xi - dx)];
      }
    }
    if (V2) { s *= bias_col[e] * (1.0 - bias_col[e] / 16.0); }   // d(16 σ(t))/dt = 16 σ (1 - σ)
    d_part[dpart + e * p.heads + h] = s;
  }
  if (lid == 0u) {
    var dls = 0.0;
    if (V2 && prm[p.ls_off + h] <= LN100) {
      for (var u = 0u; u < n; u++) { dls += tok_d[u]; }
      dls *= tau(h);
    }
    d_part[dpart + ntable() * p.heads + h] = dls;
  }

  // Phase 2, lane = key t, queries in chunks: dv_t = Σ_i P_it dO_i, dk_t = Σ_i dS_it q_i.
  // A padded query has dO = 0 and dS = 0: it adds nothing.
  let k_raw = load_head(row_t, 1u, h);
  let ct = key_coef(t, h);
  var dk = array<vec4f, HD4>();
  var dv = array<vec4f, HD4>();
  for (var c = 0u; c < (n + 7u) / 8u; c++) {
    let qc = load_chunk(c, 0u, h, sl);
    let qk = dots8(k_raw, qc);
    let lse8 = tok8(c, sl, TOK_LSE, h);
    let reg = tok8(c, sl, TOK_REGION, h);
    var pr = array<f32, 8>();
    var ds = array<f32, 8>();
    for (var r = 0u; r < 8u; r++) {
      let i = 8u * c + r;
      let ii = min(i, n - 1u);
      pr[r] = select(0.0, exp(qk[r] * ct + bias_col[rel(ii, t)] + select(0.0, -100.0, reg[r] != reg_t) - lse8[r]), i < n);
      ds[r] = select(0.0, ds_tile[ii * n + t], i < n);
    }
    dv = axpy8_dout(dv, pr, c, h, sl);
    dk = axpy8(dk, ds, qc);
  }
  let cf = select(p.scale, tau(h), V2);
  for (var d = 0u; d < HD / 4u; d++) { dk[d] *= cf; }
  if (V2) { dk = normalize_bwd(k_raw, dk); }
  if (is_tok && row_t >= 0) {
    let base = u32(row_t) * (3u * p.C / 4u) + h * (HD / 4u);
    for (var d = 0u; d < HD / 4u; d++) {
      d_qkv[base + p.C / 4u + d] = vec4<act_t>(dk[d]);
      d_qkv[base + p.C / 2u + d] = vec4<act_t>(dv[d]);
    }
  }

  // d(bias): padded tokens' q/k/v are the bias; sum their dk, dv over the window (dq is 0).
  if (p.has_pad != 0u) {
    let pad = is_tok && row_t < 0;
    let bias_base = dpart + (ntable() + 1u) * p.heads + h * HD;
    for (var part = 1u; part < 3u; part++) {
      workgroupBarrier();   // every earlier read of ds_tile is done
      if (is_tok) {
        for (var d = 0u; d < HD / 4u; d++) {
          let g = select(dk[d], dv[d], part == 2u);
          for (var e = 0u; e < 4u; e++) { ds_tile[t * HD + 4u * d + e] = select(0.0, g[e], pad); }
        }
      }
      workgroupBarrier();
      if (lid < HD) {
        var s = 0.0;
        for (var u = 0u; u < n; u++) { s += ds_tile[u * HD + lid]; }
        if (V2 && part == 1u) { s = 0.0; }   // V2 replaces the k bias by 0: no gradient
        d_part[bias_base + part * p.C + lid] = s;
        if (part == 1u) { d_part[bias_base + lid] = 0.0; }
      }
    }
  }
}
