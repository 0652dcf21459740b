// Softmax over the last dim of a row-major (rows, cols) view, forward and backward.
//
//   y[r, c]  = exp(x[r, c] - m_r) / Σ_c' exp(x[r, c'] - m_r),   m_r = max_c x[r, c]  (stable)
//   dx[r, c] = y[r, c] · (dy[r, c] - Σ_c' dy[r, c'] · y[r, c'])
//
// One kernel family for every row length: TPR invocations share a row (a power of two dividing
// WG), so a workgroup holds WG / TPR rows. TPR = 1 gives one invocation per row with no workgroup
// memory traffic or barriers (short rows, many of them); TPR = WG gives a workgroup per row with a
// tree reduction in workgroup memory (long rows, few of them). The host picks TPR by row length.
// Workgroups may be folded into a 2-D grid: wg = wid.x + wid.y * nwg.x. Invocations past the last
// row skip the loads but still reach every barrier (barriers stay in uniform control flow).
//
// Precision: x, y, dy, dx are stored as act_t (f16 in the `#if f16` build); max, exp, the row
// sums and the products are f32, rounded once at the store.

// #if f16
enable f16;
alias act_t = f16;
// #else
alias act_t = f32;
// #endif

override WG: u32 = 64;
override TPR: u32 = 1;

struct Params { rows: u32, cols: u32 }
@group(0) @binding(0) var<storage, read_write> y: array<act_t>;  // softmax_fwd: (rows, cols) probabilities
@group(0) @binding(0) var<storage, read_write> dx: array<act_t>; // softmax_bwd: (rows, cols) d(logits)
@group(0) @binding(1) var<storage, read> x: array<act_t>;        // softmax_fwd: (rows, cols) logits
@group(0) @binding(1) var<storage, read> y_saved: array<act_t>;  // softmax_bwd: (rows, cols) forward output
@group(0) @binding(2) var<storage, read> dy: array<act_t>;       // softmax_bwd: (rows, cols) d(probabilities)
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> red: array<f32, WG>;   // one partial per invocation; a row owns TPR consecutive slots

// Reduces v over the TPR invocations of this invocation's row (sum, or max when take_max) and
// returns the result to all of them. Must be called from uniform control flow.
fn row_reduce(v: f32, lid: u32, take_max: bool) -> f32 {
  if (TPR == 1u) { return v; }
  red[lid] = v;
  workgroupBarrier();
  let lane = lid % TPR;
  for (var half = TPR / 2u; half > 0u; half /= 2u) {
    if (lane < half) {
      let other = red[lid + half];
      red[lid] = select(red[lid] + other, max(red[lid], other), take_max);
    }
    workgroupBarrier();
  }
  let total = red[lid - lane];
  workgroupBarrier();   // every invocation has read the total before red is reused
  return total;
}

// exp(u) to ~1 f32 ulp. lavapipe's built-in exp is off by 3-4 ulp near 0 and ~9 ulp at u = -8
// (it rounds u·log2(e)), which the backward's cancellation in dy - Σ dy·y would amplify. So:
// u = k·ln2 + r exactly (Cody-Waite: LN2_HI has 15 significant bits, so k·LN2_HI is exact for
// |k| < 2^9), |r| ≤ ln2/2, exp(r) by its Taylor series to r^7/7! (remainder < 6e-9 relative), and
// exp(u) = exp(r)·2^k. u is clamped to [-110, 88]: exp(-110) is below every f32, so -inf gives 0.
const LN2_HI: f32 = 0.693145751953125;
const LN2_LO: f32 = 1.4286068203e-6;
const LOG2E: f32 = 1.4426950408889634;
fn exp_acc(u: f32) -> f32 {
  let v = clamp(u, -110.0, 88.0);
  let k = round(v * LOG2E);
  let r = (v - k * LN2_HI) - k * LN2_LO;
  let e = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
  // 2^k, exact, written into the exponent field (see pow2 in activation.wgsl): adding 1.5·2^23 + 127
  // leaves k + 127 in the low mantissa bits; k ≤ -127 gives 0 (below every normal f32 anyway)
  let biased = bitcast<u32>(max(k, -127.0) + 12583039.0) - 0x4b400000u;
  return e * bitcast<f32>(biased << 23u);
}

const LOWEST: f32 = -3.4028234e38;   // about -f32 max: the max of a row of -inf stays finite

@compute @workgroup_size(WG) fn softmax_fwd(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                           @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * (WG / TPR) + lid / TPR;
  let lane = lid % TPR;
  let n = select(0u, p.cols, row < p.rows);   // 0: a padding invocation reads nothing
  let base = row * p.cols;
  var m = LOWEST;
  for (var c = lane; c < n; c += TPR) { m = max(m, f32(x[base + c])); }
  m = row_reduce(m, lid, true);
  var s = 0.0;
  for (var c = lane; c < n; c += TPR) { s += exp_acc(f32(x[base + c]) - m); }
  s = row_reduce(s, lid, false);
  for (var c = lane; c < n; c += TPR) { y[base + c] = act_t(exp_acc(f32(x[base + c]) - m) / s); }
}

@compute @workgroup_size(WG) fn softmax_bwd(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                           @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * (WG / TPR) + lid / TPR;
  let lane = lid % TPR;
  let n = select(0u, p.cols, row < p.rows);
  let base = row * p.cols;
  var s = 0.0;
  for (var c = lane; c < n; c += TPR) { s += f32(dy[base + c]) * f32(y_saved[base + c]); }
  s = row_reduce(s, lid, false);
  for (var c = lane; c < n; c += TPR) { dx[base + c] = act_t(f32(y_saved[base + c]) * (f32(dy[base + c]) - s)); }
}
