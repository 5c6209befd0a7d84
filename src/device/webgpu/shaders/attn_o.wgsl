// Decode attention and the output projection that reads it, in one dispatch
// (a captured step; webgpu_ops.c fuse_attn_o): workgroups [0, x.x) run
// attn_dec.wgsl with arguments p1, the next x.y run mvx.wgsl (one segment,
// any weight type, STAGE off, no norm, no GLU) with arguments p2 over the attention's
// output. Every (row, KV head) group's writer bumps counter x.z of PT after
// its output (att_done); an mvx workgroup first waits for x.w of those. No
// workgroup waits on one that has not started: workgroups start in index
// order (NVIDIA, lavapipe's pool), the attention ones first, and those never
// wait. Before waiting (mvx_wait), an mvx workgroup issues its first round
// of weight loads (their memory latency overlaps the attention); after, it
// stages the attention's output in workgroup memory. The last mvx workgroup past the
// wait resets both counters (x.z, x.z + 1) for the next dispatch.
// A is the window of the activations that holds x, q, k, v and the
// attention's output, read and written with atomics (as PT in attn_dec): a
// workgroup reads another's output from L2, never a stale L1 line. Both
// kernels do exactly their own arithmetic, so the results equal the two
// dispatches' bit for bit.
// With p0.b.x == 1 (KV caches in one buffer: binding 4 is then free for the
// norm weights) the last mvx workgroup to finish also runs the rmsnorm of
// the row it wrote, p0 (rmsnorm.wgsl's arguments and arithmetic): its input
// is complete once every mvx workgroup has counted itself in (x.z + 2).
struct Chain {
  p0 : Params,   // the rmsnorm after the projection (b.x: 1), or none (b.x: 0)
  p1 : Params,   // attention
  p2 : Params,   // output projection
  x : vec4<u32>, // attention workgroups, mvx workgroups, counter (PT), writers
};
@group(0) @binding(0) var<uniform> PC : Chain;
@group(0) @binding(1) var<storage, read_write> A : array<atomic<u32>>;
@group(0) @binding(2) var<storage, read_write> W0 : array<vec4<u32>>;
override WTYPE : u32 = 1u;
override T : u32 = 256u;
override RPW : u32 = 4u;
const U : u32 = 2u;   // (any U gives the same sums; 2 covers K <= 2 T)
const NORM : bool = false;
const GLU : u32 = 0u;
const STAGE : bool = false;
var<workgroup> wsh : array<u32, 4>;     // quantized staging (not used here)
// mvx's partial sums in attn_dec's reduction space (a workgroup runs one of them)
fn rget(i : u32) -> f32 { return red[i]; }
fn rset(i : u32, v : f32) { red[i] = v; }
fn ldw(seg : u32, i : u32) -> vec4<u32> { return W0[i]; }
fn ldq(seg : u32, i : u32) -> u32 { return W0[i >> 2u][i & 3u]; }
fn ldb(i : u32) -> f32 { return 0.0; }
fn af(i : u32) -> f32 { return bitcast<f32>(atomicLoad(&A[i])); }
fn ast(i : u32, v : f32) { atomicStore(&A[i], bitcast<u32>(v)); }
// the projection's input: the attention's output, staged in workgroup memory
// (p2.a.y is 0; p2.g.x its offset in A, p2.b.x its length)
var<workgroup> xsh : array<f32, 2048>;
fn xv4(j : u32) -> vec4<f32> { let b = j * 4u; return vec4<f32>(xsh[b], xsh[b + 1u], xsh[b + 2u], xsh[b + 3u]); }
fn xf(i : u32) -> f32 { return xsh[i]; }
fn nwv4(j : u32) -> vec4<f32> { return vec4<f32>(1.0); }
fn xnst(i : u32, v : f32) {}
fn old(i : u32) -> f32 { return af(i); }
fn ost(i : u32, v : f32) { ast(i, v); }
fn aout(i : u32, v : f32) { ast(i, v); }
fn qld(i : u32) -> f32 { return af(i); }
fn qst(i : u32, v : f32) { ast(i, v); }
fn att_done(lid : u32) {
  storageBarrier();   // (a control barrier too)
  if ((PC.p1.g.w & 2u) == 0u) { workgroupBarrier(); }
  if (lid == 0u) { atomicAdd(&PT[PC.x.z], 1u); }
}

var<workgroup> wlast_o : u32;

// rmsnorm.wgsl's row (n_rows 1, dim <= 4096, in and out in A, weights in VC)
fn norm_tail(lid : u32, P : Params) {
  let dim = P.a.w;
  var xv : array<f32, 16>;
  var wv : array<f32, 16>;
  var ss = 0.0;
  for (var k = 0u; k < 16u; k++) {
    let i = min(lid + 256u * k, dim - 1u);
    xv[k] = af(P.a.y + i);
    let wi = P.a.z + i;
    wv[k] = VC[wi >> 2u][wi & 3u];
  }
  for (var k = 0u; k < 16u; k++) { if (lid + 256u * k < dim) { ss += xv[k] * xv[k]; } }
  let cs = sg_sum(ss, SG);
  workgroupBarrier();
  if (lid % SG == 0u) { red[lid / SG] = cs; }
  workgroupBarrier();
  var tot : f32;
  if (SG >= 8u) {
    var tv : array<f32, 32>;   // (rmsnorm.wgsl's tree in registers)
    for (var i = 0u; i < 256u / SG; i++) { tv[i] = red[i]; }
    tot = tree_sum(tv, 256u / SG);
  } else {
    for (var s = 128u / SG; s > 0u; s >>= 1u) {
      if (lid < s) { red[lid] += red[lid + s]; }
      workgroupBarrier();
    }
    tot = red[0];
  }
  let scale = 1.0 / sqrt(tot / f32(dim) + P.f.x);
  for (var k = 0u; k < 16u; k++) {
    let i = lid + 256u * k;
    if (i < dim) { ast(P.a.x + i, xv[k] * scale * wv[k]); }
  }
}

// The projection's wait (its first round of weight loads in flight): the
// attention's writers all counted in (the last mvx workgroup past it resets
// the counters), then the attention's output staged.
fn mvx_wait(M : u32, lid : u32) {
  if (lid == 0u) {
    loop {
      if (atomicLoad(&PT[PC.x.z]) >= PC.x.w) { break; }
    }
    if (atomicAdd(&PT[PC.x.z + 1u], 1u) == PC.x.y - 1u) {
      atomicStore(&PT[PC.x.z + 1u], 0u);
      atomicStore(&PT[PC.x.z], 0u);
    }
  }
  storageBarrier();   // (a control barrier too)
  if ((PC.p1.g.w & 2u) == 0u) { workgroupBarrier(); }
  for (var i = lid; i < PC.p2.b.x; i += 256u) { xsh[i] = af(PC.p2.g.x + i); }
  workgroupBarrier();
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  let L = wg_linear(wid, nwg);
  if (L < PC.x.x) {
    attn_main(L, lid);
    return;
  }
  let M = L - PC.x.x;
  if (M >= PC.x.y) { return; }
  mvx_main(M, lid);
  if (PC.p0.b.x == 0u) { return; }
  storageBarrier();   // (a control barrier too)
  if ((PC.p1.g.w & 2u) == 0u) { workgroupBarrier(); }
  if (lid == 0u) {
    var last = 0u;
    if (atomicAdd(&PT[PC.x.z + 2u], 1u) == PC.x.y - 1u) {
      atomicStore(&PT[PC.x.z + 2u], 0u);
      last = 1u;
    }
    wlast_o = last;
  }
  if (workgroupUniformLoad(&wlast_o) == 0u) { return; }
  norm_tail(lid, PC.p0);
}
