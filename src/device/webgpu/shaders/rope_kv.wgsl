// A captured step's rope of q and k (rope.wgsl, two tensors) followed by the
// kv_store of the rotated k and of v: one dispatch. One thread per (row,
// head of q or k, pair), as rope.wgsl; a k head's thread also writes its two
// rotated values and v's two values at the same dims into the caches
// (rot_dim == head_dim, so the pairs cover every dim). Same arithmetic as
// the two dispatches, so the same bits.
// a..d: rope.wgsl's (d: k's off and heads)   e: kc off, vc off, v off (in X),
// max_ctx.  KV_SHARED: both caches in KC.
// X, F, S and the rotation: rope_pair.wgsl, placed before this.
override KV_SHARED : bool = false;
@group(0) @binding(4) var<storage, read_write> KC : array<f32>;
@group(0) @binding(5) var<storage, read_write> VC : array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  let p = rope_pair(wg_linear(wid, nwg) * 64u + lid);
  if (!p.ok) { return; }
  let hd = P.a.z;
  let hh = p.hh; let r = p.r; let seq = p.seq; let pos = p.pos;
  let i0 = p.i0; let i1 = p.i1; let ra = p.ra; let rb = p.rb;
  if (hh >= P.a.y && pos >= 0 && pos < i32(P.e.w)) {
    let kvd = P.d.y * hd;
    let h = hh - P.a.y;
    let at = (seq * P.e.w + u32(pos)) * kvd + h * hd;
    let vr = P.e.z + r * kvd + h * hd;
    KC[P.e.x + at + i0] = ra;
    KC[P.e.x + at + i1] = rb;
    if (KV_SHARED) {
      KC[P.e.y + at + i0] = X[vr + i0];
      KC[P.e.y + at + i1] = X[vr + i1];
    } else {
      VC[P.e.y + at + i0] = X[vr + i0];
      VC[P.e.y + at + i1] = X[vr + i1];
    }
  }
}
