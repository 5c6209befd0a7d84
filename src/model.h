/* The model: weights on a device and the forward pass, written once against
 * the device ops for every supported architecture (options, not forks).
 *
 * A grt_ctx holds what a forward pass writes: activations for up to
 * max_rows tokens, the KV cache for (n_seqs, max_ctx), the step state, the
 * token history, the next-input ids and the host-visible token ring. It is
 * allocated once; nothing is allocated inside a step. */
#ifndef GRT_MODEL_H
#define GRT_MODEL_H

#include "device/device.h"
#include "genrt.h"
#include "weights.h"

typedef struct grt_layer {
    grt_tensor attn_norm;              /* [n_embd] f32 */
    grt_tensor wq, wk, wv, wo;         /* [n_heads*hd | n_kv*hd, n_embd], wo [n_embd, n_heads*hd] */
    grt_tensor bq, bk, bv, bo;         /* biases [rows] f32; type GRT_DTYPE_INVALID when absent */
    grt_tensor q_norm, k_norm;         /* [head_dim] f32 (qwen3) */
    grt_tensor ffn_norm;               /* [n_embd] f32 */
    grt_tensor w_gate, w_up, w_down;   /* [n_ff, n_embd] x2, [n_embd, n_ff] */
} grt_layer;

struct grt_model {
    grt_weights *weights;
    grt_config cfg;
    grt_device *dev;
    grt_tokenizer *tok;         /* NULL when the model has none */
    grt_buffer **bufs;          /* device buffers holding the weights */
    int n_bufs;
    grt_buffer *aux;            /* small tensors computed at load (rope inv_freq) */
    grt_tensor tok_embd;        /* [n_vocab, n_embd] */
    grt_tensor output;          /* [n_vocab, n_embd] (tok_embd when tied) */
    grt_tensor output_norm;     /* [n_embd] f32 */
    grt_tensor inv_freq;        /* [rot_dim / 2] f32 */
    grt_layer *layers;          /* [n_layers] */
    double load_ms;
    uint64_t n_params, weight_bytes, bytes_per_token;
    char weight_type[16];
    char device_name[16];
};

typedef struct grt_ctx {
    grt_model *model;
    int n_seqs, max_ctx, max_rows, logit_rows;
    grt_buffer *act;            /* activations, see the offsets below */
    size_t off_x, off_xn, off_q, off_k, off_v, off_att, off_gate, off_up, off_logits;
    grt_buffer *kv;             /* per layer: K then V, each [n_seqs, max_ctx, kv_dim] f32 */
    grt_buffer *state;          /* [n_seqs] grt_step_state */
    grt_buffer *ids;            /* [max_rows] i32: prompt chunk input */
    grt_buffer *next_ids;       /* [n_seqs] i32: decode input, written by sample */
    grt_buffer *history;        /* [n_seqs, max_ctx] i32 */
    grt_buffer *ring;           /* host-visible [n_seqs, ring_len] i32 */
    int ring_len;
} grt_ctx;

enum { GRT_LOGITS_NONE = 0, GRT_LOGITS_LAST, GRT_LOGITS_ALL };

grt_status grt_ctx_new(grt_model *m, int n_seqs, int max_ctx, int max_rows, int logit_rows,
                       int ring_len, grt_ctx **out);
void grt_ctx_free(grt_ctx *c);

/* Tensor views into the context. */
grt_tensor grt_ctx_logits(const grt_ctx *c, int n_rows);
grt_tensor grt_ctx_state(const grt_ctx *c);
grt_tensor grt_ctx_ids(const grt_ctx *c, int n_rows);
grt_tensor grt_ctx_next_ids(const grt_ctx *c);
grt_tensor grt_ctx_history(const grt_ctx *c);
grt_tensor grt_ctx_ring(const grt_ctx *c);

/* GRT_ERR_RANGE naming the first id outside [0, n_vocab). */
grt_status grt_model_check_ids(const grt_model *m, const int32_t *ids, size_t n);

/* Enqueue one forward pass over rows whose ids are in `ids`, ending with
 * grt_dev_advance. logits_mode: NONE; LAST = logits of each sequence's last
 * row into logits rows 0..n_seqs-1; ALL = logits of every row. */
void grt_forward(grt_ctx *c, const grt_tensor *ids, grt_rows rows, int logits_mode);

#endif
