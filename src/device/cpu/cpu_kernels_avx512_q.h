/* The quantized-weight tile of cpu_kernels_avx512.c, included twice: as
 * QTILE without and with QTILE_VNNI (AVX512-VNNI vpdpbusd).
 *
 * Without VNNI, Q8_0 sums w * x as |w| * (x with w's sign) (unsigned x
 * signed bytes, maddubs + madd). With VNNI, Q8_0 sums (w + 128) * x and takes
 * 128 * sum(x) off again through the activation block sums xs. Q4_0 nibbles
 * are unsigned already; their -8 offset comes off through xs the same way.
 * Each block spreads over 8 int32 lanes, so a per-lane correction of c * xs
 * removes 8 * c * xs from the block (c = 16 for the +128, 1 for the -8). */
INLINE void QTILE(const cpu_mm *m, grt_dtype t, const int R, const int C, int64_t r, int64_t n) {
    const int64_t K = m->K, nb = K / GRT_QK;
#ifndef QTILE_VNNI
    const __m512i ones = _mm512_set1_epi16(1);
#endif
    __m512 acc[4][4];
    const uint8_t *w[4];
    const int8_t *xq[4];
    const float *xd[4], *xs[4];
    #pragma GCC unroll 4
    for (int j = 0; j < C; j++) w[j] = m->w + (size_t)(n + j) * m->w_row;
    #pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
        xq[i] = m->xq + (r + i) * K;
        xd[i] = m->xd + (r + i) * nb;
        xs[i] = m->xs + (r + i) * nb;
        #pragma GCC unroll 4
        for (int j = 0; j < C; j++) acc[i][j] = _mm512_setzero_ps();
    }
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        __m512i wv[4];
        __m512 dw[4];
#ifndef QTILE_VNNI
        __mmask64 neg[4];
#endif
        #pragma GCC unroll 4
        for (int j = 0; j < C; j++) {
            _mm_prefetch((const char *)w[j] + (size_t)b * (t == GRT_Q8_0 ? 34 : 18) + 1024, _MM_HINT_T0);
            wv[j] = ldq2(t, w[j], b, &dw[j]);
#ifdef QTILE_VNNI
            if (t == GRT_Q8_0) wv[j] = _mm512_xor_si512(wv[j], _mm512_set1_epi8((char)0x80));
#else
            if (t == GRT_Q8_0) {
                neg[j] = _mm512_movepi8_mask(wv[j]);
                wv[j] = _mm512_abs_epi8(wv[j]);
            }
#endif
        }
        #pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            __m512i xv = _mm512_loadu_si512(xq[i] + b * GRT_QK);
            __m512 dx = two(xd[i] + b);
#ifdef QTILE_VNNI
            __m512 sx = _mm512_mul_ps(two(xs[i] + b), _mm512_set1_ps(t == GRT_Q8_0 ? 16.0f : 1.0f));
#else
            __m512 sx = t == GRT_Q4_0 ? two(xs[i] + b) : _mm512_setzero_ps();
#endif
            #pragma GCC unroll 4
            for (int j = 0; j < C; j++) {
#ifdef QTILE_VNNI
                __m512 f = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), wv[j], xv));
                __m512 v = _mm512_fmsub_ps(f, dx, sx);
#else
                __m512i xs_ = t == GRT_Q8_0 ? _mm512_mask_sub_epi8(xv, neg[j], _mm512_setzero_si512(), xv) : xv;
                __m512i p = _mm512_madd_epi16(_mm512_maddubs_epi16(wv[j], xs_), ones);
                __m512 f = _mm512_cvtepi32_ps(p);
                __m512 v = t == GRT_Q4_0 ? _mm512_fmsub_ps(f, dx, sx) : _mm512_mul_ps(f, dx);
#endif
                acc[i][j] = _mm512_fmadd_ps(v, dw[j], acc[i][j]);
            }
        }
    }
    float tail[4][4] = {{0}};
    if (b < nb) {
        const __m256i ones8 = _mm256_set1_epi16(1);
        __m256i wv[4];
        float dw[4];
        #pragma GCC unroll 4
        for (int j = 0; j < C; j++) wv[j] = ldq1(t, w[j], b, &dw[j]);
        #pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)(xq[i] + b * GRT_QK));
            #pragma GCC unroll 4
            for (int j = 0; j < C; j++) {
                __m256i p;
                if (t == GRT_Q8_0)
                    p = _mm256_maddubs_epi16(_mm256_sign_epi8(wv[j], wv[j]), _mm256_sign_epi8(xv, wv[j]));
                else
                    p = _mm256_maddubs_epi16(wv[j], xv);
                __m256 f = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones8));
                __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1));
                s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
                s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));
                float isum = _mm_cvtss_f32(s4);
                float v = isum * xd[i][b];
                if (t == GRT_Q4_0) v -= 8.0f * xs[i][b];
                tail[i][j] = v * dw[j];
            }
        }
    }
    #pragma GCC unroll 4
    for (int i = 0; i < R; i++)
        #pragma GCC unroll 4
        for (int j = 0; j < C; j++)
            store_out(m, r + i, n + j, _mm512_reduce_add_ps(acc[i][j]) + tail[i][j]);
}

