/* The sampler on the GPU, with the CPU backend's semantics (cpu_sample.c):
 * repetition penalty over the device token history, temperature, top-k,
 * top-p, min-p, then one draw with philox(seed, seq, rng_ctr).
 *
 * Greedy: a multi-block argmax (ties to the lowest id) and a finishing
 * kernel. Sampling: one block per sequence. Every filter keeps a prefix of
 * the order (logit descending, id ascending), so each is a "walk": the first
 * token in order whose inclusive cumulative weight reaches a threshold. A
 * walk refines a radix histogram of an order-preserving key (12 + 12 + 8
 * bits), then resolves exact ties by id. Weights expf(x - max) are summed as
 * 40-bit fixed point in 64-bit integers, so the sums (and the draw) do not
 * depend on the order atomics land in: replay equals eager bit for bit. */
#define GRT_HD static inline __host__ __device__
#include "philox.h"

#include "device/cuda/cuda_internal.h"

typedef unsigned long long u64;

struct samp_args {
    float *logits;       /* [n_seqs, V] */
    int V;
    grt_step_state *st;
    int seq0;
    int32_t *hist;       /* [n_total, max_ctx] */
    int max_ctx;
    int32_t *next;
    int32_t *ring;
    int ring_len;
    float temp, top_p, min_p, penalty;
    int top_k, last_n;
    u64 seed;
    int n_eos;
    int32_t eos[8];
    uint32_t *bits;      /* [n_seqs, bw] penalty "seen" bitmaps */
    int bw;
    float *part_v;       /* [n_seqs, nb] greedy partials */
    int32_t *part_i;
    int nb;
};

static __device__ void emit(const samp_args &a, int s, int32_t tok) {
    grt_step_state *ss = &a.st[s];
    int pos = ss->pos;
    if (pos >= 0 && pos < a.max_ctx) a.hist[(size_t)s * a.max_ctx + pos] = tok;
    a.next[s] = tok;
    a.ring[(size_t)s * a.ring_len + (uint32_t)ss->n_new % (uint32_t)a.ring_len] = tok;
    ss->n_new++;
    ss->rng_ctr++;
    for (int i = 0; i < a.n_eos; i++)
        if (a.eos[i] == tok) ss->done = 1;
    __threadfence_system(); /* the ring is host memory */
}

/* ---------------------------------------------------------------- penalty */

static __global__ void k_penalty(samp_args a) {
    pdl_start();
    int s = a.seq0 + blockIdx.x;
    float *x = a.logits + (size_t)blockIdx.x * a.V;
    uint32_t *bits = a.bits + (size_t)blockIdx.x * a.bw;
    for (int i = threadIdx.x; i < a.bw; i += blockDim.x) bits[i] = 0;
    __syncthreads();
    int pos = a.st[s].pos;
    int hi = pos < a.max_ctx ? pos : a.max_ctx;
    int lo = a.last_n < 0 ? 0 : pos - a.last_n;
    if (lo < 0) lo = 0;
    const int32_t *h = a.hist + (size_t)s * a.max_ctx;
    for (int j = lo + threadIdx.x; j < hi; j += blockDim.x) {
        int32_t t = h[j];
        if (t < 0 || t >= a.V) continue;
        uint32_t bit = 1u << (t & 31);
        /* The thread that sets the bit applies the penalty: once per token. */
        if (atomicOr(&bits[t >> 5], bit) & bit) continue;
        float v = x[t];
        x[t] = v > 0 ? v / a.penalty : v * a.penalty;
    }
}

/* ---------------------------------------------------------------- greedy */

static __device__ __forceinline__ bool better(float v, int32_t i, float bv, int32_t bi) {
    return v > bv || (v == bv && i < bi);
}

enum { AM_THREADS = 256 };

static __global__ void k_argmax_part(samp_args a) {
    pdl_start();
    __shared__ float sv[AM_THREADS / 32];
    __shared__ int32_t si[AM_THREADS / 32];
    const float *x = a.logits + (size_t)blockIdx.y * a.V;
    int per = (a.V + a.nb - 1) / a.nb;
    int i0 = blockIdx.x * per, i1 = min(a.V, i0 + per);
    /* NaN never wins; with no value above -inf the answer is id 0, as the
     * CPU's strict scan from (-inf, 0) gives. */
    float bv = -INFINITY;
    int32_t bi = 0;
    for (int i = i0 + threadIdx.x; i < i1; i += blockDim.x) {
        float v = x[i];
        if (v > bv) bv = v, bi = i;
    }
    if (bv == -INFINITY) bi = 0;
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        int32_t oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (better(ov, oi, bv, bi)) bv = ov, bi = oi;
    }
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    if (lane == 0) sv[w] = bv, si[w] = bi;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int k = 1; k < AM_THREADS / 32; k++)
            if (better(sv[k], si[k], bv, bi)) bv = sv[k], bi = si[k];
        a.part_v[(size_t)blockIdx.y * a.nb + blockIdx.x] = bv;
        a.part_i[(size_t)blockIdx.y * a.nb + blockIdx.x] = bi;
    }
}

static __global__ void k_argmax_final(samp_args a) {
    pdl_start();
    int sl = blockIdx.x, lane = threadIdx.x;
    float bv = -INFINITY;
    int32_t bi = 0;
    for (int k = lane; k < a.nb; k += 32) {
        float v = a.part_v[(size_t)sl * a.nb + k];
        int32_t i = a.part_i[(size_t)sl * a.nb + k];
        if (better(v, i, bv, bi)) bv = v, bi = i;
    }
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        int32_t oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (better(ov, oi, bv, bi)) bv = ov, bi = oi;
    }
    if (lane == 0) emit(a, a.seq0 + sl, bi);
}

/* ---------------------------------------------------------------- sampling */

enum { SB = 1024, NBIN = 4096 };

static __device__ __forceinline__ uint32_t order_key(float x) {
    uint32_t u = __float_as_uint(x);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
static __device__ __forceinline__ float key_float(uint32_t k) {
    return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

/* Candidates: tokens at or before (cx, cid) in order, with weight >= min_p. */
struct cut {
    float cx;
    int32_t cid;
    float min_p;
};

static __device__ __forceinline__ bool in_cut(const cut &c, float x, int32_t id, float e) {
    if (!(x > c.cx || (x == c.cx && id <= c.cid))) return false;
    return c.min_p <= 0 || e >= c.min_p;
}

static __device__ __forceinline__ u64 wfix(float e) { return (u64)__float2ull_rn(e * 1099511627776.0f); }

struct samp_smem {
    u64 hw[NBIN];      /* weight (or count) per bin */
    uint32_t hc[NBIN]; /* count per bin */
    u64 scan[SB / 32];
    u64 total;
    int best;
    u64 before;
    float red[SB / 32];
};

/* Inclusive-exclusive scan of one u64 per thread over the block. */
static __device__ u64 block_excl_scan(samp_smem &S, u64 v, u64 *total) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    u64 inc = v;
    for (int o = 1; o < 32; o <<= 1) {
        u64 t = __shfl_up_sync(0xffffffffu, inc, o);
        if (lane >= o) inc += t;
    }
    if (lane == 31) S.scan[w] = inc;
    __syncthreads();
    if (w == 0) {
        u64 t = lane < SB / 32 ? S.scan[lane] : 0, ti = t;
        for (int o = 1; o < 32; o <<= 1) {
            u64 y = __shfl_up_sync(0xffffffffu, ti, o);
            if (lane >= o) ti += y;
        }
        S.scan[lane] = ti - t; /* exclusive prefix of warp totals */
        if (lane == 31) S.total = ti;
    }
    __syncthreads();
    u64 r = S.scan[w] + inc - v;
    if (total) *total = S.total;
    __syncthreads();
    return r;
}

/* Histogram of the candidates whose key matches prefix under pmask, by
 * (key >> shift) & (nbins - 1). counting: every token weighs 1 and all are
 * candidates. */
static __device__ void hist_pass(samp_smem &S, const float *x, int V, float xmax, const cut &c, bool counting,
                                 uint32_t prefix, uint32_t pmask, int shift, int nbins) {
    for (int i = threadIdx.x; i < nbins; i += SB) S.hw[i] = 0, S.hc[i] = 0;
    __syncthreads();
    for (int i = threadIdx.x; i < V; i += SB) {
        float v = x[i];
        uint32_t key = order_key(v);
        if ((key & pmask) != prefix) continue;
        u64 w = 1;
        if (!counting) {
            float e = expf(v - xmax);
            if (!in_cut(c, v, i, e)) continue;
            w = wfix(e);
        }
        int b = (key >> shift) & (nbins - 1);
        atomicAdd(&S.hw[b], w);
        atomicAdd(&S.hc[b], 1u);
    }
    __syncthreads();
}

/* The first bin from the top (order) that is non-empty and whose inclusive
 * cumulative weight reaches th; *before = weight of the bins above it.
 * Rounding fallback: the last non-empty bin. */
static __device__ int find_bin(samp_smem &S, int nbins, u64 th, u64 *before) {
    int per = nbins / SB > 0 ? nbins / SB : 1;
    int r0 = threadIdx.x * per;
    u64 mine = 0;
    for (int k = 0; k < per; k++) {
        int rk = r0 + k;
        if (rk < nbins) mine += S.hw[nbins - 1 - rk];
    }
    if (threadIdx.x == 0) S.best = 0x7fffffff;
    u64 total;
    u64 cum = block_excl_scan(S, mine, &total);
    for (int k = 0; k < per; k++) {
        int rk = r0 + k;
        if (rk >= nbins) break;
        int b = nbins - 1 - rk;
        if (S.hc[b] && cum + S.hw[b] >= th) {
            atomicMin(&S.best, rk);
            break;
        }
        cum += S.hw[b];
    }
    __syncthreads();
    int rank = S.best;
    __syncthreads();
    if (rank == 0x7fffffff) { /* fallback */
        if (threadIdx.x == 0) {
            int b = 0;
            while (b < nbins - 1 && !S.hc[b]) b++;
            S.best = nbins - 1 - b;
        }
        __syncthreads();
        rank = S.best;
        __syncthreads();
    }
    int b = nbins - 1 - rank;
    /* weight above b: recompute from the scan inputs */
    u64 above = 0;
    for (int k = 0; k < per; k++) {
        int rk = r0 + k;
        if (rk < rank && rk < nbins) above += S.hw[nbins - 1 - rk];
    }
    u64 tot2;
    u64 dummy = block_excl_scan(S, above, &tot2);
    (void)dummy;
    *before = tot2;
    return b;
}

/* The j-th (0-based, by id) candidate whose key equals K. */
static __device__ int32_t nth_tied(samp_smem &S, const float *x, int V, float xmax, const cut &c, bool counting,
                                   uint32_t K, u64 j) {
    int chunk = (V + SB - 1) / SB;
    int i0 = threadIdx.x * chunk, i1 = min(V, i0 + chunk);
    u64 cnt = 0;
    for (int i = i0; i < i1; i++) {
        float v = x[i];
        if (order_key(v) != K) continue;
        if (!counting && !in_cut(c, v, i, expf(v - xmax))) continue;
        cnt++;
    }
    if (threadIdx.x == 0) S.best = -1;
    u64 ex = block_excl_scan(S, cnt, NULL);
    if (j >= ex && j < ex + cnt) {
        u64 n = ex;
        for (int i = i0; i < i1; i++) {
            float v = x[i];
            if (order_key(v) != K) continue;
            if (!counting && !in_cut(c, v, i, expf(v - xmax))) continue;
            if (n == j) {
                S.best = i;
                break;
            }
            n++;
        }
    }
    __syncthreads();
    int32_t r = S.best;
    __syncthreads();
    return r;
}

/* Radix refinement to the exact key where the cumulative weight (counting:
 * the count) reaches th. Returns the key; *rest = th minus the weight of all
 * keys above it; *wk, *ck = weight and count of the tokens with that key. */
static __device__ uint32_t refine(samp_smem &S, const float *x, int V, float xmax, const cut &c, bool counting, u64 th,
                                  u64 *rest, u64 *wk, u64 *ck) {
    const int shifts[3] = {20, 8, 0}, bits[3] = {12, 12, 8};
    uint32_t prefix = 0, pmask = 0;
    for (int lv = 0; lv < 3; lv++) {
        int nbins = 1 << bits[lv];
        hist_pass(S, x, V, xmax, c, counting, prefix, pmask, shifts[lv], nbins);
        u64 before;
        int b = find_bin(S, nbins, th, &before);
        th = th > before ? th - before : 1;
        prefix |= (uint32_t)b << shifts[lv];
        pmask |= (uint32_t)(nbins - 1) << shifts[lv];
        if (lv == 2) {
            *wk = S.hw[b];
            *ck = S.hc[b];
        }
        __syncthreads();
    }
    *rest = th;
    return prefix;
}

/* The first candidate in order whose inclusive cumulative weight exceeds
 * (strict) or reaches frac * total. */
static __device__ int32_t walk(samp_smem &S, const float *x, int V, float xmax, const cut &c, double frac, bool strict) {
    /* total weight of the candidates */
    u64 mine = 0;
    for (int i = threadIdx.x; i < V; i += SB) {
        float v = x[i], e = expf(v - xmax);
        if (in_cut(c, v, i, e)) mine += wfix(e);
    }
    u64 total;
    block_excl_scan(S, mine, &total);
    double T = frac * (double)total;
    u64 th = strict ? (u64)floor(T) + 1 : (u64)ceil(T);
    if (th < 1) th = 1;
    u64 rest, wk, ck;
    uint32_t K = refine(S, x, V, xmax, c, false, th, &rest, &wk, &ck);
    u64 per = ck ? wk / ck : 0;
    u64 j = (per == 0) ? (ck ? ck - 1 : 0) : (rest + per - 1) / per - 1;
    if (ck && j > ck - 1) j = ck - 1;
    return nth_tied(S, x, V, xmax, c, false, K, j);
}

static __global__ void __launch_bounds__(SB) k_sample(samp_args a) {
    pdl_start();
    extern __shared__ u64 smem_raw[];
    samp_smem &S = *(samp_smem *)smem_raw;
    int sl = blockIdx.x, s = a.seq0 + sl;
    float *x = a.logits + (size_t)sl * a.V;
    int V = a.V;
    float lmax = -INFINITY;
    for (int i = threadIdx.x; i < V; i += SB) {
        float v = x[i] / a.temp;
        if (v != v) v = -INFINITY;
        if (v > 3.4e38f) v = 3.4e38f;
        x[i] = v;
        lmax = fmaxf(lmax, v);
    }
    for (int o = 16; o > 0; o >>= 1) lmax = fmaxf(lmax, __shfl_xor_sync(0xffffffffu, lmax, o));
    if ((threadIdx.x & 31) == 0) S.red[threadIdx.x >> 5] = lmax;
    __syncthreads();
    float xmax = -INFINITY;
    for (int i = 0; i < SB / 32; i++) xmax = fmaxf(xmax, S.red[i]);
    __syncthreads();
    float u = grt_philox_uniform(a.seed, (uint32_t)s, a.st[s].rng_ctr);
    cut c = {-INFINITY, V, 0.0f};
    if (a.top_k > 0 && a.top_k < V) {
        u64 rest, wk, ck;
        uint32_t K = refine(S, x, V, xmax, c, true, (u64)a.top_k, &rest, &wk, &ck);
        c.cx = key_float(K); /* every token >= the k-th largest value */
        c.cid = V;
    }
    if (a.top_p < 1.0f) {
        int32_t last = walk(S, x, V, xmax, c, a.top_p, false);
        c.cx = x[last];
        c.cid = last;
    }
    c.min_p = a.min_p;
    int32_t tok = walk(S, x, V, xmax, c, u, true);
    if (threadIdx.x == 0) emit(a, s, tok < 0 ? 0 : tok);
}

void cuda_op_sample(grt_device *dev, const grt_tensor *logits, int n_vocab, const grt_sample_cfg *cfg,
                    const grt_tensor *state, int seq0, int n_seqs, const grt_tensor *history, int max_ctx,
                    const grt_tensor *next_ids, const grt_tensor *ring, int ring_len) {
    cuda_ctx *c = cuda_ctx_of(dev);
    cuda_flush(dev);
    samp_args a;
    memset(&a, 0, sizeof a);
    a.logits = (float *)tptr(logits);
    a.V = n_vocab;
    a.st = (grt_step_state *)tptr(state);
    a.seq0 = seq0;
    a.hist = (int32_t *)tptr(history);
    a.max_ctx = max_ctx;
    a.next = (int32_t *)tptr(next_ids);
    a.ring = (int32_t *)tptr(ring);
    a.ring_len = ring_len;
    a.temp = cfg->temperature;
    a.top_k = cfg->top_k;
    a.top_p = cfg->top_p;
    a.min_p = cfg->min_p;
    a.penalty = cfg->repeat_penalty;
    a.last_n = cfg->repeat_last_n;
    a.seed = cfg->seed;
    a.n_eos = cfg->n_eos;
    for (int i = 0; i < cfg->n_eos && i < 8; i++) a.eos[i] = cfg->eos[i];
    a.bw = (n_vocab + 31) / 32;
    a.nb = (n_vocab + 2047) / 2048;
    if (a.nb > 128) a.nb = 128;
    size_t bits_bytes = (((size_t)n_seqs * a.bw * 4) + 255) & ~(size_t)255;
    size_t part_bytes = (size_t)n_seqs * a.nb * 8;
    uint8_t *scr = (uint8_t *)cuda_scratch(dev, bits_bytes + part_bytes);
    if (!scr) return;
    a.bits = (uint32_t *)scr;
    a.part_v = (float *)(scr + bits_bytes);
    a.part_i = (int32_t *)(scr + bits_bytes + (size_t)n_seqs * a.nb * 4);
    if (cfg->repeat_penalty != 1.0f) launch(dev, k_penalty, dim3(n_seqs), dim3(1024), 0, a);
    if (cfg->temperature == 0) {
        launch(dev, k_argmax_part, dim3(dim3((unsigned)a.nb, (unsigned)n_seqs)), dim3(AM_THREADS), 0, a);
        launch(dev, k_argmax_final, dim3(n_seqs), dim3(32), 0, a);
    } else {
        static bool attr_set = false;
        if (!attr_set) {
            cudaFuncSetAttribute(k_sample, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sizeof(samp_smem));
            attr_set = true;
        }
        launch(dev, k_sample, dim3(n_seqs), dim3(SB), sizeof(samp_smem), a);
    }
    cuda_check_launch(dev, "sample");
}
