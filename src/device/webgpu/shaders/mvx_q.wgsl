// mvx.wgsl's weight bindings for quantized weights: 4-byte loads.
@group(0) @binding(3) var<storage, read_write> W0 : array<u32>;
@group(0) @binding(4) var<storage, read_write> W1 : array<u32>;
@group(0) @binding(5) var<storage, read_write> W2 : array<u32>;
fn ldq(seg : u32, i : u32) -> u32 {
  switch seg {
    case 0u: { return W0[i]; }
    case 1u: { return W1[i]; }
    default: { return W2[i]; }
  }
}
fn ldw(seg : u32, i : u32) -> vec4<u32> {
  return vec4<u32>(ldq(seg, 4u * i), ldq(seg, 4u * i + 1u), ldq(seg, 4u * i + 2u), ldq(seg, 4u * i + 3u));
}
fn ldb(i : u32) -> f32 { return bitcast<f32>(W1[i]); }
