#include "device/cpu/cpu_internal.h"

static void quantize_q8(const float *x, int8_t *q, float *d, float *s, int64_t K) {
    cpu_kernels_scalar.quantize_q8(x, q, d, s, K);
}
static void matmul(const cpu_mm *m, int64_t r0, int64_t r1, int64_t n0, int64_t n1) {
    cpu_kernels_scalar.matmul(m, r0, r1, n0, n1);
}
static float dot(const float *a, const float *b, int64_t n) { return cpu_kernels_scalar.dot(a, b, n); }
static void scale_add(float *y, float a, const float *x, float b, int64_t n) {
    cpu_kernels_scalar.scale_add(y, a, x, b, n);
}
const cpu_kernels cpu_kernels_avx2 = {"avx2", quantize_q8, matmul, dot, scale_add};
