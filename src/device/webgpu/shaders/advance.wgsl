// state[s].pos += tps for s in [seq0, seq0 + n_seqs).  a: state off, seq0, n_seqs, tps
@group(0) @binding(1) var<storage, read_write> S : array<i32>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  let i = wg_linear(wid, nwg) * 64u + lid;
  if (i >= P.a.z) { return; }
  let o = P.a.x + (P.a.y + i) * 8u;
  S[o] = S[o] + i32(P.a.w);
}
