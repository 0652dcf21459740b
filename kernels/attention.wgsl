// #if subgroups
enable subgroups;
// #endif
// #if f16
enable f16;
alias act_t = f16;
// #else
alias act_t = f32;
// #endif

// Multi-head attention core: per head h, out_h = softmax(Q_h K_hᵀ · scale) V_h, scale = 1/sqrt(hd),
// heads concatenated (channel = h·hd + d). No masks. q (B, Nq, D), k and v (B, Nk, D),
// D = heads·hd, hd = HD (4, 8, 16 or 32); every binding is read as vec4 (hd is a multiple of 4).
//
// One invocation owns one ROW of one (b, head): a query in attn_fwd and attn_bwd_dq, a key in
// attn_bwd_dkv. Its row and accumulators stay in registers while it STREAMS the rows of the other
// side (keys for fwd/dq, queries for dkv) in chunks of 8 vec4 = 32/HD rows (the chunk rows). All
// invocations of a workgroup share (b, head), so they read the same chunk: with subgroups, lane
// l (of 8) loads the l-th vec4 of each 8 and `share8` broadcasts them (one load per lane instead
// of eight; loads inside loops are what costs on lavapipe); without, every lane loads the chunk.
// Workgroup = WG consecutive rows of one (b, head, split); grid linearised as wid.x + wid.y·nwg.x.
//
// Splits: when rows are few (19 class tokens against 16,384 image tokens) the streamed side is cut
// into `splits` spans of `span` rows, one workgroup column per span, for parallelism:
//   attn_fwd writes each span's normalised output and logsumexp; attn_fwd_combine merges them:
//     lse = log Σ_s exp(lse_s),  out = Σ_s exp(lse_s − lse) · out_s;
//   attn_bwd_dq / attn_bwd_dkv write per-span partial sums, reduced by the host (sumLeading).
//
// Forward, online softmax in base 2 (t = q·k · scale·log2 e): m = running max of t, l = Σ 2^(t−m),
// acc = Σ 2^(t−m) v; out = acc / l, lse = (m + log2 l) · ln 2 (natural, saved for backward).
// Backward, with P_ij = exp(scale q_i·k_j − lse_i) recomputed and Δ_i = Σ_d dO_id O_id per head:
//   dV_j = Σ_i P_ij dO_i,  dP_ij = dO_i·V_j,  dS_ij = P_ij (dP_ij − Δ_i),
//   dQ_i = scale Σ_j dS_ij K_j,  dK_j = scale Σ_i dS_ij Q_i.
//
// Precision: q, k, v, out (and the span outputs), dO, dq, dk, dv are stored as act_t (f16 in the
// `#if f16` build) and widened to vec4f at each load (vec4 indices are the same in both builds);
// logits, the online softmax, lse, Δ and every accumulator are f32. With spans, each span's output
// or gradient partial is rounded to act_t before it is merged (in f32).

override HD: u32 = 32;   // head dim
override WG: u32 = 64;   // rows per workgroup (a multiple of 8)
const NEG = -3.0e38;     // logit of a masked (out of range) streamed row
const LOG2E = 1.4426950408889634;
const LN2 = 0.6931471805599453;

struct Params {
  rows: u32,    // rows of this kernel's side per (b, head): Nq (fwd, dq, combine) or Nk (dkv)
  cols: u32,    // rows of the streamed side: Nk (fwd, dq) or Nq (dkv)
  blocks: u32,  // workgroups per (b, head, split) = ceil(rows / WG)
  splits: u32,  // spans of the streamed side
  span: u32,    // streamed rows per span (a multiple of the chunk rows)
  bh: u32,      // B · heads
  heads: u32,
  scale: f32,   // 1 / sqrt(HD)
}

@group(0) @binding(0) var<storage, read> q: array<vec4<act_t>>;               // (B, Nq, D)
@group(0) @binding(1) var<storage, read> k: array<vec4<act_t>>;               // (B, Nk, D)
@group(0) @binding(2) var<storage, read> v: array<vec4<act_t>>;               // (B, Nk, D)
@group(0) @binding(3) var<storage, read_write> out: array<vec4<act_t>>;       // (splits, B, Nq, D)
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;         // (splits, B, heads, Nq)
@group(0) @binding(5) var<uniform> p: Params;
@group(0) @binding(6) var<storage, read> part_out: array<vec4<act_t>>;        // (splits, B, Nq, D)
@group(0) @binding(7) var<storage, read> part_lse: array<f32>;          // (splits, B, heads, Nq)
@group(0) @binding(8) var<storage, read> fwd_out: array<vec4<act_t>>;         // (B, Nq, D)   forward output O
@group(0) @binding(9) var<storage, read> d_out: array<vec4<act_t>>;           // (B, Nq, D)   dO
@group(0) @binding(10) var<storage, read> saved_lse: array<f32>;        // (B, heads, Nq)
@group(0) @binding(11) var<storage, read_write> dq: array<vec4<act_t>>;       // (splits, B, Nq, D)
@group(0) @binding(12) var<storage, read_write> stats: array<vec2f>;    // (B, heads, Nq): (lse·log2 e, Δ)
@group(0) @binding(13) var<storage, read> saved_stats: array<vec2f>;    // (B, heads, Nq): (lse·log2 e, Δ)
@group(0) @binding(14) var<storage, read_write> dk: array<vec4<act_t>>;       // (splits, B, Nk, D)
@group(0) @binding(15) var<storage, read_write> dv: array<vec4<act_t>>;       // (splits, B, Nk, D)

// ---- streaming a chunk of rows -----------------------------------------------------------------

// #if subgroups
// The vec4 that lanes 0..7 of this subgroup hold, in every lane. The host takes this path only on
// subgroups of at least 8 lanes whose lanes 0..7 are local invocations 8n..8n+7, so lane l of a
// group of 8 is `lid & 7`.
fn share8(x: vec4f) -> array<vec4f, 8> {
  return array<vec4f, 8>(subgroupBroadcast(x, 0u), subgroupBroadcast(x, 1u), subgroupBroadcast(x, 2u), subgroupBroadcast(x, 3u),
                         subgroupBroadcast(x, 4u), subgroupBroadcast(x, 5u), subgroupBroadcast(x, 6u), subgroupBroadcast(x, 7u));
}
// share8 for a vec2.
fn share8_2(x: vec2f) -> array<vec2f, 8> {
  return array<vec2f, 8>(subgroupBroadcast(x, 0u), subgroupBroadcast(x, 1u), subgroupBroadcast(x, 2u), subgroupBroadcast(x, 3u),
                         subgroupBroadcast(x, 4u), subgroupBroadcast(x, 5u), subgroupBroadcast(x, 6u), subgroupBroadcast(x, 7u));
}
// #endif

// Rows j0 .. j0+CR−1 of two streamed tensors for one (b, head), as CR = 32/HD rows of HD/4 vec4:
// chunk vec4 e is row e / (HD/4), vec4 e % (HD/4). Rows past `last` repeat it (masked by callers).
// `st` (dkv only) holds the rows' (lse·log2 e, Δ).
struct Chunk { a: array<vec4f, 8>, b: array<vec4f, 8>, st: array<vec2f, 8> }

// base: vec4 index of (b, row 0, head h); d4 = D/4, the row stride.
fn chunk_kv(base: u32, d4: u32, j0: u32, last: u32, lane: u32) -> Chunk {
  var c: Chunk;
  let hd4 = HD / 4u;
// #if subgroups
  let at = base + min(j0 + lane / hd4, last) * d4 + lane % hd4;
  c.a = share8(vec4f(k[at]));
  c.b = share8(vec4f(v[at]));
// #else
  for (var e = 0u; e < 8u; e++) {
    let at = base + min(j0 + e / hd4, last) * d4 + e % hd4;
    c.a[e] = vec4f(k[at]);
    c.b[e] = vec4f(v[at]);
  }
// #endif
  return c;
}

// As chunk_kv over the query side: rows of q and dO, and their stats (sbase: (b, head, query 0)).
fn chunk_qdo(base: u32, sbase: u32, d4: u32, i0: u32, last: u32, lane: u32) -> Chunk {
  var c: Chunk;
  let hd4 = HD / 4u;
// #if subgroups
  let at = base + min(i0 + lane / hd4, last) * d4 + lane % hd4;
  c.a = share8(vec4f(q[at]));
  c.b = share8(vec4f(d_out[at]));
  c.st = share8_2(saved_stats[sbase + min(i0 + lane, last)]);
// #else
  for (var e = 0u; e < 8u; e++) {
    let at = base + min(i0 + e / hd4, last) * d4 + e % hd4;
    c.a[e] = vec4f(q[at]);
    c.b[e] = vec4f(d_out[at]);
  }
  for (var r = 0u; r < 32u / HD; r++) { c.st[r] = saved_stats[sbase + min(i0 + r, last)]; }
// #endif
  return c;
}

// ---- work decomposition ------------------------------------------------------------------------

struct Work { block: u32, split: u32, b: u32, h: u32, nb: u32, d4: u32, begin: u32, end: u32, ok: bool }

// Workgroup g = block + blocks·(split + splits·bh); `ok` is false past the last (b, head). Uniform
// per workgroup (no local index in it), so the streaming loops stay in uniform control flow.
fn work(wid: vec3u, nwg: vec3u) -> Work {
  let g = wid.x + wid.y * nwg.x;
  let rest = g / p.blocks;
  let bh = rest / p.splits;
  var w: Work;
  w.ok = bh < p.bh;
  w.block = g % p.blocks;
  w.split = rest % p.splits;
  w.b = bh / p.heads;
  w.h = bh % p.heads;
  w.nb = p.bh / p.heads;
  w.d4 = p.heads * HD / 4u;
  w.begin = w.split * p.span;
  w.end = min(w.begin + p.span, p.cols);
  return w;
}

// This invocation's row (`own`, past the end in the last block), the row clamped for loads, and the
// vec4 offset of that row's head slice in a (B, rows, heads·HD) tensor.
struct Row { own: u32, own_c: u32, at: u32 }

fn row_of(w: Work, lid: u32) -> Row {
  let own = w.block * WG + lid;
  let own_c = min(own, p.rows - 1u);
  return Row(own, own_c, (w.b * p.rows + own_c) * w.d4 + w.h * (HD / 4u));
}

// ---- forward -------------------------------------------------------------------------------------

@compute @workgroup_size(WG) fn attn_fwd(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                        @builtin(local_invocation_index) lid: u32) {
  let w = work(wid, nwg);
  if (!w.ok) { return; }   // uniform per workgroup
  let row = row_of(w, lid);
  let hd4 = HD / 4u;
  let cr = 32u / HD;   // chunk rows
  let c2 = p.scale * LOG2E;
  var qr: array<vec4f, 8>;
  var acc: array<vec4f, 8>;
  for (var c = 0u; c < hd4; c++) { qr[c] = vec4f(q[row.at + c]) * c2; acc[c] = vec4f(0.0); }
  var m = NEG;
  var l = 0.0;
  let kbase = w.b * p.cols * w.d4 + w.h * hd4;
  for (var j0 = w.begin; j0 < w.end; j0 += cr) {
    let ch = chunk_kv(kbase, w.d4, j0, w.end - 1u, lid & 7u);
    var t: array<f32, 8>;
    var mx = m;
    for (var r = 0u; r < cr; r++) {
      var s = vec4f(0.0);
      for (var c = 0u; c < hd4; c++) { s = fma(qr[c], ch.a[r * hd4 + c], s); }
      t[r] = select(NEG, s.x + s.y + s.z + s.w, j0 + r < w.end);
      mx = max(mx, t[r]);
    }
    let corr = exp2(m - mx);
    m = mx;
    l *= corr;
    for (var c = 0u; c < hd4; c++) { acc[c] *= corr; }
    for (var r = 0u; r < cr; r++) {
      let pr = exp2(t[r] - mx);
      l += pr;
      for (var c = 0u; c < hd4; c++) { acc[c] = fma(vec4f(pr), ch.b[r * hd4 + c], acc[c]); }
    }
  }
  if (row.own < p.rows) {
    let inv = 1.0 / l;
    let oat = ((w.split * w.nb + w.b) * p.rows + row.own) * w.d4 + w.h * hd4;
    for (var c = 0u; c < hd4; c++) { out[oat + c] = vec4<act_t>(acc[c] * inv); }
    lse[((w.split * w.nb + w.b) * p.heads + w.h) * p.rows + row.own] = (m + log2(l)) * LN2;
  }
}

// One invocation per (b, query, head): merges the spans' outputs (lse_s weights).
@compute @workgroup_size(WG) fn attn_fwd_combine(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                                @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * WG + lid;
  if (t >= p.bh * p.rows) { return; }
  let hd4 = HD / 4u;
  let nb = p.bh / p.heads;
  let h = t % p.heads;
  let i = (t / p.heads) % p.rows;
  let b = t / (p.heads * p.rows);
  let d4 = p.heads * hd4;
  let lstride = p.bh * p.rows;            // one span of lse
  let la = (b * p.heads + h) * p.rows + i;
  var mx = NEG;
  for (var s = 0u; s < p.splits; s++) { mx = max(mx, part_lse[s * lstride + la]); }
  var sum = 0.0;
  for (var s = 0u; s < p.splits; s++) { sum += exp(part_lse[s * lstride + la] - mx); }
  let total = mx + log(sum);
  let oa = (b * p.rows + i) * d4 + h * hd4;
  let ostride = nb * p.rows * d4;         // one span of out
  var acc: array<vec4f, 8>;
  for (var c = 0u; c < hd4; c++) { acc[c] = vec4f(0.0); }
  for (var s = 0u; s < p.splits; s++) {
    let wt = exp(part_lse[s * lstride + la] - total);
    for (var c = 0u; c < hd4; c++) { acc[c] = fma(vec4f(wt), vec4f(part_out[s * ostride + oa + c]), acc[c]); }
  }
  for (var c = 0u; c < hd4; c++) { out[oa + c] = vec4<act_t>(acc[c]); }
  lse[la] = total;
}

// ---- backward ------------------------------------------------------------------------------------

// One invocation per query row: Δ from its O and dO rows, then dQ over its span of keys. Span 0
// also writes (lse·log2 e, Δ) per query for attn_bwd_dkv.
@compute @workgroup_size(WG) fn attn_bwd_dq(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                           @builtin(local_invocation_index) lid: u32) {
  let w = work(wid, nwg);
  if (!w.ok) { return; }
  let row = row_of(w, lid);
  let hd4 = HD / 4u;
  let cr = 32u / HD;   // chunk rows
  let c2 = p.scale * LOG2E;
  var qr: array<vec4f, 8>;
  var gr: array<vec4f, 8>;   // dO row
  var acc: array<vec4f, 8>;  // dQ / scale
  var delta = 0.0;
  for (var c = 0u; c < hd4; c++) {
    qr[c] = vec4f(q[row.at + c]) * c2;
    gr[c] = vec4f(d_out[row.at + c]);
    delta += dot(gr[c], vec4f(fwd_out[row.at + c]));
    acc[c] = vec4f(0.0);
  }
  let sat = (w.b * p.heads + w.h) * p.rows + row.own_c;
  let lse2 = saved_lse[sat] * LOG2E;
  if (w.split == 0u && row.own < p.rows) { stats[sat] = vec2f(lse2, delta); }
  let kbase = w.b * p.cols * w.d4 + w.h * hd4;
  for (var j0 = w.begin; j0 < w.end; j0 += cr) {
    let ch = chunk_kv(kbase, w.d4, j0, w.end - 1u, lid & 7u);
    for (var r = 0u; r < cr; r++) {
      var s = vec4f(0.0);
      var dp = vec4f(0.0);
      for (var c = 0u; c < hd4; c++) {
        s = fma(qr[c], ch.a[r * hd4 + c], s);
        dp = fma(gr[c], ch.b[r * hd4 + c], dp);
      }
      let pr = select(0.0, exp2(s.x + s.y + s.z + s.w - lse2), j0 + r < w.end);
      let ds = pr * (dp.x + dp.y + dp.z + dp.w - delta);
      for (var c = 0u; c < hd4; c++) { acc[c] = fma(vec4f(ds), ch.a[r * hd4 + c], acc[c]); }
    }
  }
  if (row.own < p.rows) {
    let at = ((w.split * w.nb + w.b) * p.rows + row.own) * w.d4 + w.h * hd4;
    for (var c = 0u; c < hd4; c++) { dq[at + c] = vec4<act_t>(acc[c] * p.scale); }
  }
}

// One invocation per key row: dK and dV over its span of queries (rows = Nk, cols = Nq).
@compute @workgroup_size(WG) fn attn_bwd_dkv(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                            @builtin(local_invocation_index) lid: u32) {
  let w = work(wid, nwg);
  if (!w.ok) { return; }
  let row = row_of(w, lid);
  let hd4 = HD / 4u;
  let cr = 32u / HD;   // chunk rows
  let c2 = p.scale * LOG2E;
  var kr: array<vec4f, 8>;
  var vr: array<vec4f, 8>;
  var gk: array<vec4f, 8>;   // dK / scale
  var gv: array<vec4f, 8>;   // dV
  for (var c = 0u; c < hd4; c++) {
    kr[c] = vec4f(k[row.at + c]) * c2;
    vr[c] = vec4f(v[row.at + c]);
    gk[c] = vec4f(0.0);
    gv[c] = vec4f(0.0);
  }
  let qbase = w.b * p.cols * w.d4 + w.h * hd4;
  let sbase = (w.b * p.heads + w.h) * p.cols;
  for (var i0 = w.begin; i0 < w.end; i0 += cr) {
    let ch = chunk_qdo(qbase, sbase, w.d4, i0, w.end - 1u, lid & 7u);
    for (var r = 0u; r < cr; r++) {
      let st = ch.st[r];
      var s = vec4f(0.0);
      var dp = vec4f(0.0);
      for (var c = 0u; c < hd4; c++) {
        s = fma(kr[c], ch.a[r * hd4 + c], s);
        dp = fma(vr[c], ch.b[r * hd4 + c], dp);
      }
      let pr = select(0.0, exp2(s.x + s.y + s.z + s.w - st.x), i0 + r < w.end);
      let ds = pr * (dp.x + dp.y + dp.z + dp.w - st.y);
      for (var c = 0u; c < hd4; c++) {
        gv[c] = fma(vec4f(pr), ch.b[r * hd4 + c], gv[c]);
        gk[c] = fma(vec4f(ds), ch.a[r * hd4 + c], gk[c]);
      }
    }
  }
  if (row.own < p.rows) {
    let at = ((w.split * w.nb + w.b) * p.rows + row.own) * w.d4 + w.h * hd4;
    for (var c = 0u; c < hd4; c++) {
      dk[at + c] = vec4<act_t>(gk[c] * p.scale);
      dv[at + c] = vec4<act_t>(gv[c]);
    }
  }
}
