// Decode matvec (one activation row): out_s[n] (+)= sum_k x[k] * w_s[n, k]
// (+ bias[n]) for up to three weight matrices that share x (segments s),
// optionally with an rmsnorm folded into x (NORM) or a GLU epilogue (GLU).
// Weights: f32, f16, bf16 (rows 16-byte aligned; a chunk is one vec4 of
// weights) or q8_0 / q4_0 (rows 4-byte aligned; a chunk is one block of 32).
// WTYPE 11 / 12: q8_0 / q4_0 rows with K % 256 == 0, 16-byte aligned, read
// as superblocks (QS below) through vec4<u32> bindings (offsets in vec4s).
//
// A workgroup of 256 threads is G = 256 / T groups of T threads; group g
// computes RPW rows (slots g * RPW ..). Thread t of a group walks chunks
// t, t + T, t + 2T, ... of its rows: it loads U chunks of all its rows (and
// the x they share, once) before using them, then adds them to each row's sum
// strictly in chunk order; a tree over the group's T partial sums finishes a
// row (with subgroups: a butterfly over clusters of min(T, SG) lanes first,
// SG fixed per device). A row's result therefore depends on T (and SG) only
// (not on RPW, U, the segments or the modes), so eager and captured steps
// agree bit for bit.
//
// GLU (merged gate/up + glu): segments 0 and 1 have the same rows; slots
// [0, half) are gate rows, [half, 2 half) the same up rows; the epilogue
// writes out_0[n] = act(gate) * up (glu.wgsl's expression) and out_1[n] = up.
// NORM: x is rmsnorm(x) * nw, summed as rmsnorm.wgsl does; workgroup 0 also
// writes the normalised row to XN for any later reader.
//
// a: out off 0 (floats), x off (vec4s), w off 0, N0   (w offs: vec4s, or
//    bytes for q8_0 / q4_0)
// b: K, -, row stride (vec4s or bytes), flags (1 acc, 2 bias in W1 as f32)
// c: out off 1, w off 1, N1, bias off (floats)
// d: out off 2, w off 2, N2, segments (1..3)
// e: nw off (vec4s), xn off (floats), first output (split matrices: outputs
//    and bias are indexed from it)   f.x: eps
//
// QS (WTYPE 11, 12): a superblock is 8 GGUF blocks (256 weights; 272 bytes
// q8_0, 144 q4_0: 17 / 9 vec4s). Thread t of a row's T walks superblocks t,
// t + T, ..; the T threads of a row are lanes 256 / T apart (lid = t * 256 /
// T + g), so a subgroup's lanes read the same x (one broadcast load) and
// their own rows' superblocks with 16-byte loads, all of a superblock in
// flight at once (the first before mvx_wait); qs_sb's code is unrolled
// by hand, so every word of the superblock sits at a literal index of a
// private array (registers, not local memory: the loop form, most likely
// spilling, left the 1B q4_0 step 1.36x slower on the H100), no staging, no
// barrier in the loop. A row's
// sum: per thread, superblocks in order, blocks in order (acc + d * block
// sum; a block sum: fma into 4 lanes in qs_b4 / qs_b8's order, then
// (l0 + l1) + (l2 + l3)), then a tree over the T partial sums in workgroup
// memory. It depends on (weight type, K) only (T from K; one row a
// thread, RPW 1); webgpu_ops.c mvx_qs picks QS per weight.
var<workgroup> scl : f32;

fn bf2(u : u32) -> vec2<f32> { return vec2<f32>(bitcast<f32>(u << 16u), bitcast<f32>(u & 0xffff0000u)); }
fn lo8(w : vec4<u32>) -> vec4<f32> {
  if (WTYPE == 1u) { return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)); }
  if (WTYPE == 2u) { return vec4<f32>(bf2(w.x), bf2(w.y)); }
  return bitcast<vec4<f32>>(w);
}
fn hi8(w : vec4<u32>) -> vec4<f32> {
  if (WTYPE == 1u) { return vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w)); }
  return vec4<f32>(bf2(w.z), bf2(w.w));
}
// vec4 j of x (relative to a.y), normalised when NORM
fn ldx(j : u32) -> vec4<f32> {
  if (NORM) { return xv4(P.a.y + j) * scl * nwv4(P.e.x + j); }
  return xv4(P.a.y + j);
}
fn i8x4(q : u32) -> vec4<f32> {
  return vec4<f32>(f32(i32(q << 24u) >> 24u), f32(i32(q << 16u) >> 24u), f32(i32(q << 8u) >> 24u),
                   f32(i32(q) >> 24u));
}
fn nib4(q : u32) -> vec4<f32> {
  return vec4<f32>(f32(q & 15u), f32((q >> 8u) & 15u), f32((q >> 16u) & 15u), f32((q >> 24u) & 15u)) - 8.0;
}
// QS: weights from their bits, exact: the bits of a field placed in a
// float's mantissa with the exponent that makes their unit 1, less that
// power of two (and the offset: 8 for q4_0, 128 for q8_0 as byte ^ 0x80).
// Elements 0..3 of q4_0 word q (low nibbles), then 16..19 (high nibbles).
fn qs_lo4(q : u32) -> vec4<f32> {
  let h = q >> 12u;
  return bitcast<vec4<f32>>(vec4<u32>((q & 0xfu) | 0x4b000000u, (q & 0xf00u) | 0x47000000u,
                                      (q & 0xf0000u) | 0x43000000u, (h & 0xf000u) | 0x45000000u)) -
         vec4<f32>(8388616.0, 32776.0, 136.0, 2056.0);
}
fn qs_hi4(q : u32) -> vec4<f32> {
  let h = q >> 12u;
  return bitcast<vec4<f32>>(vec4<u32>((q & 0xf0u) | 0x49000000u, (q & 0xf000u) | 0x45000000u,
                                      (h & 0xf00u) | 0x47000000u, (h & 0xf0000u) | 0x43000000u)) -
         vec4<f32>(524296.0, 2056.0, 32776.0, 136.0);
}
// the four signed bytes of q8_0 word q
fn qs_i8(q : u32) -> vec4<f32> {
  let h = q >> 16u;
  return bitcast<vec4<f32>>(vec4<u32>((q & 0xffu) ^ 0x4b000080u, (q & 0xff00u) ^ 0x47008000u,
                                      (h & 0xffu) ^ 0x4b000080u, (h & 0xff00u) ^ 0x47008000u)) -
         vec4<f32>(8388736.0, 32896.0, 8388736.0, 32896.0);
}

fn qs_fsh(lo : u32, hi : u32) -> u32 { return (lo >> 16u) | (hi << 16u); }
// one q4_0 block: f16 scale dw, quant words q, x from vec4 xb on
fn qs_b4(dw : u32, q : vec4<u32>, xb : u32) -> f32 {
  var s = fma(qs_lo4(q.x), ldx(xb), vec4<f32>(0.0));
  s = fma(qs_hi4(q.x), ldx(xb + 4u), s);
  s = fma(qs_lo4(q.y), ldx(xb + 1u), s);
  s = fma(qs_hi4(q.y), ldx(xb + 5u), s);
  s = fma(qs_lo4(q.z), ldx(xb + 2u), s);
  s = fma(qs_hi4(q.z), ldx(xb + 6u), s);
  s = fma(qs_lo4(q.w), ldx(xb + 3u), s);
  s = fma(qs_hi4(q.w), ldx(xb + 7u), s);
  return unpack2x16float(dw).x * ((s.x + s.y) + (s.z + s.w));
}
// one q8_0 block: quant words qa, qb
fn qs_b8(dw : u32, qa : vec4<u32>, qb : vec4<u32>, xb : u32) -> f32 {
  var s = fma(qs_i8(qa.x), ldx(xb), vec4<f32>(0.0));
  s = fma(qs_i8(qa.y), ldx(xb + 1u), s);
  s = fma(qs_i8(qa.z), ldx(xb + 2u), s);
  s = fma(qs_i8(qa.w), ldx(xb + 3u), s);
  s = fma(qs_i8(qb.x), ldx(xb + 4u), s);
  s = fma(qs_i8(qb.y), ldx(xb + 5u), s);
  s = fma(qs_i8(qb.z), ldx(xb + 6u), s);
  s = fma(qs_i8(qb.w), ldx(xb + 7u), s);
  return unpack2x16float(dw).x * ((s.x + s.y) + (s.z + s.w));
}
// QS: the superblock of a thread's row (q4_0: the first 9 vec4s), private
// so that no array is passed to a function (a call that is not inlined then
// copies it through local memory), read at literal indices only (the code
// below is unrolled by hand): it stays in registers.
var<private> qw : array<vec4<u32>, 17>;
// the row's superblock from vec4 i of segment seg
fn qs_ld(seg : u32, i : u32) {
  qw[0] = ldw(seg, i + 0u); qw[1] = ldw(seg, i + 1u); qw[2] = ldw(seg, i + 2u);
  qw[3] = ldw(seg, i + 3u); qw[4] = ldw(seg, i + 4u); qw[5] = ldw(seg, i + 5u);
  qw[6] = ldw(seg, i + 6u); qw[7] = ldw(seg, i + 7u); qw[8] = ldw(seg, i + 8u);
  if (WTYPE == 11u) {
    qw[9] = ldw(seg, i + 9u); qw[10] = ldw(seg, i + 10u); qw[11] = ldw(seg, i + 11u); qw[12] = ldw(seg, i + 12u);
    qw[13] = ldw(seg, i + 13u); qw[14] = ldw(seg, i + 14u); qw[15] = ldw(seg, i + 15u); qw[16] = ldw(seg, i + 16u);
  }
}
// the superblock dotted with x from vec4 xb on, added to acc block by block
fn qs_sb(xb : u32, acc : f32) -> f32 {
  var a = acc;
  if (WTYPE == 12u) {
    a = a + qs_b4(qw[0].x & 0xffffu, vec4<u32>(qs_fsh(qw[0].x, qw[0].y), qs_fsh(qw[0].y, qw[0].z), qs_fsh(qw[0].z, qw[0].w), qs_fsh(qw[0].w, qw[1].x)), xb + 0u);
    a = a + qs_b4(qw[1].x >> 16u, vec4<u32>(qw[1].y, qw[1].z, qw[1].w, qw[2].x), xb + 8u);
    a = a + qs_b4(qw[2].y & 0xffffu, vec4<u32>(qs_fsh(qw[2].y, qw[2].z), qs_fsh(qw[2].z, qw[2].w), qs_fsh(qw[2].w, qw[3].x), qs_fsh(qw[3].x, qw[3].y)), xb + 16u);
    a = a + qs_b4(qw[3].y >> 16u, vec4<u32>(qw[3].z, qw[3].w, qw[4].x, qw[4].y), xb + 24u);
    a = a + qs_b4(qw[4].z & 0xffffu, vec4<u32>(qs_fsh(qw[4].z, qw[4].w), qs_fsh(qw[4].w, qw[5].x), qs_fsh(qw[5].x, qw[5].y), qs_fsh(qw[5].y, qw[5].z)), xb + 32u);
    a = a + qs_b4(qw[5].z >> 16u, vec4<u32>(qw[5].w, qw[6].x, qw[6].y, qw[6].z), xb + 40u);
    a = a + qs_b4(qw[6].w & 0xffffu, vec4<u32>(qs_fsh(qw[6].w, qw[7].x), qs_fsh(qw[7].x, qw[7].y), qs_fsh(qw[7].y, qw[7].z), qs_fsh(qw[7].z, qw[7].w)), xb + 48u);
    a = a + qs_b4(qw[7].w >> 16u, vec4<u32>(qw[8].x, qw[8].y, qw[8].z, qw[8].w), xb + 56u);
  } else {
    a = a + qs_b8(qw[0].x & 0xffffu, vec4<u32>(qs_fsh(qw[0].x, qw[0].y), qs_fsh(qw[0].y, qw[0].z), qs_fsh(qw[0].z, qw[0].w), qs_fsh(qw[0].w, qw[1].x)),
                  vec4<u32>(qs_fsh(qw[1].x, qw[1].y), qs_fsh(qw[1].y, qw[1].z), qs_fsh(qw[1].z, qw[1].w), qs_fsh(qw[1].w, qw[2].x)), xb + 0u);
    a = a + qs_b8(qw[2].x >> 16u, vec4<u32>(qw[2].y, qw[2].z, qw[2].w, qw[3].x),
                  vec4<u32>(qw[3].y, qw[3].z, qw[3].w, qw[4].x), xb + 8u);
    a = a + qs_b8(qw[4].y & 0xffffu, vec4<u32>(qs_fsh(qw[4].y, qw[4].z), qs_fsh(qw[4].z, qw[4].w), qs_fsh(qw[4].w, qw[5].x), qs_fsh(qw[5].x, qw[5].y)),
                  vec4<u32>(qs_fsh(qw[5].y, qw[5].z), qs_fsh(qw[5].z, qw[5].w), qs_fsh(qw[5].w, qw[6].x), qs_fsh(qw[6].x, qw[6].y)), xb + 16u);
    a = a + qs_b8(qw[6].y >> 16u, vec4<u32>(qw[6].z, qw[6].w, qw[7].x, qw[7].y),
                  vec4<u32>(qw[7].z, qw[7].w, qw[8].x, qw[8].y), xb + 24u);
    a = a + qs_b8(qw[8].z & 0xffffu, vec4<u32>(qs_fsh(qw[8].z, qw[8].w), qs_fsh(qw[8].w, qw[9].x), qs_fsh(qw[9].x, qw[9].y), qs_fsh(qw[9].y, qw[9].z)),
                  vec4<u32>(qs_fsh(qw[9].z, qw[9].w), qs_fsh(qw[9].w, qw[10].x), qs_fsh(qw[10].x, qw[10].y), qs_fsh(qw[10].y, qw[10].z)), xb + 32u);
    a = a + qs_b8(qw[10].z >> 16u, vec4<u32>(qw[10].w, qw[11].x, qw[11].y, qw[11].z),
                  vec4<u32>(qw[11].w, qw[12].x, qw[12].y, qw[12].z), xb + 40u);
    a = a + qs_b8(qw[12].w & 0xffffu, vec4<u32>(qs_fsh(qw[12].w, qw[13].x), qs_fsh(qw[13].x, qw[13].y), qs_fsh(qw[13].y, qw[13].z), qs_fsh(qw[13].z, qw[13].w)),
                  vec4<u32>(qs_fsh(qw[13].w, qw[14].x), qs_fsh(qw[14].x, qw[14].y), qs_fsh(qw[14].y, qw[14].z), qs_fsh(qw[14].z, qw[14].w)), xb + 48u);
    a = a + qs_b8(qw[14].w >> 16u, vec4<u32>(qw[15].x, qw[15].y, qw[15].z, qw[15].w),
                  vec4<u32>(qw[16].x, qw[16].y, qw[16].z, qw[16].w), xb + 56u);
  }
  return a;
}
fn tanh_f(x : f32) -> f32 {
  let a = min(abs(x), 20.0);
  let e = exp(2.0 * a);
  return sign(x) * (1.0 - 2.0 / (e + 1.0));
}

// Block b of a quantized row starting at byte rb of segment seg, dotted
// with x's block b (8 vec4s in xs).
fn qword(seg : u32, i : u32, st : bool) -> u32 { if (st) { return wsh[i]; } return ldq(seg, i); }
// (st: rb is a byte offset into the staged words)
fn qdot(seg : u32, rb : u32, b : u32, xs : array<vec4<f32>, 8>, st : bool) -> f32 {
  if (WTYPE == 3u) {
    let s = rb + b * 34u;
    let w0 = s >> 2u;
    // scale: low half of word w0 (s 4-aligned) or high half; quants from s + 2
    let al = (s & 2u) == 0u;
    var q : array<u32, 9>;
    for (var k = 0u; k < 9u; k++) { q[k] = qword(seg, w0 + k, st); }
    let d = unpack2x16float(select(q[0] >> 16u, q[0] & 0xffffu, al)).x;
    var s4 = vec4<f32>(0.0);
    for (var k = 0u; k < 8u; k++) {
      let qk = select(q[k + 1u], (q[k] >> 16u) | (q[k + 1u] << 16u), al);
      s4 += i8x4(qk) * xs[k];
    }
    return d * (s4.x + s4.y + s4.z + s4.w);
  }
  let s = rb + b * 18u;
  let w0 = s >> 2u;
  let al = (s & 2u) == 0u;
  var q : array<u32, 5>;
  for (var k = 0u; k < 5u; k++) { q[k] = qword(seg, w0 + k, st); }
  let d = unpack2x16float(select(q[0] >> 16u, q[0] & 0xffffu, al)).x;
  var s4 = vec4<f32>(0.0);
  for (var k = 0u; k < 4u; k++) {
    let qk = select(q[k + 1u], (q[k] >> 16u) | (q[k + 1u] << 16u), al);
    s4 += nib4(qk) * xs[k] + nib4(qk >> 4u) * xs[k + 4u];
  }
  return d * (s4.x + s4.y + s4.z + s4.w);
}

// workgroup L's segment (GLU: segments 0 and 1 together) and block in it;
// z: 0 when L has no rows
fn mvx_block(L : u32) -> vec3<u32> {
  let GW = 256u / T;
  let NB = GW * RPW;                               // slots per workgroup
  let nseg = P.d.w;
  let nsl = select(NB, NB / 2u, GLU != 0u);       // rows per workgroup per segment
  var nb0 = (P.a.w + nsl - 1u) / nsl;
  var nb1 = 0u;
  if (nseg > 1u && GLU == 0u) { nb1 = (P.c.z + nsl - 1u) / nsl; }
  var nb2 = 0u;
  if (nseg > 2u) { nb2 = (P.d.z + nsl - 1u) / nsl; }
  if (L >= nb0 + nb1 + nb2) { return vec3<u32>(0u, 0u, 0u); }
  var bseg = 0u; var bl = L;
  if (L >= nb0 + nb1) { bseg = 2u; bl = L - nb0 - nb1; }
  else if (L >= nb0) { bseg = 1u; bl = L - nb0; }
  return vec3<u32>(bseg, bl, 1u);
}

// The kernel for workgroup L of the dispatch. mvx_wait(L, lid), the
// includer's, runs (in workgroup-uniform control flow) once this thread's
// first round of weights is issued: a chain kernel's wait for its input and
// the input's staging overlap those loads.
fn mvx_main(L : u32, lid : u32) {
  let K = P.b.x;
  let NB = 256u / T * RPW;
  let nsl = select(NB, NB / 2u, GLU != 0u);
  let bk = mvx_block(L);
  if (bk.z == 0u) { mvx_wait(L, lid); return; }
  let bseg = bk.x; let bl = bk.y;
  let QS = WTYPE >= 8u;
  let RL = 256u / T;                               // QS: rows' lanes apart
  let g = select(lid / T, lid % RL, QS);
  let t = select(lid % T, lid / RL, QS);

  // this thread's rows: segment, weight row start (clamped into the segment)
  var rseg : array<u32, 8>;
  var rrow : array<u32, 8>;
  for (var r = 0u; r < RPW; r++) {
    let j = g * RPW + r;
    var sg = bseg; var n = bl * nsl + j;
    if (GLU != 0u) { sg = select(0u, 1u, j >= nsl); n = bl * nsl + (j % nsl); }
    var N = P.a.w; var wo = P.a.z;
    if (sg == 1u) { N = P.c.z; wo = P.c.y; } else if (sg == 2u) { N = P.d.z; wo = P.d.y; }
    rseg[r] = sg;
    rrow[r] = wo + min(n, N - 1u) * P.b.z;
  }
  // float weights: the first round, U chunks of each row (t, t + T, ..;
  // clamped, masked when used), issued before anything else
  let nv = select(K / 8u, K / 4u, WTYPE == 0u);  // chunks per row (float weights)
  var wv : array<vec4<u32>, 16>;
  if (WTYPE <= 2u) {
    for (var u = 0u; u < U; u++) {
      let c = min(t + u * T, nv - 1u);
      for (var r = 0u; r < RPW; r++) { wv[u * RPW + r] = ldw(rseg[r], rrow[r] + c); }
    }
  }
  // QS: the first superblock of each row (clamped; not used when t >= nsb)
  let NV = select(9u, 17u, WTYPE == 11u);         // vec4s per superblock
  let nsb = K / 256u;
  if (QS) {                                        // (one row a thread)
    qs_ld(rseg[0], rrow[0] + min(t, nsb - 1u) * NV);
  }
  mvx_wait(L, lid);

  let per = select(2u, 1u, WTYPE == 0u);         // x vec4s per chunk (float weights)

  // float weights: the first round's x (and norm weights), loaded before the
  // norm's sums so that their latency overlaps them
  var xv : array<vec4<f32>, 8>;
  var nwr : array<vec4<f32>, 8>;
  if (WTYPE <= 2u) {
    for (var u = 0u; u < U; u++) {
      let j = min(t + u * T, nv - 1u) * per;
      xv[2u * u] = xv4(P.a.y + j);
      if (WTYPE != 0u) { xv[2u * u + 1u] = xv4(P.a.y + j + 1u); }
      if (NORM) {
        nwr[2u * u] = nwv4(P.e.x + j);
        if (WTYPE != 0u) { nwr[2u * u + 1u] = nwv4(P.e.x + j + 1u); }
      }
    }
  }

  var sclv = 1.0;
  if (NORM) {
    // rmsnorm.wgsl's sums: 256 threads at stride 256 (four loads in flight),
    // clusters of SG lanes, then a tree (in registers by every thread when
    // there are at most 32 clusters: the same additions in the same order)
    var ss = 0.0;
    for (var i0 = lid; i0 < K; i0 += 1024u) {
      var v4 : array<f32, 4>;
      for (var k = 0u; k < 4u; k++) { v4[k] = xf(P.a.y * 4u + min(i0 + 256u * k, K - 1u)); }
      for (var k = 0u; k < 4u; k++) { if (i0 + 256u * k < K) { ss += v4[k] * v4[k]; } }
    }
    let cs = sg_sum(ss, SG);
    if (lid % SG == 0u) { rset(lid / SG, cs); }
    workgroupBarrier();
    if (SG >= 8u) {
      var tv : array<f32, 32>;
      for (var i = 0u; i < 256u / SG; i++) { tv[i] = rget(i); }
      sclv = 1.0 / sqrt(tree_sum(tv, 256u / SG) / f32(K) + P.f.x);
      if (lid == 0u) { scl = sclv; }
      workgroupBarrier();                          // every thread has read the cluster sums
    } else {
      for (var s = 128u / SG; s > 0u; s >>= 1u) {
        if (lid < s) { rset(lid, rget(lid) + rget(lid + s)); }
        workgroupBarrier();
      }
      if (lid == 0u) { scl = 1.0 / sqrt(rget(0u) / f32(K) + P.f.x); }
      workgroupBarrier();
      sclv = scl;
    }
    if (L == 0u) {
      let scale = sclv;
      for (var i = lid; i < K; i += 256u) {
        xnst(P.e.y + i, xf(P.a.y * 4u + i) * scale * nwv4(P.e.x + (i >> 2u))[i & 3u]);
      }
    }
  }

  var acc : array<f32, 8>;
  for (var r = 0u; r < 8u; r++) { acc[r] = 0.0; }
  if (WTYPE <= 2u) {
    // rounds of U chunks per row (t, t + T, ..; the first round's weights
    // and x already here), added strictly in chunk order
    for (var i = t; i < nv; i += U * T) {
      if (i != t) {
        for (var u = 0u; u < U; u++) {
          let c = min(i + u * T, nv - 1u);
          for (var r = 0u; r < RPW; r++) { wv[u * RPW + r] = ldw(rseg[r], rrow[r] + c); }
          xv[2u * u] = xv4(P.a.y + c * per);
          if (WTYPE != 0u) { xv[2u * u + 1u] = xv4(P.a.y + c * per + 1u); }
          if (NORM) {
            nwr[2u * u] = nwv4(P.e.x + c * per);
            if (WTYPE != 0u) { nwr[2u * u + 1u] = nwv4(P.e.x + c * per + 1u); }
          }
        }
      }
      for (var u = 0u; u < U; u++) {
        if (i + u * T < nv) {
          var x0 = xv[2u * u]; var x1 = xv[2u * u + 1u];
          if (NORM) { x0 = x0 * sclv * nwr[2u * u]; x1 = x1 * sclv * nwr[2u * u + 1u]; }
          for (var r = 0u; r < RPW; r++) {
            let w = wv[u * RPW + r];
            if (WTYPE == 0u) { acc[r] = acc[r] + dot(lo8(w), x0); }
            else { acc[r] = acc[r] + (dot(lo8(w), x0) + dot(hi8(w), x1)); }
          }
        }
      }
    }
  } else if (QS) {
    for (var sb = t; sb < nsb; sb += T) {
      if (sb != t) { qs_ld(rseg[0], rrow[0] + sb * NV); }
      acc[0] = qs_sb(sb * 64u, acc[0]);
    }
  } else if (STAGE) {
    let nbk = K / 32u;
    let bs = select(18u, 34u, WTYPE == 3u);
    let nw = T * bs / 4u;                 // words of a run of T blocks (rows 4-byte aligned)
    var xs : array<vec4<f32>, 8>;
    for (var c = 0u; c < (nbk + T - 1u) / T; c++) {
      let b = c * T + t;
      if (b < nbk) { for (var k = 0u; k < 8u; k++) { xs[k] = ldx(b * 8u + k); } }
      let nwc = min(T, nbk - c * T) * bs / 4u;
      for (var r = 0u; r < RPW; r++) {
        workgroupBarrier();
        let src = rrow[r] / 4u + c * nw;
        for (var j = t; j < nwc; j += T) { wsh[g * nw + j] = ldq(rseg[r], src + j); }
        workgroupBarrier();
        if (b < nbk) { acc[r] = acc[r] + qdot(0u, (g * nw + t * bs / 4u) * 4u + (t * bs) % 4u, 0u, xs, true); }
      }
    }
    workgroupBarrier();
  } else {
    let nbk = K / 32u;
    var xs : array<vec4<f32>, 8>;
    for (var b = t; b < nbk; b += T) {
      for (var k = 0u; k < 8u; k++) { xs[k] = ldx(b * 8u + k); }
      for (var r = 0u; r < RPW; r++) { acc[r] = acc[r] + qdot(rseg[r], rrow[r], b, xs, false); }
    }
  }

  // each slot's T partial sums: clusters of C lanes (a subgroup butterfly),
  // then a tree over the T / C cluster sums (fixed order; C 1 without subgroups)
  let C = select(min(T, SG), 1u, QS);
  for (var r = 0u; r < RPW; r++) {
    let cs = sg_sum(acc[r], C);
    if (t % C == 0u) { rset((g * RPW + r) * T + t / C, cs); }
  }
  for (var s = T / C / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (t < s) {
      for (var r = 0u; r < RPW; r++) {
        let k = (g * RPW + r) * T + t;
        rset(k, rget(k) + rget(k + s));
      }
    }
  }
  workgroupBarrier();
  if (GLU != 0u) {
    if (lid < nsl) {
      let n = bl * nsl + lid;
      if (n < P.a.w) {
        let gv = rget(lid * T);
        let uv = rget((lid + nsl) * T);
        var v : f32;
        if (GLU == 1u) { v = gv / (1.0 + exp(-gv)) * uv; }
        else { v = 0.5 * gv * (1.0 + tanh_f(0.7978845608028654 * (gv + 0.044715 * gv * gv * gv))) * uv; }
        ost(P.a.x + n, v);
        ost(P.c.x + n, uv);
      }
    }
    return;
  }
  if (lid < NB) {
    let n = bl * nsl + lid;
    var N = P.a.w; var oo = P.a.x;
    if (bseg == 1u) { N = P.c.z; oo = P.c.x; } else if (bseg == 2u) { N = P.d.z; oo = P.d.x; }
    if (n < N) {
      var v = rget(lid * T);
      if ((P.b.w & 2u) != 0u) { let bi = P.c.w + P.e.z + n; v += ldb(bi); }
      let oi = oo + P.e.z + n;
      if ((P.b.w & 1u) != 0u) { v = old(oi) + v; }
      ost(oi, v);
    }
  }
}
