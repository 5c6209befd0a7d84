// out = act(gate) * up, elementwise.  a: out off, gate off, up off, n
// ACT: 0 silu, 1 gelu (tanh).  ALIAS: 1 gate is out, 2 up is out, 3 both
// (the aliased binding is then unused).
override ACT : u32 = 0u;
override ALIAS : u32 = 0u;
@group(0) @binding(1) var<storage, read_write> O : array<f32>;
@group(0) @binding(2) var<storage, read_write> G : array<f32>;
@group(0) @binding(3) var<storage, read_write> U : array<f32>;
fn tanh_f(x : f32) -> f32 {
  let a = min(abs(x), 20.0);
  let e = exp(2.0 * a);
  return sign(x) * (1.0 - 2.0 / (e + 1.0));
}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  let i = wg_linear(wid, nwg) * 256u + lid;
  if (i >= P.a.w) { return; }
  var g : f32;
  if ((ALIAS & 1u) != 0u) { g = O[P.a.x + i]; } else { g = G[P.a.y + i]; }
  var u : f32;
  if ((ALIAS & 2u) != 0u) { u = O[P.a.x + i]; } else { u = U[P.a.z + i]; }
  var v : f32;
  if (ACT == 0u) { v = g / (1.0 + exp(-g)) * u; }
  else { v = 0.5 * g * (1.0 + tanh_f(0.7978845608028654 * (g + 0.044715 * g * g * g))) * u; }
  O[P.a.x + i] = v;
}
