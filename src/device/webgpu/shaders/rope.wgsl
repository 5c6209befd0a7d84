// Rotary embedding in place. One thread per (row, pair i), over all heads.
// a: x off, n_heads, head_dim, rot_dim   b: n_rows, seq0, n_seqs, interleaved
// c: inv_freq off, state off (i32 elements)   d: second tensor's off and
// n_heads (0: none; a captured step rotates q and k in one dispatch)
@group(0) @binding(1) var<storage, read_write> X : array<f32>;
@group(0) @binding(2) var<storage, read_write> F : array<f32>;
@group(0) @binding(3) var<storage, read_write> S : array<i32>;

// sin and cos of a (|a| < ~1e5) in f32 to a few ulp: the builtins are only
// specified to 2^-11 absolute inside [-pi, pi]. Reduction by pi/2 in three
// parts (Cody-Waite), then Taylor polynomials on [-pi/4, pi/4].
fn sincos(a : f32) -> vec2<f32> {
  let k = round(a * 0.636619772367581343);
  var r = a - k * 1.5703125;
  r = r - k * 4.837512969970703125e-4;
  r = r - k * 7.54978995489188216e-8;
  let r2 = r * r;
  let s = r + r * r2 * (-1.0 / 6.0 + r2 * (1.0 / 120.0 + r2 * (-1.0 / 5040.0 + r2 * (1.0 / 362880.0))));
  let c = 1.0 + r2 * (-0.5 + r2 * (1.0 / 24.0 + r2 * (-1.0 / 720.0 + r2 * (1.0 / 40320.0))));
  let q = i32(k) & 3;
  switch q {
    case 0: { return vec2<f32>(s, c); }
    case 1: { return vec2<f32>(c, -s); }
    case 2: { return vec2<f32>(-s, -c); }
    default: { return vec2<f32>(-c, s); }
  }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  // one thread per (row, head of either tensor, pair): no thread walks the
  // heads one after another (a chain of dependent memory round trips)
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
  X[base + i0] = a * sc.y - b * sc.x;
  X[base + i1] = a * sc.x + b * sc.y;
}
