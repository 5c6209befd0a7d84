/* The tokenizer's public API: loading by path, encoding (added tokens,
 * normalizers, pre-tokenizers, BPE, post-processor template), decoding
 * (the decoder chain) and streaming decode. Behaviour follows Hugging Face
 * `tokenizers` 0.23, which the tests compare against id for id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unicode/uchar.h>

#include "error.h"
#include "tokenizer_impl.h"

/* ------------------------------------------------------------ lifetime */

grt_status tk_new(const char *source, grt_tokenizer **out) {
    *out = NULL;
    grt_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    t->source = strdup(source ? source : "");
    if (!t->source) {
        free(t);
        return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    }
    t->unk_id = t->bos_id = t->pad_id = -1;
    for (int i = 0; i < 256; i++) t->byte_sym[i] = -1;
    *out = t;
    return GRT_OK;
}

static void matcher_free(tk_matcher *m) {
    free(m->lens);
    free(m->map.slot);
    free(m->pat_off);
    free(m->pat_len);
    free(m->pat_added);
    tk_buf_free(&m->pool);
}

void grt_tokenizer_free(grt_tokenizer *t) {
    if (!t) return;
    free(t->source);
    free(t->tok_off);
    free(t->tok_len);
    free(t->score);
    free(t->type);
    tk_buf_free(&t->pool);
    free(t->vocab.slot);
    free(t->merges.slot);
    free(t->added);
    matcher_free(&t->match_raw);
    matcher_free(&t->match_norm);
    for (int i = 0; i < t->n_norm; i++) {
        free(t->norm[i].str);
        free(t->norm[i].pat);
        pcre2_code_free(t->norm[i].re);
    }
    free(t->norm);
    for (int i = 0; i < t->n_pre; i++) {
        pcre2_code_free(t->pre[i].re);
        free(t->pre[i].pattern);
    }
    free(t->pre);
    for (int i = 0; i < t->n_dec; i++) {
        free(t->dec[i].pat);
        free(t->dec[i].str);
    }
    free(t->dec);
    free(t->prefix_ids);
    free(t->suffix_ids);
    free(t->eos_ids);
    free(t->chat_template);
    free(t->json_normalizer);
    free(t->json_pre);
    free(t->json_post);
    free(t->json_decoder);
    free(t->json_added);
    free(t->json_model_opts);
    free(t->gguf_pre_name);
    free(t);
}

/* ------------------------------------------------------------ added tokens */

static grt_status matcher_build(tk_matcher *m, const grt_tokenizer *t, bool normalized) {
    int n = 0;
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].normalized == normalized && t->added[i].len) n++;
    if (!n) return GRT_OK;
    m->pat_off = malloc((size_t)n * sizeof *m->pat_off);
    m->pat_len = malloc((size_t)n * sizeof *m->pat_len);
    m->pat_added = malloc((size_t)n * sizeof *m->pat_added);
    m->lens = malloc((size_t)n * sizeof *m->lens);
    if (!m->pat_off || !m->pat_len || !m->pat_added || !m->lens)
        return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    size_t cap = 16;
    while (cap < (size_t)n * 2) cap *= 2;
    m->map.slot = calloc(cap, sizeof *m->map.slot);
    if (!m->map.slot) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    m->map.cap = cap;
    tk_buf norm = {0};
    for (int i = 0; i < t->n_added; i++) {
        const tk_added *a = &t->added[i];
        if (a->normalized != normalized || !a->len) continue;
        const char *s = t->pool.p + a->off;
        size_t len = a->len;
        if (normalized && t->n_norm) {
            grt_status st = tk_normalize(t, s, len, &norm);
            if (st) {
                tk_buf_free(&norm);
                return st;
            }
            s = norm.p;
            len = norm.n;
            if (!len) continue;
        }
        /* skip duplicates: the first token with a content wins */
        size_t mask = cap - 1, h = tk_hash(s, len) & mask;
        bool dup = false;
        while (m->map.slot[h]) {
            uint32_t k = (uint32_t)m->map.slot[h] - 1;
            if (m->pat_len[k] == len && memcmp(m->pool.p + m->pat_off[k], s, len) == 0) {
                dup = true;
                break;
            }
            h = (h + 1) & mask;
        }
        if (dup) continue;
        int k = m->n++;
        m->pat_off[k] = (uint32_t)m->pool.n;
        m->pat_len[k] = (uint32_t)len;
        m->pat_added[k] = i;
        if (!tk_buf_put(&m->pool, s, len)) {
            tk_buf_free(&norm);
            return GRT_ERR_NO_MEMORY;
        }
        m->map.slot[h] = (uint32_t)k + 1;
        m->first[(unsigned char)s[0]] = 1;
        bool seen = false;
        for (int j = 0; j < m->n_lens; j++)
            if (m->lens[j] == len) seen = true;
        if (!seen) m->lens[m->n_lens++] = (uint32_t)len;
    }
    tk_buf_free(&norm);
    /* longest first */
    for (int i = 1; i < m->n_lens; i++)
        for (int j = i; j > 0 && m->lens[j] > m->lens[j - 1]; j--) {
            uint32_t x = m->lens[j];
            m->lens[j] = m->lens[j - 1];
            m->lens[j - 1] = x;
        }
    return GRT_OK;
}

/* Longest pattern starting at s[i], or -1. */
static int matcher_at(const tk_matcher *m, const char *s, size_t len, size_t i) {
    if (!m->first[(unsigned char)s[i]]) return -1;
    size_t mask = m->map.cap - 1;
    for (int j = 0; j < m->n_lens; j++) {
        size_t l = m->lens[j];
        if (l > len - i) continue;
        size_t h = tk_hash(s + i, l) & mask;
        while (m->map.slot[h]) {
            uint32_t k = (uint32_t)m->map.slot[h] - 1;
            if (m->pat_len[k] == l && memcmp(m->pool.p + m->pat_off[k], s + i, l) == 0) return (int)k;
            h = (h + 1) & mask;
        }
    }
    return -1;
}

static bool is_word_char(uint32_t cp) {
    /* Rust's char::is_alphanumeric: Alphabetic or Numeric */
    if (cp < 0x80) return (cp >= '0' && cp <= '9') || ((cp | 32) >= 'a' && (cp | 32) <= 'z');
    int8_t ty = u_charType((UChar32)cp);
    return u_hasBinaryProperty((UChar32)cp, UCHAR_ALPHABETIC) || ty == U_DECIMAL_DIGIT_NUMBER ||
           ty == U_LETTER_NUMBER || ty == U_OTHER_NUMBER;
}

static uint32_t cp_before(const char *s, size_t i) {
    size_t k = i - 1;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    int n;
    return tk_utf8_decode(s + k, i - k, &n);
}

/* Next added-token match in s[from..len): [*ms, *me) is the span it takes
 * (with lstrip/rstrip whitespace), *id its id. False when none. */
static bool next_added(const grt_tokenizer *t, const tk_matcher *m, const char *s, size_t len,
                       size_t from, size_t *ms, size_t *me, int32_t *id) {
    if (!m->n) return false;
    size_t i = from;
    while (i < len) {
        int k = matcher_at(m, s, len, i);
        if (k < 0) {
            i++;
            continue;
        }
        const tk_added *a = &t->added[m->pat_added[k]];
        size_t start = i, stop = i + m->pat_len[k];
        if (a->single_word) {
            int n;
            bool ok_l = start == 0 || !is_word_char(cp_before(s, start));
            bool ok_r = stop == len || !is_word_char(tk_utf8_decode(s + stop, len - stop, &n));
            if (!ok_l || !ok_r) {
                i = stop;
                continue;
            }
        }
        if (a->lstrip)
            while (start > from) {
                size_t k2 = start - 1;
                while (k2 > from && ((unsigned char)s[k2] & 0xC0) == 0x80) k2--;
                int n;
                if (!tk_is_space_cp(tk_utf8_decode(s + k2, start - k2, &n))) break;
                start = k2;
            }
        if (a->rstrip)
            while (stop < len) {
                int n;
                uint32_t cp = tk_utf8_decode(s + stop, len - stop, &n);
                if (!tk_is_space_cp(cp)) break;
                stop += (size_t)n;
            }
        *ms = start;
        *me = stop;
        *id = a->id;
        return true;
    }
    return false;
}

/* ------------------------------------------------------------ pre-tokenizers */

typedef struct enc_ctx {
    const grt_tokenizer *t;
    tk_ids *out;
    void *cache;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
} enc_ctx;

static grt_status pre_apply(enc_ctx *c, int op, const char *s, size_t len, bool first);

static int re_match(enc_ctx *c, const pcre2_code *re, const char *s, size_t len, size_t pos) {
    int rc = pcre2_match(re, (PCRE2_SPTR)s, len, pos, PCRE2_NO_UTF_CHECK, c->md, c->mctx);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !c->jit) {
        c->jit = pcre2_jit_stack_create(64 * 1024, 64 * 1024 * 1024, NULL);
        c->mctx = pcre2_match_context_create(NULL);
        if (!c->jit || !c->mctx) return PCRE2_ERROR_NOMEMORY;
        pcre2_jit_stack_assign(c->mctx, NULL, c->jit);
        rc = pcre2_match(re, (PCRE2_SPTR)s, len, pos, PCRE2_NO_UTF_CHECK, c->md, c->mctx);
    }
    return rc;
}

typedef struct {
    size_t a, b;
    bool match;
} span;

/* Hugging Face's Split: find every match, lay matches and the text between
 * them end to end, then group by the behaviour. */
static grt_status pre_split(enc_ctx *c, int op, const tk_pre *p, const char *s, size_t len,
                            bool first) {
    size_t pos = 0, prev = 0;
    bool streaming = p->behavior == TK_SPLIT_ISOLATED && !p->invert;
    span *v = NULL;
    size_t n = 0, cap = 0;
    grt_status st = GRT_OK;
#define EMIT(A, B, M)                                                                   \
    do {                                                                                \
        if (streaming) {                                                                \
            if ((B) > (A)) {                                                            \
                st = pre_apply(c, op + 1, s + (A), (B) - (A), first && (A) == 0);       \
                if (st) goto out;                                                       \
            }                                                                           \
        } else {                                                                        \
            if (n == cap) {                                                             \
                cap = cap ? cap * 2 : 16;                                               \
                span *nv = realloc(v, cap * sizeof *v);                                 \
                if (!nv) {                                                              \
                    st = grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");             \
                    goto out;                                                           \
                }                                                                       \
                v = nv;                                                                 \
            }                                                                           \
            v[n].a = (A);                                                               \
            v[n].b = (B);                                                               \
            v[n].match = (M) != p->invert;                                              \
            n++;                                                                        \
        }                                                                               \
    } while (0)
    while (pos <= len) {
        int rc = re_match(c, p->re, s, len, pos);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            st = grt_fail(GRT_ERR_INTERNAL, "%s: pre_tokenizer Split: regex match failed (PCRE2 error %d)",
                          c->t->source, rc);
            goto out;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
        size_t ms = ov[0], me = ov[1];
        if (ms != prev) EMIT(prev, ms, false);
        EMIT(ms, me, true);
        prev = me;
        if (me == ms) {
            if (me >= len) break;
            pos = me + (size_t)tk_utf8_len((unsigned char)s[me]);
        } else {
            pos = me;
        }
    }
    if (prev != len) EMIT(prev, len, false);
    if (streaming) goto out;
    /* group */
    {
        size_t m = 0;
        span *g = v; /* grouped in place: m <= i always */
        bool prev_match = false;
        switch (p->behavior) {
        case TK_SPLIT_ISOLATED:
            m = n;
            break;
        case TK_SPLIT_REMOVED:
            for (size_t i = 0; i < n; i++)
                if (!v[i].match) g[m++] = v[i];
            break;
        case TK_SPLIT_MERGED_PREV:
            for (size_t i = 0; i < n; i++) {
                span x = v[i];
                if (x.match && !prev_match && m) g[m - 1].b = x.b;
                else g[m++] = x;
                prev_match = x.match;
            }
            break;
        case TK_SPLIT_CONTIGUOUS:
            for (size_t i = 0; i < n; i++) {
                span x = v[i];
                if (x.match == prev_match && m) g[m - 1].b = x.b;
                else g[m++] = x;
                prev_match = x.match;
            }
            break;
        case TK_SPLIT_MERGED_NEXT: {
            /* fold from the end, then the groups are in reverse order */
            size_t k = n;
            for (size_t ii = n; ii-- > 0;) {
                span x = v[ii];
                if (x.match && !prev_match && k < n) v[k].a = x.a;
                else v[--k] = x;
                prev_match = x.match;
            }
            memmove(v, v + k, (n - k) * sizeof *v);
            m = n - k;
            break;
        }
        }
        for (size_t i = 0; i < m; i++)
            if (g[i].b > g[i].a) {
                st = pre_apply(c, op + 1, s + g[i].a, g[i].b - g[i].a, first && g[i].a == 0);
                if (st) goto out;
            }
    }
out:
#undef EMIT
    free(v);
    return st;
}

static grt_status pre_apply(enc_ctx *c, int op, const char *s, size_t len, bool first) {
    const grt_tokenizer *t = c->t;
    if (!len) return GRT_OK;
    if (op == t->n_pre) return tk_bpe_piece(t, s, len, c->out, c->cache);
    const tk_pre *p = &t->pre[op];
    switch (p->kind) {
    case TK_PRE_SPLIT:
    case TK_PRE_DIGITS:
        return pre_split(c, op, p, s, len, first);
    case TK_PRE_BYTELEVEL: {
        char *tmp = NULL;
        if (p->add_prefix_space && s[0] != ' ') {
            tmp = malloc(len + 1);
            if (!tmp) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
            tmp[0] = ' ';
            memcpy(tmp + 1, s, len);
            s = tmp;
            len++;
        }
        grt_status st;
        if (p->re) st = pre_split(c, op, p, s, len, first);
        else st = pre_apply(c, op + 1, s, len, first);
        free(tmp);
        return st;
    }
    case TK_PRE_METASPACE: {
        size_t extra = 0;
        for (size_t i = 0; i < len; i++)
            if (s[i] == ' ') extra += (size_t)p->repl_len - 1;
        bool prepend = (p->prepend == TK_PREPEND_ALWAYS || (p->prepend == TK_PREPEND_FIRST && first));
        tk_buf b = {0};
        if (!tk_buf_reserve(&b, len + extra + (size_t)p->repl_len + 1)) return GRT_ERR_NO_MEMORY;
        if (prepend && !(len >= (size_t)p->repl_len && memcmp(s, p->repl, (size_t)p->repl_len) == 0)) {
            /* Hugging Face checks the replaced text, so a leading space counts */
            if (s[0] != ' ') tk_buf_put(&b, p->repl, (size_t)p->repl_len);
        }
        for (size_t i = 0; i < len; i++) {
            if (s[i] == ' ') tk_buf_put(&b, p->repl, (size_t)p->repl_len);
            else tk_buf_put(&b, s + i, 1);
        }
        grt_status st = GRT_OK;
        if (!p->split) {
            st = pre_apply(c, op + 1, b.p, b.n, first);
        } else {
            /* MergedWithNext on the replacement character */
            size_t start = 0;
            for (size_t i = 1; i <= b.n && !st; i++) {
                if (i == b.n || (i + (size_t)p->repl_len <= b.n &&
                                 memcmp(b.p + i, p->repl, (size_t)p->repl_len) == 0)) {
                    st = pre_apply(c, op + 1, b.p + start, i - start, first && start == 0);
                    start = i;
                }
            }
        }
        tk_buf_free(&b);
        return st;
    }
    }
    return grt_fail(GRT_ERR_INTERNAL, "unknown pre-tokenizer step");
}

/* ------------------------------------------------------------ encode */

static grt_status encode_normalized(enc_ctx *c, const char *s, size_t len, bool first) {
    const grt_tokenizer *t = c->t;
    size_t pos = 0, ms, me;
    int32_t id;
    while (pos < len && next_added(t, &t->match_norm, s, len, pos, &ms, &me, &id)) {
        grt_status st = pre_apply(c, 0, s + pos, ms - pos, first && pos == 0);
        if (st) return st;
        if (!tk_ids_push(c->out, id)) return GRT_ERR_NO_MEMORY;
        pos = me;
    }
    return pre_apply(c, 0, s + pos, len - pos, first && pos == 0);
}

static grt_status encode_segment(enc_ctx *c, const char *s, size_t len, bool first, tk_buf *nb) {
    if (!len) return GRT_OK;
    if (!c->t->n_norm) return encode_normalized(c, s, len, first);
    grt_status st = tk_normalize(c->t, s, len, nb);
    if (st) return st;
    return encode_normalized(c, nb->p, nb->n, first);
}

grt_status grt_tokenizer_encode(const grt_tokenizer *t, const char *text, size_t len,
                                bool add_special, int32_t **ids, size_t *n_ids) {
    if (ids) *ids = NULL;
    if (n_ids) *n_ids = 0;
    if (!t || !ids || !n_ids || (!text && len))
        return grt_fail(GRT_ERR_INVALID_ARG, "grt_tokenizer_encode: NULL argument");
    tk_buf fixed = {0}, nb = {0};
    tk_ids out = {0};
    enc_ctx c = {t, &out, NULL, NULL, NULL, NULL};
    grt_status st = GRT_OK;
    if (tk_utf8_valid_prefix(text, len) != len) {
        if (!tk_utf8_lossy(text, len, &fixed)) {
            st = GRT_ERR_NO_MEMORY;
            goto done;
        }
        text = fixed.p;
        len = fixed.n;
    }
    c.cache = tk_cache_new();
    c.md = pcre2_match_data_create(4, NULL);
    if (!c.cache || !c.md) {
        st = grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
        goto done;
    }
    if (add_special)
        for (int i = 0; i < t->n_prefix; i++)
            if (!tk_ids_push(&out, t->prefix_ids[i])) {
                st = GRT_ERR_NO_MEMORY;
                goto done;
            }
    size_t pos = 0, ms, me;
    int32_t id;
    while (pos < len && next_added(t, &t->match_raw, text, len, pos, &ms, &me, &id)) {
        st = encode_segment(&c, text + pos, ms - pos, pos == 0, &nb);
        if (st) goto done;
        if (!tk_ids_push(&out, id)) {
            st = GRT_ERR_NO_MEMORY;
            goto done;
        }
        pos = me;
    }
    st = encode_segment(&c, text + pos, len - pos, pos == 0, &nb);
    if (st) goto done;
    if (add_special)
        for (int i = 0; i < t->n_suffix; i++)
            if (!tk_ids_push(&out, t->suffix_ids[i])) {
                st = GRT_ERR_NO_MEMORY;
                goto done;
            }
    if (!out.p && !(out.p = malloc(sizeof *out.p))) {
        st = grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
        goto done;
    }
    *ids = out.p;
    *n_ids = out.n;
    out.p = NULL;
done:
    free(out.p);
    tk_buf_free(&fixed);
    tk_buf_free(&nb);
    tk_cache_free(c.cache);
    pcre2_match_data_free(c.md);
    pcre2_match_context_free(c.mctx);
    pcre2_jit_stack_free(c.jit);
    return st;
}

/* ------------------------------------------------------------ decode */

/* A list of strings, stored end to end. */
typedef struct {
    tk_buf text;
    size_t *off, *len;
    size_t n, cap;
} strlist;

static bool sl_push(strlist *l, const char *s, size_t n) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        size_t *o = realloc(l->off, cap * sizeof *o);
        if (!o) return false;
        l->off = o;
        size_t *q = realloc(l->len, cap * sizeof *q);
        if (!q) return false;
        l->len = q;
        l->cap = cap;
    }
    l->off[l->n] = l->text.n;
    l->len[l->n] = n;
    l->n++;
    return tk_buf_put(&l->text, s, n);
}

/* Append to the last string (which must be the last one written). */
static bool sl_append(strlist *l, const char *s, size_t n) {
    l->len[l->n - 1] += n;
    return tk_buf_put(&l->text, s, n);
}

static void sl_free(strlist *l) {
    tk_buf_free(&l->text);
    free(l->off);
    free(l->len);
    memset(l, 0, sizeof *l);
}

static int byte_token(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char ch = s[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
              : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

static bool dec_step(const tk_dec *d, strlist *in, strlist *out) {
    tk_buf tmp = {0};
    bool ok = true;
    switch (d->kind) {
    case TK_DEC_REPLACE:
        for (size_t i = 0; i < in->n && ok; i++) {
            const char *s = in->text.p + in->off[i], *end = s + in->len[i];
            ok = sl_push(out, "", 0);
            const char *hit = d->pat_len ? memmem(s, (size_t)(end - s), d->pat, d->pat_len) : NULL;
            while (hit && ok) {
                ok = sl_append(out, s, (size_t)(hit - s)) && sl_append(out, d->str, d->str_len);
                s = hit + d->pat_len;
                hit = memmem(s, (size_t)(end - s), d->pat, d->pat_len);
            }
            if (ok) ok = sl_append(out, s, (size_t)(end - s));
        }
        break;
    case TK_DEC_BYTEFALLBACK: {
        tk_buf run = {0};
        for (size_t i = 0; i <= in->n && ok; i++) {
            int b = i < in->n ? byte_token(in->text.p + in->off[i], in->len[i]) : -1;
            if (b >= 0) {
                unsigned char ch = (unsigned char)b;
                ok = tk_buf_put(&run, &ch, 1);
                continue;
            }
            if (run.n) {
                if (tk_utf8_valid_prefix(run.p, run.n) == run.n) {
                    ok = sl_push(out, run.p, run.n);
                } else {
                    for (size_t k = 0; k < run.n && ok; k++) ok = sl_push(out, "\xEF\xBF\xBD", 3);
                }
                run.n = 0;
            }
            if (i < in->n && ok) ok = sl_push(out, in->text.p + in->off[i], in->len[i]);
        }
        tk_buf_free(&run);
        break;
    }
    case TK_DEC_FUSE:
        ok = sl_push(out, "", 0);
        for (size_t i = 0; i < in->n && ok; i++) ok = sl_append(out, in->text.p + in->off[i], in->len[i]);
        break;
    case TK_DEC_STRIP:
        for (size_t i = 0; i < in->n && ok; i++) {
            const char *s = in->text.p + in->off[i];
            size_t a = 0, b = in->len[i];
            for (int k = 0; k < d->start && a < b; k++) {
                int l;
                if (tk_utf8_decode(s + a, b - a, &l) != d->strip_cp) break;
                a += (size_t)l;
            }
            for (int k = 0; k < d->stop && b > a; k++) {
                size_t q = b - 1;
                while (q > a && ((unsigned char)s[q] & 0xC0) == 0x80) q--;
                int l;
                if (tk_utf8_decode(s + q, b - q, &l) != d->strip_cp) break;
                b = q;
            }
            ok = sl_push(out, s + a, b - a);
        }
        break;
    case TK_DEC_BYTELEVEL:
        for (size_t i = 0; i < in->n && ok; i++) {
            const char *s = in->text.p + in->off[i];
            size_t n = in->len[i], mark = tmp.n;
            for (size_t k = 0; k < n && ok;) {
                int l;
                uint32_t cp = tk_utf8_decode(s + k, n - k, &l);
                int b = tk_cp_to_byte(cp);
                if (b < 0) { /* not a mapped character: the token's own bytes */
                    tmp.n = mark;
                    ok = tk_buf_put(&tmp, s, n);
                    break;
                }
                unsigned char ch = (unsigned char)b;
                ok = tk_buf_put(&tmp, &ch, 1);
                k += (size_t)l;
            }
        }
        if (ok) {
            tk_buf lossy = {0};
            ok = tk_utf8_lossy(tmp.p ? tmp.p : "", tmp.n, &lossy) && sl_push(out, lossy.p ? lossy.p : "", lossy.n);
            tk_buf_free(&lossy);
        }
        break;
    case TK_DEC_METASPACE:
        for (size_t i = 0; i < in->n && ok; i++) {
            const char *s = in->text.p + in->off[i], *end = s + in->len[i];
            ok = sl_push(out, "", 0);
            while (s < end && ok) {
                if ((size_t)(end - s) >= (size_t)d->repl_len && memcmp(s, d->repl, (size_t)d->repl_len) == 0) {
                    if (!(i == 0 && d->prepend != TK_PREPEND_NEVER)) ok = sl_append(out, " ", 1);
                    s += d->repl_len;
                } else {
                    ok = sl_append(out, s, 1);
                    s++;
                }
            }
        }
        break;
    }
    tk_buf_free(&tmp);
    return ok;
}

static grt_status check_ids(const grt_tokenizer *t, const int32_t *ids, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= t->n_vocab || t->tok_len[ids[i]] == UINT32_MAX)
            return grt_fail(GRT_ERR_RANGE, "token id %d (position %zu) is outside the vocabulary (%d ids)",
                            ids[i], i, t->n_vocab);
    return GRT_OK;
}

/* Decode without checks; appends to out. */
static grt_status decode_into(const grt_tokenizer *t, const int32_t *ids, size_t n, tk_buf *out) {
    strlist a = {0}, b = {0};
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) ok = sl_push(&a, t->pool.p + t->tok_off[ids[i]], t->tok_len[ids[i]]);
    if (!t->has_decoder) {
        for (size_t i = 0; i < a.n && ok; i++) {
            if (i) ok = tk_buf_put(out, " ", 1);
            if (ok) ok = tk_buf_put(out, a.text.p + a.off[i], a.len[i]);
        }
    } else {
        for (int k = 0; k < t->n_dec && ok; k++) {
            b.n = 0;
            b.text.n = 0;
            ok = dec_step(&t->dec[k], &a, &b);
            strlist x = a;
            a = b;
            b = x;
        }
        for (size_t i = 0; i < a.n && ok; i++) ok = tk_buf_put(out, a.text.p + a.off[i], a.len[i]);
    }
    if (ok) ok = tk_buf_put(out, "", 0); /* NUL */
    sl_free(&a);
    sl_free(&b);
    return ok ? GRT_OK : grt_fail(GRT_ERR_NO_MEMORY, "out of host memory while decoding");
}

grt_status grt_tokenizer_decode(const grt_tokenizer *t, const int32_t *ids, size_t n_ids,
                                char **text, size_t *len) {
    if (text) *text = NULL;
    if (len) *len = 0;
    if (!t || !text || (!ids && n_ids)) return grt_fail(GRT_ERR_INVALID_ARG, "grt_tokenizer_decode: NULL argument");
    grt_status st = check_ids(t, ids, n_ids);
    if (st) return st;
    tk_buf out = {0};
    st = decode_into(t, ids, n_ids, &out);
    if (st) {
        tk_buf_free(&out);
        return st;
    }
    *text = out.p;
    if (len) *len = out.n;
    return GRT_OK;
}

/* ------------------------------------------------------------ streaming */

/* The window holds the last emitted token (as context) and the tokens not
 * yet emitted; prefix_len is the decoded length of the context alone. New
 * text is what decoding the window adds after the context, emitted once it
 * does not end in U+FFFD (an incomplete character) and, with byte fallback,
 * once the run of <0xNN> tokens is over (a run decodes as a whole). */
struct grt_detok {
    const grt_tokenizer *t;
    tk_ids win;
    size_t prefix_len;
    tk_buf text, out;
};

grt_status grt_detok_new(const grt_tokenizer *t, grt_detok **out) {
    if (!out) return grt_fail(GRT_ERR_INVALID_ARG, "grt_detok_new: NULL out");
    *out = NULL;
    if (!t) return grt_fail(GRT_ERR_INVALID_ARG, "grt_detok_new: NULL tokenizer");
    grt_detok *d = calloc(1, sizeof *d);
    if (!d) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
    d->t = t;
    *out = d;
    return GRT_OK;
}

void grt_detok_free(grt_detok *d) {
    if (!d) return;
    free(d->win.p);
    tk_buf_free(&d->text);
    tk_buf_free(&d->out);
    free(d);
}

static bool has_bytefallback(const grt_tokenizer *t) {
    for (int i = 0; i < t->n_dec; i++)
        if (t->dec[i].kind == TK_DEC_BYTEFALLBACK) return true;
    return false;
}

grt_status grt_detok_push(grt_detok *d, int32_t id, const char **out, size_t *len) {
    if (!d || !out || !len) return grt_fail(GRT_ERR_INVALID_ARG, "grt_detok_push: NULL argument");
    *out = "";
    *len = 0;
    const grt_tokenizer *t = d->t;
    grt_status st = check_ids(t, &id, 1);
    if (st) return st;
    if (!tk_ids_push(&d->win, id)) return GRT_ERR_NO_MEMORY;
    d->text.n = 0;
    st = decode_into(t, d->win.p, d->win.n, &d->text);
    if (st) return st;
    size_t n = d->text.n;
    bool partial = n >= 3 && memcmp(d->text.p + n - 3, "\xEF\xBF\xBD", 3) == 0;
    bool in_run = has_bytefallback(t) && byte_token(t->pool.p + t->tok_off[id], t->tok_len[id]) >= 0;
    if (n <= d->prefix_len || partial || in_run) return GRT_OK;
    d->out.n = 0;
    if (!tk_buf_put(&d->out, d->text.p + d->prefix_len, n - d->prefix_len)) return GRT_ERR_NO_MEMORY;
    d->win.p[0] = id;
    d->win.n = 1;
    d->text.n = 0;
    st = decode_into(t, d->win.p, 1, &d->text);
    if (st) return st;
    d->prefix_len = d->text.n;
    *out = d->out.p;
    *len = d->out.n;
    return GRT_OK;
}

grt_status grt_detok_flush(grt_detok *d, const char **out, size_t *len) {
    if (!d || !out || !len) return grt_fail(GRT_ERR_INVALID_ARG, "grt_detok_flush: NULL argument");
    *out = "";
    *len = 0;
    d->text.n = 0;
    grt_status st = decode_into(d->t, d->win.p, d->win.n, &d->text);
    if (st) return st;
    d->out.n = 0;
    if (d->text.n > d->prefix_len &&
        !tk_buf_put(&d->out, d->text.p + d->prefix_len, d->text.n - d->prefix_len))
        return GRT_ERR_NO_MEMORY;
    d->win.n = 0;
    d->prefix_len = 0;
    *out = d->out.p ? d->out.p : "";
    *len = d->out.n;
    return GRT_OK;
}

/* ------------------------------------------------------------ finishing */

grt_status tk_finish(grt_tokenizer *t) {
    bool bytelevel = false;
    for (int i = 0; i < t->n_pre; i++)
        if (t->pre[i].kind == TK_PRE_BYTELEVEL) bytelevel = true;
    t->kind = bytelevel ? TK_BYTELEVEL : TK_SENTENCEPIECE;
    for (int b = 0; b < 256; b++) {
        char s[8];
        int n;
        if (bytelevel) {
            n = tk_utf8_encode(tk_byte_to_cp[b], s);
        } else {
            static const char hex[] = "0123456789ABCDEF";
            memcpy(s, "<0x", 3);
            s[3] = hex[b >> 4];
            s[4] = hex[b & 15];
            s[5] = '>';
            n = 6;
        }
        t->byte_sym[b] = (bytelevel || t->byte_fallback) ? tk_vocab_find(t, s, (size_t)n) : -1;
    }
    grt_status st = matcher_build(&t->match_raw, t, false);
    if (!st) st = matcher_build(&t->match_norm, t, true);
    return st;
}

/* ------------------------------------------------------------ accessors */

int grt_tokenizer_vocab_size(const grt_tokenizer *t) { return t ? t->n_vocab : 0; }
int32_t grt_tokenizer_bos(const grt_tokenizer *t) { return t ? t->bos_id : -1; }
int grt_tokenizer_eos(const grt_tokenizer *t, const int32_t **ids) {
    if (ids) *ids = t ? t->eos_ids : NULL;
    return t ? t->n_eos : 0;
}
const char *grt_tokenizer_kind(const grt_tokenizer *t) {
    return t && t->kind == TK_SENTENCEPIECE ? "bpe-sentencepiece" : "bpe-bytelevel";
}

/* ------------------------------------------------------------ loading */

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

grt_status grt_tokenizer_load(const char *path, grt_tokenizer **out) {
    if (!out) return grt_fail(GRT_ERR_INVALID_ARG, "grt_tokenizer_load: NULL out");
    *out = NULL;
    if (!path) return grt_fail(GRT_ERR_INVALID_ARG, "grt_tokenizer_load: NULL path");
    struct stat sb;
    if (stat(path, &sb) != 0) return grt_fail(GRT_ERR_IO, "%s: no such file or directory", path);
    if (S_ISDIR(sb.st_mode)) {
        size_t n = strlen(path);
        char *p = malloc(n + 32);
        if (!p) return grt_fail(GRT_ERR_NO_MEMORY, "out of host memory");
        snprintf(p, n + 32, "%s/tokenizer.json", path);
        if (stat(p, &sb) != 0) {
            free(p);
            return grt_fail(GRT_ERR_IO, "%s: directory has no tokenizer.json", path);
        }
        grt_status st = grt_tokenizer_from_json(p, out);
        free(p);
        return st;
    }
    bool gguf = ends_with(path, ".gguf");
    if (!gguf) {
        FILE *f = fopen(path, "rb");
        char magic[4] = {0};
        if (f) {
            gguf = fread(magic, 1, 4, f) == 4 && memcmp(magic, "GGUF", 4) == 0;
            fclose(f);
        }
    }
    if (!gguf) return grt_tokenizer_from_json(path, out);
    grt_gguf *g = NULL;
    grt_status st = grt_gguf_open(path, &g);
    if (st) return st;
    st = grt_tokenizer_from_gguf(g, out);
    grt_gguf_close(g);
    return st;
}
