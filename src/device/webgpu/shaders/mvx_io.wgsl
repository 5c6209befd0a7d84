// mvx.wgsl as a kernel of its own: its override constants, bindings, the
// accessors its body uses, and the entry point (attn_o.wgsl has others).
override WTYPE : u32 = 1u;
override T : u32 = 256u;
override RPW : u32 = 4u;
override U : u32 = 2u;
override NORM : bool = false;
override GLU : u32 = 0u;
// quantized only: each group first copies its run of T blocks of a row into
// workgroup memory with consecutive words on consecutive threads (coalesced),
// then each thread reads its block there (34 / 18-byte blocks read straight
// from memory make every warp load touch ~9 cache lines)
override STAGE : bool = false;
@group(0) @binding(1) var<storage, read_write> O : array<f32>;
@group(0) @binding(2) var<storage, read_write> X : array<vec4<f32>>;
// W0, W1, W2 (bindings 3-5) and their loads ldw (a vec4 of float weights),
// ldq (a word of quantized ones) and ldb (bias, in W1) come from a prelude:
// arrays of vec4<u32> for float weights (16-byte loads), of u32 for
// quantized ones (4-byte loads).
@group(0) @binding(6) var<storage, read_write> NW : array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> XN : array<f32>;
// partial sums (f32 bits) and, before them, staged quantized words
var<workgroup> wsh : array<u32, 2176>;
fn rget(i : u32) -> f32 { return bitcast<f32>(wsh[i]); }
fn rset(i : u32, v : f32) { wsh[i] = bitcast<u32>(v); }

fn xv4(j : u32) -> vec4<f32> { return X[j]; }
fn xf(i : u32) -> f32 { return X[i >> 2u][i & 3u]; }
fn nwv4(j : u32) -> vec4<f32> { return NW[j]; }
fn xnst(i : u32, v : f32) { XN[i] = v; }
fn old(i : u32) -> f32 { return O[i]; }
fn ost(i : u32, v : f32) { O[i] = v; }

fn mvx_wait(L : u32, lid : u32) {}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  mvx_main(wg_linear(wid, nwg), lid);
}
