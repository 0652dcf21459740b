// Flat groups (src/runtime/flat.ts): ops over chosen slots of a group's buffers in one dispatch.
//   widen_slots  f32 gradient slots ← the f16 gradients that reached the group's f16 copy of the
//                parameters (exact: every f16 value is an f32 value)
// The chunk table is adamw.wgsl's: row c = (begin4, end4, limit, unused), a vec4 range of the
// flat buffers inside one slot whose data ends at element `limit`; lanes at or past it are
// padding, not read as data and written back unchanged. A dispatch binds one segment of the
// buffers (offsets in the rows are relative to it) and takes rows [first, first + chunks).

// #if f16
enable f16;
// #endif

override WG: u32 = 64;
override PER: u32 = 32;                   // vec4s per invocation; a chunk is at most WG·PER vec4s

struct WidenParams { chunks: u32, first: u32 }
@group(0) @binding(0) var<storage, read_write> wide4: array<vec4f>;      // the flat f32 gradients (one segment)
// #if f16
@group(0) @binding(1) var<storage, read> half4: array<vec4<f16>>;        // the flat f16 gradients (the same segment)
// #endif
@group(0) @binding(2) var<storage, read> table: array<u32>;              // chunk rows
@group(0) @binding(3) var<uniform> wp: WidenParams;

@compute @workgroup_size(WG) fn widen_slots(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                            @builtin(local_invocation_index) lid: u32) {
  let c = wid.x + wid.y * nwg.x;
  if (c >= wp.chunks) { return; }
  let g = wp.first + c;
  let begin4 = table[4u * g];
  let end4 = table[4u * g + 1u];
  let limit = table[4u * g + 2u];
  for (var i = 0u; i < PER; i++) {
    let j = begin4 + i * WG + lid;
    if (j >= end4) { break; }
    let valid = (vec4u(4u * j) + vec4u(0u, 1u, 2u, 3u)) < vec4u(limit);
// #if f16
    wide4[j] = select(wide4[j], vec4f(half4[j]), valid);
// #endif
  }
}
