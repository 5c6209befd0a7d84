// Three decode matvecs in one dispatch (a captured step; webgpu_ops.c
// fuse_mvx3): a layer's gate/up with the GLU epilogue (maybe with the
// rmsnorm folded in), its down projection, and the next layer's q/k/v (maybe
// with the norm): mvx.wgsl three times, as instances _a, _b and _c (names
// suffixed, arguments p1, p2 and p3). Workgroups [0, x.x) run _a, the next
// x.y run _b once every _a workgroup has counted itself in (counter x.w of
// PT), the next x.z run _c once every _b one has (counter x.w + 2). Every
// workgroup issues its first round of weight loads before its wait (the
// waits' loads overlap the stages before them). No workgroup waits on one
// that has not started (workgroups start in index order, the _a ones first,
// and those never wait); the last workgroup of a stage past its wait resets
// that wait's counters (x.w, x.w + 1; x.w + 2, x.w + 3). A: the window of
// the activations every stage reads and writes, with atomics (a workgroup
// never sees a stale L1 line of another's output); each instance's input
// vector is staged in workgroup memory (a.y is 0; g.x its offset in A, b.x
// its length). Each instance does exactly mvx's arithmetic: the results
// equal the three dispatches' bit for bit. Ten storage bindings: only
// adapters that allow as many get it (mvx2.wgsl otherwise).
struct Chain {
  p1 : Params,   // instance _a (gate/up, GLU)
  p2 : Params,   // instance _b (down)
  p3 : Params,   // instance _c (q/k/v)
  x : vec4<u32>, // _a, _b, _c workgroups, first counter (PT)
};
@group(0) @binding(0) var<uniform> PC : Chain;
@group(0) @binding(1) var<storage, read_write> A : array<atomic<u32>>;
@group(0) @binding(2) var<storage, read_write> WA0 : array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> WA1 : array<vec4<u32>>;
@group(0) @binding(4) var<storage, read_write> NWA : array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> WB : array<vec4<u32>>;
@group(0) @binding(6) var<storage, read_write> WC0 : array<vec4<u32>>;
@group(0) @binding(7) var<storage, read_write> WC1 : array<vec4<u32>>;
@group(0) @binding(8) var<storage, read_write> WC2 : array<vec4<u32>>;
@group(0) @binding(9) var<storage, read_write> NWC : array<vec4<f32>>;
@group(0) @binding(10) var<storage, read_write> PT : array<atomic<u32>>;
override WTYPE_a : u32 = 1u;
override T_a : u32 = 256u;
override RPW_a : u32 = 4u;
override GLU_a : u32 = 1u;
override NORM_a : bool = false;
override WTYPE_b : u32 = 1u;
override T_b : u32 = 256u;
override RPW_b : u32 = 4u;
override WTYPE_c : u32 = 1u;
override T_c : u32 = 256u;
override RPW_c : u32 = 4u;
override NORM_c : bool = false;
const U_a : u32 = 2u;   // (any U gives the same sums; 2 covers K <= 2 T)
const U_b : u32 = 2u;
const U_c : u32 = 2u;
const NORM_b : bool = false;
const GLU_b : u32 = 0u;
const GLU_c : u32 = 0u;
const STAGE_a : bool = false;
const STAGE_b : bool = false;
const STAGE_c : bool = false;
// (the accessors the three instances share: mvx_chain.wgsl)
fn ldw_a(seg : u32, i : u32) -> vec4<u32> {
  if (seg == 0u) { return WA0[i]; }
  return WA1[i];
}
fn ldq_a(seg : u32, i : u32) -> u32 { return ldw_a(seg, i >> 2u)[i & 3u]; }
fn ldw_b(seg : u32, i : u32) -> vec4<u32> { return WB[i]; }
fn ldq_b(seg : u32, i : u32) -> u32 { return WB[i >> 2u][i & 3u]; }
fn ldw_c(seg : u32, i : u32) -> vec4<u32> {
  switch seg {
    case 0u: { return WC0[i]; }
    case 1u: { return WC1[i]; }
    default: { return WC2[i]; }
  }
}
fn ldq_c(seg : u32, i : u32) -> u32 { return ldw_c(seg, i >> 2u)[i & 3u]; }
fn nwv4_a(j : u32) -> vec4<f32> { return NWA[j]; }
fn nwv4_b(j : u32) -> vec4<f32> { return vec4<f32>(1.0); }
fn nwv4_c(j : u32) -> vec4<f32> { return NWC[j]; }
fn xnst_a(i : u32, v : f32) { ast(i, v); }
fn xnst_b(i : u32, v : f32) {}
fn xnst_c(i : u32, v : f32) { ast(i, v); }

// Wait until counter k reaches n (the stage before counted in), count this
// workgroup in at k + 1 (the last of m resets both), then stage the input.
fn wait_stage(lid : u32, k : u32, n : u32, m : u32, off : u32, len : u32) {
  if (lid == 0u) {
    loop {
      if (atomicLoad(&PT[k]) >= n) { break; }
    }
    if (atomicAdd(&PT[k + 1u], 1u) == m - 1u) {
      atomicStore(&PT[k + 1u], 0u);
      atomicStore(&PT[k], 0u);
    }
  }
  storageBarrier();   // (a control barrier too)
  stage(lid, off, len);
}

// _a's wait: none, its input staged (the weights' loads are in flight)
fn mvx_wait_a(L : u32, lid : u32) { stage(lid, PC.p1.g.x, PC.p1.b.x); }
fn mvx_wait_b(M : u32, lid : u32) { wait_stage(lid, PC.x.w, PC.x.x, PC.x.y, PC.p2.g.x, PC.p2.b.x); }
fn mvx_wait_c(M : u32, lid : u32) { wait_stage(lid, PC.x.w + 2u, PC.x.y, PC.x.z, PC.p3.g.x, PC.p3.b.x); }

// a workgroup's output written: count it in at counter k
fn count_in(lid : u32, k : u32) {
  storageBarrier();   // (a control barrier too)
  if (lid == 0u) { atomicAdd(&PT[k], 1u); }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  let L = wg_linear(wid, nwg);
  if (L < PC.x.x) {
    mvx_main_a(L, lid);
    count_in(lid, PC.x.w);
    return;
  }
  let M = L - PC.x.x;
  if (M < PC.x.y) {
    mvx_main_b(M, lid);
    count_in(lid, PC.x.w + 2u);
    return;
  }
  let C = M - PC.x.y;
  if (C >= PC.x.z) { return; }
  mvx_main_c(C, lid);
}
