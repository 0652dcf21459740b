// Sum reductions over a row-major (rows, cols) view.
// sum_rows: out[r] = sum_c x[r, c]                  one workgroup per row, tree in workgroup memory
// sum_cols: out[k, c] = sum_{r in chunk k} x[r, c]  one invocation per column per chunk of CHUNK
//           rows; the host repeats it until one row is left (partial sums stay in f32).
// Precision: x and out are act_t (f16 in the `#if f16` build); sums accumulate in f32 and round
// once when stored. A multi-pass f16 sum_cols runs in f32 (the host casts), so partials stay f32.

// #if f16
enable f16;
alias act_t = f16;
// #else
alias act_t = f32;
// #endif

override WG: u32 = 64;
override CHUNK: u32 = 256;

struct Params { rows: u32, cols: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<act_t>;   // sum_rows: (rows); sum_cols: (ceil(rows/CHUNK), cols)
@group(0) @binding(1) var<storage, read> x: array<act_t>;           // (rows, cols)
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG) fn sum_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                        @builtin(local_invocation_index) lid: u32) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= p.rows) { return; }   // uniform per workgroup, so barriers below stay uniform
  var s = 0.0;
  for (var c = lid; c < p.cols; c += WG) { s += f32(x[r * p.cols + c]); }
  partial[lid] = s;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    if (lid < half) { partial[lid] += partial[lid + half]; }
    workgroupBarrier();
  }
  if (lid == 0u) { out[r] = act_t(partial[0]); }
}

@compute @workgroup_size(WG) fn sum_cols(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x * WG + lid;
  if (c >= p.cols) { return; }
  let r0 = wid.y * CHUNK;
  let r1 = min(r0 + CHUNK, p.rows);
  var s = 0.0;
  for (var r = r0; r < r1; r++) { s += f32(x[r * p.cols + c]); }
  out[wid.y * p.cols + c] = act_t(s);
}

// expand_last: out[r, c] = x[r], the adjoint of sum_rows.
@compute @workgroup_size(WG) fn expand_last(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                           @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i < p.rows * p.cols) { out[i] = x[i / p.cols]; }
}
