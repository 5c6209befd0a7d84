// out[r, c.z + n] (+)= sum_k x[r, k] * w[n, k] (+ bias[c.z + n]): the tiled
// product for prompts of many rows. A workgroup of 256 (16 x 16 threads)
// computes a BM x BN tile of outputs (BM = 16 TM rows of x, BN = 16 TN
// weight rows); thread (tx, ty) holds rows ty + 16 i (i < TM) and columns
// 4 (tx + 16 j) + 0..3 (j < TN / 4) in registers. K advances by BK = 32 (one
// quant block): the x tile [BM][BK] and the weight tile, dequantized to f32
// and stored k-major [BK][BN], pass through workgroup memory; then each
// thread reads its rows four k at a time and its columns as vec4s and
// accumulates in f32. x tile rows are swizzled (vec4 k4 of row m at
// k4 ^ (m & 7)) so the two rows a warp reads fall in different banks.
// With PF, the next chunk's global loads go to registers while this
// chunk's products run, and to workgroup memory after them.
// Off the tile edges (M, N, and K when not a multiple of 32: float weights)
// the tiles hold zeros.
// Split K (d.x = S > 1 splits, for too few tiles to fill the device):
// workgroup L + s * tiles sums k in [s c.w, (s + 1) c.w) and stores its
// tile to partials SP[s][row][n] (mmt_red.wgsl adds them up); S = 1: the
// outputs directly, with bias and accumulate.
// a: out off, in off, w byte off, N   b: K, n_rows, w row bytes, flags (1
// acc, 2 bias)   c: bias off, out row stride (outputs), first output (the
// weight rows given are outputs c.z .. c.z + N of a split matrix), k per
// split (a multiple of 32)   d.x: splits
override TM : u32 = 4u;
override TN : u32 = 4u;
// the next chunk's global loads issued before this chunk's products
override PF : bool = true;
override BM : u32 = 16u * TM;
override BN : u32 = 16u * TN;
override XS4 : u32 = 16u * TM * 8u;
override WS4 : u32 = 16u * TN * 8u;
const BK : u32 = 32u;
@group(0) @binding(1) var<storage, read_write> O : array<f32>;
@group(0) @binding(2) var<storage, read_write> X : array<f32>;
@group(0) @binding(3) var<storage, read_write> W : array<u32>;
@group(0) @binding(4) var<storage, read_write> B : array<f32>;
@group(0) @binding(5) var<storage, read_write> SP : array<f32>;
var<workgroup> xs : array<vec4<f32>, XS4>;
var<workgroup> ws : array<vec4<f32>, WS4>;

// The 4 bytes at byte b (b even) of the weights.
fn w_word(b : u32) -> u32 {
  let i = b >> 2u;
  if ((b & 2u) == 0u) { return W[i]; }
  return (W[i] >> 16u) | (W[i + 1u] << 16u);
}

// Weights k0 .. k0 + 7 of the row at byte `row` (k0 a multiple of 8; zero
// from K on).
fn w_load8(row : u32, k0 : u32, K : u32) -> array<f32, 8> {
  var v : array<f32, 8>;
  if (WTYPE == 3u) {
    let blk = row + (k0 >> 5u) * 34u;
    let d = f16_bits(w_u16(blk));
    let q0 = w_word(blk + 2u + (k0 & 31u));
    let q1 = w_word(blk + 6u + (k0 & 31u));
    for (var c = 0u; c < 4u; c++) {
      v[c] = d * f32(i32(q0 << (24u - 8u * c)) >> 24u);
      v[c + 4u] = d * f32(i32(q1 << (24u - 8u * c)) >> 24u);
    }
  } else if (WTYPE == 4u) {
    // byte j of a block holds element j (low nibble) and j + 16 (high)
    let blk = row + (k0 >> 5u) * 18u;
    let d = f16_bits(w_u16(blk));
    let j0 = k0 & 15u;
    let sh = select(0u, 4u, (k0 & 16u) != 0u);
    let q0 = w_word(blk + 2u + j0);
    let q1 = w_word(blk + 6u + j0);
    for (var c = 0u; c < 4u; c++) {
      v[c] = d * f32(i32((q0 >> (8u * c + sh)) & 15u) - 8);
      v[c + 4u] = d * f32(i32((q1 >> (8u * c + sh)) & 15u) - 8);
    }
  } else if (k0 + 8u <= K) {
    if (WTYPE == 0u) {
      let i = (row >> 2u) + k0;
      for (var c = 0u; c < 8u; c++) { v[c] = bitcast<f32>(W[i + c]); }
    } else {
      for (var c = 0u; c < 4u; c++) {
        let u = w_word(row + 2u * k0 + 4u * c);
        if (WTYPE == 1u) {
          let h = unpack2x16float(u);
          v[2u * c] = h.x; v[2u * c + 1u] = h.y;
        } else {
          v[2u * c] = bitcast<f32>(u << 16u); v[2u * c + 1u] = bitcast<f32>(u & 0xffff0000u);
        }
      }
    }
  } else {
    for (var c = 0u; c < 8u; c++) { v[c] = select(0.0, wload(row, k0 + c), k0 + c < K); }
  }
  return v;
}

// The x tile's values this thread stores for the chunk at kc: vec4 k4 of
// row m (coalesced along k), rows lid / 8 + 32 g.
fn x_load(kc : u32, m0 : u32, lid : u32) -> array<vec4<f32>, 4> {
  let K = P.b.x; let nr = P.b.y;
  var xr : array<vec4<f32>, 4>;
  for (var g = 0u; g < BM / 32u; g++) {
    let k4 = lid % 8u;
    let m = lid / 8u + 32u * g;
    var v = vec4<f32>(0.0);
    if (m0 + m < nr) {
      let base = P.a.y + (m0 + m) * K + kc + 4u * k4;
      if (kc + 4u * k4 + 4u <= K) {
        v = vec4<f32>(X[base], X[base + 1u], X[base + 2u], X[base + 3u]);
      } else {
        for (var c = 0u; c < 4u; c++) {
          if (kc + 4u * k4 + c < K) { v[c] = X[base + c]; }
        }
      }
    }
    xr[g] = v;
  }
  return xr;
}

// The weight tile's values this thread stores for the chunk at kc: 8 k of
// row n (rows along the lanes), for idx = lid + 256 g.
fn w_load(kc : u32, n0 : u32, lid : u32) -> array<f32, 16> {
  let N = P.a.w; let K = P.b.x;
  var wr : array<f32, 16>;
  for (var g = 0u; g < BN / 64u; g++) {
    let idx = lid + 256u * g;
    let n = idx % BN;
    let k0 = 8u * (idx / BN);
    var v : array<f32, 8>;
    if (n0 + n < N) {
      v = w_load8(P.a.z + (n0 + n) * P.b.z, kc + k0, K);
    } else {
      for (var c = 0u; c < 8u; c++) { v[c] = 0.0; }
    }
    for (var c = 0u; c < 8u; c++) { wr[8u * g + c] = v[c]; }
  }
  return wr;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  let L = wg_linear(wid, nwg);
  let N = P.a.w; let K = P.b.x; let nr = P.b.y;
  let nbn = (N + BN - 1u) / BN;
  let tiles = nbn * ((nr + BM - 1u) / BM);
  let S = P.d.x;
  if (L >= tiles * S) { return; }
  let sp = L / tiles;
  let n0 = (L % tiles % nbn) * BN;
  let m0 = (L % tiles / nbn) * BM;
  let k_lo = sp * P.c.w;
  let k_hi = min(K, k_lo + P.c.w);
  let tx = lid % 16u; let ty = lid / 16u;
  var acc : array<vec4<f32>, 16>;
  for (var i = 0u; i < 16u; i++) { acc[i] = vec4<f32>(0.0); }
  var xr = x_load(k_lo, m0, lid);
  var wr = w_load(k_lo, n0, lid);
  for (var kc = k_lo; kc < k_hi; kc += BK) {
    if (!PF && kc > k_lo) {
      xr = x_load(kc, m0, lid);
      wr = w_load(kc, n0, lid);
    }
    for (var g = 0u; g < BM / 32u; g++) {
      let m = lid / 8u + 32u * g;
      xs[m * 8u + ((lid % 8u) ^ (m & 7u))] = xr[g];
    }
    for (var g = 0u; g < BN / 64u; g++) {
      let idx = lid + 256u * g;
      let n = idx % BN;
      let k0 = 8u * (idx / BN);
      for (var c = 0u; c < 8u; c++) { ws[((k0 + c) * BN + n) / 4u][n % 4u] = wr[8u * g + c]; }
    }
    workgroupBarrier();
    // PF: the next chunk's loads are in flight during this one's products
    if (PF && kc + BK < k_hi) {
      xr = x_load(kc + BK, m0, lid);
      wr = w_load(kc + BK, n0, lid);
    }
    for (var k4 = 0u; k4 < 8u; k4++) {
      var a : array<vec4<f32>, 8>;
      for (var i = 0u; i < TM; i++) { a[i] = xs[(ty + 16u * i) * 8u + (k4 ^ (ty & 7u))]; }
      for (var kk = 0u; kk < 4u; kk++) {
        for (var j = 0u; j < TN / 4u; j++) {
          let b = ws[(k4 * 4u + kk) * (BN / 4u) + tx + 16u * j];
          for (var i = 0u; i < TM; i++) { acc[i * (TN / 4u) + j] += a[i][kk] * b; }
        }
      }
    }
    workgroupBarrier();
  }
  let ld = P.c.y;
  for (var i = 0u; i < TM; i++) {
    let r = m0 + ty + 16u * i;
    if (r >= nr) { continue; }
    for (var j = 0u; j < TN / 4u; j++) {
      for (var c = 0u; c < 4u; c++) {
        let n = n0 + 4u * (tx + 16u * j) + c;
        if (n < N) {
          var v = acc[i * (TN / 4u) + j][c];
          if (S > 1u) {
            SP[(sp * nr + r) * N + n] = v;
            continue;
          }
          if ((P.b.w & 2u) != 0u) { v += B[P.c.x + P.c.z + n]; }
          let oi = P.a.x + r * ld + P.c.z + n;
          if ((P.b.w & 1u) != 0u) { v = O[oi] + v; }
          O[oi] = v;
        }
      }
    }
  }
}
