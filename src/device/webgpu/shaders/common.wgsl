// Prepended to every kernel. Per-dispatch arguments arrive in one uniform
// slot (256 bytes, dynamic offset); each kernel names what its fields mean.
// Offsets into storage bindings are in elements of the binding's array.
struct Params {
  a : vec4<u32>,
  b : vec4<u32>,
  c : vec4<u32>,
  d : vec4<u32>,
  e : vec4<u32>,
  g : vec4<u32>,
  f : vec4<f32>,
};
@group(0) @binding(0) var<uniform> P : Params;

// Workgroups are laid out 2D when one dimension would exceed the limit.
fn wg_linear(wid : vec3<u32>, nwg : vec3<u32>) -> u32 { return wid.x + wid.y * nwg.x; }

// Below every score; exp(NEG_INF - x) is 0 for finite x.
const NEG_INF : f32 = -3.0e38;

fn is_nan(x : f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
