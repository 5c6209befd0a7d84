// Every kernel's arguments (Params, common.wgsl), but attn_o.wgsl's.
@group(0) @binding(0) var<uniform> P : Params;
