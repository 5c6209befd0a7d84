#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tokenizer.h"
#include "trace.h"

/* ------------------------------------------------------------ loading */

grt_model_options grt_model_options_default(void) {
    grt_model_options o;
    memset(&o, 0, sizeof o);
    o.device = "cpu";
    return o;
}

static grt_tensor no_tensor(void) {
    grt_tensor t;
    memset(&t, 0, sizeof t);
    t.type = GRT_DTYPE_INVALID;
    return t;
}

/* The device tensor of weight `name`, or an absent tensor when !required. */
static grt_status weight_tensor(grt_model *m, const char *name, bool required, grt_tensor *t) {
    *t = no_tensor();
    const grt_weight *w = grt_weights_get(m->weights, name);
    if (!w) {
        if (!required) return GRT_OK;
        return grt_fail(GRT_ERR_FORMAT, "%s: missing tensor %s", grt_weights_path(m->weights), name);
    }
    for (int i = 0; i < m->n_bufs; i++) {
        if (grt_weights_at(m->weights, i) == w) {
            *t = grt_tensor_view(m->bufs[i], 0, w->type, w->n_dims, w->ne);
            return GRT_OK;
        }
    }
    return grt_fail(GRT_ERR_INTERNAL, "tensor %s not uploaded", name);
}

/* Rows [r0, r0 + n) of a matrix, as its own view (fused QKV / gate-up). */
static grt_tensor row_range(const grt_tensor *t, int64_t r0, int64_t n) {
    grt_tensor v = *t;
    v.offset += (size_t)r0 * grt_row_bytes(t->type, t->ne[1]);
    v.ne[0] = n;
    return v;
}

/* Rotary inverse frequencies [rot_dim / 2], computed as Hugging Face does
 * (float32 powers), with llama3 and linear scaling, or llama.cpp's
 * rope_freqs.weight factors when the GGUF carries them. */
static void rope_inv_freq(const grt_config *c, const grt_weight *freq_factors, float *out) {
    int half = c->rot_dim / 2;
    for (int i = 0; i < half; i++) {
        float expo = (float)(2 * i) / (float)c->rot_dim;
        float f = 1.0f / powf(c->rope_theta, expo);
        if (c->rope_scaling == GRT_ROPE_SCALING_LINEAR) f /= c->rope_factor;
        if (c->rope_scaling == GRT_ROPE_SCALING_LLAMA3 && !freq_factors) {
            double lo = c->rope_low_freq_factor, hi = c->rope_high_freq_factor;
            double orig = c->rope_orig_max_pos, factor = c->rope_factor;
            double lo_wl = orig / lo, hi_wl = orig / hi;
            double wl = 2.0 * M_PI / f;
            if (wl > lo_wl) {
                f = (float)(f / factor);
            } else if (wl >= hi_wl) {
                double s = (orig / wl - lo) / (hi - lo);
                f = (float)((1.0 - s) * f / factor + s * f);
            }
        }
        if (freq_factors) {
            float ff;
            grt_dequantize_row(freq_factors->type, (const char *)freq_factors->data +
                                                       (size_t)i * grt_dtype_block_bytes(freq_factors->type),
                               &ff, 1);
            f /= ff;
        }
        out[i] = f;
    }
}

static grt_status build_layers(grt_model *m) {
    const grt_config *c = &m->cfg;
    grt_status s;
    m->layers = grt_calloc((size_t)c->n_layers, sizeof *m->layers);
    if (!m->layers) return GRT_ERR_NO_MEMORY;
    int q_rows = c->n_heads * c->head_dim, kv_rows = c->n_kv_heads * c->head_dim;
    for (int l = 0; l < c->n_layers; l++) {
        grt_layer *L = &m->layers[l];
        char n[96];
#define W(field, suffix, req)                                                              \
    snprintf(n, sizeof n, "blk.%d.%s", l, suffix);                                         \
    if ((s = weight_tensor(m, n, req, &L->field)) != GRT_OK) return s;
        W(attn_norm, "attn_norm.weight", true);
        W(ffn_norm, "ffn_norm.weight", true);
        W(wo, "attn_output.weight", true);
        W(bo, "attn_output.bias", false);
        W(w_down, "ffn_down.weight", true);
        if (c->fused_qkv) {
            grt_tensor qkv;
            snprintf(n, sizeof n, "blk.%d.attn_qkv.weight", l);
            if ((s = weight_tensor(m, n, true, &qkv)) != GRT_OK) return s;
            L->wq = row_range(&qkv, 0, q_rows);
            L->wk = row_range(&qkv, q_rows, kv_rows);
            L->wv = row_range(&qkv, q_rows + kv_rows, kv_rows);
            L->bq = L->bk = L->bv = no_tensor();
        } else {
            W(wq, "attn_q.weight", true);
            W(wk, "attn_k.weight", true);
            W(wv, "attn_v.weight", true);
            W(bq, "attn_q.bias", false);
            W(bk, "attn_k.bias", false);
            W(bv, "attn_v.bias", false);
        }
        if (c->qk_norm) {
            W(q_norm, "attn_q_norm.weight", true);
            W(k_norm, "attn_k_norm.weight", true);
        }
        if (c->fused_gate_up) {
            grt_tensor gu;
            snprintf(n, sizeof n, "blk.%d.ffn_up.weight", l);
            if ((s = weight_tensor(m, n, true, &gu)) != GRT_OK) return s;
            L->w_gate = row_range(&gu, 0, c->n_ff);
            L->w_up = row_range(&gu, c->n_ff, c->n_ff);
        } else {
            W(w_gate, "ffn_gate.weight", true);
            W(w_up, "ffn_up.weight", true);
        }
#undef W
    }
    return GRT_OK;
}

/* Every matrix the forward pass reads, offered to the device for its own
 * layout (the tied output is the embedding table: offered twice, no-op). */
static grt_status prepare_weights(grt_model *m) {
    grt_status s;
    const grt_tensor *top[] = {&m->tok_embd, &m->output};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        if ((s = grt_dev_prepare_weight(m->dev, top[i])) != GRT_OK) return s;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const grt_layer *L = &m->layers[l];
        const grt_tensor *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++)
            if ((s = grt_dev_prepare_weight(m->dev, mats[i])) != GRT_OK) return s;
    }
    return grt_dev_sync(m->dev);
}

static uint64_t tensor_bytes(const grt_tensor *t) {
    return t->type == GRT_DTYPE_INVALID ? 0 : grt_tensor_nbytes(t);
}

static void count_bytes(grt_model *m) {
    const grt_config *c = &m->cfg;
    uint64_t per_tok = 0;
    for (int l = 0; l < c->n_layers; l++) {
        const grt_layer *L = &m->layers[l];
        const grt_tensor *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) per_tok += tensor_bytes(mats[i]);
    }
    per_tok += tensor_bytes(&m->output);
    m->bytes_per_token = per_tok;
    uint64_t total = 0, params = 0;
    size_t best = 0;
    grt_dtype best_t = GRT_F32;
    for (int i = 0; i < grt_weights_count(m->weights); i++) {
        const grt_weight *w = grt_weights_at(m->weights, i);
        uint64_t ne = 1;
        for (int d = 0; d < w->n_dims; d++) ne *= (uint64_t)w->ne[d];
        params += ne;
        total += w->nbytes;
        if (w->n_dims == 2 && w->nbytes > best) { best = w->nbytes; best_t = w->type; }
    }
    /* The type most of the layer weights have (the largest single matrix may be
     * the embedding, which converters often keep wider). */
    if (c->n_layers > 0) best_t = m->layers[0].w_down.type;
    m->n_params = params;
    m->weight_bytes = total;
    snprintf(m->weight_type, sizeof m->weight_type, "%s", grt_dtype_name(best_t));
}

static grt_status load_tokenizer(grt_model *m) {
    const grt_gguf *g = grt_weights_gguf(m->weights);
    if (g) {
        const char *kind;
        size_t len;
        if (!grt_gguf_get_str(g, "tokenizer.ggml.model", &kind, &len)) return GRT_OK;
        if (len == 4 && memcmp(kind, "none", 4) == 0) return GRT_OK; /* no vocabulary */
        return grt_tokenizer_from_gguf(g, &m->tok);
    }
    const char *dir = grt_weights_dir(m->weights);
    if (!dir) return GRT_OK;
    char p[4096];
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    FILE *f = fopen(p, "rb");
    if (!f) return GRT_OK;
    fclose(f);
    return grt_tokenizer_from_json(p, &m->tok);
}

grt_status grt_model_load(const char *path, const grt_model_options *opts, grt_model **out) {
    *out = NULL;
    grt_model_options o = opts ? *opts : grt_model_options_default();
    if (!o.device) o.device = "cpu";
    if (!path) return grt_fail(GRT_ERR_INVALID_ARG, "model path is NULL");
    if (o.n_threads < 0 || o.n_threads > 1024)
        return grt_fail(GRT_ERR_INVALID_ARG, "--threads %d: expected 0 (all cores) to 1024", o.n_threads);
    double t0 = grt_now_us();
    grt_status s;
    grt_model *m = grt_calloc(1, sizeof *m);
    if (!m) return GRT_ERR_NO_MEMORY;
    if (o.random_weights) {
        grt_dtype t = grt_dtype_from_name(o.random_dtype ? o.random_dtype : "bf16");
        if (t == GRT_DTYPE_INVALID || t == GRT_I32) {
            s = grt_fail(GRT_ERR_INVALID_ARG, "random weight type '%s': expected f32, f16, bf16, q8_0 or q4_0",
                         o.random_dtype);
            goto fail;
        }
        s = grt_weights_random(path, t, &m->weights);
    } else {
        s = grt_weights_open(path, &m->weights);
    }
    if (s) goto fail;
    m->cfg = *grt_weights_config(m->weights);
    grt_device_options dopt = {.n_threads = o.n_threads};
    if ((s = grt_device_open(o.device, &dopt, &m->dev)) != GRT_OK) goto fail;
    snprintf(m->device_name, sizeof m->device_name, "%s", o.device);

    m->n_bufs = grt_weights_count(m->weights);
    m->bufs = grt_calloc((size_t)m->n_bufs + 1, sizeof *m->bufs);
    if (!m->bufs) { s = GRT_ERR_NO_MEMORY; goto fail; }
    for (int i = 0; i < m->n_bufs; i++) {
        const grt_weight *w = grt_weights_at(m->weights, i);
        s = grt_dev_buffer_from_host(m->dev, w->data, w->nbytes, &m->bufs[i]);
        if (s) {
            grt_fail_ctx(s, "%s: tensor %s (%zu bytes)", grt_weights_path(m->weights), w->name, w->nbytes);
            goto fail;
        }
    }
    if ((s = weight_tensor(m, "token_embd.weight", true, &m->tok_embd)) != GRT_OK) goto fail;
    if ((s = weight_tensor(m, "output_norm.weight", true, &m->output_norm)) != GRT_OK) goto fail;
    if ((s = weight_tensor(m, "output.weight", !m->cfg.tied_embeddings, &m->output)) != GRT_OK) goto fail;
    if (m->output.type == GRT_DTYPE_INVALID) m->output = m->tok_embd;
    if ((s = build_layers(m)) != GRT_OK) goto fail;
    if ((s = prepare_weights(m)) != GRT_OK) goto fail;

    {
        int half = m->cfg.rot_dim / 2;
        float *freq = grt_malloc((size_t)(half > 0 ? half : 1) * sizeof *freq);
        if (!freq) { s = GRT_ERR_NO_MEMORY; goto fail; }
        rope_inv_freq(&m->cfg, grt_weights_get(m->weights, "rope_freqs.weight"), freq);
        s = grt_dev_buffer_new(m->dev, (size_t)half * sizeof(float) + 64, GRT_BUF_DEVICE, &m->aux);
        if (s == GRT_OK) {
            grt_dev_write(m->dev, m->aux, 0, freq, (size_t)half * sizeof(float));
            int64_t ne[1] = {half};
            m->inv_freq = grt_tensor_view(m->aux, 0, GRT_F32, 1, ne);
            s = grt_dev_sync(m->dev);
        }
        free(freq);
        if (s) goto fail;
    }
    if ((s = load_tokenizer(m)) != GRT_OK) goto fail;
    count_bytes(m);
    m->load_ms = (grt_now_us() - t0) / 1e3;
    grt_trace_span("load", "model", GRT_TRACE_HOST, t0, m->load_ms * 1e3, NULL);
    *out = m;
    return GRT_OK;
fail:
    grt_model_free(m);
    return s;
}

void grt_model_free(grt_model *m) {
    if (!m) return;
    grt_tokenizer_free(m->tok);
    free(m->layers);
    if (m->bufs)
        for (int i = 0; i < m->n_bufs; i++) grt_dev_buffer_free(m->bufs[i]);
    free(m->bufs);
    grt_dev_buffer_free(m->aux);
    grt_device_close(m->dev);
    grt_weights_free(m->weights);
    free(m);
}

const grt_tokenizer *grt_model_tokenizer(const grt_model *m) { return m ? m->tok : NULL; }

void grt_model_get_info(const grt_model *m, grt_model_info *info) {
    const grt_config *c = &m->cfg;
    memset(info, 0, sizeof *info);
    info->arch = c->arch;
    info->format = grt_weights_format(m->weights);
    info->device = m->device_name;
    info->weight_type = m->weight_type;
    info->n_vocab = c->n_vocab;
    info->n_embd = c->n_embd;
    info->n_layers = c->n_layers;
    info->n_heads = c->n_heads;
    info->n_kv_heads = c->n_kv_heads;
    info->head_dim = c->head_dim;
    info->n_ff = c->n_ff;
    info->rot_dim = c->rot_dim;
    info->max_position = c->max_position;
    info->sliding_window = c->sliding_window;
    info->tied_embeddings = c->tied_embeddings;
    info->rope_theta = c->rope_theta;
    info->rope_scaling = c->rope_scaling == GRT_ROPE_SCALING_LLAMA3   ? "llama3"
                         : c->rope_scaling == GRT_ROPE_SCALING_LINEAR ? "linear"
                                                                      : "none";
    info->n_eos = c->n_eos;
    info->eos_ids = c->eos_ids;
    info->bos_id = c->bos_id;
    info->n_params = m->n_params;
    info->weight_bytes = m->weight_bytes;
    info->bytes_per_token = m->bytes_per_token;
    info->tokenizer = m->tok ? grt_tokenizer_kind(m->tok) : "none";
}

uint64_t grt_model_kv_bytes(const grt_model *m, int n_seqs, int max_context) {
    const grt_config *c = &m->cfg;
    return 2ull * (uint64_t)c->n_layers * (uint64_t)n_seqs * (uint64_t)max_context *
           (uint64_t)(c->n_kv_heads * c->head_dim) * sizeof(float);
}

/* ------------------------------------------------------------ context */

static size_t align_up(size_t x) { return (x + 255) & ~(size_t)255; }

grt_status grt_ctx_new(grt_model *m, int n_seqs, int max_ctx, int max_rows, int logit_rows,
                       int ring_len, grt_ctx **out) {
    *out = NULL;
    const grt_config *cf = &m->cfg;
    grt_ctx *c = grt_calloc(1, sizeof *c);
    if (!c) return GRT_ERR_NO_MEMORY;
    c->model = m;
    c->n_seqs = n_seqs;
    c->max_ctx = max_ctx;
    c->max_rows = max_rows;
    c->logit_rows = logit_rows;
    c->ring_len = ring_len;
    size_t R = (size_t)max_rows, H = (size_t)cf->n_embd, QD = (size_t)cf->n_heads * cf->head_dim;
    size_t KVD = (size_t)cf->n_kv_heads * cf->head_dim, F = (size_t)cf->n_ff;
    size_t off = 0;
    c->off_x = off; off = align_up(off + R * H * 4);
    c->off_xn = off; off = align_up(off + R * H * 4);
    c->off_q = off; off = align_up(off + R * QD * 4);
    c->off_k = off; off = align_up(off + R * KVD * 4);
    c->off_v = off; off = align_up(off + R * KVD * 4);
    c->off_att = off; off = align_up(off + R * QD * 4);
    c->off_gate = off; off = align_up(off + R * F * 4);
    c->off_up = off; off = align_up(off + R * F * 4);
    c->off_logits = off; off = align_up(off + (size_t)logit_rows * (size_t)cf->n_vocab * 4);
    grt_status s;
    uint64_t kv = grt_model_kv_bytes(m, n_seqs, max_ctx);
    if ((s = grt_dev_buffer_new(m->dev, off, GRT_BUF_DEVICE, &c->act)) != GRT_OK) goto fail;
    if ((s = grt_dev_buffer_new(m->dev, kv, GRT_BUF_DEVICE, &c->kv)) != GRT_OK) {
        grt_fail_ctx(s, "KV cache for %d sequence(s) x %d tokens (%.1f MiB)", n_seqs, max_ctx,
                     (double)kv / 1048576.0);
        goto fail;
    }
    if ((s = grt_dev_buffer_new(m->dev, (size_t)n_seqs * sizeof(grt_step_state), GRT_BUF_DEVICE, &c->state)))
        goto fail;
    if ((s = grt_dev_buffer_new(m->dev, R * 4, GRT_BUF_DEVICE, &c->ids))) goto fail;
    if ((s = grt_dev_buffer_new(m->dev, (size_t)n_seqs * 4, GRT_BUF_DEVICE, &c->next_ids))) goto fail;
    if ((s = grt_dev_buffer_new(m->dev, (size_t)n_seqs * (size_t)max_ctx * 4, GRT_BUF_DEVICE, &c->history)))
        goto fail;
    if ((s = grt_dev_buffer_new(m->dev, (size_t)n_seqs * (size_t)ring_len * 4, GRT_BUF_HOST_VISIBLE, &c->ring)))
        goto fail;
    grt_dev_fill(m->dev, c->kv, 0, kv, 0);
    grt_dev_fill(m->dev, c->state, 0, (size_t)n_seqs * sizeof(grt_step_state), 0);
    grt_dev_fill(m->dev, c->next_ids, 0, (size_t)n_seqs * 4, 0);
    grt_dev_fill(m->dev, c->history, 0, (size_t)n_seqs * (size_t)max_ctx * 4, 0);
    grt_dev_fill(m->dev, c->ring, 0, (size_t)n_seqs * (size_t)ring_len * 4, 0);
    *out = c;
    return GRT_OK;
fail:
    grt_ctx_free(c);
    return s;
}

void grt_ctx_free(grt_ctx *c) {
    if (!c) return;
    grt_dev_buffer_free(c->act);
    grt_dev_buffer_free(c->kv);
    grt_dev_buffer_free(c->state);
    grt_dev_buffer_free(c->ids);
    grt_dev_buffer_free(c->next_ids);
    grt_dev_buffer_free(c->history);
    grt_dev_buffer_free(c->ring);
    free(c);
}

static grt_tensor mat(grt_buffer *b, size_t off, grt_dtype t, int64_t rows, int64_t cols) {
    int64_t ne[2] = {rows, cols};
    return grt_tensor_view(b, off, t, 2, ne);
}

grt_tensor grt_ctx_logits(const grt_ctx *c, int n_rows) {
    return mat(c->act, c->off_logits, GRT_F32, n_rows, c->model->cfg.n_vocab);
}
grt_tensor grt_ctx_state(const grt_ctx *c) {
    int64_t ne[2] = {c->n_seqs, sizeof(grt_step_state) / 4};
    return grt_tensor_view(c->state, 0, GRT_I32, 2, ne);
}
grt_tensor grt_ctx_ids(const grt_ctx *c, int n_rows) {
    int64_t ne[1] = {n_rows};
    return grt_tensor_view(c->ids, 0, GRT_I32, 1, ne);
}
grt_tensor grt_ctx_next_ids(const grt_ctx *c) {
    int64_t ne[1] = {c->n_seqs};
    return grt_tensor_view(c->next_ids, 0, GRT_I32, 1, ne);
}
grt_tensor grt_ctx_history(const grt_ctx *c) { return mat(c->history, 0, GRT_I32, c->n_seqs, c->max_ctx); }
grt_tensor grt_ctx_ring(const grt_ctx *c) { return mat(c->ring, 0, GRT_I32, c->n_seqs, c->ring_len); }

/* ------------------------------------------------------------ forward */

static bool present(const grt_tensor *t) { return t->type != GRT_DTYPE_INVALID; }

void grt_forward(grt_ctx *c, const grt_tensor *ids, grt_rows rows, int logits_mode) {
    grt_model *m = c->model;
    grt_device *dev = m->dev;
    const grt_config *cf = &m->cfg;
    const int n = rows.n_rows, H = cf->n_embd, hd = cf->head_dim;
    const int QD = cf->n_heads * hd, KVD = cf->n_kv_heads * hd, F = cf->n_ff;
    GRT_ASSERT(n >= 1 && n <= c->max_rows && rows.n_seqs >= 1 && n % rows.n_seqs == 0);
    grt_tensor x = mat(c->act, c->off_x, GRT_F32, n, H);
    grt_tensor xn = mat(c->act, c->off_xn, GRT_F32, n, H);
    grt_tensor q = mat(c->act, c->off_q, GRT_F32, n, QD);
    grt_tensor k = mat(c->act, c->off_k, GRT_F32, n, KVD);
    grt_tensor v = mat(c->act, c->off_v, GRT_F32, n, KVD);
    grt_tensor att = mat(c->act, c->off_att, GRT_F32, n, QD);
    grt_tensor gate = mat(c->act, c->off_gate, GRT_F32, n, F);
    grt_tensor up = mat(c->act, c->off_up, GRT_F32, n, F);
    grt_tensor state = grt_ctx_state(c);
    const size_t cache_bytes = (size_t)c->n_seqs * (size_t)c->max_ctx * (size_t)KVD * 4;

    grt_dev_embed(dev, &x, &m->tok_embd, ids, cf->embed_scale, n);
    for (int l = 0; l < cf->n_layers; l++) {
        const grt_layer *L = &m->layers[l];
        grt_tensor kc = mat(c->kv, (size_t)l * 2 * cache_bytes, GRT_F32, (int64_t)c->n_seqs * c->max_ctx, KVD);
        grt_tensor vc = mat(c->kv, ((size_t)l * 2 + 1) * cache_bytes, GRT_F32, (int64_t)c->n_seqs * c->max_ctx, KVD);

        grt_dev_rmsnorm(dev, &xn, &x, &L->attn_norm, n, H, cf->norm_eps);
        grt_dev_matmul(dev, &q, &xn, &L->wq, present(&L->bq) ? &L->bq : NULL, n, false);
        grt_dev_matmul(dev, &k, &xn, &L->wk, present(&L->bk) ? &L->bk : NULL, n, false);
        grt_dev_matmul(dev, &v, &xn, &L->wv, present(&L->bv) ? &L->bv : NULL, n, false);
        if (cf->qk_norm) {
            grt_tensor qh = mat(c->act, c->off_q, GRT_F32, (int64_t)n * cf->n_heads, hd);
            grt_tensor kh = mat(c->act, c->off_k, GRT_F32, (int64_t)n * cf->n_kv_heads, hd);
            grt_dev_rmsnorm(dev, &qh, &qh, &L->q_norm, (int64_t)n * cf->n_heads, hd, cf->norm_eps);
            grt_dev_rmsnorm(dev, &kh, &kh, &L->k_norm, (int64_t)n * cf->n_kv_heads, hd, cf->norm_eps);
        }
        grt_dev_rope(dev, &q, &m->inv_freq, &state, rows, cf->n_heads, hd, cf->rot_dim, cf->rope_interleaved);
        grt_dev_rope(dev, &k, &m->inv_freq, &state, rows, cf->n_kv_heads, hd, cf->rot_dim, cf->rope_interleaved);
        grt_dev_kv_store(dev, &kc, &vc, &k, &v, &state, rows, KVD, c->max_ctx);
        grt_dev_attention(dev, &att, &q, &kc, &vc, &state, rows, cf->n_heads, cf->n_kv_heads, hd, c->max_ctx,
                          cf->attn_scale, cf->sliding_window);
        grt_dev_matmul(dev, &x, &att, &L->wo, present(&L->bo) ? &L->bo : NULL, n, true);

        grt_dev_rmsnorm(dev, &xn, &x, &L->ffn_norm, n, H, cf->norm_eps);
        grt_dev_matmul(dev, &gate, &xn, &L->w_gate, NULL, n, false);
        grt_dev_matmul(dev, &up, &xn, &L->w_up, NULL, n, false);
        grt_dev_glu(dev, &gate, &gate, &up, n, F, cf->act);
        grt_dev_matmul(dev, &x, &gate, &L->w_down, NULL, n, true);
    }
    grt_dev_advance(dev, &state, rows);
    if (logits_mode == GRT_LOGITS_NONE) return;

    /* Rows that need logits: all, or each sequence's last row. */
    int first = 0, n_out = n;
    if (logits_mode == GRT_LOGITS_LAST && n != rows.n_seqs) {
        GRT_ASSERT(rows.n_seqs == 1); /* prefill runs one sequence at a time */
        first = n - 1;
        n_out = 1;
    }
    GRT_ASSERT(n_out <= c->logit_rows);
    grt_tensor xl = mat(c->act, c->off_x + (size_t)first * H * 4, GRT_F32, n_out, H);
    grt_tensor xnl = mat(c->act, c->off_xn, GRT_F32, n_out, H);
    grt_tensor logits = grt_ctx_logits(c, n_out);
    grt_dev_rmsnorm(dev, &xnl, &xl, &m->output_norm, n_out, H, cf->norm_eps);
    grt_dev_matmul(dev, &logits, &xnl, &m->output, NULL, n_out, false);
}

/* ------------------------------------------------------------ eval */

grt_status grt_model_check_ids(const grt_model *m, const int32_t *ids, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->cfg.n_vocab)
            return grt_fail(GRT_ERR_RANGE, "token id %d at index %zu is outside the vocabulary [0, %d)",
                            ids[i], i, m->cfg.n_vocab);
    return GRT_OK;
}

grt_status grt_model_eval(grt_model *m, const int32_t *ids, size_t n_ids, float *logits) {
    if (!m || !ids || !logits) return grt_fail(GRT_ERR_INVALID_ARG, "grt_model_eval: NULL argument");
    if (n_ids == 0) return grt_fail(GRT_ERR_INVALID_ARG, "eval: no ids");
    if (n_ids > (size_t)1 << 20) return grt_fail(GRT_ERR_INVALID_ARG, "eval: %zu ids is too many", n_ids);
    grt_status s = grt_model_check_ids(m, ids, n_ids);
    if (s) return s;
    int chunk = n_ids < 64 ? (int)n_ids : 64;
    grt_ctx *c;
    if ((s = grt_ctx_new(m, 1, (int)n_ids, chunk, chunk, 1, &c)) != GRT_OK) return s;
    size_t V = (size_t)m->cfg.n_vocab;
    for (size_t i = 0; i < n_ids; i += (size_t)chunk) {
        int n = (int)(n_ids - i < (size_t)chunk ? n_ids - i : (size_t)chunk);
        grt_dev_write(m->dev, c->ids, 0, ids + i, (size_t)n * 4);
        grt_tensor t = grt_ctx_ids(c, n);
        grt_forward(c, &t, (grt_rows){.n_rows = n, .seq0 = 0, .n_seqs = 1}, GRT_LOGITS_ALL);
        s = grt_dev_read(m->dev, c->act, c->off_logits, logits + i * V, (size_t)n * V * 4);
        if (s == GRT_OK) s = grt_dev_status(m->dev);
        if (s) break;
    }
    grt_ctx_free(c);
    return s;
}
