/* Prefill products on the tensor cores: out[M, N] (+)= x[M, K] . w[N, K]^T
 * (+ bias) for F16 and BF16 weights, and for Q8_0 / Q4_0 weights in the
 * packed layout (cuda_pack) or in GGUF layout, with mma.sync m16n8k16
 * (16-bit inputs, f32 accumulation), ldmatrix, and a 3-stage cp.async
 * pipeline into padded shared memory (GGUF blocks, 2-byte aligned, as the
 * 4-byte words that hold them).
 *
 * Numerics. The CPU multiplies f32 activations by the weights in f32. Here
 * each activation is split into two values of the weight's type,
 * x = hi + lo (lo = x - hi, rounded), and each product is w.hi + w.lo: the
 * weights are exact in their type and the products of two 16-bit values are
 * exact in f32, so the error left is the rounding of lo (2^-17 of |x| for
 * bf16, 2^-22 for f16) plus f32 accumulation, close to the CPU's.
 * F16 has a narrow range: each row of x is first scaled by a power of two
 * that brings its largest |x| to [2^14, 2^15) (exact, undone in the
 * epilogue), so hi never overflows and lo stays normal for the elements that
 * matter (anything smaller than 2^-24 of the row's largest term is lost in
 * f32 accumulation anyway). BF16 has f32's range and needs no scale.
 * Quantized weights: a tile of BK = 32 is one block of each weight row,
 * d * q. The quants q (|q| <= 128) are exact in f16, so each block's
 * products q . (hi + lo) are summed on the tensor cores as for F16 weights
 * (x scaled the same way), and d multiplies that block sum in f32 before it
 * joins the row's total: the result is as close to the CPU's as for 16-bit
 * weights, not rounded through a dequantized f16 copy of w.
 *
 * Tiles: 128 x 128 per block of 8 warps (64 x 32 each) where the grid fills
 * the GPU, else 64 x 64 per block of 4 warps; where even that leaves SMs
 * idle (a few hundred rows times a narrow matrix), K is split over blocks
 * and a second kernel sums the partials in split order, so results do not
 * depend on timing. GENRT_CUDA_MMA=0 routes back to the SIMT kernel;
 * GENRT_CUDA_MMA_SLOTS=0 turns the split off. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "device/cuda/cuda_internal.h"

enum { MMA_BK = 32, MMA_LDS = MMA_BK + 8 /* padded smem row: 80 bytes, ldmatrix conflict-free */,
       MMA_STAGES = 3 };

/* ---------------------------------------------------------------- split x */

/* One block per row: hi, lo [M, K] in the weight's type; rs [M] = 1 / scale. */
template <bool F16>
static __global__ void __launch_bounds__(256) k_mma_split(const float *x, int64_t K, uint16_t *hi, uint16_t *lo,
                                                          float *rs) {
    pdl_start();
    int64_t m = blockIdx.x;
    const float *xr = x + m * K;
    float s = 1.0f;
    if (F16) {
        __shared__ float part[8];
        float mx = 0.0f;
        for (int64_t k = threadIdx.x; k < K; k += blockDim.x) mx = fmaxf(mx, fabsf(xr[k]));
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
        if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = mx;
        __syncthreads();
        mx = 0.0f;
        for (int i = 0; i < (int)(blockDim.x >> 5); i++) mx = fmaxf(mx, part[i]);
        int e = 0;
        int sh = 0;
        if (mx > 0.0f && isfinite(mx)) {
            frexpf(mx, &e); /* mx < 2^e */
            sh = 15 - e;
            sh = sh < -100 ? -100 : sh > 100 ? 100 : sh;
        }
        s = ldexpf(1.0f, sh);
        if (threadIdx.x == 0) rs[m] = ldexpf(1.0f, -sh);
    }
    for (int64_t k = threadIdx.x; k < K; k += blockDim.x) {
        float v = xr[k] * s;
        if (F16) {
            __half h = __float2half_rn(v);
            __half l = __float2half_rn(v - __half2float(h));
            hi[m * K + k] = __half_as_ushort(h);
            lo[m * K + k] = __half_as_ushort(l);
        } else {
            __nv_bfloat16 h = __float2bfloat16_rn(v);
            __nv_bfloat16 l = __float2bfloat16_rn(v - __bfloat162float(h));
            hi[m * K + k] = __bfloat16_as_ushort(h);
            lo[m * K + k] = __bfloat16_as_ushort(l);
        }
    }
}

/* ---------------------------------------------------------------- PTX */

static __device__ __forceinline__ unsigned smem_addr(const void *p) {
    return (unsigned)__cvta_generic_to_shared(p);
}

/* 16 bytes global -> shared, bypassing L1; n = 0 writes zeros. */
static __device__ __forceinline__ void cp16(void *dst, const void *src, int n) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(n));
}
/* 4 bytes global -> shared; n = 0 writes zeros. */
static __device__ __forceinline__ void cp4(void *dst, const void *src, int n) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(n));
}
static __device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
static __device__ __forceinline__ void cp_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

static __device__ __forceinline__ void ldsm4(unsigned (&r)[4], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}

/* d += a . b, m16n8k16, row-major a, column-major b. */
template <bool F16>
static __device__ __forceinline__ void mma16816(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    if (F16)
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                     "{%8, %9}, {%0, %1, %2, %3};\n"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    else
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                     "{%8, %9}, {%0, %1, %2, %3};\n"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* ---------------------------------------------------------------- GEMM */

/* Quantized tiles: bytes of one row's block of quants, and a packed
 * superblock (cuda_pack: 8 f16 scales, then 8 blocks of quants). */
template <int Q> struct mma_q {
    static constexpr int QB = Q == GRT_Q4_0 ? 16 : 32, SBB = Q == GRT_Q4_0 ? 144 : 272;
    static constexpr int QW = QB / 8; /* 4-byte words of half a block of quants */
    /* GGUF layout: a block (f16 d, then the quants) of GB bytes, 2-byte
     * aligned, is staged as the GW aligned words that hold it, RW bytes a
     * row (a spare word for the unpacking's reads). */
    static constexpr int GB = QB + 2, GW = (GB + 2) / 4, RW = (GW + 1) * 4;
};

/* Two f16 of small integers in one register, a in the low half. */
static __device__ __forceinline__ unsigned h2_int(int a, int b) {
    __half2 v = __halves2half2(__int2half_rn(a), __int2half_rn(b));
    return *(unsigned *)&v;
}

/* Half h of a row's block of quants, v (Q8_0: q[16h, 16h + 16), 16 bytes;
 * Q4_0: bytes [8h, 8h + 8), byte i holding q[i] low and q[i + 16] high), as
 * f16 into the row's smem: Q8_0 q as is, Q4_0 nibble - 8. */
template <int Q>
static __device__ __forceinline__ void mma_put_quants(uint16_t *row, int h, const unsigned (&v)[mma_q<Q>::QW]) {
    if constexpr (Q == GRT_Q8_0) {
        const signed char *s = (const signed char *)v;
        *(uint4 *)(row + h * 16) = make_uint4(h2_int(s[0], s[1]), h2_int(s[2], s[3]), h2_int(s[4], s[5]),
                                              h2_int(s[6], s[7]));
        *(uint4 *)(row + h * 16 + 8) = make_uint4(h2_int(s[8], s[9]), h2_int(s[10], s[11]),
                                                  h2_int(s[12], s[13]), h2_int(s[14], s[15]));
    } else {
        const unsigned char *c = (const unsigned char *)v;
        *(uint4 *)(row + h * 8) =
            make_uint4(h2_int((c[0] & 15) - 8, (c[1] & 15) - 8), h2_int((c[2] & 15) - 8, (c[3] & 15) - 8),
                       h2_int((c[4] & 15) - 8, (c[5] & 15) - 8), h2_int((c[6] & 15) - 8, (c[7] & 15) - 8));
        *(uint4 *)(row + 16 + h * 8) =
            make_uint4(h2_int((c[0] >> 4) - 8, (c[1] >> 4) - 8), h2_int((c[2] >> 4) - 8, (c[3] >> 4) - 8),
                       h2_int((c[4] >> 4) - 8, (c[5] >> 4) - 8), h2_int((c[6] >> 4) - 8, (c[7] >> 4) - 8));
    }
}

/* Block b's quants of BN rows (raw, QB bytes a row) to f16 rows of bc,
 * LDS apart. Two threads a row. */
template <int Q, int BN, int NTH>
static __device__ __forceinline__ void mma_unpack(uint16_t *bc, const uint8_t *raw) {
    constexpr int QB = mma_q<Q>::QB;
#pragma unroll
    for (int i = threadIdx.x; i < BN * 2; i += NTH) {
        int r = i >> 1, h = i & 1;
        const uint8_t *src = raw + r * QB + h * QB / 2;
        unsigned v[mma_q<Q>::QW];
        if constexpr (Q == GRT_Q8_0) {
            uint4 t = *(const uint4 *)src;
            v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
        } else {
            uint2 t = *(const uint2 *)src;
            v[0] = t.x, v[1] = t.y;
        }
        mma_put_quants<Q>(bc + r * MMA_LDS, h, v);
    }
}

/* The same from GGUF blocks staged by k_mma (raw: RW bytes a row, row r's
 * block starting s0 bytes into it, s0 ^ ds for odd r: s0, ds in {0, 2}),
 * and each row's scale to half hp of scl[r], as the packed layout pairs
 * them (hp: the block's index % 2). */
template <int Q, int BN, int NTH>
static __device__ __forceinline__ void mma_unpack_gguf(uint16_t *bc, uint32_t *scl, const uint8_t *raw, int s0,
                                                       int ds, int hp) {
    constexpr int QB = mma_q<Q>::QB, QW = mma_q<Q>::QW, RW = mma_q<Q>::RW;
#pragma unroll
    for (int i = threadIdx.x; i < BN * 2; i += NTH) {
        int r = i >> 1, h = i & 1, s = s0 ^ ((r & 1) * ds);
        const uint8_t *row = raw + r * RW;
        if (h == 0) ((uint16_t *)scl)[2 * r + hp] = *(const uint16_t *)(row + s);
        int o = s + 2 + h * QB / 2; /* this half's first byte: 2-byte aligned */
        const unsigned *wd = (const unsigned *)row + (o >> 2);
        unsigned v[QW];
#pragma unroll
        for (int j = 0; j < QW; j++) v[j] = __funnelshift_r(wd[j], wd[j + 1], (o & 2) * 8);
        mma_put_quants<Q>(bc + r * MMA_LDS, h, v);
    }
}

/* One BK tile of 16-bit weights into the warp's sums d: A hi, A lo and B
 * rows in shared memory, LDS apart; the warp's tile starts at (wm0, wn0). */
template <bool F16, int MT, int NT>
static __device__ __forceinline__ void mma_tile(float (&d)[MT][NT][4], const uint16_t *sa, const uint16_t *sl,
                                                const uint16_t *sb, int wm0, int wn0, int lane) {
#pragma unroll
    for (int kk = 0; kk < MMA_BK; kk += 16) {
        unsigned ahf[MT][4], alf[MT][4], bf[NT][2];
#pragma unroll
        for (int i = 0; i < MT; i++) {
            int off = (wm0 + i * 16 + (lane & 15)) * MMA_LDS + kk + (lane >> 4) * 8;
            ldsm4(ahf[i], sa + off);
            ldsm4(alf[i], sl + off);
        }
#pragma unroll
        for (int j = 0; j < NT; j += 2) {
            unsigned r[4];
            ldsm4(r, sb + (wn0 + j * 8 + (lane & 7) + ((lane >> 4) << 3)) * MMA_LDS + kk + ((lane >> 3) & 1) * 8);
            bf[j][0] = r[0], bf[j][1] = r[1], bf[j + 1][0] = r[2], bf[j + 1][1] = r[3];
        }
#pragma unroll
        for (int i = 0; i < MT; i++)
#pragma unroll
            for (int j = 0; j < NT; j++) {
                mma16816<F16>(d[i][j], ahf[i], bf[j][0], bf[j][1]);
                mma16816<F16>(d[i][j], alf[i], bf[j][0], bf[j][1]);
            }
    }
}

/* One BK tile of quantized weights (one block per row): the quants as f16
 * in bc, each row's pair of f16 scales in scl (hi_half: the upper one is
 * this block's). Each output's block sum is made on the tensor cores, then
 * scaled and added in f32. */
template <int MT, int NT>
static __device__ __forceinline__ void mma_tile_q(float (&d)[MT][NT][4], const uint16_t *sa, const uint16_t *sl,
                                                  const uint16_t *bc, const uint32_t *scl, int hi_half, int wm0,
                                                  int wn0, int lane) {
    /* this thread's columns: wn0 + j * 8 + (lane % 4) * 2 + {0, 1} */
    float sc[NT][2];
    unsigned bf[2][NT][2];
#pragma unroll
    for (int j = 0; j < NT; j++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
            uint32_t v = scl[wn0 + j * 8 + (lane & 3) * 2 + e];
            sc[j][e] = __half2float(__ushort_as_half((unsigned short)(hi_half ? v >> 16 : v & 0xffff)));
        }
#pragma unroll
    for (int kk = 0; kk < 2; kk++)
#pragma unroll
        for (int j = 0; j < NT; j += 2) {
            unsigned r[4];
            ldsm4(r, bc + (wn0 + j * 8 + (lane & 7) + ((lane >> 4) << 3)) * MMA_LDS + kk * 16 + ((lane >> 3) & 1) * 8);
            bf[kk][j][0] = r[0], bf[kk][j][1] = r[1], bf[kk][j + 1][0] = r[2], bf[kk][j + 1][1] = r[3];
        }
#pragma unroll
    for (int i = 0; i < MT; i++) {
        unsigned ahf[2][4], alf[2][4];
#pragma unroll
        for (int kk = 0; kk < 2; kk++) {
            int off = (wm0 + i * 16 + (lane & 15)) * MMA_LDS + kk * 16 + (lane >> 4) * 8;
            ldsm4(ahf[kk], sa + off);
            ldsm4(alf[kk], sl + off);
        }
#pragma unroll
        for (int j = 0; j < NT; j++) {
            float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
            for (int kk = 0; kk < 2; kk++) {
                mma16816<true>(t, ahf[kk], bf[kk][j][0], bf[kk][j][1]);
                mma16816<true>(t, alf[kk], bf[kk][j][0], bf[kk][j][1]);
            }
            d[i][j][0] += t[0] * sc[j][0];
            d[i][j][1] += t[1] * sc[j][1];
            d[i][j][2] += t[2] * sc[j][0];
            d[i][j][3] += t[3] * sc[j][1];
        }
    }
}

/* Shared memory of k_mma, in 16-bit elements: per stage A hi, A lo
 * [BM][LDS], then B: 16-bit weights [BN][LDS]; packed quantized ones their
 * raw quants [BN][QB bytes] and the 4-byte pair of f16 scales holding each
 * row's [BN]; quantized ones in GGUF layout (GG) the words holding their
 * blocks [BN][RW bytes]. After the stages, for quantized weights, the
 * current tile's quants as f16 [BN][LDS], and for GG its scales [BN][4
 * bytes]. */
template <int Q, bool GG, int BM, int BN> static __host__ __device__ constexpr int mma_stage_elems() {
    return !Q ? (2 * BM + BN) * MMA_LDS
           : GG ? 2 * BM * MMA_LDS + BN * mma_q<Q>::RW / 2
                : 2 * BM * MMA_LDS + BN * mma_q<Q>::QB / 2 + BN * 2;
}
template <int Q, bool GG, int BM, int BN> static __host__ __device__ constexpr size_t mma_smem_bytes() {
    return 2 * ((size_t)MMA_STAGES * mma_stage_elems<Q, GG, BM, BN>() + (Q ? (size_t)BN * MMA_LDS : 0)) +
           (GG ? (size_t)BN * 4 : 0);
}

/* A BM x BN output tile per block of WM x WN warps, each warp a
 * (BM / WM) x (BN / WN) tile. Shared memory: mma_smem_bytes (B as stored:
 * rows of w, K contiguous, the "col" operand). Weights: Q = 0, 16-bit
 * rows w_ld elements apart; Q = GRT_Q8_0 / GRT_Q4_0, with F16 x, rows of
 * 2 w_ld bytes: packed (K % 256 == 0), or with GG in GGUF layout
 * (K % 32 == 0, blocks 2-byte aligned).
 * Split K (gridDim.z > 1): block z takes kps tiles of BK and writes its raw
 * sums to part [z][M][N]; k_mma_reduce finishes. Quantized tiles are held
 * to 128 registers (512 threads per SM), so as many blocks stay resident as
 * plan_mma counts on (Q8_0 would take up to 194); 0: no bound. */
template <bool F16, int BM, int BN, int WM, int WN, int Q, bool GG>
static __global__ void __launch_bounds__(WM * WN * 32, Q ? 512 / (WM * WN * 32) : 0)
    k_mma(const uint16_t *ah, const uint16_t *al, const float *rs, const uint16_t *w, int64_t w_ld,
          const float *bias, float *out, int M, int N, int K, int acc, float *part, int kps) {
    constexpr int NTH = WM * WN * 32, TM = BM / WM, TN = BN / WN, MT = TM / 16, NT = TN / 8;
    constexpr int STAGE = mma_stage_elems<Q, GG, BM, BN>();
    constexpr int QB = mma_q<Q>::QB, SBB = mma_q<Q>::SBB, GB = mma_q<Q>::GB, GW = mma_q<Q>::GW, RW = mma_q<Q>::RW;
    static_assert(NT % 2 == 0, "B fragments load in pairs");
    static_assert(!Q || F16, "quants multiply f16 inputs");
    static_assert(!GG || Q, "GGUF layout: quantized weights");
    extern __shared__ __align__(16) uint16_t sm[];
    pdl_start();
    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    int wm0 = (warp / WN) * TM, wn0 = (warp % WN) * TN;
    int64_t m0 = (int64_t)blockIdx.y * BM, n0 = (int64_t)blockIdx.x * BN;
    int kt0 = blockIdx.z * kps, nk = (K + MMA_BK - 1) / MMA_BK - kt0;
    if (nk > kps) nk = kps;
    const uint8_t *wq = (const uint8_t *)w;
    size_t w_row = (size_t)w_ld * 2;
    int gs0 = (int)((uintptr_t)(wq + n0 * w_row) & 2); /* GGUF layout: where row n0 starts in a word */

    auto load = [&](int stage, int k0) {
        uint16_t *sa = sm + stage * STAGE, *sl = sa + BM * MMA_LDS, *sb = sl + BM * MMA_LDS;
#pragma unroll
        for (int i = tid; i < BM * (MMA_BK / 8); i += NTH) {
            int r = i / (MMA_BK / 8), c = (i % (MMA_BK / 8)) * 8;
            bool ok = m0 + r < M && k0 + c < K;
            int64_t off = ok ? (m0 + r) * (int64_t)K + k0 + c : 0;
            cp16(sa + r * MMA_LDS + c, ah + off, ok ? 16 : 0);
            cp16(sl + r * MMA_LDS + c, al + off, ok ? 16 : 0);
        }
        if constexpr (GG) {
            /* row r's block b, as the words that hold it: the last one holds
             * only 2 of the block's bytes where it starts 4-aligned */
            int b = k0 / MMA_BK;
            uint8_t *raw = (uint8_t *)sb;
#pragma unroll
            for (int i = tid; i < BN * GW; i += NTH) {
                int r = i / GW, c = i % GW;
                bool ok = n0 + r < N;
                uintptr_t blk = (uintptr_t)(wq + (ok ? n0 + r : n0) * w_row + (size_t)b * GB);
                int n = !ok ? 0 : c < GW - 1 || (blk & 2) ? 4 : 2;
                cp4(raw + r * RW + c * 4, (const void *)((blk & ~(uintptr_t)3) + c * 4), n);
            }
        } else if constexpr (Q != 0) {
            /* block b of each row: superblock b / 8, its (b % 8)th quants and scale */
            int b = k0 / MMA_BK, j = b & 7;
            size_t at = (size_t)(b >> 3) * SBB;
            uint8_t *raw = (uint8_t *)sb, *scl = raw + BN * QB;
#pragma unroll
            for (int i = tid; i < BN * (QB / 16); i += NTH) {
                int r = i / (QB / 16), c = i % (QB / 16);
                bool ok = n0 + r < N;
                cp16(raw + r * QB + c * 16, wq + (ok ? (n0 + r) * w_row + at + 16 + j * QB + c * 16 : 0), ok ? 16 : 0);
            }
            for (int r = tid; r < BN; r += NTH) {
                bool ok = n0 + r < N;
                cp4(scl + r * 4, wq + (ok ? (n0 + r) * w_row + at + (2 * j & ~3) : 0), ok ? 4 : 0);
            }
        } else {
#pragma unroll
            for (int i = tid; i < BN * (MMA_BK / 8); i += NTH) {
                int r = i / (MMA_BK / 8), c = (i % (MMA_BK / 8)) * 8;
                bool ok = n0 + r < N && k0 + c < K;
                cp16(sb + r * MMA_LDS + c, w + (ok ? (n0 + r) * w_ld + k0 + c : 0), ok ? 16 : 0);
            }
        }
    };

    float d[MT][NT][4];
#pragma unroll
    for (int i = 0; i < MT; i++)
#pragma unroll
        for (int j = 0; j < NT; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) d[i][j][e] = 0.0f;

#pragma unroll
    for (int s = 0; s < MMA_STAGES - 1; s++) {
        if (s < nk) load(s, (kt0 + s) * MMA_BK);
        cp_commit();
    }
    for (int kt = 0; kt < nk; kt++) {
        cp_wait<MMA_STAGES - 2>();
        __syncthreads();
        int nx = kt + MMA_STAGES - 1;
        if (nx < nk) load(nx % MMA_STAGES, (kt0 + nx) * MMA_BK);
        cp_commit();
        const uint16_t *sa = sm + (kt % MMA_STAGES) * STAGE, *sl = sa + BM * MMA_LDS, *sb = sl + BM * MMA_LDS;
        if constexpr (GG) {
            uint16_t *bc = sm + MMA_STAGES * STAGE;
            uint32_t *scl = (uint32_t *)(bc + BN * MMA_LDS);
            int b = kt0 + kt;
            mma_unpack_gguf<Q, BN, NTH>(bc, scl, (const uint8_t *)sb, (gs0 + b * GB) & 2, (int)w_row & 2, b & 1);
            __syncthreads();
            mma_tile_q<MT, NT>(d, sa, sl, bc, scl, b & 1, wm0, wn0, lane);
        } else if constexpr (Q != 0) {
            uint16_t *bc = sm + MMA_STAGES * STAGE;
            mma_unpack<Q, BN, NTH>(bc, (const uint8_t *)sb);
            __syncthreads();
            /* the pair of scales holding this block's: the upper one for odd blocks */
            const uint32_t *scl = (const uint32_t *)((const uint8_t *)sb + BN * QB);
            mma_tile_q<MT, NT>(d, sa, sl, bc, scl, (kt0 + kt) & 1, wm0, wn0, lane);
        } else {
            mma_tile<F16, MT, NT>(d, sa, sl, sb, wm0, wn0, lane);
        }
    }
    cp_wait<0>();

    /* c0, c1: row lane / 4, columns 2 (lane % 4) + {0, 1}; c2, c3: row + 8. */
#pragma unroll
    for (int i = 0; i < MT; i++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            int64_t m = m0 + wm0 + i * 16 + (lane >> 2) + h * 8;
            if (m >= M) continue;
            float sc = rs && !part ? rs[m] : 1.0f;
#pragma unroll
            for (int j = 0; j < NT; j++)
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    int64_t n = n0 + wn0 + j * 8 + (lane & 3) * 2 + e;
                    if (n >= N) continue;
                    if (part) {
                        part[((int64_t)blockIdx.z * M + m) * N + n] = d[i][j][h * 2 + e];
                        continue;
                    }
                    float v = d[i][j][h * 2 + e] * sc + (bias ? bias[n] : 0.0f);
                    float *o = out + m * N + n;
                    *o = acc ? *o + v : v;
                }
        }
}

/* out[m, n] (+)= (sum over splits of part[s, m, n]) * rs[m] + bias[n], the
 * splits summed in order (the result does not depend on timing). */
static __global__ void k_mma_reduce(const float *part, int splits, const float *rs, const float *bias, float *out,
                                    int M, int N, int acc) {
    pdl_start();
    int64_t MN = (int64_t)M * N;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < MN; i += (int64_t)gridDim.x * blockDim.x) {
        float v = 0.0f;
        for (int s = 0; s < splits; s++) v += part[s * MN + i];
        int64_t m = i / N, n = i % N;
        v = v * (rs ? rs[m] : 1.0f) + (bias ? bias[n] : 0.0f);
        out[i] = acc ? out[i] + v : v;
    }
}

template <bool F16, int BM, int BN, int WM, int WN, int Q, bool GG>
static void launch_mma(grt_device *dev, const uint16_t *ah, const uint16_t *al, const float *rs, const uint16_t *w,
                       int64_t w_ld, const float *bias, float *out, int M, int N, int K, bool acc, float *part,
                       int splits) {
    auto k = k_mma<F16, BM, BN, WM, WN, Q, GG>;
    if (!part) splits = 1;
    size_t smem = mma_smem_bytes<Q, GG, BM, BN>();
    static bool attr_set = false; /* per instantiation; the attribute is per device function */
    if (!attr_set) {
        cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
        attr_set = true;
    }
    int nk = (K + MMA_BK - 1) / MMA_BK, kps = (nk + splits - 1) / splits;
    splits = (nk + kps - 1) / kps;
    if (splits < 2) part = NULL;
    dim3 grid((unsigned)((N + BN - 1) / BN), (unsigned)((M + BM - 1) / BM), (unsigned)splits);
    launch(dev, k, grid, dim3(WM * WN * 32), smem, ah, al, rs, w, w_ld, bias, out, M, N, K, (int)acc, part, kps);
    if (part) {
        int64_t MN = (int64_t)M * N, nb = (MN + 255) / 256;
        launch(dev, k_mma_reduce, dim3((unsigned)(nb < 4096 ? nb : 4096)), dim3(256), 0, (const float *)part, splits,
               rs, bias, out, M, N, (int)acc);
    }
}

/* Splits of K for a tile grid: enough blocks for `slots` resident ones,
 * at least 8 tiles of BK per split, partials within 64 MiB. */
static int mma_splits(int64_t tiles, int slots, int K, int64_t MN) {
    int64_t s = slots / tiles;
    int64_t by_k = ((K + MMA_BK - 1) / MMA_BK) / 8;
    if (s > by_k) s = by_k;
    int64_t by_mem = ((int64_t)64 << 20) / (MN * 4);
    if (s > by_mem) s = by_mem;
    if (s > 16) s = 16;
    return s < 1 ? 1 : (int)s;
}

/* 128 x 128 tiles (two resident per SM) when they, split over K where the
 * grid is small, fill the GPU; else 64 x 64 tiles (four per SM), split too. */
struct mma_plan {
    bool big;
    int splits;
};
static mma_plan plan_mma(int n_sm, int slots, int M, int N, int K) {
    int64_t MN = (int64_t)M * N;
    int64_t big = (int64_t)((M + 127) / 128) * ((N + 127) / 128);
    int sb = mma_splits(big, slots * n_sm, K, MN);
    if (big * sb >= n_sm) return {true, sb};
    int64_t small = (int64_t)((M + 63) / 64) * ((N + 63) / 64);
    return {false, mma_splits(small, 2 * slots * n_sm, K, MN)};
}

template <bool F16, int Q, bool GG = false>
static void run_mma(grt_device *dev, mma_plan pl, const uint16_t *ah, const uint16_t *al, const float *rs,
                    const uint16_t *w, int64_t w_ld, const float *bias, float *out, int M, int N, int K, bool acc,
                    float *part) {
    if (pl.big)
        launch_mma<F16, 128, 128, 2, 4, Q, GG>(dev, ah, al, rs, w, w_ld, bias, out, M, N, K, acc, part, pl.splits);
    else
        launch_mma<F16, 64, 64, 2, 2, Q, GG>(dev, ah, al, rs, w, w_ld, bias, out, M, N, K, acc, part, pl.splits);
}

bool cuda_mma_matmul(grt_device *dev, const float *x, const uint8_t *w, size_t w_row, int T, int pk,
                     const float *bias, float *out, int64_t M, int64_t N, int64_t K, bool acc) {
    cuda_ctx *c = cuda_ctx_of(dev);
    bool quant = T == GRT_Q8_0 || T == GRT_Q4_0, gguf = quant && !pk;
    if (!c->mma || (T != GRT_F16 && T != GRT_BF16 && !quant)) return false;
    if (gguf) {
        /* a tile of BK is one block of each row; blocks are loaded in 2-byte pieces */
        if (K % MMA_BK != 0 || (uintptr_t)w % 2 != 0 || w_row % 2 != 0) return false;
    } else if (K % 8 != 0 || (uintptr_t)w % 16 != 0 || w_row % 16 != 0 || (quant && K % 256 != 0)) {
        /* cp.async moves 16-byte pieces of weight rows (packed rows hold whole superblocks) */
        return false;
    }
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX) return false;
    bool f16 = T != GRT_BF16;
    mma_plan pl = plan_mma(c->n_sm, c->mma_slots, (int)M, (int)N, (int)K);
    /* scratch: hi, lo [M, K]; rs [M]; split-K partials [splits, M, N] */
    size_t half = (size_t)M * (size_t)K * 2, rs_off = 2 * half;
    size_t part_off = (rs_off + (size_t)M * 4 + 255) & ~(size_t)255;
    size_t need = part_off + (pl.splits > 1 ? (size_t)pl.splits * (size_t)M * (size_t)N * 4 : 0);
    if (dev->capturing && need > c->scratch_size) {
        /* no growth inside a capture: no split, or the SIMT kernel */
        pl.splits = 1;
        need = part_off;
        if (need > c->scratch_size) return false;
    }
    uint8_t *s = (uint8_t *)cuda_scratch(dev, need);
    if (!s) return true; /* sticky error set */
    uint16_t *hi = (uint16_t *)s, *lo = (uint16_t *)(s + half);
    float *rs = f16 ? (float *)(s + rs_off) : NULL;
    float *part = pl.splits > 1 ? (float *)(s + part_off) : NULL;
    if (f16)
        launch(dev, k_mma_split<true>, dim3((unsigned)M), dim3(256), 0, x, K, hi, lo, rs);
    else
        launch(dev, k_mma_split<false>, dim3((unsigned)M), dim3(256), 0, x, K, hi, lo, rs);
    const uint16_t *wp = (const uint16_t *)w;
    int64_t ld = (int64_t)(w_row / 2);
    if (T == GRT_Q8_0 && gguf)
        run_mma<true, GRT_Q8_0, true>(dev, pl, hi, lo, rs, wp, ld, bias, out, (int)M, (int)N, (int)K, acc, part);
    else if (T == GRT_Q4_0 && gguf)
        run_mma<true, GRT_Q4_0, true>(dev, pl, hi, lo, rs, wp, ld, bias, out, (int)M, (int)N, (int)K, acc, part);
    else if (T == GRT_Q8_0)
        run_mma<true, GRT_Q8_0>(dev, pl, hi, lo, rs, wp, ld, bias, out, (int)M, (int)N, (int)K, acc, part);
    else if (T == GRT_Q4_0)
        run_mma<true, GRT_Q4_0>(dev, pl, hi, lo, rs, wp, ld, bias, out, (int)M, (int)N, (int)K, acc, part);
    else if (f16)
        run_mma<true, 0>(dev, pl, hi, lo, rs, wp, ld, bias, out, (int)M, (int)N, (int)K, acc, part);
    else
        run_mma<false, 0>(dev, pl, hi, lo, rs, wp, ld, bias, out, (int)M, (int)N, (int)K, acc, part);
    cuda_check_launch(dev, "matmul (tensor cores)");
    return true;
}
