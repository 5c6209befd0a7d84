/* Tokenizer conformance against Hugging Face `tokenizers` 0.23.2:
 *  - ../shared/testdata/tokenizers/reference_encodings.json (llama2, llama3,
 *    qwen3; 51 strings), and
 *  - tests/data/tokenizers/extra_refs.json (128 strings: special tokens in
 *    text, byte fallback, NFC, whitespace, lossy UTF-8; Gemma 3 and three
 *    small trained tokenizers; random id sequences for decode),
 * from tokenizer.json, from the GGUF grt_tokenizer_to_gguf writes, and from
 * a GGUF with only llama.cpp's keys. Plus streaming decode, invalid UTF-8
 * and bad-input errors. */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "genrt.h"
#include "gguf.h"
#include "testutil.h"
#include "tokenizer.h"
#include "tokenizer_impl.h"

#define EXTRA_DIR "tests/data/tokenizers/"

static cJSON *g_shared, *g_extra, *g_invalid;

typedef struct {
    const char *name;
    const char *path; /* tokenizer.json */
    bool in_shared;
    grt_tokenizer *tok;
} tok_case;

static tok_case g_toks[] = {
    {"llama2", NULL, true, NULL},  {"llama3", NULL, true, NULL},
    {"qwen3", NULL, true, NULL},   {"gemma3", NULL, false, NULL}, /* unpacked from gemma3/ (gzip) */
    {"toy_bl", EXTRA_DIR "toy/toy_bl.json", false, NULL},
    {"toy_blp", EXTRA_DIR "toy/toy_blp.json", false, NULL},
    {"toy_ms", EXTRA_DIR "toy/toy_ms.json", false, NULL},
};
#define N_TOKS (int)(sizeof g_toks / sizeof g_toks[0])

static cJSON *load_json(const char *path) {
    size_t len;
    char *s = t_read_file(path, &len);
    if (!s) return NULL;
    cJSON *j = cJSON_ParseWithLength(s, len);
    free(s);
    return j;
}

static bool ids_equal(const int32_t *ids, size_t n, const cJSON *ref) {
    if ((size_t)cJSON_GetArraySize(ref) != n) return false;
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, ref) {
        if ((int32_t)e->valuedouble != ids[i++]) return false;
    }
    return true;
}

static void print_ids(const char *what, const int32_t *ids, size_t n) {
    printf("    %s:", what);
    for (size_t i = 0; i < n && i < 40; i++) printf(" %d", ids[i]);
    printf("%s\n", n > 40 ? " ..." : "");
}

static int32_t *ref_ids(const cJSON *ref, size_t *n) {
    *n = (size_t)cJSON_GetArraySize(ref);
    int32_t *v = malloc((*n + 1) * sizeof *v);
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, ref) v[i++] = (int32_t)e->valuedouble;
    return v;
}

/* Encode (both modes) and decode every corpus string; returns mismatches. */
static int check_refs(const grt_tokenizer *tok, const char *name, const cJSON *refs) {
    const cJSON *corpus = cJSON_GetObjectItem(refs, "corpus");
    const cJSON *recs = cJSON_GetObjectItem(cJSON_GetObjectItem(refs, "tokenizers"), name);
    if (!recs) {
        printf("  no references for %s\n", name);
        return 1;
    }
    int bad = 0, i = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, corpus) {
        const cJSON *rec = cJSON_GetArrayItem(recs, i);
        const char *text = s->valuestring;
        for (int sp = 0; sp < 2; sp++) {
            int32_t *ids = NULL;
            size_t n = 0;
            grt_status st = grt_tokenizer_encode(tok, text, strlen(text), sp, &ids, &n);
            const cJSON *want = cJSON_GetObjectItem(rec, sp ? "ids_special" : "ids");
            if (st || !ids_equal(ids, n, want)) {
                if (bad++ < 6) {
                    printf("  %s[%d] special=%d: %s\n", name, i, sp, st ? grt_last_error() : "ids differ");
                    size_t rn;
                    int32_t *r = ref_ids(want, &rn);
                    print_ids("got ", ids, n);
                    print_ids("want", r, rn);
                    free(r);
                }
            }
            free(ids);
            /* decode the reference ids */
            const cJSON *dec = cJSON_GetObjectItem(rec, sp ? "decoded_special" : "decoded");
            if (!dec) continue;
            size_t rn;
            int32_t *r = ref_ids(want, &rn);
            char *out = NULL;
            size_t olen = 0;
            st = grt_tokenizer_decode(tok, r, rn, &out, &olen);
            if (st || olen != strlen(dec->valuestring) || memcmp(out, dec->valuestring, olen) != 0) {
                if (bad++ < 6)
                    printf("  %s[%d] decode special=%d: %s\n    got  \"%s\"\n    want \"%s\"\n", name, i, sp,
                           st ? grt_last_error() : "text differs", out ? out : "", dec->valuestring);
            }
            free(out);
            free(r);
        }
        i++;
    }
    return bad;
}

static int check_decode_cases(const grt_tokenizer *tok, const char *name) {
    const cJSON *cases = cJSON_GetObjectItem(cJSON_GetObjectItem(g_extra, "decode_cases"), name);
    int bad = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        size_t n;
        int32_t *ids = ref_ids(cJSON_GetObjectItem(c, "ids"), &n);
        const char *want = cJSON_GetObjectItem(c, "decoded")->valuestring;
        char *out = NULL;
        size_t olen;
        grt_status st = grt_tokenizer_decode(tok, ids, n, &out, &olen);
        /* cJSON strings stop at U+0000: compare up to it */
        size_t wl = strlen(want);
        if (!st && olen > wl && out[wl] == 0) olen = wl;
        if (st || olen != wl || memcmp(out, want, olen) != 0) {
            if (bad++ < 5) {
                printf("  %s decode case: %s\n    got  \"%s\"\n    want \"%s\"\n", name,
                       st ? grt_last_error() : "differs", out ? out : "", want);
                print_ids("ids", ids, n);
            }
        }
        free(out);
        free(ids);
    }
    return bad;
}

/* ------------------------------------------------------------ cases */

static tok_case *g_cur;
static const grt_tokenizer *g_tok;

static void case_shared(void) {
    CHECK(g_tok);
    if (g_tok) CHECKF(check_refs(g_tok, g_cur->name, g_shared) == 0, "%s", g_cur->name);
}

static void case_extra(void) {
    CHECK(g_tok);
    if (!g_tok) return;
    CHECKF(check_refs(g_tok, g_cur->name, g_extra) == 0, "%s", g_cur->name);
    CHECKF(check_decode_cases(g_tok, g_cur->name) == 0, "%s", g_cur->name);
}

/* Streamed pieces are valid UTF-8 and add up to the whole decode. */
static int stream_one(const grt_tokenizer *tok, const int32_t *ids, size_t n) {
    grt_detok *d = NULL;
    if (grt_detok_new(tok, &d)) return 1;
    char *acc = malloc(16);
    size_t an = 0, cap = 16;
    int bad = 0;
    for (size_t i = 0; i <= n; i++) {
        const char *piece;
        size_t pl;
        grt_status st = i < n ? grt_detok_push(d, ids[i], &piece, &pl) : grt_detok_flush(d, &piece, &pl);
        if (st) {
            bad++;
            break;
        }
        if (tk_utf8_valid_prefix(piece, pl) != pl) bad++;
        if (an + pl + 1 > cap) {
            while (an + pl + 1 > cap) cap *= 2;
            acc = realloc(acc, cap);
        }
        memcpy(acc + an, piece, pl);
        an += pl;
    }
    char *whole = NULL;
    size_t wl = 0;
    if (!bad && !grt_tokenizer_decode(tok, ids, n, &whole, &wl)) {
        if (wl != an || memcmp(whole, acc, an) != 0) {
            bad++;
            acc[an] = 0;
            printf("    stream \"%s\"\n    whole  \"%s\"\n", acc, whole);
        }
    }
    free(whole);
    free(acc);
    grt_detok_free(d);
    return bad;
}

static void case_stream(void) {
    CHECK(g_tok);
    if (!g_tok) return;
    const cJSON *corpus = cJSON_GetObjectItem(g_extra, "corpus");
    int bad = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, corpus) {
        int32_t *ids;
        size_t n;
        if (grt_tokenizer_encode(g_tok, s->valuestring, strlen(s->valuestring), true, &ids, &n)) {
            bad++;
            continue;
        }
        if (stream_one(g_tok, ids, n) && bad++ < 3) printf("  stream mismatch on \"%s\"\n", s->valuestring);
        free(ids);
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(cJSON_GetObjectItem(g_extra, "decode_cases"), g_cur->name)) {
        size_t n;
        int32_t *ids = ref_ids(cJSON_GetObjectItem(c, "ids"), &n);
        if (stream_one(g_tok, ids, n) && bad++ < 3) print_ids("stream mismatch on ids", ids, n);
        free(ids);
    }
    CHECKF(bad == 0, "%s: %d streams differ", g_cur->name, bad);
}

static int hexval(char c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; }

/* Invalid UTF-8 gives the ids of its lossy decoding. */
static void case_invalid_utf8(void) {
    CHECK(g_tok);
    if (!g_tok) return;
    const cJSON *recs = cJSON_GetObjectItem(cJSON_GetObjectItem(g_extra, "tokenizers"), g_cur->name);
    const cJSON *e;
    int bad = 0;
    cJSON_ArrayForEach(e, g_invalid) {
        const char *hex = cJSON_GetObjectItem(e, "hex")->valuestring;
        int idx = cJSON_GetObjectItem(e, "index")->valueint;
        size_t n = strlen(hex) / 2;
        char *bytes = malloc(n + 1);
        for (size_t i = 0; i < n; i++) bytes[i] = (char)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
        for (int sp = 0; sp < 2; sp++) {
            int32_t *ids = NULL;
            size_t k = 0;
            grt_status st = grt_tokenizer_encode(g_tok, bytes, n, sp, &ids, &k);
            const cJSON *want = cJSON_GetObjectItem(cJSON_GetArrayItem(recs, idx), sp ? "ids_special" : "ids");
            if (st || !ids_equal(ids, k, want)) {
                if (bad++ < 3) printf("  invalid UTF-8 %s: %s\n", hex, st ? grt_last_error() : "ids differ");
            }
            free(ids);
        }
        free(bytes);
    }
    CHECKF(bad == 0, "%s", g_cur->name);
}

static const char *gguf_path(const char *name, bool genrt_keys) {
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s", t_tmp(name));
    strcat(buf, genrt_keys ? ".gguf" : ".llamacpp.gguf");
    return buf;
}

static grt_status write_gguf(const grt_tokenizer *tok, const char *path, bool genrt_keys) {
    grt_gguf_writer *w = NULL;
    grt_status st = grt_gguf_writer_new(&w);
    if (!st) st = grt_gguf_set_str(w, "general.architecture", "llama");
    if (!st) st = tk_to_gguf(tok, w, genrt_keys);
    if (!st) st = grt_gguf_writer_write(w, path);
    grt_gguf_writer_free(w);
    return st;
}

static void case_gguf_roundtrip(void) {
    CHECK(g_tok);
    if (!g_tok) return;
    const char *path = gguf_path(g_cur->name, true);
    grt_status st = write_gguf(g_tok, path, true);
    CHECKF(st == GRT_OK, "%s", grt_last_error());
    grt_tokenizer *t2 = NULL;
    st = grt_tokenizer_load(path, &t2);
    CHECKF(st == GRT_OK, "%s", grt_last_error());
    if (!t2) return;
    CHECK(strcmp(grt_tokenizer_kind(t2), grt_tokenizer_kind(g_tok)) == 0);
    CHECK(grt_tokenizer_vocab_size(t2) == grt_tokenizer_vocab_size(g_tok));
    CHECK(grt_tokenizer_bos(t2) == grt_tokenizer_bos(g_tok));
    const int32_t *e1, *e2;
    int n1 = grt_tokenizer_eos(g_tok, &e1), n2 = grt_tokenizer_eos(t2, &e2);
    CHECK(n1 == n2 && (n1 == 0 || memcmp(e1, e2, (size_t)n1 * sizeof *e1) == 0));
    if (g_cur->in_shared) CHECKF(check_refs(t2, g_cur->name, g_shared) == 0, "%s from GGUF", g_cur->name);
    CHECKF(check_refs(t2, g_cur->name, g_extra) == 0, "%s from GGUF", g_cur->name);
    CHECKF(check_decode_cases(t2, g_cur->name) == 0, "%s from GGUF", g_cur->name);
    grt_tokenizer_free(t2);
}

/* Only the keys llama.cpp writes: the pipeline comes from llama.cpp's
 * conventions (pre-tokenizer name, SentencePiece defaults). */
static void case_gguf_llamacpp(void) {
    CHECK(g_tok);
    if (!g_tok) return;
    const char *path = gguf_path(g_cur->name, false);
    grt_status st = write_gguf(g_tok, path, false);
    CHECKF(st == GRT_OK, "%s", grt_last_error());
    grt_tokenizer *t2 = NULL;
    st = grt_tokenizer_load(path, &t2);
    CHECKF(st == GRT_OK, "%s", grt_last_error());
    if (!t2) return;
    if (g_cur->in_shared)
        CHECKF(check_refs(t2, g_cur->name, g_shared) == 0, "%s from a llama.cpp-style GGUF", g_cur->name);
    CHECKF(check_refs(t2, g_cur->name, g_extra) == 0, "%s from a llama.cpp-style GGUF", g_cur->name);
    grt_tokenizer_free(t2);
}

/* ------------------------------------------------------------ API details */

static void case_api(void) {
    grt_tokenizer *t = g_toks[0].tok; /* llama2 */
    CHECK(t);
    if (!t) return;
    CHECK(strcmp(grt_tokenizer_kind(t), "bpe-sentencepiece") == 0);
    CHECK(strcmp(grt_tokenizer_kind(g_toks[1].tok), "bpe-bytelevel") == 0);
    CHECK(grt_tokenizer_vocab_size(t) == 32000);
    CHECK(grt_tokenizer_bos(t) == 1);
    const int32_t *eos;
    CHECK(grt_tokenizer_eos(t, &eos) == 1 && eos[0] == 2);
    CHECK(grt_tokenizer_bos(g_toks[2].tok) == -1); /* qwen3: no BOS */
    CHECK(grt_tokenizer_eos(g_toks[2].tok, &eos) == 1 && eos[0] == 151645);
    CHECK(t->chat_template == NULL || strlen(t->chat_template) > 0);
    if (g_toks[3].tok) { /* gemma3: <bos> = 2, eos_token <end_of_turn> = 106 */
        CHECK(grt_tokenizer_bos(g_toks[3].tok) == 2);
        CHECK(grt_tokenizer_eos(g_toks[3].tok, &eos) == 1 && eos[0] == 106);
        CHECK(strcmp(grt_tokenizer_kind(g_toks[3].tok), "bpe-sentencepiece") == 0);
    }
    CHECK(g_toks[2].tok->chat_template && strstr(g_toks[2].tok->chat_template, "<|im_start|>"));
    /* decode errors */
    int32_t bad_ids[] = {5, 32000};
    char *text = (char *)1;
    size_t len = 7;
    CHECK(grt_tokenizer_decode(t, bad_ids, 2, &text, &len) == GRT_ERR_RANGE);
    CHECK(text == NULL);
    CHECK(strstr(grt_last_error(), "32000") != NULL);
    int32_t neg[] = {-1};
    CHECK(grt_tokenizer_decode(t, neg, 1, &text, &len) == GRT_ERR_RANGE);
    grt_detok *d;
    CHECK(grt_detok_new(t, &d) == GRT_OK);
    const char *p;
    size_t pl;
    CHECK(grt_detok_push(d, 40000, &p, &pl) == GRT_ERR_RANGE);
    grt_detok_free(d);
    grt_detok_free(NULL);
    grt_tokenizer_free(NULL);
    /* empty input */
    int32_t *ids = NULL;
    size_t n = 99;
    CHECK(grt_tokenizer_encode(t, "", 0, false, &ids, &n) == GRT_OK && n == 0);
    free(ids);
    CHECK(grt_tokenizer_encode(t, "", 0, true, &ids, &n) == GRT_OK && n == 1 && ids[0] == 1);
    free(ids);
    CHECK(grt_tokenizer_decode(t, NULL, 0, &text, &len) == GRT_OK && len == 0 && text && !text[0]);
    free(text);
    /* a long input with no pre-tokenizer: one piece, the heap merge path */
    size_t big = 200000;
    char *s = malloc(big + 1);
    for (size_t i = 0; i < big; i++) s[i] = "ab cd\xc3\xa9 "[i % 8];
    s[big] = 0;
    s[big - 1] = 'x';
    CHECK(grt_tokenizer_encode(t, s, big, false, &ids, &n) == GRT_OK && n > 1000);
    CHECK(grt_tokenizer_decode(t, ids, n, &text, &len) == GRT_OK && len == big && memcmp(text, s, big) == 0);
    free(text);
    free(ids);
    free(s);
}

/* Directory and .gguf paths both load; NULL arguments are errors. */
static void case_load_paths(void) {
    grt_tokenizer *t = NULL;
    CHECK(grt_tokenizer_load(t_data("tokenizers/llama3"), &t) == GRT_OK && t);
    if (t) CHECK(grt_tokenizer_vocab_size(t) == 128256);
    grt_tokenizer_free(t);
    CHECK(grt_tokenizer_load("/nonexistent/dir", &t) == GRT_ERR_IO && t == NULL);
    CHECK(strstr(grt_last_error(), "/nonexistent/dir") != NULL);
    CHECK(grt_tokenizer_load(t_tmp(""), &t) == GRT_ERR_IO);
    CHECK(strstr(grt_last_error(), "tokenizer.json") != NULL);
    CHECK(grt_tokenizer_load(NULL, &t) == GRT_ERR_INVALID_ARG);
}

/* ------------------------------------------------------------ hostile text */

static uint64_t g_rng = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 11);
}

/* Random bytes (mostly invalid UTF-8), random code points and pieces of the
 * corpus: encoding never fails; where the pipeline is reversible
 * (llama2, llama3, gemma3), decode(encode(x)) is the lossy decoding of x;
 * streaming the ids gives the whole decode. */
static void case_random_text(void) {
    const cJSON *corpus = cJSON_GetObjectItem(g_extra, "corpus");
    int nc = cJSON_GetArraySize(corpus), bad = 0;
    for (int it = 0; it < 300; it++) {
        char buf[600];
        size_t n = 0, want = 1 + rnd() % 500;
        while (n < want) {
            uint32_t kind = rnd() % 4;
            if (kind == 0) buf[n++] = (char)(rnd() & 0xff);
            else if (kind == 1 && n + 4 < sizeof buf) {
                uint32_t cp = rnd() % 4 ? rnd() % 0x3000 : rnd() % 0x110000;
                if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD;
                n += (size_t)tk_utf8_encode(cp ? cp : 1, buf + n);
            } else if (kind == 2) {
                const char *c = cJSON_GetArrayItem(corpus, (int)(rnd() % (uint32_t)nc))->valuestring;
                size_t l = strlen(c), a = l ? rnd() % l : 0, b = l - a ? rnd() % (l - a) + 1 : 0;
                if (n + b > sizeof buf) b = sizeof buf - n;
                memcpy(buf + n, c + a, b);
                n += b;
            } else {
                buf[n++] = " \n\t<|>'s0"[rnd() % 9];
            }
        }
        tk_buf lossy = {0};
        tk_utf8_lossy(buf, n, &lossy);
        for (int k = 0; k < N_TOKS; k++) {
            const grt_tokenizer *tok = g_toks[k].tok;
            if (!tok) continue;
            int32_t *ids = NULL;
            size_t ni = 0;
            if (grt_tokenizer_encode(tok, buf, n, k % 2 == 0, &ids, &ni)) {
                if (bad++ < 5) printf("  %s: encode failed: %s\n", g_toks[k].name, grt_last_error());
                continue;
            }
            if (k == 0 || k == 1 || k == 3) {
                /* without the template: llama2's decode keeps <s> */
                int32_t *ids2 = NULL;
                size_t n2 = 0;
                char *text = NULL;
                size_t tl = 0;
                grt_tokenizer_encode(tok, buf, n, false, &ids2, &n2);
                bool ok = !grt_tokenizer_decode(tok, ids2, n2, &text, &tl) && tl == lossy.n &&
                          memcmp(text, lossy.p, tl) == 0;
                /* Gemma and llama2 write spaces as U+2581: a literal U+2581 comes back as a space */
                if (!ok && memmem(lossy.p, lossy.n, "\xE2\x96\x81", 3)) ok = true;
                /* llama2's legacy normalizer prepends U+2581 to the text after a special token */
                if (!ok && k == 0 && (memmem(lossy.p, lossy.n, "<s>", 3) || memmem(lossy.p, lossy.n, "</s>", 4) ||
                                      memmem(lossy.p, lossy.n, "<unk>", 5)))
                    ok = true;
                if (!ok && bad < 5) printf("    x = \"%.*s\"\n    got \"%.*s\"\n", (int)lossy.n, lossy.p, (int)tl, text ? text : "");
                if (!ok && bad++ < 5) printf("  %s: decode(encode(x)) != x (iteration %d)\n", g_toks[k].name, it);
                free(text);
                free(ids2);
            }
            if (stream_one(tok, ids, ni) && bad++ < 5) printf("  %s: stream differs (iteration %d)\n", g_toks[k].name, it);
            free(ids);
        }
        tk_buf_free(&lossy);
    }
    CHECKF(bad == 0, "%d failures", bad);
}

/* One tokenizer shared by threads: the same ids as a single thread. */
typedef struct {
    const grt_tokenizer *tok;
    const char *text;
    size_t len;
    int32_t *ids;
    size_t n;
} thr_arg;

static void *thr_encode(void *p) {
    thr_arg *a = p;
    for (int i = 0; i < 5; i++) {
        free(a->ids);
        a->ids = NULL;
        if (grt_tokenizer_encode(a->tok, a->text, a->len, true, &a->ids, &a->n)) a->n = SIZE_MAX;
    }
    return NULL;
}

static void case_threads(void) {
    const cJSON *corpus = cJSON_GetObjectItem(g_extra, "corpus");
    tk_buf text = {0};
    for (int r = 0; r < 20; r++) {
        const cJSON *c;
        cJSON_ArrayForEach(c, corpus) tk_buf_put(&text, c->valuestring, strlen(c->valuestring));
    }
    for (int k = 0; k < N_TOKS; k++) {
        if (!g_toks[k].tok) continue;
        int32_t *ref = NULL;
        size_t nref = 0;
        CHECK(grt_tokenizer_encode(g_toks[k].tok, text.p, text.n, true, &ref, &nref) == GRT_OK);
        thr_arg a[4];
        pthread_t th[4];
        for (int i = 0; i < 4; i++) {
            a[i] = (thr_arg){g_toks[k].tok, text.p, text.n, NULL, 0};
            pthread_create(&th[i], NULL, thr_encode, &a[i]);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            CHECKF(a[i].n == nref && memcmp(a[i].ids, ref, nref * sizeof *ref) == 0, "%s thread %d", g_toks[k].name, i);
            free(a[i].ids);
        }
        free(ref);
    }
    tk_buf_free(&text);
}

/* ------------------------------------------------------------ bad input */

static void expect_error(const char *label, const char *json, grt_status want, const char *needle) {
    const char *path = t_tmp("bad_tokenizer.json");
    CHECK(t_write_file(path, json, strlen(json)));
    grt_tokenizer *t = (grt_tokenizer *)1;
    grt_status st = grt_tokenizer_load(path, &t);
    CHECKF(st == want, "%s: status %d (%s)", label, st, grt_last_error());
    CHECKF(t == NULL, "%s", label);
    CHECKF(strstr(grt_last_error(), path) != NULL, "%s: message does not name the file: %s", label, grt_last_error());
    CHECKF(strstr(grt_last_error(), needle) != NULL, "%s: message lacks \"%s\": %s", label, needle, grt_last_error());
}

#define TINY_MODEL "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}"

static void case_bad_input(void) {
    expect_error("not json", "{\"model\": {", GRT_ERR_FORMAT, "not valid JSON");
    expect_error("not an object", "[1,2]", GRT_ERR_FORMAT, "not a JSON object");
    expect_error("no model", "{\"version\":\"1.0\"}", GRT_ERR_FORMAT, "model");
    expect_error("unknown merge token", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a c\"]}}",
                 GRT_ERR_FORMAT, "model.merges[0]");
    expect_error("merge result missing", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[[\"a\",\"b\"]]}}",
                 GRT_ERR_FORMAT, "\"ab\" is not in the vocabulary");
    expect_error("bad merge", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"abc\"]}}",
                 GRT_ERR_FORMAT, "model.merges[0]");
    expect_error("unigram", "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",0.0]]}}", GRT_ERR_UNSUPPORTED,
                 "model.type");
    expect_error("wordpiece", "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", GRT_ERR_UNSUPPORTED, "WordPiece");
    expect_error("no vocab", "{\"model\":{\"type\":\"BPE\",\"merges\":[]}}", GRT_ERR_FORMAT, "model.vocab");
    expect_error("bad vocab id", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-3},\"merges\":[]}}", GRT_ERR_FORMAT,
                 "model.vocab");
    expect_error("unsupported pre", "{" TINY_MODEL ",\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Whitespace\"}]}}",
                 GRT_ERR_UNSUPPORTED, "pre_tokenizer.pretokenizers[0]");
    expect_error("unsupported normalizer", "{" TINY_MODEL ",\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"\"}}",
                 GRT_ERR_UNSUPPORTED, "normalizer");
    expect_error("unsupported decoder", "{" TINY_MODEL ",\"decoder\":{\"type\":\"WordPiece\"}}", GRT_ERR_UNSUPPORTED,
                 "decoder");
    expect_error("bad regex", "{" TINY_MODEL ",\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(a\"},\"behavior\":\"Isolated\"}}",
                 GRT_ERR_UNSUPPORTED, "pre_tokenizer.pattern");
    expect_error("bad unk", "{\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"vocab\":{\"a\":0},\"merges\":[]}}",
                 GRT_ERR_FORMAT, "model.unk_token");
    expect_error("bad added", "{" TINY_MODEL ",\"added_tokens\":[{\"id\":5}]}", GRT_ERR_FORMAT, "added_tokens[0]");
    expect_error("bad template", "{" TINY_MODEL ",\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\"}}],\"special_tokens\":{}}}",
                 GRT_ERR_FORMAT, "post_processor");
    /* the tiny one itself loads and merges */
    const char *path = t_tmp("tiny_tokenizer.json");
    const char *json = "{" TINY_MODEL "}";
    CHECK(t_write_file(path, json, strlen(json)));
    grt_tokenizer *t = NULL;
    CHECKF(grt_tokenizer_load(path, &t) == GRT_OK, "%s", grt_last_error());
    if (t) {
        int32_t *ids;
        size_t n;
        CHECK(grt_tokenizer_encode(t, "aab", 3, true, &ids, &n) == GRT_OK && n == 2 && ids[0] == 0 && ids[1] == 2);
        free(ids);
    }
    grt_tokenizer_free(t);
    /* a GGUF without a tokenizer, and one with an unknown model */
    grt_gguf_writer *w = NULL;
    CHECK(grt_gguf_writer_new(&w) == GRT_OK);
    grt_gguf_set_str(w, "general.architecture", "llama");
    const char *gp = t_tmp("no_tok.gguf");
    CHECK(grt_gguf_writer_write(w, gp) == GRT_OK);
    grt_gguf_writer_free(w);
    CHECK(grt_tokenizer_load(gp, &t) == GRT_ERR_FORMAT);
    CHECK(strstr(grt_last_error(), "tokenizer.ggml.model") != NULL);
    CHECK(grt_gguf_writer_new(&w) == GRT_OK);
    grt_gguf_set_str(w, "tokenizer.ggml.model", "bert");
    gp = t_tmp("bert_tok.gguf");
    CHECK(grt_gguf_writer_write(w, gp) == GRT_OK);
    grt_gguf_writer_free(w);
    CHECK(grt_tokenizer_load(gp, &t) == GRT_ERR_UNSUPPORTED);
    CHECK(strstr(grt_last_error(), "bert") != NULL);
    CHECK(grt_gguf_writer_new(&w) == GRT_OK);
    grt_gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    grt_gguf_set_str(w, "tokenizer.ggml.pre", "no-such-pre");
    const char *toks[] = {"a", "b"};
    size_t lens[] = {1, 1};
    grt_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, lens, 2);
    gp = t_tmp("pre_tok.gguf");
    CHECK(grt_gguf_writer_write(w, gp) == GRT_OK);
    grt_gguf_writer_free(w);
    CHECK(grt_tokenizer_load(gp, &t) == GRT_ERR_UNSUPPORTED);
    CHECK(strstr(grt_last_error(), "tokenizer.ggml.pre") != NULL);
}

int main(void) {
    g_shared = load_json(t_data("tokenizers/reference_encodings.json"));
    g_extra = load_json(EXTRA_DIR "extra_refs.json");
    g_invalid = load_json(EXTRA_DIR "invalid_utf8.json");
    if (!g_shared || !g_extra || !g_invalid) {
        t_skip("tokenizer", "reference data missing (../shared/testdata/tokenizers, tests/data/tokenizers)");
        return t_done();
    }
    /* Gemma 3's tokenizer is stored gzip'ed (33 MB -> 6 MB) */
    char gemma_dir[512], cmd[2048];
    snprintf(gemma_dir, sizeof gemma_dir, "%s", t_tmp("gemma3"));
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' && gzip -dc " EXTRA_DIR "gemma3/tokenizer.json.gz > '%s/tokenizer.json' && "
             "gzip -dc " EXTRA_DIR "gemma3/tokenizer_config.json.gz > '%s/tokenizer_config.json'",
             gemma_dir, gemma_dir, gemma_dir);
    if (system(cmd) == 0) g_toks[3].path = gemma_dir;
    else printf("  cannot unpack the Gemma 3 tokenizer (%s)\n", cmd);
    for (int i = 0; i < N_TOKS; i++) {
        tok_case *c = &g_toks[i];
        char path[512];
        if (i == 3 && !c->path) continue;
        if (!c->path) snprintf(path, sizeof path, "%s", t_data("tokenizers/"));
        if (!c->path) snprintf(path + strlen(path), sizeof path - strlen(path), "%s/tokenizer.json", c->name);
        if (grt_tokenizer_load(c->path ? c->path : path, &c->tok))
            printf("  load %s: %s\n", c->name, grt_last_error());
    }
    char name[128];
    for (int i = 0; i < N_TOKS; i++) {
        g_cur = &g_toks[i];
        g_tok = g_cur->tok;
        if (g_cur->in_shared) {
            snprintf(name, sizeof name, "json_%s_reference_encodings", g_cur->name);
            t_run(name, case_shared);
        }
        snprintf(name, sizeof name, "json_%s_extra_refs", g_cur->name);
        t_run(name, case_extra);
        snprintf(name, sizeof name, "invalid_utf8_%s", g_cur->name);
        t_run(name, case_invalid_utf8);
        snprintf(name, sizeof name, "stream_%s", g_cur->name);
        t_run(name, case_stream);
        snprintf(name, sizeof name, "gguf_roundtrip_%s", g_cur->name);
        t_run(name, case_gguf_roundtrip);
        if (i <= 3) { /* the toys' pipelines have no llama.cpp equivalent */
            snprintf(name, sizeof name, "gguf_llamacpp_keys_%s", g_cur->name);
            t_run(name, case_gguf_llamacpp);
        }
    }
    t_run("random_text", case_random_text);
    t_run("threads", case_threads);
    t_run("api", case_api);
    t_run("load_paths", case_load_paths);
    t_run("bad_input", case_bad_input);
    for (int i = 0; i < N_TOKS; i++) grt_tokenizer_free(g_toks[i].tok);
    cJSON_Delete(g_shared);
    cJSON_Delete(g_extra);
    cJSON_Delete(g_invalid);
    return t_done();
}
