// Two decode matvecs in one dispatch (a captured step; webgpu_ops.c
// fuse_mvx2), e.g. a layer's down projection and the next layer's q/k/v (with
// the rmsnorm folded in): mvx.wgsl twice, as instances _a and _b (their
// names suffixed, arguments p1 and p2). Workgroups [0, x.x) run _a, the next
// x.y run _b once every _a workgroup has counted itself in (counter x.z of
// PT); a workgroup of either issues its first round of weight loads before
// its wait (mvx_wait_a, mvx_wait_b: the _b ones' loads overlap the _a kernel).
// No workgroup waits on one that has not started (workgroups start in index
// order, the _a ones first, and those never wait); the last _b workgroup past
// the wait resets the counters (x.z, x.z + 1). A: the window of the
// activations both read and write, with atomics (a workgroup never sees a
// stale L1 line of another's output); each instance's input vector is staged
// in workgroup memory (a.y is 0; g.x its offset in A, b.x its length); x.w
// 1 (GENRT_WEBGPU_STEP bar 2): one barrier before a counter, not two. Each
// instance does exactly mvx's arithmetic: the results equal the two
// dispatches' bit for bit.
struct Chain {
  p0 : Params,   // (unused)
  p1 : Params,   // instance _a
  p2 : Params,   // instance _b
  x : vec4<u32>, // _a workgroups, _b workgroups, counter (PT), forms
};
@group(0) @binding(0) var<uniform> PC : Chain;
@group(0) @binding(1) var<storage, read_write> A : array<atomic<u32>>;
@group(0) @binding(2) var<storage, read_write> WA : array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> WB0 : array<vec4<u32>>;
@group(0) @binding(4) var<storage, read_write> WB1 : array<vec4<u32>>;
@group(0) @binding(5) var<storage, read_write> WB2 : array<vec4<u32>>;
@group(0) @binding(6) var<storage, read_write> NWB : array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> PT : array<atomic<u32>>;
override WTYPE_a : u32 = 1u;
override T_a : u32 = 256u;
override RPW_a : u32 = 4u;
override WTYPE_b : u32 = 1u;
override T_b : u32 = 256u;
override RPW_b : u32 = 4u;
override NORM_b : bool = false;
const U_a : u32 = 2u;   // (any U gives the same sums; 2 covers K <= 2 T)
const U_b : u32 = 2u;
const NORM_a : bool = false;
const GLU_a : u32 = 0u;
const GLU_b : u32 = 0u;
const STAGE_a : bool = false;
const STAGE_b : bool = false;
// (the accessors both instances share: mvx_chain.wgsl)
fn ldw_a(seg : u32, i : u32) -> vec4<u32> { return WA[i]; }
fn ldq_a(seg : u32, i : u32) -> u32 { return WA[i >> 2u][i & 3u]; }
fn ldw_b(seg : u32, i : u32) -> vec4<u32> {
  switch seg {
    case 0u: { return WB0[i]; }
    case 1u: { return WB1[i]; }
    default: { return WB2[i]; }
  }
}
fn ldq_b(seg : u32, i : u32) -> u32 { return ldw_b(seg, i >> 2u)[i & 3u]; }
fn nwv4_a(j : u32) -> vec4<f32> { return vec4<f32>(1.0); }
fn nwv4_b(j : u32) -> vec4<f32> { return NWB[j]; }
fn xnst_a(i : u32, v : f32) {}
fn xnst_b(i : u32, v : f32) { ast(i, v); }

// _a's wait: none, its input staged (the weights' loads are in flight)
fn mvx_wait_a(L : u32, lid : u32) { stage(lid, PC.p1.g.x, PC.p1.b.x); }

// _b's wait: every _a workgroup counted in (the last _b workgroup past it
// resets the counters), then its input staged
fn mvx_wait_b(M : u32, lid : u32) {
  if (lid == 0u) {
    loop {
      if (atomicLoad(&PT[PC.x.z]) >= PC.x.x) { break; }
    }
    if (atomicAdd(&PT[PC.x.z + 1u], 1u) == PC.x.y - 1u) {
      atomicStore(&PT[PC.x.z + 1u], 0u);
      atomicStore(&PT[PC.x.z], 0u);
    }
  }
  storageBarrier();   // (a control barrier too)
  if (PC.x.w == 0u) { workgroupBarrier(); }
  stage(lid, PC.p2.g.x, PC.p2.b.x);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  let L = wg_linear(wid, nwg);
  if (L < PC.x.x) {
    mvx_main_a(L, lid);
    storageBarrier();
    if (PC.x.w == 0u) { workgroupBarrier(); }
    if (lid == 0u) { atomicAdd(&PT[PC.x.z], 1u); }
    return;
  }
  let M = L - PC.x.x;
  if (M >= PC.x.y) { return; }
  mvx_main_b(M, lid);
}
