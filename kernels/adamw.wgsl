// AdamW (torch.optim.AdamW, decoupled weight decay) over every parameter of a flat group at once
// (runtime/flat.ts: parameters, gradients and moments are slots of a few flat buffers), with a
// GPU-side global gradient norm, clipping scale and non-finite check, so that a step needs no
// readback and its dispatch count does not grow with the number of parameter tensors:
//   grad_stats_partial  one row (Σ g², non-finite count) per chunk of the flat gradient buffer
//   grad_stats_finish   one workgroup: ‖g‖ = sqrt(Σ rows), flag = any non-finite, and the clip
//                       scale min(1, max_norm / (‖g‖ + 1e-6)) (torch.nn.utils.clip_grad_norm_)
//   adamw_step          every chunk of every parameter: returns at once when the flag is set (a
//                       bad step never touches weights or moments); otherwise, with g = grad · scale,
//     p ← p · (1 − lr·wd)
//     m ← m · β1 + (1 − β1) · g                      (exp_avg.mul_(β1).add_(g, alpha=1−β1))
//     v ← v · β2 + (1 − β2) · g · g                  (exp_avg_sq.mul_(β2).addcmul_(g, g, value=1−β2))
//     denom = sqrt(v) / sqrt(1 − β2^t) + eps
//     p ← p + (−lr / (1 − β1^t)) · m / denom        (param.addcdiv_(m, denom, value=−step_size))
//   The step-dependent scalars are computed on the host in float64, as torch does, one row per
//   distinct step count t (normally one), and passed in the table: no recompilation per step.
//   The f16 build also writes the parameters rounded to f16 into the group's f16 copy (what an
//   f16 model reads), in the same pass.
// Buffers larger than one storage binding are split into segments of whole slots (runtime/flat.ts):
// each dispatch binds one segment and takes chunk rows [first, first + chunks) of the table, whose
// offsets are relative to that segment; grad_stats_partial writes its rows at first + c, so the
// finish pass sums every segment's.
// Chunk table (u32 words): row c = (begin4, end4, limit, hyper): vec4s [begin4,
// end4) of the flat buffers, all inside one tensor whose data ends at element `limit`: lanes at or
// past it are the slot's padding, not counted and written back unchanged. adamw_step's table
// continues at word hyper0 with (−step_size, sqrt(1 − β2^t)) as f32 bits per row `hyper`.
// Non-finite test on the bits (exponent all ones), which no fast-math assumption can remove.

// #if f16
enable f16;
// #endif

override WG: u32 = 64;
override PER: u32 = 8;                    // vec4s per invocation; a chunk is at most WG·PER vec4s
const EXP_BITS: u32 = 0x7f800000u;

fn lanes_valid(j: u32, limit: u32) -> vec4<bool> {
  return (vec4u(4u * j) + vec4u(0u, 1u, 2u, 3u)) < vec4u(limit);
}

var<workgroup> red_sq: array<f32, WG>;
var<workgroup> red_bad: array<u32, WG>;

// ---- grad_stats_partial: row g = (Σ g², non-finite count) of chunk g ----------------------------
struct PartialParams { chunks: u32, first: u32 }
@group(0) @binding(0) var<storage, read_write> stats_rows: array<f32>;   // (chunks, 2)
@group(0) @binding(1) var<storage, read> grad4: array<vec4f>;            // the flat gradient buffer (one segment)
@group(0) @binding(2) var<storage, read> table: array<u32>;              // chunk rows (see the top)
@group(0) @binding(3) var<uniform> pp: PartialParams;

@compute @workgroup_size(WG) fn grad_stats_partial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                                   @builtin(local_invocation_index) lid: u32) {
  let c = wid.x + wid.y * nwg.x;
  if (c >= pp.chunks) { return; }         // whole workgroup: the barrier below stays uniform
  let g = pp.first + c;
  let begin4 = table[4u * g];
  let end4 = table[4u * g + 1u];
  let limit = table[4u * g + 2u];
  var sq = vec4f(0.0);
  var bad = 0u;
  for (var i = 0u; i < PER; i++) {
    let j = begin4 + i * WG + lid;
    if (j >= end4) { break; }
    let v = select(vec4f(0.0), grad4[j], lanes_valid(j, limit));
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
  stats_rows[2u * g] = total;
  stats_rows[2u * g + 1u] = f32(count);
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

// ---- adamw_step: every chunk of the table ------------------------------------------------------
struct AdamParams { chunks: u32, first: u32, hyper0: u32, decay: f32, beta1: f32, one_minus_beta1: f32, beta2: f32, one_minus_beta2: f32, eps: f32 }
@group(0) @binding(0) var<storage, read_write> param4: array<vec4f>;     // the flat parameters
// grad4 (binding 1) and table (binding 2) as in grad_stats_partial
@group(0) @binding(3) var<storage, read_write> exp_avg4: array<vec4f>;   // flat m
@group(0) @binding(4) var<storage, read_write> exp_avg_sq4: array<vec4f>; // flat v
@group(0) @binding(5) var<storage, read> skip_flag: array<i32>;          // (1) nonfinite from grad_stats_finish
@group(0) @binding(6) var<storage, read> scale_in: array<f32>;           // (1) clip_scale
@group(0) @binding(7) var<uniform> ap: AdamParams;
// #if f16
@group(0) @binding(8) var<storage, read_write> shadow4: array<vec4<f16>>; // flat f16 copy of the parameters
// #endif

// Workgroup g updates chunk g, lane lid the vec4s at begin4 + lid + i·WG (as grad_stats_partial).
@compute @workgroup_size(WG) fn adamw_step(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                           @builtin(local_invocation_index) lid: u32) {
  let c = wid.x + wid.y * nwg.x;
  if (c >= ap.chunks || skip_flag[0] != 0) { return; }
  let g = ap.first + c;
  let begin4 = table[4u * g];
  let end4 = table[4u * g + 1u];
  let limit = table[4u * g + 2u];
  let h = ap.hyper0 + 2u * table[4u * g + 3u];
  let neg_step_size = bitcast<f32>(table[h]);
  let bc2_sqrt = bitcast<f32>(table[h + 1u]);
  let scale = scale_in[0];
  for (var i = 0u; i < PER; i++) {
    let j = begin4 + i * WG + lid;
    if (j >= end4) { break; }
    let valid = lanes_valid(j, limit);
    let g4 = grad4[j] * scale;
    let p0 = param4[j];
    let m0 = exp_avg4[j];
    let v0 = exp_avg_sq4[j];
    let p = p0 * ap.decay;
    let m = m0 * ap.beta1 + ap.one_minus_beta1 * g4;
    let v = v0 * ap.beta2 + ap.one_minus_beta2 * g4 * g4;
    let denom = sqrt(v) / bc2_sqrt + ap.eps;
    let p1 = select(p0, p + neg_step_size * m / denom, valid);
    param4[j] = p1;
    exp_avg4[j] = select(m0, m, valid);
    exp_avg_sq4[j] = select(v0, v, valid);
// #if f16
    shadow4[j] = vec4<f16>(p1);
// #endif
  }
}
