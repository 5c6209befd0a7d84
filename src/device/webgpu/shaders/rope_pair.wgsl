// Placed before rope.wgsl and rope_kv.wgsl: their shared bindings and the
// rotation itself, so the fused rope_kv gives the same bits as rope.
// a: x off, n_heads, head_dim, rot_dim   b: n_rows, seq0, n_seqs, interleaved
// c: inv_freq off, state off (i32 elements)   d: second tensor's off and
// n_heads (0: none)
@group(0) @binding(1) var<storage, read_write> X : array<f32>;
@group(0) @binding(2) var<storage, read_write> F : array<f32>;
@group(0) @binding(3) var<storage, read_write> S : array<i32>;

// Thread t's (row r, head hh of either tensor, pair i0/i1) at position pos
// of sequence seq, rotated in place in X; ok false: no such thread.
struct RopePair { ok : bool, r : u32, hh : u32, seq : u32, pos : i32, i0 : u32, i1 : u32, ra : f32, rb : f32 };

fn rope_pair(t : u32) -> RopePair {
  var o : RopePair;
  // one thread per (row, head, pair): no thread walks the heads one after
  // another (a chain of dependent memory round trips)
  let half = P.a.w / 2u;
  let nh = P.a.y + P.d.y;
  o.ok = t < P.b.x * nh * half;
  if (!o.ok) { return o; }
  let i = t % half; let rh = t / half;
  o.r = rh / nh; o.hh = rh % nh;
  let tps = P.b.x / P.b.z;
  o.seq = P.b.y + o.r / tps;
  o.pos = S[P.c.y + o.seq * 8u] + i32(o.r % tps);
  let ang = f32(o.pos) * F[P.c.x + i];
  let sc = sincos(ang);
  o.i0 = i; o.i1 = i + half;
  if (P.b.w != 0u) { o.i0 = 2u * i; o.i1 = 2u * i + 1u; }
  let hd = P.a.z;
  var base = P.a.x + (o.r * P.a.y + o.hh) * hd;
  if (o.hh >= P.a.y) { base = P.d.x + (o.r * P.d.y + (o.hh - P.a.y)) * hd; }
  let a = X[base + o.i0]; let b = X[base + o.i1];
  o.ra = a * sc.y - b * sc.x;
  o.rb = a * sc.x + b * sc.y;
  X[base + o.i0] = o.ra;
  X[base + o.i1] = o.rb;
  return o;
}
