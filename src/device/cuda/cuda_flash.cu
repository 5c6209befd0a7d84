/* Prefill attention in the flash-attention style: one pass over the keys
 * with an online softmax, no score matrix in memory. A block takes a tile
 * of consecutive rows of one sequence and all the query heads that share
 * one KV head (GQA), so each K/V tile it stages in shared memory serves
 * BQ query vectors. SIMT f32 throughout (scores, softmax and the weighted
 * sum as the CPU computes them, up to summation order).
 *
 * Per key tile: S = Q K^T (each thread RQ query vectors x BK/16 keys),
 * scale, causal/window mask, row max over the 16 threads of a row group
 * (shuffles), rescale of the running sum and output, P to shared memory,
 * then O += P V (each thread RQ query vectors x HD/16 dims). Shared memory
 * is read in float4 pieces (two bank wavefronts per half-warp).
 *
 * Where the row tiles do not fill the GPU (short prompts, few KV heads),
 * the key range of each tile is split over blocks, as flash-decoding does,
 * and a second kernel merges the partial softmaxes in split order.
 * GENRT_CUDA_FLASH=0 routes prefill back to the split kernels of
 * cuda_ops.cu; GENRT_CUDA_FA_SPLIT=0 turns the key split off. */
#include <cuda_fp16.h>
#include <math.h>

#include "device/cuda/cuda_internal.h"

enum { FA_THREADS = 256 };

/* 4 consecutive cache elements as floats (16-byte aligned for f32, 8 for f16). */
static __device__ __forceinline__ float4 fa_ld4(const float *p) { return *(const float4 *)p; }
static __device__ __forceinline__ float4 fa_ld4(const __half *p) {
    uint2 u = *(const uint2 *)p;
    float2 a = __half22float2(*(const __half2 *)&u.x), b = __half22float2(*(const __half2 *)&u.y);
    return make_float4(a.x, a.y, b.x, b.y);
}

/* Shared memory, rows padded by 4 floats: 16-byte rows, and a row stride of
 * 4 banks, so the 16 threads of a row group reading 16 rows (K) or 16
 * consecutive float4 (V, P) hit distinct banks. */
template <int HD> struct fa_shape {
    static constexpr int BK = HD <= 64 ? 64 : 32; /* keys per tile */
    static constexpr int VW = HD >= 64 ? 4 : 2;   /* dims per V load */
};

template <int HD, int BQ>
static constexpr size_t fa_smem() {
    return ((size_t)BQ * (HD + 4) + 2 * (size_t)fa_shape<HD>::BK * (HD + 4) + (size_t)BQ * (fa_shape<HD>::BK + 4)) * 4;
}

static __device__ __forceinline__ void fma4(float &s, float4 a, float4 b) {
    s += a.x * b.x;
    s += a.y * b.y;
    s += a.z * b.z;
    s += a.w * b.w;
}

/* grid: (row tiles of a sequence, n_kv, n_seqs * n_splits); rpb rows per
 * tile, G query heads per KV head, rpb * G <= BQ query vectors per block.
 * head_dim % 4 == 0. With n_splits > 1 each block takes one share of its
 * tile's key range and writes (max, sum, unnormalized output) to part
 * [split][row][head][2 + head_dim]; k_flash_merge finishes. */
template <typename KT, int HD, int BQ>
static __global__ void __launch_bounds__(FA_THREADS)
    k_flash(float *out, const float *q, const KT *kc, const KT *vc, const grt_step_state *st, grt_rows rows,
            int n_heads, int n_kv, int hd, int max_ctx, float scale, int window, int G, int rpb, int n_splits,
            float *part) {
    constexpr int BK = fa_shape<HD>::BK, VW = fa_shape<HD>::VW, RQ = BQ / 16, NJ = BK / 16, NV = HD / (16 * VW);
    constexpr int RP = HD + 4, PP = BK + 4;
    extern __shared__ __align__(16) float fsm[];
    float *Qs = fsm;          /* [BQ][RP] */
    float *Ks = Qs + BQ * RP; /* [BK][RP] */
    float *Vs = Ks + BK * RP; /* [BK][RP] */
    float *Ps = Vs + BK * RP; /* [BQ][PP] */
    pdl_start();
    int tid = threadIdx.x, ty = tid >> 4, tx = tid & 15;
    int kvh = blockIdx.y, z = blockIdx.z / n_splits, split = blockIdx.z % n_splits;
    int tps = rows.n_rows / rows.n_seqs, seq = rows.seq0 + z;
    int t0 = blockIdx.x * rpb; /* first row of the tile within its sequence */
    int nr = tps - t0 < rpb ? tps - t0 : rpb;
    int pos0 = st[seq].pos + t0;
    int nq = nr * G;
    int kv_dim = n_kv * hd, hd4 = hd / 4;

    /* query vector qi = (row t0 + qi / G, head kvh * G + qi % G) */
    for (int e = tid; e < BQ * (HD / 4); e += FA_THREADS) {
        int qi = e / (HD / 4), d4 = e % (HD / 4);
        float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (qi < nq && d4 < hd4) {
            int r = z * tps + t0 + qi / G, h = kvh * G + qi % G;
            v = *(const float4 *)(q + ((size_t)r * n_heads + h) * hd + d4 * 4);
        }
        *(float4 *)(Qs + qi * RP + d4 * 4) = v;
    }
    /* this thread: query vectors ty * RQ + i, keys tx + 16 j of each tile */
    int lo_q[RQ], hi_q[RQ];
#pragma unroll
    for (int i = 0; i < RQ; i++) {
        int qi = ty * RQ + i;
        int p = pos0 + (qi < nq ? qi / G : 0);
        hi_q[i] = qi < nq ? (p < max_ctx - 1 ? p : max_ctx - 1) : -1;
        lo_q[i] = window > 0 && p - window + 1 > 0 ? p - window + 1 : 0;
    }
    int p1 = pos0 + nr - 1;
    int hi_b = p1 < max_ctx - 1 ? p1 : max_ctx - 1;
    int lo_b = window > 0 && pos0 - window + 1 > 0 ? pos0 - window + 1 : 0;
    if (n_splits > 1) { /* shares of whole key tiles */
        int share = ((hi_b - lo_b + n_splits) / n_splits + BK - 1) / BK * BK;
        lo_b += split * share;
        if (hi_b > lo_b + share - 1) hi_b = lo_b + share - 1;
    }

    float mx[RQ], l[RQ], o[RQ][NV][VW];
#pragma unroll
    for (int i = 0; i < RQ; i++) {
        mx[i] = -INFINITY;
        l[i] = 0.0f;
#pragma unroll
        for (int j = 0; j < NV; j++)
#pragma unroll
            for (int c = 0; c < VW; c++) o[i][j][c] = 0.0f;
    }
    size_t base = (size_t)seq * max_ctx * kv_dim + (size_t)kvh * hd;
    for (int j0 = lo_b; j0 <= hi_b; j0 += BK) {
        __syncthreads(); /* previous tile's Ks, Vs, Ps are consumed */
        for (int e = tid; e < BK * (HD / 4); e += FA_THREADS) {
            int j = e / (HD / 4), d4 = e % (HD / 4);
            float4 kv = make_float4(0.0f, 0.0f, 0.0f, 0.0f), vv = kv;
            if (j0 + j <= hi_b && d4 < hd4) {
                size_t at = base + (size_t)(j0 + j) * kv_dim + d4 * 4;
                kv = fa_ld4(kc + at);
                vv = fa_ld4(vc + at);
            }
            *(float4 *)(Ks + j * RP + d4 * 4) = kv;
            *(float4 *)(Vs + j * RP + d4 * 4) = vv;
        }
        __syncthreads();
        float s[RQ][NJ];
#pragma unroll
        for (int i = 0; i < RQ; i++)
#pragma unroll
            for (int j = 0; j < NJ; j++) s[i][j] = 0.0f;
#pragma unroll 2
        for (int dd = 0; dd < HD; dd += 4) {
            float4 qv[RQ], kv[NJ];
#pragma unroll
            for (int i = 0; i < RQ; i++) qv[i] = *(const float4 *)(Qs + (ty * RQ + i) * RP + dd);
#pragma unroll
            for (int j = 0; j < NJ; j++) kv[j] = *(const float4 *)(Ks + (tx + 16 * j) * RP + dd);
#pragma unroll
            for (int i = 0; i < RQ; i++)
#pragma unroll
                for (int j = 0; j < NJ; j++) fma4(s[i][j], qv[i], kv[j]);
        }
#pragma unroll
        for (int i = 0; i < RQ; i++) {
            float tm = -INFINITY;
#pragma unroll
            for (int j = 0; j < NJ; j++) {
                int key = j0 + tx + 16 * j;
                s[i][j] = key >= lo_q[i] && key <= hi_q[i] && key <= hi_b ? s[i][j] * scale : -INFINITY;
                tm = fmaxf(tm, s[i][j]);
            }
#pragma unroll
            for (int off = 8; off > 0; off >>= 1) tm = fmaxf(tm, __shfl_xor_sync(0xffffffffu, tm, off));
            float mn = fmaxf(mx[i], tm);
            /* no key yet for this query: keep the state empty */
            float corr = mn == -INFINITY ? 1.0f : expf(mx[i] - mn);
            float ps = 0.0f;
#pragma unroll
            for (int j = 0; j < NJ; j++) {
                float p = s[i][j] == -INFINITY ? 0.0f : expf(s[i][j] - mn);
                ps += p;
                Ps[(ty * RQ + i) * PP + tx + 16 * j] = p;
            }
            mx[i] = mn;
            l[i] = l[i] * corr + ps; /* this thread's share of the keys */
#pragma unroll
            for (int j = 0; j < NV; j++)
#pragma unroll
                for (int c = 0; c < VW; c++) o[i][j][c] *= corr;
        }
        __syncthreads();
#pragma unroll 2
        for (int k = 0; k < BK; k += 4) {
            float4 pv[RQ];
#pragma unroll
            for (int i = 0; i < RQ; i++) pv[i] = *(const float4 *)(Ps + (ty * RQ + i) * PP + k);
#pragma unroll
            for (int kk = 0; kk < 4; kk++) {
#pragma unroll
                for (int j = 0; j < NV; j++) {
                    const float *vp = Vs + (k + kk) * RP + tx * VW + 16 * VW * j;
                    float vv[VW];
                    if constexpr (VW == 4) {
                        float4 t = *(const float4 *)vp;
                        vv[0] = t.x, vv[1] = t.y, vv[2] = t.z, vv[3] = t.w;
                    } else {
                        float2 t = *(const float2 *)vp;
                        vv[0] = t.x, vv[1] = t.y;
                    }
#pragma unroll
                    for (int i = 0; i < RQ; i++) {
                        float p = kk == 0 ? pv[i].x : kk == 1 ? pv[i].y : kk == 2 ? pv[i].z : pv[i].w;
#pragma unroll
                        for (int c = 0; c < VW; c++) o[i][j][c] += p * vv[c];
                    }
                }
            }
        }
    }
#pragma unroll
    for (int i = 0; i < RQ; i++) {
        float li = l[i];
#pragma unroll
        for (int off = 8; off > 0; off >>= 1) li += __shfl_xor_sync(0xffffffffu, li, off);
        int qi = ty * RQ + i;
        if (qi >= nq) continue;
        int r = z * tps + t0 + qi / G, h = kvh * G + qi % G;
        if (n_splits > 1) {
            float *pp = part + (((size_t)split * rows.n_rows + r) * n_heads + h) * (hd + 2);
            if (tx == 0) pp[0] = mx[i], pp[1] = li;
#pragma unroll
            for (int j = 0; j < NV; j++)
#pragma unroll
                for (int c = 0; c < VW; c++) {
                    int dd = tx * VW + 16 * VW * j + c;
                    if (dd < hd) pp[2 + dd] = o[i][j][c];
                }
            continue;
        }
        float *orow = out + ((size_t)r * n_heads + h) * hd;
#pragma unroll
        for (int j = 0; j < NV; j++)
#pragma unroll
            for (int c = 0; c < VW; c++) {
                int dd = tx * VW + 16 * VW * j + c;
                if (dd < hd) orow[dd] = li > 0 ? o[i][j][c] / li : 0.0f;
            }
    }
}

/* out[r, h] = sum_s o_s e^(m_s - M) / sum_s l_s e^(m_s - M), splits in order. */
static __global__ void k_flash_merge(float *out, const float *part, int n_rows, int n_heads, int hd, int n_splits) {
    pdl_start();
    int h = blockIdx.x, r = blockIdx.y;
    size_t stride = (size_t)n_rows * n_heads * (hd + 2);
    const float *p = part + ((size_t)r * n_heads + h) * (hd + 2);
    float M = -INFINITY, L = 0.0f;
    for (int s = 0; s < n_splits; s++) M = fmaxf(M, p[s * stride]);
    for (int s = 0; s < n_splits; s++) {
        float ms = p[s * stride];
        if (ms != -INFINITY) L += p[s * stride + 1] * expf(ms - M);
    }
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float o = 0.0f;
        for (int s = 0; s < n_splits; s++) {
            float ms = p[s * stride];
            if (ms != -INFINITY) o += p[s * stride + 2 + d] * expf(ms - M);
        }
        out[((size_t)r * n_heads + h) * hd + d] = L > 0 ? o / L : 0.0f;
    }
}

struct fa_args {
    float *out;
    const float *q;
    const void *kc, *vc;
    const grt_step_state *st;
    grt_rows rows;
    int n_heads, n_kv, hd, max_ctx, window;
    float scale;
};

template <typename KT, int HD, int BQ>
static void launch_flash(grt_device *dev, const fa_args &a) {
    auto k = k_flash<KT, HD, BQ>;
    constexpr size_t smem = fa_smem<HD, BQ>();
    static int occ = 0; /* resident blocks per SM */
    if (!occ) {
        cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
        if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, k, FA_THREADS, smem) != cudaSuccess || occ < 1) {
            cudaGetLastError();
            occ = 1;
        }
    }
    cuda_ctx *c = cuda_ctx_of(dev);
    int G = a.n_heads / a.n_kv, rpb = BQ / G, tps = a.rows.n_rows / a.rows.n_seqs;
    int64_t blocks = (int64_t)((tps + rpb - 1) / rpb) * a.n_kv * a.rows.n_seqs;
    /* Split the keys so that the blocks come near to filling the resident
     * slots once (rounded: a few blocks short of a wave is better than two
     * waves); shares of at least 2 tiles of the longest span. */
    int span = a.window > 0 && a.window < a.max_ctx ? a.window + rpb : a.max_ctx;
    int64_t cap = (int64_t)occ * c->n_sm;
    int64_t n_splits = c->flash_split ? (cap + blocks / 2) / blocks : 1;
    int64_t by_span = span / (2 * fa_shape<HD>::BK);
    if (n_splits > by_span) n_splits = by_span;
    if (n_splits > 16) n_splits = 16;
    if (n_splits < 1) n_splits = 1;
    float *part = NULL;
    if (n_splits > 1) {
        size_t need = (size_t)n_splits * a.rows.n_rows * a.n_heads * (a.hd + 2) * 4;
        if (dev->capturing && need > c->scratch_size) n_splits = 1;
        else if (!(part = (float *)cuda_scratch(dev, need))) return; /* sticky error set */
    }
    dim3 grid((unsigned)((tps + rpb - 1) / rpb), (unsigned)a.n_kv, (unsigned)(a.rows.n_seqs * n_splits));
    launch(dev, k, grid, dim3(FA_THREADS), smem, a.out, a.q, (const KT *)a.kc, (const KT *)a.vc, a.st, a.rows,
           a.n_heads, a.n_kv, a.hd, a.max_ctx, a.scale, a.window, G, rpb, (int)n_splits, part);
    if (n_splits > 1)
        launch(dev, k_flash_merge, dim3((unsigned)a.n_heads, (unsigned)a.rows.n_rows), dim3(a.hd <= 64 ? 64 : 128),
               0, a.out, (const float *)part, a.rows.n_rows, a.n_heads, a.hd, (int)n_splits);
}

template <typename KT, int HD>
static void flash_bq(grt_device *dev, const fa_args &a) {
    /* 64 query vectors per block, or 32 where 64 would leave SMs idle */
    int G = a.n_heads / a.n_kv, tps = a.rows.n_rows / a.rows.n_seqs;
    int64_t blocks64 = (int64_t)((tps + 64 / G - 1) / (64 / G)) * a.n_kv * a.rows.n_seqs;
    if (G <= 32 && blocks64 < cuda_ctx_of(dev)->n_sm)
        launch_flash<KT, HD, 32>(dev, a);
    else
        launch_flash<KT, HD, 64>(dev, a);
}

template <typename KT>
static void flash_hd(grt_device *dev, const fa_args &a) {
    if (a.hd <= 32) flash_bq<KT, 32>(dev, a);
    else if (a.hd <= 64) flash_bq<KT, 64>(dev, a);
    else if (a.hd <= 128) flash_bq<KT, 128>(dev, a);
    else flash_bq<KT, 256>(dev, a);
}

bool cuda_flash_attention(grt_device *dev, const grt_tensor *out, const grt_tensor *q, const grt_tensor *k_cache,
                          const grt_tensor *v_cache, const grt_tensor *state, grt_rows rows, int n_heads,
                          int n_kv_heads, int head_dim, int max_ctx, float scale, int window) {
    /* decode rows (one per sequence) stay on the split kernels */
    if (!cuda_ctx_of(dev)->flash || rows.n_seqs < 1 || rows.n_rows <= rows.n_seqs || rows.n_rows % rows.n_seqs != 0)
        return false;
    /* whole float4 (f32) or 4-half (f16) pieces of q and cache rows */
    uintptr_t al = (uintptr_t)tptr(q) | (uintptr_t)tptr(k_cache) | (uintptr_t)tptr(v_cache);
    if (head_dim % 4 != 0 || al % 16 != 0) return false;
    if (head_dim < 1 || head_dim > 256 || n_kv_heads < 1 || n_heads % n_kv_heads != 0 ||
        n_heads / n_kv_heads > 64 || k_cache->type != v_cache->type)
        return false;
    fa_args a = {(float *)tptr(out), (const float *)tptr(q), tptr(k_cache), tptr(v_cache),
                 (const grt_step_state *)tptr(state), rows, n_heads, n_kv_heads, head_dim, max_ctx, window, scale};
    if (k_cache->type == GRT_F16) flash_hd<__half>(dev, a);
    else if (k_cache->type == GRT_F32) flash_hd<float>(dev, a);
    else return false;
    cuda_check_launch(dev, "attention (flash prefill)");
    return true;
}
