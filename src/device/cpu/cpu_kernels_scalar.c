/* Portable kernels: plain C, the baseline every SIMD path is tested beside.
 * Weights are read through memcpy: mapped files need not align them. */
#include <math.h>
#include <string.h>

#include "device/cpu/cpu_internal.h"

static void quantize_q8(const float *x, int8_t *q, float *d, float *s, int64_t K) {
    for (int64_t b = 0; b < K / GRT_QK; b++) {
        const float *xb = x + b * GRT_QK;
        float amax = 0;
        for (int j = 0; j < GRT_QK; j++) amax = fmaxf(amax, fabsf(xb[j]));
        float db = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < GRT_QK; j++) {
            int v = (int)nearbyintf(xb[j] * id);
            v = v > 127 ? 127 : v < -127 ? -127 : v;
            q[b * GRT_QK + j] = (int8_t)v;
            sum += v;
        }
        d[b] = db;
        s[b] = db * (float)sum;
    }
}

static inline float load_f32(const uint8_t *p) {
    float v;
    memcpy(&v, p, 4);
    return v;
}
static inline uint16_t load_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* One output: row w (K elements of type t) against activation row r. */
static float dot_row(const cpu_mm *m, const uint8_t *w, int64_t r) {
    int64_t K = m->K;
    const float *x = m->x + r * K;
    float acc = 0;
    switch (m->wtype) {
    case GRT_F32:
        for (int64_t k = 0; k < K; k++) acc += load_f32(w + 4 * k) * x[k];
        break;
    case GRT_F16:
        for (int64_t k = 0; k < K; k++) acc += grt_f16_to_f32(load_u16(w + 2 * k)) * x[k];
        break;
    case GRT_BF16:
        for (int64_t k = 0; k < K; k++) acc += grt_bf16_to_f32(load_u16(w + 2 * k)) * x[k];
        break;
    case GRT_Q8_0: {
        const int8_t *xq = m->xq + r * K;
        const float *xd = m->xd + r * (K / GRT_QK);
        for (int64_t b = 0; b < K / GRT_QK; b++) {
            const uint8_t *blk = w + b * sizeof(grt_block_q8_0);
            const int8_t *wq = (const int8_t *)(blk + 2);
            int isum = 0;
            for (int j = 0; j < GRT_QK; j++) isum += wq[j] * xq[b * GRT_QK + j];
            acc += grt_f16_to_f32(load_u16(blk)) * xd[b] * (float)isum;
        }
        break;
    }
    case GRT_Q4_0: {
        const int8_t *xq = m->xq + r * K;
        const float *xd = m->xd + r * (K / GRT_QK);
        for (int64_t b = 0; b < K / GRT_QK; b++) {
            const uint8_t *blk = w + b * sizeof(grt_block_q4_0);
            const uint8_t *qs = blk + 2;
            const int8_t *xb = xq + b * GRT_QK;
            int isum = 0;
            for (int j = 0; j < GRT_QK / 2; j++) {
                isum += ((qs[j] & 0x0f) - 8) * xb[j];
                isum += ((qs[j] >> 4) - 8) * xb[j + GRT_QK / 2];
            }
            acc += grt_f16_to_f32(load_u16(blk)) * xd[b] * (float)isum;
        }
        break;
    }
    default: break;
    }
    return acc;
}

static void matmul(const cpu_mm *m, int64_t r0, int64_t r1, int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; n++) {
        const uint8_t *w = m->w + (size_t)n * m->w_row;
        float b = m->bias ? m->bias[n] : 0.0f;
        for (int64_t r = r0; r < r1; r++) {
            float v = dot_row(m, w, r) + b;
            float *o = m->out + r * m->N + n;
            *o = m->accumulate ? *o + v : v;
        }
    }
}

static float dot(const float *a, const float *b, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void scale_add(float *y, float a, const float *x, float b, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = y[i] * a + x[i] * b;
}

const cpu_kernels cpu_kernels_scalar = {
    .name = "scalar",
    .quantize_q8 = quantize_q8,
    .matmul = matmul,
    .dot = dot,
    .scale_add = scale_add,
};
