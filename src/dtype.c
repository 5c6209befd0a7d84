#include "dtype.h"

#include <math.h>
#include <string.h>

const char *grt_dtype_name(grt_dtype t) {
    switch (t) {
    case GRT_F32: return "f32";
    case GRT_F16: return "f16";
    case GRT_BF16: return "bf16";
    case GRT_Q8_0: return "q8_0";
    case GRT_Q4_0: return "q4_0";
    case GRT_I32: return "i32";
    default: return "invalid";
    }
}

grt_dtype grt_dtype_from_name(const char *s) {
    static const grt_dtype all[] = {GRT_F32, GRT_F16, GRT_BF16, GRT_Q8_0, GRT_Q4_0, GRT_I32};
    for (size_t i = 0; s && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(s, grt_dtype_name(all[i])) == 0) return all[i];
    return GRT_DTYPE_INVALID;
}

float grt_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400u));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t grt_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);          /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);          /* overflow -> inf */
    if (a < 0x38800000u) {                                            /* subnormal or zero */
        if (a < 0x33000000u) return (uint16_t)sign;                   /* below half the min subnormal */
        uint32_t man = (a & 0x7fffffu) | 0x800000u;
        int shift = 113 - (int)(a >> 23) + 13;                        /* to a 10-bit subnormal */
        uint32_t q = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = a + 0xfffu + ((a >> 13) & 1u) - (112u << 23);       /* rebias, round to even */
    return (uint16_t)(sign | (r >> 13));
}

void grt_dequantize_row(grt_dtype t, const void *src, float *dst, int64_t n) {
    switch (t) {
    case GRT_F32: memcpy(dst, src, (size_t)n * 4); break;
    case GRT_F16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = grt_f16_to_f32(s[i]);
        break;
    }
    case GRT_BF16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = grt_bf16_to_f32(s[i]);
        break;
    }
    case GRT_Q8_0: {
        const grt_block_q8_0 *b = src;
        for (int64_t i = 0; i < n / GRT_QK; i++) {
            float d = grt_f16_to_f32(b[i].d);
            for (int j = 0; j < GRT_QK; j++) dst[i * GRT_QK + j] = d * (float)b[i].qs[j];
        }
        break;
    }
    case GRT_Q4_0: {
        const grt_block_q4_0 *b = src;
        for (int64_t i = 0; i < n / GRT_QK; i++) {
            float d = grt_f16_to_f32(b[i].d);
            for (int j = 0; j < GRT_QK / 2; j++) {
                dst[i * GRT_QK + j] = d * (float)((b[i].qs[j] & 0x0f) - 8);
                dst[i * GRT_QK + j + GRT_QK / 2] = d * (float)((b[i].qs[j] >> 4) - 8);
            }
        }
        break;
    }
    default: memset(dst, 0, (size_t)n * 4); break;
    }
}

/* Q8_0: d = max|x| / 127, q = round(x / d). Q4_0: the element of largest
 * magnitude m (with its sign) maps to -8: d = m / -8, q = clamp(round(x/d) + 8,
 * 0, 15); this is the GGUF reference rounding, so files match other tools. */
void grt_quantize_row(grt_dtype t, const float *src, void *dst, int64_t n) {
    switch (t) {
    case GRT_F32: memcpy(dst, src, (size_t)n * 4); break;
    case GRT_F16: {
        uint16_t *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = grt_f32_to_f16(src[i]);
        break;
    }
    case GRT_BF16: {
        uint16_t *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = grt_f32_to_bf16(src[i]);
        break;
    }
    case GRT_Q8_0: {
        grt_block_q8_0 *b = dst;
        for (int64_t i = 0; i < n / GRT_QK; i++) {
            const float *x = src + i * GRT_QK;
            float amax = 0;
            for (int j = 0; j < GRT_QK; j++) amax = fmaxf(amax, fabsf(x[j]));
            float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
            b[i].d = grt_f32_to_f16(d);
            for (int j = 0; j < GRT_QK; j++) b[i].qs[j] = (int8_t)roundf(x[j] * id);
        }
        break;
    }
    case GRT_Q4_0: {
        grt_block_q4_0 *b = dst;
        for (int64_t i = 0; i < n / GRT_QK; i++) {
            const float *x = src + i * GRT_QK;
            float amax = 0, m = 0;
            for (int j = 0; j < GRT_QK; j++)
                if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); m = x[j]; }
            float d = m / -8.0f, id = d ? 1.0f / d : 0.0f;
            b[i].d = grt_f32_to_f16(d);
            for (int j = 0; j < GRT_QK / 2; j++) {
                int q0 = (int)(x[j] * id + 8.5f), q1 = (int)(x[j + GRT_QK / 2] * id + 8.5f);
                q0 = q0 < 0 ? 0 : q0 > 15 ? 15 : q0;
                q1 = q1 < 0 ? 0 : q1 > 15 ? 15 : q1;
                b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
            }
        }
        break;
    }
    default: break;
    }
}
