// out[r, :] = in[r, :] / sqrt(mean(in^2) + eps) * w.  One workgroup per row.
// a: out off, in off, w off, dim   b: n_rows   f.x: eps
// IN_IS_OUT: in aliases out (in place); the in binding is then unused.
override IN_IS_OUT : bool = false;
@group(0) @binding(1) var<storage, read_write> O : array<f32>;
@group(0) @binding(2) var<storage, read_write> X : array<f32>;
@group(0) @binding(3) var<storage, read_write> Wn : array<f32>;
var<workgroup> red : array<f32, 256>;
fn ld(i : u32) -> f32 { if (IN_IS_OUT) { return O[i]; } return X[i]; }
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  let r = wg_linear(wid, nwg);
  if (r >= P.b.x) { return; }
  let dim = P.a.w;
  let xo = P.a.y + r * dim;
  var ss = 0.0;
  // rows of up to 4096: the row and the weights loaded once, all at the start
  // (one round trip to memory instead of three); the same sums either way
  let held = dim <= 4096u;
  var xv : array<f32, 16>;
  var wv : array<f32, 16>;
  if (held) {
    for (var k = 0u; k < 16u; k++) {
      let i = min(lid + 256u * k, dim - 1u);
      xv[k] = ld(xo + i);
      wv[k] = Wn[P.a.z + i];
    }
    for (var k = 0u; k < 16u; k++) { if (lid + 256u * k < dim) { ss += xv[k] * xv[k]; } }
  } else {
    for (var i = lid; i < dim; i += 256u) { let v = ld(xo + i); ss += v * v; }
  }
  // clusters of SG lanes, then a tree over the clusters (mvx's NORM: the same)
  let cs = sg_sum(ss, SG);
  if (lid % SG == 0u) { red[lid / SG] = cs; }
  workgroupBarrier();
  // (at most 32 clusters: every thread runs the same tree in registers,
  // the same additions in the same order, without its barriers)
  var tot : f32;
  if (SG >= 8u) {
    var tv : array<f32, 32>;
    for (var i = 0u; i < 256u / SG; i++) { tv[i] = red[i]; }
    tot = tree_sum(tv, 256u / SG);
  } else {
    for (var s = 128u / SG; s > 0u; s >>= 1u) {
      if (lid < s) { red[lid] += red[lid + s]; }
      workgroupBarrier();
    }
    tot = red[0];
  }
  let scale = 1.0 / sqrt(tot / f32(dim) + P.f.x);
  let oo = P.a.x + r * dim;
  if (held) {
    for (var k = 0u; k < 16u; k++) {
      let i = lid + 256u * k;
      if (i < dim) { O[oo + i] = xv[k] * scale * wv[k]; }
    }
  } else {
    for (var i = lid; i < dim; i += 256u) { O[oo + i] = ld(xo + i) * scale * Wn[P.a.z + i]; }
  }
}
