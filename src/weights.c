/* Model sources (HF directory, GGUF file, or noise from a config.json),
 * presented as a config plus GGUF-named weights. */
#include "weights.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "safetensors.h"

struct grt_weights {
    grt_config cfg;
    char *path;
    char *dir;             /* HF (or config.json) directory, or NULL */
    const char *format;
    grt_gguf *gguf;
    grt_st *st;
    grt_weight *w;
    int n, cap;
    void **owned;          /* names and buffers to free */
    int n_owned, cap_owned;
    int64_t *hash;         /* open addressing over w: index + 1 */
    uint64_t hcap;
};

/* ---------------------------------------------------------------- basics */

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

void grt_weights_free(grt_weights *w) {
    if (!w) return;
    for (int i = 0; i < w->n_owned; i++) free(w->owned[i]);
    free(w->owned);
    free(w->w);
    free(w->hash);
    grt_gguf_close(w->gguf);
    grt_st_free(w->st);
    free(w->path);
    free(w->dir);
    free(w);
}

static grt_status own(grt_weights *w, void *p) {
    if (!p) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    if (w->n_owned == w->cap_owned) {
        int nc = w->cap_owned ? 2 * w->cap_owned : 64;
        void **n = realloc(w->owned, (size_t)nc * sizeof *n);
        if (!n) { free(p); return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory"); }
        w->owned = n;
        w->cap_owned = nc;
    }
    w->owned[w->n_owned++] = p;
    return GRT_OK;
}

static grt_status add_weight(grt_weights *w, const grt_weight *x) {
    if (w->n == w->cap) {
        int nc = w->cap ? 2 * w->cap : 128;
        grt_weight *n = realloc(w->w, (size_t)nc * sizeof *n);
        if (!n) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
        w->w = n;
        w->cap = nc;
    }
    w->w[w->n++] = *x;
    return GRT_OK;
}

static grt_status build_hash(grt_weights *w) {
    w->hcap = 16;
    while (w->hcap < 2 * (uint64_t)w->n) w->hcap <<= 1;
    free(w->hash);
    w->hash = grt_calloc(w->hcap, sizeof *w->hash);
    if (!w->hash) return GRT_ERR_NO_MEMORY;
    for (int i = 0; i < w->n; i++) {
        uint64_t m = w->hcap - 1, h = hash_str(w->w[i].name) & m;
        while (w->hash[h]) {
            if (!strcmp(w->w[w->hash[h] - 1].name, w->w[i].name))
                return grt_fail(GRT_ERR_FORMAT, "%s: tensor %s appears twice", w->path, w->w[i].name);
            h = (h + 1) & m;
        }
        w->hash[h] = i + 1;
    }
    return GRT_OK;
}

const grt_weight *grt_weights_get(const grt_weights *w, const char *name) {
    if (!w || !w->hash || !name) return NULL;
    uint64_t m = w->hcap - 1, h = hash_str(name) & m;
    for (;;) {
        int64_t i = w->hash[h];
        if (!i) return NULL;
        if (!strcmp(w->w[i - 1].name, name)) return &w->w[i - 1];
        h = (h + 1) & m;
    }
}

const grt_config *grt_weights_config(const grt_weights *w) { return w ? &w->cfg : NULL; }
const char *grt_weights_format(const grt_weights *w) { return w ? w->format : NULL; }
const char *grt_weights_path(const grt_weights *w) { return w ? w->path : NULL; }
const grt_gguf *grt_weights_gguf(const grt_weights *w) { return w ? w->gguf : NULL; }
const char *grt_weights_dir(const grt_weights *w) { return w ? w->dir : NULL; }
int grt_weights_count(const grt_weights *w) { return w ? w->n : 0; }
const grt_weight *grt_weights_at(const grt_weights *w, int i) {
    return w && i >= 0 && i < w->n ? &w->w[i] : NULL;
}

/* ---------------------------------------------------------------- names */

typedef struct name_pair { const char *hf, *gg; } name_pair;

static const name_pair k_global[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};

/* Per layer: "model.layers.N." + hf  <->  "blk.N." + gg. */
static const name_pair k_layer[] = {
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.o_proj.bias", "attn_output.bias"},
    {"self_attn.qkv_proj.weight", "attn_qkv.weight"},
    {"self_attn.q_norm.weight", "attn_q_norm.weight"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight"},
    {"input_layernorm.weight", "attn_norm.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
    {"mlp.gate_up_proj.weight", "ffn_up.weight"},
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* HF name -> GGUF name; 0 = mapped, 1 = not a tensor we use, -1 = layer
 * index out of range (*layer set). */
static int hf_to_gguf(const char *hf, int n_layers, char *out, size_t cap, long *layer) {
    for (size_t i = 0; i < N_OF(k_global); i++)
        if (!strcmp(hf, k_global[i].hf)) {
            snprintf(out, cap, "%s", k_global[i].gg);
            return 0;
        }
    const char *pre = "model.layers.";
    size_t pl = strlen(pre);
    if (strncmp(hf, pre, pl)) return 1;
    const char *p = hf + pl;
    if (*p < '0' || *p > '9') return 1;
    char *end;
    errno = 0;
    long l = strtol(p, &end, 10);
    if (*end != '.' || errno) return 1;
    for (size_t i = 0; i < N_OF(k_layer); i++)
        if (!strcmp(end + 1, k_layer[i].hf)) {
            if (l >= n_layers) { *layer = l; return -1; }
            snprintf(out, cap, "blk.%ld.%s", l, k_layer[i].gg);
            return 0;
        }
    return 1;
}

/* GGUF name -> HF name, for messages. */
static void gguf_to_hf(const char *gg, const grt_config *c, char *out, size_t cap) {
    for (size_t i = 0; i < N_OF(k_global); i++)
        if (!strcmp(gg, k_global[i].gg)) { snprintf(out, cap, "%s", k_global[i].hf); return; }
    int l, n = 0;
    if (sscanf(gg, "blk.%d.%n", &l, &n) == 1 && n > 0)
        for (size_t i = 0; i < N_OF(k_layer); i++) {
            if (strcmp(gg + n, k_layer[i].gg)) continue;
            bool gate_up = !strcmp(k_layer[i].hf, "mlp.gate_up_proj.weight");
            if (!strcmp(k_layer[i].gg, "ffn_up.weight") && gate_up != c->fused_gate_up) continue;
            snprintf(out, cap, "model.layers.%d.%s", l, k_layer[i].hf);
            return;
        }
    snprintf(out, cap, "%s", gg);
}

/* ---------------------------------------------------------------- what an arch needs */

typedef enum { T_MATRIX, T_NORM, T_BIAS } tkind;

typedef struct tspec {
    char name[64];
    tkind kind;
    int n_dims;
    int64_t ne[2];  /* outermost first */
} tspec;

/* The tensors cfg's architecture reads; returns the count written to out
 * (out may be NULL to count). */
static int needed_tensors(const grt_config *c, tspec *out) {
    int n = 0;
    const int64_t E = c->n_embd, V = c->n_vocab, F = c->n_ff, D = c->head_dim;
    const int64_t Q = (int64_t)c->n_heads * D, K = (int64_t)c->n_kv_heads * D;
#define ADD(kd, nd, a, b, ...)                                          \
    do {                                                                \
        if (out) {                                                      \
            snprintf(out[n].name, sizeof out[n].name, __VA_ARGS__);     \
            out[n].kind = kd;                                           \
            out[n].n_dims = nd;                                         \
            out[n].ne[0] = a;                                           \
            out[n].ne[1] = b;                                           \
        }                                                               \
        n++;                                                            \
    } while (0)
    ADD(T_MATRIX, 2, V, E, "token_embd.weight");
    ADD(T_NORM, 1, E, 1, "output_norm.weight");
    if (!c->tied_embeddings) ADD(T_MATRIX, 2, V, E, "output.weight");
    for (int l = 0; l < c->n_layers; l++) {
        ADD(T_NORM, 1, E, 1, "blk.%d.attn_norm.weight", l);
        if (c->fused_qkv) {
            ADD(T_MATRIX, 2, Q + 2 * K, E, "blk.%d.attn_qkv.weight", l);
        } else {
            ADD(T_MATRIX, 2, Q, E, "blk.%d.attn_q.weight", l);
            ADD(T_MATRIX, 2, K, E, "blk.%d.attn_k.weight", l);
            ADD(T_MATRIX, 2, K, E, "blk.%d.attn_v.weight", l);
        }
        if (c->qkv_bias && !c->fused_qkv) {
            ADD(T_BIAS, 1, Q, 1, "blk.%d.attn_q.bias", l);
            ADD(T_BIAS, 1, K, 1, "blk.%d.attn_k.bias", l);
            ADD(T_BIAS, 1, K, 1, "blk.%d.attn_v.bias", l);
        }
        if (c->qk_norm) {
            ADD(T_NORM, 1, D, 1, "blk.%d.attn_q_norm.weight", l);
            ADD(T_NORM, 1, D, 1, "blk.%d.attn_k_norm.weight", l);
        }
        ADD(T_MATRIX, 2, E, Q, "blk.%d.attn_output.weight", l);
        ADD(T_NORM, 1, E, 1, "blk.%d.ffn_norm.weight", l);
        if (c->fused_gate_up) {
            ADD(T_MATRIX, 2, 2 * F, E, "blk.%d.ffn_up.weight", l);
        } else {
            ADD(T_MATRIX, 2, F, E, "blk.%d.ffn_gate.weight", l);
            ADD(T_MATRIX, 2, F, E, "blk.%d.ffn_up.weight", l);
        }
        ADD(T_MATRIX, 2, E, F, "blk.%d.ffn_down.weight", l);
    }
#undef ADD
    return n;
}

static void fmt_shape(char *buf, size_t cap, int n_dims, const int64_t *ne) {
    int o = snprintf(buf, cap, "[");
    for (int d = 0; d < n_dims && o < (int)cap; d++)
        o += snprintf(buf + o, cap - (size_t)o, "%s%lld", d ? ", " : "", (long long)ne[d]);
    if (o < (int)cap) snprintf(buf + o, cap - (size_t)o, "]");
}

static bool is_matrix_type(grt_dtype t) {
    return t == GRT_F32 || t == GRT_F16 || t == GRT_BF16 || t == GRT_Q8_0 || t == GRT_Q4_0;
}

/* Presence, shape and type of every tensor the arch needs; src names the file. */
static grt_status check_tensors(grt_weights *w, const char *src) {
    const grt_config *c = &w->cfg;
    int n = needed_tensors(c, NULL);
    tspec *sp = grt_calloc((size_t)n, sizeof *sp);
    if (!sp) return GRT_ERR_NO_MEMORY;
    needed_tensors(c, sp);
    grt_status s = GRT_OK;
    bool hf = w->st != NULL;
    for (int i = 0; i < n && !s; i++) {
        const grt_weight *x = grt_weights_get(w, sp[i].name);
        char hfn[160] = "";
        if (hf) {
            char t[128];
            gguf_to_hf(sp[i].name, c, t, sizeof t);
            snprintf(hfn, sizeof hfn, " (%s)", t);
        }
        if (!x) {
            s = grt_fail(GRT_ERR_FORMAT, "%s: missing tensor %s%s", src, sp[i].name, hfn);
            break;
        }
        bool ok = x->n_dims == sp[i].n_dims;
        for (int d = 0; ok && d < sp[i].n_dims; d++) ok = x->ne[d] == sp[i].ne[d];
        if (!ok) {
            char want[64], got[96];
            fmt_shape(want, sizeof want, sp[i].n_dims, sp[i].ne);
            fmt_shape(got, sizeof got, x->n_dims, x->ne);
            s = grt_fail(GRT_ERR_FORMAT, "%s: tensor %s%s: expected shape %s, got %s", src, sp[i].name,
                         hfn, want, got);
            break;
        }
        if (!is_matrix_type(x->type))
            s = grt_fail(GRT_ERR_UNSUPPORTED, "%s: tensor %s%s: type %s cannot be used as a weight", src,
                         sp[i].name, hfn, grt_dtype_name(x->type));
    }
    if (!s && c->rope_freqs_tensor) {
        const grt_weight *x = grt_weights_get(w, "rope_freqs.weight");
        if (!x || x->n_dims != 1 || x->ne[0] != c->rot_dim / 2)
            s = grt_fail(GRT_ERR_FORMAT, "%s: tensor rope_freqs.weight: expected shape [%d]", src,
                         c->rot_dim / 2);
    }
    free(sp);
    return s;
}

/* 1-D tensors become owned f32 (plus `add`, for Gemma's HF norms) unless
 * they already are f32, aligned and unchanged. Matrices that are misaligned
 * for their element type are copied so kernels may read them as arrays. */
static grt_status normalise(grt_weights *w, grt_weight *x, float add) {
    size_t align = grt_dtype_block_bytes(x->type) >= 4 ? 4 : 2;
    if (x->n_dims == 1) {
        if (x->type == GRT_F32 && add == 0 && (uintptr_t)x->data % 4 == 0) return GRT_OK;
        if (!is_matrix_type(x->type)) return GRT_OK; /* e.g. i32: left as stored */
        int64_t n = x->ne[0];
        float *f = grt_malloc((size_t)n * sizeof *f);
        grt_status s = own(w, f);
        if (s) return s;
        if (x->type == GRT_F32 || x->type == GRT_F16 || x->type == GRT_BF16) {
            /* the source may be unaligned: go through bytes */
            size_t es = grt_dtype_block_bytes(x->type);
            const uint8_t *src = x->data;
            for (int64_t i = 0; i < n; i++) {
                uint16_t h;
                if (x->type == GRT_F32) {
                    memcpy(&f[i], src + (size_t)i * es, 4);
                } else {
                    memcpy(&h, src + (size_t)i * es, 2);
                    f[i] = x->type == GRT_F16 ? grt_f16_to_f32(h) : grt_bf16_to_f32(h);
                }
            }
        } else {
            grt_dequantize_row(x->type, x->data, f, n);
        }
        for (int64_t i = 0; i < n; i++) f[i] += add;
        x->data = f;
        x->type = GRT_F32;
        x->nbytes = (size_t)n * sizeof *f;
        return GRT_OK;
    }
    if ((uintptr_t)x->data % align) {
        void *p = grt_malloc(x->nbytes);
        grt_status s = own(w, p);
        if (s) return s;
        memcpy(p, x->data, x->nbytes);
        x->data = p;
    }
    return GRT_OK;
}

/* ---------------------------------------------------------------- open */

static grt_status open_gguf(grt_weights *w) {
    grt_status s = grt_gguf_open(w->path, &w->gguf);
    if (s) return s;
    if ((s = grt_config_from_gguf(w->gguf, &w->cfg))) return s;
    w->format = "gguf";
    for (int64_t i = 0; i < grt_gguf_n_tensors(w->gguf); i++) {
        const grt_gguf_tensor *t = grt_gguf_tensor_at(w->gguf, i);
        grt_weight x = {t->name, t->type, t->n_dims, {1, 1, 1, 1}, t->data, t->nbytes};
        for (int d = 0; d < t->n_dims; d++) x.ne[d] = t->ne[t->n_dims - 1 - d];
        if ((s = normalise(w, &x, 0)) || (s = add_weight(w, &x))) return s;
    }
    if ((s = build_hash(w))) return s;
    return check_tensors(w, w->path);
}

static grt_status open_hf(grt_weights *w) {
    char cpath[4096];
    snprintf(cpath, sizeof cpath, "%s/config.json", w->dir);
    struct stat sb;
    if (stat(cpath, &sb) != 0)
        return grt_fail(GRT_ERR_IO, "%s: not a model directory (no config.json)", w->dir);
    grt_status s = grt_config_from_hf(cpath, &w->cfg);
    if (s) return s;
    if ((s = grt_st_open_dir(w->dir, &w->st))) return s;
    w->format = "safetensors";
    bool gemma = !strcmp(w->cfg.arch, "gemma");
    for (int i = 0; i < grt_st_count(w->st); i++) {
        const grt_st_tensor *t = grt_st_at(w->st, i);
        char name[128];
        long layer = 0;
        int r = hf_to_gguf(t->name, w->cfg.n_layers, name, sizeof name, &layer);
        if (r < 0)
            return grt_fail(GRT_ERR_FORMAT, "%s: tensor %s: layer %ld, but num_hidden_layers is %d",
                            t->file, t->name, layer, w->cfg.n_layers);
        if (r > 0) continue;
        if (w->cfg.tied_embeddings && !strcmp(name, "output.weight")) continue; /* HF ties it away */
        if (t->n_dims < 1 || t->n_dims > 2)
            return grt_fail(GRT_ERR_FORMAT, "%s: tensor %s: %d dimensions, expected 1 or 2", t->file,
                            t->name, t->n_dims);
        char *nm = strdup(name);
        if ((s = own(w, nm))) return s;
        grt_weight x = {nm, t->type, t->n_dims, {1, 1, 1, 1}, t->data, t->nbytes};
        for (int d = 0; d < t->n_dims; d++) x.ne[d] = t->shape[d];
        bool norm = t->n_dims == 1 && strstr(name, "norm.weight");
        if ((s = normalise(w, &x, gemma && norm ? 1.0f : 0.0f)) || (s = add_weight(w, &x))) return s;
    }
    if ((s = build_hash(w))) return s;
    return check_tensors(w, w->dir);
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static bool has_gguf_magic(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char m[4] = {0};
    bool ok = fread(m, 1, 4, f) == 4 && !memcmp(m, "GGUF", 4);
    fclose(f);
    return ok;
}

/* The directory of a path to a file ("." when it has no slash). */
static char *dir_of(const char *path) {
    const char *sl = strrchr(path, '/');
    if (!sl) return strdup(".");
    if (sl == path) return strdup("/");
    return strndup(path, (size_t)(sl - path));
}

grt_status grt_weights_open(const char *path, grt_weights **out) {
    *out = NULL;
    if (!path || !path[0]) return grt_fail(GRT_ERR_INVALID_ARG, "weights: empty path");
    struct stat sb;
    if (stat(path, &sb) != 0)
        return grt_fail(GRT_ERR_IO, "%s: %s", path, strerror(errno));
    grt_weights *w = grt_calloc(1, sizeof *w);
    if (!w) return GRT_ERR_NO_MEMORY;
    grt_status s;
    w->path = strdup(path);
    if (!w->path) { s = grt_fail(GRT_ERR_NO_MEMORY, "out of memory"); goto fail; }
    if (S_ISDIR(sb.st_mode)) {
        w->dir = strdup(path);
        s = w->dir ? open_hf(w) : grt_fail(GRT_ERR_NO_MEMORY, "out of memory");
    } else if (ends_with(path, "config.json")) {
        w->dir = dir_of(path);
        s = w->dir ? open_hf(w) : grt_fail(GRT_ERR_NO_MEMORY, "out of memory");
    } else if (ends_with(path, ".gguf") || has_gguf_magic(path)) {
        s = open_gguf(w);
    } else {
        s = grt_fail(GRT_ERR_UNSUPPORTED, "%s: expected a Hugging Face model directory, its config.json, or a .gguf file",
                     path);
    }
    if (s) goto fail;
    *out = w;
    return GRT_OK;
fail:
    grt_weights_free(w);
    return s;
}

/* ---------------------------------------------------------------- random */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#define RND_AMP 0.0346f /* uniform in [-a, a] has std a / sqrt(3) = 0.02 */
#define RND_CHUNK_ROWS 64

typedef struct rnd_job {
    grt_weight *x;
    int tensor;
    tkind kind;
    int64_t row0, n_rows, n_cols;
} rnd_job;

typedef struct rnd_pool {
    rnd_job *jobs;
    int n_jobs;
    int next;
    pthread_mutex_t mu;
} rnd_pool;

static void fill_rows(const rnd_job *j) {
    uint64_t st = ((uint64_t)j->tensor << 40) ^ (uint64_t)j->row0 ^ 0x6a09e667f3bcc909ull;
    splitmix64(&st);
    uint64_t x = splitmix64(&st) | 1; /* xorshift64 state */
    size_t rb = grt_row_bytes(j->x->type, j->n_cols);
    uint8_t *dst = (uint8_t *)j->x->data + (size_t)j->row0 * rb;
    int64_t n = j->n_rows * j->n_cols;
#define NEXT() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
#define UNIF() ((float)((int64_t)(NEXT() >> 11) - (1ll << 52)) * (RND_AMP / 4503599627370496.0f))
    switch (j->x->type) {
    case GRT_F32: {
        float *f = (float *)dst;
        for (int64_t i = 0; i < n; i++) f[i] = j->kind == T_NORM ? 1.0f : UNIF();
        break;
    }
    case GRT_F16: {
        uint16_t *h = (uint16_t *)dst;
        for (int64_t i = 0; i < n; i++) h[i] = grt_f32_to_f16(UNIF());
        break;
    }
    case GRT_BF16: {
        uint16_t *h = (uint16_t *)dst;
        for (int64_t i = 0; i < n; i++) h[i] = grt_f32_to_bf16(UNIF());
        break;
    }
    case GRT_Q8_0: {
        grt_block_q8_0 *b = (grt_block_q8_0 *)dst;
        uint16_t d = grt_f32_to_f16(RND_AMP / 127.0f);
        for (int64_t i = 0; i < n / GRT_QK; i++) {
            b[i].d = d;
            for (int k = 0; k < GRT_QK; k += 8) {
                uint64_t r = NEXT();
                for (int m = 0; m < 8; m++) {
                    int q = (int)((r >> (8 * m)) & 0xff) - 128;
                    b[i].qs[k + m] = (int8_t)(q < -127 ? -127 : q);
                }
            }
        }
        break;
    }
    case GRT_Q4_0: {
        grt_block_q4_0 *b = (grt_block_q4_0 *)dst;
        uint16_t d = grt_f32_to_f16(RND_AMP / 8.0f);
        for (int64_t i = 0; i < n / GRT_QK; i++) {
            b[i].d = d;
            uint64_t r0 = NEXT(), r1 = NEXT();
            memcpy(b[i].qs, &r0, 8);
            memcpy(b[i].qs + 8, &r1, 8);
        }
        break;
    }
    default: break;
    }
#undef NEXT
#undef UNIF
}

static void *rnd_worker(void *arg) {
    rnd_pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int i = p->next++;
        pthread_mutex_unlock(&p->mu);
        if (i >= p->n_jobs) return NULL;
        fill_rows(&p->jobs[i]);
    }
}

/* The matrix type actually used for target t on a row of n_in elements:
 * quantized types need whole blocks, else f16. */
static grt_dtype matrix_type_for(grt_dtype t, int64_t n_in) {
    return n_in % grt_dtype_block(t) ? GRT_F16 : t;
}

grt_status grt_weights_random(const char *path, grt_dtype type, grt_weights **out) {
    *out = NULL;
    if (!path) return grt_fail(GRT_ERR_INVALID_ARG, "weights: NULL path");
    if (!is_matrix_type(type))
        return grt_fail(GRT_ERR_INVALID_ARG, "random weights: type %s is not a weight type (f32, f16, bf16, q8_0, q4_0)",
                        grt_dtype_name(type));
    struct stat sb;
    if (stat(path, &sb) != 0) return grt_fail(GRT_ERR_IO, "%s: %s", path, strerror(errno));
    grt_weights *w = grt_calloc(1, sizeof *w);
    if (!w) return GRT_ERR_NO_MEMORY;
    grt_status s = GRT_OK;
    tspec *sp = NULL;
    rnd_job *jobs = NULL;
    char cpath[4096];
    if (S_ISDIR(sb.st_mode)) {
        snprintf(cpath, sizeof cpath, "%s/config.json", path);
        w->dir = strdup(path);
    } else {
        snprintf(cpath, sizeof cpath, "%s", path);
        w->dir = dir_of(path);
    }
    w->path = strdup(cpath);
    w->format = "random";
    if (!w->dir || !w->path) { s = grt_fail(GRT_ERR_NO_MEMORY, "out of memory"); goto fail; }
    if ((s = grt_config_from_hf(cpath, &w->cfg))) goto fail;
    int n = needed_tensors(&w->cfg, NULL);
    sp = grt_calloc((size_t)n, sizeof *sp);
    if (!sp) { s = GRT_ERR_NO_MEMORY; goto fail; }
    needed_tensors(&w->cfg, sp);
    int n_jobs = 0;
    for (int i = 0; i < n; i++) n_jobs += (int)((sp[i].ne[sp[i].n_dims == 2 ? 0 : 1] + RND_CHUNK_ROWS - 1) / RND_CHUNK_ROWS);
    jobs = grt_calloc((size_t)n_jobs, sizeof *jobs);
    if (!jobs) { s = GRT_ERR_NO_MEMORY; goto fail; }
    /* add_weight may move w->w: fill jobs after every weight is in place */
    for (int i = 0; i < n; i++) {
        int64_t rows = sp[i].n_dims == 2 ? sp[i].ne[0] : 1;
        int64_t cols = sp[i].n_dims == 2 ? sp[i].ne[1] : sp[i].ne[0];
        grt_dtype t = sp[i].kind == T_MATRIX ? matrix_type_for(type, cols) : GRT_F32;
        size_t nb = grt_row_bytes(t, cols) * (size_t)rows;
        char *nm = strdup(sp[i].name);
        if ((s = own(w, nm))) goto fail;
        void *buf = aligned_alloc(64, (nb + 63) / 64 * 64);
        if ((s = own(w, buf))) goto fail;
        grt_weight x = {nm, t, sp[i].n_dims, {1, 1, 1, 1}, buf, nb};
        x.ne[0] = sp[i].ne[0];
        x.ne[1] = sp[i].ne[1];
        if ((s = add_weight(w, &x))) goto fail;
    }
    int j = 0;
    for (int i = 0; i < n; i++) {
        int64_t rows = sp[i].n_dims == 2 ? sp[i].ne[0] : 1;
        int64_t cols = sp[i].n_dims == 2 ? sp[i].ne[1] : sp[i].ne[0];
        for (int64_t r = 0; r < rows; r += RND_CHUNK_ROWS)
            jobs[j++] = (rnd_job){&w->w[i], i, sp[i].kind, r,
                                  rows - r < RND_CHUNK_ROWS ? rows - r : RND_CHUNK_ROWS, cols};
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int n_thr = ncpu < 1 ? 1 : ncpu > 64 ? 64 : (int)ncpu;
    rnd_pool pool = {jobs, j, 0, PTHREAD_MUTEX_INITIALIZER};
    pthread_t th[64];
    int started = 0;
    for (int t = 1; t < n_thr; t++)
        if (pthread_create(&th[started], NULL, rnd_worker, &pool) == 0) started++;
    rnd_worker(&pool);
    for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
    if ((s = build_hash(w))) goto fail;
    free(sp);
    free(jobs);
    *out = w;
    return GRT_OK;
fail:
    free(sp);
    free(jobs);
    grt_weights_free(w);
    return s;
}
