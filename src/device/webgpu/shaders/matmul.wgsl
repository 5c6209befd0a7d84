// out[r, n] (+)= sum_k in[r, k] * w[n, k] + bias[n].  A workgroup computes one
// output column n for ROWS consecutive rows; threads split K and reduce.
// Runs the few-row matmuls (below mmt.wgsl's threshold) that the streaming
// kernels cannot take (activation rows not 16-byte aligned, K % 8 != 0).
// a: out off, in off, w byte off, N   b: K, n_rows, w row bytes, flags (1 acc,
// 2 bias, 4 rows start 4-byte aligned)   c.x: bias off
// Fast paths: f16/bf16 two elements per word read; q8_0/q4_0 a block per
// thread (one scale load). Otherwise element by element (wload).
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
  let xb = P.a.y + r0 * K;
  let aligned = (P.b.w & 4u) != 0u;
  if ((WTYPE == 1u || WTYPE == 2u) && aligned && (K & 1u) == 0u) {
    for (var wi = lid; wi < K / 2u; wi += WG) {
      let word = W[(row >> 2u) + wi];
      var w0 : f32; var w1 : f32;
      if (WTYPE == 1u) { let v = unpack2x16float(word); w0 = v.x; w1 = v.y; }
      else { w0 = bitcast<f32>(word << 16u); w1 = bitcast<f32>(word & 0xffff0000u); }
      let k = 2u * wi;
      for (var r = 0u; r < ROWS; r++) {
        if (r0 + r < nr) { acc[r] += w0 * X[xb + r * K + k] + w1 * X[xb + r * K + k + 1u]; }
      }
    }
  } else if (WTYPE == 3u) {
    for (var bi = lid; bi < K / 32u; bi += WG) {
      let blk = row + bi * 34u;
      let d = f16_bits(w_u16(blk));
      var part : array<f32, 8>;
      for (var r = 0u; r < 8u; r++) { part[r] = 0.0; }
      for (var j = 0u; j < 32u; j++) {
        let q = f32(i32(w_u8(blk + 2u + j) << 24u) >> 24u);
        for (var r = 0u; r < ROWS; r++) {
          if (r0 + r < nr) { part[r] += q * X[xb + r * K + bi * 32u + j]; }
        }
      }
      for (var r = 0u; r < ROWS; r++) { acc[r] += d * part[r]; }
    }
  } else if (WTYPE == 4u) {
    for (var bi = lid; bi < K / 32u; bi += WG) {
      let blk = row + bi * 18u;
      let d = f16_bits(w_u16(blk));
      var part : array<f32, 8>;
      for (var r = 0u; r < 8u; r++) { part[r] = 0.0; }
      for (var j = 0u; j < 16u; j++) {
        let byte = w_u8(blk + 2u + j);
        let lo = f32(i32(byte & 15u) - 8);
        let hi = f32(i32(byte >> 4u) - 8);
        for (var r = 0u; r < ROWS; r++) {
          if (r0 + r < nr) {
            let xo = xb + r * K + bi * 32u + j;
            part[r] += lo * X[xo] + hi * X[xo + 16u];
          }
        }
      }
      for (var r = 0u; r < ROWS; r++) { acc[r] += d * part[r]; }
    }
  } else {
    for (var k = lid; k < K; k += WG) {
      let w = wload(row, k);
      for (var r = 0u; r < ROWS; r++) {
        if (r0 + r < nr) { acc[r] += w * X[xb + r * K + k]; }
      }
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
