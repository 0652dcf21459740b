// Vision layout kernels: exact copies of 32-bit values (f32 and i32 alike), so results are
// bit-exact, forward and backward. Each entry point runs one invocation per OUTPUT element and
// gathers its source, so writes are contiguous and no element is written twice (no atomics).
// Workgroups may be folded into a 2-D grid when there are more than 65535: wg = x + y * nx.

override WG: u32 = 256;

// ---- space <-> depth: patchify, unpatchify, pixel shuffle ---------------------------------------
// An image of C channels at (h·P, w·P) and its P×P patches as tokens (B, h, w, C·P·P), the token
// channel index being (c, a, e) row-major, a = row and e = column inside the patch: exactly the
// order of a Conv2d weight (E, C, P, P) flattened to (E, C·P·P).
//   token[b, i, j, (c·P + a)·P + e] = image[b, c, i·P + a, j·P + e]    (NCHW image)
//                                   = image[b, i·P + a, j·P + e, c]    (NHWC image)
// space_to_depth writes tokens (patchify, and the backward of depth_to_space); depth_to_space
// writes the image (unpatchify, the ConvTranspose2d k=P s=P pixel shuffle, and the backward of
// space_to_depth). The two maps are inverse permutations of each other.
override NHWC: bool = false;   // image layout: false (B, C, H, W), true (B, H, W, C)

struct DepthParams { n: u32, h: u32, w: u32, c: u32, p: u32 }
@group(0) @binding(0) var<storage, read_write> dst: array<u32>;   // s2d: tokens (B, h, w, C·P·P); d2s: image
@group(0) @binding(1) var<storage, read> src: array<u32>;         // s2d: image (B, C, hP, wP) or (B, hP, wP, C); d2s: tokens
@group(0) @binding(2) var<uniform> dp: DepthParams;

/** Flat index of image pixel (b, c, y, x) in the image layout. */
fn image_index(b: u32, c: u32, y: u32, x: u32) -> u32 {
  let hh = dp.h * dp.p;
  let ww = dp.w * dp.p;
  if (NHWC) { return ((b * hh + y) * ww + x) * dp.c + c; }
  return ((b * dp.c + c) * hh + y) * ww + x;
}

@compute @workgroup_size(WG) fn space_to_depth(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                              @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * WG + lid;
  if (t >= dp.n) { return; }
  let pp = dp.p * dp.p;
  let k = t % (dp.c * pp);      // token channel (c, a, e)
  var r = t / (dp.c * pp);      // token position (b, i, j)
  let j = r % dp.w; r = r / dp.w;
  let i = r % dp.h;
  let b = r / dp.h;
  let c = k / pp;
  let a = (k % pp) / dp.p;
  let e = k % dp.p;
  dst[t] = src[image_index(b, c, i * dp.p + a, j * dp.p + e)];
}

@compute @workgroup_size(WG) fn depth_to_space(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                              @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * WG + lid;
  if (t >= dp.n) { return; }
  let hh = dp.h * dp.p;
  let ww = dp.w * dp.p;
  var b: u32; var c: u32; var y: u32; var x: u32;
  if (NHWC) {
    c = t % dp.c;
    var r = t / dp.c;
    x = r % ww; r = r / ww;
    y = r % hh;
    b = r / hh;
  } else {
    x = t % ww;
    var r = t / ww;
    y = r % hh; r = r / hh;
    c = r % dp.c;
    b = r / dp.c;
  }
  let pp = dp.p * dp.p;
  dst[t] = src[(((b * dp.h + y / dp.p) * dp.w + x / dp.p) * dp.c + c) * pp + (y % dp.p) * dp.p + x % dp.p];
}

// ---- Swin patch merging (NHWC) --------------------------------------------------------------------
// x (B, H, W, C), zero-padded bottom/right to even size, to out (B, ceil(H/2), ceil(W/2), 4C) with
// channel block q = dr + 2·dc holding x[2i + dr, 2j + dc]: blocks in the order (even row, even
// col), (odd row, even col), (even row, odd col), (odd row, odd col), as torchvision's
// cat([x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2]], -1).
//   merge_fwd: out[b, i, j, q·C + c] = x[b, 2i + dr, 2j + dc, c], or 0 in the padding
//   merge_bwd: dx[b, y, x, c] = dOut[b, y/2, x/2, ((y%2) + 2·(x%2))·C + c]: every input element
//              has exactly one slot, so the adjoint scatter is this gather.
struct MergeParams { n: u32, h: u32, w: u32, c: u32, ho: u32, wo: u32 }
@group(0) @binding(0) var<storage, read_write> merge_dst: array<u32>;   // fwd: (B, ho, wo, 4C); bwd: (B, H, W, C)
@group(0) @binding(1) var<storage, read> merge_src: array<u32>;         // fwd: (B, H, W, C); bwd: (B, ho, wo, 4C)
@group(0) @binding(2) var<uniform> mp: MergeParams;

@compute @workgroup_size(WG) fn merge_fwd(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                         @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * WG + lid;
  if (t >= mp.n) { return; }
  let c4 = 4u * mp.c;
  let k = t % c4;
  var r = t / c4;
  let j = r % mp.wo; r = r / mp.wo;
  let i = r % mp.ho;
  let b = r / mp.ho;
  let q = k / mp.c;
  let row = 2u * i + (q & 1u);
  let col = 2u * j + (q >> 1u);
  var v = 0u;   // the bits of 0.0 (and of i32 0)
  if (row < mp.h && col < mp.w) { v = merge_src[((b * mp.h + row) * mp.w + col) * mp.c + k % mp.c]; }
  merge_dst[t] = v;
}

@compute @workgroup_size(WG) fn merge_bwd(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                         @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * WG + lid;
  if (t >= mp.n) { return; }
  let c = t % mp.c;
  var r = t / mp.c;
  let col = r % mp.w; r = r / mp.w;
  let row = r % mp.h;
  let b = r / mp.h;
  let q = (row & 1u) + 2u * (col & 1u);
  merge_dst[t] = merge_src[((b * mp.ho + row / 2u) * mp.wo + col / 2u) * 4u * mp.c + q * mp.c + c];
}
