// cache[(seq, pos), :] = row, for K and V.  One thread per (row, i).
// a: kc off, vc off, k off, v off   b: kv_dim, max_ctx, n_rows, seq0
// c: n_seqs, state off
// KV_SHARED: both caches live in the K binding (one window of one buffer).
override KV_SHARED : bool = false;
@group(0) @binding(1) var<storage, read_write> KC : array<f32>;
@group(0) @binding(2) var<storage, read_write> VC : array<f32>;
@group(0) @binding(3) var<storage, read_write> Kr : array<f32>;
@group(0) @binding(4) var<storage, read_write> Vr : array<f32>;
@group(0) @binding(5) var<storage, read_write> S : array<i32>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  let kvd = P.b.x;
  let t = wg_linear(wid, nwg) * 64u + lid;
  if (t >= P.b.z * kvd) { return; }
  let r = t / kvd; let i = t % kvd;
  let tps = P.b.z / P.c.x;
  let seq = P.b.w + r / tps;
  let pos = S[P.c.y + seq * 8u] + i32(r % tps);
  if (pos < 0 || pos >= i32(P.b.y)) { return; }
  let at = (seq * P.b.y + u32(pos)) * kvd + i;
  KC[P.a.x + at] = Kr[P.a.z + r * kvd + i];
  if (KV_SHARED) { KC[P.a.y + at] = Vr[P.a.w + r * kvd + i]; }
  else { VC[P.a.y + at] = Vr[P.a.w + r * kvd + i]; }
}
