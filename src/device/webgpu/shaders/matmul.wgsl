// out[r, n] (+)= sum_k in[r, k] * w[n, k] + bias[n].  A workgroup computes one
// output column n for ROWS consecutive rows; threads split K and reduce.
// a: out off, in off, w byte off, N   b: K, n_rows, w row bytes, flags (1 acc, 2 bias)
// c.x: bias off
override ROWS : u32 = 1u;
@group(0) @binding(1) var<storage, read_write> O : array<f32>;
@group(0) @binding(2) var<storage, read_write> X : array<f32>;
@group(0) @binding(3) var<storage, read_write> W : array<u32>;
@group(0) @binding(4) var<storage, read_write> B : array<f32>;
const WG : u32 = 64u;
var<workgroup> red : array<f32, 512>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  let L = wg_linear(wid, nwg);
  let N = P.a.w; let K = P.b.x; let nr = P.b.y;
  let n = L % N;
  let r0 = (L / N) * ROWS;
  if (r0 >= nr) { return; }
  let row = P.a.z + n * P.b.z;
  var acc : array<f32, 8>;
  for (var r = 0u; r < 8u; r++) { acc[r] = 0.0; }
  for (var k = lid; k < K; k += WG) {
    let w = wload(row, k);
    for (var r = 0u; r < ROWS; r++) {
      if (r0 + r < nr) { acc[r] += w * X[P.a.y + (r0 + r) * K + k]; }
    }
  }
  for (var r = 0u; r < ROWS; r++) { red[r * WG + lid] = acc[r]; }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      for (var r = 0u; r < ROWS; r++) { red[r * WG + lid] += red[r * WG + lid + s]; }
    }
    workgroupBarrier();
  }
  if (lid < ROWS && r0 + lid < nr) {
    var v = red[lid * WG];
    if ((P.b.w & 2u) != 0u) { v += B[P.c.x + n]; }
    let o = P.a.x + (r0 + lid) * N + n;
    if ((P.b.w & 1u) != 0u) { v = O[o] + v; }
    O[o] = v;
  }
}
