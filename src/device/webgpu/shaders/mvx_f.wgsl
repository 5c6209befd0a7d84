// mvx.wgsl's weight bindings for float weights and QS superblocks: 16-byte loads.
@group(0) @binding(3) var<storage, read_write> W0 : array<vec4<u32>>;
@group(0) @binding(4) var<storage, read_write> W1 : array<vec4<u32>>;
@group(0) @binding(5) var<storage, read_write> W2 : array<vec4<u32>>;
fn ldw(seg : u32, i : u32) -> vec4<u32> {
  switch seg {
    case 0u: { return W0[i]; }
    case 1u: { return W1[i]; }
    default: { return W2[i]; }
  }
}
fn ldq(seg : u32, i : u32) -> u32 { return ldw(seg, i >> 2u)[i & 3u]; }
fn ldb(i : u32) -> f32 { return bitcast<f32>(W1[i >> 2u][i & 3u]); }
