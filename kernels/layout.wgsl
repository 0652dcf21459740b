// Layout ops: pure copies, so every array holds raw elements, elem_t: u32 bits for f32 and i32
// tensors alike, f16 for f16 tensors (the `#if f16` build); results are exact. Workgroups may be
// folded into a 2-D grid when there are more than 65535: wg = x + y * nx.
//
// Each invocation handles K consecutive destination elements: it finds its start position with
// the only integer divisions of the kernel, then steps through the K elements with additions and
// carries. On a CPU adapter (lavapipe) divisions are scalar per lane and per-invocation overhead is
// high, so K = 64 runs 4-8x faster than K = 1; on a discrete GPU, K = 1 keeps stores coalesced.

// #if f16
enable f16;
alias elem_t = f16;
// #else
alias elem_t = u32;
// #endif

override WG: u32 = 64;
override K: u32 = 1;

// ---- permute: out[o0, o1, o2, o3] = x[o0 * s.x + o1 * s.y + o2 * s.z + o3 * s.w] ----------------
// The host pads the rank to 4 with leading 1s (after merging dims that stay adjacent) and passes
// x's strides in OUTPUT-dim order, so out = x.permute(perm) reads x at dot(o, x_strides).
struct PermuteParams { n: u32, out_shape: vec4u, x_strides: vec4u }
@group(0) @binding(0) var<storage, read_write> perm_out: array<elem_t>;   // (out_shape), contiguous
@group(0) @binding(1) var<storage, read> perm_x: array<elem_t>;        // (x shape), contiguous
@group(0) @binding(2) var<uniform> pp: PermuteParams;

@compute @workgroup_size(WG) fn permute_fwd(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                           @builtin(local_invocation_index) lid: u32) {
  let first = ((wid.x + wid.y * nwg.x) * WG + lid) * K;
  if (first >= pp.n) { return; }
  let shape = pp.out_shape;
  let s = pp.x_strides;
  // Row-major digits (o0, o1, o2, o3) of `first` in out_shape, last dim fastest.
  var r = first;
  var o3 = r % shape.w; r = r / shape.w;
  var o2 = r % shape.z; r = r / shape.z;
  var o1 = r % shape.y;
  var src = (r / shape.y) * s.x + o1 * s.y + o2 * s.z + o3 * s.w;
  let last = min(first + K, pp.n);
  for (var i = first; i < last; i++) {
    perm_out[i] = perm_x[src];
    // Next output element: an odometer step. Differences of strides may wrap below zero as u32;
    // the sum is still exact modulo 2^32.
    o3++; src += s.w;
    if (o3 == shape.w) {
      o3 = 0u; src += s.z - shape.w * s.w; o2++;
      if (o2 == shape.z) {
        o2 = 0u; src += s.y - shape.z * s.z; o1++;
        if (o1 == shape.y) { o1 = 0u; src += s.x - shape.y * s.y; }
      }
    }
  }
}

// ---- window copy: concat, slice, and their backward passes ---------------------------------------
// Both tensors are viewed as (outer, axis, inner) around the op's axis. The destination window is
// a run of `run` = (window length) * inner contiguous elements in each of the `outer` rows:
//   dst[o * dst_stride + dst_off + j]                                            for j < run
//     = src[o * src_stride + src_off + (j - blk_lo)]   if blk_lo <= j < blk_hi  (the copied block)
//     = 0                                             otherwise                (zeros around it)
// slice:         window = block = all of out's axis; src_off = start * inner.
// slice bwd:     window = all of dx's axis; block = the slice region: its zeros in the same pass.
// concat:        window = block = the piece's place in out; src_off = 0.
// concat bwd:    a slice of dOut.
struct WindowParams {
  total: u32,                           // outer * run
  run: u32,                             // elements of the window in one outer row
  dst_stride: u32, dst_off: u32,        // dst row stride and window start, in elements
  src_stride: u32, src_off: u32,        // src row stride and block start, in elements
  blk_lo: u32, blk_hi: u32,             // the block's extent within the window's run
}
@group(0) @binding(0) var<storage, read_write> win_dst: array<elem_t>;   // (outer, dst axis, inner)
@group(0) @binding(1) var<storage, read> win_src: array<elem_t>;      // (outer, src axis, inner)
@group(0) @binding(2) var<uniform> wp: WindowParams;

@compute @workgroup_size(WG) fn window_copy(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                           @builtin(local_invocation_index) lid: u32) {
  let first = ((wid.x + wid.y * nwg.x) * WG + lid) * K;
  if (first >= wp.total) { return; }
  let o = first / wp.run;
  var j = first % wp.run;
  var d = o * wp.dst_stride + wp.dst_off + j;
  var s = o * wp.src_stride + wp.src_off + j - wp.blk_lo;   // wraps while j < blk_lo; unused then
  let last = min(first + K, wp.total);
  for (var i = first; i < last; i++) {
    var v = elem_t(0);                                      // 0u: the bits of 0.0 and of 0i
    if (j >= wp.blk_lo && j < wp.blk_hi) { v = win_src[s]; }
    win_dst[d] = v;
    j++; d++; s++;
    if (j == wp.run) { j = 0u; d += wp.dst_stride - wp.run; s += wp.src_stride - wp.run; }
  }
}
