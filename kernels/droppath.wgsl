// Stochastic depth (drop path) over x (B, M) row-major, M = elements per sample:
//   y[b, i] = x[b, i] · s_b,   s_b = keep_b / (1 − p)   (torchvision's input * noise)
//   keep_b  = [u_b >= p],      u_b = (h >> 8) · 2⁻²⁴ ∈ [0, 1),  h = pcg(pcg(seed) ^ b)
// The mask comes from a counter-based hash of (seed, sample), so nothing is uploaded per block and
// the same (seed, p) reproduces it. The backward is the same map (dx = dy · s_b): both passes use
// these entry points. pcg = the PCG-RXS-M-XS 32-bit hash (Jarzynski & Olano, "Hash Functions for
// GPU Rendering", 2020).
// Workgroups may be folded into a 2-D grid (> 65535): wg = wid.x + wid.y * nwg.x.
// Precision: x and y are act_t (f16 in the `#if f16` build; vec4<act_t> in the vec4 kernel), the
// product is formed in f32 and rounded once.

// #if f16
enable f16;
alias act_t = f16;
// #else
alias act_t = f32;
// #endif

override WG: u32 = 256;

// first_sample: the global index of sample 0 of this batch (data parallelism: a rank's shard of a
// global batch draws the masks the whole batch would give those samples on one device).
struct Params { n: u32, per_sample: u32, seed: u32, p: f32, scale: f32, first_sample: u32 }
@group(0) @binding(2) var<uniform> dp: Params;   // n: elements of x (drop_path) or vec4s (drop_path_vec4)

fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

/** s_b: 1/(1 − p) for a kept sample, 0 for a dropped one. */
fn sample_scale(b: u32) -> f32 {
  let u = f32(pcg(pcg(dp.seed) ^ (dp.first_sample + b)) >> 8u) * (1.0 / 16777216.0);
  return select(0.0, dp.scale, u >= dp.p);
}

// ---- drop_path: any M ------------------------------------------------------------------------------
@group(0) @binding(0) var<storage, read_write> y: array<act_t>;    // (B, M)
@group(0) @binding(1) var<storage, read> x: array<act_t>;          // (B, M)

@compute @workgroup_size(WG) fn drop_path(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                          @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= dp.n) { return; }
  y[i] = act_t(f32(x[i]) * sample_scale(i / dp.per_sample));
}

// ---- drop_path_vec4: M % 4 == 0, so a vec4 never straddles two samples -----------------------------
@group(0) @binding(0) var<storage, read_write> y4: array<vec4<act_t>>; // (B, M/4)
@group(0) @binding(1) var<storage, read> x4: array<vec4<act_t>>;       // (B, M/4)

@compute @workgroup_size(WG) fn drop_path_vec4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                               @builtin(local_invocation_index) lid: u32) {
  let j = (wid.x + wid.y * nwg.x) * WG + lid;
  if (j >= dp.n) { return; }
  y4[j] = vec4<act_t>(vec4f(x4[j]) * sample_scale(4u * j / dp.per_sample));
}
