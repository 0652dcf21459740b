// Elementwise ops over flat arrays. Broadcasting: an operand with fewer elements than the output
// repeats along the leading dims (its shape is a suffix of the output's), so it is read at i % n.
// Workgroups may be folded into a 2-D grid when there are more than 65535: wg = x + y * nx.
//
// The `*4` entry points are the same ops on vec4 views of the same buffers (every length a
// multiple of 4), PER vec4 per invocation at stride WG. On lavapipe a vec4 load costs about as much
// as one f32 load, and an integer modulo is scalarised per lane, so the vec4 forms skip it for
// operands that are not broadcast (BCAST_A / BCAST_B false): 5-10x the scalar forms' bandwidth.
//
// Precision: tensors are stored as act_t (f32, or f16 in the `#if f16` build); every op loads
// into f32, computes in f32 and rounds once when it stores. `cast_*` convert f32 <-> act_t.

// #if f16
enable f16;
alias act_t = f16;
// #else
alias act_t = f32;
// #endif
alias act4_t = vec4<act_t>;

override WG: u32 = 256;

// ---- fill: out[i] = bits (any 32-bit dtype) ---------------------------------------------------
struct FillParams { n: u32, bits: u32 }
@group(0) @binding(0) var<storage, read_write> fill_out: array<u32>;   // (n)
@group(0) @binding(1) var<uniform> fp: FillParams;

@compute @workgroup_size(WG) fn fill(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                    @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i < fp.n) { fill_out[i] = fp.bits; }
}

// ---- binary: out = a OP b, OP 0 add, 1 sub, 2 mul ---------------------------------------------
override OP: u32 = 0;
struct BinParams { n: u32, na: u32, nb: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<act_t>;     // (n)
@group(0) @binding(1) var<storage, read> a: array<act_t>;             // (na), na divides n
@group(0) @binding(2) var<storage, read> b: array<act_t>;             // (nb), nb divides n
@group(0) @binding(3) var<uniform> bp: BinParams;

@compute @workgroup_size(WG) fn binary(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                      @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= bp.n) { return; }
  let x = f32(a[i % bp.na]);
  let y = f32(b[i % bp.nb]);
  if (OP == 0u) { out[i] = act_t(x + y); } else if (OP == 1u) { out[i] = act_t(x - y); } else { out[i] = act_t(x * y); }
}

override BCAST_A: bool = true;
override BCAST_B: bool = true;
override PER: u32 = 4;
@group(0) @binding(0) var<storage, read_write> out4: array<act4_t>;    // (n / 4)
@group(0) @binding(1) var<storage, read> a4: array<act4_t>;            // (na / 4)
@group(0) @binding(2) var<storage, read> b4: array<act4_t>;            // (nb / 4)

fn bin_op(x: vec4f, y: vec4f) -> vec4f {
  if (OP == 0u) { return x + y; } else if (OP == 1u) { return x - y; }
  return x * y;
}

@compute @workgroup_size(WG) fn binary4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                       @builtin(local_invocation_index) lid: u32) {
  let n4 = bp.n / 4u;
  let first = (wid.x + wid.y * nwg.x) * WG * PER + lid;
  for (var r = 0u; r < PER; r++) {
    let i = first + r * WG;
    if (i < n4) {
      let x = vec4f(select(a4[i], a4[i % (bp.na / 4u)], BCAST_A));
      let y = vec4f(select(b4[i], b4[i % (bp.nb / 4u)], BCAST_B));
      out4[i] = act4_t(bin_op(x, y));
    }
  }
}

// ---- affine: out = alpha * x + beta -------------------------------------------------------------
struct AffineParams { n: u32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<storage, read_write> aff_out: array<act_t>; // (n)
@group(0) @binding(1) var<storage, read> aff_x: array<act_t>;         // (n)
@group(0) @binding(2) var<uniform> ap: AffineParams;

@compute @workgroup_size(WG) fn affine(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                      @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i < ap.n) { aff_out[i] = act_t(ap.alpha * f32(aff_x[i]) + ap.beta); }
}

// ---- accumulate: acc += x (gradient accumulation in place) --------------------------------------
struct AccParams { n: u32 }
@group(0) @binding(0) var<storage, read_write> acc: array<act_t>;     // (n)
@group(0) @binding(1) var<storage, read> acc_x: array<act_t>;         // (n)
@group(0) @binding(2) var<uniform> cp: AccParams;

@group(0) @binding(0) var<storage, read_write> acc4: array<act4_t>;    // (n / 4)
@group(0) @binding(1) var<storage, read> acc_x4: array<act4_t>;        // (n / 4)

@compute @workgroup_size(WG) fn accumulate4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                           @builtin(local_invocation_index) lid: u32) {
  let first = (wid.x + wid.y * nwg.x) * WG * PER + lid;
  for (var r = 0u; r < PER; r++) {
    let i = first + r * WG;
    if (i < cp.n / 4u) { acc4[i] = act4_t(vec4f(acc4[i]) + vec4f(acc_x4[i])); }
  }
}

@compute @workgroup_size(WG) fn accumulate(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                          @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i < cp.n) { acc[i] = act_t(f32(acc[i]) + f32(acc_x[i])); }
}

// ---- cast: f32 -> act_t (round to nearest even; beyond ±65504 -> ±Inf in f16) and act_t -> f32 ----
struct CastParams { n: u32 }
@group(0) @binding(0) var<storage, read_write> to_act: array<act_t>;  // (n)
@group(0) @binding(1) var<storage, read> from_f32: array<f32>;        // (n)
@group(0) @binding(2) var<uniform> castp: CastParams;

@compute @workgroup_size(WG) fn cast_to_act(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                           @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i < castp.n) { to_act[i] = act_t(from_f32[i]); }
}

@group(0) @binding(0) var<storage, read_write> to_f32: array<f32>;    // (n)
@group(0) @binding(1) var<storage, read> from_act: array<act_t>;      // (n)

@compute @workgroup_size(WG) fn cast_from_act(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                             @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i < castp.n) { to_f32[i] = f32(from_act[i]); }
}
