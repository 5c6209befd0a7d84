// Rotary embedding in place (rope_pair.wgsl, placed before this): one thread
// per (row, head, pair) over all heads of one tensor, or of two (d: a
// captured step rotates q and k in one dispatch).
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  _ = rope_pair(wg_linear(wid, nwg) * 64u + lid);
}
