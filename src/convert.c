/* HF directory (or GGUF) -> GGUF, with llama.cpp's conventions so its tools
 * read the result: arch names and keys, Q/K rows permuted for arch llama,
 * llama3 RoPE as a rope_freqs tensor, Gemma norms holding 1 + w.
 *
 * Types: matrices (2-D weights, token_embd included) go to the target type;
 * a matrix whose rows are not a multiple of 32 cannot be block-quantized and
 * is written as f16 instead. 1-D tensors (norms, biases) are f32. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "gguf.h"
#include "tokenizer.h"
#include "weights.h"

typedef struct conv {
    grt_gguf_writer *w;
    void **bufs;
    int n_bufs, cap_bufs;
} conv;

static void *conv_alloc(conv *c, size_t n) {
    if (c->n_bufs == c->cap_bufs) {
        int nc = c->cap_bufs ? 2 * c->cap_bufs : 64;
        void **nb = realloc(c->bufs, (size_t)nc * sizeof *nb);
        if (!nb) { grt_fail(GRT_ERR_NO_MEMORY, "convert: out of host memory"); return NULL; }
        c->bufs = nb;
        c->cap_bufs = nc;
    }
    void *p = grt_malloc(n);
    if (p) c->bufs[c->n_bufs++] = p;
    return p;
}

/* llama.cpp's LlamaModel.permute: within each head of hd rows, row
 * j*hd/2 + i moves to 2*i + j, so RoPE pairs adjacent rows. */
static int64_t permuted_src_row(int64_t r, int64_t hd) {
    int64_t h = r / hd, k = r % hd, i = k / 2, j = k % 2;
    return h * hd + j * (hd / 2) + i;
}

static int ftype_of(grt_dtype t) {
    switch (t) {
    case GRT_F32: return 0;
    case GRT_F16: return 1;
    case GRT_Q4_0: return 2;
    case GRT_Q8_0: return 7;
    case GRT_BF16: return 32;
    default: return 0;
    }
}

/* Which head size permutes this tensor (0: none). */
static int64_t permute_head_rows(const grt_config *cfg, const char *name, bool permute) {
    if (!permute) return 0;
    const char *p = strrchr(name, '.');
    if (!p || strncmp(name, "blk.", 4)) return 0;
    const char *q = p;
    while (q > name && q[-1] != '.') q--;
    size_t n = (size_t)(p - q);
    if ((n == 6 && !strncmp(q, "attn_q", 6)) || (n == 6 && !strncmp(q, "attn_k", 6)))
        return cfg->head_dim;
    return 0;
}

static grt_status add_tensor(conv *c, const grt_config *cfg, const grt_weight *x, grt_dtype target,
                             bool permute) {
    int64_t gne[4] = {1, 1, 1, 1};
    for (int d = 0; d < x->n_dims; d++) gne[d] = x->ne[x->n_dims - 1 - d];
    int64_t n_in = gne[0], rows = 1;
    for (int d = 1; d < x->n_dims; d++) rows *= gne[d];
    int64_t hd = permute_head_rows(cfg, x->name, permute);
    bool float_t = x->type == GRT_F32 || x->type == GRT_F16 || x->type == GRT_BF16 ||
                   x->type == GRT_Q8_0 || x->type == GRT_Q4_0;
    grt_dtype t = x->type;
    if (float_t) {
        if (x->n_dims == 1) t = GRT_F32;
        else if (target != GRT_DTYPE_INVALID) t = target;
        if (n_in % grt_dtype_block(t)) t = GRT_F16;
    }
    /* a 1-D bias permutes as a column of rows */
    if (x->n_dims == 1 && hd) { rows = n_in; n_in = 1; }
    if (t == x->type && !hd)
        return grt_gguf_add_tensor(c->w, x->name, t, x->n_dims, gne, x->data, x->nbytes);
    if (!float_t)
        return grt_fail(GRT_ERR_UNSUPPORTED, "convert: tensor %s of type %s cannot be converted",
                        x->name, grt_dtype_name(x->type));
    if (hd && rows % hd)
        return grt_fail(GRT_ERR_FORMAT, "convert: tensor %s: %lld rows is not a whole number of %lld-row heads",
                        x->name, (long long)rows, (long long)hd);
    size_t src_rb = grt_row_bytes(x->type, n_in), dst_rb = grt_row_bytes(t, n_in);
    size_t nb = dst_rb * (size_t)rows;
    uint8_t *out = conv_alloc(c, nb);
    float *tmp = grt_malloc((size_t)n_in * sizeof *tmp);
    if (!out || !tmp) { free(tmp); return GRT_ERR_NO_MEMORY; }
    for (int64_t r = 0; r < rows; r++) {
        int64_t sr = hd ? permuted_src_row(r, hd) : r;
        grt_dequantize_row(x->type, (const uint8_t *)x->data + (size_t)sr * src_rb, tmp, n_in);
        grt_quantize_row(t, tmp, out + (size_t)r * dst_rb, n_in);
    }
    free(tmp);
    return grt_gguf_add_tensor(c->w, x->name, t, x->n_dims, gne, out, nb);
}

/* llama.cpp's llama3 rope_freqs: per rotary frequency, the divisor HF's
 * _compute_llama3_parameters applies to inv_freq. */
static grt_status add_rope_freqs(conv *c, const grt_config *cfg) {
    int n = cfg->rot_dim / 2;
    float *f = conv_alloc(c, (size_t)n * sizeof *f);
    if (!f) return GRT_ERR_NO_MEMORY;
    const double pi = 3.14159265358979323846;
    double old = cfg->rope_orig_max_pos, lo = cfg->rope_low_freq_factor, hi = cfg->rope_high_freq_factor;
    double fac = cfg->rope_factor;
    for (int i = 0; i < n; i++) {
        double freq = 1.0 / pow((double)cfg->rope_theta, (2.0 * i) / cfg->rot_dim);
        double wavelen = 2 * pi / freq;
        if (wavelen < old / hi) {
            f[i] = 1.0f;
        } else if (wavelen > old / lo) {
            f[i] = (float)fac;
        } else {
            double smooth = (old / wavelen - lo) / (hi - lo);
            f[i] = (float)(1.0 / ((1 - smooth) / fac + smooth));
        }
    }
    int64_t ne[1] = {n};
    return grt_gguf_add_tensor(c->w, "rope_freqs.weight", GRT_F32, 1, ne, f, (size_t)n * sizeof *f);
}

static grt_status write_hparams(grt_gguf_writer *w, const grt_config *cfg, const char *garch,
                                const char *name, grt_dtype ftype) {
    char k[128];
    grt_status s = GRT_OK;
#define KEY(suffix) (snprintf(k, sizeof k, "%s.%s", garch, suffix), k)
#define TRY(call) do { if ((s = (call))) return s; } while (0)
    TRY(grt_gguf_set_str(w, "general.architecture", garch));
    TRY(grt_gguf_set_str(w, "general.name", name));
    TRY(grt_gguf_set_u32(w, "general.file_type", (uint32_t)ftype_of(ftype)));
    TRY(grt_gguf_set_u32(w, "general.quantization_version", 2));
    TRY(grt_gguf_set_u32(w, KEY("vocab_size"), (uint32_t)cfg->n_vocab));
    TRY(grt_gguf_set_u32(w, KEY("context_length"), (uint32_t)cfg->max_position));
    TRY(grt_gguf_set_u32(w, KEY("embedding_length"), (uint32_t)cfg->n_embd));
    TRY(grt_gguf_set_u32(w, KEY("block_count"), (uint32_t)cfg->n_layers));
    TRY(grt_gguf_set_u32(w, KEY("feed_forward_length"), (uint32_t)cfg->n_ff));
    TRY(grt_gguf_set_u32(w, KEY("attention.head_count"), (uint32_t)cfg->n_heads));
    TRY(grt_gguf_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)cfg->n_kv_heads));
    TRY(grt_gguf_set_u32(w, KEY("attention.key_length"), (uint32_t)cfg->head_dim));
    TRY(grt_gguf_set_u32(w, KEY("attention.value_length"), (uint32_t)cfg->head_dim));
    TRY(grt_gguf_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), cfg->norm_eps));
    TRY(grt_gguf_set_f32(w, KEY("rope.freq_base"), cfg->rope_theta));
    TRY(grt_gguf_set_u32(w, KEY("rope.dimension_count"), (uint32_t)cfg->rot_dim));
    if (cfg->rope_scaling == GRT_ROPE_SCALING_LINEAR) {
        TRY(grt_gguf_set_str(w, KEY("rope.scaling.type"), "linear"));
        TRY(grt_gguf_set_f32(w, KEY("rope.scaling.factor"), cfg->rope_factor));
    }
    if (cfg->sliding_window > 0)
        TRY(grt_gguf_set_u32(w, KEY("attention.sliding_window"), (uint32_t)cfg->sliding_window));
    if (fabsf(cfg->attn_scale * sqrtf((float)cfg->head_dim) - 1.0f) > 1e-6f)
        TRY(grt_gguf_set_f32(w, KEY("attention.scale"), cfg->attn_scale));
    if (cfg->bos_id >= 0) TRY(grt_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)cfg->bos_id));
    if (cfg->n_eos > 0) {
        TRY(grt_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)cfg->eos_ids[0]));
        TRY(grt_gguf_set_arr(w, "genrt.eos_token_ids", GRT_GGUF_I32, cfg->eos_ids, (uint64_t)cfg->n_eos));
    }
    TRY(grt_gguf_set_str(w, "genrt.hf_model_type", cfg->arch));
#undef KEY
#undef TRY
    return s;
}

/* The tokenizer: tokenizer.json of an HF directory, or the tokenizer.* keys
 * of a GGUF source copied as they are. A directory without one gets
 * tokenizer.ggml.model = "none", llama.cpp's mark for a model with no
 * vocabulary, so other GGUF readers load it too (ids in, ids out). */
static grt_status write_tokenizer(grt_gguf_writer *w, const grt_weights *src) {
    const grt_gguf *g = grt_weights_gguf(src);
    if (g) {
        for (int64_t k = 0; k < grt_gguf_n_keys(g); k++) {
            size_t len;
            const char *name = grt_gguf_key_name(g, k, &len);
            if (len > 10 && !memcmp(name, "tokenizer.", 10)) {
                grt_status s = grt_gguf_copy_kv(w, g, k);
                if (s) return s;
            }
        }
        return GRT_OK;
    }
    const char *dir = grt_weights_dir(src);
    if (!dir) return grt_gguf_set_str(w, "tokenizer.ggml.model", "none");
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    struct stat sb;
    if (stat(path, &sb) != 0) return grt_gguf_set_str(w, "tokenizer.ggml.model", "none");
    grt_tokenizer *tok = NULL;
    grt_status s = grt_tokenizer_from_json(path, &tok);
    if (!s) s = grt_tokenizer_to_gguf(tok, w);
    grt_tokenizer_free(tok);
    return s;
}

static const char *base_name(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    static _Thread_local char buf[256];
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    snprintf(buf, sizeof buf, "%.*s", (int)(n - b), path + b);
    return buf;
}

grt_status grt_convert(const char *src_path, const char *dst_gguf, const char *type) {
    if (!src_path || !dst_gguf) return grt_fail(GRT_ERR_INVALID_ARG, "convert: NULL path");
    grt_dtype target = GRT_DTYPE_INVALID;
    if (type) {
        target = grt_dtype_from_name(type);
        if (target == GRT_DTYPE_INVALID || target == GRT_I32)
            return grt_fail(GRT_ERR_INVALID_ARG, "convert: type '%s' is not one of f32, f16, bf16, q8_0, q4_0",
                            type);
    }
    grt_weights *src = NULL;
    conv c = {0};
    grt_status s = grt_weights_open(src_path, &src);
    if (s) return s;
    const grt_config *cfg = grt_weights_config(src);
    bool llama = !strcmp(cfg->arch, "llama") || !strcmp(cfg->arch, "mistral");
    const char *garch = llama ? "llama" : cfg->arch;
    bool permute = llama && !cfg->rope_interleaved;
    if ((s = grt_gguf_writer_new(&c.w))) goto done;

    const grt_weight *ref = grt_weights_get(src, "blk.0.attn_output.weight");
    grt_dtype ftype = target != GRT_DTYPE_INVALID ? target : ref ? ref->type : GRT_F32;
    if ((s = write_tokenizer(c.w, src))) {
        grt_fail_ctx(s, "convert %s", src_path);
        goto done;
    }
    if ((s = write_hparams(c.w, cfg, garch, base_name(src_path), ftype))) goto done;
    for (int i = 0; i < grt_weights_count(src); i++) {
        const grt_weight *x = grt_weights_at(src, i);
        if ((s = add_tensor(&c, cfg, x, target, permute))) goto done;
    }
    if (cfg->rope_scaling == GRT_ROPE_SCALING_LLAMA3 && !grt_weights_get(src, "rope_freqs.weight") &&
        (s = add_rope_freqs(&c, cfg)))
        goto done;
    s = grt_gguf_writer_write(c.w, dst_gguf);
done:
    grt_gguf_writer_free(c.w);
    for (int i = 0; i < c.n_bufs; i++) free(c.bufs[i]);
    free(c.bufs);
    grt_weights_free(src);
    return s;
}
