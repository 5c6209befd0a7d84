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

// The sum of v over aligned clusters of c consecutive invocations (c a power
// of two <= SG; SG and sg_xor come first in the source: subgroup shuffles, or
// SG 1 without subgroups). An xor butterfly, so every lane of a cluster gets
// the same bits and the order depends on c only, not on the subgroup size the
// driver picked. Lanes are taken to be local_invocation_index modulo the
// subgroup size (1D workgroups of 256; Vulkan drivers number them so). Call in
// workgroup-uniform control flow with every invocation present.
fn sg_sum(v : f32, c : u32) -> f32 {
  var s = v;
  for (var m = 1u; m < c; m <<= 1u) { s += sg_xor(s, m); }
  return s;
}

// The sum of n values (n a power of two <= 32: a workgroup's cluster sums)
// as a workgroup tree adds them, v[i] += v[i + s] for s = n / 2 .. 1, in
// registers: every invocation runs the same additions in the same order,
// without the tree's barriers.
fn tree_sum(v : array<f32, 32>, n : u32) -> f32 {
  var t = v;
  for (var s = n / 2u; s > 0u; s >>= 1u) {
    for (var i = 0u; i < s; i++) { t[i] = t[i] + t[i + s]; }
  }
  return t[0];
}

// Workgroups are laid out 2D when one dimension would exceed the limit.
fn wg_linear(wid : vec3<u32>, nwg : vec3<u32>) -> u32 { return wid.x + wid.y * nwg.x; }

// Below every score; exp(NEG_INF - x) is 0 for finite x.
const NEG_INF : f32 = -3.0e38;

fn is_nan(x : f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }

// sin and cos of a (|a| < ~1e5) in f32 to a few ulp: the builtins are only
// specified to 2^-11 absolute inside [-pi, pi]. Reduction by pi/2 in three
// parts (Cody-Waite), then Taylor polynomials on [-pi/4, pi/4]. Shared by
// rope, rope_kv and attn_dec, so a fused rope gives the same bits.
fn sincos(a : f32) -> vec2<f32> {
  let k = round(a * 0.636619772367581343);
  var r = a - k * 1.5703125;
  r = r - k * 4.837512969970703125e-4;
  r = r - k * 7.54978995489188216e-8;
  let r2 = r * r;
  let s = r + r * r2 * (-1.0 / 6.0 + r2 * (1.0 / 120.0 + r2 * (-1.0 / 5040.0 + r2 * (1.0 / 362880.0))));
  let c = 1.0 + r2 * (-0.5 + r2 * (1.0 / 24.0 + r2 * (-1.0 / 720.0 + r2 * (1.0 / 40320.0))));
  let q = i32(k) & 3;
  switch q {
    case 0: { return vec2<f32>(s, c); }
    case 1: { return vec2<f32>(c, -s); }
    case 2: { return vec2<f32>(-s, -c); }
    default: { return vec2<f32>(-c, s); }
  }
}
