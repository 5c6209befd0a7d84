/* The device interface: buffers, a queue, fences, capture, and the kernels of
 * the forward pass and the sampler. Each backend (cpu/, cuda/, webgpu/) fills
 * one grt_device_i table; the model and generator call the grt_dev_* wrappers
 * below, which check arguments and never name a backend.
 *
 * Queue model. Every kernel, copy, fill and write is enqueued in order on the
 * device's single queue; the CPU backend may run them at enqueue time. Only
 * grt_dev_read, grt_dev_sync and grt_dev_fence_wait block. Kernels report
 * failure through the device's sticky error (grt_dev_status), not per call.
 *
 * Capture. Between capture_begin and capture_end the enqueued work is
 * recorded, not run; graph_launch replays it. A recorded step takes no
 * per-token arguments: everything that changes between tokens (positions,
 * lengths, the input token, the RNG counter) is read from device buffers,
 * above all the step state below.
 */
#ifndef GRT_DEVICE_H
#define GRT_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "genrt.h"

typedef struct grt_device grt_device;
typedef struct grt_device_i grt_device_i;
typedef struct grt_buffer grt_buffer;
typedef struct grt_fence grt_fence;
typedef struct grt_graph grt_graph;

enum {
    GRT_BUF_DEVICE = 0,
    GRT_BUF_HOST_VISIBLE = 1, /* staging the host reads (pinned / mappable) */
};

struct grt_buffer {
    grt_device *dev;
    size_t size;
    unsigned flags;
    void *ptr;   /* backend address: host pointer (cpu), device pointer (cuda) */
    void *impl;  /* backend private */
    bool owned;  /* false when ptr aliases memory the buffer does not own */
};

/* A typed view into a buffer. Shapes are outermost first, like PyTorch:
 * a weight matrix is ne = {n_out, n_in} with rows of n_in elements. */
typedef struct grt_tensor {
    grt_buffer *buf;
    size_t offset;   /* bytes from the start of buf */
    grt_dtype type;
    int n_dims;
    int64_t ne[4];
} grt_tensor;

/* Per-sequence step state, in a device buffer of n_seqs entries. Kernels read
 * positions from here; grt_dev_advance and grt_dev_sample move it on. */
typedef struct grt_step_state {
    int32_t pos;      /* tokens in the KV cache = position of the next input */
    int32_t n_new;    /* tokens sampled so far = next token-ring slot index */
    uint32_t rng_ctr; /* RNG counter, advances once per sampled token */
    int32_t done;     /* set by grt_dev_sample when it samples an EOS id */
    int32_t pad[4];
} grt_step_state;     /* 32 bytes */
_Static_assert(sizeof(grt_step_state) == 32, "step state layout");

/* Which sequences a pass covers. Rows are tokens: n_rows / n_seqs
 * consecutive rows per sequence, for sequences seq0 .. seq0 + n_seqs - 1.
 * Row r is sequence seq0 + r / tps at position state[seq].pos + r % tps,
 * with tps = n_rows / n_seqs. Prefill: one sequence, many rows. Decode: one
 * row per sequence. */
typedef struct grt_rows {
    int n_rows;
    int seq0;
    int n_seqs;
} grt_rows;

typedef enum grt_act { GRT_ACT_SILU = 0, GRT_ACT_GELU_TANH = 1 } grt_act;

/* Sampler settings fixed for a generator's life (kernel arguments that do
 * not change between tokens). Order of processing, as Hugging Face applies
 * its processors: repetition penalty, temperature, top-k, top-p, min-p, then
 * a draw (or argmax when temperature == 0; ties go to the lowest id). */
typedef struct grt_sample_cfg {
    float temperature;
    int top_k;
    float top_p;
    float min_p;
    float repeat_penalty;
    int repeat_last_n;   /* -1: the whole history */
    uint64_t seed;
    int n_eos;
    int32_t eos[8];      /* sampling one of these sets state.done */
} grt_sample_cfg;

/* The uniform draw for (seed, seq, rng_ctr) is defined in philox.h so every
 * backend draws the same numbers. */

struct grt_device_i {
    const char *name;
    void (*close)(grt_device *dev);

    /* memory */
    grt_status (*buffer_new)(grt_device *dev, size_t size, unsigned flags, grt_buffer **out);
    /* A buffer holding host bytes that outlive it (mapped weights): the CPU
     * aliases them, GPUs upload once. */
    grt_status (*buffer_from_host)(grt_device *dev, const void *host, size_t size, grt_buffer **out);
    void (*buffer_free)(grt_buffer *buf);
    void (*write)(grt_device *dev, grt_buffer *dst, size_t off, const void *src, size_t n);
    grt_status (*read)(grt_device *dev, grt_buffer *src, size_t off, void *dst, size_t n);
    void (*copy)(grt_device *dev, grt_buffer *dst, size_t dst_off, grt_buffer *src, size_t src_off, size_t n);
    void (*fill)(grt_device *dev, grt_buffer *dst, size_t off, size_t n, uint32_t pattern);
    /* Read host-visible bytes written by work a fence already reported done;
     * never waits on later work. */
    grt_status (*read_completed)(grt_device *dev, grt_buffer *hv, size_t off, void *dst, size_t n);

    /* queue */
    grt_status (*sync)(grt_device *dev);
    grt_status (*fence_new)(grt_device *dev, grt_fence **out);
    void (*fence_free)(grt_fence *f);
    void (*fence_record)(grt_device *dev, grt_fence *f);
    bool (*fence_done)(grt_device *dev, grt_fence *f);
    grt_status (*fence_wait)(grt_device *dev, grt_fence *f);
    /* Device time between two completed fences, when the device has timers. */
    bool (*fence_elapsed_ms)(grt_device *dev, grt_fence *a, grt_fence *b, double *ms);

    /* capture */
    grt_status (*capture_begin)(grt_device *dev);
    grt_status (*capture_end)(grt_device *dev, grt_graph **out);
    void (*graph_launch)(grt_device *dev, grt_graph *g);
    void (*graph_free)(grt_graph *g);

    /* kernels: see the grt_dev_* wrappers for contracts */
    void (*embed)(grt_device *dev, const grt_tensor *out, const grt_tensor *table,
                  const grt_tensor *ids, float scale, int n_rows);
    void (*rmsnorm)(grt_device *dev, const grt_tensor *out, const grt_tensor *in,
                    const grt_tensor *w, int64_t n_rows, int64_t dim, float eps);
    void (*matmul)(grt_device *dev, const grt_tensor *out, const grt_tensor *in,
                   const grt_tensor *w, const grt_tensor *bias, int64_t n_rows, bool accumulate);
    void (*rope)(grt_device *dev, const grt_tensor *x, const grt_tensor *inv_freq,
                 const grt_tensor *state, grt_rows rows, int n_heads, int head_dim,
                 int rot_dim, bool interleaved);
    void (*kv_store)(grt_device *dev, const grt_tensor *k_cache, const grt_tensor *v_cache,
                     const grt_tensor *k, const grt_tensor *v, const grt_tensor *state,
                     grt_rows rows, int kv_dim, int max_ctx);
    void (*attention)(grt_device *dev, const grt_tensor *out, const grt_tensor *q,
                      const grt_tensor *k_cache, const grt_tensor *v_cache,
                      const grt_tensor *state, grt_rows rows, int n_heads, int n_kv_heads,
                      int head_dim, int max_ctx, float scale, int window);
    void (*glu)(grt_device *dev, const grt_tensor *out, const grt_tensor *gate,
                const grt_tensor *up, int64_t n_rows, int64_t n_ff, grt_act act);
    void (*advance)(grt_device *dev, const grt_tensor *state, grt_rows rows);
    void (*sample)(grt_device *dev, const grt_tensor *logits, int n_vocab,
                   const grt_sample_cfg *cfg, const grt_tensor *state, int seq0, int n_seqs,
                   const grt_tensor *history, int max_ctx, const grt_tensor *next_ids,
                   const grt_tensor *ring, int ring_len);

    /* optional (NULL: nothing to do); see grt_dev_prepare_weight */
    grt_status (*prepare_weight)(grt_device *dev, const grt_tensor *w);
};

struct grt_device {
    const grt_device_i *i;
    void *ctx;               /* backend private */
    const char *name;
    int n_threads;
    grt_status error;        /* sticky: first failure of an enqueued op */
    char error_msg[512];
    bool capturing;
};

typedef struct grt_device_options {
    int n_threads;           /* cpu: workers, 0 = all cores */
} grt_device_options;

/* Open a device by name ("cpu", "cuda", "webgpu"). GRT_ERR_NO_DEVICE with the
 * reason when this build or machine lacks it. */
grt_status grt_device_open(const char *name, const grt_device_options *opts, grt_device **out);
void grt_device_close(grt_device *dev);

/* Record a device failure (sticky) from inside a backend. */
void grt_dev_set_error(grt_device *dev, grt_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* GRT_OK, or the first error with its message copied to grt_last_error(). */
grt_status grt_dev_status(grt_device *dev);

/* ------------------------------------------------------------ wrappers */

grt_status grt_dev_buffer_new(grt_device *dev, size_t size, unsigned flags, grt_buffer **out);
grt_status grt_dev_buffer_from_host(grt_device *dev, const void *host, size_t size, grt_buffer **out);
void grt_dev_buffer_free(grt_buffer *buf);

/* A tensor view; checks that it fits in buf (internal invariant). */
grt_tensor grt_tensor_view(grt_buffer *buf, size_t offset, grt_dtype type, int n_dims,
                           const int64_t *ne);
int64_t grt_tensor_nelem(const grt_tensor *t);
size_t grt_tensor_nbytes(const grt_tensor *t);

void grt_dev_write(grt_device *dev, grt_buffer *dst, size_t off, const void *src, size_t n);
grt_status grt_dev_read(grt_device *dev, grt_buffer *src, size_t off, void *dst, size_t n);
void grt_dev_copy(grt_device *dev, grt_buffer *dst, size_t dst_off, grt_buffer *src,
                  size_t src_off, size_t n);
void grt_dev_fill(grt_device *dev, grt_buffer *dst, size_t off, size_t n, uint32_t pattern);
grt_status grt_dev_read_completed(grt_device *dev, grt_buffer *hv, size_t off, void *dst, size_t n);
grt_status grt_dev_sync(grt_device *dev);

grt_status grt_dev_fence_new(grt_device *dev, grt_fence **out);
void grt_dev_fence_free(grt_device *dev, grt_fence *f);
void grt_dev_fence_record(grt_device *dev, grt_fence *f);
bool grt_dev_fence_done(grt_device *dev, grt_fence *f);
grt_status grt_dev_fence_wait(grt_device *dev, grt_fence *f);
bool grt_dev_fence_elapsed_ms(grt_device *dev, grt_fence *a, grt_fence *b, double *ms);

grt_status grt_dev_capture_begin(grt_device *dev);
grt_status grt_dev_capture_end(grt_device *dev, grt_graph **out);
void grt_dev_graph_launch(grt_device *dev, grt_graph *g);
void grt_dev_graph_free(grt_device *dev, grt_graph *g);

/* Says that w, a weight matrix [N, K] already written, is from now on an
 * operand of matmul and embed, named with its type and row length (any
 * range of its rows). The backend may rearrange its bytes in place for its
 * kernels (no second copy); read, write, copy and fill keep seeing the
 * bytes as written. Called at load, before any capture reads w; calling it
 * again for the same tensor does nothing. */
grt_status grt_dev_prepare_weight(grt_device *dev, const grt_tensor *w);

/* out[r, :] = table[ids[r], :] * scale, as f32.
 *   out [n_rows, n_embd] f32; table [n_vocab, n_embd] any type; ids [n_rows] i32.
 * Ids are in range (the host validates what it uploads; sampled ids are). */
void grt_dev_embed(grt_device *dev, const grt_tensor *out, const grt_tensor *table,
                   const grt_tensor *ids, float scale, int n_rows);

/* out[r, :] = in[r, :] / sqrt(mean(in[r, :]^2) + eps) * w, in f32.
 *   in, out [n_rows, dim] f32 (may alias); w [dim] f32. */
void grt_dev_rmsnorm(grt_device *dev, const grt_tensor *out, const grt_tensor *in,
                     const grt_tensor *w, int64_t n_rows, int64_t dim, float eps);

/* out[r, n] (+)= sum_k in[r, k] * w[n, k] + bias[n].
 *   in [n_rows, K] f32; w [N, K] f32/f16/bf16/q8_0/q4_0; bias [N] f32 or NULL;
 *   out [n_rows, N] f32, accumulated into when `accumulate` (residual adds).
 * Quantized weights may be multiplied against activations quantized to Q8_0
 * per block of 32 (as GGUF runtimes do); tolerance is per weight type. */
void grt_dev_matmul(grt_device *dev, const grt_tensor *out, const grt_tensor *in,
                    const grt_tensor *w, const grt_tensor *bias, int64_t n_rows, bool accumulate);

/* Rotary embedding in place on x [n_rows, n_heads, head_dim] f32, on the
 * first rot_dim dims of each head, at each row's position (from state).
 * Angle for pair i: pos * inv_freq[i], inv_freq [rot_dim / 2] f32.
 *   interleaved = false: pairs (i, i + rot_dim/2) (Hugging Face rotate_half);
 *   interleaved = true:  pairs (2i, 2i + 1) (GGUF llama, whose Q/K rows were
 *   permuted by the converter). */
void grt_dev_rope(grt_device *dev, const grt_tensor *x, const grt_tensor *inv_freq,
                  const grt_tensor *state, grt_rows rows, int n_heads, int head_dim,
                  int rot_dim, bool interleaved);

/* Write rows of k, v [n_rows, kv_dim] into the layer's caches at each row's
 * position: cache [n_seqs_total, max_ctx, kv_dim] (f32, or f16 where the
 * backend chose it), entry (seq, pos). Rows at pos >= max_ctx are dropped. */
void grt_dev_kv_store(grt_device *dev, const grt_tensor *k_cache, const grt_tensor *v_cache,
                      const grt_tensor *k, const grt_tensor *v, const grt_tensor *state,
                      grt_rows rows, int kv_dim, int max_ctx);

/* Causal attention for each row (after kv_store of the same rows): query row
 * at position p of sequence s attends to cache entries (s, j) for
 * j in [max(0, p - window + 1), p] (window = 0: no limit), head h using KV
 * head h / (n_heads / n_kv_heads), softmax(q.k * scale) . v in f32.
 *   q, out [n_rows, n_heads * head_dim] f32. */
void grt_dev_attention(grt_device *dev, const grt_tensor *out, const grt_tensor *q,
                       const grt_tensor *k_cache, const grt_tensor *v_cache,
                       const grt_tensor *state, grt_rows rows, int n_heads, int n_kv_heads,
                       int head_dim, int max_ctx, float scale, int window);

/* out = act(gate) * up, elementwise over [n_rows, n_ff] f32 (out may alias). */
void grt_dev_glu(grt_device *dev, const grt_tensor *out, const grt_tensor *gate,
                 const grt_tensor *up, int64_t n_rows, int64_t n_ff, grt_act act);

/* state[s].pos += tokens per sequence, for the sequences of rows. The last
 * op of a forward pass, before the logits are sampled. */
void grt_dev_advance(grt_device *dev, const grt_tensor *state, grt_rows rows);

/* For each sequence s in [seq0, seq0 + n_seqs): take logits row s - seq0
 * ([n_seqs, n_vocab] f32, may be modified in place), apply cfg, draw a token
 * with the uniform philox(seed, s, state[s].rng_ctr), then:
 *   history[s, state[s].pos] = token   (history [n_seqs_total, max_ctx] i32:
 *                                       every token of the sequence by position;
 *                                       the repetition penalty reads it)
 *   next_ids[s] = token                (next decode step's embed input)
 *   ring[s, state[s].n_new % ring_len] = token  (host-visible ring)
 *   state[s].n_new++, state[s].rng_ctr++, state[s].done |= token is EOS.
 * Writes are skipped for the history when pos >= max_ctx. */
void grt_dev_sample(grt_device *dev, const grt_tensor *logits, int n_vocab,
                    const grt_sample_cfg *cfg, const grt_tensor *state, int seq0, int n_seqs,
                    const grt_tensor *history, int max_ctx, const grt_tensor *next_ids,
                    const grt_tensor *ring, int ring_len);

/* Backends register themselves here (device.c). Each returns
 * GRT_ERR_NO_DEVICE with a reason when it cannot open. */
grt_status grt_cpu_device_open(const grt_device_options *opts, grt_device **out);

#endif
