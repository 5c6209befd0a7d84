// mv.wgsl for f16 weights in f16 arithmetic (adapters with shader-f16, on
// request: GENRT_WEBGPU_F16=1): activations are rounded to f16, each group
// of 8 products is summed in f16 and added to an f32 accumulator.  One
// activation row (decode).  Parameters as mv.wgsl.
const TPR : u32 = 32u;
const OPW : u32 = 8u;
@group(0) @binding(1) var<storage, read_write> O : array<f32>;
@group(0) @binding(2) var<storage, read_write> X : array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> W : array<vec4<u32>>;
@group(0) @binding(4) var<storage, read_write> B : array<f32>;
var<workgroup> red : array<f32, 256>;

fn h8(w : vec4<u32>, xa : vec4<f32>, xb : vec4<f32>) -> f32 {
  let lo = vec4<f16>(bitcast<vec2<f16>>(w.x), bitcast<vec2<f16>>(w.y));
  let hi = vec4<f16>(bitcast<vec2<f16>>(w.z), bitcast<vec2<f16>>(w.w));
  return f32(dot(lo, vec4<f16>(xa)) + dot(hi, vec4<f16>(xb)));
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  let L = wg_linear(wid, nwg);
  let N = P.a.w; let K = P.b.x;
  let o = lid / TPR; let t = lid % TPR;
  let n = L * OPW + o;
  var acc = 0.0;
  if (n < N) {
    let row = P.a.z + n * P.b.z;
    let xb = P.a.y;
    let nv = K / 8u;
    var i = t;
    for (; i + 3u * TPR < nv; i += 4u * TPR) {
      let w0 = W[row + i]; let w1 = W[row + i + TPR]; let w2 = W[row + i + 2u * TPR]; let w3 = W[row + i + 3u * TPR];
      let x0 = xb + 2u * i; let st = 2u * TPR;
      acc += h8(w0, X[x0], X[x0 + 1u]) + h8(w1, X[x0 + st], X[x0 + st + 1u]) +
             h8(w2, X[x0 + 2u * st], X[x0 + 2u * st + 1u]) + h8(w3, X[x0 + 3u * st], X[x0 + 3u * st + 1u]);
    }
    for (; i < nv; i += TPR) { acc += h8(W[row + i], X[xb + 2u * i], X[xb + 2u * i + 1u]); }
  }
  red[lid] = acc;
  workgroupBarrier();
  if (lid < OPW) {
    let n2 = L * OPW + lid;
    if (n2 < N) {
      var v = 0.0;
      for (var j = 0u; j < TPR; j++) { v += red[lid * TPR + j]; }
      if ((P.b.w & 2u) != 0u) { v += B[P.c.x + P.c.z + n2]; }
      let oi = P.a.x + P.c.z + n2;
      if ((P.b.w & 1u) != 0u) { v = O[oi] + v; }
      O[oi] = v;
    }
  }
}
