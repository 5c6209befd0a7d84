/* grt_convert: every golden HF model to GGUF in every type, read back and
 * compared tensor by tensor with the HF source (Q/K rows un-permuted for
 * arch llama, quantized types within their block error bound). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "gguf.h"
#include "tokenizer.h"
#include "weights.h"
#include "testutil.h"


static float *dequant_all(const grt_weight *x, int64_t *rows, int64_t *cols) {
    *cols = x->ne[x->n_dims - 1];
    *rows = 1;
    for (int d = 0; d < x->n_dims - 1; d++) *rows *= x->ne[d];
    float *f = malloc((size_t)(*rows * *cols) * sizeof *f);
    size_t rb = grt_row_bytes(x->type, *cols);
    for (int64_t r = 0; r < *rows; r++)
        grt_dequantize_row(x->type, (const uint8_t *)x->data + rb * (size_t)r, f + r * *cols, *cols);
    return f;
}

/* llama.cpp's permutation, written from its definition: HF row
 * h*hd + j*hd/2 + i is GGUF row h*hd + 2*i + j. */
static int64_t gguf_row_of_hf(int64_t hr, int64_t hd) {
    int64_t h = hr / hd, k = hr % hd, j = k / (hd / 2), i = k % (hd / 2);
    return h * hd + 2 * i + j;
}

/* Max error allowed for element x of a block with max |.| amax. */
static double bound(grt_dtype t, float x, float amax) {
    switch (t) {
    case GRT_F32: return 0;
    case GRT_F16: return fabsf(x) * (1.0 / 2048) + 6e-8;
    case GRT_BF16: return fabsf(x) * (1.0 / 256);
    case GRT_Q8_0: return amax / 127.0 * 0.57 + 1e-9;   /* d/2 + the f16 rounding of d */
    case GRT_Q4_0: return amax / 8.0 * 1.01 + 1e-9;     /* d: the +amax end clamps at 7 */
    default: return 0;
    }
}

static void compare_config(const grt_config *h, const grt_config *g, const char *what) {
    CHECKF(!strcmp(h->arch, g->arch), "%s: arch %s vs %s", what, h->arch, g->arch);
    CHECK(h->n_vocab == g->n_vocab && h->n_embd == g->n_embd && h->n_layers == g->n_layers);
    CHECK(h->n_heads == g->n_heads && h->n_kv_heads == g->n_kv_heads && h->head_dim == g->head_dim);
    CHECK(h->n_ff == g->n_ff && h->rot_dim == g->rot_dim && h->max_position == g->max_position);
    CHECK(h->rope_theta == g->rope_theta && h->norm_eps == g->norm_eps);
    CHECK(h->qkv_bias == g->qkv_bias && h->qk_norm == g->qk_norm && h->fused_qkv == g->fused_qkv &&
          h->fused_gate_up == g->fused_gate_up);
    CHECKF(h->sliding_window == g->sliding_window, "%s: sliding window", what);
    CHECK(h->tied_embeddings == g->tied_embeddings && h->act == g->act);
    CHECK(h->embed_scale == g->embed_scale && fabsf(h->attn_scale - g->attn_scale) < 1e-7f);
    CHECK(h->bos_id == g->bos_id && h->n_eos == g->n_eos && h->eos_ids[0] == g->eos_ids[0]);
    if (h->rope_scaling == GRT_ROPE_SCALING_LLAMA3) {
        CHECK(g->rope_scaling == GRT_ROPE_SCALING_NONE && g->rope_freqs_tensor);
    } else {
        CHECK(g->rope_scaling == h->rope_scaling && g->rope_factor == h->rope_factor &&
              g->rope_freqs_tensor == h->rope_freqs_tensor);
    }
}

/* HF's _compute_llama3_parameters, as the ratio inv_freq / inv_freq_llama3. */
static void check_rope_freqs(const grt_config *h, const grt_weight *rf) {
    CHECK(rf && rf->type == GRT_F32 && rf->n_dims == 1 && rf->ne[0] == h->rot_dim / 2);
    if (!rf) return;
    double old = h->rope_orig_max_pos, lo = h->rope_low_freq_factor, hi = h->rope_high_freq_factor;
    double low_wl = old / lo, high_wl = old / hi;
    for (int i = 0; i < h->rot_dim / 2; i++) {
        double inv = pow(h->rope_theta, -(2.0 * i) / h->rot_dim);
        double wl = 2 * M_PI / inv;
        double inv_l = wl > low_wl ? inv / h->rope_factor : inv;
        if (!(wl < high_wl) && !(wl > low_wl)) {
            double smooth = (old / wl - lo) / (hi - lo);
            inv_l = (1 - smooth) * inv_l / h->rope_factor + smooth * inv_l;
        }
        double want = inv / inv_l, got = ((const float *)rf->data)[i];
        CHECKF(fabs(got - want) <= 1e-5 * want, "rope_freqs[%d] = %g, HF gives %g", i, got, want);
    }
}

/* Every tensor of ref against out; un-permute Q/K when out is llama.cpp's
 * order and ref is not. */
static void compare_weights(const grt_weights *ref, const grt_weights *out, grt_dtype target,
                            const char *what) {
    const grt_config *rc = grt_weights_config(ref), *oc = grt_weights_config(out);
    bool unpermute = oc->rope_interleaved && !rc->rope_interleaved;
    for (int i = 0; i < grt_weights_count(ref); i++) {
        const grt_weight *h = grt_weights_at(ref, i), *g = grt_weights_get(out, h->name);
        CHECKF(g != NULL, "%s: %s missing", what, h->name);
        if (!g) continue;
        CHECKF(g->n_dims == h->n_dims && g->ne[0] == h->ne[0] && g->ne[1] == h->ne[1], "%s: %s shape",
               what, h->name);
        grt_dtype want_t = h->n_dims == 1 ? GRT_F32 : target;
        CHECKF(g->type == want_t, "%s: %s type %s want %s", what, h->name, grt_dtype_name(g->type),
               grt_dtype_name(want_t));
        int64_t hr, hc, gr, gc;
        float *a = dequant_all(h, &hr, &hc), *b = dequant_all(g, &gr, &gc);
        bool perm = unpermute && (strstr(h->name, ".attn_q.") || strstr(h->name, ".attn_k."));
        /* a bias permutes as a column */
        if (h->n_dims == 1 && perm) { hr = hc; hc = 1; }
        int bad = 0;
        double worst = 0;
        for (int64_t r = 0; r < hr && bad < 5; r++) {
            int64_t grow = perm ? gguf_row_of_hf(r, rc->head_dim) : r;
            for (int64_t k0 = 0; k0 < hc; k0 += 32) {
                int64_t k1 = k0 + 32 < hc ? k0 + 32 : hc;
                float amax = 0;
                for (int64_t k = k0; k < k1; k++) amax = fmaxf(amax, fabsf(a[r * hc + k]));
                for (int64_t k = k0; k < k1; k++) {
                    double e = fabs((double)a[r * hc + k] - b[grow * hc + k]);
                    double lim = bound(g->type, a[r * hc + k], amax);
                    if (e > lim) bad++;
                    if (lim > 0 && e / lim > worst) worst = e / lim;
                }
            }
        }
        CHECKF(bad == 0, "%s: %s: values outside the %s bound (worst %.3g x bound)", what, h->name,
               grt_dtype_name(g->type), worst);
        free(a);
        free(b);
    }
}

static void convert_all(void) {
    const char *types[] = {"f32", "f16", "bf16", "q8_0", "q4_0"};
    for (int m = 0; m < T_N_GOLDENS; m++) {
        grt_weights *hf;
        if (grt_weights_open(t_golden_dir(t_golden_names[m]), &hf)) {
            CHECKF(0, "%s: %s", t_golden_names[m], grt_last_error());
            continue;
        }
        const grt_config *hc = grt_weights_config(hf);
        bool llama = !strcmp(hc->arch, "llama") || !strcmp(hc->arch, "mistral");
        for (int t = 0; t < 5; t++) {
            char name[128], what[160];
            snprintf(name, sizeof name, "%s-%s.gguf", t_golden_names[m], types[t]);
            snprintf(what, sizeof what, "%s", name);
            const char *out = t_tmp(name);
            grt_status s = grt_convert(t_golden_dir(t_golden_names[m]), out, types[t]);
            CHECKF(s == GRT_OK, "%s: %s", name, grt_last_error());
            if (s) continue;
            grt_weights *gw;
            s = grt_weights_open(out, &gw);
            CHECKF(s == GRT_OK, "%s: %s", name, grt_last_error());
            if (s) continue;
            const grt_config *gc = grt_weights_config(gw);
            CHECK(!strcmp(grt_weights_format(gw), "gguf"));
            compare_config(hc, gc, what);
            CHECK(gc->rope_interleaved == llama);
            compare_weights(hf, gw, grt_dtype_from_name(types[t]), what);
            int extra = hc->rope_scaling == GRT_ROPE_SCALING_LLAMA3;
            CHECKF(grt_weights_count(gw) == grt_weights_count(hf) + extra, "%s: %d tensors vs %d", name,
                   grt_weights_count(gw), grt_weights_count(hf));
            if (extra) check_rope_freqs(hc, grt_weights_get(gw, "rope_freqs.weight"));
            /* llama.cpp's keys */
            const grt_gguf *g = grt_weights_gguf(gw);
            const char *arch;
            size_t al;
            CHECK(grt_gguf_get_str(g, "general.architecture", &arch, &al));
            const char *garch = llama ? "llama" : hc->arch;
            CHECK(al == strlen(garch) && !memcmp(arch, garch, al));
            char key[96];
            int64_t v;
            snprintf(key, sizeof key, "%s.attention.key_length", garch);
            CHECK(grt_gguf_get_int(g, key, &v) && v == hc->head_dim);
            snprintf(key, sizeof key, "%s.rope.dimension_count", garch);
            CHECK(grt_gguf_get_int(g, key, &v) && v == hc->rot_dim);
            snprintf(key, sizeof key, "%s.attention.sliding_window", garch);
            CHECK(grt_gguf_get_int(g, key, &v) ? v == hc->sliding_window : hc->sliding_window == 0);
            grt_weights_free(gw);
        }
        grt_weights_free(hf);
    }
}

/* GGUF -> GGUF: re-typing keeps llama.cpp's order (no second permutation)
 * and the rope_freqs tensor. */
static void gguf_to_gguf(void) {
    const char *f32 = t_tmp("l3-src.gguf"), *q8 = t_tmp("l3-q8.gguf"), *same = t_tmp("l3-same.gguf");
    CHECK(grt_convert(t_golden_dir("llama3-tiny"), f32, "f32") == GRT_OK);
    CHECKF(grt_convert(f32, q8, "q8_0") == GRT_OK, "%s", grt_last_error());
    CHECKF(grt_convert(f32, same, NULL) == GRT_OK, "%s", grt_last_error());
    grt_weights *a, *b;
    if (grt_weights_open(f32, &a)) { CHECK(0); return; }
    if (grt_weights_open(q8, &b) == GRT_OK) {
        compare_config(grt_weights_config(a), grt_weights_config(b), "gguf->gguf");
        compare_weights(a, b, GRT_Q8_0, "gguf->gguf q8_0");
        CHECK(grt_weights_count(a) == grt_weights_count(b));
        grt_weights_free(b);
    } else {
        CHECKF(0, "%s", grt_last_error());
    }
    size_t n1, n2;
    char *x = t_read_file(f32, &n1), *y = t_read_file(same, &n2);
    /* only general.name differs (the source's base name) */
    CHECK(x && y && n2 > 1000 && labs((long)n1 - (long)n2) < 16);
    free(x);
    free(y);
    grt_weights_free(a);
}

/* A small llama GGUF built here with the writer from noise weights; the
 * knobs break it in one way each. */
typedef struct gguf_knobs {
    const char *arch;        /* general.architecture */
    const char *omit_key;    /* leave this key out */
    const char *omit_tensor; /* leave this tensor out */
    const char *short_tensor;/* write this one with one row less */
} gguf_knobs;

static grt_weights *g_noise;

static const char *build_gguf(const char *name, gguf_knobs k) {
    if (!g_noise) {
        const char *dir = t_tmp("m48");
        mkdir(dir, 0755);
        char cp[1100];
        snprintf(cp, sizeof cp, "%s/config.json", dir);
        const char *cfg = "{\"model_type\":\"llama\",\"vocab_size\":96,\"hidden_size\":48,\"num_hidden_layers\":1,"
                          "\"num_attention_heads\":3,\"num_key_value_heads\":1,\"intermediate_size\":64,"
                          "\"rms_norm_eps\":1e-5,\"max_position_embeddings\":128}";
        t_write_file(cp, cfg, strlen(cfg));
        if (grt_weights_random(cp, GRT_F32, &g_noise)) return NULL;
    }
    grt_gguf_writer *w;
    grt_gguf_writer_new(&w);
    const char *keys_u32[] = {"llama.embedding_length", "llama.block_count", "llama.feed_forward_length",
                              "llama.attention.head_count", "llama.attention.head_count_kv",
                              "llama.context_length", "tokenizer.ggml.eos_token_id",
                              "tokenizer.ggml.eot_token_id"};
    const uint32_t vals[] = {48, 1, 64, 3, 1, 128, 3, 4};
    grt_gguf_set_str(w, "general.architecture", k.arch ? k.arch : "llama");
    for (int i = 0; i < 8; i++)
        if (!k.omit_key || strcmp(k.omit_key, keys_u32[i])) grt_gguf_set_u32(w, keys_u32[i], vals[i]);
    grt_gguf_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    for (int i = 0; i < grt_weights_count(g_noise); i++) {
        const grt_weight *x = grt_weights_at(g_noise, i);
        if (k.omit_tensor && !strcmp(k.omit_tensor, x->name)) continue;
        int64_t ne[2] = {x->ne[x->n_dims - 1], x->ne[0]};
        size_t nb = x->nbytes;
        if (k.short_tensor && !strcmp(k.short_tensor, x->name)) {
            ne[1]--;
            nb -= grt_row_bytes(x->type, ne[0]);
        }
        CHECK(grt_gguf_add_tensor(w, x->name, x->type, x->n_dims, ne, x->data, nb) == GRT_OK);
    }
    const char *path = t_tmp(name);
    CHECK(grt_gguf_writer_write(w, path) == GRT_OK);
    grt_gguf_writer_free(w);
    return path;
}

/* Rows that are not whole q-blocks are written as f16, from a GGUF source. */
static void q_fallback(void) {
    const char *src = build_gguf("m48.gguf", (gguf_knobs){0}), *dst = t_tmp("m48-q4.gguf");
    if (!src) { CHECKF(0, "%s", grt_last_error()); return; }
    CHECKF(grt_convert(src, dst, "q4_0") == GRT_OK, "%s", grt_last_error());
    grt_weights *a, *b;
    if (grt_weights_open(src, &a) == GRT_OK && grt_weights_open(dst, &b) == GRT_OK) {
        const grt_config *c = grt_weights_config(b);
        CHECK(c->n_eos == 2 && c->eos_ids[0] == 3 && c->eos_ids[1] == 4);
        CHECK(!c->tied_embeddings && c->rope_interleaved && c->head_dim == 16);
        CHECK(grt_weights_get(b, "blk.0.attn_q.weight")->type == GRT_F16);
        CHECK(grt_weights_get(b, "blk.0.ffn_down.weight")->type == GRT_Q4_0);
        for (int i = 0; i < grt_weights_count(a); i++) {
            const grt_weight *x = grt_weights_at(a, i), *y = grt_weights_get(b, x->name);
            CHECK(y && y->n_dims == x->n_dims && y->ne[0] == x->ne[0]);
        }
        grt_weights_free(a);
        grt_weights_free(b);
    } else {
        CHECKF(0, "%s", grt_last_error());
    }
}

static void expect_gguf(const char *name, gguf_knobs k, grt_status want, const char *n1, const char *n2) {
    const char *path = build_gguf(name, k);
    grt_weights *w = (grt_weights *)1;
    grt_status s = grt_weights_open(path, &w);
    CHECKF(s == want && w == NULL, "%s: status %d want %d: %s", name, s, want, grt_last_error());
    CHECKF(strstr(grt_last_error(), name) != NULL, "names the file: %s", grt_last_error());
    if (n1) CHECKF(strstr(grt_last_error(), n1) != NULL, "'%s' in: %s", n1, grt_last_error());
    if (n2) CHECKF(strstr(grt_last_error(), n2) != NULL, "'%s' in: %s", n2, grt_last_error());
}

static void gguf_model_errors(void) {
    expect_gguf("nokey.gguf", (gguf_knobs){.omit_key = "llama.embedding_length"}, GRT_ERR_FORMAT,
                "llama.embedding_length", "missing");
    expect_gguf("gpt2.gguf", (gguf_knobs){.arch = "gpt2"}, GRT_ERR_UNSUPPORTED, "'gpt2'",
                "llama, qwen2, qwen3, phi3, gemma");
    expect_gguf("notensor.gguf", (gguf_knobs){.omit_tensor = "blk.0.ffn_up.weight"}, GRT_ERR_FORMAT,
                "missing tensor blk.0.ffn_up.weight", NULL);
    expect_gguf("noembd.gguf", (gguf_knobs){.omit_tensor = "token_embd.weight"}, GRT_ERR_FORMAT,
                "token_embd.weight", NULL);
    expect_gguf("short.gguf", (gguf_knobs){.short_tensor = "blk.0.attn_k.weight"}, GRT_ERR_FORMAT,
                "blk.0.attn_k.weight", "expected shape [16, 48], got [15, 48]");
}

static void convert_errors(void) {
    CHECK(grt_convert(t_tmp("nope"), t_tmp("x.gguf"), "f16") == GRT_ERR_IO);
    CHECK(strstr(grt_last_error(), "nope") != NULL);
    CHECK(grt_convert(t_golden_dir("qwen2-tiny"), t_tmp("x.gguf"), "q5_k") == GRT_ERR_INVALID_ARG);
    CHECK(strstr(grt_last_error(), "q5_k") != NULL);
    CHECK(grt_convert(t_golden_dir("qwen2-tiny"), t_tmp("no/such/dir/x.gguf"), "f16") == GRT_ERR_IO);
    CHECK(strstr(grt_last_error(), "no/such/dir/x.gguf") != NULL);
    struct stat sb;
    CHECK(stat(t_tmp("x.gguf"), &sb) != 0); /* nothing half-written */
}

static void convert_tokenizer(void) {
    const char *dir = t_tmp("withtok");
    mkdir(dir, 0755);
    const char *files[] = {"config.json", "generation_config.json", "model.safetensors"};
    char a[1200], b[1200], abs[1200];
    for (int i = 0; i < 3; i++) {
        snprintf(a, sizeof a, "%s/%s", t_golden_dir("llama3-tiny"), files[i]);
        snprintf(b, sizeof b, "%s/%s", dir, files[i]);
        if (realpath(a, abs)) CHECK(symlink(abs, b) == 0);
    }
    snprintf(a, sizeof a, "%s", t_data("tokenizers/llama3/tokenizer.json"));
    snprintf(b, sizeof b, "%s/tokenizer.json", dir);
    if (realpath(a, abs)) CHECK(symlink(abs, b) == 0);
    const char *out = t_tmp("withtok.gguf");
    CHECKF(grt_convert(dir, out, "bf16") == GRT_OK, "%s", grt_last_error());
    grt_gguf *g;
    if (grt_gguf_open(out, &g) == GRT_OK) {
        grt_gguf_type et;
        uint64_t n;
        CHECK(grt_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, NULL) && et == GRT_GGUF_STRING && n > 1000);
        int64_t v;
        CHECK(grt_gguf_get_int(g, "tokenizer.ggml.eos_token_id", &v) && v == 2); /* the model's */
        grt_gguf_close(g);
    }
}

int main(void) {
    t_run("convert_golden_models_all_types", convert_all);
    t_run("convert_gguf_to_gguf", gguf_to_gguf);
    t_run("convert_q_fallback_f16", q_fallback);
    t_run("convert_errors", convert_errors);
    t_run("gguf_model_errors", gguf_model_errors);
    grt_tokenizer *tok = NULL;
    if (grt_tokenizer_from_json(t_data("tokenizers/llama3/tokenizer.json"), &tok) == GRT_OK) {
        grt_tokenizer_free(tok);
        t_run("convert_carries_tokenizer", convert_tokenizer);
    } else {
        t_skip("convert_carries_tokenizer", grt_last_error());
    }
    grt_weights_free(g_noise);
    return t_done();
}
