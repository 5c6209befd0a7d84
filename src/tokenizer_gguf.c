/* The tokenizer in a GGUF: the tokenizer.ggml.* keys llama.cpp reads and
 * writes, plus tokenizer.genrt.* keys holding the Hugging Face pipeline
 * sections as JSON text, so a tokenizer.json -> GGUF -> tokenizer round trip
 * gives the same ids for any file. GGUFs without the genrt keys (written by
 * llama.cpp) are read with llama.cpp's conventions: the pre-tokenizer named
 * by tokenizer.ggml.pre, SentencePiece merges from scores when no merges are
 * stored. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tokenizer_impl.h"

/* ------------------------------------------------------------ pre names */

#define RX_LLAMA3                                                                           \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" \
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_QWEN2                                                                            \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" \
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_TEKKEN                                                                           \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|"          \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}|"  \
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

static const char *const rx_llama3[] = {RX_LLAMA3};
static const char *const rx_qwen2[] = {RX_QWEN2};
static const char *const rx_tekken[] = {RX_TEKKEN};
static const char *const rx_gpt2[] = {tk_gpt2_regex};
static const char *const rx_starcoder[] = {"\\p{N}", tk_gpt2_regex};

static const struct {
    const char *name;
    const char *const *rx;
    int n;
} pre_names[] = {
    {"llama-bpe", rx_llama3, 1}, {"llama3", rx_llama3, 1}, {"dbrx", rx_llama3, 1},
    {"smaug-bpe", rx_llama3, 1}, {"falcon3", rx_llama3, 1},
    {"qwen2", rx_qwen2, 1}, {"deepseek-r1-qwen", rx_qwen2, 1},
    {"tekken", rx_tekken, 1},
    {"gpt-2", rx_gpt2, 1}, {"gpt2", rx_gpt2, 1}, {"default", rx_gpt2, 1}, {"phi-2", rx_gpt2, 1},
    {"starcoder", rx_starcoder, 2}, {"refact", rx_starcoder, 2}, {"smollm", rx_starcoder, 2},
};

const char *const *tk_pre_regexes(const char *name, int *n_out) {
    for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++)
        if (strcmp(pre_names[i].name, name) == 0) {
            *n_out = pre_names[i].n;
            return pre_names[i].rx;
        }
    *n_out = 0;
    return NULL;
}

const char *tk_pre_name_for(const char *const *rx, int n) {
    for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++) {
        if (pre_names[i].n != n) continue;
        bool same = true;
        for (int k = 0; k < n && same; k++) same = strcmp(pre_names[i].rx[k], rx[k]) == 0;
        if (same) return pre_names[i].name;
    }
    return NULL;
}

/* llama.cpp's name for this tokenizer's pre-tokenizer. */
static const char *pre_name(const grt_tokenizer *t) {
    if (t->gguf_pre_name) return t->gguf_pre_name;
    if (t->kind == TK_SENTENCEPIECE) return "default";
    const char *rx[8];
    int n = 0;
    for (int i = 0; i < t->n_pre && n < 8; i++) {
        const tk_pre *p = &t->pre[i];
        if (p->kind == TK_PRE_SPLIT && p->pattern) rx[n++] = p->pattern;
        else if (p->kind == TK_PRE_BYTELEVEL && p->re) rx[n++] = tk_gpt2_regex;
        else if (p->kind == TK_PRE_DIGITS) rx[n++] = p->individual ? "\\p{N}" : "\\p{N}+";
    }
    const char *name = tk_pre_name_for(rx, n);
    return name ? name : "default";
}

/* ------------------------------------------------------------ writing */

static int cmp_rank(const void *a, const void *b) {
    const tk_merge *x = *(const tk_merge *const *)a, *y = *(const tk_merge *const *)b;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

grt_status tk_to_gguf(const grt_tokenizer *t, grt_gguf_writer *w, bool genrt_keys) {
    if (!t || !w) return grt_fail(GRT_ERR_INVALID_ARG, "grt_tokenizer_to_gguf: NULL argument");
    size_t n = (size_t)t->n_vocab;
    const char **strs = malloc(n * sizeof *strs);
    size_t *lens = malloc(n * sizeof *lens);
    int32_t *types = malloc(n * sizeof *types);
    char *holes = NULL;
    const tk_merge **ms = malloc((t->merges.n + 1) * sizeof *ms);
    char **mstr = calloc(t->merges.n + 1, sizeof *mstr);
    size_t *mlen = malloc((t->merges.n + 1) * sizeof *mlen);
    grt_status st = GRT_OK;
    if (!strs || !lens || !types || !ms || !mstr || !mlen) {
        st = grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
        goto done;
    }
    size_t n_holes = 0;
    for (size_t i = 0; i < n; i++) n_holes += t->tok_len[i] == UINT32_MAX;
    holes = malloc(n_holes * 32 + 1);
    if (!holes) {
        st = grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
        goto done;
    }
    char *hp = holes;
    for (size_t i = 0; i < n; i++) {
        if (t->tok_len[i] == UINT32_MAX) { /* ids no token uses: unique placeholders */
            int k = snprintf(hp, 32, "<genrt_unused_%zu>", i);
            strs[i] = hp;
            lens[i] = (size_t)k;
            hp += k + 1;
            types[i] = TK_TYPE_UNUSED;
        } else {
            strs[i] = t->pool.p + t->tok_off[i];
            lens[i] = t->tok_len[i];
            types[i] = t->type[i] ? t->type[i] : TK_TYPE_NORMAL;
        }
    }
    st = grt_gguf_set_str(w, "tokenizer.ggml.model", t->kind == TK_BYTELEVEL ? "gpt2" : "llama");
    if (!st) st = grt_gguf_set_str(w, "tokenizer.ggml.pre", pre_name(t));
    if (!st) st = grt_gguf_set_arr_str(w, "tokenizer.ggml.tokens", strs, lens, n);
    if (!st) st = grt_gguf_set_arr(w, "tokenizer.ggml.scores", GRT_GGUF_F32, t->score, n);
    if (!st) st = grt_gguf_set_arr(w, "tokenizer.ggml.token_type", GRT_GGUF_I32, types, n);
    if (st) goto done;
    /* merges in rank order, "left right" */
    size_t nm = 0;
    for (size_t i = 0; i < t->merges.cap; i++)
        if (t->merges.slot[i].key != UINT64_MAX) ms[nm++] = &t->merges.slot[i];
    qsort(ms, nm, sizeof *ms, cmp_rank);
    for (size_t i = 0; i < nm; i++) {
        int32_t a = (int32_t)(ms[i]->key >> 32), b = (int32_t)(ms[i]->key & 0xffffffffu);
        size_t la = t->tok_len[a], lb = t->tok_len[b];
        mstr[i] = malloc(la + lb + 2);
        if (!mstr[i]) {
            st = grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
            goto done;
        }
        memcpy(mstr[i], t->pool.p + t->tok_off[a], la);
        mstr[i][la] = ' ';
        memcpy(mstr[i] + la + 1, t->pool.p + t->tok_off[b], lb);
        mstr[i][la + lb + 1] = 0;
        mlen[i] = la + lb + 1;
    }
    /* llama.cpp's SentencePiece GGUFs carry no merges (they follow from the
     * scores); ours keep them so the ids stay exact for any file. */
    if (nm && (genrt_keys || t->kind == TK_BYTELEVEL))
        st = grt_gguf_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)mstr, mlen, nm);
    if (!st && t->bos_id >= 0) st = grt_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)t->bos_id);
    if (!st && t->n_eos) st = grt_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)t->eos_ids[0]);
    if (!st && t->pad_id >= 0) st = grt_gguf_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)t->pad_id);
    if (!st && t->unk_id >= 0) st = grt_gguf_set_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)t->unk_id);
    if (!st) st = grt_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", t->add_bos);
    if (!st) st = grt_gguf_set_bool(w, "tokenizer.ggml.add_eos_token", t->add_eos);
    if (!st && t->chat_template) st = grt_gguf_set_str(w, "tokenizer.chat_template", t->chat_template);
    if (!st && t->kind == TK_SENTENCEPIECE) { /* llama.cpp: prepend U+2581 to the text */
        bool space_prefix = false;
        for (int i = 0; i < t->n_norm; i++) space_prefix |= t->norm[i].kind == TK_NORM_PREPEND;
        for (int i = 0; i < t->n_pre; i++)
            space_prefix |= t->pre[i].kind == TK_PRE_METASPACE && t->pre[i].prepend != TK_PREPEND_NEVER;
        st = grt_gguf_set_bool(w, "tokenizer.ggml.add_space_prefix", space_prefix);
    }
    if (st || !genrt_keys) goto done;
    static const struct {
        const char *key;
        size_t off;
    } sections[] = {
        {"tokenizer.genrt.normalizer", offsetof(grt_tokenizer, json_normalizer)},
        {"tokenizer.genrt.pre_tokenizer", offsetof(grt_tokenizer, json_pre)},
        {"tokenizer.genrt.post_processor", offsetof(grt_tokenizer, json_post)},
        {"tokenizer.genrt.decoder", offsetof(grt_tokenizer, json_decoder)},
        {"tokenizer.genrt.added_tokens", offsetof(grt_tokenizer, json_added)},
        {"tokenizer.genrt.model", offsetof(grt_tokenizer, json_model_opts)},
    };
    for (size_t i = 0; i < sizeof sections / sizeof sections[0] && !st; i++) {
        const char *v = *(char *const *)((const char *)t + sections[i].off);
        st = grt_gguf_set_str(w, sections[i].key, v ? v : "null");
    }
    if (!st && t->n_eos)
        st = grt_gguf_set_arr(w, "tokenizer.genrt.eos_token_ids", GRT_GGUF_I32, t->eos_ids, (uint64_t)t->n_eos);
done:
    if (mstr)
        for (size_t i = 0; i < t->merges.n; i++) free(mstr[i]);
    free(mstr);
    free(mlen);
    free(ms);
    free(strs);
    free(lens);
    free(types);
    free(holes);
    return st;
}

grt_status grt_tokenizer_to_gguf(const grt_tokenizer *t, grt_gguf_writer *w) {
    return tk_to_gguf(t, w, true);
}

/* ------------------------------------------------------------ reading */

static grt_status parse_section(grt_tokenizer *t, const grt_gguf *g, const char *key,
                                grt_status (*fn)(grt_tokenizer *, const cJSON *, const char *),
                                const char *file) {
    const char *s;
    size_t len;
    if (!grt_gguf_get_str(g, key, &s, &len)) return fn(t, NULL, file);
    cJSON *j = cJSON_ParseWithLength(s, len);
    if (!j) return grt_fail(GRT_ERR_FORMAT, "%s: %s: not valid JSON", file, key);
    char field[160];
    snprintf(field, sizeof field, "%s (%s)", file, key);
    grt_status st = fn(t, j, field);
    cJSON_Delete(j);
    return st;
}

static grt_status push_id(int32_t **v, int *n, int32_t id) {
    int32_t *p = realloc(*v, (size_t)(*n + 1) * sizeof *p);
    if (!p) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    *v = p;
    p[(*n)++] = id;
    return GRT_OK;
}

static grt_status add_pre_split(grt_tokenizer *t, const char *rx, const char *file) {
    tk_pre *p = realloc(t->pre, (size_t)(t->n_pre + 1) * sizeof *p);
    if (!p) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    t->pre = p;
    p = &t->pre[t->n_pre];
    memset(p, 0, sizeof *p);
    p->kind = TK_PRE_SPLIT;
    p->behavior = TK_SPLIT_ISOLATED;
    p->pattern = strdup(rx);
    p->re = tk_regex_compile(rx, strlen(rx), false, file, "tokenizer.ggml.pre");
    t->n_pre++;
    if (!p->pattern) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    return p->re ? GRT_OK : GRT_ERR_UNSUPPORTED;
}

/* The pipeline llama.cpp implies for a GGUF without genrt keys. */
static grt_status llamacpp_pipeline(grt_tokenizer *t, const grt_gguf *g, bool spm, const char *file) {
    grt_status st = GRT_OK;
    /* added tokens: control (special) and user-defined tokens */
    int n_added = 0;
    for (int i = 0; i < t->n_vocab; i++)
        n_added += t->type[i] == TK_TYPE_CONTROL || t->type[i] == TK_TYPE_USER;
    t->added = calloc((size_t)n_added + 1, sizeof *t->added);
    if (!t->added) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    for (int i = 0; i < t->n_vocab; i++) {
        if (t->type[i] != TK_TYPE_CONTROL && t->type[i] != TK_TYPE_USER) continue;
        tk_added *a = &t->added[t->n_added++];
        a->id = i;
        a->off = t->tok_off[i];
        a->len = t->tok_len[i];
        a->special = t->type[i] == TK_TYPE_CONTROL;
    }
    if (spm) {
        bool space_prefix = true;
        grt_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &space_prefix);
        char json[512];
        snprintf(json, sizeof json,
                 "{\"type\":\"Sequence\",\"normalizers\":[%s{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},"
                 "\"content\":\"\\u2581\"}]}",
                 space_prefix ? "{\"type\":\"Prepend\",\"prepend\":\"\\u2581\"}," : "");
        cJSON *j = cJSON_Parse(json);
        st = j ? tk_parse_normalizer(t, j, file) : grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
        cJSON_Delete(j);
        if (st) return st;
        snprintf(json, sizeof json,
                 "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"\\u2581\"},"
                 "\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"}%s]}",
                 space_prefix ? ",{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}" : "");
        j = cJSON_Parse(json);
        st = j ? tk_parse_decoder(t, j, file) : grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
        cJSON_Delete(j);
        t->byte_fallback = true;
        t->fuse_unk = true;
        return st;
    }
    const char *name = "default";
    size_t nl;
    if (grt_gguf_get_str(g, "tokenizer.ggml.pre", &name, &nl)) {
        char *nm = strndup(name, nl);
        if (!nm) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
        free(t->gguf_pre_name);
        t->gguf_pre_name = nm;
        name = nm;
    }
    int n_rx;
    const char *const *rx = tk_pre_regexes(name, &n_rx);
    if (!rx)
        return grt_fail(GRT_ERR_UNSUPPORTED, "%s: tokenizer.ggml.pre: pre-tokenizer \"%s\" is not supported", file, name);
    for (int i = 0; i < n_rx && !st; i++) st = add_pre_split(t, rx[i], file);
    if (st) return st;
    tk_pre *p = realloc(t->pre, (size_t)(t->n_pre + 1) * sizeof *p);
    if (!p) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    t->pre = p;
    memset(&t->pre[t->n_pre], 0, sizeof *p);
    t->pre[t->n_pre++].kind = TK_PRE_BYTELEVEL;
    /* Hugging Face's Qwen2 tokenizers normalize to NFC; llama.cpp's llama3
     * pre-tokenizer ignores merges, as the tokenizer.json does */
    if (rx == rx_qwen2) {
        t->norm = calloc(1, sizeof *t->norm);
        if (!t->norm) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
        t->norm[0].kind = TK_NORM_NFC;
        t->n_norm = 1;
    }
    if (rx == rx_llama3) t->ignore_merges = true;
    t->dec = calloc(1, sizeof *t->dec);
    if (!t->dec) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    t->dec[0].kind = TK_DEC_BYTELEVEL;
    t->n_dec = 1;
    t->has_decoder = true;
    return GRT_OK;
}

static grt_status read_merges(grt_tokenizer *t, const grt_gguf *g, const char *file) {
    grt_gguf_type et;
    uint64_t n;
    const void *data;
    if (!grt_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n, &data)) return GRT_OK;
    if (et != GRT_GGUF_STRING) return grt_fail(GRT_ERR_FORMAT, "%s: tokenizer.ggml.merges: not a string array", file);
    tk_buf cat = {0};
    grt_status st = GRT_OK;
    for (uint64_t i = 0; i < n && !st; i++) {
        const char *s;
        size_t len;
        if (!grt_gguf_arr_str(g, "tokenizer.ggml.merges", i, &s, &len)) {
            st = grt_fail(GRT_ERR_FORMAT, "%s: tokenizer.ggml.merges[%llu]: unreadable", file, (unsigned long long)i);
            break;
        }
        /* split at the first space that leaves two known tokens */
        int32_t a = -1, b = -1;
        for (size_t k = 1; k + 1 < len && (a < 0 || b < 0); k++) {
            if (s[k] != ' ') continue;
            a = tk_vocab_find(t, s, k);
            b = tk_vocab_find(t, s + k + 1, len - k - 1);
            if (a >= 0 && b >= 0) {
                cat.n = 0;
                if (!tk_buf_put(&cat, s, k) || !tk_buf_put(&cat, s + k + 1, len - k - 1)) {
                    st = GRT_ERR_NO_MEMORY;
                    break;
                }
                int32_t m = tk_vocab_find(t, cat.p, cat.n);
                if (m < 0) {
                    st = grt_fail(GRT_ERR_FORMAT, "%s: tokenizer.ggml.merges[%llu]: token \"%.*s\" is not in the vocabulary",
                                  file, (unsigned long long)i, (int)(cat.n > 200 ? 200 : cat.n), cat.p);
                    break;
                }
                st = tk_merge_add(t, a, b, m, (uint32_t)i);
            }
        }
        if (!st && (a < 0 || b < 0))
            st = grt_fail(GRT_ERR_FORMAT, "%s: tokenizer.ggml.merges[%llu]: \"%.*s\" does not name two tokens of the vocabulary",
                          file, (unsigned long long)i, (int)(len > 200 ? 200 : len), s);
    }
    t->n_merges = (uint32_t)n;
    tk_buf_free(&cat);
    return st;
}

typedef struct {
    float score;
    int32_t id;
} scored;

static int cmp_score(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* SentencePiece BPE without stored merges: every split of a vocabulary
 * piece into two vocabulary pieces is a merge, ranked by the piece's score
 * (higher first), as Hugging Face's converter derives them. */
static grt_status merges_from_scores(grt_tokenizer *t) {
    scored *v = malloc((size_t)t->n_vocab * sizeof *v);
    if (!v) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    int n = 0;
    for (int i = 0; i < t->n_vocab; i++)
        if (t->tok_len[i] != UINT32_MAX && t->type[i] != TK_TYPE_UNUSED) v[n++] = (scored){t->score[i], i};
    qsort(v, (size_t)n, sizeof *v, cmp_score);
    grt_status st = GRT_OK;
    uint32_t rank = 0;
    for (int i = 0; i < n && !st; i++) {
        const char *s = t->pool.p + t->tok_off[v[i].id];
        size_t len = t->tok_len[v[i].id];
        for (size_t k = (size_t)tk_utf8_len((unsigned char)s[0]); k < len && !st;
             k += (size_t)tk_utf8_len((unsigned char)s[k])) {
            int32_t a = tk_vocab_find(t, s, k), b = tk_vocab_find(t, s + k, len - k);
            if (a >= 0 && b >= 0) st = tk_merge_add(t, a, b, v[i].id, rank++);
        }
    }
    t->n_merges = rank;
    free(v);
    return st;
}

grt_status grt_tokenizer_from_gguf(const grt_gguf *g, grt_tokenizer **out) {
    if (!out) return grt_fail(GRT_ERR_INVALID_ARG, "grt_tokenizer_from_gguf: NULL out");
    *out = NULL;
    if (!g) return grt_fail(GRT_ERR_INVALID_ARG, "grt_tokenizer_from_gguf: NULL gguf");
    const char *file = grt_gguf_path(g);
    if (!file) file = "gguf";
    grt_tokenizer *t = NULL;
    grt_status st = tk_new(file, &t);
    if (st) return st;
    const char *model;
    size_t ml;
    if (!grt_gguf_get_str(g, "tokenizer.ggml.model", &model, &ml)) {
        st = grt_fail(GRT_ERR_FORMAT, "%s: tokenizer.ggml.model: missing (the file has no tokenizer)", file);
        goto fail;
    }
    bool spm;
    if (ml == 4 && memcmp(model, "gpt2", 4) == 0) spm = false;
    else if (ml == 5 && memcmp(model, "llama", 5) == 0) spm = true;
    else if (ml == 4 && memcmp(model, "none", 4) == 0) {
        st = grt_fail(GRT_ERR_FORMAT, "%s: tokenizer.ggml.model: \"none\" (the model has no vocabulary)", file);
        goto fail;
    } else {
        st = grt_fail(GRT_ERR_UNSUPPORTED, "%s: tokenizer.ggml.model: \"%.*s\" is not supported (gpt2 or llama)", file,
                      (int)(ml > 64 ? 64 : ml), model);
        goto fail;
    }
    grt_gguf_type et;
    uint64_t n;
    const void *data;
    if (!grt_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &data) || et != GRT_GGUF_STRING || !n ||
        n >= (1u << 30)) {
        st = grt_fail(GRT_ERR_FORMAT, "%s: tokenizer.ggml.tokens: missing or not a string array", file);
        goto fail;
    }
    st = tk_vocab_init(t, (int)n);
    if (st) goto fail;
    const float *scores = NULL;
    const int32_t *types = NULL;
    uint64_t n2;
    if (grt_gguf_get_arr(g, "tokenizer.ggml.scores", &et, &n2, &data)) {
        if (et != GRT_GGUF_F32 || n2 != n) {
            st = grt_fail(GRT_ERR_FORMAT, "%s: tokenizer.ggml.scores: not %llu f32 values", file, (unsigned long long)n);
            goto fail;
        }
        scores = data;
    }
    if (grt_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &n2, &data)) {
        if (et != GRT_GGUF_I32 || n2 != n) {
            st = grt_fail(GRT_ERR_FORMAT, "%s: tokenizer.ggml.token_type: not %llu i32 values", file, (unsigned long long)n);
            goto fail;
        }
        types = data;
    }
    for (uint64_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        if (!grt_gguf_arr_str(g, "tokenizer.ggml.tokens", i, &s, &len)) {
            st = grt_fail(GRT_ERR_FORMAT, "%s: tokenizer.ggml.tokens[%llu]: unreadable", file, (unsigned long long)i);
            goto fail;
        }
        float sc = 0;
        int32_t ty = TK_TYPE_NORMAL;
        if (scores) memcpy(&sc, &scores[i], sizeof sc);
        if (types) memcpy(&ty, &types[i], sizeof ty);
        if (ty < 1 || ty > 6) ty = TK_TYPE_NORMAL;
        st = tk_vocab_set(t, (int32_t)i, s, len, sc, ty);
        if (st) goto fail;
    }
    st = tk_vocab_index(t);
    if (st) goto fail;
    int64_t v;
    bool genrt = grt_gguf_find_key(g, "tokenizer.genrt.model") >= 0;
    if (genrt) {
        st = parse_section(t, g, "tokenizer.genrt.model", tk_parse_model_options, file);
        if (!st) st = parse_section(t, g, "tokenizer.genrt.added_tokens", tk_parse_added_tokens, file);
        if (!st) st = parse_section(t, g, "tokenizer.genrt.normalizer", tk_parse_normalizer, file);
        if (!st) st = parse_section(t, g, "tokenizer.genrt.pre_tokenizer", tk_parse_pre_tokenizer, file);
        if (!st) st = parse_section(t, g, "tokenizer.genrt.post_processor", tk_parse_post_processor, file);
        if (!st) st = parse_section(t, g, "tokenizer.genrt.decoder", tk_parse_decoder, file);
        const char *pn;
        size_t pl;
        if (!st && grt_gguf_get_str(g, "tokenizer.ggml.pre", &pn, &pl) && !(t->gguf_pre_name = strndup(pn, pl)))
            st = grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    } else {
        st = llamacpp_pipeline(t, g, spm, file);
        if (!st && grt_gguf_get_int(g, "tokenizer.ggml.unknown_token_id", &v) && v >= 0 && v < (int64_t)n) t->unk_id = (int32_t)v;
        if (!st && t->unk_id < 0)
            for (int i = 0; i < t->n_vocab; i++)
                if (t->type[i] == TK_TYPE_UNKNOWN) {
                    t->unk_id = i;
                    break;
                }
    }
    if (st) goto fail;
    if (grt_gguf_find_key(g, "tokenizer.ggml.merges") >= 0) st = read_merges(t, g, file);
    else if (spm) st = merges_from_scores(t);
    if (st) goto fail;

    if (grt_gguf_get_int(g, "tokenizer.ggml.bos_token_id", &v) && v >= 0 && v < (int64_t)n) t->bos_id = (int32_t)v;
    if (grt_gguf_get_int(g, "tokenizer.ggml.padding_token_id", &v) && v >= 0 && v < (int64_t)n) t->pad_id = (int32_t)v;
    if (grt_gguf_get_arr(g, "tokenizer.genrt.eos_token_ids", &et, &n2, &data) && et == GRT_GGUF_I32) {
        for (uint64_t i = 0; i < n2 && !st; i++) {
            int32_t e;
            memcpy(&e, (const int32_t *)data + i, sizeof e);
            if (e >= 0 && e < (int64_t)n) st = push_id(&t->eos_ids, &t->n_eos, e);
        }
    } else if (grt_gguf_get_int(g, "tokenizer.ggml.eos_token_id", &v) && v >= 0 && v < (int64_t)n) {
        st = push_id(&t->eos_ids, &t->n_eos, (int32_t)v);
    }
    if (st) goto fail;
    bool b;
    t->add_bos = spm;
    t->add_eos = false;
    if (grt_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b)) t->add_bos = b;
    if (grt_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b)) t->add_eos = b;
    if (!genrt) { /* the template llama.cpp applies */
        if (t->add_bos && t->bos_id >= 0) st = push_id(&t->prefix_ids, &t->n_prefix, t->bos_id);
        if (!st && t->add_eos && t->n_eos) st = push_id(&t->suffix_ids, &t->n_suffix, t->eos_ids[0]);
        if (st) goto fail;
    }
    const char *ct;
    size_t cl;
    if (grt_gguf_get_str(g, "tokenizer.chat_template", &ct, &cl) && !(t->chat_template = strndup(ct, cl))) {
        st = grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
        goto fail;
    }
    st = tk_finish(t);
    if (st) goto fail;
    *out = t;
    return GRT_OK;
fail:
    grt_tokenizer_free(t);
    return st;
}
