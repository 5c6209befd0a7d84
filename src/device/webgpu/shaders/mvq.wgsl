// out[r, n] (+)= sum_k in[r, k] * w[n, k] + bias[n] for GGUF blocks of 32:
// q8_0 (WTYPE 3: f16 scale, 32 int8; 34 bytes) and q4_0 (WTYPE 4: f16
// scale, 16 bytes of nibble pairs; 18 bytes).  Blocks start 2-byte aligned;
// a thread reads one block per step as whole words and shifts them into
// place.  Layout as mv.wgsl: 256 threads, 8 outputs, 32 threads per output.
// a: out off, in off (vec4s), w byte off, N   b: K, n_rows, row bytes,
// flags (1 acc, 2 bias)   c.x: bias off
override WTYPE : u32 = 3u;
override R : u32 = 1u;
const TPR : u32 = 32u;
const OPW : u32 = 8u;
@group(0) @binding(1) var<storage, read_write> O : array<f32>;
@group(0) @binding(2) var<storage, read_write> X : array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> W : array<u32>;
@group(0) @binding(4) var<storage, read_write> B : array<f32>;
var<workgroup> red : array<f32, 2048>;

fn i8x4(q : u32) -> vec4<f32> {
  return vec4<f32>(f32(i32(q << 24u) >> 24u), f32(i32(q << 16u) >> 24u), f32(i32(q << 8u) >> 24u),
                   f32(i32(q) >> 24u));
}
fn nib4(q : u32) -> vec4<f32> {
  return vec4<f32>(f32(q & 15u), f32((q >> 8u) & 15u), f32((q >> 16u) & 15u), f32((q >> 24u) & 15u)) - 8.0;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  let L = wg_linear(wid, nwg);
  let N = P.a.w; let K = P.b.x; let nr = P.b.y;
  let nblk = (N + OPW - 1u) / OPW;
  let o = lid / TPR; let t = lid % TPR;
  let n = (L % nblk) * OPW + o;
  let r0 = (L / nblk) * R;
  if (r0 >= nr) { return; }
  var acc : array<f32, 8>;
  for (var r = 0u; r < 8u; r++) { acc[r] = 0.0; }
  let K4 = K / 4u;
  let xb = P.a.y + r0 * K4;
  if (n < N) {
    let row = P.a.z + n * P.b.z;
    let bs = select(18u, 34u, WTYPE == 3u);
    let nq = select(4u, 8u, WTYPE == 3u);  // words of quants
    for (var b = t; b < K / 32u; b += TPR) {
      let s = row + b * bs;
      let d = unpack2x16float((W[s >> 2u] >> ((s & 2u) * 8u)) & 0xffffu).x;
      let qb = (s + 2u) >> 2u;
      let odd = ((s + 2u) & 2u) != 0u;
      var w : array<u32, 9>;
      for (var j = 0u; j < nq; j++) { w[j] = W[qb + j]; }
      w[nq] = 0u;
      if (odd) { w[nq] = W[qb + nq]; }
      var q : array<u32, 8>;
      for (var j = 0u; j < nq; j++) { q[j] = select(w[j], (w[j] >> 16u) | (w[j + 1u] << 16u), odd); }
      for (var r = 0u; r < R; r++) {
        if (r0 + r < nr) {
          let xa = xb + r * K4 + b * 8u;
          var s4 = vec4<f32>(0.0);
          if (WTYPE == 3u) {
            for (var j = 0u; j < 8u; j++) { s4 += i8x4(q[j]) * X[xa + j]; }
          } else {
            for (var j = 0u; j < 4u; j++) {
              s4 += nib4(q[j]) * X[xa + j] + nib4(q[j] >> 4u) * X[xa + 4u + j];
            }
          }
          acc[r] += d * (s4.x + s4.y + s4.z + s4.w);
        }
      }
    }
  }
  for (var r = 0u; r < R; r++) { red[(r * OPW + o) * TPR + t] = acc[r]; }
  workgroupBarrier();
  if (lid < OPW * R) {
    let oo = lid % OPW; let r = lid / OPW;
    let n2 = (L % nblk) * OPW + oo;
    if (n2 < N && r0 + r < nr) {
      var v = 0.0;
      let rb = (r * OPW + oo) * TPR;
      for (var j = 0u; j < TPR; j++) { v += red[rb + j]; }
      if ((P.b.w & 2u) != 0u) { v += B[P.c.x + n2]; }
      let oi = P.a.x + (r0 + r) * N + n2;
      if ((P.b.w & 1u) != 0u) { v = O[oi] + v; }
      O[oi] = v;
    }
  }
}
