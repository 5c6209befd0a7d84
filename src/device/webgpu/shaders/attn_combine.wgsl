// Decode attention, part 2: one workgroup per (row, head) merges the
// SPLITS partial results of attn_part: out = sum_i e_i acc_i / sum_i e_i s_i
// with e_i = exp(m_i - max m).  No keys at all: 0.
// a: out off, part off, head_dim, SPLITS   b.x: rows * heads
@group(0) @binding(1) var<storage, read_write> O : array<f32>;
@group(0) @binding(2) var<storage, read_write> PT : array<f32>;
// the head's partials, staged by all threads at once where they fit, so the
// serial loops below read workgroup memory rather than a chain of global loads
var<workgroup> pt : array<f32, 4096>;
var<workgroup> staged : u32;
fn ldp(pb : u32, k : u32) -> f32 { if (staged != 0u) { return pt[k]; } return PT[pb + k]; }
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  let L = wg_linear(wid, nwg);
  if (L >= P.b.x) { return; }
  let hd = P.a.z; let ns = P.a.w;
  let pb = P.a.y + L * ns * (hd + 2u);
  let n = ns * (hd + 2u);
  if (lid == 0u) { staged = select(0u, 1u, n <= 4096u); }
  if (n <= 4096u) { for (var k = lid; k < n; k += 64u) { pt[k] = PT[pb + k]; } }
  workgroupBarrier();
  var M = NEG_INF;
  for (var i = 0u; i < ns; i++) { M = max(M, ldp(pb, i * (hd + 2u))); }
  var tot = 0.0;
  for (var i = 0u; i < ns; i++) {
    let o = i * (hd + 2u);
    tot += exp(ldp(pb, o) - M) * ldp(pb, o + 1u);
  }
  var inv = 0.0;
  if (tot > 0.0) { inv = 1.0 / tot; }
  for (var d = lid; d < hd; d += 64u) {
    var v = 0.0;
    for (var i = 0u; i < ns; i++) {
      let o = i * (hd + 2u);
      v += exp(ldp(pb, o) - M) * ldp(pb, o + 2u + d);
    }
    O[P.a.x + L * hd + d] = v * inv;
  }
}
