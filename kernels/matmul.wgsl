// #if subgroups
enable subgroups;
// A subgroup whose rows all lie past M returns at once (see matmul_subgroup); its slot comes from
// a subgroupBroadcast, which the uniformity analysis cannot see is equal in all the lanes.
diagnostic(off, subgroup_uniformity);
// #endif

// #if f16
enable f16;
alias act_t = f16;
// #else
alias act_t = f32;
// #endif

// Matrix multiply: C = op(A)·op(B) (+ bias), row-major, batched over grid z. Storage is act_t (f32,
// or f16 in the `#if f16` build, where a vec4 view is 8 bytes); loads widen to f32, products and
// sums are f32, and C is rounded once when stored.
// Per batch item z, with logical A (M, K), B (K, N), C (M, N):
//   A(m, k) = a[z·stride_a + m·K + k],   with TRANS_A a[z·stride_a + k·M + m]   (stored (K, M))
//   B(k, n) = b[z·stride_b + k·N + n],   with TRANS_B b[z·stride_b + n·K + k]   (stored (N, K))
//   C(m, n) = c[z·stride_c + m·N + n] = Σ_k A(m, k)·B(k, n) + bias[n] + res[z·stride_c + m·N + n]
// The bias (HAS_BIAS) and the residual (HAS_RES: a tensor of C's shape, e.g. a transformer
// block's skip connection) are added in the epilogue, so neither costs a pass over C of its own.
// EPILOGUE then maps the sum v (side: a tensor of C's shape, bound read_write):
//   0  C = v
//   1  C = gelu(v), and side = v when SAVE_PRE (the pre-activation a backward needs): a
//      transformer MLP's first linear + GELU in one pass over C;
//   2  C = v · gelu'(side): the backward of that GELU fused into the matmul that produces its
//      input gradient (dZ = (dY·W₂) ⊙ gelu'(Z)), so neither GELU pass touches C on its own.
// DB (with EPILOGUE 0 and one batch item) also writes sums over the contraction into side:
//   1  side[m] = Σ_k A(m, k)    2  side[n] = Σ_k B(k, n)
// That is a linear layer's bias gradient formed in its weight-gradient product: dW = dYᵀ·X has
// A = dYᵀ, so db = Σ_rows dY = side (DB 1); dW = Xᵀ·dY has B = dY (DB 2). Only the workgroups
// of the first tile column (DB 1) or row (DB 2) add up the operand values they load anyway, so
// the sums cost no pass over dY of their own. Sums are f32, rounded once when stored.
// The GELU maths is gelu.wgsl's (included at the end of this file).
// A stride of 0 shares an operand over the batch (a weight). The backward is this same kernel with
// other transpose flags (src/runtime/ops/matmul.ts): no transpose is ever materialised.
//
// Entry points (one family; transposes, bias and vec4 views are override constants):
//   matmul_naive     one output per invocation, scalar k loop: the bench baseline and an oracle.
//   matmul_tiled     no subgroups: 4 rows × 8 columns (2 vec4) per invocation.
//   matmul_wgmem     classic GPU tiling: the workgroup stages a (4·TM) × BK tile of A and a BK ×
//                    (4·TN·CN) tile of B in var<workgroup> (vec4 loads), then each invocation
//                    computes a 4 × 4·CN block from them (2-D register blocking). TM, TN, BK, CN
//                    are override constants, so one kernel gives several tile shapes.
//   matmul_subgroup  a subgroup of SG lanes computes ROWS (8 or 16) rows × 4·SG columns: lane l
//                    owns columns 4l..4l+3 and loads one vec4 of B per k for them; the A values
//                    every lane needs are loaded once (lane l: row l % L, 4 k, in ROWS / L groups)
//                    and shared with subgroupBroadcast from lanes 0..L-1 (L = 8, or 4 for
//                    4-lane subgroups such as SwiftShader's).
// Only the `#if subgroups` text (the `enable` directive and matmul_subgroup) needs the feature:
// `enable` is file-wide, so the runtime blanks those lines on devices without it
// (kernel.ts selectBranches) and the other entry points compile everywhere.
//
// Speed on lavapipe (docs/lavapipe.md): storage loads run lane by lane with
// a bounds check per component, so loads, not FMAs, set the pace. Hence (1) register blocking:
// each B value loaded feeds ROWS FMAs, each A value 4·SG (through the broadcasts); (2) vec4 loads,
// about half the cost of four f32 loads; (3) k advances by 4 and every accumulator is updated by
// one 4-deep fma chain, since llvmpipe blends each loop-carried register write with the loop mask.
// The lavapipe loop of matmul_subgroup (ROWS 16) runs ~6.9 x86 instructions per 8-lane multiply-add
// pair, over half of them the lane-by-lane loads; ROWS 8: ~9.9; matmul_tiled: ~23.
//
// Bounds: rows and columns past M / N are clamped for loading and never stored; k past K reads as
// 0 (both operands), so any M, N, K ≥ 0 works. The vec4 views a4 / b4 (bound to the same buffers
// as a / b) are used only where the stored row length is a multiple of 4 (VEC_A: K, or M with
// TRANS_A; VEC_B: N, or K with TRANS_B), so every vec4 is 16-byte aligned and within one row.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;
override HAS_RES: bool = false;
override EPILOGUE: u32 = 0;  // 0 none, 1 GELU, 2 × GELU'(side) (see the header)
override SAVE_PRE: bool = false;
override DB: u32 = 0;        // 0 none, 1 side[m] = Σ_k A(m, k), 2 side[n] = Σ_k B(k, n) (see the header)
override VEC_A: bool = false;
override VEC_B: bool = false;
override WG: u32 = 64;       // invocations per workgroup
override WG_N: u32 = 8;      // matmul_tiled: invocations along N (WG / WG_N along M)

struct Params {
  M: u32, N: u32, K: u32,
  tiles_n: u32,              // workgroup tiles along N
  tiles: u32,                // workgroup tiles per batch item (tiles_m · tiles_n)
  stride_a: u32, stride_b: u32, stride_c: u32,
}

@group(0) @binding(0) var<storage, read_write> c: array<act_t>;    // (batch, M, N)
@group(0) @binding(1) var<storage, read> a: array<act_t>;          // (batch | 1, M, K), TRANS_A: (batch | 1, K, M)
@group(0) @binding(2) var<storage, read> a4: array<vec4<act_t>>;   // a's buffer read as vec4
@group(0) @binding(3) var<storage, read> b: array<act_t>;          // (batch | 1, K, N), TRANS_B: (batch | 1, N, K)
@group(0) @binding(4) var<storage, read> b4: array<vec4<act_t>>;   // b's buffer read as vec4
@group(0) @binding(5) var<storage, read> bias: array<act_t>;       // (N); any read-only buffer without HAS_BIAS
@group(0) @binding(6) var<uniform> p: Params;
@group(0) @binding(7) var<storage, read> res: array<act_t>;        // (batch, M, N); any read-only buffer without HAS_RES
@group(0) @binding(8) var<storage, read_write> side: array<act_t>; // (batch, M, N) for EPILOGUE 1 with SAVE_PRE, or 2; (M) for DB 1, (N) for DB 2; else a spare buffer

// ---- operand access ------------------------------------------------------------------------------

fn a_index(m: u32, k: u32) -> u32 { return select(m * p.K + k, k * p.M + m, TRANS_A); }
fn b_index(k: u32, n: u32) -> u32 { return select(k * p.N + n, n * p.K + k, TRANS_B); }

// A(m, k) for m < M; 0 for k ≥ K.
fn a_at(base: u32, m: u32, k: u32) -> f32 { return select(0.0, f32(a[base + a_index(m, min(k, p.K - 1u))]), k < p.K); }
// B(k, n) for n < N; 0 for k ≥ K.
fn b_at(base: u32, k: u32, n: u32) -> f32 { return select(0.0, f32(b[base + b_index(min(k, p.K - 1u), n)]), k < p.K); }

// A(m, k..k+3) for m < M.
fn load_a_row(base: u32, m: u32, k: u32) -> vec4f {
  if (VEC_A && !TRANS_A) { return vec4f(a4[(base + m * p.K + k) / 4u]); }   // K % 4 == 0: k + 3 < K
  return vec4f(a_at(base, m, k), a_at(base, m, k + 1u), a_at(base, m, k + 2u), a_at(base, m, k + 3u));
}

// Rows m0..m0+3 (clamped to M) of A at k..k+3: result[r] = A(m0 + r, k..k+3).
fn load_a_4rows(base: u32, m0: u32, k: u32) -> mat4x4f {
  if (VEC_A && TRANS_A) {
    // M % 4 == 0 and m0 % 4 == 0: stored row k + j holds A(m0..m0+3, k + j) contiguously.
    let at = (base + min(m0, p.M - 4u)) / 4u;
    let mv = p.M / 4u;
    let kl = p.K - 1u;
    return transpose(mat4x4f(
      select(vec4f(0.0), vec4f(a4[at + min(k, kl) * mv]), k < p.K),
      select(vec4f(0.0), vec4f(a4[at + min(k + 1u, kl) * mv]), k + 1u < p.K),
      select(vec4f(0.0), vec4f(a4[at + min(k + 2u, kl) * mv]), k + 2u < p.K),
      select(vec4f(0.0), vec4f(a4[at + min(k + 3u, kl) * mv]), k + 3u < p.K)));
  }
  let ml = p.M - 1u;
  return mat4x4f(load_a_row(base, min(m0, ml), k), load_a_row(base, min(m0 + 1u, ml), k),
                 load_a_row(base, min(m0 + 2u, ml), k), load_a_row(base, min(m0 + 3u, ml), k));
}

// Rows k..k+3 of B at columns n..n+3 (clamped to N): result[j] = B(k + j, n..n+3).
fn load_b_4rows(base: u32, k: u32, n: u32) -> mat4x4f {
  let nl = p.N - 1u;
  if (VEC_B && TRANS_B) {
    // K % 4 == 0: stored row n + i holds B(k..k+3, n + i) contiguously, k + 3 < K.
    let kv = k / 4u;
    let kr = p.K / 4u;
    let bv = base / 4u;
    return transpose(mat4x4f(vec4f(b4[bv + min(n, nl) * kr + kv]), vec4f(b4[bv + min(n + 1u, nl) * kr + kv]),
                             vec4f(b4[bv + min(n + 2u, nl) * kr + kv]), vec4f(b4[bv + min(n + 3u, nl) * kr + kv])));
  }
  if (VEC_B) {
    // N % 4 == 0 and n % 4 == 0: stored row k + j holds B(k + j, n..n+3) contiguously.
    let at = (base + min(n, p.N - 4u)) / 4u;
    let nv = p.N / 4u;
    let kl = p.K - 1u;
    return mat4x4f(
      select(vec4f(0.0), vec4f(b4[at + min(k, kl) * nv]), k < p.K),
      select(vec4f(0.0), vec4f(b4[at + min(k + 1u, kl) * nv]), k + 1u < p.K),
      select(vec4f(0.0), vec4f(b4[at + min(k + 2u, kl) * nv]), k + 2u < p.K),
      select(vec4f(0.0), vec4f(b4[at + min(k + 3u, kl) * nv]), k + 3u < p.K));
  }
  let n0 = min(n, nl);
  let n1 = min(n + 1u, nl);
  let n2 = min(n + 2u, nl);
  let n3 = min(n + 3u, nl);
  return mat4x4f(
    vec4f(b_at(base, k, n0), b_at(base, k, n1), b_at(base, k, n2), b_at(base, k, n3)),
    vec4f(b_at(base, k + 1u, n0), b_at(base, k + 1u, n1), b_at(base, k + 1u, n2), b_at(base, k + 1u, n3)),
    vec4f(b_at(base, k + 2u, n0), b_at(base, k + 2u, n1), b_at(base, k + 2u, n2), b_at(base, k + 2u, n3)),
    vec4f(b_at(base, k + 3u, n0), b_at(base, k + 3u, n1), b_at(base, k + 3u, n2), b_at(base, k + 3u, n3)));
}

// acc + Σ_j x[j]·bk[j] (x = A(m, k..k+3), bk[j] = B(k + j, 4 columns)) as one 4-deep fma chain.
fn fma4(x: vec4f, bk: mat4x4f, acc: vec4f) -> vec4f {
  return fma(vec4f(x.w), bk[3], fma(vec4f(x.z), bk[2], fma(vec4f(x.y), bk[1], fma(vec4f(x.x), bk[0], acc))));
}

// C(m, n..n+3) = epilogue(v (+ bias) (+ residual)), the parts inside (M, N).
fn store4(base: u32, m: u32, n: u32, v: vec4f) {
  if (m >= p.M) { return; }
  var x = v;
  for (var i = 0u; i < 4u; i++) {
    if (n + i < p.N) {
      let at = base + m * p.N + n + i;
      if (HAS_BIAS) { x[i] += f32(bias[n + i]); }
      if (HAS_RES) { x[i] += f32(res[at]); }
    }
  }
  x = epilogue4(base + m * p.N + n, n, x);
  for (var i = 0u; i < 4u; i++) {
    if (n + i < p.N) { c[base + m * p.N + n + i] = act_t(x[i]); }
  }
}

// EPILOGUE on the 4 outputs at flat index at..at+3 (columns n..n+3; those past N are left alone).
fn epilogue4(at: u32, n: u32, v: vec4f) -> vec4f {
  if (EPILOGUE == 1u) {
    if (SAVE_PRE) {
      for (var i = 0u; i < 4u; i++) { if (n + i < p.N) { side[at + i] = act_t(v[i]); } }
    }
    return gelu4(v);
  }
  if (EPILOGUE == 2u) {
    var z = vec4f(0.0);
    for (var i = 0u; i < 4u; i++) { if (n + i < p.N) { z[i] = f32(side[at + i]); } }
    return v * gelu4_grad(z);
  }
  return v;
}

// Tile (tm, tn) of batch item z from a linearised workgroup id, or tm = ~0 past the last tile.
fn tile_of(wid: vec3u, nwg: vec3u) -> vec2u {
  let t = wid.x + wid.y * nwg.x;
  if (t >= p.tiles) { return vec2u(0xffffffffu, 0u); }
  return vec2u(t / p.tiles_n, t % p.tiles_n);
}

// DB 1: side[m] = the 4 k-lanes of s added, if row m is inside M.
fn store_row_sum(m: u32, s: vec4f) {
  if (m < p.M) { side[m] = act_t(dot(s, vec4f(1.0))); }
}

// DB 1 for rows m0..m0+3 (s[r] holds row m0 + r).
fn store_row_sums(m0: u32, s: mat4x4f) {
  for (var r = 0u; r < 4u; r++) { store_row_sum(m0 + r, s[r]); }
}

// DB 2: side[n..n+3] = s, the columns inside N.
fn store_col_sums(n: u32, s: vec4f) {
  for (var i = 0u; i < 4u; i++) {
    if (n + i < p.N) { side[n + i] = act_t(s[i]); }
  }
}

// B(k..k+3, n..n+3) summed over its 4 rows (k): column sums of one loaded block.
fn col_sum4(bk: mat4x4f) -> vec4f { return (bk[0] + bk[1]) + (bk[2] + bk[3]); }

// EPILOGUE on one output at flat index at.
fn epilogue1(at: u32, v: f32) -> f32 {
  if (EPILOGUE == 1u) {
    if (SAVE_PRE) { side[at] = act_t(v); }
    return gelu4(vec4f(v)).x;
  }
  if (EPILOGUE == 2u) { return v * gelu4_grad(vec4f(f32(side[at]))).x; }
  return v;
}

// ---- naive: one output per invocation, 8 × 8 per workgroup ----------------------------------------

@compute @workgroup_size(64) fn matmul_naive(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                            @builtin(local_invocation_index) lid: u32) {
  let t = tile_of(wid, nwg);
  if (t.x == 0xffffffffu) { return; }
  let m = t.x * 8u + lid / 8u;
  let n = t.y * 8u + lid % 8u;
  if (m >= p.M || n >= p.N) { return; }
  let base_a = wid.z * p.stride_a;
  let base_b = wid.z * p.stride_b;
  var acc = 0.0;
  var s = 0.0;   // DB: Σ_k of A(m, k) or B(k, n)
  for (var k = 0u; k < p.K; k++) {
    let av = f32(a[base_a + a_index(m, k)]);
    let bv = f32(b[base_b + b_index(k, n)]);
    acc = fma(av, bv, acc);
    if (DB == 1u) { s += av; }
    if (DB == 2u) { s += bv; }
  }
  if (DB == 1u && n == 0u) { side[m] = act_t(s); }
  if (DB == 2u && m == 0u) { side[n] = act_t(s); }
  if (HAS_BIAS) { acc += f32(bias[n]); }
  let at = wid.z * p.stride_c + m * p.N + n;
  if (HAS_RES) { acc += f32(res[at]); }
  c[at] = act_t(epilogue1(at, acc));
}

// ---- tiled: 4 rows × 2 vec4 columns per invocation, no subgroups --------------------------------
// Workgroup: WG_N invocations along N, WG / WG_N along M: a (4·WG/WG_N) × (8·WG_N) tile.
// Per k step of 4: 4 A rows (vec4 of k each) and 2 × 4 B vec4 feed 8 accumulator chains. (8 rows
// per invocation runs a third fewer instructions per FMA on lavapipe but measured no faster.)

@compute @workgroup_size(WG) fn matmul_tiled(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                            @builtin(local_invocation_index) lid: u32) {
  let t = tile_of(wid, nwg);
  if (t.x == 0xffffffffu) { return; }
  let m0 = (t.x * (WG / WG_N) + lid / WG_N) * 4u;
  if (m0 >= p.M) { return; }
  let n0 = (t.y * WG_N + lid % WG_N) * 8u;
  let base_a = wid.z * p.stride_a;
  let base_b = wid.z * p.stride_b;
  var c00 = vec4f(0.0); var c01 = vec4f(0.0); var c10 = vec4f(0.0); var c11 = vec4f(0.0);
  var c20 = vec4f(0.0); var c21 = vec4f(0.0); var c30 = vec4f(0.0); var c31 = vec4f(0.0);
  // DB: the first tile column adds up its A rows (s_a), the first tile row its B columns (s_b0, s_b1).
  let db_a = DB == 1u && t.y == 0u;
  let db_b = DB == 2u && t.x == 0u;
  var s_a = mat4x4f(); var s_b0 = vec4f(0.0); var s_b1 = vec4f(0.0);
  for (var k = 0u; k < p.K; k += 4u) {
    let b0 = load_b_4rows(base_b, k, n0);
    let b1 = load_b_4rows(base_b, k, n0 + 4u);
    let ar = load_a_4rows(base_a, m0, k);
    if (db_a) { s_a += ar; }
    if (db_b) { s_b0 += col_sum4(b0); s_b1 += col_sum4(b1); }
    c00 = fma4(ar[0], b0, c00); c01 = fma4(ar[0], b1, c01);
    c10 = fma4(ar[1], b0, c10); c11 = fma4(ar[1], b1, c11);
    c20 = fma4(ar[2], b0, c20); c21 = fma4(ar[2], b1, c21);
    c30 = fma4(ar[3], b0, c30); c31 = fma4(ar[3], b1, c31);
  }
  if (db_a && lid % WG_N == 0u) { store_row_sums(m0, s_a); }
  if (db_b && lid < WG_N) { store_col_sums(n0, s_b0); store_col_sums(n0 + 4u, s_b1); }
  let base_c = wid.z * p.stride_c;
  // One store4 in a loop (see matmul_subgroup's end): row r, columns n0 + 4·(i % 2).
  let acc = array<vec4f, 8>(c00, c01, c10, c11, c20, c21, c30, c31);
  for (var i = 0u; i < 8u; i++) { store4(base_c, m0 + i / 2u, n0 + 4u * (i % 2u), acc[i]); }
}

// ---- wgmem: tiles of A and B staged in workgroup memory ----------------------------------------
// Workgroup: TM × TN invocations (TN along N); tile (4·TM) rows × (4·TN·CN) columns; the k loop
// advances BK (a multiple of 4) at a time. Staging: A tile as vec4 of 4 consecutive k per row
// (sa[row·BK/4 + kq]), B tile as vec4 of 4 consecutive columns per k (sb[k·TN·CN + cq]); both are
// loaded cooperatively with the same vec4 loaders as the other kernels, so out-of-range rows are
// clamped and k ≥ K reads 0. Invocation (tr, tc) owns rows 4·tr..+3 and vec4 columns tc + TN·j
// (j < CN), strided so that neighbouring invocations read neighbouring vec4 of sb. On a GPU the
// staging turns the 4·TN·CN (resp. 4·TM) global reads per value into one; on lavapipe workgroup
// loads and barriers are not cheap (bench/README.md), so the tuner normally prefers the others.
override TM: u32 = 8;        // invocations along M (4 rows each)
override TN: u32 = 8;        // invocations along N (CN vec4 columns each)
override BK: u32 = 16;       // k per staged tile, a multiple of 4
override CN: u32 = 1;        // vec4 columns per invocation (1 or 2)
override WGT: u32 = 64;      // TM · TN (the host sets both)

var<workgroup> sa: array<vec4f, TM * BK>;          // (4·TM rows) × (BK/4) vec4 of k
var<workgroup> sb: array<vec4f, BK * TN * CN>;     // BK rows × (TN·CN) vec4 of columns

@compute @workgroup_size(WGT) fn matmul_wgmem(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                                 @builtin(local_invocation_index) lid: u32) {
  let t = tile_of(wid, nwg);
  // Whole workgroups only leave together (barriers below): a workgroup past the last tile does.
  if (t.x == 0xffffffffu) { return; }
  let m_tile = t.x * 4u * TM;
  let n_tile = t.y * 4u * TN * CN;
  let tr = lid / TN;
  let tc = lid % TN;
  let base_a = wid.z * p.stride_a;
  let base_b = wid.z * p.stride_b;
  let kq_per_tile = BK / 4u;
  let cols4 = TN * CN;
  var c0 = vec4f(0.0); var c1 = vec4f(0.0); var c2 = vec4f(0.0); var c3 = vec4f(0.0);
  var d0 = vec4f(0.0); var d1 = vec4f(0.0); var d2 = vec4f(0.0); var d3 = vec4f(0.0);
  // DB: the first tile column adds up its staged A rows, the first tile row its B columns.
  let db_a = DB == 1u && t.y == 0u;
  let db_b = DB == 2u && t.x == 0u;
  var s_a = mat4x4f(); var s_b0 = vec4f(0.0); var s_b1 = vec4f(0.0);
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    // Stage A: TM·(BK/4) units of 4 rows × 4 k.
    for (var u = lid; u < TM * kq_per_tile; u += WGT) {
      let rq = u / kq_per_tile;
      let kq = u % kq_per_tile;
      // The vec4 loaders assume k < K (the other kernels' loops guarantee it); a tile may run past K.
      var ar = mat4x4f();
      if (k0 + 4u * kq < p.K) { ar = load_a_4rows(base_a, m_tile + 4u * rq, k0 + 4u * kq); }
      for (var r = 0u; r < 4u; r++) { sa[(4u * rq + r) * kq_per_tile + kq] = ar[r]; }
    }
    // Stage B: (BK/4)·cols4 units of 4 k × 4 columns.
    for (var u = lid; u < kq_per_tile * cols4; u += WGT) {
      let kq = u / cols4;
      let cq = u % cols4;
      var bk = mat4x4f();
      if (k0 + 4u * kq < p.K) { bk = load_b_4rows(base_b, k0 + 4u * kq, n_tile + 4u * cq); }
      for (var j = 0u; j < 4u; j++) { sb[(4u * kq + j) * cols4 + cq] = bk[j]; }
    }
    workgroupBarrier();
    for (var kq = 0u; kq < kq_per_tile; kq++) {
      let a0 = sa[(4u * tr) * kq_per_tile + kq];
      let a1 = sa[(4u * tr + 1u) * kq_per_tile + kq];
      let a2 = sa[(4u * tr + 2u) * kq_per_tile + kq];
      let a3 = sa[(4u * tr + 3u) * kq_per_tile + kq];
      let row = 4u * kq * cols4;
      let b0 = mat4x4f(sb[row + tc], sb[row + cols4 + tc], sb[row + 2u * cols4 + tc], sb[row + 3u * cols4 + tc]);
      c0 = fma4(a0, b0, c0); c1 = fma4(a1, b0, c1); c2 = fma4(a2, b0, c2); c3 = fma4(a3, b0, c3);
      if (db_a) { s_a += mat4x4f(a0, a1, a2, a3); }
      if (db_b) { s_b0 += col_sum4(b0); }
      if (CN > 1u) {
        let e = tc + TN;
        let b1 = mat4x4f(sb[row + e], sb[row + cols4 + e], sb[row + 2u * cols4 + e], sb[row + 3u * cols4 + e]);
        d0 = fma4(a0, b1, d0); d1 = fma4(a1, b1, d1); d2 = fma4(a2, b1, d2); d3 = fma4(a3, b1, d3);
        if (db_b) { s_b1 += col_sum4(b1); }
      }
    }
    workgroupBarrier();
  }
  let base_c = wid.z * p.stride_c;
  let m = m_tile + 4u * tr;
  let n = n_tile + 4u * tc;
  if (db_a && tc == 0u) { store_row_sums(m, s_a); }
  if (db_b && tr == 0u) {
    store_col_sums(n, s_b0);
    if (CN > 1u) { store_col_sums(n + 4u * TN, s_b1); }
  }
  // One store4 in a loop (see matmul_subgroup's end): rows m + i % 4, vec4 column i / 4.
  let acc = array<vec4f, 8>(c0, c1, c2, c3, d0, d1, d2, d3);
  for (var i = 0u; i < 4u * CN; i++) { store4(base_c, m + i % 4u, n + 4u * TN * (i / 4u), acc[i]); }
}

// #if subgroups
// ---- subgroup: ROWS rows × 4·SG columns per subgroup ---------------------------------------------
// SG is the adapter's subgroup size (the host uses this only when it is fixed, 4 to 128 lanes), so
// the workgroup holds WG / SG whole subgroups, stacked along M. With L = 8 broadcast lanes, lanes
// 0..7 hold rows m0..m0+7 (lane l, row m0 + l; wider subgroups repeat the load) and
// subgroupBroadcast with constant lanes hands each row's 4 k values to every lane: 8 broadcasts,
// 8 vec4 accumulators per lane. With L = 4 (4-lane subgroups), each lane loads two rows, l and
// 4 + l, and the broadcasts read lanes 0..3 of both. ROWS = 16 repeats all that for rows
// m0+8..m0+15 with 8 more accumulators. L is an override constant, so the branch on it is folded
// when the pipeline is built.
override SG: u32 = 8;
override ROWS: u32 = 8;
override L: u32 = 8;

// The transposed-A load (VEC_A && TRANS_A, M % 4 == 0): lane l (of 8) loads one vec4, stored row
// k + l/2 at m0 + 4·(l%2)..+3 (rows clamped as a group of 4), so A(m0 + r, k + j) sits in lane
// 2j + r/4, component r % 4; lanes_even / lanes_odd gather A(m0 + r, k..k+3) for r < 4 / r ≥ 4.
fn load_a_t8(base: u32, m0: u32, k: u32, lane: u32) -> vec4f {
  let l = lane % 8u;
  let kk = k + l / 2u;
  let at = (base + min(kk, p.K - 1u) * p.M + min(m0 + 4u * (l % 2u), p.M - 4u)) / 4u;
  return select(vec4f(0.0), vec4f(a4[at]), kk < p.K);
}
fn lanes_even(x: f32) -> vec4f { return vec4f(subgroupBroadcast(x, 0u), subgroupBroadcast(x, 2u), subgroupBroadcast(x, 4u), subgroupBroadcast(x, 6u)); }
fn lanes_odd(x: f32) -> vec4f { return vec4f(subgroupBroadcast(x, 1u), subgroupBroadcast(x, 3u), subgroupBroadcast(x, 5u), subgroupBroadcast(x, 7u)); }

// A(m0 + 4 + r, k..k+3) for r < 4 as a matrix (column r): from lanes 4..7 of x (L = 8), or
// lanes 0..3 of y, the second row load (L = 4).
fn rows_4to7(x: vec4f, y: vec4f) -> mat4x4f {
  if (L >= 8u) { return mat4x4f(subgroupBroadcast(x, 4u), subgroupBroadcast(x, 5u), subgroupBroadcast(x, 6u), subgroupBroadcast(x, 7u)); }
  return mat4x4f(subgroupBroadcast(y, 0u), subgroupBroadcast(y, 1u), subgroupBroadcast(y, 2u), subgroupBroadcast(y, 3u));
}

// DB 1 in matmul_subgroup: the row sums of rows m0..m0+ROWS-1 from the lanes' partial sums.
fn store_subgroup_row_sums(m0: u32, lane: u32, s_x: vec4f, s_y: vec4f, s_xh: vec4f, s_yh: vec4f) {
  if (VEC_A && TRANS_A && L >= 8u) {
    // Lane 2j + r/4 summed A(m0 + r, k + j) over its k in component r % 4: lanes_even / lanes_odd
    // gather the 4 partials of rows r < 4 / r ≥ 4.
    let lo = mat4x4f(lanes_even(s_x.x), lanes_even(s_x.y), lanes_even(s_x.z), lanes_even(s_x.w));
    let hi = mat4x4f(lanes_odd(s_x.x), lanes_odd(s_x.y), lanes_odd(s_x.z), lanes_odd(s_x.w));
    var lo2 = mat4x4f(); var hi2 = mat4x4f();
    if (ROWS > 8u) {
      lo2 = mat4x4f(lanes_even(s_xh.x), lanes_even(s_xh.y), lanes_even(s_xh.z), lanes_even(s_xh.w));
      hi2 = mat4x4f(lanes_odd(s_xh.x), lanes_odd(s_xh.y), lanes_odd(s_xh.z), lanes_odd(s_xh.w));
    }
    if (lane == 0u) {
      store_row_sums(m0, lo); store_row_sums(m0 + 4u, hi);
      if (ROWS > 8u) { store_row_sums(m0 + 8u, lo2); store_row_sums(m0 + 12u, hi2); }
    }
    return;
  }
  // Lane l < L loaded row m0 + l (and m0 + 4 + l with L = 4); lanes past L repeat them.
  if (lane >= L) { return; }
  store_row_sum(m0 + lane, s_x);
  if (L < 8u) { store_row_sum(m0 + 4u + lane, s_y); }
  if (ROWS > 8u) {
    store_row_sum(m0 + 8u + lane, s_xh);
    if (L < 8u) { store_row_sum(m0 + 12u + lane, s_yh); }
  }
}

@compute @workgroup_size(WG) fn matmul_subgroup(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                               @builtin(local_invocation_index) lid: u32,
                                               @builtin(subgroup_invocation_id) lane: u32) {
  let t = tile_of(wid, nwg);
  if (t.x == 0xffffffffu) { return; }
  // The subgroup's slot in the workgroup, equal in all its lanes whatever the lane order.
  let slot = subgroupBroadcast(lid, 0u) / SG;
  let m0 = (t.x * (WG / SG) + slot) * ROWS;
  if (m0 >= p.M) { return; }   // the whole subgroup: the last row tile may be partly empty
  let n = (t.y * SG + lane) * 4u;
  // Rows this lane loads for the broadcasts (lanes past L repeat lanes 0..L-1); with L = 4 also
  // the rows 4 further (the _4 loads).
  let m_lo = min(m0 + lane % L, p.M - 1u);
  let m_hi = min(m0 + 8u + lane % L, p.M - 1u);
  let m_lo4 = min(m0 + 4u + lane % L, p.M - 1u);
  let m_hi4 = min(m0 + 12u + lane % L, p.M - 1u);
  let base_a = wid.z * p.stride_a;
  let base_b = wid.z * p.stride_b;
  var c0 = vec4f(0.0); var c1 = vec4f(0.0); var c2 = vec4f(0.0); var c3 = vec4f(0.0);
  var c4 = vec4f(0.0); var c5 = vec4f(0.0); var c6 = vec4f(0.0); var c7 = vec4f(0.0);
  var c8 = vec4f(0.0); var c9 = vec4f(0.0); var c10 = vec4f(0.0); var c11 = vec4f(0.0);
  var c12 = vec4f(0.0); var c13 = vec4f(0.0); var c14 = vec4f(0.0); var c15 = vec4f(0.0);
  // DB 1: the first tile column sums the A values each lane loads: rows m0 + l (s_x), with L = 4
  // also m0 + 4 + l (s_y), and 8 rows further for ROWS 16 (s_xh, s_yh); on the transposed-A
  // path s_x / s_xh sum load_a_t8's vec4 and are gathered across lanes at the end.
  // DB 2: the first subgroup of the first tile row sums its B columns (s_b).
  let db_a = DB == 1u && t.y == 0u;
  let db_b = DB == 2u && t.x == 0u && slot == 0u;
  var s_x = vec4f(0.0); var s_y = vec4f(0.0); var s_xh = vec4f(0.0); var s_yh = vec4f(0.0); var s_b = vec4f(0.0);
  for (var k = 0u; k < p.K; k += 4u) {
    let bk = load_b_4rows(base_b, k, n);
    if (db_b) { s_b += col_sum4(bk); }
    if (VEC_A && TRANS_A && L >= 8u) {
      let v = load_a_t8(base_a, m0, k, lane);
      if (db_a) { s_x += v; }
      c0 = fma4(lanes_even(v.x), bk, c0); c1 = fma4(lanes_even(v.y), bk, c1);
      c2 = fma4(lanes_even(v.z), bk, c2); c3 = fma4(lanes_even(v.w), bk, c3);
      c4 = fma4(lanes_odd(v.x), bk, c4); c5 = fma4(lanes_odd(v.y), bk, c5);
      c6 = fma4(lanes_odd(v.z), bk, c6); c7 = fma4(lanes_odd(v.w), bk, c7);
    } else {
      let x = load_a_row(base_a, m_lo, k);
      var y = x;
      if (L < 8u) { y = load_a_row(base_a, m_lo4, k); }
      if (db_a) { s_x += x; s_y += y; }
      let hi = rows_4to7(x, y);
      c0 = fma4(subgroupBroadcast(x, 0u), bk, c0); c1 = fma4(subgroupBroadcast(x, 1u), bk, c1);
      c2 = fma4(subgroupBroadcast(x, 2u), bk, c2); c3 = fma4(subgroupBroadcast(x, 3u), bk, c3);
      c4 = fma4(hi[0], bk, c4); c5 = fma4(hi[1], bk, c5);
      c6 = fma4(hi[2], bk, c6); c7 = fma4(hi[3], bk, c7);
    }
    if (ROWS > 8u && VEC_A && TRANS_A && L >= 8u) {
      let v = load_a_t8(base_a, m0 + 8u, k, lane);
      if (db_a) { s_xh += v; }
      c8 = fma4(lanes_even(v.x), bk, c8); c9 = fma4(lanes_even(v.y), bk, c9);
      c10 = fma4(lanes_even(v.z), bk, c10); c11 = fma4(lanes_even(v.w), bk, c11);
      c12 = fma4(lanes_odd(v.x), bk, c12); c13 = fma4(lanes_odd(v.y), bk, c13);
      c14 = fma4(lanes_odd(v.z), bk, c14); c15 = fma4(lanes_odd(v.w), bk, c15);
    } else if (ROWS > 8u) {
      let x = load_a_row(base_a, m_hi, k);
      var y = x;
      if (L < 8u) { y = load_a_row(base_a, m_hi4, k); }
      if (db_a) { s_xh += x; s_yh += y; }
      let hi = rows_4to7(x, y);
      c8 = fma4(subgroupBroadcast(x, 0u), bk, c8); c9 = fma4(subgroupBroadcast(x, 1u), bk, c9);
      c10 = fma4(subgroupBroadcast(x, 2u), bk, c10); c11 = fma4(subgroupBroadcast(x, 3u), bk, c11);
      c12 = fma4(hi[0], bk, c12); c13 = fma4(hi[1], bk, c13);
      c14 = fma4(hi[2], bk, c14); c15 = fma4(hi[3], bk, c15);
    }
  }
  if (db_a) { store_subgroup_row_sums(m0, lane, s_x, s_y, s_xh, s_yh); }
  if (db_b) { store_col_sums(n, s_b); }
  let base_c = wid.z * p.stride_c;
  // One store4 in a loop rather than one per row: with an EPILOGUE, 16 inlined copies of GELU
  // made the pipeline ~60 % larger and slower to compile on lavapipe.
  let acc = array<vec4f, 16>(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15);
  for (var r = 0u; r < ROWS; r++) { store4(base_c, m0 + r, n, acc[r]); }
}
// #endif

// #include gelu.wgsl
