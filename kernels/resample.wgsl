// Resampling kernels: bilinear resize (align_corners=False), grid_sample (bilinear, zeros padding,
// align_corners=False) and the sinusoidal positional encoding. Sample positions follow PyTorch's
// f32 formulas (resize: host-computed tap tables; grid_sample: in the kernel), so results agree
// with PyTorch to float rounding.
// Workgroups may be folded into a 2-D grid when there are more than 65535: wg = x + y * nx.
// Precision: the resize's image and gradient (rs_dst, rs_src) are stored as act_t (f16 in the
// `#if f16` build), its weights and sums are f32. grid_sample stores its image, output and d(output)
// as act_t too; its grid, weights, sums and the atomically accumulated dx stay f32 (the host casts dx
// to f16 afterwards). The positional encoding is f32.

// #if f16
enable f16;
alias act_t = f16;
// #else
alias act_t = f32;
// #endif

override WG: u32 = 256;

// ---- bilinear resize ------------------------------------------------------------------------------
// Along each axis (PyTorch compute_source_index_and_lambda), output index d reads
//   out = l0(d)·x[lo(d)] + l1(d)·x[hi(d)],  hi = min(lo + 1, in − 1),  l0 = 1 − l1
// applied along y, then x. lo and l1 come from per-axis tap tables the host computes with
// PyTorch's f32 formula (s = max(scale·(d + 0.5) − 0.5, 0) with scale = f32(in)/f32(out),
// lo = min(floor(s), in − 1), l1 = clamp(s − lo, 0, 1); lo = d, l1 = 0 when in == out), so the
// sample positions do not depend on whether a device fuses that multiply-add.
// Backward (gather, no atomics): input k receives from output d the weight
//   w(d, k) = [lo(d) = k]·l0(d) + [hi(d) = k]·l1(d),
// non-zero only where lo(d) ∈ {k − 1, k}; lo is non-decreasing in d, so those d form one run that
// starts at first(k) (host table: the first d with lo(d) >= k − 1) and ends before lo(d) > k.
//   dx[k_y, k_x] = Σ_dy w(dy, k_y) · Σ_dx w(dx, k_x) · g[dy, dx]
// Layouts: NCHW (B·C planes of (H, W)) or NHWC ((B, H, W, C), channels innermost).
override NHWC: bool = false;

struct ResizeParams { n: u32, c: u32, in_h: u32, in_w: u32, out_h: u32, out_w: u32 }
@group(0) @binding(0) var<storage, read_write> rs_dst: array<act_t>;   // fwd: out (B, C, out_h, out_w) / (B, out_h, out_w, C); bwd: dx, input-shaped
@group(0) @binding(1) var<storage, read> rs_src: array<act_t>;        // fwd: x (B, C, in_h, in_w) / (B, in_h, in_w, C); bwd: dOut, output-shaped
// Tap tables, u32: lo_y (out_h), l1_y bits (out_h), lo_x (out_w), l1_x bits (out_w),
// first_y (in_h), first_x (in_w), concatenated in that order.
@group(0) @binding(2) var<storage, read> rs_taps: array<u32>;
@group(0) @binding(3) var<uniform> rp: ResizeParams;

struct Tap { lo: u32, hi: u32, l0: f32, l1: f32 }

fn tap_y(d: u32) -> Tap {
  let lo = rs_taps[d];
  let l1 = bitcast<f32>(rs_taps[rp.out_h + d]);
  return Tap(lo, min(lo + 1u, rp.in_h - 1u), 1.0 - l1, l1);
}

fn tap_x(d: u32) -> Tap {
  let base = 2u * rp.out_h;
  let lo = rs_taps[base + d];
  let l1 = bitcast<f32>(rs_taps[base + rp.out_w + d]);
  return Tap(lo, min(lo + 1u, rp.in_w - 1u), 1.0 - l1, l1);
}

fn first_y(k: u32) -> u32 { return rs_taps[2u * (rp.out_h + rp.out_w) + k]; }
fn first_x(k: u32) -> u32 { return rs_taps[2u * (rp.out_h + rp.out_w) + rp.in_h + k]; }

/** The element this invocation computes in a tensor of spatial size (h, w): its flat index t, whether
    it exists, its (row, col), and how to address the OTHER tensor of the pair (spatial size
    (other_h, other_w)) at the same batch and channel. NCHW: one invocation per element of the flat
    index. NHWC: a workgroup covers WG consecutive channels of one pixel, so the pixel's coordinates
    (all the integer divisions) are uniform across the workgroup, and SIMD back ends such as
    llvmpipe compute them once per workgroup instead of once per element. */
struct Site { t: u32, ok: bool, base: u32, row_stride: u32, col_stride: u32, y: u32, x: u32 }

fn site_of(wid: vec3u, nwg: vec3u, lid: u32, h: u32, w: u32, other_h: u32, other_w: u32) -> Site {
  let g = wid.x + wid.y * nwg.x;
  if (NHWC) {
    let chunks = (rp.c + WG - 1u) / WG;
    let pixel = g / chunks;
    let c = (g % chunks) * WG + lid;
    let x = pixel % w;
    let r = pixel / w;
    let y = r % h;
    let b = r / h;
    let t = pixel * rp.c + c;
    return Site(t, c < rp.c && t < rp.n, b * other_h * other_w * rp.c + c, other_w * rp.c, rp.c, y, x);
  }
  let t = g * WG + lid;
  let x = t % w;
  let r = t / w;
  let y = r % h;
  let plane = r / h;
  return Site(t, t < rp.n, plane * other_h * other_w, other_w, 1u, y, x);
}

@compute @workgroup_size(WG) fn resize_fwd(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                          @builtin(local_invocation_index) lid: u32) {
  let s = site_of(wid, nwg, lid, rp.out_h, rp.out_w, rp.in_h, rp.in_w);
  if (!s.ok) { return; }
  let ty = tap_y(s.y);
  let tx = tap_x(s.x);
  let r0 = s.base + ty.lo * s.row_stride;
  let r1 = s.base + ty.hi * s.row_stride;
  let c0 = tx.lo * s.col_stride;
  let c1 = tx.hi * s.col_stride;
  let top = tx.l0 * f32(rs_src[r0 + c0]) + tx.l1 * f32(rs_src[r0 + c1]);
  let bottom = tx.l0 * f32(rs_src[r1 + c0]) + tx.l1 * f32(rs_src[r1 + c1]);
  rs_dst[s.t] = act_t(ty.l0 * top + ty.l1 * bottom);
}

/** The weight input k gets from output tap `tap` along one axis (0 when it reads neither). */
fn tap_weight(tap: Tap, k: u32) -> f32 {
  return select(0.0, tap.l0, tap.lo == k) + select(0.0, tap.l1, tap.hi == k);
}

@compute @workgroup_size(WG) fn resize_bwd(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                          @builtin(local_invocation_index) lid: u32) {
  let s = site_of(wid, nwg, lid, rp.in_h, rp.in_w, rp.out_h, rp.out_w);
  if (!s.ok) { return; }
  let x0 = first_x(s.x);
  var acc = 0.0;
  for (var dy = first_y(s.y); dy < rp.out_h; dy++) {
    let ty = tap_y(dy);
    if (ty.lo > s.y) { break; }
    var row = 0.0;
    for (var dx = x0; dx < rp.out_w; dx++) {
      let tx = tap_x(dx);
      if (tx.lo > s.x) { break; }
      row += tap_weight(tx, s.x) * f32(rs_src[s.base + dy * s.row_stride + dx * s.col_stride]);
    }
    acc += tap_weight(ty, s.y) * row;
  }
  rs_dst[s.t] = act_t(acc);
}

// ---- grid_sample (bilinear, padding zeros, align_corners=False) ------------------------------------
// For output pixel p of batch b with grid (gx, gy) in [−1, 1] (x = column, y = row):
//   ix = ((gx + 1)·W_in − 1)/2, iy likewise; corners (floor(ix) + {0,1}, floor(iy) + {0,1}) with
//   weights nw = (x1 − ix)(y1 − iy), ne = (ix − x0)(y1 − iy), sw = (x1 − ix)(iy − y0), se = (ix − x0)(iy − y0);
//   a corner outside the input contributes 0 (zeros padding). One invocation per (b, p), looping
//   over channels so the corner weights are computed once.
// Backward w.r.t. x is a scatter (an arbitrary grid can send any number of outputs to one pixel):
// dx starts at zero and each (b, p) adds w·g into its four corners with an f32 atomic add built
// from atomicCompareExchangeWeak on the u32 bits. Summation order is unspecified, so dx agrees with
// an exact sum to rounding, not bit for bit. The grid gets no gradient (it is data). WGSL has no
// f16 atomics, so in the f16 build dx is still summed in f32 and rounded to f16 once, by the host's
// cast after this pass.
struct GridParams { n: u32, c: u32, in_h: u32, in_w: u32, out_hw: u32 }
@group(0) @binding(0) var<storage, read_write> gs_out: array<act_t>;       // (B, C, H_out, W_out)
@group(0) @binding(1) var<storage, read> gs_x: array<act_t>;               // (B, C, H_in, W_in)
@group(0) @binding(2) var<storage, read> gs_grid: array<f32>;              // (B, H_out, W_out, 2), (x, y)
@group(0) @binding(3) var<uniform> gp: GridParams;
@group(0) @binding(4) var<storage, read_write> gs_dx: array<atomic<u32>>;  // (B, C, H_in, W_in) f32 bits, zeroed
@group(0) @binding(5) var<storage, read> gs_dout: array<act_t>;            // (B, C, H_out, W_out)

struct Corners { idx: vec4i, w: vec4f }   // nw, ne, sw, se: flat offset in the (H_in, W_in) plane or −1

fn inside(v: i32, size: i32) -> bool { return v >= 0 && v < size; }

fn corners(t: u32) -> Corners {   // t = b·out_hw + p indexes the grid's (B, H_out, W_out)
  let gx = gs_grid[2u * t];
  let gy = gs_grid[2u * t + 1u];
  let ix = ((gx + 1.0) * f32(gp.in_w) - 1.0) * 0.5;
  let iy = ((gy + 1.0) * f32(gp.in_h) - 1.0) * 0.5;
  let fx = floor(ix);
  let fy = floor(iy);
  let ex = ix - fx;            // ix − x0
  let ey = iy - fy;
  let wx = (fx + 1.0) - ix;    // x1 − ix
  let wy = (fy + 1.0) - iy;
  // i32 conversion saturates for huge coordinates, which are out of range either way.
  let x0 = i32(fx);
  let y0 = i32(fy);
  let w = i32(gp.in_w);
  let h = i32(gp.in_h);
  let in_x = vec2<bool>(inside(x0, w), inside(x0 + 1, w));
  let in_y = vec2<bool>(inside(y0, h), inside(y0 + 1, h));
  let ok = vec4<bool>(in_x.x && in_y.x, in_x.y && in_y.x, in_x.x && in_y.y, in_x.y && in_y.y);
  let idx = vec4i(y0 * w + x0, y0 * w + x0 + 1, (y0 + 1) * w + x0, (y0 + 1) * w + x0 + 1);
  return Corners(select(vec4i(-1), idx, ok), select(vec4f(0.0), vec4f(wx * wy, ex * wy, wx * ey, ex * ey), ok));
}

// Grid point t = b·out_hw + p: its corners, and channel 0's offsets in the input (b, 0, ·, ·) and
// the output (b, 0, p); channel c adds c·in_hw / c·out_hw.
struct GridPoint { k: Corners, in0: u32, out0: u32, in_hw: u32 }

fn grid_point(t: u32) -> GridPoint {
  let b = t / gp.out_hw;
  let in_hw = gp.in_h * gp.in_w;
  return GridPoint(corners(t), b * gp.c * in_hw, b * gp.c * gp.out_hw + t % gp.out_hw, in_hw);
}

@compute @workgroup_size(WG) fn grid_sample_fwd(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                               @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * WG + lid;   // (b, p)
  if (t >= gp.n) { return; }
  let s = grid_point(t);
  // Out-of-range corners read offset 0 of the plane with weight 0 (no branch per channel).
  let off = vec4u(max(s.k.idx, vec4i(0)));
  for (var c = 0u; c < gp.c; c++) {
    let base = s.in0 + c * s.in_hw;
    let v = vec4f(f32(gs_x[base + off.x]), f32(gs_x[base + off.y]), f32(gs_x[base + off.z]), f32(gs_x[base + off.w]));
    gs_out[s.out0 + c * gp.out_hw] = act_t(dot(s.k.w, v));
  }
}

/** gs_dx[i] += v as f32, atomically (compare-and-swap on the bits). */
fn atomic_add_dx(i: u32, v: f32) {
  var old = atomicLoad(&gs_dx[i]);
  loop {
    let r = atomicCompareExchangeWeak(&gs_dx[i], old, bitcast<u32>(bitcast<f32>(old) + v));
    if (r.exchanged) { break; }
    old = r.old_value;
  }
}

@compute @workgroup_size(WG) fn grid_sample_bwd(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                               @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * WG + lid;   // (b, p)
  if (t >= gp.n) { return; }
  let s = grid_point(t);
  for (var c = 0u; c < gp.c; c++) {
    let g = f32(gs_dout[s.out0 + c * gp.out_hw]);
    let base = s.in0 + c * s.in_hw;
    for (var q = 0u; q < 4u; q++) {
      if (s.k.idx[q] >= 0) { atomic_add_dx(base + u32(s.k.idx[q]), s.k.w[q] * g); }
    }
  }
}

// ---- sinusoidal positional encoding ----------------------------------------------------------------
// pe for pixel (i, j) of an (h, w) map and feature f < F (G is (2, F)):
//   cx = 2·xs[j] − 1, cy = 2·ys[i] − 1 with xs[j] = (j + 0.5)/w, ys[i] = (i + 0.5)/h (f32, from
//   the host: WGSL division is not correctly rounded), c = (cx·G[0, f] + cy·G[1, f])·f32(2π),
//   pe[f] = sin(c), pe[F + f] = cos(c).
// sin/cos are computed here, not with WGSL's builtins (whose accuracy is only specified on
// [−π, π]): c is reduced by multiples of π/2 (three-part Cody–Waite constants, exact products for
// |k| < 2^12) to r in [−π/4, π/4], then Taylor polynomials (truncation < 2e−9) and the quadrant.
override TOKENS: bool = true;   // true: tokens (h·w, 2F); false: NCHW (1, 2F, h, w)

struct PeParams { n: u32, h: u32, w: u32, f: u32 }
@group(0) @binding(0) var<storage, read_write> pe_out: array<f32>;   // (h·w, 2F) or (1, 2F, h, w)
@group(0) @binding(1) var<storage, read> pe_coords: array<f32>;      // (w + h): xs then ys
@group(0) @binding(2) var<storage, read> pe_g: array<f32>;           // (2, F)
@group(0) @binding(3) var<uniform> pe: PeParams;

const TWO_PI_F32 = 6.2831854820251465;       // f32(2π), the factor PyTorch multiplies by in f32
const TWO_OVER_PI = 0.63661977236758134;
const PIO2_A = 1.5703125;                    // π/2 ≈ A + B + C; A has 8 significant bits
const PIO2_B = 4.837512969970703e-4;         // 12 significant bits
const PIO2_C = 7.549790126404332e-8;         // f32(π/2 − A − B)

fn sin_cos(c: f32) -> vec2f {
  let k = round(c * TWO_OVER_PI);
  let r = ((c - k * PIO2_A) - k * PIO2_B) - k * PIO2_C;
  let r2 = r * r;
  let s = r + r * r2 * (-1.0 / 6.0 + r2 * (1.0 / 120.0 + r2 * (-1.0 / 5040.0 + r2 * (1.0 / 362880.0))));
  let co = 1.0 - 0.5 * r2 + r2 * r2 * (1.0 / 24.0 + r2 * (-1.0 / 720.0 + r2 * (1.0 / 40320.0 + r2 * (-1.0 / 3628800.0))));
  let q = i32(k) & 3;   // two's complement: also right for negative k
  if (q == 0) { return vec2f(s, co); }
  if (q == 1) { return vec2f(co, -s); }
  if (q == 2) { return vec2f(-s, -co); }
  return vec2f(-co, s);
}

@compute @workgroup_size(WG) fn pos_encoding(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                            @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * WG + lid;   // (pixel, f), f fastest
  if (t >= pe.n) { return; }
  let f = t % pe.f;
  let pix = t / pe.f;
  let j = pix % pe.w;
  let i = pix / pe.w;
  let cx = 2.0 * pe_coords[j] - 1.0;
  let cy = 2.0 * pe_coords[pe.w + i] - 1.0;
  let c = (cx * pe_g[f] + cy * pe_g[pe.f + f]) * TWO_PI_F32;
  let sc = sin_cos(c);
  if (TOKENS) {
    pe_out[pix * 2u * pe.f + f] = sc.x;
    pe_out[pix * 2u * pe.f + pe.f + f] = sc.y;
  } else {
    let hw = pe.h * pe.w;
    pe_out[f * hw + pix] = sc.x;
    pe_out[(pe.f + f) * hw + pix] = sc.y;
  }
}
