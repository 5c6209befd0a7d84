/* The CUDA backend: device buffers (cudaMalloc) and pinned mapped host
 * staging, one stream as the queue, events as fences, and stream capture
 * into a CUDA graph for replay. Kernels live in cuda_ops.cu and
 * cuda_sample.cu. The runtime is linked statically, so a binary built here
 * runs on machines without a GPU and reports why the device is missing. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/cuda/cuda_internal.h"

struct grt_fence {
    cudaEvent_t ev;
    bool recorded;
};

struct grt_graph {
    cudaGraph_t graph;
    cudaGraphExec_t exec;
};

/* Writes up to this size go through a kernel whose parameter carries the
 * bytes: asynchronous, capturable, and no pageable-memory copy. */
enum { SMALL_WRITE_MAX = 64 * 1024 };

bool cuda_check(grt_device *dev, cudaError_t e, const char *what) {
    if (e == cudaSuccess) return false;
    grt_dev_set_error(dev, GRT_ERR_DEVICE, "%s: CUDA error %d: %s", what, (int)e, cudaGetErrorString(e));
    return true;
}

void cuda_check_launch(grt_device *dev, const char *what) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) cuda_check(dev, e, what);
}

/* Kernels report bad input (an out-of-range id) through a mapped word. */
static void check_err_word(grt_device *dev) {
    cuda_ctx *c = cuda_ctx_of(dev);
    int w = *(volatile int *)c->err_word;
    if (w == CUDA_KERR_EMBED_ID)
        grt_dev_set_error(dev, GRT_ERR_RANGE, "embed: a token id outside the vocabulary reached the device");
    else if (w != 0)
        grt_dev_set_error(dev, GRT_ERR_DEVICE, "kernel error code %d", w);
}

void *cuda_scratch(grt_device *dev, size_t n) {
    cuda_ctx *c = cuda_ctx_of(dev);
    if (n <= c->scratch_size) return c->scratch;
    if (dev->capturing) {
        grt_dev_set_error(dev, GRT_ERR_INTERNAL,
                          "cuda: %zu bytes of scratch needed inside a capture (have %zu)", n, c->scratch_size);
        return NULL;
    }
    size_t sz = (n + ((size_t)1 << 20) - 1) & ~(((size_t)1 << 20) - 1);
    if (cuda_check(dev, cudaStreamSynchronize(c->stream), "scratch sync")) return NULL;
    cudaFree(c->scratch);
    c->scratch = NULL;
    c->scratch_size = 0;
    cudaError_t e = cudaMalloc(&c->scratch, sz);
    if (e != cudaSuccess) {
        cudaGetLastError();
        c->scratch = NULL;
        grt_dev_set_error(dev, GRT_ERR_NO_MEMORY, "cuda: out of device memory for %zu bytes of scratch", sz);
        return NULL;
    }
    c->scratch_size = sz;
    return c->scratch;
}

/* ---------------------------------------------------------------- memory */

static grt_status oom(grt_device *dev, size_t size, cudaError_t e) {
    (void)dev;
    cudaGetLastError();
    size_t fr = 0, tot = 0;
    cudaMemGetInfo(&fr, &tot);
    return grt_fail(GRT_ERR_NO_MEMORY,
                    "cuda: out of device memory: %.1f MiB needed, %.1f MiB free of %.1f MiB (%s)",
                    (double)size / 1048576.0, (double)fr / 1048576.0, (double)tot / 1048576.0,
                    cudaGetErrorString(e));
}

static grt_status cuda_buffer_new(grt_device *dev, size_t size, unsigned flags, grt_buffer **out) {
    cuda_ctx *c = cuda_ctx_of(dev);
    grt_buffer *b = (grt_buffer *)grt_calloc(1, sizeof *b);
    if (!b) return GRT_ERR_NO_MEMORY;
    size_t sz = ((size ? size : 1) + 255) & ~(size_t)255;
    cudaError_t e;
    if (flags & GRT_BUF_HOST_VISIBLE) {
        void *h = NULL;
        e = cudaHostAlloc(&h, sz, cudaHostAllocMapped);
        if (e != cudaSuccess) {
            free(b);
            cudaGetLastError();
            return grt_fail(GRT_ERR_NO_MEMORY, "cuda: cannot allocate %zu bytes of pinned host memory: %s", sz,
                            cudaGetErrorString(e));
        }
        memset(h, 0, sz);
        void *d = NULL;
        e = cudaHostGetDevicePointer(&d, h, 0);
        if (e != cudaSuccess) {
            cudaFreeHost(h);
            free(b);
            cudaGetLastError();
            return grt_fail(GRT_ERR_DEVICE, "cuda: mapping pinned memory: %s", cudaGetErrorString(e));
        }
        b->ptr = d;
        b->impl = h;
    } else {
        void *d = NULL;
        e = cudaMalloc(&d, sz);
        if (e != cudaSuccess) {
            free(b);
            return oom(dev, sz, e);
        }
        e = cudaMemsetAsync(d, 0, sz, c->stream);
        if (e != cudaSuccess) {
            cudaFree(d);
            free(b);
            cudaGetLastError();
            return grt_fail(GRT_ERR_DEVICE, "cuda: clearing a new buffer: %s", cudaGetErrorString(e));
        }
        b->ptr = d;
    }
    b->dev = dev;
    b->size = size;
    b->flags = flags;
    b->owned = true;
    *out = b;
    return GRT_OK;
}

static grt_status cuda_buffer_from_host(grt_device *dev, const void *host, size_t size, grt_buffer **out) {
    grt_buffer *b = (grt_buffer *)grt_calloc(1, sizeof *b);
    if (!b) return GRT_ERR_NO_MEMORY;
    size_t sz = ((size ? size : 1) + 255) & ~(size_t)255;
    void *d = NULL;
    cudaError_t e = cudaMalloc(&d, sz);
    if (e != cudaSuccess) {
        free(b);
        return oom(dev, sz, e);
    }
    /* Upload once; a synchronous copy so the host bytes may go right away. */
    e = size ? cudaMemcpy(d, host, size, cudaMemcpyHostToDevice) : cudaSuccess;
    if (e != cudaSuccess) {
        cudaFree(d);
        free(b);
        cudaGetLastError();
        return grt_fail(GRT_ERR_DEVICE, "cuda: uploading %zu bytes: %s", size, cudaGetErrorString(e));
    }
    b->dev = dev;
    b->size = size;
    b->flags = GRT_BUF_DEVICE;
    b->ptr = d;
    b->owned = true;
    *out = b;
    return GRT_OK;
}

static void cuda_buffer_free(grt_buffer *b) {
    if (!b) return;
    cuda_flush(b->dev);
    for (cuda_pack *r = cuda_packs(b), *nx; r; r = nx) {
        nx = r->next;
        free(r);
    }
    if (b->owned) {
        if (b->flags & GRT_BUF_HOST_VISIBLE) cudaFreeHost(b->impl);
        else cudaFree(b->ptr);
    }
    free(b);
}

/* Byte ranges of buffers may hold packed weights (cuda_pack): every
 * transfer walks them in segments, each wholly inside one region or none,
 * and maps GGUF positions to where the bytes live. */
static void cuda_write(grt_device *dev, grt_buffer *dst, size_t off, const void *src, size_t n) {
    cuda_flush(dev);
    for (size_t done = 0, len; done < n; done += len) {
        pk_map m = cuda_pack_seg(dst, off + done, n - done, &len);
        const char *s = (const char *)src + done;
        if (m.type || len <= SMALL_WRITE_MAX || dev->capturing) {
            cuda_op_write_small(dev, dst->ptr, off + done, m, s, len);
            continue;
        }
        /* Pageable source: the driver stages it before returning, so the
         * caller's bytes may change right after. */
        cuda_check(dev, cudaMemcpyAsync((char *)dst->ptr + off + done, s, len, cudaMemcpyDefault,
                                        cuda_ctx_of(dev)->stream),
                   "write");
    }
}

static grt_status cuda_read(grt_device *dev, grt_buffer *src, size_t off, void *dst, size_t n) {
    cuda_ctx *c = cuda_ctx_of(dev);
    cuda_flush(dev);
    for (size_t done = 0, len; done < n; done += len) {
        pk_map m = cuda_pack_seg(src, off + done, n - done, &len);
        char *d = (char *)dst + done;
        if (!m.type) {
            cuda_check(dev, cudaMemcpyAsync(d, (char *)src->ptr + off + done, len, cudaMemcpyDefault, c->stream),
                       "read");
            continue;
        }
        /* the whole superblocks around the segment, then their GGUF bytes */
        size_t sbb = pk_sb_bytes(m.type), p0 = off + done;
        size_t a = m.off + (p0 - m.off) / sbb * sbb, b = m.off + (p0 + len - m.off + sbb - 1) / sbb * sbb;
        unsigned char *tmp = (unsigned char *)malloc(b - a);
        if (!tmp) {
            grt_dev_set_error(dev, GRT_ERR_NO_MEMORY, "read: out of host memory");
            break;
        }
        bool bad = cuda_check(dev, cudaMemcpyAsync(tmp, (char *)src->ptr + a, b - a, cudaMemcpyDefault, c->stream),
                              "read") ||
                   cuda_check(dev, cudaStreamSynchronize(c->stream), "read");
        for (size_t i = 0; !bad && i < len; i++) d[i] = (char)tmp[pk_phys(m, p0 + i) - a];
        free(tmp);
    }
    cuda_check(dev, cudaStreamSynchronize(c->stream), "read");
    check_err_word(dev);
    return grt_dev_status(dev);
}

static void cuda_copy(grt_device *dev, grt_buffer *dst, size_t dst_off, grt_buffer *src, size_t src_off,
                      size_t n) {
    cuda_flush(dev);
    for (size_t done = 0, ld, ls; done < n; done += ld < ls ? ld : ls) {
        pk_map dm = cuda_pack_seg(dst, dst_off + done, n - done, &ld);
        pk_map sm = cuda_pack_seg(src, src_off + done, n - done, &ls);
        size_t len = ld < ls ? ld : ls;
        if (dm.type || sm.type) {
            cuda_op_copy_mapped(dev, dst->ptr, dst_off + done, dm, src->ptr, src_off + done, sm, len);
            continue;
        }
        cuda_check(dev,
                   cudaMemcpyAsync((char *)dst->ptr + dst_off + done, (char *)src->ptr + src_off + done, len,
                                   cudaMemcpyDefault, cuda_ctx_of(dev)->stream),
                   "copy");
    }
}

static void cuda_fill(grt_device *dev, grt_buffer *dst, size_t off, size_t n, uint32_t pattern) {
    cuda_flush(dev);
    /* region bounds are 16-aligned, so every segment starts at a pattern word */
    for (size_t done = 0, len; done < n; done += len) {
        pk_map m = cuda_pack_seg(dst, off + done, n - done, &len);
        if (m.type) cuda_op_fill_mapped(dev, dst->ptr, off + done, m, len, pattern);
        else cuda_op_fill(dev, (char *)dst->ptr + off + done, len, pattern);
    }
}

static grt_status cuda_read_completed(grt_device *dev, grt_buffer *hv, size_t off, void *dst, size_t n) {
    (void)dev;
    memcpy(dst, (char *)hv->impl + off, n);
    return GRT_OK;
}

/* ---------------------------------------------------------------- queue */

static grt_status cuda_sync(grt_device *dev) {
    cuda_flush(dev);
    cuda_check(dev, cudaStreamSynchronize(cuda_ctx_of(dev)->stream), "sync");
    check_err_word(dev);
    return grt_dev_status(dev);
}

static grt_status cuda_fence_new(grt_device *dev, grt_fence **out) {
    grt_fence *f = (grt_fence *)grt_calloc(1, sizeof *f);
    if (!f) return GRT_ERR_NO_MEMORY;
    cudaError_t e = cudaEventCreate(&f->ev);
    if (e != cudaSuccess) {
        free(f);
        cudaGetLastError();
        (void)dev;
        return grt_fail(GRT_ERR_DEVICE, "cuda: creating an event: %s", cudaGetErrorString(e));
    }
    *out = f;
    return GRT_OK;
}

static void cuda_fence_free(grt_fence *f) {
    if (!f) return;
    cudaEventDestroy(f->ev);
    free(f);
}

static void cuda_fence_record(grt_device *dev, grt_fence *f) {
    cuda_flush(dev);
    if (!cuda_check(dev, cudaEventRecord(f->ev, cuda_ctx_of(dev)->stream), "fence record")) f->recorded = true;
}

static bool cuda_fence_done(grt_device *dev, grt_fence *f) {
    cudaError_t e = cudaEventQuery(f->ev);
    if (e == cudaErrorNotReady) return false;
    if (e != cudaSuccess) cuda_check(dev, e, "fence");
    check_err_word(dev);
    return true;
}

static grt_status cuda_fence_wait(grt_device *dev, grt_fence *f) {
    cuda_flush(dev);
    cuda_check(dev, cudaEventSynchronize(f->ev), "fence wait");
    check_err_word(dev);
    return grt_dev_status(dev);
}

static bool cuda_fence_elapsed_ms(grt_device *dev, grt_fence *a, grt_fence *b, double *ms) {
    (void)dev;
    if (!a->recorded || !b->recorded) return false;
    float t = 0;
    if (cudaEventElapsedTime(&t, a->ev, b->ev) != cudaSuccess) {
        cudaGetLastError();
        return false;
    }
    *ms = t;
    return true;
}

/* ---------------------------------------------------------------- capture */

static grt_status cuda_capture_begin(grt_device *dev) {
    cuda_flush(dev);
    if (dev->error != GRT_OK) return grt_dev_status(dev);
    cudaError_t e = cudaStreamBeginCapture(cuda_ctx_of(dev)->stream, cudaStreamCaptureModeThreadLocal);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return grt_fail(GRT_ERR_UNSUPPORTED, "cuda: stream capture: %s", cudaGetErrorString(e));
    }
    return GRT_OK;
}

static grt_status cuda_capture_end(grt_device *dev, grt_graph **out) {
    cuda_ctx *c = cuda_ctx_of(dev);
    cudaGraph_t graph = NULL;
    cuda_flush(dev);
    cudaError_t e = cudaStreamEndCapture(c->stream, &graph);
    if (e != cudaSuccess || dev->error != GRT_OK) {
        if (graph) cudaGraphDestroy(graph);
        if (e != cudaSuccess) cuda_check(dev, e, "capture");
        return grt_dev_status(dev);
    }
    grt_graph *g = (grt_graph *)grt_calloc(1, sizeof *g);
    if (!g) {
        cudaGraphDestroy(graph);
        return GRT_ERR_NO_MEMORY;
    }
    g->graph = graph;
    e = cudaGraphInstantiate(&g->exec, graph, 0);
    if (e != cudaSuccess) {
        cudaGraphDestroy(graph);
        free(g);
        cuda_check(dev, e, "graph instantiate");
        return grt_dev_status(dev);
    }
    *out = g;
    return GRT_OK;
}

static void cuda_graph_launch(grt_device *dev, grt_graph *g) {
    cuda_flush(dev);
    cuda_check(dev, cudaGraphLaunch(g->exec, cuda_ctx_of(dev)->stream), "graph launch");
}

static void cuda_graph_free(grt_graph *g) {
    if (!g) return;
    cudaGraphExecDestroy(g->exec);
    cudaGraphDestroy(g->graph);
    free(g);
}

/* ---------------------------------------------------------------- device */

static void cuda_close(grt_device *dev) {
    if (!dev) return;
    cuda_ctx *c = cuda_ctx_of(dev);
    if (c) {
        if (c->stream) cuda_flush(dev);
        free(c->pend);
        c->pend = NULL;
        cudaFree(c->counters);
        if (c->stream) {
            cudaStreamSynchronize(c->stream);
            cudaStreamDestroy(c->stream);
        }
        cudaFree(c->scratch);
        if (c->err_word) cudaFreeHost(c->err_word);
        free(c);
    }
    free(dev);
}

static const grt_device_i cuda_device_i = {
    "cuda",
    cuda_close,
    cuda_buffer_new,
    cuda_buffer_from_host,
    cuda_buffer_free,
    cuda_write,
    cuda_read,
    cuda_copy,
    cuda_fill,
    cuda_read_completed,
    cuda_sync,
    cuda_fence_new,
    cuda_fence_free,
    cuda_fence_record,
    cuda_fence_done,
    cuda_fence_wait,
    cuda_fence_elapsed_ms,
    cuda_capture_begin,
    cuda_capture_end,
    cuda_graph_launch,
    cuda_graph_free,
    cuda_op_embed,
    cuda_op_rmsnorm,
    cuda_op_matmul,
    cuda_op_rope,
    cuda_op_kv_store,
    cuda_op_attention,
    cuda_op_glu,
    cuda_op_advance,
    cuda_op_sample,
    cuda_op_prepare_weight,
};

/* The tuning switches (cuda_ctx), read once at open; unset or empty: def.
 * A flag turns over from its default only for "0"/"off" (default on) or
 * "1"/"on" (default off). */
static bool env_flag(const char *name, bool def) {
    const char *e = getenv(name);
    if (!e || !*e) return def;
    if (def) return strcmp(e, "0") != 0 && strcmp(e, "off") != 0;
    return strcmp(e, "1") == 0 || strcmp(e, "on") == 0;
}

/* atoi's value where it lies in [lo, hi], else def. */
static int env_int(const char *name, int def, int lo, int hi) {
    const char *e = getenv(name);
    if (!e || !*e) return def;
    int v = atoi(e);
    return v >= lo && v <= hi ? v : def;
}

static char g_why[256];

extern "C" bool grt_cuda_probe(const char **why) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        cudaGetLastError();
        snprintf(g_why, sizeof g_why, "no CUDA device: %s",
                 e != cudaSuccess ? cudaGetErrorString(e) : "the driver reports 0 devices");
        if (why) *why = g_why;
        return false;
    }
    if (why) *why = NULL;
    return true;
}

extern "C" grt_status grt_cuda_device_open(const grt_device_options *opts, grt_device **out) {
    (void)opts;
    *out = NULL;
    const char *why = NULL;
    if (!grt_cuda_probe(&why)) return grt_fail(GRT_ERR_NO_DEVICE, "%s", why);
    int ord = env_int("GENRT_CUDA_DEVICE", 0, INT_MIN, INT_MAX);
    grt_device *dev = (grt_device *)grt_calloc(1, sizeof *dev);
    cuda_ctx *c = (cuda_ctx *)grt_calloc(1, sizeof *c);
    grt_status s = GRT_OK;
    cudaDeviceProp prop;
    cudaError_t e;
    if (!dev || !c) {
        free(dev);
        free(c);
        return GRT_ERR_NO_MEMORY;
    }
    dev->i = &cuda_device_i;
    dev->ctx = c;
    dev->name = "cuda";
    dev->n_threads = 1;
    c->device = ord;
    if ((e = cudaSetDevice(ord)) != cudaSuccess) goto cuda_fail;
    if ((e = cudaGetDeviceProperties(&prop, ord)) != cudaSuccess) goto cuda_fail;
    if (prop.major < 7) {
        s = grt_fail(GRT_ERR_NO_DEVICE, "cuda: %s is compute capability %d.%d; genrt needs 7.0 or newer",
                     prop.name, prop.major, prop.minor);
        goto fail;
    }
    c->n_sm = prop.multiProcessorCount;
    c->fuse = env_flag("GENRT_CUDA_FUSE", true);
    c->pdl = prop.major >= 9 && env_flag("GENRT_CUDA_PDL", true);
    c->mv_pipe = env_flag("GENRT_CUDA_MV", true);
    c->mv_u = env_int("GENRT_CUDA_MVU", 4, 2, 8);
    if (c->mv_u != 2 && c->mv_u != 8) c->mv_u = 4;
    c->mv_split = env_flag("GENRT_CUDA_SPLIT", false);
    c->mv_vec_stage = env_flag("GENRT_CUDA_VSTAGE", true);
    c->mv_dp4a = env_flag("GENRT_CUDA_DP4A", true);
    c->mv_min_slice = env_int("GENRT_CUDA_MINSLICE", 2048, 256, INT_MAX);
    c->mv_qdepth2 = env_int("GENRT_CUDA_QDEPTH", 1, 1, 2) == 2;
    c->repack = env_flag("GENRT_CUDA_REPACK", true);
    c->pro_share = env_flag("GENRT_CUDA_PROSHARE", true);
    c->mvq_g = env_int("GENRT_CUDA_QG", 0, INT_MIN, INT_MAX);
    c->glu_pair = env_flag("GENRT_CUDA_GLUPAIR", true);
    c->mv_gguf = env_flag("GENRT_CUDA_GGUF_MV", true);
    c->attn_fuse = env_flag("GENRT_CUDA_AFUSE", true);
    c->attn_keys = env_int("GENRT_CUDA_AKEYS", 256, 1, INT_MAX);
    c->attn_stage = env_int("GENRT_CUDA_ASTAGE", 1 << 20, 0, INT_MAX);
    c->attn_early = env_flag("GENRT_CUDA_AEARLY", true);
    c->attn_hg = env_int("GENRT_CUDA_AHG", 0, 0, 64);
    c->mv_waves = env_int("GENRT_CUDA_MVW", 1, 1, INT_MAX);
    c->mma = env_flag("GENRT_CUDA_MMA", true);
    c->mm_simt = env_flag("GENRT_CUDA_MM_SIMT", true);
    c->mma_slots = env_int("GENRT_CUDA_MMA_SLOTS", 2, INT_MIN, INT_MAX);
    if (c->mma_slots < 0) c->mma_slots = 0;
    c->flash = env_flag("GENRT_CUDA_FLASH", true);
    c->flash_split = env_flag("GENRT_CUDA_FA_SPLIT", true);
    snprintf(c->dev_name, sizeof c->dev_name, "%s", prop.name);
    if ((e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess) goto cuda_fail;
    if ((e = cudaMalloc((void **)&c->counters, CUDA_N_COUNTERS * sizeof(unsigned))) != cudaSuccess) goto cuda_fail;
    if ((e = cudaMemset(c->counters, 0, CUDA_N_COUNTERS * sizeof(unsigned))) != cudaSuccess) goto cuda_fail;
    if ((e = cudaDeviceSynchronize()) != cudaSuccess) goto cuda_fail;
    if ((e = cudaHostAlloc((void **)&c->err_word, 64, cudaHostAllocMapped)) != cudaSuccess) goto cuda_fail;
    memset(c->err_word, 0, 64);
    if ((e = cudaHostGetDevicePointer((void **)&c->err_word_dev, c->err_word, 0)) != cudaSuccess) goto cuda_fail;
    /* Enough for the decode-step ops of any batch this build runs, so a
     * capture never needs to grow it. */
    if (!cuda_scratch(dev, (size_t)32 << 20)) {
        s = grt_dev_status(dev);
        goto fail;
    }
    *out = dev;
    return GRT_OK;
cuda_fail:
    cudaGetLastError();
    s = grt_fail(GRT_ERR_NO_DEVICE, "cuda: device %d: %s", ord, cudaGetErrorString(e));
fail:
    cuda_close(dev);
    return s;
}
