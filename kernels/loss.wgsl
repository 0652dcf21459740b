// Segmentation losses over logits (B, K, H·W) (NCHW, act_t) and labels (B, H·W) (int32):
//   CE   = (1/N) Σ_pixels [logsumexp_k x_k − x_label]                      (N = B·H·W)
//   Dice = (1/K) Σ_k [1 − (2 I_k + ε) / (Z_k + Y_k + ε)],  ε = 1e-5, with p = softmax_k(x),
//          t = one-hot(label), I_k = Σ p_k t_k, Z_k = Σ p_k², Y_k = Σ t_k over the whole batch.
// A label outside [0, K) is never used as an index: the pixel is skipped (no CE, no Dice term,
// zero gradient) and counted, so the host can report it.
//
// Forward, three dispatches:
//   seg_loss_fwd     one pass over the logits; each workgroup writes one row of partial sums
//   seg_loss_reduce  one workgroup per column sums the rows (no float atomics)
//   seg_loss_finish  one invocation turns the sums into the loss values
// Backward, one dispatch (seg_loss_bwd): recomputes the softmax and writes d(logits) of
// w_ce·CE + w_dice·Dice scaled by the upstream d(total).
//
// Partial row layout, Q = 3K + 2 floats per workgroup:
//   [0] Σ CE   [1] out-of-range label count   [2, 2+K) I_k   [2+K, 2+2K) Z_k   [2+2K, 2+3K) Y_k
// Counts stay exact in a row (at most WG·PER pixels); the reduce sums count columns as u32.
// Workgroups may be folded into a 2-D grid (> 65535): g = wid.x + wid.y * nwg.x.
//
// Precision: logits and d(logits) are stored as act_t (f16 in the `#if f16` build; loads widen to
// f32 at once); the softmax, every sum, the partials and the loss values are f32 in both builds.

// #if f16
enable f16;
alias act_t = f16;
// #else
alias act_t = f32;
// #endif

const MAX_K: u32 = 32u;                  // capacity of the private per-class arrays; K is in the uniform
const Q_MAX: u32 = 3u * MAX_K + 2u;
const RED_SIZE: u32 = 4096u;             // workgroup scratch in f32 (16 KiB)
const DICE_EPS: f32 = 1e-5;

override WG: u32 = 64;                   // invocations per workgroup
override PER: u32 = 16;                  // pixels per invocation (strided by WG)

var<workgroup> scratch: array<f32, RED_SIZE>;

// ---- seg_loss_fwd: per-workgroup partial sums --------------------------------------------------
struct FwdParams { classes: u32, hw: u32, pixels: u32, groups: u32 }
@group(0) @binding(0) var<storage, read_write> partials: array<f32>;   // (groups, 3K+2)
@group(0) @binding(1) var<storage, read> logits: array<act_t>;          // (B, K, H·W)
@group(0) @binding(2) var<storage, read> labels: array<i32>;           // (B, H·W)
@group(0) @binding(3) var<uniform> fp: FwdParams;

@compute @workgroup_size(WG) fn seg_loss_fwd(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                             @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  if (g >= fp.groups) { return; }        // whole workgroup: barriers below stay uniform
  let K = fp.classes;
  let hw = fp.hw;
  let nq = 3u * K + 2u;
  var acc: array<f32, Q_MAX>;            // this invocation's share of the row (zero-initialised)
  var x: array<f32, MAX_K>;              // one pixel's logits, then exp(x − max)
  for (var i = 0u; i < PER; i++) {
    let n = g * WG * PER + i * WG + lid;
    if (n >= fp.pixels) { break; }
    let lab = u32(labels[n]);            // negative labels wrap to huge values
    if (lab >= K) { acc[1] += 1.0; continue; }
    let b = n / hw;
    let off = b * K * hw + (n - b * hw); // logits[b, 0, s]
    var m = f32(logits[off]);
    for (var k = 0u; k < K; k++) { let v = f32(logits[off + k * hw]); x[k] = v; m = max(m, v); }
    let x_lab = x[lab];
    var s = 0.0;
    for (var k = 0u; k < K; k++) { let e = exp(x[k] - m); x[k] = e; s += e; }
    acc[0] += log(s) - (x_lab - m);      // −log softmax(x)[label]
    let inv = 1.0 / s;
    for (var k = 0u; k < K; k++) { let p = x[k] * inv; acc[2u + K + k] += p * p; }
    acc[2u + lab] += x[lab] * inv;
    acc[2u + 2u * K + lab] += 1.0;
  }
  // Column sums over the workgroup, RED_SIZE / WG quantities per round.
  let per_round = RED_SIZE / WG;
  for (var q0 = 0u; q0 < nq; q0 += per_round) {
    let cnt = min(per_round, nq - q0);
    workgroupBarrier();
    for (var j = 0u; j < cnt; j++) { scratch[j * WG + lid] = acc[q0 + j]; }
    workgroupBarrier();
    for (var j = lid; j < cnt; j += WG) {
      var t = 0.0;
      for (var l = 0u; l < WG; l++) { t += scratch[j * WG + l]; }
      partials[g * nq + q0 + j] = t;
    }
  }
}

// ---- seg_loss_reduce: sums of the partial rows; one workgroup per column ---------------------------
struct ReduceParams { classes: u32, groups: u32 }
@group(0) @binding(0) var<storage, read_write> ce_sum: array<f32>;      // (1)
@group(0) @binding(1) var<storage, read_write> bad_labels: array<i32>;  // (1)
@group(0) @binding(2) var<storage, read_write> dice_sums: array<f32>;   // (3, K): rows I, Z, Y
@group(0) @binding(3) var<storage, read> partials_in: array<f32>;       // (groups, 3K+2)
@group(0) @binding(4) var<uniform> rp: ReduceParams;

@compute @workgroup_size(WG) fn seg_loss_reduce(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let K = rp.classes;
  let nq = 3u * K + 2u;
  let q = wid.x;
  let is_count = q == 1u || q >= 2u + 2u * K;
  var t = 0.0;
  var c = 0u;
  for (var r = lid; r < rp.groups; r += WG) {
    let v = partials_in[r * nq + q];
    t += v;
    c += u32(v);
  }
  scratch[lid] = select(t, bitcast<f32>(c), is_count);
  workgroupBarrier();
  if (lid != 0u) { return; }
  var total = 0.0;
  var count = 0u;
  for (var l = 0u; l < WG; l++) { total += scratch[l]; count += bitcast<u32>(scratch[l]); }
  if (q == 0u) { ce_sum[0] = total; }
  else if (q == 1u) { bad_labels[0] = i32(count); }
  else if (is_count) { dice_sums[q - 2u] = f32(count); }
  else { dice_sums[q - 2u] = total; }
}

// ---- seg_loss_finish: loss values from the (possibly all-reduced) sums --------------------------
struct FinishParams { classes: u32, count: f32, w_ce: f32, w_dice: f32 }
@group(0) @binding(0) var<storage, read_write> loss_total: array<f32>;  // (1)
@group(0) @binding(1) var<storage, read_write> loss_ce: array<f32>;     // (1)
@group(0) @binding(2) var<storage, read_write> loss_dice: array<f32>;   // (1)
@group(0) @binding(3) var<storage, read> ce_in: array<f32>;             // (1) Σ CE
@group(0) @binding(4) var<storage, read> dice_in: array<f32>;           // (3, K): rows I, Z, Y
@group(0) @binding(5) var<uniform> np: FinishParams;

@compute @workgroup_size(1) fn seg_loss_finish() {
  let K = np.classes;
  let ce = ce_in[0] / np.count;
  var dice = 0.0;
  for (var k = 0u; k < K; k++) {
    dice += 1.0 - (2.0 * dice_in[k] + DICE_EPS) / (dice_in[K + k] + dice_in[2u * K + k] + DICE_EPS);
  }
  dice /= f32(K);
  loss_ce[0] = ce;
  loss_dice[0] = dice;
  loss_total[0] = np.w_ce * ce + np.w_dice * dice;
}

// ---- seg_loss_bwd: d(logits) of w_ce·CE + w_dice·Dice ------------------------------------------------
// With p = softmax(x) at one pixel, t its one-hot label and dy = d(total):
//   dCE/dx_j   = (p_j − t_j) / N
//   dDice/dp_k = a_k p_k − c_k t_k,  c_k = (2/K) / den_k,  a_k = c_k · num_k / den_k
//                (num_k = 2 I_k + ε, den_k = Z_k + Y_k + ε; Dice_k depends on p_k only)
//   through the softmax: dx_j = p_j (G_j − Σ_k p_k G_k), Σ_k p_k G_k = Σ_k a_k p_k² − c_label p_label
struct BwdParams { classes: u32, hw: u32, pixels: u32, groups: u32, count: f32, w_ce: f32, w_dice: f32 }
@group(0) @binding(0) var<storage, read_write> dlogits: array<act_t>;    // (B, K, H·W)
@group(0) @binding(5) var<storage, read> d_total: array<f32>;           // (1)
@group(0) @binding(6) var<uniform> bp: BwdParams;
// logits (1), labels (2) as in seg_loss_fwd; dice_in (4) as in seg_loss_finish.

@compute @workgroup_size(WG) fn seg_loss_bwd(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                             @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  if (g >= bp.groups) { return; }
  let K = bp.classes;
  let hw = bp.hw;
  let dy = d_total[0];
  let ce_scale = bp.w_ce * dy / bp.count;
  let dice_scale = bp.w_dice * dy * 2.0 / f32(K);
  var a: array<f32, MAX_K>;
  var c: array<f32, MAX_K>;
  for (var k = 0u; k < K; k++) {
    let num = 2.0 * dice_in[k] + DICE_EPS;
    let den = dice_in[K + k] + dice_in[2u * K + k] + DICE_EPS;
    c[k] = dice_scale / den;
    a[k] = c[k] * num / den;
  }
  var x: array<f32, MAX_K>;
  for (var i = 0u; i < PER; i++) {
    let n = g * WG * PER + i * WG + lid;
    if (n >= bp.pixels) { break; }
    let lab = u32(labels[n]);
    let b = n / hw;
    let off = b * K * hw + (n - b * hw);
    if (lab >= K) {
      for (var k = 0u; k < K; k++) { dlogits[off + k * hw] = act_t(0.0); }
      continue;
    }
    var m = f32(logits[off]);
    for (var k = 0u; k < K; k++) { let v = f32(logits[off + k * hw]); x[k] = v; m = max(m, v); }
    var s = 0.0;
    for (var k = 0u; k < K; k++) { let e = exp(x[k] - m); x[k] = e; s += e; }
    let inv = 1.0 / s;
    var pg = 0.0;                         // Σ_k p_k G_k
    for (var k = 0u; k < K; k++) { let p = x[k] * inv; x[k] = p; pg += a[k] * p * p; }
    pg -= c[lab] * x[lab];
    for (var k = 0u; k < K; k++) {
      let p = x[k];
      let t = select(0.0, 1.0, k == lab);
      dlogits[off + k * hw] = act_t(ce_scale * (p - t) + p * (a[k] * p - c[k] * t - pg));
    }
  }
}
