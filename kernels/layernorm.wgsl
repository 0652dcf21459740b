// LayerNorm over the last dim of a row-major (rows, cols) view, forward and backward.
//
//   mean_r = Σ_c x[r, c] / C,   var_r = Σ_c (x[r, c] - mean_r)² / C (biased, as PyTorch),
//   rstd_r = 1 / sqrt(var_r + eps),   x̂ = (x - mean_r)·rstd_r,   y = x̂·w + b
// Backward, with g = dy·w and row means ⟨·⟩ over c:
//   dx = rstd_r · (g - ⟨g⟩ - x̂·⟨g·x̂⟩)
//   dw[c] = Σ_r dy·x̂,   db[c] = Σ_r dy   (per-chunk partials here; the host sums the chunks)
//
// ln_fwd and ln_bwd_dx put TPR invocations on a row (a power of two dividing WG; see softmax.wgsl
// for the scheme): TPR = 1 has no workgroup memory traffic or barriers. ln_bwd_params gives each
// invocation one column of a chunk of CHUNK rows. Workgroups may be folded into a 2-D grid:
// wg = wid.x + wid.y * nwg.x; invocations past the last row still reach every barrier.
//
// Precision: x, y, dy, dx are stored as act_t (f16 in the `#if f16` build); w, b, the statistics
// and the dw/db partials stay f32, and every sum and product is f32.

// #if f16
enable f16;
alias act_t = f16;
// #else
alias act_t = f32;
// #endif

override WG: u32 = 64;
override TPR: u32 = 1;
override CHUNK: u32 = 64;
const BLOCK: u32 = 8;

struct FwdParams { rows: u32, cols: u32, eps: f32 }
struct BwdParams { rows: u32, cols: u32 }
@group(0) @binding(0) var<storage, read_write> y: array<act_t>;       // ln_fwd: (rows, cols) output
@group(0) @binding(1) var<storage, read_write> mean: array<f32>;      // ln_fwd: (rows) saved row means
@group(0) @binding(2) var<storage, read_write> rstd: array<f32>;      // ln_fwd: (rows) saved 1/sqrt(var + eps)
@group(0) @binding(3) var<storage, read> x: array<act_t>;             // (rows, cols) input
@group(0) @binding(4) var<storage, read> w: array<f32>;               // (cols) weight
@group(0) @binding(5) var<storage, read> b: array<f32>;               // ln_fwd: (cols) bias
@group(0) @binding(6) var<uniform> p: FwdParams;
@group(0) @binding(7) var<storage, read_write> dx: array<act_t>;      // ln_bwd_dx: (rows, cols)
@group(0) @binding(8) var<storage, read> dy: array<act_t>;            // backward: (rows, cols) d(output)
@group(0) @binding(9) var<storage, read> mean_saved: array<f32>;      // backward: (rows)
@group(0) @binding(10) var<storage, read> rstd_saved: array<f32>;     // backward: (rows)
@group(0) @binding(11) var<uniform> bp: BwdParams;
@group(0) @binding(12) var<storage, read_write> dw_part: array<f32>;  // ln_bwd_params: (ceil(rows / CHUNK), cols)
@group(0) @binding(13) var<storage, read_write> db_part: array<f32>;  // ln_bwd_params: (ceil(rows / CHUNK), cols)

var<workgroup> red: array<vec2f, WG>;   // one partial pair per invocation; a row owns TPR consecutive slots

// Sums v over the TPR invocations of this invocation's row and returns the total to all of them.
// Must be called from uniform control flow.
fn row_sum(v: vec2f, lid: u32) -> vec2f {
  if (TPR == 1u) { return v; }
  red[lid] = v;
  workgroupBarrier();
  let lane = lid % TPR;
  for (var half = TPR / 2u; half > 0u; half /= 2u) {
    if (lane < half) { red[lid] += red[lid + half]; }
    workgroupBarrier();
  }
  let total = red[lid - lane];
  workgroupBarrier();   // every invocation has read the total before red is reused
  return total;
}

@compute @workgroup_size(WG) fn ln_fwd(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                      @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * (WG / TPR) + lid / TPR;
  let lane = lid % TPR;
  let valid = row < p.rows;
  let n = select(0u, p.cols, valid);   // 0: a padding invocation reads nothing
  let base = row * p.cols;
  let inv_cols = 1.0 / f32(p.cols);
  // Two passes (mean, then squared deviations: no cancellation when |mean| ≫ std), each summed
  // in blocks of BLOCK terms: a plain f32 running sum of C terms errs by up to ~C/2 ulp of its
  // partial sums, which x - mean carries into every y; adding block sums to the total divides
  // that by ~BLOCK (Kahan compensation would not survive: WGSL lets compilers reassociate).
  var s = 0.0;
  for (var c0 = lane; c0 < n; c0 += BLOCK * TPR) {
    var blk = 0.0;
    for (var c = c0; c < min(c0 + BLOCK * TPR, n); c += TPR) { blk += f32(x[base + c]); }
    s += blk;
  }
  let mu = row_sum(vec2f(s, 0.0), lid).x * inv_cols;
  var q = 0.0;
  for (var c0 = lane; c0 < n; c0 += BLOCK * TPR) {
    var blk = 0.0;
    for (var c = c0; c < min(c0 + BLOCK * TPR, n); c += TPR) { let d = f32(x[base + c]) - mu; blk += d * d; }
    q += blk;
  }
  let rs = 1.0 / sqrt(row_sum(vec2f(q, 0.0), lid).x * inv_cols + p.eps);
  for (var c = lane; c < n; c += TPR) { y[base + c] = act_t((f32(x[base + c]) - mu) * rs * w[c] + b[c]); }
  if (valid && lane == 0u) {
    mean[row] = mu;
    rstd[row] = rs;
  }
}

@compute @workgroup_size(WG) fn ln_bwd_dx(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                         @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * (WG / TPR) + lid / TPR;
  let lane = lid % TPR;
  let valid = row < bp.rows;
  let n = select(0u, bp.cols, valid);
  let base = row * bp.cols;
  var mu = 0.0;
  var rs = 0.0;
  if (valid) {
    mu = mean_saved[row];
    rs = rstd_saved[row];
  }
  // (Σ g, Σ g·x̂) over the row
  var acc = vec2f(0.0);
  for (var c = lane; c < n; c += TPR) {
    let g = f32(dy[base + c]) * w[c];
    acc += vec2f(g, g * (f32(x[base + c]) - mu) * rs);
  }
  let means = row_sum(acc, lid) / f32(bp.cols);
  for (var c = lane; c < n; c += TPR) {
    let xhat = (f32(x[base + c]) - mu) * rs;
    dx[base + c] = act_t(rs * (f32(dy[base + c]) * w[c] - means.x - xhat * means.y));
  }
}

// dw_part[k, c] = Σ_{r in chunk k} dy[r, c]·x̂[r, c],  db_part[k, c] = Σ_{r in chunk k} dy[r, c]
// Invocation i handles column i % cols of chunk i / cols (neighbouring invocations, neighbouring columns).
@compute @workgroup_size(WG) fn ln_bwd_params(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                             @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  let chunks = (bp.rows + CHUNK - 1u) / CHUNK;
  if (i >= chunks * bp.cols) { return; }
  let c = i % bp.cols;
  let k = i / bp.cols;
  let r1 = min(k * CHUNK + CHUNK, bp.rows);
  var sw = 0.0;
  var sb = 0.0;
  for (var r = k * CHUNK; r < r1; r++) {
    let g = f32(dy[r * bp.cols + c]);
    sw += g * (f32(x[r * bp.cols + c]) - mean_saved[r]) * rstd_saved[r];
    sb += g;
  }
  dw_part[i] = sw;
  db_part[i] = sb;
}
