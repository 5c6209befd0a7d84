/* Model loading: every golden HF model against its own config.json and
 * safetensors header (read here with cJSON, independently of the loader),
 * config validation errors, and noise weights. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "weights.h"
#include "testutil.h"


static cJSON *load_json(const char *path) {
    char *t = t_read_file(path, NULL);
    if (!t) return NULL;
    cJSON *j = cJSON_Parse(t);
    free(t);
    return j;
}

static double num(const cJSON *o, const char *k, double def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

/* The test's own HF -> GGUF name table (llama.cpp's tensor names). */
static bool map_name(const char *hf, char *out, size_t cap) {
    static const char *g[][2] = {{"model.embed_tokens.weight", "token_embd.weight"},
                                 {"model.norm.weight", "output_norm.weight"},
                                 {"lm_head.weight", "output.weight"}};
    static const char *l[][2] = {
        {"self_attn.q_proj", "attn_q"}, {"self_attn.k_proj", "attn_k"}, {"self_attn.v_proj", "attn_v"},
        {"self_attn.o_proj", "attn_output"}, {"self_attn.qkv_proj", "attn_qkv"},
        {"self_attn.q_norm", "attn_q_norm"}, {"self_attn.k_norm", "attn_k_norm"},
        {"input_layernorm", "attn_norm"}, {"post_attention_layernorm", "ffn_norm"},
        {"mlp.gate_proj", "ffn_gate"}, {"mlp.up_proj", "ffn_up"}, {"mlp.down_proj", "ffn_down"},
        {"mlp.gate_up_proj", "ffn_up"}};
    for (int i = 0; i < 3; i++)
        if (!strcmp(hf, g[i][0])) { snprintf(out, cap, "%s", g[i][1]); return true; }
    int layer, n = 0;
    if (sscanf(hf, "model.layers.%d.%n", &layer, &n) != 1 || !n) return false;
    const char *rest = hf + n;
    for (int i = 0; i < 13; i++) {
        size_t m = strlen(l[i][0]);
        if (!strncmp(rest, l[i][0], m) && rest[m] == '.') {
            snprintf(out, cap, "blk.%d.%s%s", layer, l[i][1], rest + m);
            return true;
        }
    }
    return false;
}

static float elem(const char *dtype, const uint8_t *p, size_t i) {
    uint16_t h;
    float f;
    if (!strcmp(dtype, "F32")) { memcpy(&f, p + 4 * i, 4); return f; }
    memcpy(&h, p + 2 * i, 2);
    return !strcmp(dtype, "BF16") ? grt_bf16_to_f32(h) : grt_f16_to_f32(h);
}

static void check_model(const char *name) {
    const char *dir = t_golden_dir(name);
    char p[1200];
    snprintf(p, sizeof p, "%s/config.json", dir);
    cJSON *cj = load_json(p);
    CHECKF(cj != NULL, "%s", p);
    if (!cj) return;
    grt_weights *w;
    grt_status s = grt_weights_open(dir, &w);
    CHECKF(s == GRT_OK, "%s: %s", name, grt_last_error());
    if (s) { cJSON_Delete(cj); return; }
    const grt_config *c = grt_weights_config(w);
    const char *mt = cJSON_GetObjectItem(cj, "model_type")->valuestring;
    CHECK(!strcmp(c->arch, mt));
    CHECK(!strcmp(grt_weights_format(w), "safetensors"));
    CHECK(c->n_vocab == num(cj, "vocab_size", -1));
    CHECK(c->n_embd == num(cj, "hidden_size", -1));
    CHECK(c->n_layers == num(cj, "num_hidden_layers", -1));
    CHECK(c->n_heads == num(cj, "num_attention_heads", -1));
    CHECK(c->n_kv_heads == num(cj, "num_key_value_heads", -1));
    CHECK(c->n_ff == num(cj, "intermediate_size", -1));
    CHECK(c->head_dim == num(cj, "head_dim", num(cj, "hidden_size", 0) / num(cj, "num_attention_heads", 1)));
    CHECK(c->max_position == num(cj, "max_position_embeddings", -1));
    CHECK(fabs(c->norm_eps - num(cj, "rms_norm_eps", -1)) < 1e-12);
    const cJSON *rp = cJSON_GetObjectItem(cj, "rope_parameters");
    CHECK(c->rope_theta == (float)num(rp, "rope_theta", -1));
    CHECK(c->tied_embeddings == cJSON_IsTrue(cJSON_GetObjectItem(cj, "tie_word_embeddings")));
    CHECK(c->bos_id == num(cj, "bos_token_id", -1));
    CHECK(c->n_eos == 1 && c->eos_ids[0] == num(cj, "eos_token_id", -1));
    CHECK(!c->rope_interleaved && !c->rope_freqs_tensor);
    CHECK(fabsf(c->attn_scale - 1.0f / sqrtf((float)c->head_dim)) < 1e-7f);
    CHECK(c->rot_dim == (int)(c->head_dim * num(cj, "partial_rotary_factor", 1.0)));
    const cJSON *sw = cJSON_GetObjectItem(cj, "sliding_window");
    CHECK(c->sliding_window == (cJSON_IsNumber(sw) ? sw->valueint : 0));
    bool gemma = !strcmp(mt, "gemma");
    CHECK(c->act == (gemma ? GRT_ACT_GELU_TANH : GRT_ACT_SILU));
    CHECK(c->embed_scale == (gemma ? 8.0f : 1.0f));
    CHECK(c->qkv_bias == !strcmp(mt, "qwen2"));
    CHECK(c->qk_norm == !strcmp(mt, "qwen3"));
    CHECK(c->fused_qkv == !strcmp(mt, "phi3") && c->fused_gate_up == !strcmp(mt, "phi3"));
    if (!strcmp(name, "llama3-tiny")) {
        CHECK(c->rope_scaling == GRT_ROPE_SCALING_LLAMA3 && c->rope_factor == 8.0f &&
              c->rope_low_freq_factor == 1.0f && c->rope_high_freq_factor == 4.0f &&
              c->rope_orig_max_pos == 64);
    } else {
        CHECK(c->rope_scaling == GRT_ROPE_SCALING_NONE);
    }

    /* every HF tensor: name, shape and values */
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    size_t n;
    uint8_t *file = (uint8_t *)t_read_file(p, &n);
    uint64_t hl;
    memcpy(&hl, file, 8);
    cJSON *hdr = cJSON_ParseWithLength((const char *)file + 8, (size_t)hl);
    int expected = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, hdr) {
        if (!strcmp(e->string, "__metadata__")) continue;
        char gg[128];
        CHECKF(map_name(e->string, gg, sizeof gg), "unmapped %s", e->string);
        if (!strcmp(gg, "output.weight") && c->tied_embeddings) continue;
        expected++;
        const grt_weight *x = grt_weights_get(w, gg);
        CHECKF(x != NULL, "%s: %s missing", name, gg);
        if (!x) continue;
        const cJSON *shape = cJSON_GetObjectItem(e, "shape");
        int nd = cJSON_GetArraySize(shape);
        CHECK(x->n_dims == nd);
        size_t count = 1;
        for (int d = 0; d < nd && d < 4; d++) {
            CHECK(x->ne[d] == cJSON_GetArrayItem(shape, d)->valueint);
            count *= (size_t)cJSON_GetArrayItem(shape, d)->valueint;
        }
        const char *dt = cJSON_GetObjectItem(e, "dtype")->valuestring;
        const uint8_t *src = file + 8 + hl + (size_t)cJSON_GetArrayItem(cJSON_GetObjectItem(e, "data_offsets"), 0)->valuedouble;
        if (nd == 1) {
            CHECK(x->type == GRT_F32);
            float add = gemma && strstr(gg, "norm") ? 1.0f : 0.0f;
            int bad = 0;
            for (size_t i = 0; i < count; i++) bad += ((const float *)x->data)[i] != elem(dt, src, i) + add;
            CHECKF(bad == 0, "%s: %s: %d values differ", name, gg, bad);
        } else {
            CHECK(x->type == (!strcmp(dt, "F32") ? GRT_F32 : !strcmp(dt, "BF16") ? GRT_BF16 : GRT_F16));
            CHECKF(x->nbytes == count * (x->type == GRT_F32 ? 4 : 2) && !memcmp(x->data, src, x->nbytes),
                   "%s: %s bytes differ", name, gg);
        }
    }
    CHECKF(grt_weights_count(w) == expected, "%s: %d weights, %d expected", name, grt_weights_count(w),
           expected);
    CHECK((grt_weights_get(w, "output.weight") == NULL) == c->tied_embeddings);
    CHECK(grt_weights_gguf(w) == NULL && grt_weights_dir(w) && !strcmp(grt_weights_dir(w), dir));
    cJSON_Delete(hdr);
    free(file);
    grt_weights_free(w);
    cJSON_Delete(cj);
}

static void test_golden_models(void) {
    for (int i = 0; i < T_N_GOLDENS; i++) check_model(t_golden_names[i]);
    /* also by the path of config.json */
    char p[1200];
    snprintf(p, sizeof p, "%s/config.json", t_golden_dir("qwen3-tiny"));
    grt_weights *w;
    CHECKF(grt_weights_open(p, &w) == GRT_OK, "%s", grt_last_error());
    grt_weights_free(w);
}

/* ---------------------------------------------------------------- bad configs */

typedef void (*edit_fn)(cJSON *cfg);

/* A temporary model directory: the golden model's weights (symlinked) and an
 * edited config.json. */
static const char *edited_model(const char *model, const char *tag, edit_fn edit) {
    static char dir[1024];
    snprintf(dir, sizeof dir, "%s", t_tmp(tag));
    mkdir(dir, 0755);
    char src[1200], dst[1200], abs[1200];
    snprintf(src, sizeof src, "%s/model.safetensors", t_golden_dir(model));
    if (!realpath(src, abs)) return dir;
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    unlink(dst);
    if (symlink(abs, dst) != 0) return dir;
    snprintf(src, sizeof src, "%s/config.json", t_golden_dir(model));
    cJSON *cj = load_json(src);
    edit(cj);
    char *txt = cJSON_Print(cj);
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    t_write_file(dst, txt, strlen(txt));
    free(txt);
    cJSON_Delete(cj);
    return dir;
}

static void expect_open(const char *dir, grt_status want, const char *n1, const char *n2) {
    grt_weights *w = (grt_weights *)1;
    grt_status s = grt_weights_open(dir, &w);
    CHECKF(s == want, "%s: status %d want %d: %s", dir, s, want, grt_last_error());
    if (want) CHECK(w == NULL);
    if (!s) grt_weights_free(w);
    if (n1) CHECKF(strstr(grt_last_error(), n1) != NULL, "'%s' in: %s", n1, grt_last_error());
    if (n2) CHECKF(strstr(grt_last_error(), n2) != NULL, "'%s' in: %s", n2, grt_last_error());
}

static void e_no_hidden(cJSON *c) { cJSON_DeleteItemFromObject(c, "hidden_size"); }
static void e_gpt2(cJSON *c) { cJSON_ReplaceItemInObject(c, "model_type", cJSON_CreateString("gpt2")); }
static void e_kv3(cJSON *c) { cJSON_ReplaceItemInObject(c, "num_key_value_heads", cJSON_CreateNumber(3)); }
static void e_heads5(cJSON *c) {
    cJSON_ReplaceItemInObject(c, "num_attention_heads", cJSON_CreateNumber(5));
    cJSON_ReplaceItemInObject(c, "num_key_value_heads", cJSON_CreateNumber(5));
    cJSON_DeleteItemFromObject(c, "head_dim");
}
static void e_neg(cJSON *c) { cJSON_ReplaceItemInObject(c, "hidden_size", cJSON_CreateNumber(-64)); }
static void e_absurd(cJSON *c) { cJSON_ReplaceItemInObject(c, "vocab_size", cJSON_CreateNumber(1e12)); }
static void e_str(cJSON *c) { cJSON_ReplaceItemInObject(c, "num_hidden_layers", cJSON_CreateString("2")); }
static void e_ff(cJSON *c) { cJSON_ReplaceItemInObject(c, "intermediate_size", cJSON_CreateNumber(161)); }
static void e_l3(cJSON *c) { cJSON_ReplaceItemInObject(c, "num_hidden_layers", cJSON_CreateNumber(3)); }
static void e_l1(cJSON *c) { cJSON_ReplaceItemInObject(c, "num_hidden_layers", cJSON_CreateNumber(1)); }
static void e_yarn(cJSON *c) {
    cJSON *rp = cJSON_GetObjectItem(c, "rope_parameters");
    cJSON_ReplaceItemInObject(rp, "rope_type", cJSON_CreateString("yarn"));
}
static void e_l3_nolow(cJSON *c) {
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(c, "rope_parameters"), "low_freq_factor");
}
static void e_eos_big(cJSON *c) { cJSON_ReplaceItemInObject(c, "eos_token_id", cJSON_CreateNumber(600)); }
static void e_eos_list(cJSON *c) {
    int ids[3] = {7, 2, 9};
    cJSON_ReplaceItemInObject(c, "eos_token_id", cJSON_CreateIntArray(ids, 3));
}
static void e_tie(cJSON *c) { cJSON_ReplaceItemInObject(c, "tie_word_embeddings", cJSON_CreateTrue()); }
static void e_linear(cJSON *c) {
    cJSON *rs = cJSON_CreateObject();
    cJSON_AddStringToObject(rs, "type", "linear");
    cJSON_AddNumberToObject(rs, "factor", 4.0);
    cJSON_AddItemToObject(c, "rope_scaling", rs);
    cJSON_AddNumberToObject(c, "rope_theta", 1234.0);
}
static void e_act(cJSON *c) { cJSON_ReplaceItemInObject(c, "hidden_act", cJSON_CreateString("relu")); }
static void e_nothing(cJSON *c) { (void)c; }

static void test_bad_configs(void) {
    expect_open(edited_model("llama2-mha-tiny", "nohidden", e_no_hidden), GRT_ERR_FORMAT, "config.json", "hidden_size");
    expect_open(edited_model("llama2-mha-tiny", "gpt2", e_gpt2), GRT_ERR_UNSUPPORTED, "gpt2",
                "llama, mistral, qwen2, qwen3, phi3, gemma");
    expect_open(edited_model("llama2-mha-tiny", "kv3", e_kv3), GRT_ERR_FORMAT, "config.json", "num_key_value_heads");
    expect_open(edited_model("llama2-mha-tiny", "heads5", e_heads5), GRT_ERR_FORMAT, "config.json", "hidden_size");
    expect_open(edited_model("llama2-mha-tiny", "neg", e_neg), GRT_ERR_FORMAT, "config.json", "hidden_size");
    expect_open(edited_model("llama2-mha-tiny", "absurd", e_absurd), GRT_ERR_FORMAT, "config.json", "vocab_size");
    expect_open(edited_model("llama2-mha-tiny", "str", e_str), GRT_ERR_FORMAT, "config.json", "num_hidden_layers");
    expect_open(edited_model("llama2-mha-tiny", "ff", e_ff), GRT_ERR_FORMAT, "blk.0.ffn_gate.weight",
                "expected shape [161, 64], got [160, 64]");
    CHECK(strstr(grt_last_error(), "model.layers.0.mlp.gate_proj.weight") != NULL);
    expect_open(edited_model("llama2-mha-tiny", "l3", e_l3), GRT_ERR_FORMAT, "missing tensor blk.2.",
                "model.layers.2.");
    expect_open(edited_model("llama2-mha-tiny", "l1", e_l1), GRT_ERR_FORMAT, "model.layers.1.",
                "num_hidden_layers");
    expect_open(edited_model("llama2-mha-tiny", "yarn", e_yarn), GRT_ERR_UNSUPPORTED, "yarn", "config.json");
    expect_open(edited_model("llama3-tiny", "nolow", e_l3_nolow), GRT_ERR_FORMAT,
                "rope_parameters.low_freq_factor", "config.json");
    expect_open(edited_model("llama2-mha-tiny", "eosbig", e_eos_big), GRT_ERR_FORMAT, "eos_token_id", "config.json");
    expect_open(edited_model("llama2-mha-tiny", "relu", e_act), GRT_ERR_UNSUPPORTED, "relu", "hidden_act");

    /* valid edits */
    grt_weights *w;
    const char *d = edited_model("llama2-mha-tiny", "eoslist", e_eos_list);
    char gp[1200];
    snprintf(gp, sizeof gp, "%s/generation_config.json", d);
    const char *gen = "{\"eos_token_id\": [2, 11], \"bos_token_id\": 1}";
    t_write_file(gp, gen, strlen(gen));
    CHECKF(grt_weights_open(d, &w) == GRT_OK, "%s", grt_last_error());
    if (w) {
        const grt_config *c = grt_weights_config(w);
        CHECK(c->n_eos == 4 && c->eos_ids[0] == 7 && c->eos_ids[1] == 2 && c->eos_ids[2] == 9 &&
              c->eos_ids[3] == 11);
        grt_weights_free(w);
    }
    const char *bad_gen = "{\"eos_token_id\": [2, ";
    t_write_file(gp, bad_gen, strlen(bad_gen));
    expect_open(d, GRT_ERR_FORMAT, "generation_config.json", "JSON");

    CHECK(grt_weights_open(edited_model("qwen2-tiny", "tie", e_tie), &w) == GRT_OK);
    if (w) {
        CHECK(grt_weights_config(w)->tied_embeddings && !grt_weights_get(w, "output.weight"));
        grt_weights_free(w);
    }
    CHECK(grt_weights_open(edited_model("llama2-mha-tiny", "linear", e_linear), &w) == GRT_OK);
    if (w) {
        const grt_config *c = grt_weights_config(w);
        CHECK(c->rope_scaling == GRT_ROPE_SCALING_LINEAR && c->rope_factor == 4.0f && c->rope_theta == 1234.0f);
        grt_weights_free(w);
    }

    /* paths */
    expect_open(t_tmp("no-such-model"), GRT_ERR_IO, "no-such-model", NULL);
    char p[1200];
    snprintf(p, sizeof p, "%s/golden.json", t_golden_dir("qwen2-tiny"));
    expect_open(p, GRT_ERR_UNSUPPORTED, "golden.json", NULL);
    const char *empty = t_tmp("emptydir");
    mkdir(empty, 0755);
    expect_open(empty, GRT_ERR_IO, "emptydir", "config.json");
    d = edited_model("llama2-mha-tiny", "noweights", e_nothing);
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    unlink(p);
    expect_open(d, GRT_ERR_IO, "noweights", "model.safetensors");
    d = edited_model("llama2-mha-tiny", "badjson", e_nothing);
    snprintf(p, sizeof p, "%s/config.json", d);
    t_write_file(p, "{ not json", 10);
    expect_open(d, GRT_ERR_FORMAT, "config.json", "JSON");
    t_write_file(p, "", 0);
    expect_open(d, GRT_ERR_FORMAT, "config.json", NULL);
}

/* ---------------------------------------------------------------- random */

static void test_random(void) {
    grt_weights *ref;
    CHECK(grt_weights_open(t_golden_dir("qwen2-tiny"), &ref) == GRT_OK);
    if (!ref) return;
    const grt_dtype types[] = {GRT_F32, GRT_F16, GRT_BF16, GRT_Q8_0, GRT_Q4_0};
    for (int t = 0; t < 5; t++) {
        grt_weights *a, *b;
        char p[1200];
        snprintf(p, sizeof p, "%s/config.json", t_golden_dir("qwen2-tiny"));
        CHECKF(grt_weights_random(p, types[t], &a) == GRT_OK, "%s", grt_last_error());
        CHECKF(grt_weights_random(t_golden_dir("qwen2-tiny"), types[t], &b) == GRT_OK, "%s", grt_last_error());
        if (!a || !b) { grt_weights_free(a); grt_weights_free(b); continue; }
        CHECK(!strcmp(grt_weights_format(a), "random"));
        CHECK(grt_weights_count(a) == grt_weights_count(ref));
        for (int i = 0; i < grt_weights_count(ref); i++) {
            const grt_weight *r = grt_weights_at(ref, i), *x = grt_weights_get(a, r->name),
                             *y = grt_weights_get(b, r->name);
            CHECKF(x && y, "%s missing", r->name);
            if (!x || !y) continue;
            CHECK(x->n_dims == r->n_dims && x->ne[0] == r->ne[0] && (r->n_dims < 2 || x->ne[1] == r->ne[1]));
            CHECK(x->type == (r->n_dims == 1 ? GRT_F32 : types[t]));
            CHECK(x->nbytes == y->nbytes && !memcmp(x->data, y->data, x->nbytes)); /* deterministic */
            int64_t cols = x->ne[x->n_dims - 1], rows = x->n_dims == 2 ? x->ne[0] : 1;
            float *row = malloc((size_t)cols * sizeof *row);
            double sum2 = 0;
            float mx = 0;
            for (int64_t rr = 0; rr < rows; rr++) {
                grt_dequantize_row(x->type, (const uint8_t *)x->data + grt_row_bytes(x->type, cols) * (size_t)rr, row, cols);
                for (int64_t k = 0; k < cols; k++) {
                    mx = fmaxf(mx, fabsf(row[k]));
                    sum2 += (double)row[k] * row[k];
                }
            }
            free(row);
            double sd = sqrt(sum2 / (double)(rows * cols));
            if (strstr(r->name, "norm")) {
                CHECKF(fabs(sd - 1.0) < 1e-6, "%s: norm weights should be 1", r->name);
            } else {
                CHECKF(mx <= 0.0351f && sd > 0.012 && sd < 0.028, "%s %s: max %g sd %g", r->name,
                       grt_dtype_name(types[t]), mx, sd);
            }
        }
        /* different tensors get different noise */
        const grt_weight *q = grt_weights_get(a, "blk.0.attn_q.weight"), *o = grt_weights_get(a, "blk.0.attn_output.weight");
        CHECK(q && o && memcmp(q->data, o->data, 64) != 0);
        grt_weights_free(a);
        grt_weights_free(b);
    }
    grt_weights_free(ref);

    /* rows that are not whole q-blocks fall back to f16 */
    const char *dir = t_tmp("rnd48");
    mkdir(dir, 0755);
    char p[1200];
    snprintf(p, sizeof p, "%s/config.json", dir);
    const char *cfg = "{\"model_type\":\"llama\",\"vocab_size\":100,\"hidden_size\":48,\"num_hidden_layers\":1,"
                      "\"num_attention_heads\":3,\"intermediate_size\":64}";
    t_write_file(p, cfg, strlen(cfg));
    grt_weights *w;
    CHECKF(grt_weights_random(p, GRT_Q4_0, &w) == GRT_OK, "%s", grt_last_error());
    if (w) {
        CHECK(grt_weights_get(w, "blk.0.attn_q.weight")->type == GRT_F16);      /* rows of 48 */
        CHECK(grt_weights_get(w, "blk.0.ffn_down.weight")->type == GRT_Q4_0);   /* rows of 64 */
        CHECK(grt_weights_config(w)->head_dim == 16 && grt_weights_config(w)->n_kv_heads == 3);
        grt_weights_free(w);
    }
    CHECK(grt_weights_random(t_tmp("nothing-here"), GRT_F16, &w) == GRT_ERR_IO && w == NULL);
    CHECK(grt_weights_random(p, GRT_I32, &w) == GRT_ERR_INVALID_ARG);
}

int main(void) {
    t_run("weights_golden_models", test_golden_models);
    t_run("weights_bad_configs_and_paths", test_bad_configs);
    t_run("weights_random", test_random);
    return t_done();
}
