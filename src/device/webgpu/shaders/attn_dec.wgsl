// Decode attention in one dispatch (flash-decoding with the merge folded in).
// One workgroup per (row, KV head, head group, split) serves G query heads of
// that KV head; a KV head's n_heads / n_kv_heads query heads make HGN (g.x)
// head groups, whose workgroups read the same keys and values (L2 serves the
// repeats). A unit is a (row, KV head, head group). The row's keys [lo, hi]
// (from the step state, window applied) are cut into spans of whole 64-key
// chunks, at least CPS (g.y) chunks each; only as many splits as the length
// needs work (the others return at once). Scores: 4 threads per key, each a
// quarter of the head's vec4s (the 4 threads read 64 contiguous bytes); all
// of a chunk's key and value loads are issued before any is used. One split:
// the output directly. Several: each writes (m, s, acc) per head to PT, then
// bumps its unit's counter; the last to arrive (counter == splits - 1) resets
// it and merges, loading every split's (m, s) at once. PT is atomic so that those reads see the
// other workgroups' writes in L2 rather than a stale L1 line.
// a: out off, q off, kc off (vec4), vc off (vec4)   b: n_rows, seq0, n_seqs,
// state off   c: n_heads, n_kv_heads, head_dim, max_ctx   d: window, NS
// (splits dispatched), partials off, counters off (words of PT: a unit's
// split counters, then with ROPE and HGN > 1 a (row, KV head)'s k counters)
// g: HGN, CPS (0 read as 1), subgroup reductions (G 1: on if not 0), step
// flags (GENRT_WEBGPU_STEP: 1 the merge in registers, 2 fewer barriers)
// f.x: scale. Workgroups: units x NS.
// One token per sequence (n_rows == n_seqs); head_dim == 4 * HD4, HD4 % 4 == 0;
// G <= 8, G * head_dim <= 2048.
// ROPE (a captured step: rope_kv.wgsl folded in, rot_dim == head_dim): Q is
// the buffer of q, k and v (e.x: k off, e.y: v off, e.z: inv_freq off in F,
// e.w: interleaved); every workgroup rotates its group's q heads and the new
// k with rope_kv's arithmetic (same bits), uses the new k and v at pos from
// workgroup memory, and the one that writes the output (the only split or
// the merging one: every other workgroup of the unit is done reading) stores
// its rotated q back. With HGN 1 it also stores k back and k, v into the
// caches; with HGN > 1 other units read that k and the caches, so every
// workgroup, done with both, bumps the (row, KV head) k counter and the
// last of the splits x HGN to arrive stores them (after its output and
// att_done: nothing in the dispatch waits for them).
override KV_SHARED : bool = false;
override HD4 : u32 = 16u;
override G : u32 = 1u;
override ROPE : bool = false;
// O (the output) and Q (q; ROPE: q, k and v) come with the entry point
// (attn_io.wgsl, or attn_o.wgsl's one window): aout stores to O, qld and qst
// load and store Q; att_done(lid) follows the output (a unit's last write).
@group(0) @binding(3) var<storage, read_write> KC : array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> VC : array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> S : array<i32>;
@group(0) @binding(6) var<storage, read_write> PT : array<atomic<u32>>;
@group(0) @binding(7) var<storage, read_write> F : array<f32>;
var<workgroup> kn : array<vec4<f32>, HD4>;   // ROPE: the new key, rotated
var<workgroup> vn : array<vec4<f32>, HD4>;   // ROPE: the new value
var<workgroup> qs : array<vec4<f32>, G * HD4>;
var<workgroup> sc : array<f32, G * 64u>;      // a chunk's scores, then weights
var<workgroup> red : array<f32, 2048>;        // score quarters, reductions
var<workgroup> tr : array<f32, G * 64u>;      // tree reductions over a chunk
var<workgroup> mrun : array<f32, 8>;
var<workgroup> lrun : array<f32, 8>;
var<workgroup> fac : array<f32, 8>;
var<workgroup> wpos : i32;
var<workgroup> wlast : u32;
fn ldv(i : u32) -> vec4<f32> { if (KV_SHARED) { return KC[i]; } return VC[i]; }
fn stv(i : u32, v : vec4<f32>) { if (KV_SHARED) { KC[i] = v; } else { VC[i] = v; } }

// ROPE: the rotated q heads of the workgroup back to Q
fn rope_store_q(lid : u32, qo : u32) {
  for (var e = lid; e < G * HD4 * 4u; e += 256u) { qst(qo + e, qs[e / 4u][e % 4u]); }
}

// ROPE, by the last reader of k and the caches: the rotated k back to Q, k
// and v into the caches at pos
fn rope_store_k(lid : u32, ko : u32, kat : u32, pos : i32, maxc : i32) {
  for (var e = lid; e < HD4 * 4u; e += 256u) { qst(ko + e, kn[e / 4u][e % 4u]); }
  if (pos >= 0 && pos < maxc) {
    for (var e = lid; e < HD4; e += 256u) {
      KC[P.a.z + kat + e] = kn[e];
      stv(P.a.w + kat + e, vn[e]);
    }
  }
}

// The cache's keys (score threads: key kq, quarter u) and values (value
// threads: vec4 dq, key group kg) of the chunk from c0, clamped to hi (every
// load valid).
fn ld_chunk(c0 : i32, hi : i32, hb : u32, kvd4 : u32, kq : u32, u : u32, kg : u32, dq : u32, NKG : u32, KPT : u32,
            kr : ptr<function, array<vec4<f32>, 16>>, vr : ptr<function, array<vec4<f32>, 16>>) {
  let jk = min(c0 + i32(kq), hi);
  for (var i = 0u; i < HD4 / 4u; i++) { (*kr)[i] = KC[P.a.z + hb + u32(jk) * kvd4 + u + 4u * i]; }
  for (var t = 0u; t < KPT; t++) {
    let jv = min(c0 + i32(min(kg + NKG * t, 63u)), hi);
    (*vr)[t] = ldv(P.a.w + hb + u32(jv) * kvd4 + dq);
  }
}

// tr[g * 64 + k] for k < 64 reduced into tr[g * 64] (max or sum), all g < G,
// four entries a step (three barriers rather than six)
fn tree(lid : u32, use_max : bool) {
  for (var w = 16u; w > 0u; w = w / 4u) {
    workgroupBarrier();
    for (var e = lid; e < G * 64u; e += 256u) {
      if (e % 64u < w) {
        if (use_max) { tr[e] = max(max(tr[e], tr[e + w]), max(tr[e + 2u * w], tr[e + 3u * w])); }
        else { tr[e] = (tr[e] + tr[e + w]) + (tr[e + 2u * w] + tr[e + 3u * w]); }
      }
    }
  }
  workgroupBarrier();
}

// After a merged output: the rotated q back (and k, when no k counter
// decides it), the chain's signal, then k if this workgroup counted k last
// (fl & 2).
fn merged_tail(lid : u32, qo : u32, ko : u32, kat : u32, pos : i32, maxc : i32, kw : bool, fl : u32) {
  if (ROPE) {
    rope_store_q(lid, qo);
    if (!kw) { rope_store_k(lid, ko, kat, pos, maxc); }
  }
  att_done(lid);
  if ((fl & 2u) != 0u) { rope_store_k(lid, ko, kat, pos, maxc); }
}

// The kernel for workgroup L of the dispatch.
fn attn_main(L : u32, lid : u32) {
  let nh = P.c.x; let nkv = P.c.y; let maxc = i32(P.c.w); let NS = P.d.y;
  let HGN = max(P.g.x, 1u); let CPS = max(P.g.y, 1u);
  let hd = HD4 * 4u;
  let nu = P.b.x * nkv * HGN;                    // units
  if (L >= nu * NS) { return; }
  let sp = L % NS; let un = L / NS;
  let rk = un / HGN; let hgi = un % HGN;
  let r = rk / nkv; let kvh = rk % nkv;
  let kw = ROPE && HGN > 1u;                     // k and the caches by the k counter
  let seq = P.b.y + r;
  if (lid == 0u) { wpos = S[P.b.w + seq * 8u]; }
  let pos = workgroupUniformLoad(&wpos);
  let hi0 = min(pos, maxc - 1);
  var lo0 = 0;
  let win = i32(P.d.x);
  if (win > 0) { lo0 = max(0, pos - win + 1); }
  let len = max(hi0 - lo0 + 1, 0);
  let chunks = (len + 63) / 64;
  let nsa0 = max(min((chunks + i32(CPS) - 1) / i32(CPS), i32(NS)), 1);
  let span = max((chunks + nsa0 - 1) / nsa0, 1) * 64;
  let nsa = max((len + span - 1) / span, 1);
  if (i32(sp) >= nsa) { return; }
  let lo = lo0 + i32(sp) * span;
  let hi = min(hi0, lo + span - 1);

  let qh = (kvh * HGN + hgi) * G;                // the unit's first query head
  let qo = P.a.y + (r * nh + qh) * hd;
  let ko = P.e.x + rk * hd;
  let kat = (seq * u32(maxc) + u32(max(pos, 0))) * nkv * HD4 + kvh * HD4;
  let newk = ROPE && pos >= 0 && pos < maxc;
  let kvd4 = nkv * HD4;
  let hb = seq * u32(maxc) * kvd4 + kvh * HD4;
  let kq = lid / 4u; let u = lid % 4u;           // score threads: key, quarter
  let dq = lid % HD4; let kg = lid / HD4;        // value threads: vec4, key group
  let NKG = 256u / HD4;
  let KPT = (64u + NKG - 1u) / NKG;              // keys per value thread
  let vthr = kg < NKG;
  // the first chunk's keys and values (the cache; the new ones come below)
  // are loaded before q: their memory latency overlaps q's loads and rope
  var kr : array<vec4<f32>, 16>;
  var vr : array<vec4<f32>, 16>;
  if (lo <= hi) { ld_chunk(lo, hi, hb, kvd4, kq, u, kg, dq, NKG, KPT, &kr, &vr); }
  if (ROPE) {
    // one thread per (head of q or the new k, pair), as rope_kv.wgsl
    let half = hd / 2u;
    for (var e = lid; e < (G + 1u) * half; e += 256u) {
      let hh = e / half; let i = e % half;
      let sn = sincos(f32(pos) * F[P.e.z + i]);
      var i0 = i; var i1 = i + half;
      if (P.e.w != 0u) { i0 = 2u * i; i1 = 2u * i + 1u; }
      var base = qo + hh * hd;
      if (hh == G) { base = ko; }
      let a = qld(base + i0); let b = qld(base + i1);
      let ra = a * sn.y - b * sn.x;
      let rb = a * sn.x + b * sn.y;
      if (hh < G) {
        qs[(hh * hd + i0) / 4u][i0 % 4u] = ra;
        qs[(hh * hd + i1) / 4u][i1 % 4u] = rb;
      } else {
        kn[i0 / 4u][i0 % 4u] = ra;
        kn[i1 / 4u][i1 % 4u] = rb;
      }
    }
    for (var e = lid; e < HD4; e += 256u) {
      let b = P.e.y + rk * hd + e * 4u;
      vn[e] = vec4<f32>(qld(b), qld(b + 1u), qld(b + 2u), qld(b + 3u));
    }
  } else {
    for (var e = lid; e < G * HD4; e += 256u) {
      let b = qo + e * 4u;
      qs[e] = vec4<f32>(qld(b), qld(b + 1u), qld(b + 2u), qld(b + 3u));
    }
  }
  if (lid < G) { mrun[lid] = NEG_INF; lrun[lid] = 0.0; }
  workgroupBarrier();

  var acc : array<vec4<f32>, 8>;
  for (var g = 0u; g < G; g++) { acc[g] = vec4<f32>(0.0); }
  // one head a workgroup with subgroups (g.z != 0): a chunk's scores, max
  // and sum by butterflies (a key's 4 lanes, then SG-lane clusters), the
  // clusters' results through red; the running max and sum in registers
  // (every thread computes the same): 3 barriers a chunk instead of 11
  let sgr = G == 1u && SG >= 4u && P.g.z != 0u;
  var mr = NEG_INF;
  var lr = 0.0;
  for (var c0 = lo; c0 <= hi; c0 += 64) {
    if (c0 != lo) { ld_chunk(c0, hi, hb, kvd4, kq, u, kg, dq, NKG, KPT, &kr, &vr); }
    let jk = min(c0 + i32(kq), hi);
    for (var t = 0u; t < KPT; t++) {
      let jv = min(c0 + i32(min(kg + NKG * t, 63u)), hi);
      if (newk && jv == pos) { vr[t] = vn[dq]; }
    }
    if (newk && jk == pos) {
      for (var i = 0u; i < HD4 / 4u; i++) { kr[i] = kn[u + 4u * i]; }
    }
    if (sgr) {
      var s = 0.0;
      for (var i = 0u; i < HD4 / 4u; i++) { s += dot(kr[i], qs[u + 4u * i]); }
      s = sg_sum(s, 4u) * P.f.x;
      if (c0 + i32(kq) > hi) { s = NEG_INF; }
      var m = s;
      for (var k = 4u; k < SG; k <<= 1u) { m = max(m, sg_xor(m, k)); }
      if (lid % SG == 0u) { red[lid / SG] = m; }
      workgroupBarrier();
      var cm = mr;
      for (var i = 0u; i < 256u / SG; i++) { cm = max(cm, red[i]); }
      let f = exp(mr - cm);
      let p = exp(s - cm);
      if (u == 0u) { sc[kq] = p; }
      let cs0 = sg_sum(select(0.0, p, u == 0u), SG);
      if (lid % SG == 0u) { red[64u + lid / SG] = cs0; }
      workgroupBarrier();
      var cs = 0.0;
      for (var i = 0u; i < 256u / SG; i++) { cs += red[64u + i]; }
      lr = lr * f + cs;
      mr = cm;
      if (vthr) {
        var a = acc[0] * f;
        for (var t = 0u; t < KPT; t++) {
          let key = kg + NKG * t;
          if (key < 64u && c0 + i32(key) <= hi) { a += sc[key] * vr[t]; }
        }
        acc[0] = a;
      }
      workgroupBarrier();
      continue;
    }
    for (var g = 0u; g < G; g++) {
      var s = 0.0;
      for (var i = 0u; i < HD4 / 4u; i++) { s += dot(kr[i], qs[g * HD4 + u + 4u * i]); }
      red[g * 256u + lid] = s;
    }
    workgroupBarrier();
    for (var e = lid; e < G * 64u; e += 256u) {
      let g = e / 64u; let k = e % 64u;
      let b = g * 256u + k * 4u;
      var s = NEG_INF;
      if (c0 + i32(k) <= hi) { s = (red[b] + red[b + 1u] + red[b + 2u] + red[b + 3u]) * P.f.x; }
      sc[e] = s;
      tr[e] = s;
    }
    tree(lid, true);
    if (lid < G) {
      let cm = max(mrun[lid], tr[lid * 64u]);
      fac[lid] = exp(mrun[lid] - cm);
      mrun[lid] = cm;
    }
    workgroupBarrier();
    for (var e = lid; e < G * 64u; e += 256u) {
      let p = exp(sc[e] - mrun[e / 64u]);
      sc[e] = p;
      tr[e] = p;
    }
    tree(lid, false);
    if (lid < G) { lrun[lid] = lrun[lid] * fac[lid] + tr[lid * 64u]; }
    if (vthr) {
      for (var g = 0u; g < G; g++) {
        var a = acc[g] * fac[g];
        for (var t = 0u; t < KPT; t++) {
          let key = kg + NKG * t;
          if (key < 64u && c0 + i32(key) <= hi) { a += sc[g * 64u + key] * vr[t]; }
        }
        acc[g] = a;
      }
    }
    workgroupBarrier();
  }
  if (sgr && lid == 0u) { mrun[0] = mr; lrun[0] = lr; }

  // the value groups' sums, one head at a time
  let oo = P.a.x + (r * nh + qh) * hd;
  let ps = G * (hd + 2u);
  let pb0 = P.d.z + un * NS * ps;
  let pb = pb0 + sp * ps;
  for (var g = 0u; g < G; g++) {
    if (vthr) {
      let b = (kg * HD4 + dq) * 4u;
      red[b] = acc[g].x; red[b + 1u] = acc[g].y; red[b + 2u] = acc[g].z; red[b + 3u] = acc[g].w;
    }
    workgroupBarrier();
    if (lid < hd) {
      var o = 0.0;
      for (var k = 0u; k < NKG; k++) { o += red[k * hd + lid]; }
      if (nsa == 1) {
        var inv = 0.0;
        if (lrun[g] > 0.0) { inv = 1.0 / lrun[g]; }
        aout(oo + g * hd + lid, o * inv);
      } else {
        atomicStore(&PT[pb + 2u * G + g * hd + lid], bitcast<u32>(o));
      }
    }
    // (one head: nothing below reads red before another barrier)
    if (G > 1u || (P.g.w & 2u) == 0u) { workgroupBarrier(); }
  }
  let kc = P.d.w + nu + rk;
  let nk = u32(nsa) * HGN;
  if (nsa == 1) {
    if (ROPE) {
      rope_store_q(lid, qo);
      if (!kw) { rope_store_k(lid, ko, kat, pos, maxc); }
    }
    att_done(lid);
    if (kw) {
      if (lid == 0u) {
        var last = 0u;
        if (atomicAdd(&PT[kc], 1u) == nk - 1u) { atomicStore(&PT[kc], 0u); last = 1u; }
        wlast = last;
      }
      if (workgroupUniformLoad(&wlast) != 0u) { rope_store_k(lid, ko, kat, pos, maxc); }
    }
    return;
  }
  if (lid < G) {
    atomicStore(&PT[pb + lid], bitcast<u32>(mrun[lid]));
    atomicStore(&PT[pb + G + lid], bitcast<u32>(lrun[lid]));
  }
  storageBarrier();   // (a control barrier too)
  if ((P.g.w & 2u) == 0u) { workgroupBarrier(); }
  if (lid == 0u) {
    let c = P.d.w + un;
    let old = atomicAdd(&PT[c], 1u);
    var last = 0u;
    if (kw && atomicAdd(&PT[kc], 1u) == nk - 1u) { atomicStore(&PT[kc], 0u); last = 2u; }
    if (old == u32(nsa) - 1u) { atomicStore(&PT[c], 0u); last |= 1u; }
    wlast = last;
  }
  let fl = workgroupUniformLoad(&wlast);
  if ((fl & 1u) == 0u) {
    if ((fl & 2u) != 0u) { rope_store_k(lid, ko, kat, pos, maxc); }
    return;
  }

  let n = u32(nsa);
  if ((P.g.w & 1u) != 0u && n <= 8u && G * hd <= 256u) {
    // the merge in registers: each output thread loads every split's (m, s)
    // of its head and its value at once (one round trip, no barrier), then
    // the same weights and sums as below (same bits)
    if (lid < G * hd) {
      let g = lid / hd;
      var mv : array<f32, 8>;
      var sv : array<f32, 8>;
      var av : array<f32, 8>;
      for (var i = 0u; i < 8u; i++) {
        let b = pb0 + min(i, n - 1u) * ps;
        mv[i] = bitcast<f32>(atomicLoad(&PT[b + g]));
        sv[i] = bitcast<f32>(atomicLoad(&PT[b + G + g]));
        av[i] = bitcast<f32>(atomicLoad(&PT[b + 2u * G + lid]));
      }
      var M = NEG_INF;
      for (var i = 0u; i < 8u; i++) { if (i < n) { M = max(M, mv[i]); } }
      var tot = 0.0;
      for (var i = 0u; i < 8u; i++) { if (i < n) { tot += exp(mv[i] - M) * sv[i]; } }
      var inv = 0.0;
      if (tot > 0.0) { inv = 1.0 / tot; }
      var v = 0.0;
      for (var i = 0u; i < 8u; i++) { if (i < n) { v += (exp(mv[i] - M) * inv) * av[i]; } }
      aout(oo + lid, v);
    }
    merged_tail(lid, qo, ko, kat, pos, maxc, kw, fl);
    return;
  }
  // the merge: every split's (m, s) at once, then one weight per (split, head)
  for (var e = lid; e < n * 2u * G; e += 256u) {
    red[e] = bitcast<f32>(atomicLoad(&PT[pb0 + (e / (2u * G)) * ps + e % (2u * G)]));
  }
  workgroupBarrier();
  if (lid < G) {
    var M = NEG_INF;
    for (var i = 0u; i < n; i++) { M = max(M, red[i * 2u * G + lid]); }
    var tot = 0.0;
    for (var i = 0u; i < n; i++) { tot += exp(red[i * 2u * G + lid] - M) * red[i * 2u * G + G + lid]; }
    var inv = 0.0;
    if (tot > 0.0) { inv = 1.0 / tot; }
    for (var i = 0u; i < n; i++) { sc[i * G + lid] = exp(red[i * 2u * G + lid] - M) * inv; }
  }
  workgroupBarrier();
  for (var e = lid; e < G * hd; e += 256u) {
    let g = e / hd;
    var v = 0.0;
    for (var i = 0u; i < n; i++) { v += sc[i * G + g] * bitcast<f32>(atomicLoad(&PT[pb0 + i * ps + 2u * G + e])); }
    aout(oo + e, v);
  }
  merged_tail(lid, qo, ko, kat, pos, maxc, kw, fl);
}
