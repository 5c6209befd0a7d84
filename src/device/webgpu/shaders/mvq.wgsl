// out[r, n] (+)= sum_k in[r, k] * w[n, k] + bias[n] for GGUF blocks of 32:
// q8_0 (WTYPE 3: f16 scale, 32 int8; 34 bytes) and q4_0 (WTYPE 4: f16
// scale, 16 bytes of nibble pairs; 18 bytes).  Layout as mv.wgsl: 256
// threads, 8 outputs, 32 threads per output, thread t takes block t of each
// run of 32.  STAGED (rows start 4-byte aligned): the 32 threads of a row
// first copy the run's 32 blocks (272 or 144 words) into workgroup memory
// with consecutive words on consecutive threads, so global loads coalesce;
// otherwise each thread reads its block's words straight from W.
// a: out off, in off (vec4s), w byte off, N   b: K, n_rows, row bytes,
// flags (1 acc, 2 bias)   c: bias off, out row stride (outputs), first output
// (the weight rows given are outputs c.z .. c.z + N of a split matrix)
override WTYPE : u32 = 3u;
override R : u32 = 1u;
override STAGED : bool = false;
const TPR : u32 = 32u;
const OPW : u32 = 8u;
@group(0) @binding(1) var<storage, read_write> O : array<f32>;
@group(0) @binding(2) var<storage, read_write> X : array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> W : array<u32>;
@group(0) @binding(4) var<storage, read_write> B : array<f32>;
var<workgroup> sh : array<u32, 2176>;  // OPW runs of <= 272 words; then the reduction

fn i8x4(q : u32) -> vec4<f32> {
  return vec4<f32>(f32(i32(q << 24u) >> 24u), f32(i32(q << 16u) >> 24u), f32(i32(q << 8u) >> 24u),
                   f32(i32(q) >> 24u));
}
fn qw(a : u32, b : u32, odd : bool) -> u32 { return select(a, (a >> 16u) | (b << 16u), odd); }
fn nib4(q : u32) -> vec4<f32> {
  return vec4<f32>(f32(q & 15u), f32((q >> 8u) & 15u), f32((q >> 16u) & 15u), f32((q >> 24u) & 15u)) - 8.0;
}
fn ldw(i : u32) -> u32 { if (STAGED) { return sh[i]; } return W[i]; }

// Adds block b (at byte s of ldw's words) times in[r0 + r, 32 b ..] to acc[r].
fn block(s : u32, b : u32, xb : u32, K4 : u32, nrr : u32, acc : ptr<function, array<f32, 8>>) {
  let d = unpack2x16float((ldw(s >> 2u) >> ((s & 2u) * 8u)) & 0xffffu).x;
  // quants start at byte s + 2: word aligned, or halfway (odd): then each
  // quant word is the top half of one word and the bottom of the next
  let qb = (s + 2u) >> 2u;
  let odd = ((s + 2u) & 2u) != 0u;
  if (WTYPE == 3u) {
    let w0 = ldw(qb); let w1 = ldw(qb + 1u); let w2 = ldw(qb + 2u); let w3 = ldw(qb + 3u);
    let w4 = ldw(qb + 4u); let w5 = ldw(qb + 5u); let w6 = ldw(qb + 6u); let w7 = ldw(qb + 7u);
    var w8 = 0u;
    if (odd) { w8 = ldw(qb + 8u); }
    let q0 = i8x4(qw(w0, w1, odd)); let q1 = i8x4(qw(w1, w2, odd));
    let q2 = i8x4(qw(w2, w3, odd)); let q3 = i8x4(qw(w3, w4, odd));
    let q4 = i8x4(qw(w4, w5, odd)); let q5 = i8x4(qw(w5, w6, odd));
    let q6 = i8x4(qw(w6, w7, odd)); let q7 = i8x4(qw(w7, w8, odd));
    for (var r = 0u; r < R; r++) {
      if (r < nrr) {
        let xa = xb + r * K4 + b * 8u;
        let s4 = q0 * X[xa] + q1 * X[xa + 1u] + q2 * X[xa + 2u] + q3 * X[xa + 3u] + q4 * X[xa + 4u] +
                 q5 * X[xa + 5u] + q6 * X[xa + 6u] + q7 * X[xa + 7u];
        (*acc)[r] += d * (s4.x + s4.y + s4.z + s4.w);
      }
    }
  } else {
    let w0 = ldw(qb); let w1 = ldw(qb + 1u); let w2 = ldw(qb + 2u); let w3 = ldw(qb + 3u);
    var w4 = 0u;
    if (odd) { w4 = ldw(qb + 4u); }
    let u0 = qw(w0, w1, odd); let u1 = qw(w1, w2, odd); let u2 = qw(w2, w3, odd); let u3 = qw(w3, w4, odd);
    let l0 = nib4(u0); let l1 = nib4(u1); let l2 = nib4(u2); let l3 = nib4(u3);
    let h0 = nib4(u0 >> 4u); let h1 = nib4(u1 >> 4u); let h2 = nib4(u2 >> 4u); let h3 = nib4(u3 >> 4u);
    for (var r = 0u; r < R; r++) {
      if (r < nrr) {
        let xa = xb + r * K4 + b * 8u;
        let s4 = l0 * X[xa] + l1 * X[xa + 1u] + l2 * X[xa + 2u] + l3 * X[xa + 3u] + h0 * X[xa + 4u] +
                 h1 * X[xa + 5u] + h2 * X[xa + 6u] + h3 * X[xa + 7u];
        (*acc)[r] += d * (s4.x + s4.y + s4.z + s4.w);
      }
    }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  let L = wg_linear(wid, nwg);
  let N = P.a.w; let K = P.b.x; let nr = P.b.y;
  let nblk = (N + OPW - 1u) / OPW;
  let o = lid / TPR; let t = lid % TPR;
  let n = (L % nblk) * OPW + o;
  let r0 = (L / nblk) * R;
  if (r0 >= nr) { return; }
  var acc : array<f32, 8>;
  for (var r = 0u; r < 8u; r++) { acc[r] = 0.0; }
  let K4 = K / 4u;
  let xb = P.a.y + r0 * K4;
  let nrr = nr - r0;
  let bs = select(18u, 34u, WTYPE == 3u);
  let nbk = K / 32u;
  let row = P.a.z + n * P.b.z;
  if (STAGED) {
    let cw = select(144u, 272u, WTYPE == 3u);  // words in a run of 32 blocks
    let rwords = P.b.z / 4u;
    for (var c = 0u; c < (nbk + 31u) / 32u; c++) {
      for (var j = t; j < cw; j += TPR) {
        if (n < N && c * cw + j < rwords) { sh[o * cw + j] = W[(row >> 2u) + c * cw + j]; }
      }
      workgroupBarrier();
      let b = c * 32u + t;
      if (n < N && b < nbk) { block(o * cw * 4u + t * bs, b, xb, K4, nrr, &acc); }
      workgroupBarrier();
    }
  } else if (n < N) {
    for (var b = t; b < nbk; b += TPR) { block(row + b * bs, b, xb, K4, nrr, &acc); }
  }
  for (var r = 0u; r < R; r++) { sh[(r * OPW + o) * TPR + t] = bitcast<u32>(acc[r]); }
  workgroupBarrier();
  if (lid < OPW * R) {
    let oo = lid % OPW; let r = lid / OPW;
    let n2 = (L % nblk) * OPW + oo;
    if (n2 < N && r0 + r < nr) {
      var v = 0.0;
      let rb = (r * OPW + oo) * TPR;
      for (var j = 0u; j < TPR; j++) { v += bitcast<f32>(sh[rb + j]); }
      if ((P.b.w & 2u) != 0u) { v += B[P.c.x + P.c.z + n2]; }
      let oi = P.a.x + (r0 + r) * P.c.y + P.c.z + n2;
      if ((P.b.w & 1u) != 0u) { v = O[oi] + v; }
      O[oi] = v;
    }
  }
}
