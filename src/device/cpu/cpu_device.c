/* The CPU backend: buffers are plain 64-byte aligned host memory, ops run at
 * enqueue time on a thread pool, and capture records the ops into a command
 * list that a launch replays. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "device/cpu/cpu_internal.h"
#include "error.h"

struct grt_fence {
    uint64_t seq;     /* 0: never recorded */
    double t_ms;      /* host time when recorded (ops before it had finished) */
};

struct grt_graph {
    cpu_cmd *cmds;
    size_t n;
};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

void *cpu_scratch(grt_device *dev, int which, size_t n) {
    cpu_ctx *c = cpu_ctx_of(dev);
    if (c->scratch_size[which] >= n) return c->scratch[which];
    size_t sz = (n + 63) & ~(size_t)63;
    void *p = NULL;
    if (posix_memalign(&p, 64, sz) != 0) {
        grt_dev_set_error(dev, GRT_ERR_NO_MEMORY, "cpu: out of memory for %zu bytes of scratch", sz);
        return NULL;
    }
    free(c->scratch[which]);
    c->scratch[which] = p;
    c->scratch_size[which] = sz;
    return p;
}

/* ---------------------------------------------------------------- memory */

static grt_status cpu_buffer_new(grt_device *dev, size_t size, unsigned flags, grt_buffer **out) {
    grt_buffer *b = grt_calloc(1, sizeof *b);
    if (!b) return GRT_ERR_NO_MEMORY;
    size_t sz = ((size ? size : 1) + 63) & ~(size_t)63;
    if (posix_memalign(&b->ptr, 64, sz) != 0) {
        free(b);
        return grt_fail(GRT_ERR_NO_MEMORY, "cpu: out of memory allocating a %zu-byte buffer", size);
    }
    memset(b->ptr, 0, sz);
    b->dev = dev;
    b->size = size;
    b->flags = flags;
    b->owned = true;
    *out = b;
    return GRT_OK;
}

static grt_status cpu_buffer_from_host(grt_device *dev, const void *host, size_t size,
                                       grt_buffer **out) {
    grt_buffer *b = grt_calloc(1, sizeof *b);
    if (!b) return GRT_ERR_NO_MEMORY;
    b->dev = dev;
    b->size = size;
    b->flags = GRT_BUF_DEVICE;
    b->ptr = (void *)host; /* aliased, read by kernels only */
    b->owned = false;
    *out = b;
    return GRT_OK;
}

static void cpu_buffer_free(grt_buffer *b) {
    if (!b) return;
    if (b->owned) free(b->ptr);
    free(b);
}

/* Every queue op goes through submit: recorded while capturing, else run. */
static void submit(grt_device *dev, cpu_cmd *c) {
    cpu_ctx *x = cpu_ctx_of(dev);
    if (!dev->capturing) {
        cpu_exec(dev, c);
        return;
    }
    if (c->op == CPU_WRITE) { /* keep the bytes as they are now */
        void *copy = malloc(c->n ? c->n : 1);
        if (!copy) {
            grt_dev_set_error(dev, GRT_ERR_NO_MEMORY, "cpu: out of memory recording a write");
            return;
        }
        memcpy(copy, c->data, c->n);
        c->data = copy;
    }
    if (x->n_rec == x->cap_rec) {
        size_t cap = x->cap_rec ? x->cap_rec * 2 : 64;
        cpu_cmd *r = realloc(x->rec, cap * sizeof *r);
        if (!r) {
            if (c->op == CPU_WRITE) free(c->data);
            grt_dev_set_error(dev, GRT_ERR_NO_MEMORY, "cpu: out of memory recording an op");
            return;
        }
        x->rec = r;
        x->cap_rec = cap;
    }
    x->rec[x->n_rec++] = *c;
}

static void cpu_write(grt_device *dev, grt_buffer *dst, size_t off, const void *src, size_t n) {
    cpu_cmd c = {.op = CPU_WRITE, .dst = dst, .off = off, .data = (void *)src, .n = n};
    submit(dev, &c);
}

static grt_status cpu_read(grt_device *dev, grt_buffer *src, size_t off, void *dst, size_t n) {
    (void)dev;
    memcpy(dst, (uint8_t *)src->ptr + off, n);
    return GRT_OK;
}

static void cpu_copy(grt_device *dev, grt_buffer *dst, size_t dst_off, grt_buffer *src,
                     size_t src_off, size_t n) {
    cpu_cmd c = {.op = CPU_COPY, .dst = dst, .off = dst_off, .src = src, .off2 = src_off, .n = n};
    submit(dev, &c);
}

static void cpu_fill(grt_device *dev, grt_buffer *dst, size_t off, size_t n, uint32_t pattern) {
    cpu_cmd c = {.op = CPU_FILL, .dst = dst, .off = off, .n = n, .pattern = pattern};
    submit(dev, &c);
}

static grt_status cpu_read_completed(grt_device *dev, grt_buffer *hv, size_t off, void *dst,
                                     size_t n) {
    return cpu_read(dev, hv, off, dst, n);
}

/* ---------------------------------------------------------------- queue */

static grt_status cpu_sync(grt_device *dev) {
    (void)dev;
    return GRT_OK;
}

static grt_status cpu_fence_new(grt_device *dev, grt_fence **out) {
    (void)dev;
    grt_fence *f = grt_calloc(1, sizeof *f);
    if (!f) return GRT_ERR_NO_MEMORY;
    *out = f;
    return GRT_OK;
}

static void cpu_fence_free(grt_fence *f) { free(f); }

/* The work before a fence has already run when it is recorded. */
static void cpu_fence_record(grt_device *dev, grt_fence *f) {
    f->seq = ++cpu_ctx_of(dev)->fence_seq;
    f->t_ms = now_ms();
}

static bool cpu_fence_done(grt_device *dev, grt_fence *f) {
    return f->seq <= cpu_ctx_of(dev)->fence_seq;
}

static grt_status cpu_fence_wait(grt_device *dev, grt_fence *f) {
    (void)dev;
    (void)f;
    return GRT_OK;
}

static bool cpu_fence_elapsed_ms(grt_device *dev, grt_fence *a, grt_fence *b, double *ms) {
    (void)dev;
    if (!a->seq || !b->seq) return false;
    *ms = b->t_ms - a->t_ms;
    return true;
}

/* ---------------------------------------------------------------- capture */

static grt_status cpu_capture_begin(grt_device *dev) {
    cpu_ctx_of(dev)->n_rec = 0;
    return GRT_OK;
}

static void free_cmds(cpu_cmd *cmds, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (cmds[i].op == CPU_WRITE) free(cmds[i].data);
    free(cmds);
}

static grt_status cpu_capture_end(grt_device *dev, grt_graph **out) {
    cpu_ctx *x = cpu_ctx_of(dev);
    grt_graph *g = grt_calloc(1, sizeof *g);
    if (!g) {
        free_cmds(x->rec, x->n_rec);
        x->rec = NULL;
        x->n_rec = x->cap_rec = 0;
        return GRT_ERR_NO_MEMORY;
    }
    g->cmds = x->rec;
    g->n = x->n_rec;
    x->rec = NULL;
    x->n_rec = x->cap_rec = 0;
    if (dev->error != GRT_OK) { /* recording ran out of memory */
        free_cmds(g->cmds, g->n);
        free(g);
        return grt_dev_status(dev);
    }
    *out = g;
    return GRT_OK;
}

static void cpu_graph_launch(grt_device *dev, grt_graph *g) {
    for (size_t i = 0; i < g->n; i++) cpu_exec(dev, &g->cmds[i]);
}

static void cpu_graph_free(grt_graph *g) {
    if (!g) return;
    free_cmds(g->cmds, g->n);
    free(g);
}

/* ---------------------------------------------------------------- kernels */

static grt_tensor opt_tensor(const grt_tensor *t) {
    grt_tensor none = {0};
    return t ? *t : none;
}

static void cpu_embed(grt_device *dev, const grt_tensor *out, const grt_tensor *table,
                      const grt_tensor *ids, float scale, int n_rows) {
    cpu_cmd c = {.op = CPU_EMBED, .t = {*out, *table, *ids}, .f = scale, .n_rows = n_rows};
    submit(dev, &c);
}

static void cpu_rmsnorm(grt_device *dev, const grt_tensor *out, const grt_tensor *in,
                        const grt_tensor *w, int64_t n_rows, int64_t dim, float eps) {
    cpu_cmd c = {.op = CPU_RMSNORM, .t = {*out, *in, *w}, .n_rows = n_rows, .dim = dim, .f = eps};
    submit(dev, &c);
}

static void cpu_matmul(grt_device *dev, const grt_tensor *out, const grt_tensor *in,
                       const grt_tensor *w, const grt_tensor *bias, int64_t n_rows,
                       bool accumulate) {
    cpu_cmd c = {.op = CPU_MATMUL, .t = {*out, *in, *w, opt_tensor(bias)}, .n_rows = n_rows,
                 .flag = accumulate};
    submit(dev, &c);
}

static void cpu_rope(grt_device *dev, const grt_tensor *x, const grt_tensor *inv_freq,
                     const grt_tensor *state, grt_rows rows, int n_heads, int head_dim,
                     int rot_dim, bool interleaved) {
    cpu_cmd c = {.op = CPU_ROPE, .t = {*x, *inv_freq, *state}, .rows = rows,
                 .i = {n_heads, head_dim, rot_dim}, .flag = interleaved};
    submit(dev, &c);
}

static void cpu_kv_store(grt_device *dev, const grt_tensor *k_cache, const grt_tensor *v_cache,
                         const grt_tensor *k, const grt_tensor *v, const grt_tensor *state,
                         grt_rows rows, int kv_dim, int max_ctx) {
    cpu_cmd c = {.op = CPU_KV_STORE, .t = {*k_cache, *v_cache, *k, *v, *state}, .rows = rows,
                 .i = {kv_dim, max_ctx}};
    submit(dev, &c);
}

static void cpu_attention(grt_device *dev, const grt_tensor *out, const grt_tensor *q,
                          const grt_tensor *k_cache, const grt_tensor *v_cache,
                          const grt_tensor *state, grt_rows rows, int n_heads, int n_kv_heads,
                          int head_dim, int max_ctx, float scale, int window) {
    cpu_cmd c = {.op = CPU_ATTENTION, .t = {*out, *q, *k_cache, *v_cache, *state}, .rows = rows,
                 .i = {n_heads, n_kv_heads, head_dim, max_ctx, window}, .f = scale};
    submit(dev, &c);
}

static void cpu_glu(grt_device *dev, const grt_tensor *out, const grt_tensor *gate,
                    const grt_tensor *up, int64_t n_rows, int64_t n_ff, grt_act act) {
    cpu_cmd c = {.op = CPU_GLU, .t = {*out, *gate, *up}, .n_rows = n_rows, .dim = n_ff, .act = act};
    submit(dev, &c);
}

static void cpu_advance(grt_device *dev, const grt_tensor *state, grt_rows rows) {
    cpu_cmd c = {.op = CPU_ADVANCE, .t = {*state}, .rows = rows};
    submit(dev, &c);
}

static void cpu_sample(grt_device *dev, const grt_tensor *logits, int n_vocab,
                       const grt_sample_cfg *cfg, const grt_tensor *state, int seq0, int n_seqs,
                       const grt_tensor *history, int max_ctx, const grt_tensor *next_ids,
                       const grt_tensor *ring, int ring_len) {
    cpu_cmd c = {.op = CPU_SAMPLE, .t = {*logits, *state, *history, *next_ids, *ring},
                 .cfg = *cfg, .i = {n_vocab, seq0, n_seqs, max_ctx, ring_len}};
    submit(dev, &c);
}

/* ---------------------------------------------------------------- device */

static void cpu_close(grt_device *dev) {
    if (!dev) return;
    cpu_ctx *x = cpu_ctx_of(dev);
    if (x) {
        cpu_pool_free(x->pool);
        free_cmds(x->rec, x->n_rec);
        for (int i = 0; i < 4; i++) free(x->scratch[i]);
        free(x);
    }
    free(dev);
}

static const grt_device_i cpu_device_i = {
    .name = "cpu",
    .close = cpu_close,
    .buffer_new = cpu_buffer_new,
    .buffer_from_host = cpu_buffer_from_host,
    .buffer_free = cpu_buffer_free,
    .write = cpu_write,
    .read = cpu_read,
    .copy = cpu_copy,
    .fill = cpu_fill,
    .read_completed = cpu_read_completed,
    .sync = cpu_sync,
    .fence_new = cpu_fence_new,
    .fence_free = cpu_fence_free,
    .fence_record = cpu_fence_record,
    .fence_done = cpu_fence_done,
    .fence_wait = cpu_fence_wait,
    .fence_elapsed_ms = cpu_fence_elapsed_ms,
    .capture_begin = cpu_capture_begin,
    .capture_end = cpu_capture_end,
    .graph_launch = cpu_graph_launch,
    .graph_free = cpu_graph_free,
    .embed = cpu_embed,
    .rmsnorm = cpu_rmsnorm,
    .matmul = cpu_matmul,
    .rope = cpu_rope,
    .kv_store = cpu_kv_store,
    .attention = cpu_attention,
    .glu = cpu_glu,
    .advance = cpu_advance,
    .sample = cpu_sample,
};

/* The kernels for GENRT_CPU_ISA (scalar|avx2|avx512) or the best this CPU
 * runs. */
static grt_status pick_kernels(const cpu_kernels **out) {
    __builtin_cpu_init();
    bool has512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                  __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    bool has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                __builtin_cpu_supports("f16c");
    const char *env = getenv("GENRT_CPU_ISA");
    if (!env || !*env) {
        *out = has512 ? &cpu_kernels_avx512 : has2 ? &cpu_kernels_avx2 : &cpu_kernels_scalar;
        return GRT_OK;
    }
    if (strcmp(env, "scalar") == 0) {
        *out = &cpu_kernels_scalar;
    } else if (strcmp(env, "avx2") == 0) {
        if (!has2) return grt_fail(GRT_ERR_NO_DEVICE, "GENRT_CPU_ISA=avx2: this CPU lacks AVX2/FMA/F16C");
        *out = &cpu_kernels_avx2;
    } else if (strcmp(env, "avx512") == 0) {
        if (!has512)
            return grt_fail(GRT_ERR_NO_DEVICE, "GENRT_CPU_ISA=avx512: this CPU lacks AVX-512 F/BW/VL/DQ");
        *out = &cpu_kernels_avx512;
    } else {
        return grt_fail(GRT_ERR_INVALID_ARG, "GENRT_CPU_ISA=%s: expected scalar, avx2 or avx512", env);
    }
    return GRT_OK;
}

grt_status grt_cpu_device_open(const grt_device_options *opts, grt_device **out) {
    *out = NULL;
    const cpu_kernels *k = NULL;
    grt_status s = pick_kernels(&k);
    if (s != GRT_OK) return s;
    int n = opts ? opts->n_threads : 0;
    if (n < 0) return grt_fail(GRT_ERR_INVALID_ARG, "cpu: n_threads = %d: expected >= 0", n);
    if (n == 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    if (n > 256) n = 256;
    grt_device *dev = grt_calloc(1, sizeof *dev);
    if (!dev) return GRT_ERR_NO_MEMORY;
    cpu_ctx *x = grt_calloc(1, sizeof *x);
    if (!x) {
        s = GRT_ERR_NO_MEMORY;
        goto fail;
    }
    dev->i = &cpu_device_i;
    dev->ctx = x;
    dev->name = "cpu";
    dev->n_threads = n;
    x->k = k;
    /* GENRT_CPU_VNNI=0 keeps the avx512 path off VNNI (so tests reach both) */
    const char *vn = getenv("GENRT_CPU_VNNI");
    x->vnni = k == &cpu_kernels_avx512 && __builtin_cpu_supports("avx512vnni") &&
              !(vn && strcmp(vn, "0") == 0);
    x->pool = cpu_pool_new(n);
    if (!x->pool) {
        s = grt_fail(GRT_ERR_NO_MEMORY, "cpu: could not start %d worker threads", n - 1);
        goto fail;
    }
    *out = dev;
    return GRT_OK;
fail:
    cpu_close(dev);
    return s;
}

const char *grt_cpu_device_isa(grt_device *dev) { return cpu_ctx_of(dev)->k->name; }
