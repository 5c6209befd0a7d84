// What the mvx chain kernels (mvx2.wgsl, mvx3.wgsl) share: the activation
// window A, read and written with atomics (a workgroup never sees a stale L1
// line of another's output); the partial sums and the staged input vector
// in workgroup memory (a workgroup runs one instance); and the accessors
// every mvx.wgsl instance uses alike (webgpu_ops.c leaves their names
// unsuffixed). Each kernel declares A and its own per-instance accessors.
var<workgroup> red2 : array<f32, 2048>; // partial sums
var<workgroup> xsh : array<f32, 2048>;  // the staged input
var<workgroup> wsh : array<u32, 4>;     // quantized staging (STAGE off: not used)
fn af(i : u32) -> f32 { return bitcast<f32>(atomicLoad(&A[i])); }
fn ast(i : u32, v : f32) { atomicStore(&A[i], bitcast<u32>(v)); }
fn rget(i : u32) -> f32 { return red2[i]; }
fn rset(i : u32, v : f32) { red2[i] = v; }
fn xv4(j : u32) -> vec4<f32> { let b = j * 4u; return vec4<f32>(xsh[b], xsh[b + 1u], xsh[b + 2u], xsh[b + 3u]); }
fn xf(i : u32) -> f32 { return xsh[i]; }
fn old(i : u32) -> f32 { return af(i); }
fn ost(i : u32, v : f32) { ast(i, v); }
fn ldb(i : u32) -> f32 { return 0.0; }

// n floats from A at off into xsh
fn stage(lid : u32, off : u32, n : u32) {
  for (var i = lid; i < n; i += 256u) { xsh[i] = af(off + i); }
  workgroupBarrier();
}
