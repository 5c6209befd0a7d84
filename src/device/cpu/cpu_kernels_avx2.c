/* AVX2 + FMA + F16C kernels: the layout of the AVX-512 file at half the
 * width, with tiles of R <= 2 activation rows x C = 4 or 1 weight rows so
 * the accumulators fit in 16 registers. */
#include "device/cpu/cpu_kernels_x86.h"

enum { ROW_BLOCK = 64 };

INLINE float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* ---------------------------------------------------------------- float weights */

INLINE __m256 ldw(grt_dtype t, const uint8_t *w, int64_t k) {
    if (t == GRT_F32) return _mm256_loadu_ps((const float *)(const void *)(w + 4 * k));
    __m128i h = _mm_loadu_si128((const __m128i *)(w + 2 * k));
    if (t == GRT_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

INLINE void tile_float(const cpu_mm *m, grt_dtype t, const int R, const int C, int64_t r, int64_t n) {
    const int64_t K = m->K;
    const size_t esz = t == GRT_F32 ? 4 : 2;
    __m256 acc[2][4];
    const uint8_t *w[4];
    const float *x[2];
    #pragma GCC unroll 4
    for (int j = 0; j < C; j++) w[j] = m->w + (size_t)(n + j) * m->w_row;
    #pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
        x[i] = m->x + (r + i) * K;
        #pragma GCC unroll 4
        for (int j = 0; j < C; j++) acc[i][j] = _mm256_setzero_ps();
    }
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 wv[4];
        #pragma GCC unroll 4
        for (int j = 0; j < C; j++) wv[j] = ldw(t, w[j], k);
        #pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            __m256 xv = _mm256_loadu_ps(x[i] + k);
            #pragma GCC unroll 4
            for (int j = 0; j < C; j++) acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
        }
    }
    if (k < K) { /* the last K % 8 elements through zero-padded copies */
        size_t nt = (size_t)(K - k);
        __m256 wv[4];
        #pragma GCC unroll 4
        for (int j = 0; j < C; j++) {
            uint8_t tmp[32] = {0};
            memcpy(tmp, w[j] + (size_t)k * esz, nt * esz);
            wv[j] = ldw(t, tmp, 0);
        }
        #pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            float tx[8] = {0};
            memcpy(tx, x[i] + k, nt * 4);
            __m256 xv = _mm256_loadu_ps(tx);
            #pragma GCC unroll 4
            for (int j = 0; j < C; j++) acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
        }
    }
    #pragma GCC unroll 4
    for (int i = 0; i < R; i++)
        #pragma GCC unroll 4
        for (int j = 0; j < C; j++) store_out(m, r + i, n + j, hsum8(acc[i][j]));
}

/* ---------------------------------------------------------------- quantized weights */

/* Q8_0 as |w| * (x with w's sign); Q4_0 as nibbles * x, the -8 offset
 * taken off through the activation block sums (see the AVX-512 file). */
INLINE void tile_quant(const cpu_mm *m, grt_dtype t, const int R, const int C, int64_t r, int64_t n) {
    const int64_t K = m->K, nb = K / GRT_QK;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[2][4];
    const uint8_t *w[4];
    const int8_t *xq[2];
    const float *xd[2], *xs[2];
    #pragma GCC unroll 4
    for (int j = 0; j < C; j++) w[j] = m->w + (size_t)(n + j) * m->w_row;
    #pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
        xq[i] = m->xq + (r + i) * K;
        xd[i] = m->xd + (r + i) * nb;
        xs[i] = m->xs + (r + i) * nb;
        #pragma GCC unroll 4
        for (int j = 0; j < C; j++) acc[i][j] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        __m256i wv[4], wa[4];
        __m256 dw[4];
        #pragma GCC unroll 4
        for (int j = 0; j < C; j++) {
            float d;
            wv[j] = ldq1(t, w[j], b, &d);
            dw[j] = _mm256_set1_ps(d);
            wa[j] = t == GRT_Q8_0 ? _mm256_sign_epi8(wv[j], wv[j]) : wv[j];
        }
        #pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)(xq[i] + b * GRT_QK));
            __m256 dx = _mm256_set1_ps(xd[i][b]);
            __m256 sx = _mm256_set1_ps(t == GRT_Q4_0 ? xs[i][b] : 0.0f);
            #pragma GCC unroll 4
            for (int j = 0; j < C; j++) {
                __m256i xsg = t == GRT_Q8_0 ? _mm256_sign_epi8(xv, wv[j]) : xv;
                __m256 f = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(wa[j], xsg), ones));
                __m256 v = t == GRT_Q4_0 ? _mm256_fmsub_ps(f, dx, sx) : _mm256_mul_ps(f, dx);
                acc[i][j] = _mm256_fmadd_ps(v, dw[j], acc[i][j]);
            }
        }
    }
    #pragma GCC unroll 4
    for (int i = 0; i < R; i++)
        #pragma GCC unroll 4
        for (int j = 0; j < C; j++) store_out(m, r + i, n + j, hsum8(acc[i][j]));
}

/* ---------------------------------------------------------------- drivers */

#define TILE_CASES(FN, T)                                                     \
    switch (rr * 8 + c) {                                                     \
    case 1 * 8 + 4: FN(m, T, 1, 4, r, n); break;                              \
    case 2 * 8 + 4: FN(m, T, 2, 4, r, n); break;                              \
    case 1 * 8 + 1: FN(m, T, 1, 1, r, n); break;                              \
    case 2 * 8 + 1: FN(m, T, 2, 1, r, n); break;                              \
    }

#define DRIVER(NAME, FN, T)                                                   \
    static void NAME(const cpu_mm *m, int64_t r0, int64_t r1, int64_t n0, int64_t n1) { \
        for (int64_t rb = r0; rb < r1; rb += ROW_BLOCK) {                     \
            int64_t re = rb + ROW_BLOCK < r1 ? rb + ROW_BLOCK : r1;           \
            for (int64_t n = n0; n < n1;) {                                   \
                int c = n1 - n >= 4 ? 4 : 1;                                  \
                for (int64_t r = rb; r < re; r += 2) {                        \
                    int rr = re - r >= 2 ? 2 : 1;                             \
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

static void matmul(const cpu_mm *m, int64_t r0, int64_t r1, int64_t n0, int64_t n1) {
    switch (m->wtype) {
    case GRT_F32: mm_f32(m, r0, r1, n0, n1); break;
    case GRT_F16: mm_f16(m, r0, r1, n0, n1); break;
    case GRT_BF16: mm_bf16(m, r0, r1, n0, n1); break;
    case GRT_Q8_0: mm_q8_0(m, r0, r1, n0, n1); break;
    case GRT_Q4_0: mm_q4_0(m, r0, r1, n0, n1); break;
    default: break;
    }
}

/* ---------------------------------------------------------------- vectors */

static void quantize_q8(const float *x, int8_t *q, float *d, float *s, int64_t K) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < K / GRT_QK; b++) {
        const float *xb = x + b * GRT_QK;
        __m256 v[4], mx = _mm256_setzero_ps();
        for (int j = 0; j < 4; j++) {
            v[j] = _mm256_loadu_ps(xb + 8 * j);
            mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, v[j]));
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4);
        float id = amax > 0 ? 127.0f / amax : 0.0f;
        __m256i qi[4], sum = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            qi[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], _mm256_set1_ps(id)));
            sum = _mm256_add_epi32(sum, qi[j]);
        }
        /* int32 -> int8 with saturation; packs interleave 128-bit lanes */
        __m256i p01 = _mm256_packs_epi32(qi[0], qi[1]), p23 = _mm256_packs_epi32(qi[2], qi[3]);
        __m256i p = _mm256_packs_epi16(p01, p23);
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(q + b * GRT_QK), p);
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(1, 0, 3, 2)));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(2, 3, 0, 1)));
        d[b] = amax / 127.0f;
        s[b] = d[b] * (float)_mm_cvtsi128_si32(s4);
    }
}

static float dot(const float *a, const float *b, int64_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    float s = hsum8(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static void scale_add(float *y, float a, const float *x, float b, int64_t n) {
    __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(_mm256_loadu_ps(x + i), vb, _mm256_mul_ps(_mm256_loadu_ps(y + i), va)));
    for (; i < n; i++) y[i] = y[i] * a + x[i] * b;
}

const cpu_kernels cpu_kernels_avx2 = {
    .name = "avx2",
    .quantize_q8 = quantize_q8,
    .matmul = matmul,
    .dot = dot,
    .scale_add = scale_add,
};
