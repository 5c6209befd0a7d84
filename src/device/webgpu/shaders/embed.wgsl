// out[r, :] = table[ids[r], :] * scale.  One workgroup per row.  The table
// binding holds rows c.x .. c.y (a table larger than one binding is bound in
// parts, one dispatch each): rows whose id is elsewhere are left alone; ids
// outside the vocabulary give zeros, written by the part with c.x == 0.
// a: out off, table byte off, ids off, n_embd   b: n_rows, n_vocab, row bytes
// c: first row, end row   f.x: scale
@group(0) @binding(1) var<storage, read_write> O : array<f32>;
@group(0) @binding(2) var<storage, read_write> W : array<u32>;
@group(0) @binding(3) var<storage, read_write> IDS : array<i32>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  let r = wg_linear(wid, nwg);
  if (r >= P.b.x) { return; }
  let n = P.a.w;
  let id = IDS[P.a.z + r];
  let ok = id >= 0 && u32(id) < P.b.y;
  let here = ok && u32(id) >= P.c.x && u32(id) < P.c.y;
  if (!here && (ok || P.c.x != 0u)) { return; }
  let row = P.a.y + select(0u, u32(id) - P.c.x, here) * P.b.z;
  for (var i = lid; i < n; i += 64u) {
    var v = 0.0;
    if (ok) { v = wload(row, i); if (P.f.x != 1.0) { v = v * P.f.x; } }
    O[P.a.x + r * n + i] = v;
  }
}
