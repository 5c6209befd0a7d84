// A captured step's rope of q and k (rope.wgsl, two tensors) followed by the
// kv_store of the rotated k and of v: one dispatch. One thread per (row,
// head of q or k, pair), as rope.wgsl; a k head's thread also writes its two
// rotated values and v's two values at the same dims into the caches
// (rot_dim == head_dim, so the pairs cover every dim). Same arithmetic as
// the two dispatches, so the same bits.
// a..d: rope.wgsl's (d: k's off and heads)   e: kc off, vc off, v off (in X),
// max_ctx.  KV_SHARED: both caches in KC.
override KV_SHARED : bool = false;
@group(0) @binding(1) var<storage, read_write> X : array<f32>;
@group(0) @binding(2) var<storage, read_write> F : array<f32>;
@group(0) @binding(3) var<storage, read_write> S : array<i32>;
@group(0) @binding(4) var<storage, read_write> KC : array<f32>;
@group(0) @binding(5) var<storage, read_write> VC : array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
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
  let ra = a * sc.y - b * sc.x;
  let rb = a * sc.x + b * sc.y;
  X[base + i0] = ra;
  X[base + i1] = rb;
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
