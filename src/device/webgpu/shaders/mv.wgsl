// out[r, n] (+)= sum_k in[r, k] * w[n, k] + bias[n] for weights whose rows
// are 16-byte aligned: f32, f16, bf16 (WTYPE 0, 1, 2).  A workgroup of 256
// computes OPW = 8 outputs for R activation rows; 32 threads per output
// stream its weight row 16 bytes at a time (four loads in flight), unpack
// in registers and accumulate in f32; a shared-memory pass sums them.
// a: out off, in off (vec4s), w off (vec4s), N   b: K, n_rows, row stride
// (vec4s), flags (1 acc, 2 bias)   c: bias off, out row stride (outputs),
// first output (the weight rows given are outputs c.z .. c.z + N of a
// split matrix)
override WTYPE : u32 = 1u;
override R : u32 = 1u;
const TPR : u32 = 32u;
const OPW : u32 = 8u;
@group(0) @binding(1) var<storage, read_write> O : array<f32>;
@group(0) @binding(2) var<storage, read_write> X : array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> W : array<vec4<u32>>;
@group(0) @binding(4) var<storage, read_write> B : array<f32>;
var<workgroup> red : array<f32, 2048>;

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
    // vec4s of weights per row, and vec4s of x each covers
    let per = select(2u, 1u, WTYPE == 0u);
    let nv = select(K / 8u, K / 4u, WTYPE == 0u);
    var i = t;
    // four 16-byte loads in flight per thread, then one at a time
    for (; i + 3u * TPR < nv; i += 4u * TPR) {
      let w0 = unpack8(W[row + i]);
      let w1 = unpack8(W[row + i + TPR]);
      let w2 = unpack8(W[row + i + 2u * TPR]);
      let w3 = unpack8(W[row + i + 3u * TPR]);
      for (var r = 0u; r < R; r++) {
        if (r0 + r < nr) {
          let x0 = xb + r * K4 + i * per;
          let st = TPR * per;
          var s = dot(w0[0], X[x0]) + dot(w1[0], X[x0 + st]) + dot(w2[0], X[x0 + 2u * st]) +
                  dot(w3[0], X[x0 + 3u * st]);
          if (WTYPE != 0u) {
            s += dot(w0[1], X[x0 + 1u]) + dot(w1[1], X[x0 + st + 1u]) + dot(w2[1], X[x0 + 2u * st + 1u]) +
                 dot(w3[1], X[x0 + 3u * st + 1u]);
          }
          acc[r] += s;
        }
      }
    }
    for (; i < nv; i += TPR) {
      let wa = unpack8(W[row + i]);
      for (var r = 0u; r < R; r++) {
        if (r0 + r < nr) {
          let xa = xb + r * K4 + i * per;
          var s = dot(wa[0], X[xa]);
          if (WTYPE != 0u) { s += dot(wa[1], X[xa + 1u]); }
          acc[r] += s;
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
      if ((P.b.w & 2u) != 0u) { v += B[P.c.x + P.c.z + n2]; }
      let oi = P.a.x + (r0 + r) * P.c.y + P.c.z + n2;
      if ((P.b.w & 1u) != 0u) { v = O[oi] + v; }
      O[oi] = v;
    }
  }
}
