// dst[off + i] = pattern for i < n.  a: off, n, pattern
@group(0) @binding(1) var<storage, read_write> D : array<u32>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  let i = wg_linear(wid, nwg) * 256u + lid;
  if (i < P.a.y) { D[P.a.x + i] = P.a.z; }
}
