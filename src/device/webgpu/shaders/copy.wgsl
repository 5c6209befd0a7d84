// Word copy between two bindings (different windows of one buffer, where
// copyBufferToBuffer cannot go).  a: dst off, src off, n
@group(0) @binding(1) var<storage, read_write> D : array<u32>;
@group(0) @binding(2) var<storage, read_write> S : array<u32>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  let i = wg_linear(wid, nwg) * 256u + lid;
  if (i < P.a.z) { D[P.a.x + i] = S[P.a.y + i]; }
}
