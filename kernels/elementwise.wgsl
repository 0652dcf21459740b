// Elementwise ops over flat arrays. Broadcasting: an operand with fewer elements than the output
// repeats along the leading dims (its shape is a suffix of the output's), so it is read at i % n.
// Workgroups may be folded into a 2-D grid when there are more than 65535: wg = x + y * nx.
//
// The `*4` entry points are the same ops on vec4 views of the same buffers (every length a
// multiple of 4), PER vec4 per invocation at stride WG. On lavapipe a vec4 load costs about as much
// as one f32 load, and an integer modulo is scalarised per lane, so the vec4 forms skip it for
// operands that are not broadcast (BCAST_A / BCAST_B false): 5-10x the scalar forms' bandwidth.

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
@group(0) @binding(0) var<storage, read_write> out: array<f32>;       // (n)
@group(0) @binding(1) var<storage, read> a: array<f32>;               // (na), na divides n
@group(0) @binding(2) var<storage, read> b: array<f32>;               // (nb), nb divides n
@group(0) @binding(3) var<uniform> bp: BinParams;

@compute @workgroup_size(WG) fn binary(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                      @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= bp.n) { return; }
  let x = a[i % bp.na];
  let y = b[i % bp.nb];
  if (OP == 0u) { out[i] = x + y; } else if (OP == 1u) { out[i] = x - y; } else { out[i] = x * y; }
}

override BCAST_A: bool = true;
override BCAST_B: bool = true;
override PER: u32 = 4;
@group(0) @binding(0) var<storage, read_write> out4: array<vec4f>;     // (n / 4)
@group(0) @binding(1) var<storage, read> a4: array<vec4f>;             // (na / 4)
@group(0) @binding(2) var<storage, read> b4: array<vec4f>;             // (nb / 4)

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
      let x = select(a4[i], a4[i % (bp.na / 4u)], BCAST_A);
      let y = select(b4[i], b4[i % (bp.nb / 4u)], BCAST_B);
      out4[i] = bin_op(x, y);
    }
  }
}

// ---- affine: out = alpha * x + beta -------------------------------------------------------------
struct AffineParams { n: u32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<storage, read_write> aff_out: array<f32>;   // (n)
@group(0) @binding(1) var<storage, read> aff_x: array<f32>;           // (n)
@group(0) @binding(2) var<uniform> ap: AffineParams;

@compute @workgroup_size(WG) fn affine(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                      @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i < ap.n) { aff_out[i] = ap.alpha * aff_x[i] + ap.beta; }
}

// ---- accumulate: acc += x (gradient accumulation in place) --------------------------------------
struct AccParams { n: u32 }
@group(0) @binding(0) var<storage, read_write> acc: array<f32>;       // (n)
@group(0) @binding(1) var<storage, read> acc_x: array<f32>;           // (n)
@group(0) @binding(2) var<uniform> cp: AccParams;

@group(0) @binding(0) var<storage, read_write> acc4: array<vec4f>;     // (n / 4)
@group(0) @binding(1) var<storage, read> acc_x4: array<vec4f>;         // (n / 4)

@compute @workgroup_size(WG) fn accumulate4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                           @builtin(local_invocation_index) lid: u32) {
  let first = (wid.x + wid.y * nwg.x) * WG * PER + lid;
  for (var r = 0u; r < PER; r++) {
    let i = first + r * WG;
    if (i < cp.n / 4u) { acc4[i] = acc4[i] + acc_x4[i]; }
  }
}

@compute @workgroup_size(WG) fn accumulate(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                          @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i < cp.n) { acc[i] = acc[i] + acc_x[i]; }
}
