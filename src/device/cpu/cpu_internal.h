/* Private to the CPU backend: the device context, the recorded command, the
 * thread pool and the per-ISA kernel table. */
#ifndef GRT_CPU_INTERNAL_H
#define GRT_CPU_INTERNAL_H

#include <stdatomic.h>
#include <pthread.h>

#include "device/device.h"

/* ---------------------------------------------------------------- pool */

/* fn(arg, ith, nth) runs once on each of nth threads (the caller is ith 0). */
typedef void (*cpu_task_fn)(void *arg, int ith, int nth);

typedef struct cpu_pool cpu_pool;
/* n_threads >= 1 (n_threads - 1 workers are started). NULL on failure. */
cpu_pool *cpu_pool_new(int n_threads);
void cpu_pool_free(cpu_pool *p);
int cpu_pool_size(const cpu_pool *p);
/* Runs fn on every thread and returns when all are done. */
void cpu_pool_run(cpu_pool *p, cpu_task_fn fn, void *arg);

/* [*lo, *hi) of n items for thread ith of nth, in multiples of `align`. */
static inline void cpu_split(int64_t n, int ith, int nth, int64_t align, int64_t *lo, int64_t *hi) {
    int64_t chunks = (n + align - 1) / align;
    int64_t c0 = chunks * ith / nth, c1 = chunks * (ith + 1) / nth;
    *lo = c0 * align < n ? c0 * align : n;
    *hi = c1 * align < n ? c1 * align : n;
}

/* ---------------------------------------------------------------- kernels */

/* One matmul: out[r, n] (+)= sum_k x[r, k] * w[n, k] + bias[n].
 * Float weight types read x; Q8_0/Q4_0 read the activations quantized to
 * Q8_0 blocks (xq, xd, xs). */
typedef struct cpu_mm {
    grt_dtype wtype;
    const uint8_t *w;     /* [N] rows of w_row bytes */
    size_t w_row;
    const float *x;       /* [n_rows, K] f32 */
    const int8_t *xq;     /* [n_rows, K] activation quants */
    const float *xd;      /* [n_rows, K / 32] block scale d = max|x| / 127 */
    const float *xs;      /* [n_rows, K / 32] d * sum(quants of the block) */
    const float *bias;    /* [N] or NULL */
    float *out;           /* [n_rows, N] */
    int64_t n_rows, K, N;
    bool accumulate;
    bool vnni;            /* AVX512-VNNI may be used (avx512 kernels) */
} cpu_mm;

typedef struct cpu_kernels {
    const char *name;
    /* One row of K floats (K % 32 == 0) to Q8_0 quants, scales and d*sums;
     * quants round to nearest even. */
    void (*quantize_q8)(const float *x, int8_t *q, float *d, float *s, int64_t K);
    /* Rows [r0, r1) x outputs [n0, n1) of m. */
    void (*matmul)(const cpu_mm *m, int64_t r0, int64_t r1, int64_t n0, int64_t n1);
    float (*dot)(const float *a, const float *b, int64_t n);
    /* y[i] = y[i] * a + x[i] * b */
    void (*scale_add)(float *y, float a, const float *x, float b, int64_t n);
} cpu_kernels;

extern const cpu_kernels cpu_kernels_scalar;
extern const cpu_kernels cpu_kernels_avx2;
extern const cpu_kernels cpu_kernels_avx512;

/* ---------------------------------------------------------------- commands */

typedef enum cpu_op {
    CPU_WRITE, CPU_COPY, CPU_FILL,
    CPU_EMBED, CPU_RMSNORM, CPU_MATMUL, CPU_ROPE, CPU_KV_STORE, CPU_ATTENTION,
    CPU_GLU, CPU_ADVANCE, CPU_SAMPLE,
} cpu_op;

/* An enqueued op with its arguments by value, so a recorded list replays
 * exactly what was recorded. Tensors with buf == NULL are absent. */
typedef struct cpu_cmd {
    cpu_op op;
    grt_tensor t[6];
    grt_buffer *dst, *src;
    size_t off, off2, n;
    uint32_t pattern;
    void *data;           /* CPU_WRITE while recorded: owned copy of the bytes */
    int64_t n_rows, dim;
    float f;              /* eps, scale */
    bool flag;            /* accumulate, interleaved */
    grt_rows rows;
    int i[6];
    grt_act act;
    grt_sample_cfg cfg;
} cpu_cmd;

typedef struct cpu_ctx {
    const cpu_kernels *k;
    bool vnni;            /* the CPU has AVX512-VNNI and GENRT_CPU_VNNI != 0 */
    cpu_pool *pool;
    /* open recording, when capturing */
    cpu_cmd *rec;
    size_t n_rec, cap_rec;
    uint64_t fence_seq;
    /* scratch that ops grow on demand and keep */
    void *scratch[4];
    size_t scratch_size[4];
    void *buckets_zeroed;  /* the sampler's bucket arrays, known all-zero */
} cpu_ctx;

enum { CPU_SCRATCH_MM = 0, CPU_SCRATCH_ATTN = 1, CPU_SCRATCH_SAMPLE = 2, CPU_SCRATCH_SAMPLE2 = 3 };

/* A 64-byte aligned scratch area of at least n bytes, or NULL (the sticky
 * device error is set). */
void *cpu_scratch(grt_device *dev, int which, size_t n);

static inline cpu_ctx *cpu_ctx_of(grt_device *dev) { return (cpu_ctx *)dev->ctx; }
static inline void *cpu_tptr(const grt_tensor *t) {
    return (uint8_t *)t->buf->ptr + t->offset;
}

/* The ISA the device's kernels use ("scalar", "avx2", "avx512"). */
const char *grt_cpu_device_isa(grt_device *dev);

/* Executors (cpu_ops.c, cpu_sample.c). */
void cpu_exec(grt_device *dev, const cpu_cmd *c);
void cpu_op_sample(grt_device *dev, const cpu_cmd *c);

#endif
