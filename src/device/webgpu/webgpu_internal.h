/* Private to the WebGPU backend: the device context, recorded commands,
 * bind group cache and the kernel entry points. */
#ifndef GRT_WEBGPU_INTERNAL_H
#define GRT_WEBGPU_INTERNAL_H

#include "device/webgpu/webgpu.h"
#include "device/webgpu/wgpu_api.h"

extern wgpu_api W; /* resolved from the library at first use */

enum {
    WG_SLOT = 256,          /* bytes per parameter slot (uniform offset alignment) */
    WG_PARAM_WORDS = 28,    /* words of Params (common.wgsl) */
    WG_PARAM_SLOTS = 1024,  /* eager slots per submit */
    WG_BIND = 7,            /* storage bindings per kernel, after the parameters */
    WG_MAX_BIND = 10,       /* mvx3.wgsl's (adapters that allow as many) */
    WG_MAX_HV = 8,
    WG_FENCE_TRACK = 128,
    WG_MAX_RETIRED = 32,
    WG_DUMMY_WINDOWS = 8,   /* placeholder windows of 256 bytes in x->dummy (never overlapping) */
    WG_TS_PAIRS = 64,       /* timestamp windows (begin, end) in flight */   /* fences read_completed considers (by serial) */
    /* a recorded dispatch's parameter words: a chain kernel's (attn_o.wgsl,
     * mvx2.wgsl, mvx3.wgsl) three Params and one vec4; graph slots hold them */
    WG_CMD_WORDS = 3 * WG_PARAM_WORDS + 4,
    WG_GRAPH_SLOT = 512,
};
_Static_assert(WG_CMD_WORDS * 4 <= WG_GRAPH_SLOT, "graph parameter slot");

/* A storage binding: a window of a buffer. */
typedef struct wg_binding {
    uint64_t id;      /* buffer identity (never reused) */
    WGPUBuffer b;
    uint64_t off, size;
} wg_binding;

typedef struct wg_buf {
    WGPUBuffer b;
    uint64_t id;
    uint64_t alloc;   /* bytes allocated (size rounded up to 16) */
} wg_buf;

enum { WG_CMD_DISPATCH = 0, WG_CMD_COPY = 1 };
enum { WG_TAG_NONE = 0, WG_TAG_MV = 1, WG_TAG_MV3 = 2, WG_TAG_NORM = 3, WG_TAG_ROPE = 4, WG_TAG_MVX = 5,
       WG_TAG_GLU = 6, WG_TAG_KV = 7, WG_TAG_ROPE2 = 8,
       WG_TAG_ROPE_KV = 9, WG_TAG_ATTN_DEC = 10 /* cfg: KV_SHARED HD4 G ROPE */,
       WG_TAG_ATTN_O = 11 /* no rmsnorm tail yet */ };

typedef struct wg_cmd {
    int kind;
    /* dispatch */
    WGPUComputePipeline pipe;
    int nb;
    wg_binding b[WG_MAX_BIND];
    uint32_t params[WG_CMD_WORDS]; /* words past WG_PARAM_WORDS: chain kernels only */
    uint32_t gx, gy;
    WGPUBindGroup bg;       /* set at capture end */
    uint32_t dynoff;
    bool chain;             /* a chain kernel (its own pipeline layout) */
    int tag;                /* WG_TAG_*: what a mergeable dispatch is */
    uint32_t wt, R;         /* its weight type code and rows per tile (glu: its activation) */
    uint32_t cfg[7];        /* mvx: its override constants (WTYPE T RPW U NORM GLU) */
    /* copy */
    WGPUBuffer src, dst;
    uint64_t soff, doff, n;
} wg_cmd;

typedef struct wg_bg_entry {
    struct wg_bg_entry *next;
    uint64_t hash;
    uint64_t uid;            /* the uniform buffer's id */
    bool chain;              /* in the chain kernels' layout */
    int nb;
    wg_binding b[WG_MAX_BIND];
    WGPUBindGroup bg;
} wg_bg_entry;

typedef struct wg_pipe {
    int shader;
    uint64_t key[2];         /* override constants, packed (8 bits each) */
    WGPUComputePipeline p;
} wg_pipe;

/* attn_dec: (row, KV head) pairs per dispatch, at most; the last
 * WG_CHAIN_COUNTERS of its counters are the chain kernels' */
enum { WG_ATT_COUNTERS = 1024, WG_CHAIN_COUNTERS = 12 };
enum { WG_BG_BUCKETS = 1024, WG_MAX_PIPES = 512, WG_N_SHADERS = 28 };

/* A scratch buffer private to a kernel (grown on demand). */
typedef struct wg_scratch {
    WGPUBuffer b;
    uint64_t size, id;
} wg_scratch;

typedef struct wg_ctx {
    WGPUInstance instance;
    WGPUAdapter adapter;
    WGPUDevice device;
    WGPUQueue queue;
    WGPULimits limits;
    char adapter_name[200];
    bool has_f16, has_subgroups, has_timestamps;
    bool f16_math;                /* shader-f16 enabled and GENRT_WEBGPU_F16=1: f16 decode matvec */
    uint32_t subgroup_min;
    /* subgroups requested and used by the reductions (not GENRT_WEBGPU_NO_SUBGROUPS=1);
     * sg_cluster: lanes per xor-butterfly cluster (SG in the shaders), a power
     * of two <= the adapter's smallest subgroup; 1 without subgroups */
    bool sg_on;
    uint32_t sg_cluster;
    /* chain kernels allowed (attn_o, mvx2, mvx3: workgroups that wait on earlier
     * workgroups of the same dispatch). WebGPU does not promise that
     * workgroups start in index order, so they are on only for adapters known
     * to do so (NVIDIA, llvmpipe), or with GENRT_WEBGPU_CHAINS=1; =0 off. */
    bool chains_on;
    uint32_t align;               /* minStorageBufferOffsetAlignment */
    uint64_t max_binding;         /* maxStorageBufferBindingSize, or lower: GENRT_WEBGPU_MAX_BINDING */
    volatile bool lost;
    bool lose_on_destroy, closing;
    grt_status raw_status;        /* of the last failed wg_raw_buffer */
    uint64_t next_id;

    /* timestamps (adapter feature): each fence's window of passes gets the
     * first pass's begin and the last pass's end, in pair ts_window % WG_TS_PAIRS;
     * written only while a trace runs or with ts_force (wg_ts_live) */
    bool ts_on, ts_force, ts_pass_in_window;
    uint64_t ts_window;
    WGPUQuerySet qset;
    WGPUBuffer q_resolve;

    /* the open command encoder and compute pass */
    WGPUCommandEncoder enc;
    WGPUComputePassEncoder pass;
    WGPUComputePipeline pass_pipe;
    /* eager parameters: host copy written before each submit */
    uint8_t *param_host;
    int param_used;
    WGPUBuffer param_buf;
    uint64_t param_id;

    WGPUBuffer dummy, dummy2;     /* bound where a kernel's binding is unused (two: no aliasing) */
    uint64_t dummy_id, dummy2_id;
    WGPUBuffer rb, tmp;           /* readback staging, copy scratch */
    uint64_t rb_size, tmp_size;
    wg_scratch sample_seen;       /* sampler: seen-token bits */
    wg_scratch att_part;          /* split attention: partial results */
    uint32_t pre_cfg[7];          /* the last prefill matmul's decode mvx configuration */
    uint64_t pre_N;               /* and its N (0: none) */
    uint32_t pre_att[3];          /* the last prefill attention's attn_dec KV_SHARED HD4 G */
    bool pre_att_set;             /* (for the o-proj matmul after it: the attn_o pipeline) */
    uint32_t pre_chain[3];        /* the last prefill matmul's mvx WTYPE T RPW, when accumulating */
    uint32_t pre_chain_N;         /* and its N */
    bool pre_chain_set;           /* (for the matmul after it: the mvx2 and mvx3 pipelines) */
    uint32_t pre_glu[7];          /* the last prefill glu's gate/up mvx configuration, GLU and NORM set */
    uint32_t pre_glu_N;           /* and its N */
    bool pre_glu_set;             /* (chainable: for mvx3) */
    uint64_t pre_K;               /* the last prefill matmul's K */
    wg_scratch att_dec;           /* attn_dec: WG_ATT_COUNTERS arrival counters, then partials */
    WGPUBuffer retired[WG_MAX_RETIRED]; /* outgrown scratch buffers */
    int n_retired;

    grt_buffer *hv[WG_MAX_HV];
    int n_hv;
    uint64_t hv_version;
    uint64_t fence_serial;
    struct grt_fence *fences_live[WG_FENCE_TRACK];
    struct grt_fence *orphans;  /* fences freed with a callback pending */

    /* capture */
    int rec_tag;                  /* tag (and wt, R) of the dispatch being recorded */
    uint32_t rec_wt, rec_R, rec_cfg[7];
    wg_cmd *rec;
    size_t n_rec, cap_rec;

    /* caches */
    wg_bg_entry **bg_heads;
    WGPUBindGroupLayout bgl[WG_BIND + 1];
    WGPUPipelineLayout pl[WG_BIND + 1];
    /* chain kernels': WG_BIND windows ([0]) or WG_MAX_BIND ([1]: NULL when
     * the adapter allows fewer), WG_CMD_WORDS of parameters */
    WGPUBindGroupLayout bgl_chain[2];
    WGPUPipelineLayout pl_chain[2];
    WGPUShaderModule modules[WG_N_SHADERS];
    wg_pipe pipes[WG_MAX_PIPES];
    int n_pipes;

    grt_webgpu_counters counters;
} wg_ctx;

static inline wg_ctx *wg_ctx_of(grt_device *dev) { return (wg_ctx *)dev->ctx; }

void wg_svcpy(char *dst, size_t cap, WGPUStringView v);
WGPUBuffer wg_raw_buffer(grt_device *dev, uint64_t size, WGPUBufferUsage usage, bool mapped, const char *what);
void wg_end_pass(wg_ctx *x);
void wg_ensure_encoder(wg_ctx *x);
void wg_ensure_pass(wg_ctx *x);
void wg_flush(grt_device *dev);
wg_cmd *wg_rec_push(grt_device *dev);

/* webgpu_ops.c */
grt_status wg_pipes_init(grt_device *dev);
void wg_pipes_free(wg_ctx *x);
/* A cached bind group: usize bytes of uniform buffer (id uid) at binding 0,
 * then nb storage windows; chain: in the chain kernels' layout (nb ==
 * WG_BIND or WG_MAX_BIND, usize WG_CMD_WORDS * 4). */
WGPUBindGroup wg_bind_group(grt_device *dev, WGPUBuffer ubuf, uint64_t uid, uint64_t usize, bool chain, int nb,
                            const wg_binding *b);
/* Merge runs of consecutive float mv dispatches that share their input
 * into mv3 dispatches (captured steps); returns the new count. */
size_t wg_merge_mv(grt_device *dev, wg_cmd *cmds, size_t n);
/* The shader name of a pipeline this context created ("?" if none). */
const char *wg_pipe_name(const wg_ctx *x, WGPUComputePipeline p);
/* Drop cached bind groups naming buffer id (0: all). */
void wg_bg_purge(wg_ctx *x, uint64_t id);

void wg_fill(grt_device *dev, grt_buffer *dst, size_t off, size_t n, uint32_t pattern);
/* A copy at offsets that are not multiples of 4, between two buffers, by a kernel. */
void wg_copy_bytes(grt_device *dev, grt_buffer *dst, size_t dst_off, grt_buffer *src, size_t src_off, size_t n);
void wg_embed(grt_device *dev, const grt_tensor *out, const grt_tensor *table, const grt_tensor *ids, float scale,
              int n_rows);
void wg_rmsnorm(grt_device *dev, const grt_tensor *out, const grt_tensor *in, const grt_tensor *w, int64_t n_rows,
                int64_t dim, float eps);
void wg_matmul(grt_device *dev, const grt_tensor *out, const grt_tensor *in, const grt_tensor *w,
               const grt_tensor *bias, int64_t n_rows, bool accumulate);
void wg_rope(grt_device *dev, const grt_tensor *x, const grt_tensor *inv_freq, const grt_tensor *state, grt_rows rows,
             int n_heads, int head_dim, int rot_dim, bool interleaved);
void wg_kv_store(grt_device *dev, const grt_tensor *k_cache, const grt_tensor *v_cache, const grt_tensor *k,
                 const grt_tensor *v, const grt_tensor *state, grt_rows rows, int kv_dim, int max_ctx);
void wg_attention(grt_device *dev, const grt_tensor *out, const grt_tensor *q, const grt_tensor *k_cache,
                  const grt_tensor *v_cache, const grt_tensor *state, grt_rows rows, int n_heads, int n_kv_heads,
                  int head_dim, int max_ctx, float scale, int window);
void wg_glu(grt_device *dev, const grt_tensor *out, const grt_tensor *gate, const grt_tensor *up, int64_t n_rows,
            int64_t n_ff, grt_act act);
void wg_advance(grt_device *dev, const grt_tensor *state, grt_rows rows);
void wg_sample(grt_device *dev, const grt_tensor *logits, int n_vocab, const grt_sample_cfg *cfg,
               const grt_tensor *state, int seq0, int n_seqs, const grt_tensor *history, int max_ctx,
               const grt_tensor *next_ids, const grt_tensor *ring, int ring_len);

#endif
