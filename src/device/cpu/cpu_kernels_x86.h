/* Helpers shared by the AVX2 and AVX-512 kernel files (both compiled with
 * AVX2, F16C and FMA at least): an f16 scalar, the output store of a
 * matmul tile, and one Q8_0 / Q4_0 weight block in 256 bits. */
#ifndef GRT_CPU_KERNELS_X86_H
#define GRT_CPU_KERNELS_X86_H

#include <immintrin.h>
#include <string.h>

#include "device/cpu/cpu_internal.h"

#define INLINE static inline __attribute__((always_inline))

INLINE float load_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* out[r, n] (+)= v + bias[n] */
INLINE void store_out(const cpu_mm *m, int64_t r, int64_t n, float v) {
    if (m->bias) v += m->bias[n];
    float *o = m->out + r * m->N + n;
    *o = m->accumulate ? *o + v : v;
}

/* Weight block b as 32 int8 values (Q4_0: the raw nibbles 0..15, low then
 * high halves as GGUF orders them) and its scale in *d. */
INLINE __m256i ldq1(grt_dtype t, const uint8_t *w, int64_t b, float *d) {
    if (t == GRT_Q8_0) {
        const uint8_t *p = w + b * sizeof(grt_block_q8_0);
        *d = load_f16(p);
        return _mm256_loadu_si256((const __m256i *)(p + 2));
    }
    const uint8_t *p = w + b * sizeof(grt_block_q4_0);
    *d = load_f16(p);
    __m128i q = _mm_loadu_si128((const __m128i *)(p + 2));
    __m128i m4 = _mm_set1_epi8(0x0f);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
}

#endif
