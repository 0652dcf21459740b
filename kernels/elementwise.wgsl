// Elementwise ops over flat arrays. Broadcasting: an operand with fewer elements than the output
// repeats along the leading dims (its shape is a suffix of the output's), so it is read at i % n.
// Workgroups may be folded into a 2-D grid when there are more than 65535: wg = x + y * nx.

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

@compute @workgroup_size(WG) fn accumulate(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                          @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i < cp.n) { acc[i] = acc[i] + acc_x[i]; }
}
