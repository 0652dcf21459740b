// argmax over the channel axis of (B, K, P) scores, as bytes: out holds ceil(B·P / 4) u32 words,
// word w packing the class ids of flat pixels 4w .. 4w+3 (byte j = pixel 4w + j, little-endian),
// so the host reads back B·P bytes instead of B·K·P floats. Ties go to the lowest class, and a NaN
// score never wins (the comparison is false), as in a host loop with `v > best`.
// No backward: class ids are not differentiable.
// Precision: the scores are act_t (f16 in the `#if f16` build), compared as loaded (exact in f32).

// #if f16
enable f16;
alias act_t = f16;
// #else
alias act_t = f32;
// #endif

override WG: u32 = 64;

struct Params { pixels: u32, classes: u32, total: u32 }   // P, K, B·P
@group(0) @binding(0) var<storage, read_write> out: array<u32>;   // (ceil(B·P / 4)) packed u8
@group(0) @binding(1) var<storage, read> x: array<act_t>;          // (B, K, P)
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG) fn argmax_classes(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let w = gid.x + gid.y * nwg.x * WG;
  if (w * 4u >= p.total) { return; }
  var word = 0u;
  for (var j = 0u; j < 4u; j++) {
    let i = w * 4u + j;
    if (i >= p.total) { break; }
    let b = i / p.pixels;
    let base = b * p.classes * p.pixels + (i - b * p.pixels);
    var best = 0u;
    var bestV = f32(x[base]);
    for (var k = 1u; k < p.classes; k++) {
      let v = f32(x[base + k * p.pixels]);
      if (v > bestV) { bestV = v; best = k; }
    }
    word |= best << (8u * j);
  }
  out[w] = word;
}
