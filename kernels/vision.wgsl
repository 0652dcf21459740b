// Vision layout kernels: exact copies of elements, elem_t: 32-bit bits for f32 and i32 alike, f16
// in the `#if f16` build; results are bit-exact, forward and backward. Each output element is written by exactly one invocation, which
// gathers its source (no atomics).
// Workgroups may be folded into a 2-D grid when there are more than 65535: wg = x + y * nx.

// #if f16
enable f16;
alias elem_t = f16;
// #else
alias elem_t = u32;
// #endif

override WG: u32 = 256;

// ---- space <-> depth: patchify, unpatchify, pixel shuffle ---------------------------------------
// An image of C channels at (h·P, w·P) and its P×P patches as tokens (B, h, w, C·P·P), the token
// channel index being (c, a, e) row-major, a = row and e = column inside the patch: exactly the
// order of a Conv2d weight (E, C, P, P) flattened to (E, C·P·P).
//   token[b, i, j, (c·P + a)·P + e] = image[b, c, i·P + a, j·P + e]    (NCHW image)
//                                   = image[b, i·P + a, j·P + e, c]    (NHWC image)
// space_to_depth writes tokens (patchify, and the backward of depth_to_space); depth_to_space
// writes the image (unpatchify, the ConvTranspose2d k=P s=P pixel shuffle, and the backward of
// space_to_depth). The two maps are inverse permutations of each other, so both kernels run one
// invocation per (b, c, i, j) and copy its P×P block: P·P contiguous token values, P rows of P
// image pixels. P is a constant, so the block's index arithmetic costs no division per element.
// Consecutive invocations step along the image's fastest axis (j for NCHW, c for NHWC).
override NHWC: bool = false;   // image layout: false (B, C, H, W), true (B, H, W, C)
override P: u32 = 2;

struct DepthParams { blocks: u32, h: u32, w: u32, c: u32 }
@group(0) @binding(0) var<storage, read_write> dst: array<elem_t>;   // s2d: tokens (B, h, w, C·P·P); d2s: image
@group(0) @binding(1) var<storage, read> src: array<elem_t>;      // s2d: image (B, C, hP, wP) or (B, hP, wP, C); d2s: tokens
@group(0) @binding(2) var<uniform> dp: DepthParams;

/** Block t's first token value and first image pixel, and the image's step between pixels of a row / rows. */
struct Block { token: u32, image: u32, col: u32, row: u32 }

fn block_of(t: u32) -> Block {
  var b: u32; var c: u32; var i: u32; var j: u32;
  if (NHWC) {
    c = t % dp.c;
    var r = t / dp.c;
    j = r % dp.w; r = r / dp.w;
    i = r % dp.h;
    b = r / dp.h;
  } else {
    j = t % dp.w;
    var r = t / dp.w;
    i = r % dp.h; r = r / dp.h;
    c = r % dp.c;
    b = r / dp.c;
  }
  let hh = dp.h * P;
  let ww = dp.w * P;
  let token = (((b * dp.h + i) * dp.w + j) * dp.c + c) * P * P;
  if (NHWC) { return Block(token, ((b * hh + i * P) * ww + j * P) * dp.c + c, dp.c, ww * dp.c); }
  return Block(token, ((b * dp.c + c) * hh + i * P) * ww + j * P, 1u, ww);
}

@compute @workgroup_size(WG) fn space_to_depth(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                              @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * WG + lid;
  if (t >= dp.blocks) { return; }
  let k = block_of(t);
  for (var a = 0u; a < P; a++) {
    for (var e = 0u; e < P; e++) { dst[k.token + a * P + e] = src[k.image + a * k.row + e * k.col]; }
  }
}

@compute @workgroup_size(WG) fn depth_to_space(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                              @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * WG + lid;
  if (t >= dp.blocks) { return; }
  let k = block_of(t);
  for (var a = 0u; a < P; a++) {
    for (var e = 0u; e < P; e++) { dst[k.image + a * k.row + e * k.col] = src[k.token + a * P + e]; }
  }
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
@group(0) @binding(0) var<storage, read_write> merge_dst: array<elem_t>;   // fwd: (B, ho, wo, 4C); bwd: (B, H, W, C)
@group(0) @binding(1) var<storage, read> merge_src: array<elem_t>;      // fwd: (B, H, W, C); bwd: (B, ho, wo, 4C)
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
  var v = elem_t(0);   // 0u: the bits of 0.0 (and of i32 0)
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
