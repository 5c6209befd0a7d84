// Up to three matmuls that share their input, as one dispatch (a captured
// step merges consecutive ones: q, k, v; gate, up): mv.wgsl's kernel with
// the workgroups split into segments, segment s computing
// out_s[r, n] (+)= sum_k in[r, k] * w_s[n, k] for its N_s outputs.
// Float weights (WTYPE 0, 1, 2), no bias.
// With NORM, an rmsnorm right before it is taken in (a captured step merges
// them): the input rows are normalised on the fly, x * scale * nw with
// rmsnorm.wgsl's sum order, so results equal the two dispatches; the first
// block's workgroup also writes the normalised rows to XN (the rmsnorm's
// output), for any later reader. Without NORM, NW and XN are placeholders.
// a: out off 0, in off (vec4s), w off 0 (vec4s in W0), N0   b: K, n_rows,
// row stride (vec4s), flags (1 acc)   c: out off 1, w off 1, N1
// d: out off 2, w off 2, N2, segments   e (NORM): norm weight off (vec4s),
// xn off (floats)   f.x (NORM): eps
override WTYPE : u32 = 1u;
override R : u32 = 1u;
override NORM : bool = false;
const TPR : u32 = 32u;
const OPW : u32 = 8u;
@group(0) @binding(1) var<storage, read_write> O : array<f32>;
@group(0) @binding(2) var<storage, read_write> X : array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> W0 : array<vec4<u32>>;
@group(0) @binding(4) var<storage, read_write> W1 : array<vec4<u32>>;
@group(0) @binding(5) var<storage, read_write> W2 : array<vec4<u32>>;
@group(0) @binding(6) var<storage, read_write> NW : array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> XN : array<f32>;
var<workgroup> red : array<f32, 2048>;
var<workgroup> scl : array<f32, 8>;

fn xs(i : u32) -> f32 { return X[i >> 2u][i & 3u]; }
// vec4 j of the activations (rows from a.y): with NORM normalised with row
// r's scale
fn xin(j : u32, r : u32, xb : u32, K4 : u32) -> vec4<f32> {
  if (NORM) { return X[j] * scl[r] * NW[P.e.x + (j - xb - r * K4)]; }
  return X[j];
}

fn ldw(seg : u32, i : u32) -> vec4<u32> {
  switch seg {
    case 0u: { return W0[i]; }
    case 1u: { return W1[i]; }
    default: { return W2[i]; }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  let L = wg_linear(wid, nwg);
  let K = P.b.x; let nr = P.b.y;
  let nseg = P.d.w;
  let nb0 = (P.a.w + OPW - 1u) / OPW;
  let nb1 = (P.c.z + OPW - 1u) / OPW;
  var nb2 = 0u;
  if (nseg > 2u) { nb2 = (P.d.z + OPW - 1u) / OPW; }
  let nbt = nb0 + nb1 + nb2;
  let bl = L % nbt;
  let r0 = (L / nbt) * R;
  if (r0 >= nr) { return; }
  // this workgroup's segment: its outputs, weights and first block
  var seg = 0u; var N = P.a.w; var oo = P.a.x; var wo = P.a.z; var b0 = 0u;
  if (bl >= nb0 + nb1) { seg = 2u; N = P.d.z; oo = P.d.x; wo = P.d.y; b0 = nb0 + nb1; }
  else if (bl >= nb0) { seg = 1u; N = P.c.z; oo = P.c.x; wo = P.c.y; b0 = nb0; }
  let o = lid / TPR; let t = lid % TPR;
  let n = (bl - b0) * OPW + o;
  if (NORM) {
    // the rows' norms, as rmsnorm.wgsl sums them (256 threads, stride 256, tree)
    let x1 = P.a.y * 4u;
    for (var r = 0u; r < R; r++) {
      var ss = 0.0;
      if (r0 + r < nr) {
        for (var i = lid; i < K; i += 256u) { let v = xs(x1 + (r0 + r) * K + i); ss += v * v; }
      }
      red[lid] = ss;
      workgroupBarrier();
      for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) { red[lid] += red[lid + s]; }
        workgroupBarrier();
      }
      if (lid == 0u) { scl[r] = 1.0 / sqrt(red[0] / f32(K) + P.f.x); }
      workgroupBarrier();
    }
    if (bl == 0u) {
      for (var r = 0u; r < R; r++) {
        if (r0 + r < nr) {
          let scale = scl[r];
          for (var i = lid; i < K; i += 256u) {
            XN[P.e.y + (r0 + r) * K + i] = xs(x1 + (r0 + r) * K + i) * scale * NW[P.e.x + (i >> 2u)][i & 3u];
          }
        }
      }
    }
  }
  var acc : array<f32, 8>;
  for (var r = 0u; r < 8u; r++) { acc[r] = 0.0; }
  let K4 = K / 4u;
  let xb = P.a.y + r0 * K4;
  if (n < N) {
    let row = wo + n * P.b.z;
    let per = select(2u, 1u, WTYPE == 0u);
    let nv = select(K / 8u, K / 4u, WTYPE == 0u);
    var i = t;
    for (; i + 3u * TPR < nv; i += 4u * TPR) {
      let w0 = unpack8(ldw(seg, row + i));
      let w1 = unpack8(ldw(seg, row + i + TPR));
      let w2 = unpack8(ldw(seg, row + i + 2u * TPR));
      let w3 = unpack8(ldw(seg, row + i + 3u * TPR));
      for (var r = 0u; r < R; r++) {
        if (r0 + r < nr) {
          let x0 = xb + r * K4 + i * per;
          let st = TPR * per;
          var s = dot(w0[0], xin(x0, r, xb, K4)) + dot(w1[0], xin(x0 + st, r, xb, K4)) +
                  dot(w2[0], xin(x0 + 2u * st, r, xb, K4)) + dot(w3[0], xin(x0 + 3u * st, r, xb, K4));
          if (WTYPE != 0u) {
            s += dot(w0[1], xin(x0 + 1u, r, xb, K4)) + dot(w1[1], xin(x0 + st + 1u, r, xb, K4)) +
                 dot(w2[1], xin(x0 + 2u * st + 1u, r, xb, K4)) + dot(w3[1], xin(x0 + 3u * st + 1u, r, xb, K4));
          }
          acc[r] += s;
        }
      }
    }
    for (; i < nv; i += TPR) {
      let wa = unpack8(ldw(seg, row + i));
      for (var r = 0u; r < R; r++) {
        if (r0 + r < nr) {
          let xa = xb + r * K4 + i * per;
          var s = dot(wa[0], xin(xa, r, xb, K4));
          if (WTYPE != 0u) { s += dot(wa[1], xin(xa + 1u, r, xb, K4)); }
          acc[r] += s;
        }
      }
    }
  }
  for (var r = 0u; r < R; r++) { red[(r * OPW + o) * TPR + t] = acc[r]; }
  workgroupBarrier();
  if (lid < OPW * R) {
    let q = lid % OPW; let r = lid / OPW;
    let n2 = (bl - b0) * OPW + q;
    if (n2 < N && r0 + r < nr) {
      var v = 0.0;
      let rb = (r * OPW + q) * TPR;
      for (var j = 0u; j < TPR; j++) { v += red[rb + j]; }
      let oi = oo + (r0 + r) * N + n2;
      if ((P.b.w & 1u) != 0u) { v = O[oi] + v; }
      O[oi] = v;
    }
  }
}
