// Pointwise activations, forward and backward: ReLU and GELU (exact erf form).
//
// Layout: flat arrays read and written as vec4 (one vec4 per invocation, n4 = ceil(n / 4)). When n
// is not a multiple of 4, the last vec4 also covers up to 3 elements past the tensor; they lie in
// the padding of the pooled buffers (sizes are multiples of 64 bytes, checked on the host) and are
// computed from whatever is there and never read back. Workgroups may be folded into a 2-D grid:
// wg = wid.x + wid.y * nwg.x.
//
//   relu(x)  = x if x > 0 else 0             relu'(x) = 1 if x > 0 else 0 (0 at x = 0, as PyTorch)
//   gelu(x)  = x · Φ(x) = 0.5 · x · (1 + erf(x/√2)) = 0.5 · x · erfc(-x/√2)
//   gelu'(x) = Φ(x) + x · φ(x) = 0.5 · erfc(-x/√2) + x · exp(-x²/2) / √(2π)
// The erfc form avoids the cancellation in 1 + erf(x/√2) for negative x; the GELU maths lives in
// gelu.wgsl, included at the end of this file.
//
// Precision: x, y, dy, dx are stored as act_t (f16 in the `#if f16` build, where a vec4 is 8
// bytes); the maths below is f32, with one rounding at the store.

// #if f16
enable f16;
alias act_t = f16;
// #else
alias act_t = f32;
// #endif
alias act4_t = vec4<act_t>;

override WG: u32 = 256;
override KIND: u32 = 0;   // 0 relu, 1 gelu

struct Params { n4: u32 }
@group(0) @binding(0) var<storage, read_write> y: array<act4_t>;   // act_fwd: (n4) activations
@group(0) @binding(0) var<storage, read_write> dx: array<act4_t>;  // act_bwd: (n4) d(input)
@group(0) @binding(1) var<storage, read> x: array<act4_t>;         // (n4) pre-activation input
@group(0) @binding(2) var<storage, read> dy: array<act4_t>;        // act_bwd: (n4) d(output)
@group(0) @binding(3) var<uniform> p: Params;

fn act(v: vec4f) -> vec4f {
  if (KIND == 0u) { return select(v, vec4f(0.0), v < vec4f(0.0)); }   // keeps NaN, like PyTorch
  return gelu4(v);
}

fn act_grad(v: vec4f) -> vec4f {
  if (KIND == 0u) { return select(vec4f(0.0), vec4f(1.0), v > vec4f(0.0)); }
  return gelu4_grad(v);
}

@compute @workgroup_size(WG) fn act_fwd(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                       @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i < p.n4) { y[i] = act4_t(act(vec4f(x[i]))); }
}

// dx = dy · act'(x)
@compute @workgroup_size(WG) fn act_bwd(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                       @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i < p.n4) { dx[i] = act4_t(vec4f(dy[i]) * act_grad(vec4f(x[i]))); }
}

// #include gelu.wgsl
