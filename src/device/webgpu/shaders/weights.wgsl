// Weight rows read as raw words: W is the weight binding (array<u32>), rows
// start at byte offsets. WTYPE: 0 f32, 1 f16, 2 bf16, 3 q8_0, 4 q4_0 (GGUF
// blocks of 32: an f16 scale then 32 int8, or 16 bytes of 4-bit pairs).
override WTYPE : u32 = 0u;

fn w_u8(b : u32) -> u32 { return (W[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu; }
fn w_u16(b : u32) -> u32 { return (W[b >> 2u] >> ((b & 2u) * 8u)) & 0xffffu; }
fn f16_bits(h : u32) -> f32 { return unpack2x16float(h).x; }

// Element k of the row starting at byte `row`.
fn wload(row : u32, k : u32) -> f32 {
  switch WTYPE {
    case 0u: { return bitcast<f32>(W[(row >> 2u) + k]); }
    case 1u: { return f16_bits(w_u16(row + 2u * k)); }
    case 2u: { return bitcast<f32>(w_u16(row + 2u * k) << 16u); }
    case 3u: {
      let blk = row + (k >> 5u) * 34u;
      let q = i32(w_u8(blk + 2u + (k & 31u)) << 24u) >> 24u;
      return f16_bits(w_u16(blk)) * f32(q);
    }
    default: {
      let blk = row + (k >> 5u) * 18u;
      let j = k & 31u;
      let byte = w_u8(blk + 2u + (j & 15u));
      let nib = select(byte & 15u, byte >> 4u, j >= 16u);
      return f16_bits(w_u16(blk)) * f32(i32(nib) - 8);
    }
  }
}
