/* Private to the CUDA backend (C++ / CUDA only): the device context, scratch,
 * launch checks and the op launchers of cuda_ops.cu and cuda_sample.cu. */
#ifndef GRT_CUDA_INTERNAL_H
#define GRT_CUDA_INTERNAL_H

#include <cuda_runtime.h>

/* The C headers use C11 spellings. */
#define _Noreturn [[noreturn]]
#define _Static_assert static_assert
extern "C" {
#include "device/device.h"
#include "error.h"
}

typedef struct cuda_ctx {
    int device;
    int n_sm;
    cudaStream_t stream;
    void *scratch;          /* device memory shared by ops in stream order */
    size_t scratch_size;
    int *err_word;          /* mapped pinned word kernels set on bad input */
    int *err_word_dev;
    char dev_name[256];
    bool pdl;               /* programmatic dependent launch (GENRT_CUDA_PDL=0: off) */
    bool fuse;              /* hold ops back to fuse them (GENRT_CUDA_FUSE=0: off) */
    bool mv_pipe;           /* pipelined one-wave GEMV kernels (GENRT_CUDA_MV=0: the older ones) */
    int mv_waves;           /* blocks of the pipelined GEMVs: this many waves at most (GENRT_CUDA_MVW) */
    bool mv_split;          /* pipelined GEMVs may split rows over warps (GENRT_CUDA_SPLIT=1: on) */
    bool mv_vec_stage;      /* pipelined GEMVs stage the input with float4 loads (GENRT_CUDA_VSTAGE=0: off) */
    bool mv_dp4a;           /* quantized GEMVs: int8 input and dp4a (GENRT_CUDA_DP4A=0: f32 input) */
    int mv_min_slice;       /* bytes of a float row per split warp at least (GENRT_CUDA_MINSLICE) */
    bool mv_qdepth2;        /* quantized GEMVs keep two rounds in flight per warp (GENRT_CUDA_QDEPTH=2) */
    int mv_u;               /* 16-byte loads per lane per round of the float GEMV (GENRT_CUDA_MVU: 2, 4, 8) */
    bool pro_share;         /* a fused rmsnorm / GLU output not in place: every GEMV block writes a share
                               (GENRT_CUDA_PROSHARE=0: the last block to stage writes it all, after a counter) */
    bool repack;            /* prepare_weight repacks Q8_0/Q4_0 matrices (GENRT_CUDA_REPACK=0: off) */
    bool glu_pair;          /* decode: the gate / up GEMV computes the GLU, a gate row and its up row in one warp
                               (GENRT_CUDA_GLUPAIR=0: the down GEMV's prologue does) */
    int mvq_g;              /* k_mvq: rows per warp at once (GENRT_CUDA_QG: 1, 2, 4; 0: 2 above 32 units a row, else 4) */
    bool mv_gguf;           /* GGUF-layout Q8_0 / Q4_0 decode rows of K % 64 == 0 on k_mvq (GENRT_CUDA_GGUF_MV=0: k_mv_qraw) */
    bool attn_fuse;         /* decode: rope + kv_store + attention in one kernel (GENRT_CUDA_AFUSE=0: off) */
    int attn_keys;          /* fused decode attention: keys per split at least (GENRT_CUDA_AKEYS, 256; twice that
                               with fewer than 16 blocks of query heads) */
    int attn_stage;         /* fused decode attention: keys staged in shared memory at most (GENRT_CUDA_ASTAGE) */
    int attn_hg;            /* fused decode attention: blocks per KV head, each a share of its query heads
                               (GENRT_CUDA_AHG; 0: one query head a block; 1: all of a KV head's in one) */
    bool attn_early;        /* fused decode attention loads the cache before its PDL wait (GENRT_CUDA_AEARLY=0: off) */
    bool mma;               /* prefill products on the tensor cores (GENRT_CUDA_MMA=0: the SIMT kernel) */
    bool mm_simt;           /* prefill products the tensor cores decline run on the SIMT kernel
                               (GENRT_CUDA_MM_SIMT=0: they are a device error instead; for tests) */
    int mma_slots;          /* tensor-core products: resident 128 x 128 blocks per SM a K split aims for
                               (GENRT_CUDA_MMA_SLOTS, 2; 0: no split; negative: 0) */
    bool flash;             /* flash-style prefill attention (GENRT_CUDA_FLASH=0: the split kernels) */
    bool flash_split;       /* flash prefill attention may split the keys over blocks (GENRT_CUDA_FA_SPLIT=0: off) */
    bool prev_late;         /* the last kernel launched was such a GEMV: all before it is complete when the next starts */
    unsigned *counters;     /* [CUDA_N_COUNTERS] device, zero between kernels */
    struct cuda_pend *pend; /* the op held back for fusion (cuda_ops.cu) */
} cuda_ctx;

/* Device error codes written to err_word by kernels. */
enum { CUDA_KERR_NONE = 0, CUDA_KERR_EMBED_ID = 1 };

/* A weight region repacked in place for the quantized GEMVs (prepare_weight).
 * Superblocks of 8 GGUF blocks (256 elements) become the 8 f16 scales (16
 * bytes) then the 8 blocks' quants in GGUF order (8 x 16 bytes Q4_0, 8 x 32
 * Q8_0): a byte permutation inside each 144- or 272-byte superblock, which
 * stays where it was, so quants are 16-byte aligned and contiguous. Rows
 * must hold whole superblocks (K % 256 == 0) and start 16-aligned. The
 * records of a device buffer hang off its impl until it is freed; read,
 * write, copy and fill map GGUF byte positions through them. */
typedef struct cuda_pack {
    size_t off, n; /* bytes of the buffer, n a multiple of the superblock */
    int type;      /* GRT_Q8_0 or GRT_Q4_0 */
    struct cuda_pack *next;
} cuda_pack;

/* One region as kernels see it: bytes [off, end) of a buffer hold type's
 * superblocks packed; type 0: no region (positions map to themselves). */
struct pk_map {
    size_t off, end;
    int type;
};

static __host__ __device__ __forceinline__ unsigned pk_sb_bytes(int T) { return T == GRT_Q4_0 ? 144u : 272u; }

/* Where GGUF byte o (< pk_sb_bytes) of a superblock lives once packed. */
static __host__ __device__ __forceinline__ unsigned pk_pos(int T, unsigned o) {
    unsigned bs = T == GRT_Q4_0 ? 18u : 34u, j = o / bs, w = o % bs;
    return w < 2 ? 2 * j + w : 16 + j * (bs - 2) + (w - 2);
}

/* Where GGUF byte p of a buffer lives, given the region around it. */
static __host__ __device__ __forceinline__ size_t pk_phys(const pk_map &m, size_t p) {
    if (!m.type || p < m.off || p >= m.end) return p;
    size_t sbb = pk_sb_bytes(m.type), rel = p - m.off;
    return m.off + rel / sbb * sbb + pk_pos(m.type, (unsigned)(rel % sbb));
}

static inline cuda_pack *cuda_packs(const grt_buffer *b) {
    return (b->flags & GRT_BUF_HOST_VISIBLE) ? NULL : (cuda_pack *)b->impl;
}

/* The region holding byte p of b (type 0: none) and how many bytes from p,
 * at most n, lie before the next region boundary. */
static inline pk_map cuda_pack_seg(const grt_buffer *b, size_t p, size_t n, size_t *len) {
    pk_map m = {0, 0, 0};
    size_t l = n;
    for (const cuda_pack *r = cuda_packs(b); r; r = r->next) {
        if (p >= r->off && p < r->off + r->n) {
            m.off = r->off, m.end = r->off + r->n, m.type = r->type;
            l = r->off + r->n - p;
            break;
        }
        if (r->off > p && r->off - p < l) l = r->off - p;
    }
    *len = l < n ? l : n;
    return m;
}

static inline cuda_ctx *cuda_ctx_of(grt_device *dev) { return (cuda_ctx *)dev->ctx; }

static inline void *tptr(const grt_tensor *t) { return (char *)t->buf->ptr + t->offset; }

/* Checks the launch just made; a failure becomes the sticky device error. */
void cuda_check_launch(grt_device *dev, const char *what);
/* A CUDA runtime status into the sticky error; true when it was an error. */
bool cuda_check(grt_device *dev, cudaError_t e, const char *what);

/* At least n bytes of device scratch, valid until the next op that asks for
 * scratch. Grows (with a sync) outside capture; during capture a scratch
 * too small is a sticky error and NULL. */
void *cuda_scratch(grt_device *dev, size_t n);

/* Programmatic dependent launch: each kernel lets the next one start
 * launching at once, then waits for its predecessor's results before it
 * touches memory. Launch gaps shrink; the order of effects does not change. */
static __device__ __forceinline__ void pdl_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
static __device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
static __device__ __forceinline__ void pdl_start() {
    pdl_launch();
    pdl_wait();
}

/* Launch k on the device's stream (with PDL when on); errors are checked by
 * the caller's cuda_check_launch. */
template <typename... KArgs, typename... Args>
static inline void launch(grt_device *dev, void (*k)(KArgs...), dim3 grid, dim3 block, size_t smem,
                          Args... args) {
    cuda_ctx *c = cuda_ctx_of(dev);
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = c->stream;
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = at;
    cfg.numAttrs = c->pdl ? 1 : 0;
    c->prev_late = false;
    cudaLaunchKernelEx(&cfg, k, args...);
}

enum { CUDA_N_COUNTERS = 1 << 16 };

/* Launch the op held back for fusion, if any. Every queue operation that is
 * not a fusable kernel calls it first. */
void cuda_flush(grt_device *dev);

/* Op launchers (cuda_ops.cu, cuda_sample.cu). Arguments were checked by the
 * grt_dev_* wrappers. */
void cuda_op_fill(grt_device *dev, void *dst, size_t n, uint32_t pattern);
/* Writes of up to any size through kernel parameters (4 KiB a launch),
 * capturable; bytes land at pk_phys(m, off + i) of base. */
void cuda_op_write_small(grt_device *dev, void *base, size_t off, pk_map m, const void *src, size_t n);
/* Byte copies and fills where either side may be a packed region. */
void cuda_op_copy_mapped(grt_device *dev, void *dbase, size_t doff, pk_map dm, const void *sbase, size_t soff,
                         pk_map sm, size_t n);
void cuda_op_fill_mapped(grt_device *dev, void *base, size_t off, pk_map m, size_t n, uint32_t pattern);
grt_status cuda_op_prepare_weight(grt_device *dev, const grt_tensor *w);
void cuda_op_embed(grt_device *dev, const grt_tensor *out, const grt_tensor *table,
                   const grt_tensor *ids, float scale, int n_rows);
void cuda_op_rmsnorm(grt_device *dev, const grt_tensor *out, const grt_tensor *in,
                     const grt_tensor *w, int64_t n_rows, int64_t dim, float eps);
void cuda_op_matmul(grt_device *dev, const grt_tensor *out, const grt_tensor *in,
                    const grt_tensor *w, const grt_tensor *bias, int64_t n_rows, bool accumulate);
void cuda_op_rope(grt_device *dev, const grt_tensor *x, const grt_tensor *inv_freq,
                  const grt_tensor *state, grt_rows rows, int n_heads, int head_dim, int rot_dim,
                  bool interleaved);
void cuda_op_kv_store(grt_device *dev, const grt_tensor *k_cache, const grt_tensor *v_cache,
                      const grt_tensor *k, const grt_tensor *v, const grt_tensor *state,
                      grt_rows rows, int kv_dim, int max_ctx);
void cuda_op_attention(grt_device *dev, const grt_tensor *out, const grt_tensor *q,
                       const grt_tensor *k_cache, const grt_tensor *v_cache,
                       const grt_tensor *state, grt_rows rows, int n_heads, int n_kv_heads,
                       int head_dim, int max_ctx, float scale, int window);
void cuda_op_glu(grt_device *dev, const grt_tensor *out, const grt_tensor *gate,
                 const grt_tensor *up, int64_t n_rows, int64_t n_ff, grt_act act);
void cuda_op_advance(grt_device *dev, const grt_tensor *state, grt_rows rows);
void cuda_op_sample(grt_device *dev, const grt_tensor *logits, int n_vocab,
                    const grt_sample_cfg *cfg, const grt_tensor *state, int seq0, int n_seqs,
                    const grt_tensor *history, int max_ctx, const grt_tensor *next_ids,
                    const grt_tensor *ring, int ring_len);

/* Prefill product on the tensor cores (cuda_mma.cu): out[M, N] (+)= x[M, K]
 * w[N, K]^T (+ bias) for F16 and BF16 weights, and Q8_0 / Q4_0 weights in
 * the packed layout (pk) or in GGUF layout (pk == 0). False when it does not
 * take the case (other types; 16-bit or packed weights with K % 8 != 0 or
 * rows not 16-byte aligned; GGUF blocks with K % 32 != 0 or not 2-byte
 * aligned; GENRT_CUDA_MMA=0), and the caller runs its own kernel. Uses the
 * scratch. */
bool cuda_mma_matmul(grt_device *dev, const float *x, const uint8_t *w, size_t w_row, int T, int pk,
                     const float *bias, float *out, int64_t M, int64_t N, int64_t K, bool acc);
/* Flash-style prefill attention (cuda_flash.cu) for rows with more than one
 * token per sequence; same contract as cuda_op_attention. False when it does
 * not take the case (decode rows, head_dim > 256 or not a multiple of 4, q or
 * caches not 16-byte aligned, GQA ratio > 64, mixed cache types;
 * GENRT_CUDA_FLASH=0). Held ops must be flushed before. Uses the scratch. */
bool cuda_flash_attention(grt_device *dev, const grt_tensor *out, const grt_tensor *q, const grt_tensor *k_cache,
                          const grt_tensor *v_cache, const grt_tensor *state, grt_rows rows, int n_heads,
                          int n_kv_heads, int head_dim, int max_ctx, float scale, int window);

#endif
