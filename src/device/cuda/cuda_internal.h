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
    bool attn_fuse;         /* decode: rope + kv_store + attention in one kernel (GENRT_CUDA_AFUSE=0: off) */
    int attn_keys;          /* fused decode attention: keys per split at least (GENRT_CUDA_AKEYS, 256) */
    int attn_stage;         /* fused decode attention: keys staged in shared memory at most (GENRT_CUDA_ASTAGE) */
    bool attn_early;        /* fused decode attention loads the cache before its PDL wait (GENRT_CUDA_AEARLY=0: off) */
    bool mv_late_next;      /* the next float GEMV lets its dependent launch only after its own PDL wait */
    bool prev_late;         /* the last kernel launched was such a GEMV: all before it is complete when the next starts */
    unsigned *counters;     /* [CUDA_N_COUNTERS] device, zero between kernels */
    struct cuda_pend *pend; /* the op held back for fusion (cuda_ops.cu) */
} cuda_ctx;

/* Device error codes written to err_word by kernels. */
enum { CUDA_KERR_NONE = 0, CUDA_KERR_EMBED_ID = 1 };

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
void cuda_op_write_small(grt_device *dev, void *dst, const void *src, size_t n);
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

#endif
