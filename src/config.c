/* Model configuration from a Hugging Face config.json (+ generation_config.json)
 * or from GGUF metadata as llama.cpp writes it. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "weights.h"

#define SUPPORTED_ARCHS "llama, mistral, qwen2, qwen3, phi3, gemma"

static const char *const k_archs[] = {"llama", "mistral", "qwen2", "qwen3", "phi3", "gemma"};

static bool arch_supported(const char *a) {
    for (size_t i = 0; i < sizeof k_archs / sizeof k_archs[0]; i++)
        if (!strcmp(a, k_archs[i])) return true;
    return false;
}

/* ---------------------------------------------------------------- JSON */

static grt_status read_json(const char *path, cJSON **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return grt_fail(GRT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4097 > cap) {
            if (cap >= (64u << 20)) {
                free(buf);
                fclose(f);
                return grt_fail(GRT_ERR_FORMAT, "%s: too large for a config file", path);
            }
            cap = cap ? 2 * cap : 16384;
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); fclose(f); return grt_fail(GRT_ERR_NO_MEMORY, "out of memory"); }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len - 1, f);
        len += r;
        if (r == 0) break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) { free(buf); return grt_fail(GRT_ERR_IO, "%s: read error", path); }
    buf[len] = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(buf, &end, false);
    size_t at = end ? (size_t)(end - buf) : 0;
    free(buf);
    if (!root) return grt_fail(GRT_ERR_FORMAT, "%s: not valid JSON (near byte %zu)", path, at);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return grt_fail(GRT_ERR_FORMAT, "%s: not a JSON object", path);
    }
    *out = root;
    return GRT_OK;
}

static const cJSON *jget(const cJSON *o, const char *k) {
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
    return v && !cJSON_IsNull(v) ? v : NULL;
}

/* An integer field in [lo, hi]. Absent (or null): *v = def, or an error when
 * required. */
static grt_status jint_p(const char *path, const cJSON *o, const char *pfx, const char *k,
                         bool required, int64_t def, int64_t lo, int64_t hi, int *v) {
    const cJSON *x = jget(o, k);
    if (!x) {
        if (required)
            return grt_fail(GRT_ERR_FORMAT, "%s: %s%s: missing required field", path, pfx, k);
        *v = (int)def;
        return GRT_OK;
    }
    double d = cJSON_IsNumber(x) ? x->valuedouble : NAN;
    if (!(d == floor(d)) || d < (double)lo || d > (double)hi)
        return grt_fail(GRT_ERR_FORMAT, "%s: %s%s: expected an integer in [%lld, %lld]", path, pfx, k,
                        (long long)lo, (long long)hi);
    *v = (int)d;
    return GRT_OK;
}

static grt_status jint(const char *path, const cJSON *o, const char *k, bool required, int64_t def,
                       int64_t lo, int64_t hi, int *v) {
    return jint_p(path, o, "", k, required, def, lo, hi, v);
}

static grt_status jfloat_p(const char *path, const cJSON *o, const char *pfx, const char *k,
                           bool required, double def, double lo, double hi, float *v) {
    const cJSON *x = jget(o, k);
    if (!x) {
        if (required)
            return grt_fail(GRT_ERR_FORMAT, "%s: %s%s: missing required field", path, pfx, k);
        *v = (float)def;
        return GRT_OK;
    }
    if (!cJSON_IsNumber(x) || !(x->valuedouble >= lo && x->valuedouble <= hi))
        return grt_fail(GRT_ERR_FORMAT, "%s: %s%s: expected a number in [%g, %g]", path, pfx, k, lo, hi);
    *v = (float)x->valuedouble;
    return GRT_OK;
}

static grt_status jfloat(const char *path, const cJSON *o, const char *k, double def, double lo,
                         double hi, float *v) {
    return jfloat_p(path, o, "", k, false, def, lo, hi, v);
}

static grt_status jbool(const char *path, const cJSON *o, const char *k, bool def, bool *v) {
    const cJSON *x = jget(o, k);
    if (!x) { *v = def; return GRT_OK; }
    if (!cJSON_IsBool(x)) return grt_fail(GRT_ERR_FORMAT, "%s: %s: expected true or false", path, k);
    *v = cJSON_IsTrue(x);
    return GRT_OK;
}

static void add_eos(grt_config *c, int64_t id) {
    for (int i = 0; i < c->n_eos; i++)
        if (c->eos_ids[i] == id) return;
    if (c->n_eos < GRT_MAX_EOS) c->eos_ids[c->n_eos++] = (int32_t)id;
}

/* eos_token_id: an integer or a list of them; bos_token_id: an integer. */
static grt_status read_special(const char *path, const cJSON *o, grt_config *c) {
    const cJSON *e = jget(o, "eos_token_id");
    if (e) {
        if (cJSON_IsNumber(e)) {
            if (e->valuedouble < 0 || e->valuedouble != floor(e->valuedouble) ||
                e->valuedouble >= c->n_vocab)
                return grt_fail(GRT_ERR_FORMAT, "%s: eos_token_id %g is not a token id below vocab_size %d",
                                path, e->valuedouble, c->n_vocab);
            add_eos(c, (int64_t)e->valuedouble);
        } else if (cJSON_IsArray(e)) {
            const cJSON *x;
            cJSON_ArrayForEach(x, e) {
                if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble >= c->n_vocab ||
                    x->valuedouble != floor(x->valuedouble))
                    return grt_fail(GRT_ERR_FORMAT, "%s: eos_token_id: every entry must be a token id below vocab_size %d",
                                    path, c->n_vocab);
                add_eos(c, (int64_t)x->valuedouble);
            }
        } else {
            return grt_fail(GRT_ERR_FORMAT, "%s: eos_token_id: expected an integer or a list", path);
        }
    }
    const cJSON *b = jget(o, "bos_token_id");
    if (b) {
        if (!cJSON_IsNumber(b) || b->valuedouble < 0 || b->valuedouble >= c->n_vocab ||
            b->valuedouble != floor(b->valuedouble))
            return grt_fail(GRT_ERR_FORMAT, "%s: bos_token_id: expected a token id below vocab_size %d",
                            path, c->n_vocab);
        c->bos_id = (int32_t)b->valuedouble;
    }
    return GRT_OK;
}

/* Checks shared by both sources; src names the file. */
static grt_status validate(const char *src, grt_config *c) {
    if (c->n_heads % c->n_kv_heads)
        return grt_fail(GRT_ERR_FORMAT, "%s: num_key_value_heads %d does not divide num_attention_heads %d",
                        src, c->n_kv_heads, c->n_heads);
    if (c->head_dim % 2)
        return grt_fail(GRT_ERR_FORMAT, "%s: head_dim %d is odd (RoPE rotates pairs)", src, c->head_dim);
    if (c->rot_dim < 2 || c->rot_dim > c->head_dim || c->rot_dim % 2)
        return grt_fail(GRT_ERR_FORMAT, "%s: rotary dims %d must be even and in [2, head_dim %d]", src,
                        c->rot_dim, c->head_dim);
    if ((int64_t)c->n_heads * c->head_dim > (1 << 20))
        return grt_fail(GRT_ERR_FORMAT, "%s: num_attention_heads x head_dim = %lld is absurd", src,
                        (long long)c->n_heads * c->head_dim);
    if (!(c->rope_theta > 0) || !isfinite(c->rope_theta))
        return grt_fail(GRT_ERR_FORMAT, "%s: rope_theta %g must be positive", src, c->rope_theta);
    if (!(c->norm_eps > 0 && c->norm_eps < 1))
        return grt_fail(GRT_ERR_FORMAT, "%s: rms_norm_eps %g must be in (0, 1)", src, c->norm_eps);
    if (c->rope_scaling != GRT_ROPE_SCALING_NONE && !(c->rope_factor >= 1 && c->rope_factor < 1e6))
        return grt_fail(GRT_ERR_FORMAT, "%s: rope scaling factor %g must be >= 1", src, c->rope_factor);
    if (c->rope_scaling == GRT_ROPE_SCALING_LLAMA3 &&
        (!(c->rope_high_freq_factor > c->rope_low_freq_factor) || !(c->rope_low_freq_factor > 0) ||
         c->rope_orig_max_pos <= 0))
        return grt_fail(GRT_ERR_FORMAT, "%s: llama3 rope scaling needs high_freq_factor > low_freq_factor > 0 "
                        "and original_max_position_embeddings > 0", src);
    if (c->sliding_window < 0)
        return grt_fail(GRT_ERR_FORMAT, "%s: sliding_window %d is negative", src, c->sliding_window);
    return GRT_OK;
}

static void arch_flags(grt_config *c) {
    c->embed_scale = 1.0f;
    c->act = GRT_ACT_SILU;
    if (!strcmp(c->arch, "qwen2")) c->qkv_bias = true;
    if (!strcmp(c->arch, "qwen3")) c->qk_norm = true;
    if (!strcmp(c->arch, "phi3")) c->fused_qkv = c->fused_gate_up = true;
    if (!strcmp(c->arch, "gemma")) {
        c->act = GRT_ACT_GELU_TANH;
        c->embed_scale = sqrtf((float)c->n_embd);
    }
}

/* rope_scaling (transformers 4) or rope_parameters (transformers 5). */
static grt_status read_rope(const char *path, const cJSON *root, grt_config *c) {
    const cJSON *rp = jget(root, "rope_parameters");
    const cJSON *rs = jget(root, "rope_scaling");
    if (rp && !cJSON_IsObject(rp))
        return grt_fail(GRT_ERR_FORMAT, "%s: rope_parameters: expected an object", path);
    if (rs && !cJSON_IsObject(rs))
        return grt_fail(GRT_ERR_FORMAT, "%s: rope_scaling: expected an object or null", path);
    grt_status s;
    const cJSON *theta_src = jget(root, "rope_theta") ? root : rp;
    if ((s = jfloat(path, theta_src, "rope_theta", 10000.0, 1e-3, 1e12, &c->rope_theta))) return s;
    const cJSON *sc = rs ? rs : rp;
    const char *field = rs ? "rope_scaling" : "rope_parameters";
    c->rope_scaling = GRT_ROPE_SCALING_NONE;
    if (!sc) return GRT_OK;
    const cJSON *ty = jget(sc, "rope_type");
    if (!ty) ty = jget(sc, "type");
    if (!ty || (cJSON_IsString(ty) && !strcmp(ty->valuestring, "default"))) return GRT_OK;
    if (!cJSON_IsString(ty))
        return grt_fail(GRT_ERR_FORMAT, "%s: %s.rope_type: expected a string", path, field);
    char pfx[32];
    snprintf(pfx, sizeof pfx, "%s.", field);
    if (!strcmp(ty->valuestring, "linear")) {
        c->rope_scaling = GRT_ROPE_SCALING_LINEAR;
        return jfloat_p(path, sc, pfx, "factor", true, 1, 1, 1e6, &c->rope_factor);
    }
    if (!strcmp(ty->valuestring, "llama3")) {
        c->rope_scaling = GRT_ROPE_SCALING_LLAMA3;
        if ((s = jfloat_p(path, sc, pfx, "factor", true, 8, 1, 1e6, &c->rope_factor)) ||
            (s = jfloat_p(path, sc, pfx, "low_freq_factor", true, 1, 1e-6, 1e6, &c->rope_low_freq_factor)) ||
            (s = jfloat_p(path, sc, pfx, "high_freq_factor", true, 4, 1e-6, 1e6, &c->rope_high_freq_factor)) ||
            (s = jint_p(path, sc, pfx, "original_max_position_embeddings", true, 0, 1, 1 << 24,
                        &c->rope_orig_max_pos)))
            return s;
        return GRT_OK;
    }
    return grt_fail(GRT_ERR_UNSUPPORTED, "%s: %s.rope_type '%s' is not supported (default, linear, llama3)",
                    path, field, ty->valuestring);
}

grt_status grt_config_from_hf(const char *path, grt_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->bos_id = -1;
    cJSON *root = NULL, *gen = NULL;
    grt_status s = read_json(path, &root);
    if (s) return s;
    grt_config c;
    memset(&c, 0, sizeof c);
    c.bos_id = -1;

    const cJSON *mt = jget(root, "model_type");
    if (!mt) { s = grt_fail(GRT_ERR_FORMAT, "%s: model_type: missing required field", path); goto done; }
    if (!cJSON_IsString(mt)) { s = grt_fail(GRT_ERR_FORMAT, "%s: model_type: expected a string", path); goto done; }
    if (!arch_supported(mt->valuestring)) {
        s = grt_fail(GRT_ERR_UNSUPPORTED, "%s: model_type '%.64s' is not supported (supported: " SUPPORTED_ARCHS ")",
                     path, mt->valuestring);
        goto done;
    }
    snprintf(c.arch, sizeof c.arch, "%s", mt->valuestring);
    bool gemma = !strcmp(c.arch, "gemma"), phi3 = !strcmp(c.arch, "phi3");
    bool qwen = !strcmp(c.arch, "qwen2") || !strcmp(c.arch, "qwen3");

    if ((s = jint(path, root, "vocab_size", true, 0, 1, 1 << 24, &c.n_vocab)) ||
        (s = jint(path, root, "hidden_size", true, 0, 1, 1 << 17, &c.n_embd)) ||
        (s = jint(path, root, "num_hidden_layers", true, 0, 1, 4096, &c.n_layers)) ||
        (s = jint(path, root, "num_attention_heads", true, 0, 1, 4096, &c.n_heads)) ||
        (s = jint(path, root, "intermediate_size", true, 0, 1, 1 << 21, &c.n_ff)) ||
        (s = jint(path, root, "num_key_value_heads", false, c.n_heads, 1, 4096, &c.n_kv_heads)) ||
        (s = jint(path, root, "max_position_embeddings", false, 2048, 1, 1 << 24, &c.max_position)))
        goto done;
    if (!jget(root, "head_dim") && c.n_embd % c.n_heads) {
        s = grt_fail(GRT_ERR_FORMAT, "%s: num_attention_heads %d does not divide hidden_size %d (and no head_dim)",
                     path, c.n_heads, c.n_embd);
        goto done;
    }
    if ((s = jint(path, root, "head_dim", false, c.n_embd / c.n_heads, 2, 4096, &c.head_dim)) ||
        (s = jfloat(path, root, "rms_norm_eps", phi3 ? 1e-5 : 1e-6, 0, 1, &c.norm_eps)) ||
        (s = read_rope(path, root, &c)))
        goto done;

    /* partial rotary: top level (transformers 4) or in rope_parameters (5) */
    float prf = 1.0f;
    const cJSON *prf_src = jget(root, "partial_rotary_factor") ? root : jget(root, "rope_parameters");
    if ((s = jfloat(path, prf_src, "partial_rotary_factor", 1.0, 1e-3, 1.0, &prf))) goto done;
    c.rot_dim = (int)((float)c.head_dim * prf);

    /* sliding window */
    if (!strcmp(c.arch, "mistral") || phi3) {
        if ((s = jint(path, root, "sliding_window", false, 0, 0, 1 << 30, &c.sliding_window))) goto done;
    } else if (qwen) {
        bool use_sw;
        int mwl;
        if ((s = jbool(path, root, "use_sliding_window", false, &use_sw)) ||
            (s = jint(path, root, "max_window_layers", false, c.n_layers, 0, 1 << 20, &mwl)))
            goto done;
        if (use_sw && mwl < c.n_layers) {
            if (mwl > 0) {
                s = grt_fail(GRT_ERR_UNSUPPORTED, "%s: use_sliding_window with max_window_layers %d < %d layers "
                             "(sliding window on some layers only) is not supported", path, mwl, c.n_layers);
                goto done;
            }
            if ((s = jint(path, root, "sliding_window", true, 0, 1, 1 << 30, &c.sliding_window))) goto done;
        }
    }

    /* activation */
    const cJSON *act = jget(root, gemma && jget(root, "hidden_activation") ? "hidden_activation" : "hidden_act");
    if (act && !cJSON_IsString(act)) {
        s = grt_fail(GRT_ERR_FORMAT, "%s: hidden_act: expected a string", path);
        goto done;
    }
    const char *an = act ? act->valuestring : (gemma ? "gelu_pytorch_tanh" : "silu");
    if (gemma ? strncmp(an, "gelu", 4) != 0 : (strcmp(an, "silu") && strcmp(an, "swish"))) {
        s = grt_fail(GRT_ERR_UNSUPPORTED, "%s: hidden_act '%.32s' is not supported for %s (%s)", path, an,
                     c.arch, gemma ? "gelu_pytorch_tanh" : "silu");
        goto done;
    }

    bool tied, attn_bias, mlp_bias;
    if ((s = jbool(path, root, "tie_word_embeddings", gemma, &tied)) ||
        (s = jbool(path, root, "attention_bias", false, &attn_bias)) ||
        (s = jbool(path, root, "mlp_bias", false, &mlp_bias)))
        goto done;
    if (mlp_bias) {
        s = grt_fail(GRT_ERR_UNSUPPORTED, "%s: mlp_bias true is not supported", path);
        goto done;
    }
    c.tied_embeddings = tied;
    arch_flags(&c);
    if (attn_bias) c.qkv_bias = true;
    c.attn_scale = 1.0f / sqrtf((float)c.head_dim);
    if (gemma && jget(root, "query_pre_attn_scalar")) {
        float q;
        if ((s = jfloat(path, root, "query_pre_attn_scalar", 1, 1e-6, 1e9, &q))) goto done;
        c.attn_scale = 1.0f / sqrtf(q);
    }
    c.rope_interleaved = false;

    if ((s = read_special(path, root, &c))) goto done;
    /* generation_config.json beside config.json: its eos ids join the set */
    char gpath[4096];
    const char *slash = strrchr(path, '/');
    int dl = slash ? (int)(slash - path) : 0;
    snprintf(gpath, sizeof gpath, "%.*s%sgeneration_config.json", dl, path, slash ? "/" : "");
    struct stat sb;
    if (stat(gpath, &sb) == 0) {
        if ((s = read_json(gpath, &gen)) || (s = read_special(gpath, gen, &c))) goto done;
    }
    if ((s = validate(path, &c))) goto done;
    *cfg = c;
done:
    cJSON_Delete(root);
    cJSON_Delete(gen);
    return s;
}

/* ---------------------------------------------------------------- GGUF */

static grt_status gkey_int(const grt_gguf *g, const char *arch, const char *suffix, bool required,
                           int64_t def, int64_t lo, int64_t hi, int *v) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t x;
    if (!grt_gguf_get_int(g, key, &x)) {
        if (grt_gguf_find_key(g, key) >= 0)
            return grt_fail(GRT_ERR_FORMAT, "%s: %s: expected an integer", grt_gguf_path(g), key);
        if (required)
            return grt_fail(GRT_ERR_FORMAT, "%s: %s: missing required key", grt_gguf_path(g), key);
        x = def;
    }
    if (x < lo || x > hi)
        return grt_fail(GRT_ERR_FORMAT, "%s: %s: %lld is not in [%lld, %lld]", grt_gguf_path(g), key,
                        (long long)x, (long long)lo, (long long)hi);
    *v = (int)x;
    return GRT_OK;
}

static grt_status gkey_f32(const grt_gguf *g, const char *arch, const char *suffix, double def,
                           float *v) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (!grt_gguf_get_f32(g, key, v)) {
        if (grt_gguf_find_key(g, key) >= 0)
            return grt_fail(GRT_ERR_FORMAT, "%s: %s: expected a number", grt_gguf_path(g), key);
        *v = (float)def;
    }
    return GRT_OK;
}

static void gguf_add_eos_key(const grt_gguf *g, const char *key, grt_config *c) {
    int64_t id;
    if (grt_gguf_get_int(g, key, &id) && id >= 0 && id < c->n_vocab) add_eos(c, id);
}

grt_status grt_config_from_gguf(const grt_gguf *g, grt_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->bos_id = -1;
    const char *path = grt_gguf_path(g);
    grt_config c;
    memset(&c, 0, sizeof c);
    c.bos_id = -1;
    const char *a;
    size_t al;
    if (!grt_gguf_get_str(g, "general.architecture", &a, &al))
        return grt_fail(GRT_ERR_FORMAT, "%s: general.architecture: missing (or not a string)", path);
    char arch[32];
    if (al >= sizeof arch || memchr(a, 0, al))
        return grt_fail(GRT_ERR_UNSUPPORTED, "%s: general.architecture '%.*s' is not supported (supported: "
                        "llama, qwen2, qwen3, phi3, gemma)", path, (int)(al > 64 ? 64 : al), a);
    memcpy(arch, a, al);
    arch[al] = 0;
    if (!arch_supported(arch) || !strcmp(arch, "mistral"))
        return grt_fail(GRT_ERR_UNSUPPORTED, "%s: general.architecture '%s' is not supported (supported: "
                        "llama, qwen2, qwen3, phi3, gemma)", path, arch);
    snprintf(c.arch, sizeof c.arch, "%s", arch);
    /* genrt's converter records the HF model_type (mistral is written as llama) */
    const char *hf;
    size_t hl;
    if (!strcmp(arch, "llama") && grt_gguf_get_str(g, "genrt.hf_model_type", &hf, &hl) && hl == 7 &&
        !memcmp(hf, "mistral", 7))
        snprintf(c.arch, sizeof c.arch, "mistral");

    grt_status s;
    if ((s = gkey_int(g, arch, "embedding_length", true, 0, 1, 1 << 17, &c.n_embd)) ||
        (s = gkey_int(g, arch, "block_count", true, 0, 1, 4096, &c.n_layers)) ||
        (s = gkey_int(g, arch, "feed_forward_length", true, 0, 1, 1 << 21, &c.n_ff)) ||
        (s = gkey_int(g, arch, "attention.head_count", true, 0, 1, 4096, &c.n_heads)) ||
        (s = gkey_int(g, arch, "attention.head_count_kv", false, c.n_heads, 1, 4096, &c.n_kv_heads)) ||
        (s = gkey_int(g, arch, "context_length", true, 0, 1, 1 << 24, &c.max_position)))
        return s;
    char key[128];
    snprintf(key, sizeof key, "%s.attention.key_length", arch);
    if (grt_gguf_find_key(g, key) < 0 && c.n_embd % c.n_heads)
        return grt_fail(GRT_ERR_FORMAT, "%s: %s.attention.head_count %d does not divide embedding_length %d",
                        path, arch, c.n_heads, c.n_embd);
    if ((s = gkey_int(g, arch, "attention.key_length", false, c.n_embd / c.n_heads, 2, 4096, &c.head_dim)) ||
        (s = gkey_int(g, arch, "rope.dimension_count", false, c.head_dim, 2, 4096, &c.rot_dim)) ||
        (s = gkey_int(g, arch, "attention.sliding_window", false, 0, 0, 1 << 30, &c.sliding_window)) ||
        (s = gkey_f32(g, arch, "attention.layer_norm_rms_epsilon", 1e-5, &c.norm_eps)) ||
        (s = gkey_f32(g, arch, "rope.freq_base", 10000.0, &c.rope_theta)))
        return s;
    if (!strcmp(arch, "qwen2") || !strcmp(arch, "qwen3") || !strcmp(arch, "gemma")) c.sliding_window = 0;

    const char *st;
    size_t sl;
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    float lin;
    char lkey[128];
    snprintf(lkey, sizeof lkey, "%s.rope.scale_linear", arch);
    if (grt_gguf_get_str(g, key, &st, &sl) && !(sl == 4 && !memcmp(st, "none", 4))) {
        if (!(sl == 6 && !memcmp(st, "linear", 6)))
            return grt_fail(GRT_ERR_UNSUPPORTED, "%s: %s '%.*s' is not supported (none, linear)", path, key,
                            (int)(sl > 32 ? 32 : sl), st);
        c.rope_scaling = GRT_ROPE_SCALING_LINEAR;
        if ((s = gkey_f32(g, arch, "rope.scaling.factor", 1.0, &c.rope_factor))) return s;
    } else if (grt_gguf_get_f32(g, lkey, &lin) && lin != 1.0f) {
        c.rope_scaling = GRT_ROPE_SCALING_LINEAR;
        c.rope_factor = lin;
    }
    const grt_gguf_tensor *rf = grt_gguf_find_tensor(g, "rope_freqs.weight");
    c.rope_freqs_tensor = rf != NULL;

    const grt_gguf_tensor *emb = grt_gguf_find_tensor(g, "token_embd.weight");
    if (!emb) return grt_fail(GRT_ERR_FORMAT, "%s: missing tensor token_embd.weight", path);
    if (emb->n_dims != 2 || emb->ne[1] > (1 << 24))
        return grt_fail(GRT_ERR_FORMAT, "%s: tensor token_embd.weight: expected 2 dims with <= 2^24 rows", path);
    c.n_vocab = (int)emb->ne[1];
    c.tied_embeddings = grt_gguf_find_tensor(g, "output.weight") == NULL;
    arch_flags(&c);
    if (grt_gguf_find_tensor(g, "blk.0.attn_q.bias")) c.qkv_bias = true;
    c.rope_interleaved = !strcmp(arch, "llama");
    c.attn_scale = 1.0f / sqrtf((float)c.head_dim);
    float sc;
    snprintf(key, sizeof key, "%s.attention.scale", arch);
    if (grt_gguf_get_f32(g, key, &sc)) {
        if (!(sc > 0) || !isfinite(sc))
            return grt_fail(GRT_ERR_FORMAT, "%s: %s: %g must be positive", path, key, sc);
        c.attn_scale = sc;
    }

    int64_t id;
    if (grt_gguf_get_int(g, "tokenizer.ggml.bos_token_id", &id) && id >= 0 && id < c.n_vocab)
        c.bos_id = (int32_t)id;
    gguf_add_eos_key(g, "tokenizer.ggml.eos_token_id", &c);
    gguf_add_eos_key(g, "tokenizer.ggml.eot_token_id", &c);
    gguf_add_eos_key(g, "tokenizer.ggml.eom_token_id", &c);
    grt_gguf_type et;
    uint64_t n;
    const void *data;
    if (grt_gguf_get_arr(g, "genrt.eos_token_ids", &et, &n, &data) &&
        (et == GRT_GGUF_I32 || et == GRT_GGUF_U32))
        for (uint64_t i = 0; i < n; i++) {
            int32_t v;
            memcpy(&v, (const uint8_t *)data + 4 * i, 4);
            if (v >= 0 && v < c.n_vocab) add_eos(&c, v);
        }
    if ((s = validate(path, &c))) return s;
    *cfg = c;
    return GRT_OK;
}
