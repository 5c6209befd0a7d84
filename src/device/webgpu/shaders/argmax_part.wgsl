// Greedy sampling, part 1: workgroup (seq, b) finds the largest logit of
// ids [1024 b, 1024 b + 1024) (ties to the lowest id, NaN never wins) and
// writes (bits of the value, id) to SC[off + (seq * NB + b) * 2]; id 0xffffffff
// when nothing beats -inf.  sample.wgsl merges the NB pairs.
// a: logits off, V, NB, off
@group(0) @binding(1) var<storage, read_write> LG : array<f32>;
@group(0) @binding(2) var<storage, read_write> SC : array<u32>;
var<workgroup> rf : array<f32, 256>;
var<workgroup> ri : array<u32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  let L = wg_linear(wid, nwg);
  let V = P.a.y; let nb = P.a.z;
  let si = L / nb; let b = L % nb;
  let xo = P.a.x + si * V;
  var best = bitcast<f32>(0xff800000u | (P.a.x & 0u)); // -inf, not a constant expression
  var bid = 0xffffffffu;
  for (var j = 0u; j < 4u; j++) {
    let i = b * 1024u + j * 256u + lid;
    if (i < V) {
      let x = LG[xo + i];
      if (x > best) { best = x; bid = i; }
    }
  }
  // clusters of SG lanes (xor butterfly), then a tree over their winners;
  // (max, lowest id) is associative, so the order does not matter
  for (var m = 1u; m < SG; m <<= 1u) {
    let x = sg_xor(best, m); let id = sg_xoru(bid, m);
    if (x > best || (x == best && id < bid)) { best = x; bid = id; }
  }
  if (lid % SG == 0u) { rf[lid / SG] = best; ri[lid / SG] = bid; }
  workgroupBarrier();
  for (var w = 128u / SG; w > 0u; w >>= 1u) {
    if (lid < w) {
      let x = rf[lid + w]; let id = ri[lid + w];
      if (x > rf[lid] || (x == rf[lid] && id < ri[lid])) { rf[lid] = x; ri[lid] = id; }
    }
    workgroupBarrier();
  }
  if (lid == 0u) { SC[P.a.w + L * 2u] = bitcast<u32>(rf[0]); SC[P.a.w + L * 2u + 1u] = ri[0]; }
}
