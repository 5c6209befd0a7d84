// Rotary embedding in place. One thread per (row, pair i), over all heads.
// a: x off, n_heads, head_dim, rot_dim   b: n_rows, seq0, n_seqs, interleaved
// c: inv_freq off, state off (i32 elements)   d: second tensor's off and
// n_heads (0: none; a captured step rotates q and k in one dispatch)
@group(0) @binding(1) var<storage, read_write> X : array<f32>;
@group(0) @binding(2) var<storage, read_write> F : array<f32>;
@group(0) @binding(3) var<storage, read_write> S : array<i32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  // one thread per (row, head of either tensor, pair): no thread walks the
  // heads one after another (a chain of dependent memory round trips)
  let half = P.a.w / 2u;
  let nh = P.a.y + P.d.y;
  let t = wg_linear(wid, nwg) * 64u + lid;
  if (t >= P.b.x * nh * half) { return; }
  let i = t % half; let rh = t / half;
  let r = rh / nh; let hh = rh % nh;
  let tps = P.b.x / P.b.z;
  let seq = P.b.y + r / tps;
  let pos = S[P.c.y + seq * 8u] + i32(r % tps);
  let ang = f32(pos) * F[P.c.x + i];
  let sc = sincos(ang);
  var i0 = i; var i1 = i + half;
  if (P.b.w != 0u) { i0 = 2u * i; i1 = 2u * i + 1u; }
  let hd = P.a.z;
  var base = P.a.x + (r * P.a.y + hh) * hd;
  if (hh >= P.a.y) { base = P.d.x + (r * P.d.y + (hh - P.a.y)) * hd; }
  let a = X[base + i0]; let b = X[base + i1];
  X[base + i0] = a * sc.y - b * sc.x;
  X[base + i1] = a * sc.x + b * sc.y;
}
