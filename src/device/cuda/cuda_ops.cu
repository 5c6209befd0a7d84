/* The forward-pass kernels. Positions come from the device step state, so
 * every launch here has the same arguments at every decode step and can be
 * replayed from a graph. Accumulation is in f32 throughout. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <string.h>

#include "device/cuda/cuda_internal.h"

static __device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}


/* Sum over a block of up to 1024 threads; every thread gets the result. */
static __device__ float block_sum(float v) {
    __shared__ float part[32];
    __shared__ float total;
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    v = warp_sum(v);
    if (lane == 0) part[w] = v;
    __syncthreads();
    if (w == 0) {
        float s = lane < nw ? part[lane] : 0.0f;
        s = warp_sum(s);
        if (lane == 0) total = s;
    }
    __syncthreads();
    float r = total;
    __syncthreads();
    return r;
}

static __device__ __forceinline__ float bf16_lo(uint32_t w) { return __uint_as_float(w << 16); }
static __device__ __forceinline__ float bf16_hi(uint32_t w) { return __uint_as_float(w & 0xffff0000u); }
static __device__ __forceinline__ float f16_to_f(uint16_t h) { return __half2float(__ushort_as_half(h)); }

/* Element k of a row of type T (any alignment the type allows). */
static __device__ __forceinline__ float load_elem(const uint8_t *row, int T, int64_t k) {
    switch (T) {
    case GRT_F32: return ((const float *)row)[k];
    case GRT_F16: return f16_to_f(((const uint16_t *)row)[k]);
    case GRT_BF16: return __uint_as_float((uint32_t)((const uint16_t *)row)[k] << 16);
    case GRT_Q8_0: {
        const uint8_t *b = row + (k >> 5) * 34;
        float d = f16_to_f((uint16_t)(b[0] | (b[1] << 8)));
        return d * (float)(int8_t)b[2 + (k & 31)];
    }
    case GRT_Q4_0: {
        const uint8_t *b = row + (k >> 5) * 18;
        float d = f16_to_f((uint16_t)(b[0] | (b[1] << 8)));
        int j = (int)(k & 31);
        int q = j < 16 ? (b[2 + j] & 15) : (b[2 + j - 16] >> 4);
        return d * (float)(q - 8);
    }
    }
    return 0.0f;
}

/* Element k of a packed Q8_0 / Q4_0 row (cuda_pack; rows of whole superblocks). */
static __device__ __forceinline__ float load_elem_pk(const uint8_t *row, int T, int64_t k) {
    int j = (int)((k >> 5) & 7), e = (int)(k & 31);
    const uint8_t *sb = row + (k >> 8) * pk_sb_bytes(T);
    float d = f16_to_f((uint16_t)(sb[2 * j] | (sb[2 * j + 1] << 8)));
    if (T == GRT_Q8_0) return d * (float)(int8_t)sb[16 + 32 * j + e];
    uint8_t q = sb[16 + 16 * j + (e & 15)];
    return d * (float)((e < 16 ? q & 15 : q >> 4) - 8);
}

static __device__ __forceinline__ float load_w(const uint8_t *row, int T, int pk, int64_t k) {
    return pk ? load_elem_pk(row, T, k) : load_elem(row, T, k);
}

static size_t row_bytes(int T, int64_t n) { return grt_row_bytes((grt_dtype)T, n); }

/* ---------------------------------------------------------------- write, fill */

/* Writers. Kernels that write buffers the host names (write, fill, copy,
 * repack) wait for their predecessor but never let their successor start
 * early: the GEMVs load weights before their own PDL wait (weights never
 * change between kernels), which holds only if no kernel that may write
 * weights is still running when they start. So these end a chain of early
 * starts. */
enum { WRITE_CHUNK = 4096 };
struct write_chunk {
    unsigned char b[WRITE_CHUNK];
};

static __global__ void k_write(unsigned char *base, size_t off, pk_map m, int n, const write_chunk p) {
    pdl_wait(); /* no early start for the next kernel: see Writers */
    for (int i = threadIdx.x; i < n; i += blockDim.x) base[pk_phys(m, off + i)] = p.b[i];
}

void cuda_op_write_small(grt_device *dev, void *base, size_t off, pk_map m, const void *src, size_t n) {
    write_chunk p;
    for (size_t o = 0; o < n; o += WRITE_CHUNK) {
        size_t k = n - o < WRITE_CHUNK ? n - o : WRITE_CHUNK;
        memcpy(p.b, (const char *)src + o, k);
        launch(dev, k_write, dim3(1), dim3(256), 0, (unsigned char *)base, off + o, m, (int)k, p);
    }
    cuda_check_launch(dev, "write");
}

static __global__ void k_copy_mapped(unsigned char *dbase, size_t doff, pk_map dm, const unsigned char *sbase,
                                     size_t soff, pk_map sm, size_t n) {
    pdl_wait(); /* no early start for the next kernel: see Writers */
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dbase[pk_phys(dm, doff + i)] = sbase[pk_phys(sm, soff + i)];
}

static unsigned byte_blocks(size_t n) {
    size_t b = (n + 255) / 256;
    return (unsigned)(b > 4096 ? 4096 : b < 1 ? 1 : b);
}

void cuda_op_copy_mapped(grt_device *dev, void *dbase, size_t doff, pk_map dm, const void *sbase, size_t soff,
                         pk_map sm, size_t n) {
    launch(dev, k_copy_mapped, dim3(byte_blocks(n)), dim3(256), 0, (unsigned char *)dbase, doff, dm,
           (const unsigned char *)sbase, soff, sm, n);
    cuda_check_launch(dev, "copy");
}

/* Bytes [off, off + n) take the pattern's bytes in turn (off % 4 == 0). */
static __global__ void k_fill_mapped(unsigned char *base, size_t off, pk_map m, size_t n, uint32_t v) {
    pdl_wait(); /* no early start for the next kernel: see Writers */
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        base[pk_phys(m, off + i)] = (unsigned char)(v >> (8 * (i & 3)));
}

void cuda_op_fill_mapped(grt_device *dev, void *base, size_t off, pk_map m, size_t n, uint32_t pattern) {
    launch(dev, k_fill_mapped, dim3(byte_blocks(n)), dim3(256), 0, (unsigned char *)base, off, m, n, pattern);
    cuda_check_launch(dev, "fill");
}

/* ---------------------------------------------------------------- repack */

/* GGUF superblocks into the packed layout, in place: each thread moves one
 * superblock through its own slice of shared memory. */
enum { RP_THREADS = 128 };

static __global__ void __launch_bounds__(RP_THREADS) k_repack(uint4 *w, int T, size_t n_sb) {
    pdl_wait(); /* no early start for the next kernel: see Writers */
    __shared__ uint4 sm[RP_THREADS][17];
    size_t sb = blockIdx.x * (size_t)RP_THREADS + threadIdx.x;
    if (sb >= n_sb) return;
    unsigned n16 = pk_sb_bytes(T) / 16;
    uint4 *src = w + sb * n16, *mine = sm[threadIdx.x];
    for (unsigned i = 0; i < n16; i++) mine[i] = src[i];
    const unsigned char *g = (const unsigned char *)mine;
    for (unsigned i = 0; i < n16; i++) {
        unsigned char o[16];
        for (unsigned b = 0; b < 16; b++) {
            /* packed byte q is GGUF byte (block j, byte w): pk_pos inverted */
            unsigned q = 16 * i + b, bs = T == GRT_Q4_0 ? 18u : 34u;
            unsigned j = q < 16 ? q / 2 : (q - 16) / (bs - 2), wb = q < 16 ? q % 2 : (q - 16) % (bs - 2) + 2;
            o[b] = g[j * bs + wb];
        }
        uint4 v;
        memcpy(&v, o, 16);
        src[i] = v;
    }
}

grt_status cuda_op_prepare_weight(grt_device *dev, const grt_tensor *w) {
    cuda_ctx *c = cuda_ctx_of(dev);
    int T = w->type;
    grt_buffer *b = w->buf;
    size_t off = w->offset, n = grt_tensor_nbytes(w);
    /* Rows of whole superblocks that start 16-aligned; other shapes keep the
     * GGUF layout (its kernels read 2-byte aligned blocks). */
    if (!c->repack || (T != GRT_Q8_0 && T != GRT_Q4_0) || w->ne[1] % 256 != 0 || n == 0 ||
        (b->flags & GRT_BUF_HOST_VISIBLE) || ((uintptr_t)b->ptr + off) % 16 != 0)
        return GRT_OK;
    for (cuda_pack *r = cuda_packs(b); r; r = r->next)
        if (off < r->off + r->n && r->off < off + n) return GRT_OK; /* already packed (or part of a packed range) */
    cuda_pack *r = (cuda_pack *)grt_calloc(1, sizeof *r);
    if (!r) return GRT_ERR_NO_MEMORY;
    cuda_flush(dev);
    size_t n_sb = n / pk_sb_bytes(T);
    launch(dev, k_repack, dim3((unsigned)((n_sb + RP_THREADS - 1) / RP_THREADS)), dim3(RP_THREADS), 0,
           (uint4 *)((char *)b->ptr + off), T, n_sb);
    cuda_check_launch(dev, "repack");
    r->off = off, r->n = n, r->type = T;
    r->next = (cuda_pack *)b->impl;
    b->impl = r;
    return grt_dev_status(dev);
}

/* How matmul and embed read weight t: 1 packed, 0 GGUF layout, -1 a view
 * that only partly matches the packed regions it touches (a sticky error:
 * prepared weights are named with their type and row length). */
static int pack_of(grt_device *dev, const grt_tensor *t) {
    if (!cuda_packs(t->buf)) return 0;
    size_t off = t->offset, n = grt_tensor_nbytes(t), len;
    bool any = false, all = true;
    for (size_t p = off; p < off + n; p += len) {
        pk_map m = cuda_pack_seg(t->buf, p, off + n - p, &len);
        if (!m.type) {
            all = false;
            continue;
        }
        any = true;
        if (m.type != t->type || t->ne[1] % 256 != 0 || (p - m.off) % pk_sb_bytes(m.type) != 0) all = false;
    }
    if (!any) return 0;
    if (all) return 1;
    grt_dev_set_error(dev, GRT_ERR_INVALID_ARG,
                      "cuda: a %s [%lld, %lld] view at byte %zu does not match the repacked weight it overlaps",
                      grt_dtype_name((grt_dtype)t->type), (long long)t->ne[0], (long long)t->ne[1], off);
    return -1;
}

static __global__ void k_fill(uint32_t *dst, size_t n, uint32_t v) {
    pdl_wait(); /* no early start for the next kernel: see Writers */
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dst[i] = v;
}

void cuda_op_fill(grt_device *dev, void *dst, size_t n, uint32_t pattern) {
    size_t w = n / 4;
    size_t blocks = (w + 255) / 256;
    if (blocks > 4096) blocks = 4096;
    if (blocks == 0) blocks = 1;
    launch(dev, k_fill, dim3((unsigned)blocks), dim3(256), 0, (uint32_t *)dst, w, pattern);
    cuda_check_launch(dev, "fill");
}

/* ---------------------------------------------------------------- embed */

static __global__ void k_embed(float *out, const uint8_t *table, int T, int pk, size_t row, int64_t n_vocab,
                               int64_t n_embd, const int32_t *ids, float scale, int *err) {
    pdl_start();
    int r = blockIdx.y;
    int32_t id = ids[r];
    float *o = out + (int64_t)r * n_embd;
    bool bad = id < 0 || id >= n_vocab;
    if (bad && threadIdx.x == 0 && blockIdx.x == 0) *(volatile int *)err = CUDA_KERR_EMBED_ID;
    const uint8_t *src = table + (size_t)(bad ? 0 : id) * row;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n_embd; i += (int64_t)gridDim.x * blockDim.x)
        o[i] = bad ? 0.0f : load_w(src, T, pk, i) * scale;
}

void cuda_op_embed(grt_device *dev, const grt_tensor *out, const grt_tensor *table, const grt_tensor *ids,
                   float scale, int n_rows) {
    cuda_flush(dev);
    cuda_ctx *c = cuda_ctx_of(dev);
    int pk = pack_of(dev, table);
    if (pk < 0) return;
    int64_t n_vocab = table->ne[0], n_embd = table->ne[1];
    dim3 grid((unsigned)((n_embd + 255) / 256 < 16 ? (n_embd + 255) / 256 : 16), (unsigned)n_rows);
    launch(dev, k_embed, dim3(grid), dim3(256), 0, (float *)tptr(out), (const uint8_t *)tptr(table), table->type, pk,
                                         row_bytes(table->type, n_embd), n_vocab, n_embd,
                                         (const int32_t *)tptr(ids), scale, c->err_word_dev);
    cuda_check_launch(dev, "embed");
}

/* ---------------------------------------------------------------- rmsnorm */

static __global__ void k_rmsnorm(float *out, const float *in, const float *w, int64_t dim, float eps) {
    pdl_start();
    const float *x = in + blockIdx.x * dim;
    float *y = out + blockIdx.x * dim;
    float ss = 0;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) ss += x[i] * x[i];
    ss = block_sum(ss);
    float s = 1.0f / sqrtf(ss / (float)dim + eps);
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) y[i] = x[i] * s * w[i];
}

static void direct_rmsnorm(grt_device *dev, const grt_tensor *out, const grt_tensor *in, const grt_tensor *w,
                     int64_t n_rows, int64_t dim, float eps) {
    int th = dim >= 1024 ? 512 : dim >= 256 ? 256 : dim > 64 ? 128 : 32;
    launch(dev, k_rmsnorm, dim3((unsigned)n_rows), dim3(th), 0, (float *)tptr(out), (const float *)tptr(in),
                                                                   (const float *)tptr(w), dim, eps);
    cuda_check_launch(dev, "rmsnorm");
}

/* ---------------------------------------------------------------- matmul: decode */

/* Matrix-vector products for R <= 4 input rows: one warp per output,
 * 16-byte weight loads (several in flight per lane), quantized blocks
 * unpacked in registers, a warp reduction at the end. */
enum { MV_WARPS = 8 };
/* Blocks per SM the pipelined GEMVs are compiled for: bytes in flight per
 * SM grow with resident warps (one round each), so registers are capped:
 * 2 (128 registers) measured 1.08x over 1 on Llama-1B BF16, 3 and 4 slower. */
#ifndef MV_MINB
#define MV_MINB 2
#endif

struct mv_mat {
    const uint8_t *w;
    size_t w_row;      /* bytes */
    const float *bias; /* [N] or NULL */
    float *out;        /* [R, N] */
    int64_t N;
    int acc;
};

enum { PRO_NONE = 0, PRO_NORM = 1, PRO_GLU = 2 };
enum { MV_STAGE_MAX = 64 * 1024 }; /* bytes of x staged in shared memory */

/* Splits of the fused decode attention that work for a row at position
 * pos: at least min_keys keys each, n_splits at most. */
static __device__ __forceinline__ int ad_active(int pos, int max_ctx, int window, int min_keys, int n_splits) {
    int hi = pos < max_ctx - 1 ? pos : max_ctx - 1;
    int lo = window > 0 && pos - window + 1 > 0 ? pos - window + 1 : 0;
    int n = hi - lo + 1;
    int active = n > min_keys ? (n + min_keys - 1) / min_keys : 1;
    return active > n_splits ? n_splits : active;
}

/* True in every thread of the GEMV block that finishes staging its input
 * last (the counter then back to zero); call after a __syncthreads. That
 * block writes the fused op's output: every block has read the input by
 * then (it may be the same memory). Lighter than split_last (attention): nothing
 * other blocks wrote is read, so one fence in one thread suffices. */
static __device__ __forceinline__ bool staged_last(unsigned *ctr) {
    __shared__ unsigned last;
    if (threadIdx.x == 0) {
        __threadfence();
        last = atomicAdd(ctr, 1u) == gridDim.x - 1;
        if (last) atomicExch(ctr, 0u);
    }
    __syncthreads();
    return last;
}

/* Up to three matrices that read the same input, one launch; blocks
 * [blk[i], blk[i + 1]) compute matrix i. With stage, each block first puts
 * the input rows in shared memory, applying the prologue of a fused
 * rmsnorm (x * rsqrt(mean(x^2) + eps) * pw) or GLU (act(x) * up); that
 * result also goes to pro_out (pro_range), so the fused op's output exists
 * as if it had run alone (in place included). */
struct mv_args {
    mv_mat m[3];
    int n_mats;
    unsigned blk[4];
    const float *x; /* [R, K] */
    int64_t K;
    int stage, pro, act;
    const float *pw, *up;
    float eps;
    float *pro_out;
    int pro_share;  /* pro_out overlaps none of the prologue's inputs: each block writes its share of it */
    unsigned *ctr;  /* zero between launches */
    int vec_stage;  /* pipelined kernels: stage with float4 loads where aligned */
    int split;      /* pipelined kernels: warps per output row (1, 2, 4, 8), each a K slice;
                       blk[] then counts blocks of MV_WARPS / split rows */
    int pk;         /* Q8_0 / Q4_0 weights in the packed layout (cuda_pack) */
    int late;       /* k_mvp_float, k_mvq: let the next kernel launch only after this one's PDL wait
                       (set on a held group whose output a rope reads: an attention follows) */
    float *glu_out; /* paired GLU (one input row; m[0] gate, m[1] up, N rows each): a gate row and its up
                       row end in one warp, which also writes glu_out[n] = act(gate[n]) * up[n] */
    int glu_act;
};

/* The part [*i0, *i1) of the n values of a fused prologue's output that
 * this block writes; false: none. With pro_share every block writes its
 * share, no synchronization needed; otherwise (the output is in place of
 * an input) the last block to finish staging writes it all, once every
 * block has read the input. Call after a __syncthreads. */
static __device__ __forceinline__ bool pro_range(const mv_args &a, int64_t n, int64_t *i0, int64_t *i1) {
    if (!a.pro_out) return false;
    if (a.pro_share) {
        *i0 = n * blockIdx.x / gridDim.x, *i1 = n * (blockIdx.x + 1) / gridDim.x;
        return true;
    }
    *i0 = 0, *i1 = n;
    return staged_last(a.ctr);
}

template <int R>
static __device__ __forceinline__ void mv_finish(const mv_mat &M, int64_t n, float (&s)[R]) {
    int lane = threadIdx.x & 31;
#pragma unroll
    for (int r = 0; r < R; r++) s[r] = warp_sum(s[r]);
    if (lane == 0) {
        float b = M.bias ? M.bias[n] : 0.0f;
#pragma unroll
        for (int r = 0; r < R; r++) {
            float *o = M.out + r * M.N + n;
            float v = s[r] + b;
            *o = M.acc ? *o + v : v;
        }
    }
}

/* SiLU with the hardware exp2 and reciprocal (a few ulp: 5e-7 relative at
 * |x| <= 6) instead of IEEE expf and division: a GEMV whose prologue is a
 * GLU computes it for the whole input in every block, where the longer
 * forms made the prologue issue-bound. */
static __device__ __forceinline__ float act_f(float x, int act) {
    if (act == GRT_ACT_SILU) return __fdividef(x, 1.0f + __expf(-x));
    return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}

/* The GLU prologue on 4 elements: act(x) * up. */
static __device__ __forceinline__ float4 glu4(float4 x, float4 u, int act) {
    return make_float4(act_f(x.x, act) * u.x, act_f(x.y, act) * u.y, act_f(x.z, act) * u.z, act_f(x.w, act) * u.w);
}
/* The rmsnorm prologue on 4 elements: x * scale * w, in that order. */
static __device__ __forceinline__ float4 norm4(float4 x, float sc, float4 w) {
    return make_float4(x.x * sc * w.x, x.y * sc * w.y, x.z * sc * w.z, x.w * sc * w.w);
}
static __device__ __forceinline__ float sumsq4(float4 t) { return t.x * t.x + t.y * t.y + t.z * t.z + t.w * t.w; }

/* mv_stage for K % 4 == 0 and 16-aligned vectors: float4 loads, V per
 * thread issued before any is used (the scalar loop keeps few in flight,
 * and a K = 8192 GLU prologue then costs several L2 round trips). */
template <int R>
static __device__ void mv_stage4(const mv_args &a, float *xs) {
    constexpr int V = MV_MINB >= 3 ? 4 : 8;
    int64_t K4 = a.K / 4;
    int nt = blockDim.x;
    for (int r = 0; r < R; r++) {
        const float4 *x = (const float4 *)(a.x + r * a.K);
        float4 *y = (float4 *)(xs + r * a.K);
        float ss = 0;
        for (int64_t i0 = threadIdx.x; i0 < K4; i0 += (int64_t)V * nt) {
            float4 xv[V], uv[V];
#pragma unroll
            for (int v = 0; v < V; v++) {
                int64_t i = i0 + (int64_t)v * nt;
                if (i < K4) {
                    xv[v] = x[i];
                    if (a.pro == PRO_GLU) uv[v] = ((const float4 *)(a.up + r * a.K))[i];
                }
            }
#pragma unroll
            for (int v = 0; v < V; v++) {
                int64_t i = i0 + (int64_t)v * nt;
                if (i >= K4) break;
                float4 t = xv[v];
                if (a.pro == PRO_GLU) t = glu4(t, uv[v], a.act);
                else if (a.pro == PRO_NORM) ss += sumsq4(t);
                y[i] = t;
            }
        }
        if (a.pro == PRO_NORM) {
            ss = block_sum(ss); /* its barriers also order the y writes above */
            float sc = 1.0f / sqrtf(ss / (float)a.K + a.eps);
            const float4 *pw = (const float4 *)a.pw;
            for (int64_t i0 = threadIdx.x; i0 < K4; i0 += (int64_t)V * nt) {
                float4 wv[V];
#pragma unroll
                for (int v = 0; v < V; v++) {
                    int64_t i = i0 + (int64_t)v * nt;
                    if (i < K4) wv[v] = pw[i];
                }
#pragma unroll
                for (int v = 0; v < V; v++) {
                    int64_t i = i0 + (int64_t)v * nt;
                    if (i >= K4) break;
                    y[i] = norm4(y[i], sc, wv[v]);
                }
            }
        }
    }
}

/* Inputs of up to MV_PW_PRE float4 per thread are staged in one pass from
 * registers, with the rmsnorm weight loaded before the PDL wait (it never
 * changes): one round trip fewer on the kernel's critical path. Sums and
 * products are in mv_stage4's order, so results are the same. */
enum { MV_PW_PRE = 2 };

static __device__ __forceinline__ bool mv_vec(const mv_args &a) {
    return a.vec_stage && a.K % 4 == 0 &&
           (((uintptr_t)a.x | (uintptr_t)(a.pro == PRO_NORM ? a.pw : NULL) |
             (uintptr_t)(a.pro == PRO_GLU ? a.up : NULL)) & 15) == 0;
}

static __device__ __forceinline__ bool mv_one_pass(const mv_args &a) {
    return a.stage && mv_vec(a) && a.K / 4 <= (int64_t)MV_PW_PRE * blockDim.x;
}

static __device__ __forceinline__ void mv_pw_prefetch(const mv_args &a, float4 (&pw)[MV_PW_PRE]) {
    bool on = a.pro == PRO_NORM && mv_one_pass(a);
#pragma unroll
    for (int v = 0; v < MV_PW_PRE; v++) {
        int64_t i = threadIdx.x + (int64_t)v * blockDim.x;
        pw[v] = on && i < a.K / 4 ? ((const float4 *)a.pw)[i] : make_float4(0, 0, 0, 0);
    }
}

template <int R>
static __device__ void mv_stage1(const mv_args &a, float *xs, const float4 (&pw)[MV_PW_PRE]) {
    int64_t K4 = a.K / 4;
    int nt = blockDim.x;
    for (int r = 0; r < R; r++) {
        const float4 *x = (const float4 *)(a.x + r * a.K);
        float4 *y = (float4 *)(xs + r * a.K);
        float4 xv[MV_PW_PRE], uv[MV_PW_PRE];
#pragma unroll
        for (int v = 0; v < MV_PW_PRE; v++) {
            int64_t i = threadIdx.x + (int64_t)v * nt;
            if (i < K4) {
                xv[v] = x[i];
                if (a.pro == PRO_GLU) uv[v] = ((const float4 *)(a.up + r * a.K))[i];
            }
        }
        float sc = 1.0f;
        if (a.pro == PRO_NORM) {
            float ss = 0;
#pragma unroll
            for (int v = 0; v < MV_PW_PRE; v++)
                if (threadIdx.x + (int64_t)v * nt < K4) ss += sumsq4(xv[v]);
            ss = block_sum(ss);
            sc = 1.0f / sqrtf(ss / (float)a.K + a.eps);
        }
#pragma unroll
        for (int v = 0; v < MV_PW_PRE; v++) {
            int64_t i = threadIdx.x + (int64_t)v * nt;
            if (i >= K4) break;
            float4 t = xv[v];
            if (a.pro == PRO_GLU) t = glu4(t, uv[v], a.act);
            else if (a.pro == PRO_NORM) t = norm4(t, sc, pw[v]);
            y[i] = t;
        }
    }
}

template <int R>
static __device__ const float *mv_stage(const mv_args &a, float *xs, const float4 (*pw)[MV_PW_PRE] = nullptr) {
    if (!a.stage) return a.x;
    int64_t K = a.K;
    bool vec = mv_vec(a), one = pw && mv_one_pass(a);
    if (one) mv_stage1<R>(a, xs, *pw);
    else if (vec) mv_stage4<R>(a, xs);
    for (int r = 0; r < (vec || one ? 0 : R); r++) {
        const float *x = a.x + r * K;
        float *y = xs + r * K;
        if (a.pro == PRO_NORM) {
            float ss = 0;
#pragma unroll 4
            for (int64_t k = threadIdx.x; k < K; k += blockDim.x) ss += x[k] * x[k];
            ss = block_sum(ss);
            float sc = 1.0f / sqrtf(ss / (float)K + a.eps);
#pragma unroll 4
            for (int64_t k = threadIdx.x; k < K; k += blockDim.x) y[k] = x[k] * sc * a.pw[k];
        } else if (a.pro == PRO_GLU) {
            const float *u = a.up + r * K;
#pragma unroll 4
            for (int64_t k = threadIdx.x; k < K; k += blockDim.x) y[k] = act_f(x[k], a.act) * u[k];
        } else {
#pragma unroll 4
            for (int64_t k = threadIdx.x; k < K; k += blockDim.x) y[k] = x[k];
        }
    }
    __syncthreads();
    int64_t i0, i1;
    if (pro_range(a, R * K, &i0, &i1))
        for (int64_t i = i0 + threadIdx.x; i < i1; i += blockDim.x) a.pro_out[i] = xs[i];
    return xs;
}

/* The matrix of this block and the output row of this warp (-1: none).
 * Selects without indexing the parameter array (which would copy it to
 * local memory). */
static __device__ __forceinline__ int64_t mv_row(const mv_args &a, unsigned vb, mv_mat *M) {
    bool in1 = a.n_mats > 1 && vb >= a.blk[1], in2 = a.n_mats > 2 && vb >= a.blk[2];
    *M = in2 ? a.m[2] : in1 ? a.m[1] : a.m[0];
    unsigned b0 = in2 ? a.blk[2] : in1 ? a.blk[1] : 0;
    int64_t n = (int64_t)(vb - b0) * MV_WARPS + (threadIdx.x >> 5);
    return n < M->N ? n : -1;
}

/* 8 activations of row r starting at element k. */
static __device__ __forceinline__ void load_x8(const float *x, int64_t k, float (&v)[8]) {
    float4 a = *(const float4 *)(x + k), b = *(const float4 *)(x + k + 4);
    v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w;
    v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
}

/* Float weights: each lane takes 16-byte chunks (8 bf16/f16 or 4 f32),
 * U chunks per round, all loads issued before any is used. */
template <int T>
static __device__ __forceinline__ void unpack16(const uint4 &v, float (&wf)[8]) {
    if (T == GRT_F32) {
        wf[0] = __uint_as_float(v.x); wf[1] = __uint_as_float(v.y);
        wf[2] = __uint_as_float(v.z); wf[3] = __uint_as_float(v.w);
    } else if (T == GRT_BF16) {
        wf[0] = bf16_lo(v.x); wf[1] = bf16_hi(v.x); wf[2] = bf16_lo(v.y); wf[3] = bf16_hi(v.y);
        wf[4] = bf16_lo(v.z); wf[5] = bf16_hi(v.z); wf[6] = bf16_lo(v.w); wf[7] = bf16_hi(v.w);
    } else {
        const uint32_t q[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            float2 f = __half22float2(*(const __half2 *)&q[i]);
            wf[2 * i] = f.x;
            wf[2 * i + 1] = f.y;
        }
    }
}

/* s[r] += chunk w's weights (8 bf16 / f16 or 4 f32) times input row r of
 * X ([R, K]) from element k. */
template <int T, int R>
static __device__ __forceinline__ void dot_chunk(const uint4 &w, const float *X, int64_t K, int64_t k, float (&s)[R]) {
    float wf[8];
    unpack16<T>(w, wf);
#pragma unroll
    for (int r = 0; r < R; r++) {
        const float *xr = X + r * K + k;
        if (T == GRT_F32) {
            float4 xv = *(const float4 *)xr;
            s[r] += wf[0] * xv.x + wf[1] * xv.y + wf[2] * xv.z + wf[3] * xv.w;
        } else {
            float xv[8];
            load_x8(xr, 0, xv);
#pragma unroll
            for (int i = 0; i < 8; i++) s[r] += wf[i] * xv[i];
        }
    }
}

/* Weights never change, so each kernel issues its first round of weight
 * loads before it waits for the previous kernel (PDL), then stages x. */
template <int T, int R>
static __global__ void __launch_bounds__(MV_WARPS * 32) k_mv_float(mv_args a) {
    pdl_launch();
    extern __shared__ float xs_dyn[];
    mv_mat M;
    unsigned vb = blockIdx.x;
    int64_t n = mv_row(a, vb, &M);
    bool valid = n >= 0;
    int lane = threadIdx.x & 31;
    const uint4 *wr = (const uint4 *)(M.w + (valid ? n : 0) * M.w_row);
    constexpr int EPC = T == GRT_F32 ? 4 : 8; /* elements per chunk */
    int64_t n_chunks = valid ? a.K / EPC : 0;
    constexpr int U = 4;
    uint4 wv[U];
#pragma unroll
    for (int u = 0; u < U; u++) {
        int64_t c = lane + 32 * u;
        wv[u] = c < n_chunks ? __ldg(wr + c) : make_uint4(0, 0, 0, 0);
    }
    pdl_wait();
    const float *X = mv_stage<R>(a, xs_dyn);
    for (bool first = true;; first = false) {
        if (valid) {
            float s[R];
#pragma unroll
            for (int r = 0; r < R; r++) s[r] = 0;
            for (int64_t c0 = lane; c0 < n_chunks; c0 += 32 * U) {
                if (!first || c0 != lane) {
#pragma unroll
                    for (int u = 0; u < U; u++) {
                        int64_t c = c0 + 32 * u;
                        wv[u] = c < n_chunks ? __ldg(wr + c) : make_uint4(0, 0, 0, 0);
                    }
                }
#pragma unroll
                for (int u = 0; u < U; u++) {
                    int64_t c = c0 + 32 * u;
                    if (c >= n_chunks) break;
                    dot_chunk<T, R>(wv[u], X, a.K, c * EPC, s);
                }
            }
            mv_finish<R>(M, n, s);
        }
        vb += gridDim.x;
        if (vb >= a.blk[a.n_mats]) break;
        n = mv_row(a, vb, &M);
        valid = n >= 0;
        wr = (const uint4 *)(M.w + (valid ? n : 0) * M.w_row);
        n_chunks = valid ? a.K / EPC : 0;
    }
}

/* Two bytes at a 2-aligned address as the low half of a word. */
static __device__ __forceinline__ uint32_t ld16(const uint8_t *p) { return __ldg((const unsigned short *)p); }

/* GGUF-layout Q8_0 / Q4_0 rows of any K % 32 == 0 (the packed layout needs
 * K % 256 == 0, e.g. not SmolLM2's K 576): blocks are only 2-byte aligned,
 * so quants load as 16-bit pairs. A lane takes 8 quant bytes of a block:
 * Q8_0, four lanes per block (elements [8p, 8p + 8)); Q4_0, two lanes,
 * half h has elements [8h, 8h + 8) (low nibbles) and [16 + 8h, 24 + 8h)
 * (high). A warp covers 32 / LPB blocks per step, U steps per round. */
template <int T, int R>
static __global__ void __launch_bounds__(MV_WARPS * 32) k_mv_qraw(mv_args a) {
    pdl_launch();
    extern __shared__ float xs_dyn[];
    constexpr int LPB = T == GRT_Q4_0 ? 2 : 4, BPS = 32 / LPB, BS = T == GRT_Q4_0 ? 18 : 34, U = 4;
    mv_mat M;
    unsigned vb = blockIdx.x;
    int64_t n = mv_row(a, vb, &M);
    bool valid = n >= 0;
    int lane = threadIdx.x & 31, part = lane % LPB;
    const uint8_t *wr = M.w + (valid ? n : 0) * M.w_row;
    int64_t nb = valid ? a.K / 32 : 0;
    uint32_t dq[U], q0[U], q1[U];
    auto load_round = [&](int64_t b0) {
#pragma unroll
        for (int u = 0; u < U; u++) {
            int64_t b = b0 + BPS * u;
            if (b < nb) {
                const uint8_t *blk = wr + b * BS, *qp = blk + 2 + part * 8;
                dq[u] = ld16(blk);
                q0[u] = ld16(qp) | (ld16(qp + 2) << 16);
                q1[u] = ld16(qp + 4) | (ld16(qp + 6) << 16);
            } else {
                dq[u] = q0[u] = q1[u] = 0;
            }
        }
    };
    load_round(lane / LPB);
    pdl_wait();
    const float *X = mv_stage<R>(a, xs_dyn);
    for (bool first = true;; first = false) {
        if (valid) {
            float s[R];
#pragma unroll
            for (int r = 0; r < R; r++) s[r] = 0;
            for (int64_t b0 = lane / LPB; b0 < nb; b0 += BPS * U) {
                if (!first || b0 != lane / LPB) load_round(b0);
#pragma unroll
                for (int u = 0; u < U; u++) {
                    int64_t b = b0 + BPS * u;
                    if (b >= nb) break;
                    float d = f16_to_f((uint16_t)dq[u]);
                    /* wa: elements [k, k + 8); Q4_0 also wb: [k + 16, k + 24) */
                    float wa[8], wb[8];
#pragma unroll
                    for (int i = 0; i < 4; i++) {
                        uint32_t b0v = (q0[u] >> (8 * i)) & 0xff, b1v = (q1[u] >> (8 * i)) & 0xff;
                        if (T == GRT_Q8_0) {
                            wa[i] = (float)(int8_t)b0v;
                            wa[4 + i] = (float)(int8_t)b1v;
                        } else {
                            wa[i] = (float)((int)(b0v & 15) - 8);
                            wb[i] = (float)((int)(b0v >> 4) - 8);
                            wa[4 + i] = (float)((int)(b1v & 15) - 8);
                            wb[4 + i] = (float)((int)(b1v >> 4) - 8);
                        }
                    }
                    int64_t k = b * 32 + part * 8;
#pragma unroll
                    for (int r = 0; r < R; r++) {
                        float x0[8], x1[8];
                        load_x8(X + r * a.K, k, x0);
                        if (T == GRT_Q4_0) load_x8(X + r * a.K, k + 16, x1);
                        float t = 0;
#pragma unroll
                        for (int i = 0; i < 8; i++) t += T == GRT_Q4_0 ? wa[i] * x0[i] + wb[i] * x1[i] : wa[i] * x0[i];
                        s[r] += d * t;
                    }
                }
            }
            mv_finish<R>(M, n, s);
        }
        vb += gridDim.x;
        if (vb >= a.blk[a.n_mats]) break;
        n = mv_row(a, vb, &M);
        valid = n >= 0;
        wr = M.w + (valid ? n : 0) * M.w_row;
        nb = valid ? a.K / 32 : 0;
    }
}

/* Any type, any alignment: one warp per output, element by element. */
static __global__ void k_mv_generic(mv_args a, int T, int R) {
    int pk = a.pk;
    pdl_start();
    const mv_mat &M = a.m[0];
    int64_t n = (int64_t)blockIdx.x * MV_WARPS + (threadIdx.x >> 5);
    if (n >= M.N) return;
    int lane = threadIdx.x & 31;
    const uint8_t *wr = M.w + n * M.w_row;
    for (int r = 0; r < R; r++) {
        float s = 0;
        for (int64_t k = lane; k < a.K; k += 32) s += load_w(wr, T, pk, k) * a.x[r * a.K + k];
        s = warp_sum(s);
        if (lane == 0) {
            float v = s + (M.bias ? M.bias[n] : 0.0f);
            float *o = M.out + r * M.N + n;
            *o = M.acc ? *o + v : v;
        }
    }
}

/* ------------------------------------------- matmul: decode, pipelined */


/* The pipelined GEMVs run one wave of blocks (as many as fit on the SMs at
 * once); each warp walks its rows in rounds of loads and issues the loads
 * of its next round (next row included) before it computes the current
 * one, so every warp keeps weight bytes in flight from start to end. */

/* A warp's place: block vb, its output row n of matrix mi, round r. */
struct mv_it {
    const uint8_t *w; /* row n of the matrix */
    const uint8_t *w2; /* paired GLU: row n of the up matrix (w: of the gate) */
    int64_t n;
    unsigned vb;
    int mi, r;
};

static __device__ __forceinline__ bool it_row(const mv_args &a, mv_it &p) {
    unsigned end = a.blk[a.n_mats];
    for (; p.vb < end; p.vb += gridDim.x) {
        bool in1 = a.n_mats > 1 && p.vb >= a.blk[1], in2 = a.n_mats > 2 && p.vb >= a.blk[2];
        const mv_mat &M = in2 ? a.m[2] : in1 ? a.m[1] : a.m[0];
        unsigned b0 = in2 ? a.blk[2] : in1 ? a.blk[1] : 0;
        int64_t n = (int64_t)(p.vb - b0) * (MV_WARPS / a.split) + (threadIdx.x >> 5) / a.split;
        if (n < M.N) {
            p.n = n;
            p.r = 0;
            p.mi = in2 ? 2 : in1 ? 1 : 0;
            p.w = M.w + n * M.w_row;
            if (a.glu_out) p.w2 = a.m[1].w + n * a.m[1].w_row;
            return true;
        }
    }
    return false;
}

static __device__ __forceinline__ bool it_next(const mv_args &a, mv_it &p, int rounds) {
    if (p.r + 1 < rounds) {
        p.r++;
        return true;
    }
    p.vb += gridDim.x;
    return it_row(a, p);
}

/* Ends a row: with split warps per row, each warp's sums go to shared
 * memory (two buffers by row parity, so a warp may run one row ahead) and
 * the group's first warp adds them in slice order after a named barrier of
 * the group. */
template <int R>
static __device__ __forceinline__ void it_finish(const mv_args &a, const mv_it &p, float (&s)[R], int &par) {
    const mv_mat &M = p.mi == 2 ? a.m[2] : p.mi == 1 ? a.m[1] : a.m[0];
    if (a.split == 1) {
        mv_finish<R>(M, p.n, s);
    } else {
        __shared__ float red[2][MV_WARPS][R];
        int lane = threadIdx.x & 31, w = threadIdx.x >> 5, S = a.split, g = w / S;
#pragma unroll
        for (int r = 0; r < R; r++) s[r] = warp_sum(s[r]);
        if (lane == 0)
#pragma unroll
            for (int r = 0; r < R; r++) red[par][w][r] = s[r];
        asm volatile("bar.sync %0, %1;" ::"r"(1 + g), "r"(S * 32) : "memory");
        if (w % S == 0 && lane == 0) {
            float b = M.bias ? M.bias[p.n] : 0.0f;
#pragma unroll
            for (int r = 0; r < R; r++) {
                float v = 0;
                for (int i = 0; i < S; i++) v += red[par][w + i][r];
                float *o = M.out + r * M.N + p.n;
                v += b;
                *o = M.acc ? *o + v : v;
            }
        }
        par ^= 1;
    }
#pragma unroll
    for (int r = 0; r < R; r++) s[r] = 0;
}

/* Float weights: a round is U 16-byte chunks per lane. P (paired GLU, one
 * input row, no split): a warp's row is gate row n, then up row n, each in
 * rounds1 rounds, and it writes gate[n], up[n] and act(gate[n]) * up[n]. */
template <int T, int R, int U, bool P = false>
static __global__ void __launch_bounds__(MV_WARPS * 32, MV_MINB) k_mvp_float(mv_args a) {
    static_assert(!P || R == 1, "the paired GLU takes one input row");
    if (!a.late) pdl_launch();
    extern __shared__ float xs_dyn[];
    constexpr int EPC = T == GRT_F32 ? 4 : 8;
    int lane = threadIdx.x & 31;
    /* this warp's K slice: chunks [c0, c0 + nc) of each row */
    int64_t nc = a.K / EPC / a.split, c0 = ((threadIdx.x >> 5) % a.split) * nc;
    int rounds1 = (int)((nc + 32 * U - 1) / (32 * U)), rounds = P ? 2 * rounds1 : rounds1;
    int par = 0;
    float gate = 0; /* P: the gate row's result */
    uint4 pre[U];
    auto load = [&](const mv_it &q) {
        bool up = P && q.r >= rounds1;
        const uint4 *w = (const uint4 *)(up ? q.w2 : q.w) + c0;
        int r = up ? q.r - rounds1 : q.r;
#pragma unroll
        for (int u = 0; u < U; u++) {
            int64_t c = (int64_t)r * 32 * U + lane + 32 * u;
            pre[u] = c < nc ? __ldg(w + c) : make_uint4(0, 0, 0, 0);
        }
    };
    mv_it p;
    p.vb = blockIdx.x;
    bool have = it_row(a, p);
    if (have) load(p);
    float4 pw[MV_PW_PRE];
    mv_pw_prefetch(a, pw);
    pdl_wait();
    /* late: every kernel before this one is complete when the next starts,
     * so the next may read their results before its own wait */
    if (a.late) pdl_launch();
    const float *X = mv_stage<R>(a, xs_dyn, &pw);
    if (!have) return;
    mv_it q = p;
    bool more = it_next(a, q, rounds);
    float s[R];
#pragma unroll
    for (int r = 0; r < R; r++) s[r] = 0;
    for (;;) {
        uint4 cur[U];
#pragma unroll
        for (int u = 0; u < U; u++) cur[u] = pre[u];
        if (more) load(q);
        int pr = P && p.r >= rounds1 ? p.r - rounds1 : p.r;
#pragma unroll
        for (int u = 0; u < U; u++) {
            int64_t c = (int64_t)pr * 32 * U + lane + 32 * u;
            if (c >= nc) break;
            dot_chunk<T, R>(cur[u], X, a.K, (c0 + c) * EPC, s);
        }
        if (P && pr == rounds1 - 1) {
            /* the end of the gate row (p.r < rounds1) or of the up row */
            bool up = p.r == rounds - 1;
            const mv_mat &M = up ? a.m[1] : a.m[0];
            float v = warp_sum(s[0]) + (M.bias ? M.bias[p.n] : 0.0f);
            if (lane == 0) {
                M.out[p.n] = v;
                if (up) a.glu_out[p.n] = act_f(gate, a.glu_act) * v;
            }
            gate = v;
            s[0] = 0;
        } else if (!P && p.r == rounds - 1) {
            it_finish<R>(a, p, s, par);
        }
        if (!more) break;
        p = q;
        more = it_next(a, q, rounds);
    }
}


/* Q8_0 / Q4_0 rows in GGUF layout whose length is a multiple of 16 bytes
 * (K % 256 == 0, 16-aligned base): a round is RB blocks of raw row bytes,
 * loaded with coalesced 16-byte loads into the warp's shared buffer, then
 * unpacked from there (blocks are only 2-byte aligned). Packed weights
 * (prepare_weight) go to k_mvq instead; this path stays for weights that
 * were not prepared (GENRT_CUDA_REPACK=0, or a caller that never prepares). */
template <int T> struct qpol;
template <> struct qpol<GRT_Q8_0> {
    static constexpr int BS = 34, RB = 64;
};
template <> struct qpol<GRT_Q4_0> {
    static constexpr int BS = 18, RB = 128;
};
template <int T> static __host__ __device__ constexpr int q_round_chunks() { return qpol<T>::RB * qpol<T>::BS / 16; }
static __device__ __forceinline__ float sh_f16(const uint8_t *p) {
    return __half2float(*(const __half *)p);
}
static __device__ __forceinline__ uint32_t sh_u32(const uint8_t *p) {
    const unsigned short *h = (const unsigned short *)p;
    return (uint32_t)h[0] | ((uint32_t)h[1] << 16);
}

/* The input rows as Q8_0 blocks (int8 quants, f16-rounded scales), like
 * the CPU backend's dot products: d = max|x| / 127, q = round(x / d); one
 * warp per block of 32. n = R * K. Ends with a block barrier. */
static __device__ void mv_quant_x(const float *X, int8_t *xq, float *xd, int64_t n) {
    int lane = threadIdx.x & 31;
    for (int64_t b = threadIdx.x >> 5; b < n / 32; b += blockDim.x >> 5) {
        float v = X[b * 32 + lane], am = fabsf(v);
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) am = fmaxf(am, __shfl_xor_sync(0xffffffffu, am, o));
        float d = am / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        xq[b * 32 + lane] = (int8_t)roundf(v * id);
        if (lane == 0) xd[b] = __half2float(__float2half_rn(d));
    }
    __syncthreads();
}

/* Shared memory of k_mvp_quant<DP>: staged f32 input, then (DP) the int8
 * input and its scales, then the warps' row buffers. */
static __host__ __device__ size_t mvq_xq_off(int stage, int R, int64_t K) { return stage ? (size_t)R * K * 4 : 0; }
static __host__ __device__ size_t mvq_buf_off(int stage, int R, int64_t K, bool dp) {
    return mvq_xq_off(stage, R, K) + (dp ? (size_t)R * K + (size_t)R * K / 8 : 0);
}

/* DP instantiations end each block's iteration with continue; the f32 code
 * after it is then unreachable by design. */
#pragma nv_diag_suppress 128
template <int T, int R, bool DP, bool D2>
static __global__ void __launch_bounds__(MV_WARPS * 32, MV_MINB) k_mvp_quant(mv_args a) {
    /* D2: two rounds in flight per warp (two register buffers, alternating) */
    pdl_launch();
    extern __shared__ uint4 sm_dyn[];
    constexpr int BS = qpol<T>::BS, RB = qpol<T>::RB, CH = q_round_chunks<T>(), LU = (CH + 31) / 32;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    /* this warp's K slice: blocks [b0s, b0s + nb) of each row (nb % 8 == 0) */
    int64_t nb = a.K / 32 / a.split, b0s = (warp % a.split) * nb;
    int rounds = (int)((nb + RB - 1) / RB);
    int par = 0;
    uint4 pre[LU], preB[D2 ? LU : 1];
    auto chunks = [&](int r) {
        int64_t left = nb - (int64_t)r * RB;
        return (int)((left < RB ? left : RB) * BS / 16);
    };
    auto loadto = [&](uint4 *dst, const mv_it &q) {
        const uint4 *src = (const uint4 *)(q.w + (size_t)(b0s + (int64_t)q.r * RB) * BS);
        int nch = chunks(q.r);
#pragma unroll
        for (int u = 0; u < LU; u++) {
            int c = lane + 32 * u;
            dst[u] = c < nch ? __ldg(src + c) : make_uint4(0, 0, 0, 0);
        }
    };
    mv_it p;
    p.vb = blockIdx.x;
    bool have = it_row(a, p);
    if (have) loadto(pre, p);
    float4 pw[MV_PW_PRE];
    mv_pw_prefetch(a, pw);
    pdl_wait();
    const float *X = mv_stage<R>(a, (float *)sm_dyn, &pw);
    const int8_t *XQ = (const int8_t *)((uint8_t *)sm_dyn + mvq_xq_off(a.stage, R, a.K));
    const float *XD = (const float *)(XQ + (size_t)R * a.K);
    if (DP) mv_quant_x(X, (int8_t *)XQ, (float *)XD, (int64_t)R * a.K);
    if (!have) return;
    uint4 *buf = (uint4 *)((uint8_t *)sm_dyn + mvq_buf_off(a.stage, R, a.K, DP)) + (size_t)warp * CH;
    const uint8_t *bb = (const uint8_t *)buf;
    mv_it q = p;
    bool more = it_next(a, q, rounds);
    /* D2: preB holds round q; q2 is the round after q */
    if (D2 && more) loadto(preB, q);
    mv_it q2 = q;
    bool more2 = D2 && more && it_next(a, q2, rounds);
    float s[R];
#pragma unroll
    for (int r = 0; r < R; r++) s[r] = 0;
    /* one round: cur holds round p; returns false after the last */
    auto body = [&](uint4 *cur) -> bool {
        int nch = chunks(p.r);
#pragma unroll
        for (int u = 0; u < LU; u++) {
            int c = lane + 32 * u;
            if (c < nch) buf[c] = cur[u];
        }
        __syncwarp();
        if (D2) {
            if (more2) loadto(cur, q2);
        } else if (more) {
            loadto(cur, q);
        }
        int nbr = nch * 16 / BS;
        int64_t kb = (b0s + (int64_t)p.r * RB) * 32;
        if (T == GRT_Q8_0) {
            /* four lanes per block, eight quants each */
            int part = lane & 3;
#pragma unroll 4
            for (int b = lane >> 2; b < nbr; b += 8) {
                const uint8_t *blk = bb + b * BS;
                float d = sh_f16(blk);
                uint32_t q01 = sh_u32(blk + 2 + part * 8), q23 = sh_u32(blk + 6 + part * 8);
                if (DP) {
                    int64_t k = kb + b * 32 + part * 8;
#pragma unroll
                    for (int r = 0; r < R; r++) {
                        int2 xv = *(const int2 *)(XQ + r * a.K + k);
                        int si = __dp4a((int)q01, xv.x, __dp4a((int)q23, xv.y, 0));
                        s[r] += d * XD[(r * a.K + k) >> 5] * (float)si;
                    }
                    continue;
                }
                float wf[8];
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    wf[i] = (float)(int8_t)(q01 >> (8 * i));
                    wf[4 + i] = (float)(int8_t)(q23 >> (8 * i));
                }
                int64_t k = kb + b * 32 + part * 8;
#pragma unroll
                for (int r = 0; r < R; r++) {
                    float xv[8];
                    load_x8(X + r * a.K, k, xv);
                    float t = 0;
#pragma unroll
                    for (int i = 0; i < 8; i++) t += wf[i] * xv[i];
                    s[r] += d * t;
                }
            }
        } else {
            /* two lanes per block: half h has elements [8h, 8h + 8) and [16 + 8h, 24 + 8h) */
            int h = lane & 1;
#pragma unroll 4
            for (int b = lane >> 1; b < nbr; b += 16) {
                const uint8_t *blk = bb + b * BS;
                float d = sh_f16(blk);
                uint32_t q0 = sh_u32(blk + 2 + h * 8), q1 = sh_u32(blk + 6 + h * 8);
                if (DP) {
                    int64_t k = kb + b * 32 + h * 8;
                    int lo0 = (int)__vsubss4(q0 & 0x0f0f0f0fu, 0x08080808u), lo1 = (int)__vsubss4(q1 & 0x0f0f0f0fu, 0x08080808u);
                    int hi0 = (int)__vsubss4((q0 >> 4) & 0x0f0f0f0fu, 0x08080808u);
                    int hi1 = (int)__vsubss4((q1 >> 4) & 0x0f0f0f0fu, 0x08080808u);
#pragma unroll
                    for (int r = 0; r < R; r++) {
                        int2 xa = *(const int2 *)(XQ + r * a.K + k), xb = *(const int2 *)(XQ + r * a.K + k + 16);
                        int si = __dp4a(lo0, xa.x, __dp4a(lo1, xa.y, __dp4a(hi0, xb.x, __dp4a(hi1, xb.y, 0))));
                        s[r] += d * XD[(r * a.K + k) >> 5] * (float)si;
                    }
                    continue;
                }
                float lo[8], hi[8];
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    uint32_t b0v = (q0 >> (8 * i)) & 0xff, b1v = (q1 >> (8 * i)) & 0xff;
                    lo[i] = (float)((int)(b0v & 15) - 8);
                    hi[i] = (float)((int)(b0v >> 4) - 8);
                    lo[4 + i] = (float)((int)(b1v & 15) - 8);
                    hi[4 + i] = (float)((int)(b1v >> 4) - 8);
                }
                int64_t k = kb + b * 32 + h * 8;
#pragma unroll
                for (int r = 0; r < R; r++) {
                    float x0[8], x1[8];
                    load_x8(X + r * a.K, k, x0);
                    load_x8(X + r * a.K, k + 16, x1);
                    float t = 0;
#pragma unroll
                    for (int i = 0; i < 8; i++) t += lo[i] * x0[i] + hi[i] * x1[i];
                    s[r] += d * t;
                }
            }
        }
        __syncwarp();
        if (p.r == rounds - 1) it_finish<R>(a, p, s, par);
        if (!more) return false;
        p = q;
        if (D2) {
            q = q2;
            more = more2;
            if (more2) more2 = it_next(a, q2, rounds);
        } else {
            more = it_next(a, q, rounds);
        }
        return true;
    };
    if (D2) {
        while (body(pre) && body(preB)) {
        }
    } else {
        while (body(pre)) {
        }
    }
}
#pragma nv_diag_default 128

/* ------------------------------------------- matmul: decode, packed quants */

/* Elements [8t, 8t + 8) of the input rows ([R, K] flattened, K % 8 == 0)
 * after the prologue, computed as mv_stage does: GLU's act(x) * up,
 * rmsnorm's x * sc[row] * w, else x. For quantization (QUANT) rmsnorm stops
 * at x * w, without its row scale (quantization is scale-free: the scale
 * goes into the block's d afterwards), and sq = the sum of x^2 (0 unless
 * rmsnorm); sc is not read. */
template <bool QUANT>
static __device__ __forceinline__ void mvq_in8(const mv_args &a, int64_t t, bool vec, const float *sc, float (&v)[8],
                                               float &sq) {
    int64_t e = t * 8;
    float4 x0, x1;
    if (vec) {
        x0 = ((const float4 *)a.x)[2 * t], x1 = ((const float4 *)a.x)[2 * t + 1];
    } else {
        const float *x = a.x + e;
        x0 = make_float4(x[0], x[1], x[2], x[3]), x1 = make_float4(x[4], x[5], x[6], x[7]);
    }
    sq = 0;
    if (a.pro == PRO_NORM) {
        const float *w = a.pw + e % a.K;
        float4 w0 = vec ? ((const float4 *)w)[0] : make_float4(w[0], w[1], w[2], w[3]);
        float4 w1 = vec ? ((const float4 *)w)[1] : make_float4(w[4], w[5], w[6], w[7]);
        if (QUANT) {
            sq = sumsq4(x0) + sumsq4(x1);
            x0 = make_float4(x0.x * w0.x, x0.y * w0.y, x0.z * w0.z, x0.w * w0.w);
            x1 = make_float4(x1.x * w1.x, x1.y * w1.y, x1.z * w1.z, x1.w * w1.w);
        } else {
            float s = sc[e / a.K];
            x0 = norm4(x0, s, w0), x1 = norm4(x1, s, w1);
        }
    } else if (a.pro == PRO_GLU) {
        const float *u = a.up + e;
        float4 u0 = vec ? ((const float4 *)u)[0] : make_float4(u[0], u[1], u[2], u[3]);
        float4 u1 = vec ? ((const float4 *)u)[1] : make_float4(u[4], u[5], u[6], u[7]);
        x0 = glu4(x0, u0, a.act), x1 = glu4(x1, u1, a.act);
    }
    v[0] = x0.x, v[1] = x0.y, v[2] = x0.z, v[3] = x0.w, v[4] = x1.x, v[5] = x1.y, v[6] = x1.z, v[7] = x1.w;
}

/* The input rows of k_mvq as Q8_0 in shared memory, the fused prologue
 * (rmsnorm or GLU) applied on the way from global memory, in one pass:
 * int8 quants xq [R * K] and per block of 32 {its f16-rounded scale as
 * float bits, the sum of its quants} in xs; d = max|v| / 127, q = round(v /
 * d), as the CPU quantizes activations. rmsnorm's row scale is known only
 * at the end, so its blocks are quantized without it and their d scaled
 * after. Four threads per block, eight elements each (K % 256 == 0, so a
 * warp is wholly in or out of the loop), two groups of loads in flight. As
 * in mv_stage, the last block to get here writes the prologue's f32 result
 * to pro_out (recomputed as mv_stage computes it), after every block has
 * read the input. Few registers: k_mvq's first weight rounds are in flight
 * meanwhile. */
template <int R>
static __device__ void mvq_stage(const mv_args &a, int8_t *xq, int2 *xs) {
    __shared__ float sc[4], part[4][MV_WARPS];
    int64_t K = a.K, n8 = (int64_t)R * K / 8;
    int nt = blockDim.x, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    bool vec = mv_vec(a), norm = a.pro == PRO_NORM;
    float ss[R];
#pragma unroll
    for (int r = 0; r < R; r++) ss[r] = 0;
    /* whole warps go round (their shuffles take every lane); a group of
     * four is wholly in or out, as K % 32 == 0 */
    int64_t n8w = (n8 + 31) & ~(int64_t)31;
    for (int64_t t0 = threadIdx.x; t0 < n8w; t0 += 2 * nt) {
        float v[2][8], sq[2];
#pragma unroll
        for (int j = 0; j < 2; j++) {
            if (t0 + j * nt < n8) mvq_in8<true>(a, t0 + j * nt, vec, NULL, v[j], sq[j]);
            else {
#pragma unroll
                for (int i = 0; i < 8; i++) v[j][i] = 0;
                sq[j] = 0;
            }
        }
#pragma unroll
        for (int j = 0; j < 2; j++) {
            int64_t t = t0 + j * nt;
            if (t0 - threadIdx.x + j * nt >= n8) break; /* block-uniform: no thread is in */
            bool in = t < n8;
            int row = (int)(t * 8 / K);
#pragma unroll
            for (int r = 0; r < R; r++)
                if (in && r == row) ss[r] += sq[j];
            float am = 0;
#pragma unroll
            for (int i = 0; i < 8; i++) am = fmaxf(am, fabsf(v[j][i]));
            am = fmaxf(am, __shfl_xor_sync(0xffffffffu, am, 1));
            am = fmaxf(am, __shfl_xor_sync(0xffffffffu, am, 2));
            float d = am / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
            uint32_t w[2] = {0, 0};
            int sum = 0;
#pragma unroll
            for (int i = 0; i < 8; i++) {
                int q = (int)roundf(v[j][i] * id);
                sum += q;
                w[i / 4] |= (uint32_t)(q & 0xff) << (8 * (i % 4));
            }
            sum += __shfl_xor_sync(0xffffffffu, sum, 1);
            sum += __shfl_xor_sync(0xffffffffu, sum, 2);
            if (!in) continue;
            *(uint2 *)(xq + t * 8) = make_uint2(w[0], w[1]);
            if (!norm) d = __half2float(__float2half_rn(d));
            if ((t & 3) == 0) xs[t >> 2] = make_int2(__float_as_int(d), sum);
        }
    }
    if (norm) {
#pragma unroll
        for (int r = 0; r < R; r++) {
            float v = warp_sum(ss[r]);
            if (lane == 0) part[r][warp] = v;
        }
        __syncthreads();
        if (threadIdx.x < R) {
            float t = 0;
            for (int w = 0; w < (nt >> 5); w++) t += part[threadIdx.x][w];
            sc[threadIdx.x] = 1.0f / sqrtf(t / (float)K + a.eps);
        }
        __syncthreads();
        for (int64_t b = threadIdx.x; b < n8 / 4; b += nt) {
            float d = sc[b * 32 / K] * __int_as_float(xs[b].x);
            xs[b].x = __float_as_int(__half2float(__float2half_rn(d)));
        }
    }
    __syncthreads();
    int64_t t0, t1;
    if (pro_range(a, n8, &t0, &t1))
        for (int64_t t = t0 + threadIdx.x; t < t1; t += nt) {
            float v[8], sq;
            mvq_in8<false>(a, t, vec, sc, v, sq);
            for (int i = 0; i < 8; i++) a.pro_out[t * 8 + i] = v[i];
        }
}

/* Shared memory of k_mvq: the int8 input, its block scales and sums. */
static size_t mvq_smem(const mv_args &a, int R) { return (size_t)R * a.K + (size_t)R * a.K / 4; }

/* Packed Q8_0 / Q4_0 (cuda_pack). The rows of the (up to three) matrices
 * form one list; a warp takes G consecutive rows at a time (row groups
 * w, w + W, ... for warp w of the W in the grid), 32 / G lanes per row, so
 * short rows keep every lane loading and the per-row work (iteration,
 * reduction) is shared by G rows. A unit is 16 quant bytes (a Q4_0 block,
 * half a Q8_0 block) and its block's f16 scale: a lane takes U = 4 units
 * of its row per round, adjacent lanes adjacent units, each one 16-byte
 * and one 2-byte load straight into registers. D rounds are in flight per
 * warp, the first D issued before the PDL wait (weights never change
 * between kernels). x is Q8_0 in shared memory (mvq_stage); a unit is 4
 * (Q8_0) or 8 (Q4_0) dp4a per input row, Q4_0's -8 taken out once per
 * block through the sum of the x quants. P (paired GLU, one input row, G
 * even): the list interleaves the gate and up rows (gate n, up n, ...), so
 * a row group's lanes of gate n and up n meet in one shuffle and write
 * act(gate[n]) * up[n] too. GG: the weights are in GGUF layout, not
 * packed (rows of K % 256 != 0, such as SmolLM2's 576: cuda_pack skips
 * them); rows 4-byte aligned (K % 64 == 0), a unit's 16 quant bytes come
 * as five aligned words shifted into place (blocks are 2-byte aligned)
 * and its scale as a 2-byte load. */
template <int T, int R, int G, int D, bool P = false, bool GG = false>
static __global__ void __launch_bounds__(MV_WARPS * 32, MV_MINB) k_mvq(mv_args a) {
    static_assert(!P || (R == 1 && G % 2 == 0), "the paired GLU takes one input row and pairs of rows");
    if (!a.late) pdl_launch();
    extern __shared__ uint4 sm_dyn[];
    constexpr int QW = T == GRT_Q4_0 ? 1 : 2; /* units per block */
    constexpr int EPU = 32 / QW, U = 4, LPG = 32 / G;
    constexpr unsigned SBB = T == GRT_Q4_0 ? 144 : 272;
    int lane = threadIdx.x & 31, gi = lane / LPG, li = lane % LPG;
    int nu = (int)(a.K / EPU), rounds = (nu + LPG * U - 1) / (LPG * U);
    int64_t n1 = a.m[0].N, n2 = n1 + (a.n_mats > 1 ? a.m[1].N : 0), total = n2 + (a.n_mats > 2 ? a.m[2].N : 0);
    int64_t W = (int64_t)gridDim.x * MV_WARPS;
    /* the lane's row of row group rg: matrix and row index (gr >= total: none) */
    auto row_of = [&](int64_t rg, int64_t &n) -> const mv_mat & {
        int64_t gr = rg * G + gi;
        if (P) {
            n = gr >> 1;
            return gr & 1 ? a.m[1] : a.m[0];
        }
        n = gr - (gr >= n2 ? n2 : gr >= n1 ? n1 : 0);
        return gr >= n2 ? a.m[2] : gr >= n1 ? a.m[1] : a.m[0];
    };
    auto load = [&](uint4 (&dst)[U], uint32_t (&dd)[U], int64_t rg, int r) {
        int64_t n;
        const mv_mat &M = row_of(rg, n);
        bool valid = rg * G + gi < total;
        const uint8_t *wr = M.w + (valid ? n : 0) * M.w_row;
#pragma unroll
        for (int u = 0; u < U; u++) {
            int g = r * LPG * U + li + LPG * u;
            if (valid && g < nu) {
                if (GG) {
                    /* unit g: half g % QW of GGUF block g / QW (Q4_0: the block) */
                    const uint8_t *blk = wr + (unsigned)(g / QW) * (SBB / 8);
                    uintptr_t qp = (uintptr_t)(blk + 2 + 16 * (g % QW));
                    const uint32_t *wp = (const uint32_t *)(qp & ~(uintptr_t)3);
                    unsigned sh = (unsigned)(qp & 3) * 8;
                    uint32_t w0 = __ldg(wp), w1 = __ldg(wp + 1), w2 = __ldg(wp + 2), w3 = __ldg(wp + 3);
                    uint32_t w4 = sh ? __ldg(wp + 4) : 0; /* aligned: no word past the unit */
                    dst[u] = make_uint4(__funnelshift_r(w0, w1, sh), __funnelshift_r(w1, w2, sh),
                                        __funnelshift_r(w2, w3, sh), __funnelshift_r(w3, w4, sh));
                    dd[u] = __ldg((const unsigned short *)blk);
                } else {
                    const uint8_t *sb = wr + (unsigned)(g / (8 * QW)) * SBB;
                    unsigned j = (unsigned)(g % (8 * QW));
                    dst[u] = __ldg((const uint4 *)(sb + 16) + j);
                    dd[u] = __ldg((const unsigned short *)sb + j / QW);
                }
            } else {
                dst[u] = make_uint4(0, 0, 0, 0);
                dd[u] = 0; /* a zero scale: the unit adds nothing */
            }
        }
    };
    uint4 buf[D][U];
    uint32_t bd[D][U];
    int64_t srg[D];
    int sr[D];
    bool ok[D];
    /* the next round to load */
    int64_t rg = (int64_t)blockIdx.x * MV_WARPS + (threadIdx.x >> 5);
    int r = 0;
#pragma unroll
    for (int i = 0; i < D; i++) {
        ok[i] = rg * G < total;
        if (ok[i]) {
            srg[i] = rg, sr[i] = r;
            load(buf[i], bd[i], rg, r);
            if (++r == rounds) r = 0, rg += W;
        }
    }
    pdl_wait();
    if (a.late) pdl_launch(); /* as in k_mvp_float */
    int8_t *XQ = (int8_t *)sm_dyn;
    int2 *XS = (int2 *)(XQ + (size_t)R * a.K);
    mvq_stage<R>(a, XQ, XS);
    float s[R];
#pragma unroll
    for (int q = 0; q < R; q++) s[q] = 0;
    for (bool go = ok[0]; go;) {
#pragma unroll
        for (int i = 0; i < D; i++) {
            if (!ok[i]) {
                go = false;
                break;
            }
            uint4 cur[U];
            uint32_t cd[U];
#pragma unroll
            for (int u = 0; u < U; u++) cur[u] = buf[i][u], cd[u] = bd[i][u];
            int64_t prg = srg[i];
            int pr = sr[i];
            ok[i] = rg * G < total;
            if (ok[i]) {
                srg[i] = rg, sr[i] = r;
                load(buf[i], bd[i], rg, r);
                if (++r == rounds) r = 0, rg += W;
            }
#pragma unroll
            for (int u = 0; u < U; u++) {
                int g = pr * LPG * U + li + LPG * u;
                if (g >= nu) break;
                int k = g * EPU;
                float dw = f16_to_f((uint16_t)cd[u]);
                const int w0 = (int)cur[u].x, w1 = (int)cur[u].y, w2 = (int)cur[u].z, w3 = (int)cur[u].w;
#pragma unroll
                for (int q = 0; q < R; q++) {
                    const int8_t *xr = XQ + q * (int)a.K + k;
                    int2 xs = XS[(q * (int)a.K + k) >> 5];
                    int4 xa = *(const int4 *)xr;
                    int si;
                    if (T == GRT_Q4_0) {
                        /* byte i holds elements i (low nibble) and 16 + i (high) */
                        int4 xb = *(const int4 *)(xr + 16);
                        const int m = 0x0f0f0f0f;
                        si = __dp4a(w0 & m, xa.x, __dp4a(w1 & m, xa.y, __dp4a(w2 & m, xa.z, __dp4a(w3 & m, xa.w, 0))));
                        si = __dp4a((w0 >> 4) & m, xb.x,
                                    __dp4a((w1 >> 4) & m, xb.y, __dp4a((w2 >> 4) & m, xb.z, __dp4a((w3 >> 4) & m, xb.w, si))));
                        si -= 8 * xs.y;
                    } else {
                        si = __dp4a(w0, xa.x, __dp4a(w1, xa.y, __dp4a(w2, xa.z, __dp4a(w3, xa.w, 0))));
                    }
                    s[q] += dw * __int_as_float(xs.x) * (float)si;
                }
            }
            if (pr == rounds - 1) {
                /* the row group's rows are done: reduce over each row's lanes */
#pragma unroll
                for (int q = 0; q < R; q++)
#pragma unroll
                    for (int o = LPG / 2; o > 0; o >>= 1) s[q] += __shfl_xor_sync(0xffffffffu, s[q], o);
                int64_t n;
                const mv_mat &M = row_of(prg, n);
                bool mine = li == 0 && prg * G + gi < total;
                float bias = mine && M.bias ? M.bias[n] : 0.0f;
                if (mine)
#pragma unroll
                    for (int q = 0; q < R; q++) {
                        float *o = M.out + q * M.N + n;
                        float v = s[q] + bias;
                        *o = M.acc ? *o + v : v;
                    }
                if (P) {
                    /* the up row's result, from the lane LPG above (gate rows have even gi) */
                    float up = __shfl_down_sync(0xffffffffu, s[0] + bias, LPG);
                    if (mine && gi % 2 == 0) a.glu_out[n] = act_f(s[0] + bias, a.glu_act) * up;
                }
#pragma unroll
                for (int q = 0; q < R; q++) s[q] = 0;
            }
        }
    }
}

/* Blocks of kernel k that fit on one SM at once (cached per kernel and
 * shared-memory size). */
static int occupancy(const void *k, size_t smem) {
    static struct { const void *k; size_t smem; int n; } cache[64];
    static int n_cache;
    for (int i = 0; i < n_cache; i++)
        if (cache[i].k == k && cache[i].smem == smem) return cache[i].n;
    int n = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, k, MV_WARPS * 32, smem) != cudaSuccess || n < 1) {
        cudaGetLastError();
        n = 1;
    }
    if (n_cache < 64) cache[n_cache++] = {k, smem, n};
    return n;
}

template <typename KF>
static void launch_wave(grt_device *dev, KF k, size_t smem, size_t extra, const mv_args &a) {
    /* the largest this kernel can ask for, so graphs captured earlier stay valid */
    if (smem > 32 * 1024) /* static shared memory counts against the default 48 KiB too */
        cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, MV_STAGE_MAX + (int)extra);
    unsigned grid = a.blk[a.n_mats];
    cuda_ctx *c = cuda_ctx_of(dev);
    unsigned cap = (unsigned)(c->n_sm * occupancy((const void *)k, smem) * c->mv_waves);
    if (grid > cap) grid = cap;
    launch(dev, k, dim3(grid), dim3(MV_WARPS * 32), smem, a);
}

/* True when every matrix's rows can be read in 16-byte chunks by k_mvp_quant. */
static bool quant_rows16(const mv_args &a) {
    if (a.K % 256 != 0) return false;
    for (int i = 0; i < a.n_mats; i++)
        if ((uintptr_t)a.m[i].w % 16 != 0 || a.m[i].w_row % 16 != 0) return false;
    return true;
}

/* Warps per row: split K while there are fewer than ~48 row-warps per SM
 * and each slice keeps enough loads (float: mv_min_slice bytes, 2 KiB = one
 * round by default; quant: 8-block multiples of >= 512 bytes, so slices
 * stay 16-aligned). */
static int pick_split(grt_device *dev, const mv_args &a, int T) {
    int64_t rows = 0;
    for (int i = 0; i < a.n_mats; i++) rows += a.m[i].N;
    int64_t target = (int64_t)cuda_ctx_of(dev)->n_sm * 48;
    size_t rowb = a.m[0].w_row;
    bool quant = T == GRT_Q8_0 || T == GRT_Q4_0;
    int64_t units = quant ? a.K / 32 : a.K / (T == GRT_F32 ? 4 : 8);
    int S = 1;
    while (S < 8 && rows * S < target) {
        int S2 = 2 * S;
        bool ok = quant ? units % (8 * S2) == 0 && rowb / S2 >= 512 : units % S2 == 0 && rowb / S2 >= (size_t)cuda_ctx_of(dev)->mv_min_slice;
        if (!ok) break;
        S = S2;
    }
    return S;
}

/* Whether k_mvq takes these GGUF-layout Q8_0 / Q4_0 rows (GG): every row
 * 4-byte aligned (K % 64 == 0: an even number of 2-mod-4-byte blocks), the
 * int8 input in shared memory. (Rows of whole superblocks, 16-aligned, are
 * packed by prepare_weight or go to k_mvp_quant.) */
static bool gguf_rows4(grt_device *dev, const mv_args &a, int T) {
    if ((T != GRT_Q8_0 && T != GRT_Q4_0) || a.pk || !cuda_ctx_of(dev)->mv_gguf || a.K % 64 != 0 ||
        (size_t)a.K * 4 > MV_STAGE_MAX)
        return false;
    for (int i = 0; i < a.n_mats; i++)
        if ((uintptr_t)a.m[i].w % 4 != 0 || a.m[i].w_row % 4 != 0) return false;
    return true;
}

template <int T, int R>
static void launch_quant(grt_device *dev, const mv_args &a) {
    bool dp = cuda_ctx_of(dev)->mv_dp4a && (size_t)R * a.K * 4 <= MV_STAGE_MAX; /* int8 input fits */
    size_t bufs = MV_WARPS * q_round_chunks<T>() * 16, smem = mvq_buf_off(a.stage, R, a.K, dp) + bufs;
    /* extra: all but the f32 stage, at its largest */
    size_t extra = bufs + (dp ? (size_t)MV_STAGE_MAX / 4 + MV_STAGE_MAX / 32 : 0);
    bool d2 = cuda_ctx_of(dev)->mv_qdepth2;
    if (dp && d2)
        launch_wave(dev, k_mvp_quant<T, R, true, true>, smem, extra, a);
    else if (dp)
        launch_wave(dev, k_mvp_quant<T, R, true, false>, smem, extra, a);
    else
        launch_wave(dev, k_mvp_quant<T, R, false, false>, smem, extra, a);
}



/* The packed GEMV: rows per warp G so a round (32 / G lanes x 4 units) is
 * at most a row; one wave of blocks; 2 rounds in flight per warp (3 spill
 * at 128 registers, the cap for 2 blocks per SM). */
template <int T, int R, int G, bool GG>
static void launch_mvq_g(grt_device *dev, const mv_args &a) {
    launch_wave(dev, k_mvq<T, R, G, 2, false, GG>, mvq_smem(a, R), 0, a);
}

/* Rows per warp of k_mvq for rows of K elements. Llama-1B decode on the
 * H100, merged main c17b043, same call, 3 runs each: G 2 against G 1 for
 * rows of >= 32 units: Q4_0 1330 vs 1298 tok/s, Q8_0 1095 vs 1081 (G 4:
 * 1217 / 947). (Measured alone, before the attention's early cache loads
 * were merged, G 1 had read best.) Rows of at most 32 units fill a round
 * at G 4 (8 lanes x 4 units) and would leave most lanes idle at G 2:
 * SmolLM2 Q4_0 (K 576: 18 units) 1481 vs 1410 tok/s; its Q8_0 rows (36
 * units) read best at G 2, 1425 vs 1407. */
static int mvq_rows(const cuda_ctx *c, int T, int64_t K) {
    int64_t nu = K / 32 * (T == GRT_Q4_0 ? 1 : 2);
    if (c->mvq_g == 1 || c->mvq_g == 2 || c->mvq_g == 4) return c->mvq_g;
    return nu > 32 ? 2 : 4;
}

/* Returns whether the kernel also wrote a.glu_out (a gate / up pair at
 * two or four rows a warp); otherwise glu_out is left for the caller. GG:
 * GGUF layout (see k_mvq). */
template <int T, int R, bool GG = false>
static bool launch_mvq(grt_device *dev, const mv_args &a0) {
    cuda_ctx *c = cuda_ctx_of(dev);
    mv_args a = a0;
    int64_t rows = 0;
    for (int i = 0; i < a.n_mats; i++) rows += a.m[i].N;
    int G = mvq_rows(c, T, a.K);
    /* the grid: blocks of MV_WARPS row groups (launch_wave caps it at a wave) */
    a.split = 1;
    a.blk[a.n_mats] = (unsigned)((rows + (int64_t)G * MV_WARPS - 1) / ((int64_t)G * MV_WARPS));
    a.vec_stage = c->mv_vec_stage;
    a.late = a0.late && c->pdl;
    if constexpr (R == 1)
        if (a.glu_out && G != 1 && a.n_mats == 2) {
            if (G == 2) launch_wave(dev, k_mvq<T, 1, 2, 2, true, GG>, mvq_smem(a, 1), 0, a);
            else launch_wave(dev, k_mvq<T, 1, 4, 2, true, GG>, mvq_smem(a, 1), 0, a);
            c->prev_late = a.late;
            return true;
        }
    a.glu_out = NULL;
    if (G == 1) launch_mvq_g<T, R, 1, GG>(dev, a);
    else if (G == 2) launch_mvq_g<T, R, 2, GG>(dev, a);
    else launch_mvq_g<T, R, 4, GG>(dev, a);
    c->prev_late = a.late;
    return false;
}

/* False when the weights do not suit the pipelined kernels; *glu says
 * whether the kernel also wrote a.glu_out (float gate / up rows at U 4). */
template <int R>
static bool launch_mvp(grt_device *dev, const mv_args &a0, int T, bool *glu) {
    mv_args a = a0;
    a.split = cuda_ctx_of(dev)->mv_split ? pick_split(dev, a, T) : 1;
    a.vec_stage = cuda_ctx_of(dev)->mv_vec_stage;
    for (int i = 0; i < a.n_mats; i++)
        a.blk[i + 1] = a.blk[i] + (unsigned)((a.m[i].N + MV_WARPS / a.split - 1) / (MV_WARPS / a.split));
    size_t smem = a.stage ? (size_t)R * a.K * 4 : 0;
    cuda_ctx *c = cuda_ctx_of(dev);
    bool flt = T == GRT_F32 || T == GRT_F16 || T == GRT_BF16;
    a.late = flt && a0.late && c->pdl;
    if constexpr (R == 1)
        if (a.glu_out && flt && c->mv_u == 4 && a.n_mats == 2) { /* a warp takes a gate row and its up row */
            a.split = 1;
            a.blk[1] = a.blk[2] = (unsigned)((a.m[0].N + MV_WARPS - 1) / MV_WARPS);
            switch (T) {
            case GRT_F32: launch_wave(dev, k_mvp_float<GRT_F32, 1, 4, true>, smem, 0, a); break;
            case GRT_F16: launch_wave(dev, k_mvp_float<GRT_F16, 1, 4, true>, smem, 0, a); break;
            default: launch_wave(dev, k_mvp_float<GRT_BF16, 1, 4, true>, smem, 0, a); break;
            }
            c->prev_late = a.late;
            *glu = true;
            return true;
        }
    a.glu_out = NULL;
    switch (T) {
    case GRT_F32: launch_wave(dev, k_mvp_float<GRT_F32, R, 4>, smem, 0, a); break;
    case GRT_F16: launch_wave(dev, k_mvp_float<GRT_F16, R, 4>, smem, 0, a); break;
    case GRT_BF16:
        switch (c->mv_u) {
        case 2: launch_wave(dev, k_mvp_float<GRT_BF16, R, 2>, smem, 0, a); break;
        case 8: launch_wave(dev, k_mvp_float<GRT_BF16, R, 8>, smem, 0, a); break;
        default: launch_wave(dev, k_mvp_float<GRT_BF16, R, 4>, smem, 0, a); break;
        }
        break;
    }
    switch (T) {
    case GRT_F32:
    case GRT_F16:
    case GRT_BF16: c->prev_late = a.late; return true;
    case GRT_Q8_0:
        if (!quant_rows16(a)) return false;
        launch_quant<GRT_Q8_0, R>(dev, a);
        return true;
    case GRT_Q4_0:
        if (!quant_rows16(a)) return false;
        launch_quant<GRT_Q4_0, R>(dev, a);
        return true;
    }
    return false;
}

template <typename KF>
static void launch_staged(grt_device *dev, KF k, unsigned grid, size_t smem, const mv_args &a) {
    static bool big_smem; /* the attribute is per kernel; set for each instantiation once */
    (void)big_smem;
    if (smem > 48 * 1024) cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, MV_STAGE_MAX);
    launch(dev, k, dim3(grid), dim3(MV_WARPS * 32), smem, a);
}

/* Returns whether the kernel chosen also wrote a.glu_out (a gate / up
 * pair, see glu_pairs); the kernels that do not pair never touch it. */
template <int R>
static bool launch_mv(grt_device *dev, const mv_args &a0, int T, bool aligned) {
    mv_args a = a0;
    unsigned grid = a.blk[a.n_mats];
    if (a.pk && aligned && (size_t)R * a.K * 4 <= MV_STAGE_MAX)
        return T == GRT_Q8_0 ? launch_mvq<GRT_Q8_0, R>(dev, a) : launch_mvq<GRT_Q4_0, R>(dev, a);
    bool glu = false;
    if (aligned && !a.pk && cuda_ctx_of(dev)->mv_pipe && launch_mvp<R>(dev, a, T, &glu)) return glu;
    if constexpr (R == 1)
        if (aligned && gguf_rows4(dev, a, T))
            return T == GRT_Q8_0 ? launch_mvq<GRT_Q8_0, 1, true>(dev, a) : launch_mvq<GRT_Q4_0, 1, true>(dev, a);
    a.glu_out = NULL;
    /* packed weights with an unaligned or too long input come here unfused */
    if (!aligned || a.pk) {
        launch(dev, k_mv_generic, dim3(grid), dim3(MV_WARPS * 32), 0, a, T, R);
        return false;
    }
    size_t smem = a.stage ? (size_t)R * a.K * 4 : 0;
    /* A staged input is worth reusing: blocks loop over rows, a few waves. */
    unsigned cap = (unsigned)cuda_ctx_of(dev)->n_sm * 8;
    if (a.stage && grid > cap) grid = cap;
    switch (T) {
    case GRT_F32: launch_staged(dev, k_mv_float<GRT_F32, R>, grid, smem, a); break;
    case GRT_F16: launch_staged(dev, k_mv_float<GRT_F16, R>, grid, smem, a); break;
    case GRT_BF16: launch_staged(dev, k_mv_float<GRT_BF16, R>, grid, smem, a); break;
    case GRT_Q8_0: launch_staged(dev, k_mv_qraw<GRT_Q8_0, R>, grid, smem, a); break;
    case GRT_Q4_0: launch_staged(dev, k_mv_qraw<GRT_Q4_0, R>, grid, smem, a); break;
    }
    return false;
}

static bool launch_mv_rows(grt_device *dev, const mv_args &a, int T, int R, bool aligned) {
    switch (R) {
    case 1: return launch_mv<1>(dev, a, T, aligned);
    case 2: return launch_mv<2>(dev, a, T, aligned);
    case 3: return launch_mv<3>(dev, a, T, aligned);
    default: return launch_mv<4>(dev, a, T, aligned);
    }
}

/* ---------------------------------------------------------------- matmul: prefill */

/* Tiled f32 SIMT product for many rows: a 64 x 64 output tile per block of
 * 256 threads, 4 x 4 per thread, K in steps of 32 (one quant block), the
 * weight tile dequantized into shared memory. */
enum { TM = 64, TN = 64, TK = 32 };

static __global__ void __launch_bounds__(256) k_mm_tiled(const uint8_t *w, size_t w_row, int T, int pk, const float *x,
                                                         const float *bias, float *out, int64_t M, int64_t N,
                                                         int64_t K, int acc) {
    pdl_start();
    __shared__ float xs[TK][TM + 4];
    __shared__ float ws[TK][TN + 4];
    int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    int64_t m0 = (int64_t)blockIdx.y * TM, n0 = (int64_t)blockIdx.x * TN;
    float accu[4][4] = {};
    for (int64_t k0 = 0; k0 < K; k0 += TK) {
        for (int i = tid; i < TM * TK; i += 256) {
            int mm = i / TK, kk = i % TK;
            int64_t m = m0 + mm, k = k0 + kk;
            xs[kk][mm] = (m < M && k < K) ? x[m * K + k] : 0.0f;
        }
        for (int i = tid; i < TN * TK; i += 256) {
            int nn = i / TK, kk = i % TK;
            int64_t nr = n0 + nn, k = k0 + kk;
            ws[kk][nn] = (nr < N && k < K) ? load_w(w + nr * w_row, T, pk, k) : 0.0f;
        }
        __syncthreads();
#pragma unroll 8
        for (int kk = 0; kk < TK; kk++) {
            float xv[4], wv[4];
#pragma unroll
            for (int i = 0; i < 4; i++) xv[i] = xs[kk][ty * 4 + i];
#pragma unroll
            for (int j = 0; j < 4; j++) wv[j] = ws[kk][tx * 4 + j];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) accu[i][j] += xv[i] * wv[j];
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int64_t m = m0 + ty * 4 + i;
        if (m >= M) continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int64_t nn = n0 + tx * 4 + j;
            if (nn >= N) continue;
            float v = accu[i][j] + (bias ? bias[nn] : 0.0f);
            float *o = out + m * N + nn;
            *o = acc ? *o + v : v;
        }
    }
}

static bool mv_aligned(int T, const uint8_t *w, size_t w_row, const float *x, int64_t K) {
    /* 16-byte chunks need rows and the x vector 16-byte aligned. */
    if (T == GRT_Q8_0 || T == GRT_Q4_0) return ((uintptr_t)w % 2 == 0) && ((uintptr_t)x % 16 == 0) && (K % 32 == 0);
    int epc = T == GRT_F32 ? 4 : 8;
    return ((uintptr_t)w % 16 == 0) && (w_row % 16 == 0) && ((uintptr_t)x % 16 == 0) && (K % epc == 0);
}

static mv_mat mat_of(const grt_tensor *out, const grt_tensor *w, const grt_tensor *bias, bool acc) {
    mv_mat m;
    m.w = (const uint8_t *)tptr(w);
    m.w_row = row_bytes(w->type, w->ne[1]);
    m.bias = bias ? (const float *)tptr(bias) : NULL;
    m.out = (float *)tptr(out);
    m.N = w->ne[0];
    m.acc = acc;
    return m;
}

static void direct_matmul(grt_device *dev, const grt_tensor *out, const grt_tensor *in, const grt_tensor *w,
                          const grt_tensor *bias, int64_t n_rows, bool accumulate, int pk) {
    int T = w->type;
    int64_t N = w->ne[0], K = w->ne[1];
    mv_mat m = mat_of(out, w, bias, accumulate);
    const float *x = (const float *)tptr(in);
    if (n_rows > 8) {
        if (cuda_mma_matmul(dev, x, m.w, m.w_row, T, pk, m.bias, m.out, n_rows, N, K, accumulate)) return;
        if (!cuda_ctx_of(dev)->mm_simt) {
            grt_dev_set_error(dev, GRT_ERR_UNSUPPORTED,
                              "cuda: matmul: %s [%lld, %lld] times %lld rows: not on the tensor cores, and "
                              "GENRT_CUDA_MM_SIMT=0 forbids the SIMT kernel",
                              grt_dtype_name((grt_dtype)T), (long long)N, (long long)K, (long long)n_rows);
            return;
        }
        dim3 grid((unsigned)((N + TN - 1) / TN), (unsigned)((n_rows + TM - 1) / TM));
        launch(dev, k_mm_tiled, dim3(grid), dim3(256), 0, m.w, m.w_row, T, pk, x, m.bias, m.out, n_rows, N, K,
               (int)accumulate);
        cuda_check_launch(dev, "matmul");
        return;
    }
    bool aligned = mv_aligned(T, m.w, m.w_row, x, K);
    for (int64_t r0 = 0; r0 < n_rows; r0 += 4) {
        mv_args b;
        memset(&b, 0, sizeof b);
        b.m[0] = m;
        b.m[0].out = m.out + r0 * N;
        b.n_mats = 1;
        b.blk[1] = (unsigned)((N + MV_WARPS - 1) / MV_WARPS);
        b.x = x + r0 * K;
        b.K = K;
        b.pk = pk;
        int R = (int)(n_rows - r0 < 4 ? n_rows - r0 : 4);
        launch_mv_rows(dev, b, T, R, aligned);
    }
    cuda_check_launch(dev, "matmul");
}

/* ---------------------------------------------------------------- rope, kv */

static __device__ __forceinline__ void row_pos(const grt_step_state *st, grt_rows rows, int r, int *seq, int *pos) {
    int tps = rows.n_rows / rows.n_seqs;
    *seq = rows.seq0 + r / tps;
    *pos = st[*seq].pos + r % tps;
}

static __global__ void k_rope(float *x, const float *inv_freq, const grt_step_state *st, grt_rows rows,
                              int n_heads, int head_dim, int rot_dim, int inter) {
    pdl_start();
    int r = blockIdx.x, seq, pos;
    row_pos(st, rows, r, &seq, &pos);
    int half = rot_dim / 2;
    for (int t = threadIdx.x; t < half * n_heads; t += blockDim.x) {
        int i = t % half, h = t / half;
        /* As the CPU: the angle is an f32 product, cos/sin correctly rounded. */
        float ang = (float)pos * inv_freq[i];
        double sd, cd;
        sincos((double)ang, &sd, &cd);
        float cs = (float)cd, sn = (float)sd;
        int i0 = inter ? 2 * i : i, i1 = inter ? 2 * i + 1 : i + half;
        float *v = x + ((int64_t)r * n_heads + h) * head_dim;
        float a = v[i0], b = v[i1];
        v[i0] = a * cs - b * sn;
        v[i1] = a * sn + b * cs;
    }
}

static void direct_rope(grt_device *dev, const grt_tensor *x, const grt_tensor *inv_freq, const grt_tensor *state,
                  grt_rows rows, int n_heads, int head_dim, int rot_dim, bool interleaved) {
    int work = rot_dim / 2 * n_heads;
    int th = work >= 1024 ? 1024 : (work + 31) / 32 * 32;
    launch(dev, k_rope, dim3(rows.n_rows), dim3(th), 0, (float *)tptr(x), (const float *)tptr(inv_freq),
           (const grt_step_state *)tptr(state), rows, n_heads, head_dim, rot_dim, (int)interleaved);
    cuda_check_launch(dev, "rope");
}

static __global__ void k_kv_store(void *kc, void *vc, int k16, int v16, const float *k, const float *v,
                                  const grt_step_state *st, grt_rows rows, int kv_dim, int max_ctx) {
    pdl_start();
    int r = blockIdx.x, seq, pos;
    row_pos(st, rows, r, &seq, &pos);
    if (pos < 0 || pos >= max_ctx) return;
    size_t at = ((size_t)seq * max_ctx + pos) * kv_dim;
    for (int i = threadIdx.x; i < kv_dim; i += blockDim.x) {
        float kv = k[(size_t)r * kv_dim + i], vv = v[(size_t)r * kv_dim + i];
        if (k16) ((__half *)kc)[at + i] = __float2half_rn(kv);
        else ((float *)kc)[at + i] = kv;
        if (v16) ((__half *)vc)[at + i] = __float2half_rn(vv);
        else ((float *)vc)[at + i] = vv;
    }
}

static void direct_kv_store(grt_device *dev, const grt_tensor *k_cache, const grt_tensor *v_cache, const grt_tensor *k,
                      const grt_tensor *v, const grt_tensor *state, grt_rows rows, int kv_dim, int max_ctx) {
    launch(dev, k_kv_store, dim3(rows.n_rows), dim3(128), 0, 
        tptr(k_cache), tptr(v_cache), k_cache->type == GRT_F16, v_cache->type == GRT_F16,
        (const float *)tptr(k), (const float *)tptr(v), (const grt_step_state *)tptr(state), rows, kv_dim, max_ctx);
    cuda_check_launch(dev, "kv_store");
}

/* ---------------------------------------------------------------- attention */

/* One block of 4 warps per (split, head, row). The split's share of the
 * row's key range is computed from the step state, so the launch does not
 * change as the context grows. Scores first (each warp takes 4 keys at a
 * time, loads in flight together), then the softmax in shared memory, then
 * the weighted sum of V with threads over (key group, dim). With one split
 * the block writes the output; otherwise (max, sum, acc) partials that
 * k_attn_combine merges. */
/* ATT_MAXSPLIT: splits of the longest context (1 << 22) in ATT_CHUNK keys */
enum { ATT_WARPS = 4, ATT_MAXD = 8 /* head_dim <= 256 */, ATT_CHUNK = 4096, ATT_MAXSPLIT = 1024 };

/* Split attention, shared by k_attention, k_attn_combine and k_attn_dec:
 * split c of head g of a group leaves (max, sum, acc[hd]) at
 * p0 + (c * G + g) * (hd + 2): the scores' max, the sum of exp(score -
 * max), and the exp-weighted sum of V rows. */

/* Release / acquire at GPU scope: what this thread (and, through a block
 * barrier before it, its block) wrote is visible to a block that sees a
 * later atomic of this thread; lighter than __threadfence's sequential
 * consistency. */
static __device__ __forceinline__ void fence_acq_rel() { asm volatile("fence.acq_rel.gpu;" ::: "memory"); }

/* True in every thread of the block that finishes the group last (the
 * counter then back to zero). Call after the block's partials are written;
 * the partials of every split are then visible to it. One thread fences
 * for the block: the barrier before its release fence and the one after
 * its acquire fence carry the ordering to the other threads. */
static __device__ bool split_last(unsigned *ctr, unsigned n) {
    __shared__ unsigned last;
    __syncthreads();
    if (threadIdx.x == 0) {
        fence_acq_rel();
        last = atomicAdd(ctr, 1u) == n - 1;
        if (last) {
            atomicExch(ctr, 0u);
            fence_acq_rel();
        }
    }
    __syncthreads();
    return last;
}

/* Merges n splits of G heads into out (head g at out + g * hd): weights
 * exp(m_c - M) per head, M the heads' max. One round trip: every (m, l)
 * and the first SM_PRE splits of this thread's first element are loaded
 * together (a loop of dependent loads here was the slowest part of
 * k_attn_dec). wt, wl: shared, n * G floats; lsum: shared, G floats. All
 * threads of the block call it; it ends with a barrier. */
enum { SM_PRE = 8 };
static __device__ void merge_splits(float *out, const float *p0, int n, int G, int hd, float *wt, float *wl,
                                    float *lsum) {
    int tid = threadIdx.x, nt = blockDim.x, g0 = tid / hd, d0 = tid % hd;
    bool has0 = tid < G * hd;
    float av[SM_PRE];
#pragma unroll
    for (int c = 0; c < SM_PRE; c++)
        av[c] = has0 && c < n ? __ldcg(p0 + ((size_t)c * G + g0) * (hd + 2) + 2 + d0) : 0.0f;
    for (int i = tid; i < n * G; i += nt) {
        wt[i] = __ldcg(p0 + (size_t)i * (hd + 2));
        wl[i] = __ldcg(p0 + (size_t)i * (hd + 2) + 1);
    }
    __syncthreads();
    if (tid < G) {
        float M = -INFINITY, L = 0;
        for (int c = 0; c < n; c++) M = fmaxf(M, wt[c * G + tid]);
        for (int c = 0; c < n; c++) {
            float ms = wt[c * G + tid];
            float e = ms == -INFINITY ? 0.0f : expf(ms - M);
            wt[c * G + tid] = e;
            L += e * wl[c * G + tid];
        }
        lsum[tid] = L;
    }
    __syncthreads();
    for (int i = tid; i < G * hd; i += nt) {
        int g = i / hd, d = i % hd, c = 0;
        float o = 0;
        if (i == tid) {
#pragma unroll
            for (int k = 0; k < SM_PRE; k++)
                if (k < n) o += wt[k * G + g] * av[k];
            c = SM_PRE;
        }
#pragma unroll 8
        for (; c < n; c++) o += wt[c * G + g] * __ldcg(p0 + ((size_t)c * G + g) * (hd + 2) + 2 + d);
        out[(size_t)g * hd + d] = lsum[g] > 0 ? o / lsum[g] : 0.0f;
    }
    __syncthreads();
}

static __device__ __forceinline__ float kv_at(const float *p, size_t i) { return p[i]; }
static __device__ __forceinline__ float kv_at(const __half *p, size_t i) { return __half2float(p[i]); }

template <typename KT>
static __global__ void __launch_bounds__(ATT_WARPS * 32)
    k_attention(float *out, float *part, const float *q, const KT *kc, const KT *vc, const grt_step_state *st,
                grt_rows rows, int n_heads, int n_kv, int hd, int max_ctx, float scale, int window, int n_splits,
                unsigned *ctr) {
    pdl_start();
    extern __shared__ float sc[]; /* [chunk] scores, then weights */
    __shared__ float red[ATT_WARPS];
    __shared__ float po[2 * 128];
    int split = blockIdx.x, h = blockIdx.y, r = blockIdx.z;
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    int seq, pos;
    row_pos(st, rows, r, &seq, &pos);
    int hi = pos < max_ctx - 1 ? pos : max_ctx - 1;
    int lo = window > 0 && pos - window + 1 > 0 ? pos - window + 1 : 0;
    int n = hi - lo + 1;
    int chunk = n > 0 ? (n + n_splits - 1) / n_splits : 0;
    int j0 = lo + split * chunk, j1 = j0 + chunk;
    if (j1 > hi + 1) j1 = hi + 1;
    int cnt = j1 > j0 ? j1 - j0 : 0;
    int kvh = h / (n_heads / n_kv), kv_dim = n_kv * hd;
    const float *qh = q + ((size_t)r * n_heads + h) * hd;
    int nd = (hd + 31) / 32;
    float qv[ATT_MAXD];
#pragma unroll
    for (int i = 0; i < ATT_MAXD; i++) {
        int d = lane + 32 * i;
        qv[i] = (i < nd && d < hd) ? qh[d] : 0.0f;
    }
    size_t base = (size_t)seq * max_ctx * kv_dim + (size_t)kvh * hd + (size_t)j0 * kv_dim;
    const KT *kb = kc + base, *vb = vc + base;
    for (int jj = w * 4; jj < cnt; jj += ATT_WARPS * 4) {
        float s4[4];
#pragma unroll
        for (int u = 0; u < 4; u++) {
            s4[u] = 0;
            if (jj + u < cnt) {
                const KT *kj = kb + (size_t)(jj + u) * kv_dim;
#pragma unroll
                for (int i = 0; i < ATT_MAXD; i++) {
                    int d = lane + 32 * i;
                    if (i < nd && d < hd) s4[u] += qv[i] * kv_at(kj, d);
                }
            }
        }
#pragma unroll
        for (int u = 0; u < 4; u++) s4[u] = warp_sum(s4[u]);
        if (lane == 0)
#pragma unroll
            for (int u = 0; u < 4; u++)
                if (jj + u < cnt) sc[jj + u] = s4[u] * scale;
    }
    __syncthreads();
    float m = -INFINITY;
    for (int j = threadIdx.x; j < cnt; j += blockDim.x) m = fmaxf(m, sc[j]);
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    if (lane == 0) red[w] = m;
    __syncthreads();
    m = -INFINITY;
    for (int i = 0; i < ATT_WARPS; i++) m = fmaxf(m, red[i]);
    __syncthreads();
    float l = 0;
    for (int j = threadIdx.x; j < cnt; j += blockDim.x) {
        float e = expf(sc[j] - m);
        sc[j] = e;
        l += e;
    }
    l = warp_sum(l);
    if (lane == 0) red[w] = l;
    __syncthreads();
    l = 0;
    for (int i = 0; i < ATT_WARPS; i++) l += red[i];
    /* weighted V: D dims per pass, G key groups */
    int D = hd < 128 ? hd : 128, G = (ATT_WARPS * 32) / D;
    if (G > 2) G = 2;
    int g = threadIdx.x / D, dl = threadIdx.x % D;
    for (int d0 = 0; d0 < hd; d0 += D) {
        int d = d0 + dl;
        float o = 0;
        if (g < G && d < hd) {
            /* four independent chains keep four loads in flight */
            float o4[4] = {0, 0, 0, 0};
            int j = g;
            for (; j + 3 * G < cnt; j += 4 * G) {
#pragma unroll
                for (int u = 0; u < 4; u++) o4[u] += sc[j + u * G] * kv_at(vb + (size_t)(j + u * G) * kv_dim, d);
            }
            for (; j < cnt; j += G) o4[0] += sc[j] * kv_at(vb + (size_t)j * kv_dim, d);
            o = (o4[0] + o4[1]) + (o4[2] + o4[3]);
        }
        if (g < G) po[g * 128 + dl] = o;
        __syncthreads();
        if (g == 0 && d < hd) {
            float t = po[dl];
            for (int k = 1; k < G; k++) t += po[k * 128 + dl];
            if (n_splits == 1) {
                out[((size_t)r * n_heads + h) * hd + d] = l > 0 ? t / l : 0.0f;
            } else {
                float *p = part + (((size_t)r * n_heads + h) * n_splits + split) * (hd + 2);
                p[2 + d] = t;
                if (d == 0) {
                    p[0] = m;
                    p[1] = l;
                }
            }
        }
        __syncthreads();
    }
    if (n_splits == 1 || !ctr) return;
    /* The last split block of (row, head) merges the partials. */
    __shared__ float wt[ATT_MAXSPLIT], wl[ATT_MAXSPLIT], lsum[1];
    if (!split_last(ctr + 1 + (size_t)r * n_heads + h, (unsigned)n_splits)) return;
    merge_splits(out + ((size_t)r * n_heads + h) * hd, part + ((size_t)r * n_heads + h) * n_splits * (hd + 2), n_splits,
                 1, hd, wt, wl, lsum);
}

static __global__ void k_attn_combine(float *out, const float *part, int n_heads, int hd, int n_splits) {
    pdl_start();
    __shared__ float wt[ATT_MAXSPLIT], wl[ATT_MAXSPLIT], lsum[1];
    int h = blockIdx.x, r = blockIdx.y;
    merge_splits(out + ((size_t)r * n_heads + h) * hd, part + ((size_t)r * n_heads + h) * n_splits * (hd + 2), n_splits,
                 1, hd, wt, wl, lsum);
}

static bool try_attn_dec(grt_device *dev, const grt_tensor *out, const grt_tensor *q, const grt_tensor *k_cache,
                         const grt_tensor *v_cache, const grt_tensor *state, grt_rows rows, int n_heads,
                         int n_kv_heads, int head_dim, int max_ctx, float scale, int window);

void cuda_op_attention(grt_device *dev, const grt_tensor *out, const grt_tensor *q, const grt_tensor *k_cache,
                       const grt_tensor *v_cache, const grt_tensor *state, grt_rows rows, int n_heads,
                       int n_kv_heads, int head_dim, int max_ctx, float scale, int window) {
    if (try_attn_dec(dev, out, q, k_cache, v_cache, state, rows, n_heads, n_kv_heads, head_dim, max_ctx, scale,
                     window))
        return;
    cuda_flush(dev);
    if (cuda_flash_attention(dev, out, q, k_cache, v_cache, state, rows, n_heads, n_kv_heads, head_dim, max_ctx,
                             scale, window))
        return;
    cuda_ctx *c = cuda_ctx_of(dev);
    if (head_dim > 32 * ATT_MAXD || k_cache->type != v_cache->type) {
        grt_dev_set_error(dev, GRT_ERR_UNSUPPORTED, "cuda attention: head_dim %d (max %d) or mixed cache types",
                          head_dim, 32 * ATT_MAXD);
        return;
    }
    /* Enough blocks to fill the GPU twice over; splits never shorter than
     * 32 keys of the longest possible context. */
    int64_t base_blocks = (int64_t)rows.n_rows * n_heads;
    int n_splits = (int)((2 * c->n_sm + base_blocks - 1) / base_blocks);
    int span = window > 0 && window < max_ctx ? window : max_ctx;
    int max_splits = (span + 31) / 32;
    if (n_splits > max_splits) n_splits = max_splits;
    if (n_splits > 64) n_splits = 64;
    int min_splits = (span + ATT_CHUNK - 1) / ATT_CHUNK; /* scores fit in shared memory */
    if (n_splits < min_splits) n_splits = min_splits;
    if (n_splits < 1) n_splits = 1;
    size_t smem = (size_t)((span + n_splits - 1) / n_splits) * 4;
    float *part = NULL;
    if (n_splits > 1) {
        part = (float *)cuda_scratch(dev, (size_t)base_blocks * n_splits * (head_dim + 2) * 4);
        if (!part) return;
    }
    dim3 grid((unsigned)n_splits, (unsigned)n_heads, (unsigned)rows.n_rows);
    unsigned *ctr = 1 + base_blocks <= CUDA_N_COUNTERS ? c->counters : NULL;
    const grt_step_state *st = (const grt_step_state *)tptr(state);
    if (k_cache->type == GRT_F16)
        launch(dev, k_attention<__half>, dim3(grid), dim3(ATT_WARPS * 32), smem,
            (float *)tptr(out), part, (const float *)tptr(q), (const __half *)tptr(k_cache),
            (const __half *)tptr(v_cache), st, rows, n_heads, n_kv_heads, head_dim, max_ctx, scale, window, n_splits, ctr);
    else
        launch(dev, k_attention<float>, dim3(grid), dim3(ATT_WARPS * 32), smem,
            (float *)tptr(out), part, (const float *)tptr(q), (const float *)tptr(k_cache),
            (const float *)tptr(v_cache), st, rows, n_heads, n_kv_heads, head_dim, max_ctx, scale, window, n_splits, ctr);
    if (n_splits > 1 && !ctr)
        launch(dev, k_attn_combine, dim3((unsigned)n_heads, (unsigned)rows.n_rows), dim3(head_dim < 128 ? 64 : 128), 0,
            (float *)tptr(out), part, n_heads, head_dim, n_splits);
    cuda_check_launch(dev, "attention");
}

/* ---------------------------------------------------------------- glu, advance */

static __global__ void k_glu(float *out, const float *g, const float *u, int64_t n, int act) {
    pdl_start();
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float x = g[i];
        float a;
        if (act == GRT_ACT_SILU) a = x / (1.0f + expf(-x));
        else a = 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
        out[i] = a * u[i];
    }
}

static void direct_glu(grt_device *dev, const grt_tensor *out, const grt_tensor *gate, const grt_tensor *up,
                 int64_t n_rows, int64_t n_ff, grt_act act) {
    int64_t n = n_rows * n_ff;
    int64_t blocks = (n + 255) / 256;
    if (blocks > 8192) blocks = 8192;
    launch(dev, k_glu, dim3((unsigned)blocks), dim3(256), 0, (float *)tptr(out), (const float *)tptr(gate),
                                                                 (const float *)tptr(up), n, act);
    cuda_check_launch(dev, "glu");
}

static __global__ void k_advance(grt_step_state *st, grt_rows rows) {
    pdl_start();
    int s = rows.seq0 + blockIdx.x * blockDim.x + threadIdx.x;
    if (s < rows.seq0 + rows.n_seqs) st[s].pos += rows.n_rows / rows.n_seqs;
}

void cuda_op_advance(grt_device *dev, const grt_tensor *state, grt_rows rows) {
    cuda_flush(dev);
    launch(dev, k_advance, dim3((rows.n_seqs + 127) / 128), dim3(128), 0, (grt_step_state *)tptr(state), rows);
    cuda_check_launch(dev, "advance");
}

/* ---------------------------------------------------------------- fusion */

/* rope on q and k rows (same positions), then k and v into the caches. */
static __global__ void k_rope_kv(float *xq, int hq, float *xk, int hk, const float *inv_freq,
                                 const grt_step_state *st, grt_rows rows, int hd, int rot, int inter, void *kc,
                                 void *vc, int k16, int v16, const float *v, int max_ctx) {
    pdl_start();
    int r = blockIdx.x, seq, pos;
    row_pos(st, rows, r, &seq, &pos);
    int half = rot / 2;
    for (int t = threadIdx.x; t < half * (hq + hk); t += blockDim.x) {
        int i = t % half, h = t / half;
        float ang = (float)pos * inv_freq[i];
        double sd, cd;
        sincos((double)ang, &sd, &cd);
        float cs = (float)cd, sn = (float)sd;
        int i0 = inter ? 2 * i : i, i1 = inter ? 2 * i + 1 : i + half;
        float *x = h < hq ? xq + ((int64_t)r * hq + h) * hd : xk + ((int64_t)r * hk + (h - hq)) * hd;
        float a = x[i0], b = x[i1];
        x[i0] = a * cs - b * sn;
        x[i1] = a * sn + b * cs;
    }
    __syncthreads();
    if (pos < 0 || pos >= max_ctx) return;
    int kv_dim = hk * hd;
    size_t at = ((size_t)seq * max_ctx + pos) * kv_dim;
    for (int i = threadIdx.x; i < kv_dim; i += blockDim.x) {
        float kv = xk[(size_t)r * kv_dim + i], vv = v[(size_t)r * kv_dim + i];
        if (k16) ((__half *)kc)[at + i] = __float2half_rn(kv);
        else ((float *)kc)[at + i] = kv;
        if (v16) ((__half *)vc)[at + i] = __float2half_rn(vv);
        else ((float *)vc)[at + i] = vv;
    }
}


/* Decode attention with the rope of q and k and the KV store folded in
 * (one row per sequence). One block per (split, head group, sequence)
 * serves G query heads of a KV head; a KV head has hg such groups (by
 * default G = 1: more, shorter blocks, each reading the KV head's keys
 * from L2). Only as many splits work as the current length needs (at
 * least min_keys keys each; the others return at once), so a short context
 * is one block per group with no merge.
 *
 * The split's cached keys and values (up to cst of them) are copied into
 * shared memory with cp.async as soon as the position is known. With
 * early (the kernel before this one let it launch only after its own PDL
 * wait, so every kernel before that one is complete), the position and the
 * cache are read before this kernel's wait, while the q/k/v GEMV still
 * runs: only q, k and v wait for it. The block rotates q and the new k
 * itself; the split that holds the position writes the new key and value
 * into the cache and into its shared copy. Scores: 8 threads per key.
 * Weighted V: threads over (key group, 4 dims). With several splits each
 * writes (max, sum, acc) partials and the last to finish merges them
 * (merge_splits). The last block to have read q (of its group) and k (of
 * its KV head) writes them back rotated, so every effect of the three ops
 * exists afterwards; the first group's blocks write the cache. */
/* Threads per block (compile-time; measured on the H100 with 256 keys per
 * split: 512 gave 1517 / 835 tok/s on SmolLM2 / Llama-1B, 256 gave 1514 /
 * 828: short splits pay for the merge, long ones for their block's work). */
#ifndef AD_NT
#define AD_NT 512
#endif
enum { AD_THREADS = AD_NT, AD_MAXHD = 256, AD_MAXSPLIT = 64, AD_TPK = 8 };

struct ad_args {
    float *out, *part, *q, *k; /* out, q: [rows, n_heads * hd]; k: [rows, n_kv * hd] */
    const float *v;            /* [rows, n_kv * hd] */
    float *kc, *vc;            /* [n_seqs * max_ctx, n_kv * hd] */
    const float *inv_freq;     /* [rot / 2] */
    const grt_step_state *st;
    grt_rows rows;
    int n_heads, n_kv, hd, rot, inter, max_ctx, window;
    float scale;
    int n_splits, min_keys;
    int cmax; /* keys of a split at most (scores in shared memory) */
    int cst;  /* keys staged in shared memory at most */
    int early;
    int hg;   /* blocks per KV head and split, each G of its query heads (G * hg per KV head) */
    unsigned *ctr;
    int stop; /* -DAD_PROBE builds: return after phase `stop` (GENRT_CUDA_ASTOP; timing only, results wrong) */
};
#ifdef AD_PROBE
#define AD_STOP(k) \
    if (a.stop == (k)) return
#else
#define AD_STOP(k)
#endif

static __device__ __forceinline__ void cp_async16(void *sdst, const void *gsrc) {
    unsigned a = (unsigned)__cvta_generic_to_shared(sdst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(a), "l"(gsrc) : "memory");
}
static __device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_all;" ::: "memory"); }

/* Shared memory of k_attn_dec<G>, in floats: staged keys and values, q,
 * scores, the weighted-V partial sums of the key groups. */
static __host__ __device__ size_t ad_smem_floats(int G, int hd, int cmax, int cst, int nt) {
    return 2 * (size_t)cst * hd + (size_t)G * hd + (size_t)G * cmax + (size_t)(nt / (hd / 4)) * G * hd;
}

template <int G>
static __global__ void __launch_bounds__(AD_THREADS) k_attn_dec(const ad_args a) {
    pdl_launch();
    AD_STOP(0);
    extern __shared__ __align__(16) float ad_sm[];
    __shared__ float cs[AD_MAXHD / 2], sn[AD_MAXHD / 2];
    __shared__ __align__(16) float kn[AD_MAXHD], vn[AD_MAXHD];
    __shared__ float mx[G], sm[G], wt[AD_MAXSPLIT * G], wl[AD_MAXSPLIT * G];
    const int hd = a.hd, cmax = a.cmax, cst = a.cst;
    float *ks = ad_sm, *vs = ks + (size_t)cst * hd, *qs = vs + (size_t)cst * hd, *sc = qs + G * hd,
          *red = sc + (size_t)G * cmax;
    /* vh: this block's group of G query heads, vh * G .. vh * G + G - 1, of KV head kvh */
    int split = blockIdx.x, vh = blockIdx.y, kvh = vh / a.hg, r = blockIdx.z, tid = threadIdx.x, nt = blockDim.x;
    int n_vh = a.n_kv * a.hg;
    int lane = tid & 31, w = tid >> 5;
    int kv_dim = a.n_kv * hd, half = a.rot / 2, hd4 = hd / 4;
    float freq = tid < half ? a.inv_freq[tid] : 0.0f; /* constant: read before the wait */
    if (!a.early) pdl_wait();
    int seq = a.rows.seq0 + r, pos = a.st[seq].pos;
    int hi = pos < a.max_ctx - 1 ? pos : a.max_ctx - 1;
    int lo = a.window > 0 && pos - a.window + 1 > 0 ? pos - a.window + 1 : 0;
    int n = hi - lo + 1;
    int active = ad_active(pos, a.max_ctx, a.window, a.min_keys, a.n_splits);
    if (split >= active) return;
    int chunk = n > 0 ? (n + active - 1) / active : 0;
    int j0 = lo + split * chunk, j1 = j0 + chunk;
    if (j1 > hi + 1) j1 = hi + 1;
    int cnt = j1 > j0 ? j1 - j0 : 0, ns = cnt < cst ? cnt : cst;
    size_t base = (size_t)seq * a.max_ctx * kv_dim + (size_t)kvh * hd;
    /* the cached rows of this split; the new one (j == pos) comes later */
    for (int i = tid; i < ns * hd4; i += nt) {
        int jj = i / hd4, c4 = i - jj * hd4, j = j0 + jj;
        if (j == pos) continue;
        size_t at = base + (size_t)j * kv_dim + c4 * 4;
        cp_async16(ks + jj * hd + c4 * 4, a.kc + at);
        cp_async16(vs + jj * hd + c4 * 4, a.vc + at);
    }
    if (tid < half) {
        /* as k_rope: an f32 angle, cos/sin correctly rounded */
        double sd, cd;
        sincos((double)((float)pos * freq), &sd, &cd);
        cs[tid] = (float)cd;
        sn[tid] = (float)sd;
    }
    if (a.early) pdl_wait();
    AD_STOP(1);
    float *qg = a.q + ((size_t)r * a.n_heads + (size_t)vh * G) * hd;
    float *kr = a.k + (size_t)r * kv_dim + (size_t)kvh * hd;
    const float *vr = a.v + (size_t)r * kv_dim + (size_t)kvh * hd;
    for (int i = tid; i < G * hd4; i += nt) ((float4 *)qs)[i] = ((const float4 *)qg)[i];
    for (int i = tid; i < hd4; i += nt) {
        ((float4 *)kn)[i] = ((const float4 *)kr)[i];
        ((float4 *)vn)[i] = ((const float4 *)vr)[i];
    }
    __syncthreads();
    /* q and k go back rotated once every block that reads them has: q by
     * the block of the head group that counts last here, k by the last of
     * the KV head's. The counts are taken now and their results used only
     * at the end (the block's write-back), so the atomics' round trips
     * overlap the block's work. */
    unsigned *cwq = a.ctr + 1 + CUDA_N_COUNTERS / 2 + (size_t)r * n_vh + vh;
    unsigned *cwk = a.ctr + 1 + CUDA_N_COUNTERS / 4 * 3 + (size_t)r * a.n_kv + kvh;
    unsigned nq = 0, nk = 0;
    if (tid == 0) {
        if (active > 1) nq = atomicAdd(cwq, 1u);
        if (a.hg > 1) nk = atomicAdd(cwk, 1u);
    }
    for (int t = tid; t < (G + 1) * half; t += nt) {
        int h = t / half, i = t % half;
        float *x = h < G ? qs + h * hd : kn;
        int i0 = a.inter ? 2 * i : i, i1 = a.inter ? 2 * i + 1 : i + half;
        float x0 = x[i0], x1 = x[i1];
        x[i0] = x0 * cs[i] - x1 * sn[i];
        x[i1] = x0 * sn[i] + x1 * cs[i];
    }
    __syncthreads();
    AD_STOP(2);
    /* the new row: into the cache (no block reads it there) and the copy */
    int jp = pos - j0;
    if (jp >= 0 && jp < cnt) {
        for (int i = tid; i < hd; i += nt) {
            if (vh % a.hg == 0) {
                a.kc[base + (size_t)pos * kv_dim + i] = kn[i];
                a.vc[base + (size_t)pos * kv_dim + i] = vn[i];
            }
            if (jp < ns) {
                ks[jp * hd + i] = kn[i];
                vs[jp * hd + i] = vn[i];
            }
        }
    }
    cp_async_wait_all();
    __syncthreads();
    AD_STOP(3);
    /* scores: AD_TPK threads per key, float4 pieces c4 = sub, sub + 8, ...;
     * the staged keys first (shared-memory loads), then the rest */
    int sub = tid % AD_TPK, kpp = nt / AD_TPK;
    /* one query head (the default) of up to 128 dims: the thread's pieces of
     * q in registers (same sums, in the same order) */
    constexpr int QR = 128 / 4 / AD_TPK;
    bool qreg = G == 1 && hd4 <= QR * AD_TPK;
    float4 qr[G == 1 ? QR : 1];
    if (G == 1 && qreg)
#pragma unroll
        for (int i = 0; i < QR; i++) {
            int c4 = sub + i * AD_TPK;
            qr[i] = c4 < hd4 ? ((const float4 *)qs)[c4] : make_float4(0, 0, 0, 0);
        }
    auto score = [&](int jj, const float *kp, bool ok) {
        float s[G];
#pragma unroll
        for (int g = 0; g < G; g++) s[g] = 0;
        if (G == 1 && qreg) {
#pragma unroll
            for (int i = 0; i < QR; i++) {
                int c4 = sub + i * AD_TPK;
                if (c4 >= hd4) break;
                float4 kk = ((const float4 *)kp)[c4];
                s[0] += qr[i].x * kk.x + qr[i].y * kk.y + qr[i].z * kk.z + qr[i].w * kk.w;
            }
        } else for (int c4 = sub; c4 < hd4; c4 += AD_TPK) {
            float4 kk = ((const float4 *)kp)[c4];
#pragma unroll
            for (int g = 0; g < G; g++) {
                float4 qq = ((const float4 *)(qs + g * hd))[c4];
                s[g] += qq.x * kk.x + qq.y * kk.y + qq.z * kk.z + qq.w * kk.w;
            }
        }
#pragma unroll
        for (int g = 0; g < G; g++)
#pragma unroll
            for (int o = 1; o < AD_TPK; o <<= 1) s[g] += __shfl_xor_sync(0xffffffffu, s[g], o);
        if (sub == 0 && ok)
#pragma unroll
            for (int g = 0; g < G; g++) sc[g * cmax + jj] = s[g] * a.scale;
    };
    for (int jb = 0; jb < ns; jb += kpp) {
        int jj = jb + tid / AD_TPK;
        score(jj, ks + (size_t)(jj < ns ? jj : 0) * hd, jj < ns);
    }
    for (int jb = ns; jb < cnt; jb += kpp) {
        int jj = jb + tid / AD_TPK, j = j0 + jj;
        bool ok = jj < cnt;
        score(jj, !ok || j == pos ? kn : a.kc + base + (size_t)j * kv_dim, ok);
    }
    __syncthreads();
    AD_STOP(4);
    /* softmax per head: a warp per head */
    for (int g = w; g < G; g += nt / 32) {
        float m = -INFINITY;
        for (int jj = lane; jj < cnt; jj += 32) m = fmaxf(m, sc[g * cmax + jj]);
        for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
        float l = 0;
        for (int jj = lane; jj < cnt; jj += 32) {
            float e = __expf(sc[g * cmax + jj] - m);
            sc[g * cmax + jj] = e;
            l += e;
        }
        l = warp_sum(l);
        if (lane == 0) {
            mx[g] = m;
            sm[g] = l;
        }
    }
    __syncthreads();
    AD_STOP(5);
    /* weighted V: thread (key group kg, dims 4 * d4) */
    int nkg = nt / hd4, kg = tid / hd4, d4 = tid % hd4;
    if (kg < nkg) {
        float4 acc[G];
#pragma unroll
        for (int g = 0; g < G; g++) acc[g] = make_float4(0, 0, 0, 0);
        auto add = [&](int jj, float4 vv) {
#pragma unroll
            for (int g = 0; g < G; g++) {
                float p = sc[g * cmax + jj];
                acc[g].x += p * vv.x;
                acc[g].y += p * vv.y;
                acc[g].z += p * vv.z;
                acc[g].w += p * vv.w;
            }
        };
        int jj = kg;
#pragma unroll 4
        for (; jj < ns; jj += nkg) add(jj, ((const float4 *)(vs + (size_t)jj * hd))[d4]);
#pragma unroll 4
        for (; jj < cnt; jj += nkg) {
            int j = j0 + jj;
            add(jj, ((const float4 *)(j == pos ? vn : a.vc + base + (size_t)j * kv_dim))[d4]);
        }
#pragma unroll
        for (int g = 0; g < G; g++) ((float4 *)(red + ((size_t)kg * G + g) * hd))[d4] = acc[g];
    }
    __shared__ unsigned wbq, wbk;
    if (tid == 0) {
        wbq = active == 1 || nq == (unsigned)active - 1;
        wbk = a.hg > 1 ? nk == (unsigned)(active * a.hg) - 1 : wbq;
        if (active > 1 && wbq) atomicExch(cwq, 0u);
        if (a.hg > 1 && wbk) atomicExch(cwk, 0u);
    }
    __syncthreads();
    AD_STOP(6);
    if (wbq)
        for (int i = tid; i < G * hd4; i += nt) ((float4 *)qg)[i] = ((const float4 *)qs)[i];
    if (wbk)
        for (int i = tid; i < hd4; i += nt) ((float4 *)kr)[i] = ((const float4 *)kn)[i];
    float *p0 = a.part + ((size_t)r * n_vh + vh) * a.n_splits * G * (hd + 2);
    float *pp = p0 + (size_t)split * G * (hd + 2);
    float *og = a.out + ((size_t)r * a.n_heads + (size_t)vh * G) * hd;
    for (int i = tid; i < G * hd; i += nt) {
        int g = i / hd, d = i % hd;
        float t = 0;
        for (int c = 0; c < nkg; c++) t += red[((size_t)c * G + g) * hd + d];
        if (active == 1) {
            og[i] = sm[g] > 0 ? t / sm[g] : 0.0f;
        } else {
            pp[g * (hd + 2) + 2 + d] = t;
            if (d == 0) {
                pp[g * (hd + 2)] = mx[g];
                pp[g * (hd + 2) + 1] = sm[g];
            }
        }
    }
    AD_STOP(7);
    if (active > 1) {
        if (!split_last(a.ctr + 1 + (size_t)r * n_vh + vh, (unsigned)active)) return;
        AD_STOP(8);
        merge_splits(og, p0, active, G, hd, wt, wl, sm);
    }
    AD_STOP(9);
}

/* The most dynamic shared memory k_attn_dec<G> may ask for: the device's
 * opt-in limit less the kernel's static arrays, set once per kernel (the
 * largest, so graphs captured earlier stay valid). */
template <int G>
static size_t ad_smem_limit(grt_device *dev) {
    static size_t lim;
    if (lim) return lim;
    cudaFuncAttributes fa;
    int optin = 0;
    if (cudaFuncGetAttributes(&fa, k_attn_dec<G>) != cudaSuccess ||
        cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, cuda_ctx_of(dev)->device) != cudaSuccess ||
        (size_t)optin <= fa.sharedSizeBytes) {
        cudaGetLastError();
        return 48 * 1024 - 8 * 1024; /* what any device allows with these static arrays */
    }
    size_t l = (size_t)optin - fa.sharedSizeBytes;
    if (cudaFuncSetAttribute(k_attn_dec<G>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)l) != cudaSuccess) {
        cudaGetLastError();
        return 48 * 1024 - fa.sharedSizeBytes;
    }
    lim = l;
    return lim;
}

/* Splits of the fused decode attention: one wave of blocks over the SMs,
 * each split at least min_keys keys of the longest context, scores that
 * fit in shared memory, and as many keys staged as the rest of the shared
 * memory holds (attn_stage at most). 0 when the shape does not fit the
 * kernel. */
static int attn_dec_splits(grt_device *dev, int n_seqs, int n_groups, int G, int hd, int span, int min_keys,
                           size_t lim, size_t *smem, int *cmax_out, int *cst_out) {
    cuda_ctx *c = cuda_ctx_of(dev);
    int base = n_seqs * n_groups; /* blocks per split: head groups of G query heads, per sequence */
    int n = (c->n_sm + base - 1) / base;
    int by_keys = (span + min_keys - 1) / min_keys;
    if (n > by_keys) n = by_keys;
    if (n < 1) n = 1;
    int cap = (32 * 1024 / 4) / G; /* score floats per head */
    if ((span + n - 1) / n > cap) n = (span + cap - 1) / cap;
    if (n > AD_MAXSPLIT) return 0;
    /* the longest a split gets: min_keys, or a share of the longest context */
    int cmax = (span + n - 1) / n;
    if (cmax < min_keys) cmax = min_keys < span ? min_keys : span;
    cmax = (cmax + 3) / 4 * 4; /* keeps what follows 16-aligned */
    size_t fixed = ad_smem_floats(G, hd, cmax, 0, AD_THREADS) * 4;
    if (fixed > lim) return 0;
    size_t cst = (lim - fixed) / ((size_t)2 * hd * 4);
    if (cst > (size_t)cmax) cst = (size_t)cmax;
    if (cst > (size_t)c->attn_stage) cst = (size_t)c->attn_stage;
    *cmax_out = cmax;
    *cst_out = (int)cst;
    *smem = ad_smem_floats(G, hd, cmax, (int)cst, AD_THREADS) * 4;
    return n;
}

template <int G>
static bool launch_attn_dec(grt_device *dev, dim3 grid, ad_args &a, int span) {
    size_t lim = ad_smem_limit<G>(dev), smem;
    int n = attn_dec_splits(dev, a.rows.n_seqs, a.n_kv * a.hg, G, a.hd, span, a.min_keys, lim, &smem, &a.cmax,
                            &a.cst);
    if (n < 1) return false;
    a.n_splits = n;
    grid.x = (unsigned)n;
    if (n > 1) {
        a.part = (float *)cuda_scratch(dev, (size_t)a.rows.n_seqs * a.n_kv * a.hg * n * G * (a.hd + 2) * 4);
        if (!a.part) return true; /* sticky error set */
    }
    launch(dev, k_attn_dec<G>, grid, dim3(AD_THREADS), smem, a);
    return true;
}

/* One op held back so the next may fuse with it: an rmsnorm or GLU whose
 * output the next matmul reads (it becomes that matmul's prologue), a group
 * of matmuls reading one input, rope on q then k (fused with kv_store),
 * or rope and kv_store together (fused with the decode attention after).
 * Everything else flushes it first, in order, so effects are unchanged. */
enum { PEND_NONE = 0, PEND_NORM, PEND_GLU, PEND_MM, PEND_ROPE, PEND_ROPE_KV };

struct cuda_pend {
    int kind;
    /* norm: out = rmsnorm(in) * w; glu: out = act(in) * up */
    grt_tensor out, in, w, up;
    int64_t n_rows, dim;
    float eps;
    grt_act act;
    /* matmul group */
    mv_args mv;
    int T, R;
    grt_tensor lin;           /* what the group's matmuls name as input */
    grt_tensor outs[3];
    /* rope */
    int n_rope;
    grt_tensor rx[2], rf, rst;
    int rheads[2], hd, rot;
    bool inter;
    grt_rows rows;
    /* rope + kv_store (held so decode attention may take them in) */
    grt_tensor kc, vc, kv_v;
    int max_ctx;
};

static cuda_pend *pend_of(grt_device *dev) {
    cuda_ctx *c = cuda_ctx_of(dev);
    if (!c->pend) c->pend = (cuda_pend *)calloc(1, sizeof(cuda_pend));
    return c->pend;
}

static bool same_start(const grt_tensor *a, const grt_tensor *b) {
    return a->buf == b->buf && a->offset == b->offset;
}

static bool overlaps(const grt_tensor *a, const grt_tensor *b) {
    if (a->buf != b->buf) return false;
    size_t a0 = a->offset, a1 = a0 + grt_tensor_nbytes(a), b0 = b->offset, b1 = b0 + grt_tensor_nbytes(b);
    return a0 < b1 && b0 < a1;
}

static void launch_rope_kv(grt_device *dev, const cuda_pend *p);

/* Launches the held op; true when it was a matmul group that also wrote
 * its GLU output (mv_args.glu_out). */
static bool flush_held(grt_device *dev) {
    cuda_ctx *c = cuda_ctx_of(dev);
    cuda_pend *p = c->pend;
    if (!p || p->kind == PEND_NONE) return false;
    int kind = p->kind;
    p->kind = PEND_NONE;
    bool glu = false;
    switch (kind) {
    case PEND_NORM: direct_rmsnorm(dev, &p->out, &p->in, &p->w, p->n_rows, p->dim, p->eps); break;
    case PEND_GLU: direct_glu(dev, &p->out, &p->in, &p->up, p->n_rows, p->dim, p->act); break;
    case PEND_MM:
        glu = launch_mv_rows(dev, p->mv, p->T, p->R, true);
        cuda_check_launch(dev, "matmul");
        break;
    case PEND_ROPE_KV: launch_rope_kv(dev, p); break;
    case PEND_ROPE:
        for (int i = 0; i < p->n_rope; i++)
            direct_rope(dev, &p->rx[i], &p->rf, &p->rst, p->rows, p->rheads[i], p->hd, p->rot, p->inter);
        break;
    }
    return glu;
}

void cuda_flush(grt_device *dev) { flush_held(dev); }

static bool fusing(grt_device *dev) { return cuda_ctx_of(dev)->fuse; }

void cuda_op_rmsnorm(grt_device *dev, const grt_tensor *out, const grt_tensor *in, const grt_tensor *w,
                     int64_t n_rows, int64_t dim, float eps) {
    cuda_flush(dev);
    if (fusing(dev) && n_rows <= 4 && (size_t)(n_rows * dim) * 4 <= MV_STAGE_MAX && !overlaps(out, in)) {
        cuda_pend *p = pend_of(dev);
        p->kind = PEND_NORM;
        p->out = *out, p->in = *in, p->w = *w, p->n_rows = n_rows, p->dim = dim, p->eps = eps;
        return;
    }
    direct_rmsnorm(dev, out, in, w, n_rows, dim, eps);
}

static bool overlaps_ptr(const grt_tensor *t, const void *p, size_t n) {
    uintptr_t a0 = (uintptr_t)tptr(t), b0 = (uintptr_t)p;
    return p && a0 < b0 + n && b0 < a0 + grt_tensor_nbytes(t);
}

/* Whether the held matmul group is a gate / up pair that may compute
 * out = act(gate) * up as well (mv_args.glu_out): one input row, the two
 * matrices alike, not accumulating; out apart from everything the group
 * reads or writes, or exactly over the gate (as the forward pass issues
 * it: the thread that wrote gate[n] then writes out[n]). Whether the GEMV
 * it gets pairs rows is launch_mv's choice, which it reports. */
static bool glu_pairs(grt_device *dev, const cuda_pend *p, const grt_tensor *out, const grt_tensor *gate,
                      const grt_tensor *up, int64_t n_rows, int64_t n_ff) {
    cuda_ctx *c = cuda_ctx_of(dev);
    const mv_args &a = p->mv;
    if (!c->glu_pair || !fusing(dev) || p->kind != PEND_MM || p->R != 1 || n_rows != 1 || a.n_mats != 2 ||
        !same_start(gate, &p->outs[0]) || !same_start(up, &p->outs[1]) || a.m[0].N != n_ff || a.m[1].N != n_ff ||
        a.m[0].acc || a.m[1].acc)
        return false;
    bool over_gate = same_start(out, gate) && grt_tensor_nbytes(out) == grt_tensor_nbytes(gate);
    if (overlaps(out, &p->lin) || (overlaps(out, &p->outs[0]) && !over_gate) || overlaps(out, &p->outs[1]) ||
        overlaps_ptr(out, a.x, (size_t)a.K * 4) || overlaps_ptr(out, a.pw, (size_t)a.K * 4))
        return false;
    return true;
}

void cuda_op_glu(grt_device *dev, const grt_tensor *out, const grt_tensor *gate, const grt_tensor *up,
                 int64_t n_rows, int64_t n_ff, grt_act act) {
    cuda_pend *p = pend_of(dev);
    if (glu_pairs(dev, p, out, gate, up, n_rows, n_ff)) {
        p->mv.glu_out = (float *)tptr(out);
        p->mv.glu_act = act;
        if (flush_held(dev)) return;
        /* the GEMV did not pair: the GLU goes on as below (gate and up are written) */
    }
    cuda_flush(dev);
    if (fusing(dev) && n_rows <= 4 && (size_t)(n_rows * n_ff) * 4 <= MV_STAGE_MAX && !overlaps(out, up)) {
        cuda_pend *p = pend_of(dev);
        p->kind = PEND_GLU;
        p->out = *out, p->in = *gate, p->up = *up, p->n_rows = n_rows, p->dim = n_ff, p->act = act;
        return;
    }
    direct_glu(dev, out, gate, up, n_rows, n_ff, act);
}

void cuda_op_matmul(grt_device *dev, const grt_tensor *out, const grt_tensor *in, const grt_tensor *w,
                    const grt_tensor *bias, int64_t n_rows, bool accumulate) {
    int T = w->type;
    int64_t K = w->ne[1];
    int pk = pack_of(dev, w);
    if (pk < 0) return;
    mv_mat m = mat_of(out, w, bias, accumulate);
    bool ok = fusing(dev) && n_rows <= 4 && (size_t)(n_rows * K) * 4 <= MV_STAGE_MAX &&
              mv_aligned(T, m.w, m.w_row, (const float *)tptr(in), K);
    if (!ok) {
        cuda_flush(dev);
        direct_matmul(dev, out, in, w, bias, n_rows, accumulate, pk);
        return;
    }
    cuda_pend *p = pend_of(dev);
    unsigned nblk = (unsigned)((m.N + MV_WARPS - 1) / MV_WARPS);
    if ((p->kind == PEND_NORM || p->kind == PEND_GLU) && same_start(in, &p->out) && p->n_rows == n_rows &&
        p->dim == K && !overlaps(out, &p->out) && !overlaps(out, &p->in) &&
        (p->kind == PEND_NORM || !overlaps(out, &p->up))) {
        /* the held op becomes this matmul's prologue */
        mv_args a;
        memset(&a, 0, sizeof a);
        a.stage = 1;
        a.pro = p->kind == PEND_NORM ? PRO_NORM : PRO_GLU;
        a.x = (const float *)tptr(&p->in);
        a.K = K;
        a.pw = p->kind == PEND_NORM ? (const float *)tptr(&p->w) : NULL;
        a.up = p->kind == PEND_GLU ? (const float *)tptr(&p->up) : NULL;
        a.eps = p->eps;
        a.act = p->act;
        a.pro_out = (float *)tptr(&p->out);
        a.pro_share = cuda_ctx_of(dev)->pro_share && !overlaps(&p->out, &p->in) &&
                      !overlaps(&p->out, p->kind == PEND_NORM ? &p->w : &p->up);
        a.ctr = cuda_ctx_of(dev)->counters;
        a.m[0] = m;
        a.n_mats = 1;
        a.blk[1] = nblk;
        a.pk = pk;
        p->mv = a;
        p->T = T;
        p->R = (int)n_rows;
        p->lin = *in;
        p->outs[0] = *out;
        p->kind = PEND_MM;
        return;
    }
    if (p->kind == PEND_MM && same_start(in, &p->lin) && p->T == T && p->mv.pk == pk && p->R == n_rows && p->mv.K == K &&
        p->mv.n_mats < 3 && !overlaps(out, &p->lin)) {
        bool clash = false;
        for (int i = 0; i < p->mv.n_mats; i++) clash |= overlaps(out, &p->outs[i]);
        if (!clash) {
            int i = p->mv.n_mats++;
            p->mv.m[i] = m;
            p->mv.blk[i + 1] = p->mv.blk[i] + nblk;
            p->outs[i] = *out;
            return;
        }
    }
    cuda_flush(dev);
    mv_args a;
    memset(&a, 0, sizeof a);
    a.stage = 1;
    a.x = (const float *)tptr(in);
    a.K = K;
    a.m[0] = m;
    a.n_mats = 1;
    a.blk[1] = nblk;
    a.pk = pk;
    p->mv = a;
    p->T = T;
    p->R = (int)n_rows;
    p->lin = *in;
    p->outs[0] = *out;
    p->kind = PEND_MM;
}

void cuda_op_rope(grt_device *dev, const grt_tensor *x, const grt_tensor *inv_freq, const grt_tensor *state,
                  grt_rows rows, int n_heads, int head_dim, int rot_dim, bool interleaved) {
    cuda_pend *p = pend_of(dev);
    if (fusing(dev) && p->kind == PEND_ROPE && p->n_rope == 1 && same_start(inv_freq, &p->rf) &&
        same_start(state, &p->rst) && rows.n_rows == p->rows.n_rows && rows.seq0 == p->rows.seq0 &&
        rows.n_seqs == p->rows.n_seqs && head_dim == p->hd && rot_dim == p->rot && interleaved == p->inter &&
        !overlaps(x, &p->rx[0])) {
        p->rx[1] = *x;
        p->rheads[1] = n_heads;
        p->n_rope = 2;
        return;
    }
    /* the held GEMV computed this rope's input (q, k, v of a layer): it
     * triggers late, so a fused decode attention after it may load the
     * cache before its wait */
    if (p->kind == PEND_MM) p->mv.late = cuda_ctx_of(dev)->attn_early;
    cuda_flush(dev);
    if (!fusing(dev)) {
        direct_rope(dev, x, inv_freq, state, rows, n_heads, head_dim, rot_dim, interleaved);
        return;
    }
    p->kind = PEND_ROPE;
    p->n_rope = 1;
    p->rx[0] = *x;
    p->rheads[0] = n_heads;
    p->rf = *inv_freq;
    p->rst = *state;
    p->rows = rows;
    p->hd = head_dim;
    p->rot = rot_dim;
    p->inter = interleaved;
}

/* The held rope(s) + kv_store as one kernel. */
static void launch_rope_kv(grt_device *dev, const cuda_pend *p) {
    int hq = p->n_rope == 2 ? p->rheads[0] : 0, hk = p->rheads[p->n_rope - 1];
    int work = p->rot / 2 * (hq + hk);
    int th = work >= 1024 ? 1024 : work < 128 ? 128 : (work + 31) / 32 * 32;
    launch(dev, k_rope_kv, dim3(p->rows.n_rows), dim3(th), 0, p->n_rope == 2 ? (float *)tptr(&p->rx[0]) : (float *)NULL,
           hq, (float *)tptr(&p->rx[p->n_rope - 1]), hk, (const float *)tptr(&p->rf),
           (const grt_step_state *)tptr(&p->rst), p->rows, p->hd, p->rot, (int)p->inter, tptr(&p->kc), tptr(&p->vc),
           (int)(p->kc.type == GRT_F16), (int)(p->vc.type == GRT_F16), (const float *)tptr(&p->kv_v), p->max_ctx);
    cuda_check_launch(dev, "rope+kv_store");
}

void cuda_op_kv_store(grt_device *dev, const grt_tensor *k_cache, const grt_tensor *v_cache, const grt_tensor *k,
                      const grt_tensor *v, const grt_tensor *state, grt_rows rows, int kv_dim, int max_ctx) {
    cuda_pend *p = pend_of(dev);
    if (p->kind == PEND_ROPE && same_start(k, &p->rx[p->n_rope - 1]) && same_start(state, &p->rst) &&
        rows.n_rows == p->rows.n_rows && rows.seq0 == p->rows.seq0 && rows.n_seqs == p->rows.n_seqs &&
        kv_dim == p->rheads[p->n_rope - 1] * p->hd && !overlaps(v, &p->rx[0]) && !overlaps(v, &p->rx[p->n_rope - 1])) {
        p->kind = PEND_ROPE_KV;
        p->kc = *k_cache;
        p->vc = *v_cache;
        p->kv_v = *v;
        p->max_ctx = max_ctx;
        return;
    }
    cuda_flush(dev);
    direct_kv_store(dev, k_cache, v_cache, k, v, state, rows, kv_dim, max_ctx);
}

/* Decode attention right after rope(q), rope(k) and kv_store of the same
 * rows: one fused kernel when the shapes fit it. */
static bool try_attn_dec(grt_device *dev, const grt_tensor *out, const grt_tensor *q, const grt_tensor *k_cache,
                         const grt_tensor *v_cache, const grt_tensor *state, grt_rows rows, int n_heads,
                         int n_kv_heads, int head_dim, int max_ctx, float scale, int window) {
    cuda_ctx *c = cuda_ctx_of(dev);
    cuda_pend *p = c->pend;
    if (!p || p->kind != PEND_ROPE_KV || !c->attn_fuse || p->n_rope != 2) return false;
    if (rows.n_rows != rows.n_seqs || rows.n_rows != p->rows.n_rows || rows.seq0 != p->rows.seq0 ||
        rows.n_seqs != p->rows.n_seqs)
        return false;
    if (!same_start(q, &p->rx[0]) || !same_start(state, &p->rst) || !same_start(k_cache, &p->kc) ||
        !same_start(v_cache, &p->vc) || max_ctx != p->max_ctx || head_dim != p->hd || n_heads != p->rheads[0] ||
        n_kv_heads != p->rheads[1])
        return false;
    if (k_cache->type != GRT_F32 || v_cache->type != GRT_F32 || head_dim % 16 != 0 || head_dim > AD_MAXHD ||
        p->rot > head_dim || n_kv_heads < 1 || n_heads % n_kv_heads != 0)
        return false;
    /* hg blocks per KV head (and split), each G of its query heads: by
     * default one query head a block (H100, same call: SmolLM2 1642 vs
     * 1606 tok/s, Llama-1B 890 vs 877, Q4_0 1488 vs 1476) */
    int hg = c->attn_hg > 0 && (n_heads / n_kv_heads) % c->attn_hg == 0 ? c->attn_hg : n_heads / n_kv_heads;
    int G = n_heads / n_kv_heads / hg;
    if (G > 8 || 1 + (int64_t)rows.n_seqs * n_kv_heads * hg > CUDA_N_COUNTERS / 4) return false;
    const grt_tensor *others[] = {&p->rx[0], &p->rx[1], &p->kv_v, &p->kc, &p->vc, &p->rst};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        if (overlaps(out, others[i])) return false;
    uintptr_t al = (uintptr_t)tptr(k_cache) | (uintptr_t)tptr(v_cache) | (uintptr_t)tptr(&p->kv_v) |
                   (uintptr_t)tptr(&p->rx[1]) | (uintptr_t)tptr(q);
    if (al % 16 != 0) return false;
    int span = window > 0 && window < max_ctx ? window : max_ctx;
    ad_args a;
    memset(&a, 0, sizeof a);
    a.out = (float *)tptr(out);
    a.q = (float *)tptr(q);
    a.k = (float *)tptr(&p->rx[1]);
    a.v = (const float *)tptr(&p->kv_v);
    a.kc = (float *)tptr(k_cache);
    a.vc = (float *)tptr(v_cache);
    a.inv_freq = (const float *)tptr(&p->rf);
    a.st = (const grt_step_state *)tptr(state);
    a.rows = rows;
    a.n_heads = n_heads;
    a.n_kv = n_kv_heads;
    a.hd = head_dim;
    a.rot = p->rot;
    a.inter = (int)p->inter;
    a.max_ctx = max_ctx;
    a.window = window;
    a.scale = scale;
    /* With fewer than 16 blocks of query heads, splits of at least twice
     * attn_keys: merging splits costs more there than walking the keys
     * (H100, one head a block: SmolLM2's 9 heads 1695 vs 1642 tok/s; the
     * 1B's 32 heads lose with it, 881 vs 890) */
    a.min_keys = c->attn_keys * (rows.n_seqs * (n_heads / G) < 16 ? 2 : 1);
    a.early = c->prev_late && c->attn_early;
    a.hg = hg;
    a.ctr = c->counters;
#ifdef AD_PROBE
    a.stop = getenv("GENRT_CUDA_ASTOP") ? atoi(getenv("GENRT_CUDA_ASTOP")) : -1;
#endif
    dim3 grid(1, (unsigned)(n_kv_heads * hg), (unsigned)rows.n_rows);
    bool done;
    switch (G) {
    case 1: done = launch_attn_dec<1>(dev, grid, a, span); break;
    case 2: done = launch_attn_dec<2>(dev, grid, a, span); break;
    case 3: done = launch_attn_dec<3>(dev, grid, a, span); break;
    case 4: done = launch_attn_dec<4>(dev, grid, a, span); break;
    case 5: done = launch_attn_dec<5>(dev, grid, a, span); break;
    case 6: done = launch_attn_dec<6>(dev, grid, a, span); break;
    case 7: done = launch_attn_dec<7>(dev, grid, a, span); break;
    default: done = launch_attn_dec<8>(dev, grid, a, span); break;
    }
    if (!done) return false;
    p->kind = PEND_NONE;
    cuda_check_launch(dev, "rope+kv_store+attention");
    return true;
}
