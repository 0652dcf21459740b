// The adapter's limits, measured from WGSL: compute peak (independent fma chains, in f32 and, in
// the `#if f16` build, in f16: act_t) and memory bandwidth (vec4 copy and read-only reduce). Every
// invocation writes one value so the compiler cannot drop the work.

// #if f16
enable f16;
alias act_t = f16;
// #else
alias act_t = f32;
// #endif

override WG: u32 = 64;
override ITERS: u32 = 256;

struct Params { n: u32, seed: f32 }

// ---- fma_peak: 24 scalar accumulators, 8 chained fmas each per iteration -----------------------
// FLOPs = invocations * ITERS * 24 * 8 * 2. Each chain tends to x / (1 − y) ≈ 1, so f16 neither
// overflows nor goes subnormal.
@group(0) @binding(0) var<storage, read_write> peak_out: array<f32>;   // (invocations)
@group(0) @binding(1) var<uniform> pp: Params;

@compute @workgroup_size(WG) fn fma_peak(@builtin(global_invocation_id) gid: vec3u) {
  let x = act_t(pp.seed + f32(gid.x) * 1e-7);
  let y = act_t(0.999 - pp.seed);
  var acc: array<act_t, 24>;
  for (var j = 0u; j < 24u; j++) { acc[j] = act_t(f32(j) * 0.01) + x; }
  for (var it = 0u; it < ITERS; it++) {
    for (var j = 0u; j < 24u; j++) {
      acc[j] = fma(fma(fma(fma(fma(fma(fma(fma(acc[j], y, x), y, x), y, x), y, x), y, x), y, x), y, x), y, x);
    }
  }
  var s = 0.0;
  for (var j = 0u; j < 24u; j++) { s += f32(acc[j]); }
  peak_out[gid.x] = s;
}

// ---- copy: dst = src, vec4, grid-stride; bytes moved = 2 * 16 * n -------------------------------
@group(0) @binding(0) var<storage, read_write> copy_dst: array<vec4f>;  // (n)
@group(0) @binding(1) var<storage, read> copy_src: array<vec4f>;        // (n)
@group(0) @binding(2) var<uniform> cp: Params;

@compute @workgroup_size(WG) fn copy_bw(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * WG;
  for (var i = gid.x; i < cp.n; i += stride) { copy_dst[i] = copy_src[i]; }
}

// ---- read_reduce: one vec4 sum per invocation; bytes moved = 16 * n ------------------------------
@group(0) @binding(0) var<storage, read_write> red_out: array<vec4f>;   // (invocations)
@group(0) @binding(1) var<storage, read> red_src: array<vec4f>;         // (n)
@group(0) @binding(2) var<uniform> rp: Params;

@compute @workgroup_size(WG) fn read_reduce(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * WG;
  var s = vec4f(0.0);
  for (var i = gid.x; i < rp.n; i += stride) { s += red_src[i]; }
  red_out[gid.x] = s;
}
