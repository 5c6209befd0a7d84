/* AVX-512 (F, BW, VL, DQ) kernels. Matmul works on tiles of R activation
 * rows x C weight rows (R <= 4, C = 4 or 1): each weight vector loaded from
 * memory is used for R rows, each activation vector for C outputs. Decode
 * (one row) streams four weight rows at once. Quantized weights multiply
 * Q8_0-quantized activations with 8-bit integer dot products, two 32-element
 * blocks per 512-bit register. */
#include "device/cpu/cpu_kernels_x86.h"

enum { ROW_BLOCK = 64 }; /* activation rows kept hot while weight tiles stream */

/* ---------------------------------------------------------------- float weights */

INLINE __m512 ldw(grt_dtype t, const uint8_t *w, int64_t k) {
    if (t == GRT_F32) return _mm512_loadu_ps(w + 4 * k);
    __m256i h = _mm256_loadu_si256((const __m256i *)(w + 2 * k));
    if (t == GRT_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

INLINE __m512 ldw_mask(grt_dtype t, const uint8_t *w, int64_t k, __mmask16 m) {
    if (t == GRT_F32) return _mm512_maskz_loadu_ps(m, w + 4 * k);
    __m256i h = _mm256_maskz_loadu_epi16(m, w + 2 * k);
    if (t == GRT_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

INLINE void tile_float(const cpu_mm *m, grt_dtype t, const int R, const int C, int64_t r, int64_t n) {
    const int64_t K = m->K;
    __m512 acc[4][4];
    const uint8_t *w[4];
    const float *x[4];
    #pragma GCC unroll 4
    for (int j = 0; j < C; j++) w[j] = m->w + (size_t)(n + j) * m->w_row;
    #pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
        x[i] = m->x + (r + i) * K;
        #pragma GCC unroll 4
        for (int j = 0; j < C; j++) acc[i][j] = _mm512_setzero_ps();
    }
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        __m512 wv[4];
        #pragma GCC unroll 4
        for (int j = 0; j < C; j++) wv[j] = ldw(t, w[j], k);
        #pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            __m512 xv = _mm512_loadu_ps(x[i] + k);
            #pragma GCC unroll 4
            for (int j = 0; j < C; j++) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
        }
    }
    if (k < K) {
        __mmask16 mk = (__mmask16)((1u << (K - k)) - 1);
        __m512 wv[4];
        #pragma GCC unroll 4
        for (int j = 0; j < C; j++) wv[j] = ldw_mask(t, w[j], k, mk);
        #pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            __m512 xv = _mm512_maskz_loadu_ps(mk, x[i] + k);
            #pragma GCC unroll 4
            for (int j = 0; j < C; j++) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
        }
    }
    #pragma GCC unroll 4
    for (int i = 0; i < R; i++)
        #pragma GCC unroll 4
        for (int j = 0; j < C; j++) store_out(m, r + i, n + j, _mm512_reduce_add_ps(acc[i][j]));
}

/* ---------------------------------------------------------------- quantized weights */

/* Two weight blocks (b, b + 1) as 64 int8 values, and their scales as
 * [d_b x 8, d_b+1 x 8]. Q4_0 values are the raw nibbles 0..15. */
INLINE __m512i ldq2(grt_dtype t, const uint8_t *w, int64_t b, __m512 *dv) {
    if (t == GRT_Q8_0) {
        const uint8_t *p = w + b * sizeof(grt_block_q8_0);
        *dv = _mm512_insertf32x8(_mm512_set1_ps(load_f16(p)),
                                 _mm256_set1_ps(load_f16(p + sizeof(grt_block_q8_0))), 1);
        __m256i lo = _mm256_loadu_si256((const __m256i *)(p + 2));
        __m256i hi = _mm256_loadu_si256((const __m256i *)(p + 2 + sizeof(grt_block_q8_0)));
        return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    }
    const uint8_t *p = w + b * sizeof(grt_block_q4_0);
    *dv = _mm512_insertf32x8(_mm512_set1_ps(load_f16(p)),
                             _mm256_set1_ps(load_f16(p + sizeof(grt_block_q4_0))), 1);
    __m128i q0 = _mm_loadu_si128((const __m128i *)(p + 2));
    __m128i q1 = _mm_loadu_si128((const __m128i *)(p + 2 + sizeof(grt_block_q4_0)));
    __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(q0), q1, 1);
    __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    /* [q0 lo, q1 lo, q0 hi, q1 hi] -> [q0 lo, q0 hi, q1 lo, q1 hi] */
    __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
}

INLINE __m512 two(const float *p) {
    return _mm512_insertf32x8(_mm512_set1_ps(p[0]), _mm256_set1_ps(p[1]), 1);
}

#define QTILE tile_quant
#include "device/cpu/cpu_kernels_avx512_q.h"
#undef QTILE

/* The same with AVX512-VNNI dot products (vpdpbusd), chosen at run time. */
#pragma GCC push_options
#pragma GCC target("avx512vnni")
#define QTILE tile_quant_vnni
#define QTILE_VNNI 1
#include "device/cpu/cpu_kernels_avx512_q.h"
#undef QTILE
#undef QTILE_VNNI
#pragma GCC pop_options

/* ---------------------------------------------------------------- drivers */

#define TILE_CASES(FN, T)                                                     \
    switch (rr * 8 + c) {                                                     \
    case 1 * 8 + 4: FN(m, T, 1, 4, r, n); break;                              \
    case 2 * 8 + 4: FN(m, T, 2, 4, r, n); break;                              \
    case 3 * 8 + 4: FN(m, T, 3, 4, r, n); break;                              \
    case 4 * 8 + 4: FN(m, T, 4, 4, r, n); break;                              \
    case 1 * 8 + 1: FN(m, T, 1, 1, r, n); break;                              \
    case 2 * 8 + 1: FN(m, T, 2, 1, r, n); break;                              \
    case 3 * 8 + 1: FN(m, T, 3, 1, r, n); break;                              \
    case 4 * 8 + 1: FN(m, T, 4, 1, r, n); break;                              \
    }

#define DRIVER(NAME, FN, T)                                                   \
    static void NAME(const cpu_mm *m, int64_t r0, int64_t r1, int64_t n0, int64_t n1) { \
        for (int64_t rb = r0; rb < r1; rb += ROW_BLOCK) {                     \
            int64_t re = rb + ROW_BLOCK < r1 ? rb + ROW_BLOCK : r1;           \
            for (int64_t n = n0; n < n1;) {                                   \
                int c = n1 - n >= 4 ? 4 : 1;                                  \
                for (int64_t r = rb; r < re; r += 4) {                        \
                    int rr = re - r >= 4 ? 4 : (int)(re - r);                 \
                    TILE_CASES(FN, T)                                         \
                }                                                             \
                n += c;                                                       \
            }                                                                 \
        }                                                                     \
    }

DRIVER(mm_f32, tile_float, GRT_F32)
DRIVER(mm_f16, tile_float, GRT_F16)
DRIVER(mm_bf16, tile_float, GRT_BF16)
DRIVER(mm_q8_0, tile_quant, GRT_Q8_0)
DRIVER(mm_q4_0, tile_quant, GRT_Q4_0)
#pragma GCC push_options
#pragma GCC target("avx512vnni")
DRIVER(mm_q8_0_vnni, tile_quant_vnni, GRT_Q8_0)
DRIVER(mm_q4_0_vnni, tile_quant_vnni, GRT_Q4_0)
#pragma GCC pop_options

static void matmul(const cpu_mm *m, int64_t r0, int64_t r1, int64_t n0, int64_t n1) {
    switch (m->wtype) {
    case GRT_F32: mm_f32(m, r0, r1, n0, n1); break;
    case GRT_F16: mm_f16(m, r0, r1, n0, n1); break;
    case GRT_BF16: mm_bf16(m, r0, r1, n0, n1); break;
    case GRT_Q8_0: (m->vnni ? mm_q8_0_vnni : mm_q8_0)(m, r0, r1, n0, n1); break;
    case GRT_Q4_0: (m->vnni ? mm_q4_0_vnni : mm_q4_0)(m, r0, r1, n0, n1); break;
    default: break;
    }
}

/* ---------------------------------------------------------------- vectors */

static void quantize_q8(const float *x, int8_t *q, float *d, float *s, int64_t K) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t b = 0; b < K / GRT_QK; b++) {
        __m512 a = _mm512_loadu_ps(x + b * GRT_QK), c = _mm512_loadu_ps(x + b * GRT_QK + 16);
        __m512 mx = _mm512_max_ps(_mm512_andnot_ps(sign, a), _mm512_andnot_ps(sign, c));
        float amax = _mm512_reduce_max_ps(mx);
        float id = amax > 0 ? 127.0f / amax : 0.0f;
        __m512i qa = _mm512_cvtps_epi32(_mm512_mul_ps(a, _mm512_set1_ps(id)));
        __m512i qc = _mm512_cvtps_epi32(_mm512_mul_ps(c, _mm512_set1_ps(id)));
        _mm_storeu_si128((__m128i *)(q + b * GRT_QK), _mm512_cvtsepi32_epi8(qa));
        _mm_storeu_si128((__m128i *)(q + b * GRT_QK + 16), _mm512_cvtsepi32_epi8(qc));
        d[b] = amax / 127.0f;
        s[b] = d[b] * (float)_mm512_reduce_add_epi32(_mm512_add_epi32(qa, qc));
    }
}

static float dot(const float *a, const float *b, int64_t n) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
    }
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

static void scale_add(float *y, float a, const float *x, float b, int64_t n) {
    __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 yv = _mm512_maskz_loadu_ps(m, y + i), xv = _mm512_maskz_loadu_ps(m, x + i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(xv, vb, _mm512_mul_ps(yv, va)));
    }
}

const cpu_kernels cpu_kernels_avx512 = {
    .name = "avx512",
    .quantize_q8 = quantize_q8,
    .matmul = matmul,
    .dot = dot,
    .scale_add = scale_add,
};
