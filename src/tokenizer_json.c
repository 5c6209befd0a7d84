/* Loading a Hugging Face tokenizer.json (and tokenizer_config.json beside
 * it). The pipeline-section parsers are shared with the GGUF loader, which
 * stores the same sections as JSON text for an exact round trip. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tokenizer_impl.h"

const char tk_gpt2_regex[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* ------------------------------------------------------------ helpers */

pcre2_code *tk_regex_compile(const char *pat, size_t len, bool literal, const char *file,
                             const char *field) {
    int err;
    PCRE2_SIZE off;
    uint32_t flags = literal ? PCRE2_UTF | PCRE2_LITERAL : PCRE2_UTF | PCRE2_UCP;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, len, flags, &err, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        grt_fail(GRT_ERR_UNSUPPORTED, "%s: %s: regex cannot be compiled at offset %zu: %s", file, field,
                 (size_t)off, (const char *)msg);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if JIT is unavailable */
    return re;
}

static const char *jstr(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool jbool(const cJSON *o, const char *key, bool dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return dflt;
}

grt_status tk_keep_json(char **dst, const cJSON *j) {
    free(*dst);
    *dst = NULL;
    if (!j || cJSON_IsNull(j)) return GRT_OK;
    *dst = cJSON_PrintUnformatted(j);
    return *dst ? GRT_OK : grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
}

/* A {"String": s} or {"Regex": r} pattern. */
static grt_status parse_pattern(const cJSON *pat, const char *file, const char *field, char **lit,
                                size_t *lit_len, pcre2_code **re, bool want_regex_for_string) {
    const char *s = jstr(pat, "String");
    const char *r = jstr(pat, "Regex");
    if (s) {
        if (want_regex_for_string) {
            *re = tk_regex_compile(s, strlen(s), true, file, field);
            return *re ? GRT_OK : GRT_ERR_UNSUPPORTED;
        }
        *lit = strdup(s);
        *lit_len = strlen(s);
        return *lit ? GRT_OK : grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    }
    if (r) {
        *re = tk_regex_compile(r, strlen(r), false, file, field);
        return *re ? GRT_OK : GRT_ERR_UNSUPPORTED;
    }
    return grt_fail(GRT_ERR_FORMAT, "%s: %s: pattern must be {\"String\": ...} or {\"Regex\": ...}", file, field);
}

static tk_prepend parse_prepend(const cJSON *o) {
    const char *ps = jstr(o, "prepend_scheme");
    if (ps) return strcmp(ps, "always") == 0 ? TK_PREPEND_ALWAYS : strcmp(ps, "first") == 0 ? TK_PREPEND_FIRST
                                                                                           : TK_PREPEND_NEVER;
    return jbool(o, "add_prefix_space", true) ? TK_PREPEND_ALWAYS : TK_PREPEND_NEVER;
}

static void parse_replacement(const cJSON *o, char *repl, int *repl_len) {
    const char *r = jstr(o, "replacement");
    if (!r || !*r || strlen(r) > 4) r = "\xE2\x96\x81";
    *repl_len = tk_utf8_len((unsigned char)r[0]);
    if ((size_t)*repl_len > strlen(r)) *repl_len = (int)strlen(r);
    memcpy(repl, r, (size_t)*repl_len);
}

/* ------------------------------------------------------------ normalizer */

static grt_status add_norm(grt_tokenizer *t, const cJSON *j, const char *file, const char *field) {
    const char *type = jstr(j, "type");
    if (!type) return grt_fail(GRT_ERR_FORMAT, "%s: %s: missing \"type\"", file, field);
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "normalizers");
        if (!cJSON_IsArray(arr)) return grt_fail(GRT_ERR_FORMAT, "%s: %s.normalizers: not an array", file, field);
        int i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, arr) {
            char sub[128];
            snprintf(sub, sizeof sub, "%s.normalizers[%d]", field, i++);
            grt_status st = add_norm(t, e, file, sub);
            if (st) return st;
        }
        return GRT_OK;
    }
    tk_norm *nn = realloc(t->norm, (size_t)(t->n_norm + 1) * sizeof *nn);
    if (!nn) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    t->norm = nn;
    tk_norm *n = &t->norm[t->n_norm];
    memset(n, 0, sizeof *n);
    if (strcmp(type, "NFC") == 0) n->kind = TK_NORM_NFC;
    else if (strcmp(type, "NFD") == 0) n->kind = TK_NORM_NFD;
    else if (strcmp(type, "NFKC") == 0) n->kind = TK_NORM_NFKC;
    else if (strcmp(type, "NFKD") == 0) n->kind = TK_NORM_NFKD;
    else if (strcmp(type, "Lowercase") == 0) n->kind = TK_NORM_LOWERCASE;
    else if (strcmp(type, "Strip") == 0) {
        n->kind = TK_NORM_STRIP;
        n->left = jbool(j, "strip_left", true);
        n->right = jbool(j, "strip_right", true);
    } else if (strcmp(type, "Prepend") == 0) {
        const char *p = jstr(j, "prepend");
        if (!p) return grt_fail(GRT_ERR_FORMAT, "%s: %s.prepend: missing", file, field);
        n->kind = TK_NORM_PREPEND;
        n->str = strdup(p);
        n->str_len = strlen(p);
        if (!n->str) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    } else if (strcmp(type, "Replace") == 0) {
        const char *c = jstr(j, "content");
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(j, "pattern");
        if (!c || !pat) return grt_fail(GRT_ERR_FORMAT, "%s: %s: Replace needs pattern and content", file, field);
        n->kind = TK_NORM_REPLACE;
        n->str = strdup(c);
        n->str_len = strlen(c);
        if (!n->str) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
        t->n_norm++; /* owned from here, freed with the tokenizer */
        return parse_pattern(pat, file, field, &n->pat, &n->pat_len, &n->re, false);
    } else {
        return grt_fail(GRT_ERR_UNSUPPORTED, "%s: %s: normalizer type \"%s\" is not supported", file, field, type);
    }
    t->n_norm++;
    return GRT_OK;
}

grt_status tk_parse_normalizer(grt_tokenizer *t, const cJSON *j, const char *file) {
    grt_status st = tk_keep_json(&t->json_normalizer, j);
    if (st || !j || cJSON_IsNull(j)) return st;
    return add_norm(t, j, file, "normalizer");
}

/* ------------------------------------------------------------ pre-tokenizer */

static tk_pre *new_pre(grt_tokenizer *t) {
    tk_pre *p = realloc(t->pre, (size_t)(t->n_pre + 1) * sizeof *p);
    if (!p) return NULL;
    t->pre = p;
    memset(&p[t->n_pre], 0, sizeof *p);
    return &p[t->n_pre++];
}

static grt_status add_pre(grt_tokenizer *t, const cJSON *j, const char *file, const char *field) {
    const char *type = jstr(j, "type");
    if (!type) return grt_fail(GRT_ERR_FORMAT, "%s: %s: missing \"type\"", file, field);
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "pretokenizers");
        if (!cJSON_IsArray(arr)) return grt_fail(GRT_ERR_FORMAT, "%s: %s.pretokenizers: not an array", file, field);
        int i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, arr) {
            char sub[128];
            snprintf(sub, sizeof sub, "%s.pretokenizers[%d]", field, i++);
            grt_status st = add_pre(t, e, file, sub);
            if (st) return st;
        }
        return GRT_OK;
    }
    tk_pre *p = new_pre(t);
    if (!p) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    if (strcmp(type, "Split") == 0) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(j, "pattern");
        const char *beh = jstr(j, "behavior");
        p->kind = TK_PRE_SPLIT;
        p->invert = jbool(j, "invert", false);
        if (!pat) return grt_fail(GRT_ERR_FORMAT, "%s: %s.pattern: missing", file, field);
        if (!beh) return grt_fail(GRT_ERR_FORMAT, "%s: %s.behavior: missing", file, field);
        if (strcmp(beh, "Removed") == 0) p->behavior = TK_SPLIT_REMOVED;
        else if (strcmp(beh, "Isolated") == 0) p->behavior = TK_SPLIT_ISOLATED;
        else if (strcmp(beh, "MergedWithPrevious") == 0) p->behavior = TK_SPLIT_MERGED_PREV;
        else if (strcmp(beh, "MergedWithNext") == 0) p->behavior = TK_SPLIT_MERGED_NEXT;
        else if (strcmp(beh, "Contiguous") == 0) p->behavior = TK_SPLIT_CONTIGUOUS;
        else return grt_fail(GRT_ERR_UNSUPPORTED, "%s: %s.behavior: \"%s\" is not supported", file, field, beh);
        char sub[160];
        snprintf(sub, sizeof sub, "%s.pattern", field);
        char *lit = NULL;
        size_t ll;
        const char *rx = jstr(pat, "Regex");
        if (rx && !(p->pattern = strdup(rx))) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
        return parse_pattern(pat, file, sub, &lit, &ll, &p->re, true);
    }
    if (strcmp(type, "ByteLevel") == 0) {
        p->kind = TK_PRE_BYTELEVEL;
        p->add_prefix_space = jbool(j, "add_prefix_space", true);
        p->behavior = TK_SPLIT_ISOLATED;
        if (jbool(j, "use_regex", true)) {
            p->re = tk_regex_compile(tk_gpt2_regex, strlen(tk_gpt2_regex), false, file, field);
            if (!p->re) return GRT_ERR_UNSUPPORTED;
        }
        return GRT_OK;
    }
    if (strcmp(type, "Metaspace") == 0) {
        p->kind = TK_PRE_METASPACE;
        parse_replacement(j, p->repl, &p->repl_len);
        p->prepend = parse_prepend(j);
        p->split = jbool(j, "split", true);
        return GRT_OK;
    }
    if (strcmp(type, "Digits") == 0) {
        p->kind = TK_PRE_DIGITS;
        p->individual = jbool(j, "individual_digits", false);
        p->behavior = TK_SPLIT_ISOLATED;
        const char *re = p->individual ? "\\p{N}" : "\\p{N}+";
        p->re = tk_regex_compile(re, strlen(re), false, file, field);
        return p->re ? GRT_OK : GRT_ERR_UNSUPPORTED;
    }
    t->n_pre--;
    return grt_fail(GRT_ERR_UNSUPPORTED, "%s: %s: pre_tokenizer type \"%s\" is not supported", file, field, type);
}

grt_status tk_parse_pre_tokenizer(grt_tokenizer *t, const cJSON *j, const char *file) {
    grt_status st = tk_keep_json(&t->json_pre, j);
    if (st || !j || cJSON_IsNull(j)) return st;
    return add_pre(t, j, file, "pre_tokenizer");
}

/* ------------------------------------------------------------ decoder */

static grt_status add_dec(grt_tokenizer *t, const cJSON *j, const char *file, const char *field) {
    const char *type = jstr(j, "type");
    if (!type) return grt_fail(GRT_ERR_FORMAT, "%s: %s: missing \"type\"", file, field);
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "decoders");
        if (!cJSON_IsArray(arr)) return grt_fail(GRT_ERR_FORMAT, "%s: %s.decoders: not an array", file, field);
        int i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, arr) {
            char sub[128];
            snprintf(sub, sizeof sub, "%s.decoders[%d]", field, i++);
            grt_status st = add_dec(t, e, file, sub);
            if (st) return st;
        }
        return GRT_OK;
    }
    tk_dec *dd = realloc(t->dec, (size_t)(t->n_dec + 1) * sizeof *dd);
    if (!dd) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    t->dec = dd;
    tk_dec *d = &t->dec[t->n_dec];
    memset(d, 0, sizeof *d);
    if (strcmp(type, "ByteLevel") == 0) d->kind = TK_DEC_BYTELEVEL;
    else if (strcmp(type, "ByteFallback") == 0) d->kind = TK_DEC_BYTEFALLBACK;
    else if (strcmp(type, "Fuse") == 0) d->kind = TK_DEC_FUSE;
    else if (strcmp(type, "Strip") == 0) {
        const char *c = jstr(j, "content");
        d->kind = TK_DEC_STRIP;
        int n;
        d->strip_cp = c && *c ? tk_utf8_decode(c, strlen(c), &n) : ' ';
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "start");
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "stop");
        d->start = cJSON_IsNumber(a) ? (int)a->valuedouble : 0;
        d->stop = cJSON_IsNumber(b) ? (int)b->valuedouble : 0;
    } else if (strcmp(type, "Metaspace") == 0) {
        d->kind = TK_DEC_METASPACE;
        parse_replacement(j, d->repl, &d->repl_len);
        d->prepend = parse_prepend(j);
    } else if (strcmp(type, "Replace") == 0) {
        const char *c = jstr(j, "content");
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(j, "pattern");
        const char *lit = pat ? jstr(pat, "String") : NULL;
        if (!c || !pat) return grt_fail(GRT_ERR_FORMAT, "%s: %s: Replace needs pattern and content", file, field);
        if (!lit) return grt_fail(GRT_ERR_UNSUPPORTED, "%s: %s.pattern: only String patterns are supported in decoders", file, field);
        d->kind = TK_DEC_REPLACE;
        d->pat = strdup(lit);
        d->pat_len = strlen(lit);
        d->str = strdup(c);
        d->str_len = strlen(c);
        t->n_dec++;
        if (!d->pat || !d->str) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
        return GRT_OK;
    } else {
        return grt_fail(GRT_ERR_UNSUPPORTED, "%s: %s: decoder type \"%s\" is not supported", file, field, type);
    }
    t->n_dec++;
    return GRT_OK;
}

grt_status tk_parse_decoder(grt_tokenizer *t, const cJSON *j, const char *file) {
    grt_status st = tk_keep_json(&t->json_decoder, j);
    if (st) return st;
    t->has_decoder = j && !cJSON_IsNull(j);
    if (!t->has_decoder) return GRT_OK;
    return add_dec(t, j, file, "decoder");
}

/* ------------------------------------------------------------ post-processor */

static grt_status push_id(int32_t **v, int *n, int32_t id) {
    int32_t *p = realloc(*v, (size_t)(*n + 1) * sizeof *p);
    if (!p) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    *v = p;
    p[(*n)++] = id;
    return GRT_OK;
}

/* The ids of a special token named in a post-processor. */
static grt_status special_ids(grt_tokenizer *t, const cJSON *specials, const char *name, bool before,
                              const char *file, const char *field) {
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(specials, name);
    const cJSON *ids = sp ? cJSON_GetObjectItemCaseSensitive(sp, "ids") : NULL;
    if (!cJSON_IsArray(ids))
        return grt_fail(GRT_ERR_FORMAT, "%s: %s: special token \"%s\" is not in special_tokens", file, field, name);
    const cJSON *e;
    cJSON_ArrayForEach(e, ids) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= t->n_vocab)
            return grt_fail(GRT_ERR_FORMAT, "%s: %s: special token \"%s\" has an id outside the vocabulary", file,
                            field, name);
        grt_status st = before ? push_id(&t->prefix_ids, &t->n_prefix, (int32_t)e->valuedouble)
                               : push_id(&t->suffix_ids, &t->n_suffix, (int32_t)e->valuedouble);
        if (st) return st;
    }
    return GRT_OK;
}

static grt_status add_post(grt_tokenizer *t, const cJSON *j, const char *file, const char *field) {
    const char *type = jstr(j, "type");
    if (!type) return grt_fail(GRT_ERR_FORMAT, "%s: %s: missing \"type\"", file, field);
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "processors");
        if (!cJSON_IsArray(arr)) return grt_fail(GRT_ERR_FORMAT, "%s: %s.processors: not an array", file, field);
        const cJSON *e;
        cJSON_ArrayForEach(e, arr) {
            grt_status st = add_post(t, e, file, field);
            if (st) return st;
        }
        return GRT_OK;
    }
    if (strcmp(type, "ByteLevel") == 0) return GRT_OK; /* offsets only */
    if (strcmp(type, "TemplateProcessing") == 0) {
        const cJSON *single = cJSON_GetObjectItemCaseSensitive(j, "single");
        const cJSON *specials = cJSON_GetObjectItemCaseSensitive(j, "special_tokens");
        if (!cJSON_IsArray(single)) return grt_fail(GRT_ERR_FORMAT, "%s: %s.single: not an array", file, field);
        bool seen_a = false;
        const cJSON *e;
        cJSON_ArrayForEach(e, single) {
            const cJSON *sp = cJSON_GetObjectItemCaseSensitive(e, "SpecialToken");
            const cJSON *sq = cJSON_GetObjectItemCaseSensitive(e, "Sequence");
            if (sq) {
                seen_a = true;
                continue;
            }
            const char *name = sp ? jstr(sp, "id") : NULL;
            if (!name) return grt_fail(GRT_ERR_FORMAT, "%s: %s.single: item is neither SpecialToken nor Sequence", file, field);
            grt_status st = special_ids(t, specials, name, !seen_a, file, field);
            if (st) return st;
        }
        return GRT_OK;
    }
    if (strcmp(type, "BertProcessing") == 0 || strcmp(type, "RobertaProcessing") == 0) {
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(j, "cls");
        const cJSON *sep = cJSON_GetObjectItemCaseSensitive(j, "sep");
        const cJSON *c1 = cJSON_GetArrayItem(cls, 1), *s1 = cJSON_GetArrayItem(sep, 1);
        if (!cJSON_IsNumber(c1) || !cJSON_IsNumber(s1))
            return grt_fail(GRT_ERR_FORMAT, "%s: %s: cls/sep must be [token, id]", file, field);
        grt_status st = push_id(&t->prefix_ids, &t->n_prefix, (int32_t)c1->valuedouble);
        if (!st) st = push_id(&t->suffix_ids, &t->n_suffix, (int32_t)s1->valuedouble);
        return st;
    }
    return grt_fail(GRT_ERR_UNSUPPORTED, "%s: %s: post_processor type \"%s\" is not supported", file, field, type);
}

grt_status tk_parse_post_processor(grt_tokenizer *t, const cJSON *j, const char *file) {
    grt_status st = tk_keep_json(&t->json_post, j);
    if (st || !j || cJSON_IsNull(j)) return st;
    return add_post(t, j, file, "post_processor");
}

/* ------------------------------------------------------------ added tokens */

grt_status tk_parse_added_tokens(grt_tokenizer *t, const cJSON *arr, const char *file) {
    grt_status st = tk_keep_json(&t->json_added, arr);
    if (st || !arr || cJSON_IsNull(arr)) return st;
    if (!cJSON_IsArray(arr)) return grt_fail(GRT_ERR_FORMAT, "%s: added_tokens: not an array", file);
    int n = cJSON_GetArraySize(arr);
    t->added = calloc((size_t)n + 1, sizeof *t->added);
    if (!t->added) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const char *content = jstr(e, "content");
        if (!cJSON_IsNumber(id) || !content)
            return grt_fail(GRT_ERR_FORMAT, "%s: added_tokens[%d]: needs \"id\" and \"content\"", file, i);
        if (id->valuedouble < 0 || id->valuedouble >= t->n_vocab)
            return grt_fail(GRT_ERR_FORMAT, "%s: added_tokens[%d].id: %g is out of range", file, i, id->valuedouble);
        tk_added *a = &t->added[t->n_added];
        a->id = (int32_t)id->valuedouble;
        a->special = jbool(e, "special", false);
        a->lstrip = jbool(e, "lstrip", false);
        a->rstrip = jbool(e, "rstrip", false);
        a->single_word = jbool(e, "single_word", false);
        a->normalized = jbool(e, "normalized", !a->special);
        size_t len = strlen(content);
        float score = t->tok_len[a->id] != UINT32_MAX ? t->score[a->id] : 0.0f;
        st = tk_vocab_set(t, a->id, content, len, score, a->special ? TK_TYPE_CONTROL : TK_TYPE_USER);
        if (st) return st;
        a->off = t->tok_off[a->id];
        a->len = (uint32_t)len;
        if (t->vocab.cap && (st = tk_vocab_index_add(t, a->id))) return st;
        t->n_added++;
        i++;
    }
    return GRT_OK;
}

/* Largest added-token id + 1, or 0. */
static int added_max_id(const cJSON *arr) {
    int m = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        if (cJSON_IsNumber(id) && id->valuedouble >= 0 && id->valuedouble < (1 << 30) &&
            (int)id->valuedouble + 1 > m)
            m = (int)id->valuedouble + 1;
    }
    return m;
}

/* ------------------------------------------------------------ model */

grt_status tk_parse_model_options(grt_tokenizer *t, const cJSON *m, const char *file) {
    t->byte_fallback = jbool(m, "byte_fallback", false);
    t->fuse_unk = jbool(m, "fuse_unk", false);
    t->ignore_merges = jbool(m, "ignore_merges", false);
    const char *csp = jstr(m, "continuing_subword_prefix");
    const char *eow = jstr(m, "end_of_word_suffix");
    if (csp && *csp)
        return grt_fail(GRT_ERR_UNSUPPORTED, "%s: model.continuing_subword_prefix: \"%s\" is not supported", file, csp);
    if (eow && *eow)
        return grt_fail(GRT_ERR_UNSUPPORTED, "%s: model.end_of_word_suffix: \"%s\" is not supported", file, eow);
    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(m, "dropout");
    if (cJSON_IsNumber(dropout) && dropout->valuedouble > 0)
        return grt_fail(GRT_ERR_UNSUPPORTED, "%s: model.dropout: BPE dropout is not supported", file);
    const char *unk = jstr(m, "unk_token");
    t->unk_id = -1;
    if (unk) {
        t->unk_id = tk_vocab_find(t, unk, strlen(unk));
        if (t->unk_id < 0)
            return grt_fail(GRT_ERR_FORMAT, "%s: model.unk_token: \"%s\" is not in the vocabulary", file, unk);
    }
    /* kept for the GGUF round trip */
    cJSON *o = cJSON_CreateObject();
    if (!o) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    cJSON_AddBoolToObject(o, "byte_fallback", t->byte_fallback);
    cJSON_AddBoolToObject(o, "fuse_unk", t->fuse_unk);
    cJSON_AddBoolToObject(o, "ignore_merges", t->ignore_merges);
    if (unk) cJSON_AddStringToObject(o, "unk_token", unk);
    grt_status st = tk_keep_json(&t->json_model_opts, o);
    cJSON_Delete(o);
    return st;
}

static grt_status parse_merges(grt_tokenizer *t, const cJSON *merges, const char *file) {
    if (!cJSON_IsArray(merges)) return grt_fail(GRT_ERR_FORMAT, "%s: model.merges: missing or not an array", file);
    uint32_t rank = 0;
    tk_buf cat = {0};
    grt_status st = GRT_OK;
    const cJSON *e;
    cJSON_ArrayForEach(e, merges) {
        const char *a, *b;
        size_t la, lb;
        if (cJSON_IsString(e)) {
            const char *s = e->valuestring;
            const char *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                st = grt_fail(GRT_ERR_FORMAT, "%s: model.merges[%u]: \"%s\" is not two tokens separated by one space",
                              file, rank, s);
                break;
            }
            a = s;
            la = (size_t)(sp - s);
            b = sp + 1;
            lb = strlen(b);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(e, 0)) && cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
            a = cJSON_GetArrayItem(e, 0)->valuestring;
            b = cJSON_GetArrayItem(e, 1)->valuestring;
            la = strlen(a);
            lb = strlen(b);
        } else {
            st = grt_fail(GRT_ERR_FORMAT, "%s: model.merges[%u]: not a string or a pair of strings", file, rank);
            break;
        }
        int32_t ia = tk_vocab_find(t, a, la), ib = tk_vocab_find(t, b, lb);
        cat.n = 0;
        if (!tk_buf_put(&cat, a, la) || !tk_buf_put(&cat, b, lb)) {
            st = GRT_ERR_NO_MEMORY;
            break;
        }
        int32_t im = tk_vocab_find(t, cat.p, cat.n);
        if (ia < 0 || ib < 0 || im < 0) {
            const char *bad = ia < 0 ? a : ib < 0 ? b : cat.p;
            size_t bl = ia < 0 ? la : ib < 0 ? lb : cat.n;
            st = grt_fail(GRT_ERR_FORMAT, "%s: model.merges[%u]: token \"%.*s\" is not in the vocabulary", file, rank,
                          (int)(bl > 200 ? 200 : bl), bad);
            break;
        }
        st = tk_merge_add(t, ia, ib, im, rank);
        if (st) break;
        rank++;
    }
    tk_buf_free(&cat);
    t->n_merges = rank;
    return st;
}

/* ------------------------------------------------------------ tokenizer_config.json */

static const char *config_token(const cJSON *cfg, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsObject(v)) return jstr(v, "content");
    return NULL;
}

static int32_t token_id(const grt_tokenizer *t, const char *s) {
    for (int i = t->n_added - 1; i >= 0; i--)
        if (t->added[i].len == strlen(s) && memcmp(t->pool.p + t->added[i].off, s, t->added[i].len) == 0)
            return t->added[i].id;
    return tk_vocab_find(t, s, strlen(s));
}

static grt_status read_file(const char *path, char **data, size_t *len) {
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return grt_fail(GRT_ERR_IO, "%s: cannot open", path);
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return grt_fail(GRT_ERR_IO, "%s: cannot seek", path);
    }
    long n = ftell(f);
    rewind(f);
    if (n < 0) {
        fclose(f);
        return grt_fail(GRT_ERR_IO, "%s: cannot read", path);
    }
    char *p = malloc((size_t)n + 1);
    if (!p) {
        fclose(f);
        return grt_fail(GRT_ERR_NO_MEMORY, "%s: out of host memory (%ld bytes)", path, n);
    }
    size_t got = fread(p, 1, (size_t)n, f);
    fclose(f);
    if (got != (size_t)n) {
        free(p);
        return grt_fail(GRT_ERR_IO, "%s: short read", path);
    }
    p[n] = 0;
    *data = p;
    *len = (size_t)n;
    return GRT_OK;
}

static cJSON *parse_json(const char *path, const char *data, size_t len, grt_status *st) {
    cJSON *j = cJSON_ParseWithLength(data, len);
    if (!j) {
        const char *ep = cJSON_GetErrorPtr();
        size_t off = ep && ep >= data && ep <= data + len ? (size_t)(ep - data) : 0;
        size_t line = 1;
        for (size_t i = 0; i < off; i++) line += data[i] == '\n';
        *st = grt_fail(GRT_ERR_FORMAT, "%s: not valid JSON (error near byte %zu, line %zu)", path, off, line);
    }
    return j;
}

/* Flags, special tokens and the chat template; absent file = defaults from
 * the post-processor template. */
static grt_status read_config(grt_tokenizer *t, const char *json_path) {
    size_t n = strlen(json_path);
    char *cfg_path = malloc(n + 32);
    if (!cfg_path) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    memcpy(cfg_path, json_path, n + 1);
    char *slash = strrchr(cfg_path, '/');
    strcpy(slash ? slash + 1 : cfg_path, "tokenizer_config.json");
    char *data = NULL;
    size_t len = 0;
    FILE *probe = fopen(cfg_path, "rb");
    grt_status st = GRT_OK;
    cJSON *cfg = NULL;
    if (probe) {
        fclose(probe);
        st = read_file(cfg_path, &data, &len);
        if (!st) cfg = parse_json(cfg_path, data, len, &st);
    }
    if (!st && cfg) {
        const char *bos = config_token(cfg, "bos_token");
        const char *eos = config_token(cfg, "eos_token");
        const char *pad = config_token(cfg, "pad_token");
        if (bos) t->bos_id = token_id(t, bos);
        if (pad) t->pad_id = token_id(t, pad);
        if (eos) {
            int32_t id = token_id(t, eos);
            if (id >= 0) st = push_id(&t->eos_ids, &t->n_eos, id);
        }
        t->add_bos = jbool(cfg, "add_bos_token", t->n_prefix > 0);
        t->add_eos = jbool(cfg, "add_eos_token", t->n_suffix > 0);
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
        const char *tmpl = NULL;
        if (cJSON_IsString(ct)) {
            tmpl = ct->valuestring;
        } else if (cJSON_IsArray(ct)) { /* [{name, template}]: the "default" one */
            const cJSON *e;
            cJSON_ArrayForEach(e, ct) {
                const char *name = jstr(e, "name");
                if (!tmpl || (name && strcmp(name, "default") == 0)) tmpl = jstr(e, "template");
            }
        }
        if (tmpl && !(t->chat_template = strdup(tmpl))) st = grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    } else if (!st) {
        t->add_bos = t->n_prefix > 0;
        t->add_eos = t->n_suffix > 0;
    }
    if (!st && t->bos_id < 0 && t->n_prefix > 0) t->bos_id = t->prefix_ids[0];
    cJSON_Delete(cfg);
    free(data);
    free(cfg_path);
    return st;
}

/* ------------------------------------------------------------ tokenizer.json */

grt_status grt_tokenizer_from_json(const char *path, grt_tokenizer **out) {
    if (!out) return grt_fail(GRT_ERR_INVALID_ARG, "grt_tokenizer_from_json: NULL out");
    *out = NULL;
    if (!path) return grt_fail(GRT_ERR_INVALID_ARG, "grt_tokenizer_from_json: NULL path");
    char *data = NULL;
    size_t len = 0;
    cJSON *root = NULL;
    grt_tokenizer *t = NULL;
    grt_status st = read_file(path, &data, &len);
    if (st) goto fail;
    root = parse_json(path, data, len, &st);
    free(data);
    data = NULL;
    if (!root) goto fail;
    if (!cJSON_IsObject(root)) {
        st = grt_fail(GRT_ERR_FORMAT, "%s: not a JSON object", path);
        goto fail;
    }
    st = tk_new(path, &t);
    if (st) goto fail;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) {
        st = grt_fail(GRT_ERR_FORMAT, "%s: model: missing", path);
        goto fail;
    }
    const char *mtype = jstr(model, "type");
    if (mtype && strcmp(mtype, "BPE") != 0) {
        st = grt_fail(GRT_ERR_UNSUPPORTED, "%s: model.type: \"%s\" is not supported (only BPE)", path, mtype);
        goto fail;
    }
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab)) {
        st = grt_fail(GRT_ERR_FORMAT, "%s: model.vocab: missing or not an object", path);
        goto fail;
    }
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    int n_vocab = added_max_id(added);
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= (1 << 30)) {
            st = grt_fail(GRT_ERR_FORMAT, "%s: model.vocab[\"%.100s\"]: id is not a non-negative integer", path,
                          e->string);
            goto fail;
        }
        if ((int)e->valuedouble + 1 > n_vocab) n_vocab = (int)e->valuedouble + 1;
    }
    if (!n_vocab) {
        st = grt_fail(GRT_ERR_FORMAT, "%s: model.vocab: empty", path);
        goto fail;
    }
    st = tk_vocab_init(t, n_vocab);
    if (st) goto fail;
    cJSON_ArrayForEach(e, vocab) {
        const char *s = e->string;
        size_t l = strlen(s);
        int type = TK_TYPE_NORMAL;
        if (l == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>') type = TK_TYPE_BYTE;
        st = tk_vocab_set(t, (int32_t)e->valuedouble, s, l, 0.0f, type);
        if (st) goto fail;
    }
    st = tk_vocab_index(t);
    if (st) goto fail;
    st = tk_parse_model_options(t, model, path);
    if (st) goto fail;
    if (t->unk_id >= 0) t->type[t->unk_id] = TK_TYPE_UNKNOWN;
    st = parse_merges(t, cJSON_GetObjectItemCaseSensitive(model, "merges"), path);
    if (st) goto fail;
    /* Scores for a GGUF read by llama.cpp, whose SentencePiece tokenizer
     * merges the pair whose result scores highest: -(rank of the first merge
     * that makes the token), and below every merge for tokens no merge
     * makes. With these, score order is merge order. */
    for (int i = 0; i < n_vocab; i++) t->score[i] = -(float)(t->n_merges + (uint32_t)i);
    for (size_t i = 0; i < t->merges.cap; i++) {
        const tk_merge *m = &t->merges.slot[i];
        if (m->key != UINT64_MAX && -(float)m->rank > t->score[m->id]) t->score[m->id] = -(float)m->rank;
    }
    st = tk_parse_added_tokens(t, added, path);
    if (st) goto fail;
    st = tk_parse_normalizer(t, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), path);
    if (!st) st = tk_parse_pre_tokenizer(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), path);
    if (!st) st = tk_parse_post_processor(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), path);
    if (!st) st = tk_parse_decoder(t, cJSON_GetObjectItemCaseSensitive(root, "decoder"), path);
    if (st) goto fail;
    st = tk_finish(t);
    if (st) goto fail;
    st = read_config(t, path);
    if (st) goto fail;
    cJSON_Delete(root);
    *out = t;
    return GRT_OK;
fail:
    free(data);
    cJSON_Delete(root);
    grt_tokenizer_free(t);
    return st;
}
