// The sampler (cpu_sample.c semantics), one workgroup per sequence:
// repetition penalty, temperature, top-k, top-p, min-p, then a Philox draw
// (argmax when temperature == 0, ties to the lowest id).
// Tokens are ordered by (logit desc, id asc) as the 64-bit rank
// (order key of the logit, ~id). Every filter keeps a prefix of that order,
// so each step is "the first token whose cumulative weight reaches T",
// found by a radix walk, 4 bits a pass, over the rank of the candidates:
// per-thread bins, summed in a fixed order (deterministic).
// a: logits off, V, seq0, argmax_part's pairs off in SEEN (0: none; the seen bits start at 0)  b: max_ctx, ring_len, state off, hist off
// c: next off, ring off, top_k, repeat_last_n (i32)
// d: n_eos, seed lo, seed hi, seen words per sequence   e, g: eos ids
// f: temperature, top_p, min_p, repeat_penalty
@group(0) @binding(1) var<storage, read_write> LG : array<f32>;
@group(0) @binding(2) var<storage, read_write> S : array<i32>;
@group(0) @binding(3) var<storage, read_write> H : array<i32>;
@group(0) @binding(4) var<storage, read_write> NX : array<i32>;
@group(0) @binding(5) var<storage, read_write> RG : array<i32>;
@group(0) @binding(6) var<storage, read_write> SEEN : array<atomic<u32>>;
const WG : u32 = 64u;
// lanes per subgroup butterfly in the reductions (1 without subgroups: the
// plain per-thread layout); their order depends on CL only
const CL : u32 = min(SG, WG);
var<workgroup> hw : array<f32, 1024>;
var<workgroup> hc : array<u32, 1024>;
var<workgroup> bw : array<f32, 16>;
var<workgroup> bc : array<u32, 16>;
var<workgroup> redf : array<f32, 64>;
var<workgroup> redi : array<u32, 64>;
var<workgroup> wpre : vec2<u32>;
var<workgroup> wcum : f32;
var<workgroup> wT : f32;
var<workgroup> wst : vec3<i32>;
var<workgroup> wmax : f32;

fn okey(x : f32) -> u32 {
  let u = bitcast<u32>(x);
  return select(u | 0x80000000u, ~u, (u & 0x80000000u) != 0u);
}

fn mulhilo(a : u32, b : u32) -> vec2<u32> {
  let a0 = a & 0xffffu; let a1 = a >> 16u; let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p00 = a0 * b0; let p01 = a0 * b1; let p10 = a1 * b0; let p11 = a1 * b1;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return vec2<u32>(a * b, p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u));
}

fn philox_uniform(seed_lo : u32, seed_hi : u32, seq : u32, ctr : u32) -> f32 {
  var c0 = ctr; var c1 = seq; var c2 = 0u; var c3 = 0u;
  var k0 = seed_lo; var k1 = seed_hi;
  for (var r = 0; r < 10; r++) {
    let m0 = mulhilo(0xD2511F53u, c0);
    let m1 = mulhilo(0xCD9E8D57u, c2);
    c0 = m1.y ^ c1 ^ k0; c1 = m1.x; c2 = m0.y ^ c3 ^ k1; c3 = m0.x;
    k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
  }
  return f32(c0 >> 8u) * (1.0 / 16777216.0);
}

// The rank (hi, lo) of the first candidate, in order, at which the
// cumulative weight exceeds (strict) or reaches frac * total; with
// count_mode, the order key of the kth largest logit (weights are counts).
// Candidates: rank >= cut, and weight >= min_p when use_minp.
fn rselect(lid : u32, xo : u32, V : u32, xmax : f32, cut : vec2<u32>, use_minp : bool,
           minp : f32, frac : f32, strict : bool, count_mode : bool, kk : u32,
           idbits4 : u32) -> vec2<u32> {
  var mask = vec2<u32>(0u, 0u);
  if (idbits4 < 32u) { mask.y = ~((1u << idbits4) - 1u); }
  var pre = vec2<u32>(0u, mask.y);
  var npass = 8u;
  if (!count_mode) { npass += idbits4 / 4u; }
  if (lid == 0u) { wcum = 0.0; }
  for (var p = 0u; p < npass; p++) {
    var sh = 0u;
    if (p < 8u) { sh = 28u - 4u * p; } else { sh = idbits4 - 4u - 4u * (p - 8u); }
    var lw : array<f32, 16>;
    var lc : array<u32, 16>;
    for (var b = 0u; b < 16u; b++) { lw[b] = 0.0; lc[b] = 0u; }
    for (var i = lid; i < V; i += WG) {
      let x = LG[xo + i];
      let hi = okey(x); let lo = ~i;
      if ((hi & mask.x) != pre.x || (lo & mask.y) != pre.y) { continue; }
      if (hi < cut.x || (hi == cut.x && lo < cut.y)) { continue; }
      let e = exp(x - xmax);
      if (use_minp && !(e >= minp)) { continue; }
      var dg : u32;
      if (p < 8u) { dg = (hi >> sh) & 15u; } else { dg = (lo >> sh) & 15u; }
      lw[dg] += select(e, 1.0, count_mode);
      lc[dg] += 1u;
    }
    // each bin's WG partials: clusters of CL lanes (butterflies), then the
    // WG / CL cluster sums in order
    for (var b = 0u; b < 16u; b++) {
      let cw = sg_sum(lw[b], CL);
      var cc = lc[b];
      for (var m = 1u; m < CL; m <<= 1u) { cc += sg_xoru(cc, m); }
      if (lid % CL == 0u) { hw[b * WG + lid / CL] = cw; hc[b * WG + lid / CL] = cc; }
    }
    workgroupBarrier();
    if (lid < 16u) {
      var sw = 0.0; var sc = 0u;
      for (var t = 0u; t < WG / CL; t++) { sw += hw[lid * WG + t]; sc += hc[lid * WG + t]; }
      bw[lid] = sw; bc[lid] = sc;
    }
    workgroupBarrier();
    if (lid == 0u) {
      var cum = wcum;
      if (p == 0u) {
        var tot = 0.0;
        for (var b = 15; b >= 0; b--) { tot += bw[b]; }
        if (count_mode) { wT = f32(kk); } else { wT = frac * tot; }
      }
      let T = wT;
      var hit = -1;
      for (var b = 15; b >= 0; b--) {
        let nx = cum + bw[b];
        if (bc[b] > 0u && (nx > T || (!strict && nx >= T))) { hit = b; break; }
        cum = nx;
      }
      if (hit < 0) {
        for (var b = 0; b < 16; b++) { if (bc[b] > 0u) { hit = b; break; } }
        if (hit < 0) { hit = 0; }
        cum -= bw[hit];
      }
      wcum = cum;
      var np = pre;
      if (p < 8u) { np.x |= u32(hit) << sh; } else { np.y |= u32(hit) << sh; }
      wpre = np;
    }
    let np = workgroupUniformLoad(&wpre);
    pre = np;
    if (p < 8u) { mask.x |= 15u << sh; } else { mask.y |= 15u << sh; }
  }
  return pre;
}

fn neg_inf() -> f32 { return bitcast<f32>(0xff800000u | (P.a.x & 0u)); }

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(local_invocation_index) lid : u32) {
  let si = wid.x;
  let s = P.a.z + si;
  let V = P.a.y;
  let xo = P.a.x + si * V;
  let so = P.b.z + s * 8u;
  let maxc = i32(P.b.x);
  if (lid == 0u) { wst = vec3<i32>(S[so], S[so + 1u], S[so + 2u]); }
  let st = workgroupUniformLoad(&wst);
  let pos = st.x;
  let rp = P.f.w;
  if (rp != 1.0) {
    let hi = min(pos, maxc);
    let rln = bitcast<i32>(P.c.w);
    var lo = 0;
    if (rln >= 0) { lo = max(0, pos - rln); }
    let hb = P.b.w + s * P.b.x;
    let sb = si * P.d.w;
    for (var j = lo + i32(lid); j < hi; j += i32(WG)) {
      let t = H[hb + u32(j)];
      if (t >= 0 && u32(t) < V) {
        let bit = 1u << (u32(t) & 31u);
        let old = atomicOr(&SEEN[sb + (u32(t) >> 5u)], bit);
        if ((old & bit) == 0u) {
          let x = LG[xo + u32(t)];
          LG[xo + u32(t)] = select(x * rp, x / rp, x > 0.0);
        }
      }
    }
    storageBarrier();
    workgroupBarrier();
    for (var j = lo + i32(lid); j < hi; j += i32(WG)) {
      let t = H[hb + u32(j)];
      if (t >= 0 && u32(t) < V) { atomicStore(&SEEN[sb + (u32(t) >> 5u)], 0u); }
    }
    storageBarrier();
    workgroupBarrier();
  }
  var tok = 0u;
  let temp = P.f.x;
  if (temp == 0.0) {
    var best = neg_inf();
    var bid = 0xffffffffu;
    if (rp == 1.0 && P.a.w > 0u) {
      // argmax_part's NB = (V + 1023) / 1024 pairs of this sequence
      let nb = (V + 1023u) / 1024u;
      for (var i = lid; i < nb; i += WG) {
        let x = bitcast<f32>(atomicLoad(&SEEN[P.a.w + (si * nb + i) * 2u]));
        let id = atomicLoad(&SEEN[P.a.w + (si * nb + i) * 2u + 1u]);
        if (x > best || (x == best && id < bid)) { best = x; bid = id; }
      }
    } else {
      for (var i = lid; i < V; i += WG) {
        let x = LG[xo + i];
        if (x > best) { best = x; bid = i; }
      }
    }
    redf[lid] = best; redi[lid] = bid;
    workgroupBarrier();
    for (var w = WG / 2u; w > 0u; w >>= 1u) {
      if (lid < w) {
        let x = redf[lid + w]; let id = redi[lid + w];
        if (x > redf[lid] || (x == redf[lid] && id < redi[lid])) { redf[lid] = x; redi[lid] = id; }
      }
      workgroupBarrier();
    }
    tok = redi[0];
    if (tok == 0xffffffffu) { tok = 0u; }
  } else {
    var lmax = neg_inf();
    for (var i = lid; i < V; i += WG) {
      var v = LG[xo + i] / temp;
      if (is_nan(v)) { v = neg_inf(); }
      if (v > 3.4e38) { v = 3.4e38; }
      LG[xo + i] = v;
      lmax = max(lmax, v);
    }
    var cm = lmax;
    for (var m = 1u; m < CL; m <<= 1u) { cm = max(cm, sg_xor(cm, m)); }
    if (lid % CL == 0u) { redf[lid / CL] = cm; }
    storageBarrier();
    workgroupBarrier();
    for (var w = WG / CL / 2u; w > 0u; w >>= 1u) {
      if (lid < w) { redf[lid] = max(redf[lid], redf[lid + w]); }
      workgroupBarrier();
    }
    if (lid == 0u) { wmax = redf[0]; }
    let xmax = workgroupUniformLoad(&wmax);
    var idbits = 32u - countLeadingZeros(max(V - 1u, 1u));
    idbits = (idbits + 3u) & ~3u;
    var cut = vec2<u32>(0u, 0u);
    let k = P.c.z;
    if (k > 0u && k < V) {
      let kv = rselect(lid, xo, V, xmax, cut, false, 0.0, 0.0, false, true, k, idbits);
      cut = vec2<u32>(kv.x, 0u);
    }
    if (P.f.y < 1.0) {
      cut = rselect(lid, xo, V, xmax, cut, false, 0.0, P.f.y, false, false, 0u, idbits);
    }
    let u = philox_uniform(P.d.y, P.d.z, s, bitcast<u32>(st.z));
    let r = rselect(lid, xo, V, xmax, cut, P.f.z > 0.0, P.f.z, u, true, false, 0u, idbits);
    tok = ~r.y;
  }
  if (lid == 0u) {
    if (pos >= 0 && pos < maxc) { H[P.b.w + s * P.b.x + u32(pos)] = i32(tok); }
    NX[P.c.x + s] = i32(tok);
    RG[P.c.y + s * P.b.y + u32(st.y) % P.b.y] = i32(tok);
    S[so + 1u] = st.y + 1;
    S[so + 2u] = bitcast<i32>(bitcast<u32>(st.z) + 1u);
    var eos = false;
    for (var e = 0u; e < min(P.d.x, 8u); e++) {
      var id : u32;
      if (e < 4u) { id = P.e[e]; } else { id = P.g[e - 4u]; }
      if (id == tok) { eos = true; }
    }
    if (eos) { S[so + 3u] = 1; }
  }
}
