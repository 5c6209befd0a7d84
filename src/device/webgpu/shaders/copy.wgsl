// Byte copy at any offsets between two buffers (CopyBufferToBuffer needs
// multiples of 4): D bytes [a.y, a.y + a.z) = S bytes [a.x, a.x + a.z), offsets
// in bytes within the bound windows. One invocation per destination word;
// the edge words keep their other bytes.
@group(0) @binding(1) var<storage, read_write> S : array<u32>;
@group(0) @binding(2) var<storage, read_write> D : array<u32>;
fn src_byte(i : u32) -> u32 { return (S[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu; }
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  let d0 = P.a.y;
  let d1 = P.a.y + P.a.z;
  let dw = (d0 >> 2u) + wg_linear(wid, nwg) * 256u + lid;
  if (dw * 4u >= d1) { return; }
  var v = D[dw];
  for (var k = 0u; k < 4u; k++) {
    let db = dw * 4u + k;
    if (db >= d0 && db < d1) {
      let sh = k * 8u;
      v = (v & ~(0xffu << sh)) | (src_byte(P.a.x + (db - d0)) << sh);
    }
  }
  D[dw] = v;
}
