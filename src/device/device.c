/* Backend dispatch and the checked grt_dev_* wrappers. Wrappers assert
 * internal invariants (shapes agree, views lie inside their buffers, the op
 * accepts the dtypes); bad user input is rejected long before it gets here. */
#include "device/device.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#ifdef GRT_HAVE_WEBGPU
#include "device/webgpu/webgpu.h"
#endif

/* ---------------------------------------------------------------- open */

/* A backend this build has: its name, how to open it, and why it may not. */
typedef struct backend_entry {
    const char *name;
    grt_status (*open)(const grt_device_options *opts, grt_device **out);
    const char *missing; /* non-NULL: not built in, and why */
    /* Built in but maybe absent on this machine (no GPU): false and why. */
    bool (*probe)(const char **why);
} backend_entry;

#ifdef GRT_HAVE_CUDA
bool grt_cuda_probe(const char **why);
grt_status grt_cuda_device_open(const grt_device_options *opts, grt_device **out);
#endif

/* Extension point: a backend built in (cuda/, webgpu/) replaces its NULL
 * open function under #ifdef GRT_HAVE_CUDA / GRT_HAVE_WEBGPU. */
static const backend_entry g_backends[] = {
    {"cpu", grt_cpu_device_open, NULL, NULL},
#ifdef GRT_HAVE_CUDA
    {"cuda", grt_cuda_device_open, NULL, grt_cuda_probe},
#else
    {"cuda", NULL, "genrt was built without the CUDA backend", NULL},
#endif
#ifdef GRT_HAVE_WEBGPU
    {"webgpu", grt_webgpu_device_open, NULL, grt_webgpu_available},
#else
    {"webgpu", NULL, "genrt was built without the WebGPU backend", NULL},
#endif
};

static const backend_entry *find_backend(const char *name) {
    for (size_t i = 0; i < sizeof g_backends / sizeof g_backends[0]; i++)
        if (strcmp(g_backends[i].name, name) == 0) return &g_backends[i];
    return NULL;
}

grt_status grt_device_open(const char *name, const grt_device_options *opts, grt_device **out) {
    *out = NULL;
    if (!name) name = "cpu";
    const backend_entry *b = find_backend(name);
    if (!b)
        return grt_fail(GRT_ERR_NO_DEVICE, "device \"%s\": unknown (expected cpu, cuda or webgpu)", name);
    if (!b->open) return grt_fail(GRT_ERR_NO_DEVICE, "device \"%s\": %s", name, b->missing);
    grt_device_options def = {0};
    grt_status s = b->open(opts ? opts : &def, out);
    if (s != GRT_OK) *out = NULL;
    return s;
}

void grt_device_close(grt_device *dev) {
    if (dev) dev->i->close(dev);
}

bool grt_device_available(const char *name, const char **why) {
    const backend_entry *b = name ? find_backend(name) : NULL;
    if (!b) {
        if (why) *why = "unknown device name (expected cpu, cuda or webgpu)";
        return false;
    }
    if (!b->open) {
        if (why) *why = b->missing;
        return false;
    }
    if (b->probe) return b->probe(why);
    if (why) *why = NULL;
    return true;
}

void grt_dev_set_error(grt_device *dev, grt_status s, const char *fmt, ...) {
    if (dev->error != GRT_OK) return; /* keep the first */
    dev->error = s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dev->error_msg, sizeof dev->error_msg, fmt, ap);
    va_end(ap);
}

grt_status grt_dev_status(grt_device *dev) {
    if (dev->error == GRT_OK) return GRT_OK;
    return grt_fail(dev->error, "device %s: %s", dev->name, dev->error_msg);
}

/* ---------------------------------------------------------------- tensors */

int64_t grt_tensor_nelem(const grt_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->n_dims; d++) n *= t->ne[d];
    return n;
}

size_t grt_tensor_nbytes(const grt_tensor *t) {
    int64_t inner = t->n_dims > 0 ? t->ne[t->n_dims - 1] : 1;
    return grt_row_bytes(t->type, inner) * (size_t)(grt_tensor_nelem(t) / (inner ? inner : 1));
}

static void check_tensor(const grt_tensor *t) {
    GRT_ASSERT(t && t->buf);
    GRT_ASSERT(t->n_dims >= 1 && t->n_dims <= 4);
    for (int d = 0; d < t->n_dims; d++) GRT_ASSERT(t->ne[d] >= 0);
    GRT_ASSERT(grt_dtype_block_bytes(t->type) > 0);
    GRT_ASSERT(t->ne[t->n_dims - 1] % grt_dtype_block(t->type) == 0);
    GRT_ASSERT(t->offset <= t->buf->size && grt_tensor_nbytes(t) <= t->buf->size - t->offset);
}

grt_tensor grt_tensor_view(grt_buffer *buf, size_t offset, grt_dtype type, int n_dims,
                           const int64_t *ne) {
    grt_tensor t = {.buf = buf, .offset = offset, .type = type, .n_dims = n_dims};
    GRT_ASSERT(n_dims >= 1 && n_dims <= 4);
    for (int d = 0; d < n_dims; d++) t.ne[d] = ne[d];
    for (int d = n_dims; d < 4; d++) t.ne[d] = 1;
    check_tensor(&t);
    return t;
}

static int64_t last_dim(const grt_tensor *t) { return t->ne[t->n_dims - 1]; }

/* An f32/i32 activation tensor holding at least n elements. */
static void check_act(const grt_tensor *t, grt_dtype type, int64_t n) {
    check_tensor(t);
    GRT_ASSERT(t->type == type);
    GRT_ASSERT(grt_tensor_nelem(t) >= n);
    GRT_ASSERT(((uintptr_t)t->buf->ptr + t->offset) % 4 == 0);
}

/* state holds grt_step_state entries (any 4-byte type view). */
static void check_state(const grt_tensor *state, grt_rows rows) {
    check_tensor(state);
    GRT_ASSERT(state->offset % 4 == 0);
    GRT_ASSERT(rows.n_rows >= 1 && rows.n_seqs >= 1 && rows.seq0 >= 0);
    GRT_ASSERT(rows.n_rows % rows.n_seqs == 0);
    GRT_ASSERT(grt_tensor_nbytes(state) >=
               (size_t)(rows.seq0 + rows.n_seqs) * sizeof(grt_step_state));
}

static void check_range(const grt_buffer *b, size_t off, size_t n) {
    GRT_ASSERT(b);
    GRT_ASSERT(off <= b->size && n <= b->size - off);
}

/* ---------------------------------------------------------------- memory */

grt_status grt_dev_buffer_new(grt_device *dev, size_t size, unsigned flags, grt_buffer **out) {
    *out = NULL;
    GRT_ASSERT(!dev->capturing);
    return dev->i->buffer_new(dev, size, flags, out);
}

grt_status grt_dev_buffer_from_host(grt_device *dev, const void *host, size_t size, grt_buffer **out) {
    *out = NULL;
    GRT_ASSERT(!dev->capturing);
    GRT_ASSERT(host || size == 0);
    return dev->i->buffer_from_host(dev, host, size, out);
}

void grt_dev_buffer_free(grt_buffer *buf) {
    if (buf) buf->dev->i->buffer_free(buf);
}

void grt_dev_write(grt_device *dev, grt_buffer *dst, size_t off, const void *src, size_t n) {
    check_range(dst, off, n);
    GRT_ASSERT(src || n == 0);
    dev->i->write(dev, dst, off, src, n);
}

grt_status grt_dev_read(grt_device *dev, grt_buffer *src, size_t off, void *dst, size_t n) {
    GRT_ASSERT(!dev->capturing);
    check_range(src, off, n);
    GRT_ASSERT(dst || n == 0);
    return dev->i->read(dev, src, off, dst, n);
}

void grt_dev_copy(grt_device *dev, grt_buffer *dst, size_t dst_off, grt_buffer *src,
                  size_t src_off, size_t n) {
    check_range(dst, dst_off, n);
    check_range(src, src_off, n);
    dev->i->copy(dev, dst, dst_off, src, src_off, n);
}

void grt_dev_fill(grt_device *dev, grt_buffer *dst, size_t off, size_t n, uint32_t pattern) {
    check_range(dst, off, n);
    GRT_ASSERT(off % 4 == 0 && n % 4 == 0);
    dev->i->fill(dev, dst, off, n, pattern);
}

grt_status grt_dev_read_completed(grt_device *dev, grt_buffer *hv, size_t off, void *dst, size_t n) {
    GRT_ASSERT(!dev->capturing);
    check_range(hv, off, n);
    GRT_ASSERT(hv->flags & GRT_BUF_HOST_VISIBLE);
    return dev->i->read_completed(dev, hv, off, dst, n);
}

grt_status grt_dev_sync(grt_device *dev) {
    GRT_ASSERT(!dev->capturing);
    grt_status s = dev->i->sync(dev);
    if (s != GRT_OK) return s;
    return grt_dev_status(dev);
}

/* ---------------------------------------------------------------- fences */

grt_status grt_dev_fence_new(grt_device *dev, grt_fence **out) {
    *out = NULL;
    return dev->i->fence_new(dev, out);
}

void grt_dev_fence_free(grt_device *dev, grt_fence *f) {
    if (f) dev->i->fence_free(f);
}

/* Fences mark points of the live queue; they are not recorded into graphs. */
void grt_dev_fence_record(grt_device *dev, grt_fence *f) {
    GRT_ASSERT(f && !dev->capturing);
    dev->i->fence_record(dev, f);
}

bool grt_dev_fence_done(grt_device *dev, grt_fence *f) {
    GRT_ASSERT(f);
    return dev->i->fence_done(dev, f);
}

grt_status grt_dev_fence_wait(grt_device *dev, grt_fence *f) {
    GRT_ASSERT(f && !dev->capturing);
    grt_status s = dev->i->fence_wait(dev, f);
    if (s != GRT_OK) return s;
    return grt_dev_status(dev);
}

bool grt_dev_fence_elapsed_ms(grt_device *dev, grt_fence *a, grt_fence *b, double *ms) {
    GRT_ASSERT(a && b && ms);
    return dev->i->fence_elapsed_ms(dev, a, b, ms);
}

/* ---------------------------------------------------------------- capture */

grt_status grt_dev_capture_begin(grt_device *dev) {
    GRT_ASSERT(!dev->capturing);
    grt_status s = dev->i->capture_begin(dev);
    if (s == GRT_OK) dev->capturing = true;
    return s;
}

grt_status grt_dev_capture_end(grt_device *dev, grt_graph **out) {
    *out = NULL;
    GRT_ASSERT(dev->capturing);
    grt_status s = dev->i->capture_end(dev, out);
    dev->capturing = false;
    return s;
}

void grt_dev_graph_launch(grt_device *dev, grt_graph *g) {
    GRT_ASSERT(g && !dev->capturing);
    dev->i->graph_launch(dev, g);
}

void grt_dev_graph_free(grt_device *dev, grt_graph *g) {
    if (g) dev->i->graph_free(g);
}

/* ---------------------------------------------------------------- kernels */

grt_status grt_dev_prepare_weight(grt_device *dev, const grt_tensor *w) {
    GRT_ASSERT(!dev->capturing);
    check_tensor(w);
    GRT_ASSERT(w->n_dims == 2);
    if (!dev->i->prepare_weight) return GRT_OK;
    return dev->i->prepare_weight(dev, w);
}

void grt_dev_embed(grt_device *dev, const grt_tensor *out, const grt_tensor *table,
                   const grt_tensor *ids, float scale, int n_rows) {
    check_tensor(table);
    GRT_ASSERT(table->n_dims == 2 && n_rows >= 1);
    check_act(out, GRT_F32, (int64_t)n_rows * table->ne[1]);
    check_act(ids, GRT_I32, n_rows);
    dev->i->embed(dev, out, table, ids, scale, n_rows);
}

void grt_dev_rmsnorm(grt_device *dev, const grt_tensor *out, const grt_tensor *in,
                     const grt_tensor *w, int64_t n_rows, int64_t dim, float eps) {
    GRT_ASSERT(n_rows >= 1 && dim >= 1);
    check_act(in, GRT_F32, n_rows * dim);
    check_act(out, GRT_F32, n_rows * dim);
    check_tensor(w);
    GRT_ASSERT(w->type == GRT_F32 && grt_tensor_nelem(w) == dim);
    dev->i->rmsnorm(dev, out, in, w, n_rows, dim, eps);
}

static bool overlaps(const grt_tensor *a, const grt_tensor *b) {
    if (a->buf != b->buf) return false;
    size_t a0 = a->offset, a1 = a0 + grt_tensor_nbytes(a);
    size_t b0 = b->offset, b1 = b0 + grt_tensor_nbytes(b);
    return a0 < b1 && b0 < a1;
}

void grt_dev_matmul(grt_device *dev, const grt_tensor *out, const grt_tensor *in,
                    const grt_tensor *w, const grt_tensor *bias, int64_t n_rows, bool accumulate) {
    check_tensor(w);
    GRT_ASSERT(w->n_dims == 2);
    GRT_ASSERT(w->type == GRT_F32 || w->type == GRT_F16 || w->type == GRT_BF16 ||
               w->type == GRT_Q8_0 || w->type == GRT_Q4_0);
    int64_t N = w->ne[0], K = w->ne[1];
    GRT_ASSERT(n_rows >= 1 && N >= 1 && K >= 1);
    check_act(in, GRT_F32, n_rows * K);
    GRT_ASSERT(last_dim(in) == K);
    check_act(out, GRT_F32, n_rows * N);
    GRT_ASSERT(last_dim(out) == N);
    GRT_ASSERT(!overlaps(out, in) && !overlaps(out, w));
    if (bias) {
        check_tensor(bias);
        GRT_ASSERT(bias->type == GRT_F32 && grt_tensor_nelem(bias) == N);
    }
    dev->i->matmul(dev, out, in, w, bias, n_rows, accumulate);
}

void grt_dev_rope(grt_device *dev, const grt_tensor *x, const grt_tensor *inv_freq,
                  const grt_tensor *state, grt_rows rows, int n_heads, int head_dim,
                  int rot_dim, bool interleaved) {
    check_state(state, rows);
    GRT_ASSERT(n_heads >= 1 && head_dim >= 2 && rot_dim >= 2 && rot_dim <= head_dim &&
               rot_dim % 2 == 0);
    check_act(x, GRT_F32, (int64_t)rows.n_rows * n_heads * head_dim);
    check_tensor(inv_freq);
    GRT_ASSERT(inv_freq->type == GRT_F32 && grt_tensor_nelem(inv_freq) >= rot_dim / 2);
    dev->i->rope(dev, x, inv_freq, state, rows, n_heads, head_dim, rot_dim, interleaved);
}

static void check_cache(const grt_tensor *c, grt_rows rows, int kv_dim, int max_ctx) {
    check_tensor(c);
    GRT_ASSERT(c->type == GRT_F32 || c->type == GRT_F16);
    GRT_ASSERT(grt_tensor_nelem(c) >= (int64_t)(rows.seq0 + rows.n_seqs) * max_ctx * kv_dim);
}

void grt_dev_kv_store(grt_device *dev, const grt_tensor *k_cache, const grt_tensor *v_cache,
                      const grt_tensor *k, const grt_tensor *v, const grt_tensor *state,
                      grt_rows rows, int kv_dim, int max_ctx) {
    check_state(state, rows);
    GRT_ASSERT(kv_dim >= 1 && max_ctx >= 1);
    check_cache(k_cache, rows, kv_dim, max_ctx);
    check_cache(v_cache, rows, kv_dim, max_ctx);
    check_act(k, GRT_F32, (int64_t)rows.n_rows * kv_dim);
    check_act(v, GRT_F32, (int64_t)rows.n_rows * kv_dim);
    dev->i->kv_store(dev, k_cache, v_cache, k, v, state, rows, kv_dim, max_ctx);
}

void grt_dev_attention(grt_device *dev, const grt_tensor *out, const grt_tensor *q,
                       const grt_tensor *k_cache, const grt_tensor *v_cache,
                       const grt_tensor *state, grt_rows rows, int n_heads, int n_kv_heads,
                       int head_dim, int max_ctx, float scale, int window) {
    check_state(state, rows);
    GRT_ASSERT(n_heads >= 1 && n_kv_heads >= 1 && n_heads % n_kv_heads == 0);
    GRT_ASSERT(head_dim >= 1 && max_ctx >= 1 && window >= 0);
    int kv_dim = n_kv_heads * head_dim;
    check_cache(k_cache, rows, kv_dim, max_ctx);
    check_cache(v_cache, rows, kv_dim, max_ctx);
    check_act(q, GRT_F32, (int64_t)rows.n_rows * n_heads * head_dim);
    check_act(out, GRT_F32, (int64_t)rows.n_rows * n_heads * head_dim);
    GRT_ASSERT(!overlaps(out, q));
    dev->i->attention(dev, out, q, k_cache, v_cache, state, rows, n_heads, n_kv_heads, head_dim,
                      max_ctx, scale, window);
}

void grt_dev_glu(grt_device *dev, const grt_tensor *out, const grt_tensor *gate,
                 const grt_tensor *up, int64_t n_rows, int64_t n_ff, grt_act act) {
    GRT_ASSERT(n_rows >= 1 && n_ff >= 1);
    GRT_ASSERT(act == GRT_ACT_SILU || act == GRT_ACT_GELU_TANH);
    check_act(out, GRT_F32, n_rows * n_ff);
    check_act(gate, GRT_F32, n_rows * n_ff);
    check_act(up, GRT_F32, n_rows * n_ff);
    dev->i->glu(dev, out, gate, up, n_rows, n_ff, act);
}

void grt_dev_advance(grt_device *dev, const grt_tensor *state, grt_rows rows) {
    check_state(state, rows);
    dev->i->advance(dev, state, rows);
}

void grt_dev_sample(grt_device *dev, const grt_tensor *logits, int n_vocab,
                    const grt_sample_cfg *cfg, const grt_tensor *state, int seq0, int n_seqs,
                    const grt_tensor *history, int max_ctx, const grt_tensor *next_ids,
                    const grt_tensor *ring, int ring_len) {
    GRT_ASSERT(cfg && n_vocab >= 1 && n_seqs >= 1 && seq0 >= 0 && max_ctx >= 1 && ring_len >= 1);
    GRT_ASSERT(cfg->temperature >= 0 && cfg->top_k >= 0);
    GRT_ASSERT(cfg->top_p > 0 && cfg->top_p <= 1 && cfg->min_p >= 0 && cfg->min_p < 1);
    GRT_ASSERT(cfg->repeat_penalty > 0 && cfg->repeat_last_n >= -1);
    GRT_ASSERT(cfg->n_eos >= 0 && cfg->n_eos <= 8);
    grt_rows rows = {n_seqs, seq0, n_seqs};
    check_state(state, rows);
    int n_total = seq0 + n_seqs;
    check_act(logits, GRT_F32, (int64_t)n_seqs * n_vocab);
    check_act(history, GRT_I32, (int64_t)n_total * max_ctx);
    check_act(next_ids, GRT_I32, n_total);
    check_act(ring, GRT_I32, (int64_t)n_total * ring_len);
    dev->i->sample(dev, logits, n_vocab, cfg, state, seq0, n_seqs, history, max_ctx, next_ids,
                   ring, ring_len);
}
