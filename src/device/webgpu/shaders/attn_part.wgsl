// Decode attention, split over the keys (flash-decoding, part 1): one
// workgroup per (row, head, split); the row's keys [lo, hi] (from the step
// state) are cut into SPLITS equal spans.  Writes the span's running max m,
// sum s and unnormalised output acc (hd) to PT at ((row * nh + h) * SPLITS +
// split) * (hd + 2): m, s, acc.  An empty span writes m = NEG_INF, s = 0.
// a: part off, q off, kc off, vc off   b: n_rows, seq0, n_seqs, state off
// c: n_heads, n_kv_heads, head_dim (<= 256), max_ctx   d: window, SPLITS
// f.x: scale.  One token per sequence (n_rows == n_seqs).
override KV_SHARED : bool = false;
@group(0) @binding(1) var<storage, read_write> PT : array<f32>;
@group(0) @binding(2) var<storage, read_write> Q : array<f32>;
@group(0) @binding(3) var<storage, read_write> KC : array<f32>;
@group(0) @binding(4) var<storage, read_write> VC : array<f32>;
@group(0) @binding(5) var<storage, read_write> S : array<i32>;
var<workgroup> qs : array<f32, 256>;
var<workgroup> sc : array<f32, 64>;
var<workgroup> wpos : i32;
// the chunk's value rows (CH keys of hd), loaded by all threads at once so the
// serial softmax loop below reads workgroup memory, not a chain of global loads
var<workgroup> vs : array<f32, 2048>;
fn ldv(i : u32) -> f32 { if (KV_SHARED) { return KC[i]; } return VC[i]; }
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  let L = wg_linear(wid, nwg);
  let nh = P.c.x; let hd = P.c.z; let maxc = i32(P.c.w); let ns = P.d.y;
  if (L >= P.b.x * nh * ns) { return; }
  let sp = L % ns; let rh = L / ns;
  let r = rh / nh; let h = rh % nh;
  let kvh = h / (nh / P.c.y);
  let kvd = P.c.y * hd;
  let seq = P.b.y + r;
  if (lid == 0u) { wpos = S[P.b.w + seq * 8u]; }
  let pos = workgroupUniformLoad(&wpos);
  let hi0 = min(pos, maxc - 1);
  var lo0 = 0;
  let win = i32(P.d.x);
  if (win > 0) { lo0 = max(0, pos - win + 1); }
  let span = (max(hi0 - lo0 + 1, 0) + i32(ns) - 1) / i32(ns);
  let lo = lo0 + i32(sp) * span;
  let hi = min(hi0, lo + span - 1);
  let qo = P.a.y + (r * nh + h) * hd;
  for (var d = lid; d < hd; d += 64u) { qs[d] = Q[qo + d]; }
  workgroupBarrier();
  let base = seq * u32(maxc) * kvd + kvh * hd;
  var m = NEG_INF;
  var ssum = 0.0;
  var acc = vec4<f32>(0.0);
  let CH = i32(min(64u, 2048u / hd));  // keys per chunk
  for (var c0 = lo; c0 <= hi; c0 += CH) {
    let j = c0 + i32(lid);
    var s = NEG_INF;
    if (i32(lid) < CH && j <= hi) {
      let ko = P.a.z + base + u32(j) * kvd;
      var dot = 0.0;
      for (var d = 0u; d < hd; d++) { dot += qs[d] * KC[ko + d]; }
      s = dot * P.f.x;
    }
    sc[lid] = s;
    let cnt = u32(min(CH, hi - c0 + 1));
    for (var k = lid; k < cnt * hd; k += 64u) {
      vs[k] = ldv(P.a.w + base + (u32(c0) + k / hd) * kvd + k % hd);
    }
    workgroupBarrier();
    var cm = m;
    for (var t = 0u; t < cnt; t++) { cm = max(cm, sc[t]); }
    let fac = exp(m - cm);
    ssum *= fac;
    acc *= fac;
    for (var t = 0u; t < cnt; t++) {
      let e = exp(sc[t] - cm);
      ssum += e;
      for (var q = 0u; q < 4u; q++) {
        let d = lid + 64u * q;
        if (d < hd) { acc[q] += e * vs[t * hd + d]; }
      }
    }
    m = cm;
    workgroupBarrier();
  }
  let po = P.a.x + L * (hd + 2u);
  if (lid == 0u) { PT[po] = m; PT[po + 1u] = ssum; }
  for (var q = 0u; q < 4u; q++) {
    let d = lid + 64u * q;
    if (d < hd) { PT[po + 2u + d] = acc[q]; }
  }
}
