// AdamW (torch.optim.AdamW, decoupled weight decay) with a GPU-side global gradient norm, clipping
// scale and non-finite check, so that a step needs no readback:
//   grad_stats_partial  per gradient tensor: one row (Σ g², non-finite count) per workgroup
//   grad_stats_finish   one workgroup: ‖g‖ = sqrt(Σ rows), flag = any non-finite, and the clip
//                       scale min(1, max_norm / (‖g‖ + 1e-6)) (torch.nn.utils.clip_grad_norm_)
//   adamw_step          per parameter tensor: returns at once when the flag is set (a bad step
//                       never touches weights or moments); otherwise, with g = grad · scale,
//     p ← p · (1 − lr·wd)
//     m ← m · β1 + (1 − β1) · g                      (exp_avg.mul_(β1).add_(g, alpha=1−β1))
//     v ← v · β2 + (1 − β2) · g · g                  (exp_avg_sq.mul_(β2).addcmul_(g, g, value=1−β2))
//     denom = sqrt(v) / sqrt(1 − β2^t) + eps
//     p ← p + (−lr / (1 − β1^t)) · m / denom        (param.addcdiv_(m, denom, value=−step_size))
//   The step-dependent scalars are computed on the host in float64, as torch does, and passed in
//   the uniform: no recompilation per step.
// Tensors are read as vec4s over ceil(n/4) (pooled buffers are 64-byte multiples); lanes at or
// past n are masked: not counted, and written back unchanged.
// Non-finite test on the bits (exponent all ones), which no fast-math assumption can remove.

override WG: u32 = 64;
override PER: u32 = 8;                    // vec4s per invocation (grad_stats_partial, adamw_step)
const EXP_BITS: u32 = 0x7f800000u;

fn lanes_valid(j: u32, n: u32) -> vec4<bool> {
  return (vec4u(4u * j) + vec4u(0u, 1u, 2u, 3u)) < vec4u(n);
}

var<workgroup> red_sq: array<f32, WG>;
var<workgroup> red_bad: array<u32, WG>;

// ---- grad_stats_partial: rows [row0, row0 + groups) of (Σ g², non-finite count) ------------------
struct PartialParams { n: u32, row0: u32, groups: u32 }
@group(0) @binding(0) var<storage, read_write> stats_rows: array<f32>;   // (rows, 2)
@group(0) @binding(1) var<storage, read> grad4: array<vec4f>;            // (ceil(n/4)) gradient
@group(0) @binding(2) var<uniform> pp: PartialParams;

@compute @workgroup_size(WG) fn grad_stats_partial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                                   @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  if (g >= pp.groups) { return; }         // whole workgroup: the barrier below stays uniform
  var sq = vec4f(0.0);
  var bad = 0u;
  for (var i = 0u; i < PER; i++) {
    let j = g * WG * PER + i * WG + lid;
    if (4u * j >= pp.n) { break; }
    let v = select(vec4f(0.0), grad4[j], lanes_valid(j, pp.n));
    if (any((bitcast<vec4u>(v) & vec4u(EXP_BITS)) == vec4u(EXP_BITS))) { bad += 1u; }
    sq += v * v;
  }
  red_sq[lid] = (sq.x + sq.y) + (sq.z + sq.w);
  red_bad[lid] = bad;
  workgroupBarrier();
  if (lid != 0u) { return; }
  var total = 0.0;
  var count = 0u;
  for (var l = 0u; l < WG; l++) { total += red_sq[l]; count += red_bad[l]; }
  stats_rows[2u * (pp.row0 + g)] = total;
  stats_rows[2u * (pp.row0 + g) + 1u] = f32(count);
}

// ---- grad_stats_finish: norm, flag and clip scale ----------------------------------------------
// max_norm <= 0: no clipping (scale 1). inv_scale = 1/S undoes a loss scale S (mixed precision:
// the backward was seeded with S): the norm is of the unscaled gradients, and clip_scale, the
// factor adamw_step multiplies every gradient by, includes 1/S.
struct FinishParams { rows: u32, max_norm: f32, inv_scale: f32 }
@group(0) @binding(0) var<storage, read_write> grad_norm: array<f32>;    // (1)
@group(0) @binding(1) var<storage, read_write> nonfinite: array<i32>;    // (1) 1 if any gradient element is NaN/Inf
@group(0) @binding(2) var<storage, read_write> clip_scale: array<f32>;   // (1)
@group(0) @binding(3) var<storage, read> stats_in: array<f32>;           // (rows, 2)
@group(0) @binding(4) var<uniform> fp: FinishParams;

@compute @workgroup_size(WG) fn grad_stats_finish(@builtin(local_invocation_index) lid: u32) {
  var sq = 0.0;
  var bad = 0.0;
  for (var r = lid; r < fp.rows; r += WG) { sq += stats_in[2u * r]; bad += stats_in[2u * r + 1u]; }
  red_sq[lid] = sq;
  red_bad[lid] = u32(bad > 0.0);
  workgroupBarrier();
  if (lid != 0u) { return; }
  var total = 0.0;
  var any_bad = 0u;
  for (var l = 0u; l < WG; l++) { total += red_sq[l]; any_bad |= red_bad[l]; }
  let norm = sqrt(total) * fp.inv_scale;
  grad_norm[0] = norm;
  nonfinite[0] = i32(any_bad);
  clip_scale[0] = select(1.0, min(1.0, fp.max_norm / (norm + 1e-6)), fp.max_norm > 0.0) * fp.inv_scale;
}

// ---- adamw_step: one parameter tensor ----------------------------------------------------------
struct AdamParams {
  n: u32, decay: f32, beta1: f32, one_minus_beta1: f32, beta2: f32, one_minus_beta2: f32,
  neg_step_size: f32, bc2_sqrt: f32, eps: f32,
}
@group(0) @binding(0) var<storage, read_write> param4: array<vec4f>;     // (ceil(n/4)) the parameter
// grad4 (binding 1) as in grad_stats_partial
@group(0) @binding(2) var<storage, read_write> exp_avg4: array<vec4f>;   // (ceil(n/4)) m
@group(0) @binding(3) var<storage, read_write> exp_avg_sq4: array<vec4f>; // (ceil(n/4)) v
@group(0) @binding(4) var<storage, read> skip_flag: array<i32>;          // (1) nonfinite from grad_stats_finish
@group(0) @binding(5) var<storage, read> scale_in: array<f32>;           // (1) clip_scale
@group(0) @binding(6) var<uniform> ap: AdamParams;

// A workgroup updates WG·PER consecutive vec4s, lane lid the ones at lid + i·WG (as grad_stats_partial).
@compute @workgroup_size(WG) fn adamw_step(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                           @builtin(local_invocation_index) lid: u32) {
  if (skip_flag[0] != 0) { return; }
  let scale = scale_in[0];
  let first = (wid.x + wid.y * nwg.x) * WG * PER + lid;
  for (var i = 0u; i < PER; i++) {
    let j = first + i * WG;
    if (4u * j >= ap.n) { break; }
    let valid = lanes_valid(j, ap.n);
    let g = grad4[j] * scale;
    let p0 = param4[j];
    let m0 = exp_avg4[j];
    let v0 = exp_avg_sq4[j];
    let p = p0 * ap.decay;
    let m = m0 * ap.beta1 + ap.one_minus_beta1 * g;
    let v = v0 * ap.beta2 + ap.one_minus_beta2 * g * g;
    let denom = sqrt(v) / ap.bc2_sqrt + ap.eps;
    param4[j] = select(p0, p + ap.neg_step_size * m / denom, valid);
    exp_avg4[j] = select(m0, m, valid);
    exp_avg_sq4[j] = select(v0, v, valid);
  }
}
