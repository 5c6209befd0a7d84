/* GGUF reader and writer: round trips, and hostile files built byte by byte
 * from the specification (so the reader is not only checked against the
 * writer). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gguf.h"
#include "testutil.h"

/* ---------------------------------------------------------------- a byte builder */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void b_put(buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void b_u32(buf *b, uint32_t v) { b_put(b, &v, 4); }
static void b_u64(buf *b, uint64_t v) { b_put(b, &v, 8); }
static void b_str(buf *b, const char *s) { b_u64(b, strlen(s)); b_put(b, s, strlen(s)); }
static void b_pad(buf *b, size_t a) {
    static const uint8_t z[64];
    while (b->n % a) b_put(b, z, 1);
}

/* A valid file: 2 keys, 2 f32 tensors ("a" [4], "b" [8 x 2]). Offsets of
 * interesting fields are returned for patching. */
typedef struct spec_file {
    buf b;
    size_t off_ntensors, off_nkv, off_val_type, off_str_len, off_t0_ndims, off_t0_ne0,
        off_t0_type, off_t0_offset, off_t1_offset, data_start;
} spec_file;

static spec_file make_spec_file(void) {
    spec_file f = {0};
    buf *b = &f.b;
    b_put(b, "GGUF", 4);
    b_u32(b, 3);
    f.off_ntensors = b->n;
    b_u64(b, 2);
    f.off_nkv = b->n;
    b_u64(b, 2);
    b_str(b, "general.architecture");
    f.off_val_type = b->n;
    b_u32(b, 8);
    f.off_str_len = b->n;
    b_str(b, "llama");
    b_str(b, "x.arr");
    b_u32(b, 9);
    b_u32(b, 5); /* i32 */
    b_u64(b, 3);
    int32_t v[3] = {7, -8, 9};
    b_put(b, v, 12);
    /* tensor infos */
    b_str(b, "a");
    f.off_t0_ndims = b->n;
    b_u32(b, 1);
    f.off_t0_ne0 = b->n;
    b_u64(b, 4);
    f.off_t0_type = b->n;
    b_u32(b, 0);
    f.off_t0_offset = b->n;
    b_u64(b, 0);
    b_str(b, "b");
    b_u32(b, 2);
    b_u64(b, 8);
    b_u64(b, 2);
    b_u32(b, 0);
    f.off_t1_offset = b->n;
    b_u64(b, 32);
    b_pad(b, 32);
    f.data_start = b->n;
    float a[8] = {1, 2, 3, 4, 0, 0, 0, 0};
    b_put(b, a, 32);
    float d[16];
    for (int i = 0; i < 16; i++) d[i] = (float)i * 0.5f;
    b_put(b, d, 64);
    return f;
}

static grt_status open_bytes(const void *p, size_t n, const char *name, grt_gguf **g) {
    const char *path = t_tmp(name);
    if (!t_write_file(path, p, n)) return GRT_ERR_IO;
    return grt_gguf_open(path, g);
}

/* Open a patched copy and expect status `want` with `needle` in the message. */
static void expect_bad(spec_file *f, size_t off, const void *val, size_t n, grt_status want,
                       const char *needle) {
    uint8_t *copy = malloc(f->b.n);
    memcpy(copy, f->b.p, f->b.n);
    memcpy(copy + off, val, n);
    grt_gguf *g = (grt_gguf *)1;
    grt_status s = open_bytes(copy, f->b.n, "bad.gguf", &g);
    CHECKF(s == want, "status %d want %d (%s)", s, want, grt_last_error());
    CHECK(g == NULL);
    CHECKF(strstr(grt_last_error(), "bad.gguf") != NULL, "message names the file: %s", grt_last_error());
    if (needle) CHECKF(strstr(grt_last_error(), needle) != NULL, "'%s' in: %s", needle, grt_last_error());
    free(copy);
}

/* ---------------------------------------------------------------- cases */

static void test_spec_file_reads(void) {
    spec_file f = make_spec_file();
    grt_gguf *g;
    grt_status s = open_bytes(f.b.p, f.b.n, "spec.gguf", &g);
    CHECKF(s == GRT_OK, "%s", grt_last_error());
    if (s) { free(f.b.p); return; }
    const char *str;
    size_t len;
    CHECK(grt_gguf_get_str(g, "general.architecture", &str, &len) && len == 5 && !memcmp(str, "llama", 5));
    grt_gguf_type et;
    uint64_t n;
    const void *data;
    CHECK(grt_gguf_get_arr(g, "x.arr", &et, &n, &data) && et == GRT_GGUF_I32 && n == 3);
    int32_t v[3];
    memcpy(v, data, 12);
    CHECK(v[0] == 7 && v[1] == -8 && v[2] == 9);
    CHECK(grt_gguf_n_tensors(g) == 2);
    const grt_gguf_tensor *b = grt_gguf_find_tensor(g, "b");
    CHECK(b && b->n_dims == 2 && b->ne[0] == 8 && b->ne[1] == 2 && b->type == GRT_F32 && b->nbytes == 64);
    if (b) CHECK(((const float *)b->data)[3] == 1.5f);
    const grt_gguf_tensor *a = grt_gguf_find_tensor(g, "a");
    CHECK(a && ((const float *)a->data)[2] == 3.0f);
    CHECK(grt_gguf_find_tensor(g, "c") == NULL);
    CHECK(grt_gguf_find_key(g, "nope") == -1);
    int64_t iv;
    CHECK(!grt_gguf_get_int(g, "general.architecture", &iv));
    grt_gguf_close(g);
    free(f.b.p);
}

static void test_writer_round_trip(void) {
    grt_gguf_writer *w;
    CHECK(grt_gguf_writer_new(&w) == GRT_OK);
    grt_gguf_set_u32(w, "k.u32", 4000000000u);
    grt_gguf_set_i32(w, "k.i32", -5);
    grt_gguf_set_f32(w, "k.f32", 0.25f);
    grt_gguf_set_bool(w, "k.bool", true);
    grt_gguf_set_str(w, "k.str", "héllo");
    grt_gguf_set_str(w, "k.empty", "");
    grt_gguf_set_i32(w, "k.replaced", 1);
    grt_gguf_set_i32(w, "k.replaced", 2);
    float fa[3] = {1.5f, -2, 3};
    grt_gguf_set_arr(w, "k.farr", GRT_GGUF_F32, fa, 3);
    grt_gguf_set_arr(w, "k.empty_arr", GRT_GGUF_I32, NULL, 0);
    enum { NS = 1000 };
    char *ss[NS];
    for (int i = 0; i < NS; i++) {
        ss[i] = malloc(16);
        snprintf(ss[i], 16, "tok%d", i);
    }
    CHECK(grt_gguf_set_arr_str(w, "k.sarr", (const char *const *)ss, NULL, NS) == GRT_OK);
    const char *withnul[2] = {"a\0b", "c"};
    size_t lens[2] = {3, 1};
    CHECK(grt_gguf_set_arr_str(w, "k.nul", withnul, lens, 2) == GRT_OK);

    /* tensors of every type and rank */
    const grt_dtype types[] = {GRT_F32, GRT_F16, GRT_BF16, GRT_Q8_0, GRT_Q4_0, GRT_I32};
    void *datas[6];
    for (int t = 0; t < 6; t++) {
        int64_t ne[3] = {64, 3, 1 + t};
        size_t nb = grt_row_bytes(types[t], 64) * 3 * (size_t)(1 + t);
        uint8_t *d = malloc(nb);
        for (size_t i = 0; i < nb; i++) d[i] = (uint8_t)(i * 7 + t);
        datas[t] = d;
        char name[32];
        snprintf(name, sizeof name, "t.%s", grt_dtype_name(types[t]));
        CHECKF(grt_gguf_add_tensor(w, name, types[t], t % 3 + 1, ne, d, grt_row_bytes(types[t], 64) *
                                   (t % 3 >= 1 ? 3 : 1) * (t % 3 == 2 ? (size_t)(1 + t) : 1)) == GRT_OK,
               "%s", grt_last_error());
    }
    int64_t ne1[1] = {64};
    /* misuse is refused, not written */
    CHECK(grt_gguf_add_tensor(w, "t.f32", GRT_F32, 1, ne1, datas[0], 256) == GRT_ERR_INVALID_ARG);
    CHECK(grt_gguf_add_tensor(w, "bad", GRT_F32, 1, ne1, datas[0], 255) == GRT_ERR_INVALID_ARG);
    int64_t ne33[1] = {33};
    CHECK(grt_gguf_add_tensor(w, "badq", GRT_Q8_0, 1, ne33, datas[0], 34) == GRT_ERR_INVALID_ARG);
    const char *path = t_tmp("rt.gguf");
    CHECKF(grt_gguf_writer_write(w, path) == GRT_OK, "%s", grt_last_error());
    grt_gguf_writer_free(w);

    grt_gguf *g;
    grt_status s = grt_gguf_open(path, &g);
    CHECKF(s == GRT_OK, "%s", grt_last_error());
    if (!s) {
        int64_t v;
        float f;
        bool bv;
        const char *str;
        size_t len;
        CHECK(grt_gguf_get_int(g, "k.u32", &v) && v == 4000000000ll);
        CHECK(grt_gguf_get_int(g, "k.i32", &v) && v == -5);
        CHECK(grt_gguf_get_int(g, "k.replaced", &v) && v == 2);
        CHECK(grt_gguf_get_f32(g, "k.f32", &f) && f == 0.25f);
        CHECK(grt_gguf_get_bool(g, "k.bool", &bv) && bv);
        CHECK(!grt_gguf_get_bool(g, "k.i32", &bv));
        CHECK(grt_gguf_get_str(g, "k.str", &str, &len) && len == strlen("héllo") && !memcmp(str, "héllo", len));
        CHECK(grt_gguf_get_str(g, "k.empty", &str, &len) && len == 0);
        CHECK(grt_gguf_key_type(g, grt_gguf_find_key(g, "k.farr")) == GRT_GGUF_ARRAY);
        grt_gguf_type et;
        uint64_t n;
        const void *d;
        CHECK(grt_gguf_get_arr(g, "k.farr", &et, &n, &d) && et == GRT_GGUF_F32 && n == 3 &&
              !memcmp(d, fa, 12));
        CHECK(grt_gguf_get_arr(g, "k.empty_arr", &et, &n, &d) && n == 0);
        CHECK(grt_gguf_arr_str(g, "k.sarr", 0, &str, &len) && len == 4 && !memcmp(str, "tok0", 4));
        CHECK(grt_gguf_arr_str(g, "k.sarr", 999, &str, &len) && len == 6 && !memcmp(str, "tok999", 6));
        CHECK(!grt_gguf_arr_str(g, "k.sarr", 1000, &str, &len));
        CHECK(grt_gguf_arr_str(g, "k.nul", 0, &str, &len) && len == 3 && !memcmp(str, "a\0b", 3));
        CHECK(grt_gguf_n_tensors(g) == 6);
        for (int t = 0; t < 6; t++) {
            char name[32];
            snprintf(name, sizeof name, "t.%s", grt_dtype_name(types[t]));
            const grt_gguf_tensor *x = grt_gguf_find_tensor(g, name);
            CHECKF(x != NULL, "%s", name);
            if (!x) continue;
            CHECK(x->type == types[t] && x->n_dims == t % 3 + 1 && x->ne[0] == 64);
            CHECK((uintptr_t)x->data % 32 == 0);
            CHECK(!memcmp(x->data, datas[t], x->nbytes));
        }
        grt_gguf_close(g);
    }
    for (int t = 0; t < 6; t++) free(datas[t]);
    for (int i = 0; i < NS; i++) free(ss[i]);
}

static void test_copy_kv(void) {
    grt_gguf_writer *w;
    grt_gguf_writer_new(&w);
    const char *toks[3] = {"x", "yy", "zzz"};
    grt_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 3);
    grt_gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    grt_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    const char *p1 = t_tmp("copy1.gguf"), *p2 = t_tmp("copy2.gguf");
    CHECK(grt_gguf_writer_write(w, p1) == GRT_OK);
    grt_gguf_writer_free(w);
    grt_gguf *g;
    CHECK(grt_gguf_open(p1, &g) == GRT_OK);
    if (!g) return;
    grt_gguf_writer_new(&w);
    CHECK(grt_gguf_n_keys(g) == 3);
    for (int64_t k = 0; k < grt_gguf_n_keys(g); k++) CHECK(grt_gguf_copy_kv(w, g, k) == GRT_OK);
    CHECK(grt_gguf_writer_write(w, p2) == GRT_OK);
    grt_gguf_writer_free(w);
    grt_gguf_close(g);
    size_t n1, n2;
    char *a = t_read_file(p1, &n1), *b = t_read_file(p2, &n2);
    CHECK(a && b && n1 == n2 && !memcmp(a, b, n1));
    free(a);
    free(b);
}

static void test_bad_headers(void) {
    spec_file f = make_spec_file();
    uint64_t big = 1ull << 60;
    uint32_t u;
    expect_bad(&f, 0, "GGUG", 4, GRT_ERR_FORMAT, "magic");
    u = 1;
    expect_bad(&f, 4, &u, 4, GRT_ERR_UNSUPPORTED, "version 1");
    u = 99;
    expect_bad(&f, 4, &u, 4, GRT_ERR_FORMAT, "version 99");
    expect_bad(&f, f.off_ntensors, &big, 8, GRT_ERR_FORMAT, "tensor count");
    expect_bad(&f, f.off_nkv, &big, 8, GRT_ERR_FORMAT, "key count");
    expect_bad(&f, f.off_str_len, &big, 8, GRT_ERR_FORMAT, "general.architecture");
    u = 13;
    expect_bad(&f, f.off_val_type, &u, 4, GRT_ERR_FORMAT, "unknown value type");
    u = 5;
    expect_bad(&f, f.off_t0_ndims, &u, 4, GRT_ERR_FORMAT, "n_dims");
    uint64_t zero = 0;
    expect_bad(&f, f.off_t0_ne0, &zero, 8, GRT_ERR_FORMAT, "'a'");
    expect_bad(&f, f.off_t0_ne0, &big, 8, GRT_ERR_FORMAT, "'a'");
    u = 12; /* Q4_K: a real ggml type this build does not read */
    expect_bad(&f, f.off_t0_type, &u, 4, GRT_ERR_UNSUPPORTED, "type id 12");
    u = 1000;
    expect_bad(&f, f.off_t0_type, &u, 4, GRT_ERR_UNSUPPORTED, "'a'");
    uint64_t mis = 4;
    expect_bad(&f, f.off_t1_offset, &mis, 8, GRT_ERR_FORMAT, "aligned");
    uint64_t far = 1 << 20;
    expect_bad(&f, f.off_t1_offset, &far, 8, GRT_ERR_FORMAT, "past the end");
    uint64_t huge = ~0ull - 31;
    expect_bad(&f, f.off_t1_offset, &huge, 8, GRT_ERR_FORMAT, "'b'");
    /* the second key becomes a copy of the first: duplicate */
    free(f.b.p);
}

static void test_more_bad_files(void) {
    grt_gguf *g = (grt_gguf *)1;
    CHECK(grt_gguf_open(t_tmp("does-not-exist.gguf"), &g) == GRT_ERR_IO && g == NULL);
    CHECK(strstr(grt_last_error(), "does-not-exist.gguf") != NULL);
    CHECK(grt_gguf_open(t_tmp(""), &g) == GRT_ERR_IO); /* the directory */
    CHECK(open_bytes("", 0, "empty.gguf", &g) == GRT_ERR_FORMAT);
    CHECK(open_bytes("GGUF", 4, "short.gguf", &g) == GRT_ERR_FORMAT);
    CHECK(strstr(grt_last_error(), "truncated") != NULL);

    /* nested array, absurd array count, bad alignment, duplicates */
    buf b = {0};
    b_put(&b, "GGUF", 4); b_u32(&b, 3); b_u64(&b, 0); b_u64(&b, 1);
    b_str(&b, "nest"); b_u32(&b, 9); b_u32(&b, 9); b_u64(&b, 1);
    CHECK(open_bytes(b.p, b.n, "nested.gguf", &g) == GRT_ERR_FORMAT);
    CHECK(strstr(grt_last_error(), "nested") && strstr(grt_last_error(), "nested.gguf"));
    b.n = 0;
    b_put(&b, "GGUF", 4); b_u32(&b, 3); b_u64(&b, 0); b_u64(&b, 1);
    b_str(&b, "arr"); b_u32(&b, 9); b_u32(&b, 12); b_u64(&b, 1ull << 61);
    CHECK(open_bytes(b.p, b.n, "bigarr.gguf", &g) == GRT_ERR_FORMAT);
    CHECK(strstr(grt_last_error(), "'arr'") != NULL);
    b.n = 0;
    b_put(&b, "GGUF", 4); b_u32(&b, 3); b_u64(&b, 0); b_u64(&b, 1);
    b_str(&b, "sarr"); b_u32(&b, 9); b_u32(&b, 8); b_u64(&b, 1ull << 40);
    CHECK(open_bytes(b.p, b.n, "bigsarr.gguf", &g) == GRT_ERR_FORMAT);
    b.n = 0;
    b_put(&b, "GGUF", 4); b_u32(&b, 3); b_u64(&b, 0); b_u64(&b, 1);
    b_str(&b, "general.alignment"); b_u32(&b, 4); b_u32(&b, 48);
    CHECK(open_bytes(b.p, b.n, "align.gguf", &g) == GRT_ERR_FORMAT);
    CHECK(strstr(grt_last_error(), "alignment") != NULL);
    b.n = 0;
    b_put(&b, "GGUF", 4); b_u32(&b, 3); b_u64(&b, 0); b_u64(&b, 1);
    b_str(&b, "general.alignment"); b_u32(&b, 6); b_u32(&b, 0);
    CHECK(open_bytes(b.p, b.n, "align2.gguf", &g) == GRT_ERR_FORMAT);
    b.n = 0;
    b_put(&b, "GGUF", 4); b_u32(&b, 3); b_u64(&b, 0); b_u64(&b, 2);
    b_str(&b, "k"); b_u32(&b, 4); b_u32(&b, 1);
    b_str(&b, "k"); b_u32(&b, 4); b_u32(&b, 2);
    CHECK(open_bytes(b.p, b.n, "dupkey.gguf", &g) == GRT_ERR_FORMAT);
    CHECK(strstr(grt_last_error(), "duplicate key 'k'") != NULL);
    b.n = 0;
    b_put(&b, "GGUF", 4); b_u32(&b, 3); b_u64(&b, 2); b_u64(&b, 0);
    for (int i = 0; i < 2; i++) { b_str(&b, "t"); b_u32(&b, 1); b_u64(&b, 8); b_u32(&b, 0); b_u64(&b, 0); }
    b_pad(&b, 32);
    float z[8] = {0};
    b_put(&b, z, 32);
    CHECK(open_bytes(b.p, b.n, "dupt.gguf", &g) == GRT_ERR_FORMAT);
    CHECK(strstr(grt_last_error(), "duplicate tensor 't'") != NULL);
    /* q8_0 row not a multiple of 32 */
    b.n = 0;
    b_put(&b, "GGUF", 4); b_u32(&b, 3); b_u64(&b, 1); b_u64(&b, 0);
    b_str(&b, "q"); b_u32(&b, 1); b_u64(&b, 40); b_u32(&b, 8); b_u64(&b, 0);
    b_pad(&b, 32);
    uint8_t zz[128] = {0};
    b_put(&b, zz, 128);
    CHECK(open_bytes(b.p, b.n, "qrow.gguf", &g) == GRT_ERR_FORMAT);
    CHECK(strstr(grt_last_error(), "'q'") && strstr(grt_last_error(), "block"));
    /* version 2 files read too */
    b.n = 0;
    b_put(&b, "GGUF", 4); b_u32(&b, 2); b_u64(&b, 0); b_u64(&b, 1);
    b_str(&b, "k"); b_u32(&b, 7); uint8_t one = 1; b_put(&b, &one, 1);
    CHECK(open_bytes(b.p, b.n, "v2.gguf", &g) == GRT_OK);
    bool bv = false;
    CHECK(g && grt_gguf_get_bool(g, "k", &bv) && bv);
    grt_gguf_close(g);
    free(b.p);
}

/* Touch every byte a successfully opened file claims, so ASan sees any lie. */
static unsigned touch_all(const grt_gguf *g) {
    unsigned acc = 0;
    for (int64_t i = 0; i < grt_gguf_n_tensors(g); i++) {
        const grt_gguf_tensor *t = grt_gguf_tensor_at(g, i);
        for (size_t k = 0; k < t->nbytes; k++) acc += ((const uint8_t *)t->data)[k];
    }
    for (int64_t k = 0; k < grt_gguf_n_keys(g); k++) {
        size_t len;
        const char *name = grt_gguf_key_name(g, k, &len);
        char key[256];
        if (len >= sizeof key || memchr(name, 0, len)) continue;
        memcpy(key, name, len);
        key[len] = 0;
        const char *s;
        size_t sl;
        if (grt_gguf_get_str(g, key, &s, &sl) && sl) acc += (uint8_t)s[sl - 1];
        uint64_t n;
        grt_gguf_type et;
        const void *d;
        if (grt_gguf_get_arr(g, key, &et, &n, &d) && et == GRT_GGUF_STRING)
            for (uint64_t j = 0; j < n; j++)
                if (grt_gguf_arr_str(g, key, j, &s, &sl) && sl) acc += (uint8_t)s[sl - 1];
    }
    return acc;
}

static void test_truncation_everywhere(void) {
    /* a writer file with strings, arrays and tensors, cut at every offset */
    grt_gguf_writer *w;
    grt_gguf_writer_new(&w);
    grt_gguf_set_str(w, "general.architecture", "llama");
    const char *toks[4] = {"a", "bc", "", "def"};
    grt_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 4);
    grt_gguf_set_f32(w, "x.f", 1.0f);
    float d[64];
    for (int i = 0; i < 64; i++) d[i] = (float)i;
    int64_t ne[2] = {32, 2};
    grt_gguf_add_tensor(w, "w", GRT_F32, 2, ne, d, sizeof d);
    uint8_t q[68];
    memset(q, 1, sizeof q);
    int64_t ne2[1] = {64};
    grt_gguf_add_tensor(w, "q", GRT_Q8_0, 1, ne2, q, sizeof q);
    const char *path = t_tmp("full.gguf");
    CHECK(grt_gguf_writer_write(w, path) == GRT_OK);
    grt_gguf_writer_free(w);
    size_t n;
    uint8_t *full = (uint8_t *)t_read_file(path, &n);
    if (!full) { CHECK(0); return; }
    /* the writer pads the last tensor to 32 bytes; cutting only padding is fine */
    size_t data_end = n - (32 - sizeof q % 32) % 32;
    int bad_ok = 0;
    for (size_t cut = 0; cut < n; cut++) {
        grt_gguf *g = NULL;
        grt_status s = open_bytes(full, cut, "cut.gguf", &g);
        if (s == GRT_OK) { bad_ok += cut < data_end; touch_all(g); grt_gguf_close(g); }
        else if (s != GRT_ERR_FORMAT) CHECKF(0, "cut at %zu: status %d: %s", cut, s, grt_last_error());
    }
    CHECKF(bad_ok == 0, "%d truncated files opened", bad_ok);
    grt_gguf *g;
    CHECK(open_bytes(full, n, "whole.gguf", &g) == GRT_OK);
    grt_gguf_close(g);

    /* random byte flips with a fixed seed: never a crash, never an overread */
    uint64_t x = 0x12345678abcdefull;
    uint8_t *copy = malloc(n);
    for (int it = 0; it < 3000; it++) {
        memcpy(copy, full, n);
        int flips = 1 + it % 4;
        for (int k = 0; k < flips; k++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            size_t at = (size_t)(x % (it % 2 ? n : 200 < n ? 200 : n));
            copy[at] = (uint8_t)(x >> 32);
        }
        grt_gguf *gg = NULL;
        if (open_bytes(copy, n, "flip.gguf", &gg) == GRT_OK) {
            touch_all(gg);
            grt_gguf_close(gg);
        }
    }
    free(copy);
    free(full);
}

int main(void) {
    t_run("gguf_spec_file_reads", test_spec_file_reads);
    t_run("gguf_writer_round_trip", test_writer_round_trip);
    t_run("gguf_copy_kv", test_copy_kv);
    t_run("gguf_bad_headers", test_bad_headers);
    t_run("gguf_more_bad_files", test_more_bad_files);
    t_run("gguf_truncation_and_flips", test_truncation_everywhere);
    return t_done();
}
