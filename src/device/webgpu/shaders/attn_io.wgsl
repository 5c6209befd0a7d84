// attn_dec.wgsl as a kernel of its own: its output and q bindings and the
// entry point (attn_o.wgsl has others).
@group(0) @binding(1) var<storage, read_write> O : array<f32>;
@group(0) @binding(2) var<storage, read_write> Q : array<f32>;
fn aout(i : u32, v : f32) { O[i] = v; }
fn qld(i : u32) -> f32 { return Q[i]; }
fn qst(i : u32, v : f32) { Q[i] = v; }
fn att_done(lid : u32) {}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  attn_main(wg_linear(wid, nwg), lid);
}
