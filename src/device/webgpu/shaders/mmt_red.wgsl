// The sums of mmt.wgsl's K splits: out[r, c.z + n] (+)= sum_s SP[s][r][n]
// (+ bias[c.z + n]), one output per thread, the splits added in order.
// a: out off, N, n_rows, splits   b: out row stride (outputs), first
// output, flags (1 acc, 2 bias), bias off
@group(0) @binding(1) var<storage, read_write> O : array<f32>;
@group(0) @binding(2) var<storage, read_write> SP : array<f32>;
@group(0) @binding(3) var<storage, read_write> B : array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  let i = wg_linear(wid, nwg) * 256u + lid;
  let N = P.a.y; let MN = N * P.a.z;
  if (i >= MN) { return; }
  var v = SP[i];
  for (var s = 1u; s < P.a.w; s++) { v += SP[s * MN + i]; }
  let n = i % N;
  if ((P.b.z & 2u) != 0u) { v += B[P.b.w + P.b.y + n]; }
  let oi = P.a.x + (i / N) * P.b.x + P.b.y + n;
  if ((P.b.z & 1u) != 0u) { v = O[oi] + v; }
  O[oi] = v;
}
