/* Element types of weights and activations, and their storage layouts.
 * Quantized types follow the GGUF/ggml block layouts exactly:
 *   Q8_0: blocks of 32: { f16 d; int8 qs[32]; }        x = d * q
 *   Q4_0: blocks of 32: { f16 d; uint8 qs[16]; }       x = d * (q - 8)
 *         low nibble of qs[j] is element j, high nibble is element j + 16.
 * The numeric values are GGUF's ggml_type ids so files map directly. */
#ifndef GRT_DTYPE_H
#define GRT_DTYPE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum grt_dtype {
    GRT_F32 = 0,
    GRT_F16 = 1,
    GRT_Q4_0 = 2,
    GRT_Q8_0 = 8,
    GRT_I32 = 26,
    GRT_BF16 = 30,
    GRT_DTYPE_INVALID = -1,
} grt_dtype;

#define GRT_QK 32 /* elements per Q8_0 / Q4_0 block */

typedef struct { uint16_t d; int8_t qs[GRT_QK]; } grt_block_q8_0;      /* 34 bytes */
typedef struct { uint16_t d; uint8_t qs[GRT_QK / 2]; } grt_block_q4_0; /* 18 bytes */
_Static_assert(sizeof(grt_block_q8_0) == 34, "q8_0 block layout");
_Static_assert(sizeof(grt_block_q4_0) == 18, "q4_0 block layout");

/* Elements per block (1 for plain types) and bytes per block. */
static inline int grt_dtype_block(grt_dtype t) {
    return (t == GRT_Q8_0 || t == GRT_Q4_0) ? GRT_QK : 1;
}
static inline size_t grt_dtype_block_bytes(grt_dtype t) {
    switch (t) {
    case GRT_F32: case GRT_I32: return 4;
    case GRT_F16: case GRT_BF16: return 2;
    case GRT_Q8_0: return sizeof(grt_block_q8_0);
    case GRT_Q4_0: return sizeof(grt_block_q4_0);
    default: return 0;
    }
}
/* Bytes of a row of n elements (n a multiple of the block size). */
static inline size_t grt_row_bytes(grt_dtype t, int64_t n) {
    return (size_t)(n / grt_dtype_block(t)) * grt_dtype_block_bytes(t);
}
const char *grt_dtype_name(grt_dtype t);       /* "f32", "q4_0", ... */
grt_dtype grt_dtype_from_name(const char *s);  /* GRT_DTYPE_INVALID if unknown */

/* IEEE half and bfloat16 conversions (round to nearest even). */
static inline float grt_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline uint16_t grt_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
float grt_f16_to_f32(uint16_t h);
uint16_t grt_f32_to_f16(float f);

/* Row conversions used by loaders, the converter and reference kernels. */
void grt_dequantize_row(grt_dtype t, const void *src, float *dst, int64_t n);
/* Quantize n floats (n multiple of the block size for Q types). */
void grt_quantize_row(grt_dtype t, const float *src, void *dst, int64_t n);

#endif
