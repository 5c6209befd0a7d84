// Float weight decoding shared by mv.wgsl and mv3.wgsl (placed after
// them; they declare WTYPE: 0 f32, 1 f16, 2 bf16).
fn bf2(u : u32) -> vec2<f32> { return vec2<f32>(bitcast<f32>(u << 16u), bitcast<f32>(u & 0xffff0000u)); }

// 16 bytes of weights as 8 floats (lo, hi); f32 fills only lo.
fn unpack8(w : vec4<u32>) -> array<vec4<f32>, 2> {
  if (WTYPE == 1u) {
    return array<vec4<f32>, 2>(vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)),
                               vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w)));
  }
  if (WTYPE == 2u) {
    return array<vec4<f32>, 2>(vec4<f32>(bf2(w.x), bf2(w.y)), vec4<f32>(bf2(w.z), bf2(w.w)));
  }
  return array<vec4<f32>, 2>(bitcast<vec4<f32>>(w), vec4<f32>(0.0));
}
