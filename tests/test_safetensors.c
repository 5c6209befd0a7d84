/* Safetensors loader: valid files, shards, and hostile headers. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "safetensors.h"
#include "testutil.h"

/* Write u64 len + header + data_len bytes (i-th byte = i). */
static const char *write_st(const char *name, const char *header, size_t data_len) {
    const char *path = t_tmp(name);
    size_t hl = strlen(header), n = 8 + hl + data_len;
    uint8_t *b = malloc(n);
    uint64_t l = hl;
    memcpy(b, &l, 8);
    memcpy(b + 8, header, hl);
    for (size_t i = 0; i < data_len; i++) b[8 + hl + i] = (uint8_t)i;
    t_write_file(path, b, n);
    free(b);
    return path;
}

static void expect(const char *name, const char *header, size_t data_len, grt_status want,
                   const char *needle) {
    const char *path = write_st(name, header, data_len);
    grt_st *st = (grt_st *)1;
    grt_status s = grt_st_open_file(path, &st);
    CHECKF(s == want, "%s: status %d want %d: %s", name, s, want, grt_last_error());
    if (want) {
        CHECK(st == NULL);
        CHECKF(strstr(grt_last_error(), name) != NULL, "names the file: %s", grt_last_error());
        if (needle)
            CHECKF(strstr(grt_last_error(), needle) != NULL, "'%s' in: %s", needle, grt_last_error());
    }
    if (!s) grt_st_free(st);
}

static void test_valid(void) {
    const char *h = "{\"__metadata__\":{\"format\":\"pt\"},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                    "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]},"
                    "\"e\":{\"dtype\":\"F16\",\"shape\":[0],\"data_offsets\":[32,32]}}  ";
    const char *path = write_st("ok.safetensors", h, 32);
    grt_st *st;
    grt_status s = grt_st_open_file(path, &st);
    CHECKF(s == GRT_OK, "%s", grt_last_error());
    if (s) return;
    CHECK(grt_st_count(st) == 3);
    const grt_st_tensor *a = grt_st_find(st, "a"), *b = grt_st_find(st, "b");
    CHECK(a && a->type == GRT_F32 && a->n_dims == 2 && a->shape[0] == 2 && a->shape[1] == 3 &&
          a->nbytes == 24 && ((const uint8_t *)a->data)[5] == 5);
    CHECK(b && b->type == GRT_BF16 && b->nbytes == 8 && ((const uint8_t *)b->data)[0] == 24);
    CHECK(grt_st_find(st, "__metadata__") == NULL);
    CHECK(grt_st_find(st, "zz") == NULL);
    grt_st_free(st);
}

static void test_bad(void) {
    const char *T = "\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
    char h[512];
    grt_st *st = (grt_st *)1;
    CHECK(grt_st_open_file(t_tmp("missing.safetensors"), &st) == GRT_ERR_IO && st == NULL);
    t_write_file(t_tmp("tiny.safetensors"), "abc", 3);
    CHECK(grt_st_open_file(t_tmp("tiny.safetensors"), &st) == GRT_ERR_FORMAT);
    CHECK(strstr(grt_last_error(), "tiny.safetensors") != NULL);
    /* header length past the end (and absurd) */
    uint8_t hdr[16] = {0};
    uint64_t big = 1ull << 62;
    memcpy(hdr, &big, 8);
    t_write_file(t_tmp("hlen.safetensors"), hdr, 16);
    CHECK(grt_st_open_file(t_tmp("hlen.safetensors"), &st) == GRT_ERR_FORMAT);
    CHECK(strstr(grt_last_error(), "header length") != NULL);
    big = 9;
    memcpy(hdr, &big, 8);
    t_write_file(t_tmp("hlen2.safetensors"), hdr, 16);
    CHECK(grt_st_open_file(t_tmp("hlen2.safetensors"), &st) == GRT_ERR_FORMAT);

    expect("json.safetensors", "{\"t\":", 0, GRT_ERR_FORMAT, "JSON");
    expect("arr.safetensors", "[1,2]", 0, GRT_ERR_FORMAT, "object");
    snprintf(h, sizeof h, "{%s}", T);
    expect("short.safetensors", h, 4, GRT_ERR_FORMAT, "past the end");
    expect("i64.safetensors", "{\"t\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
           GRT_ERR_UNSUPPORTED, "'t'");
    expect("weird.safetensors", "{\"t\":{\"dtype\":\"Q9\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
           GRT_ERR_UNSUPPORTED, "Q9");
    expect("shape.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
           GRT_ERR_FORMAT, "shape needs 12 bytes");
    expect("neg.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
           GRT_ERR_FORMAT, "shape[0]");
    expect("frac.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0.5,8]}}", 8,
           GRT_ERR_FORMAT, "data_offsets");
    expect("rev.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8,
           GRT_ERR_FORMAT, "begin <= end");
    expect("huge.safetensors",
           "{\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
           GRT_ERR_FORMAT, "'t'");
    expect("overlap.safetensors",
           "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
           12, GRT_ERR_FORMAT, "overlap");
    expect("nodtype.safetensors", "{\"t\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, GRT_ERR_FORMAT,
           "'t'");
    expect("5d.safetensors",
           "{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,2],\"data_offsets\":[0,8]}}", 8,
           GRT_ERR_UNSUPPORTED, "dimensions");
    expect("notobj.safetensors", "{\"t\":5}", 0, GRT_ERR_FORMAT, "'t'");
}

static void test_shards(void) {
    const char *dir = t_tmp("sharded");
    mkdir(dir, 0755);
    char p[1024];
    const char *h1 = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    const char *h2 = "{\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
                     "\"c\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[4,8]}}";
    write_st("sharded/model-00001-of-00002.safetensors", h1, 8);
    write_st("sharded/model-00002-of-00002.safetensors", h2, 8);
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    const char *idx = "{\"metadata\":{},\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\","
                      "\"b\":\"model-00002-of-00002.safetensors\",\"c\":\"model-00002-of-00002.safetensors\"}}";
    t_write_file(p, idx, strlen(idx));
    grt_st *st;
    grt_status s = grt_st_open_dir(dir, &st);
    CHECKF(s == GRT_OK, "%s", grt_last_error());
    if (!s) {
        CHECK(grt_st_count(st) == 3);
        const grt_st_tensor *c = grt_st_find(st, "c");
        CHECK(c && c->type == GRT_F16 && ((const uint8_t *)c->data)[0] == 4);
        CHECK(c && strstr(c->file, "00002") != NULL);
        grt_st_free(st);
    }
    /* the index names a tensor its shard lacks */
    const char *bad = "{\"weight_map\":{\"a\":\"model-00002-of-00002.safetensors\"}}";
    t_write_file(p, bad, strlen(bad));
    CHECK(grt_st_open_dir(dir, &st) == GRT_ERR_FORMAT);
    CHECK(strstr(grt_last_error(), "'a'") && strstr(grt_last_error(), "index.json"));
    /* path escapes and missing shards */
    const char *esc = "{\"weight_map\":{\"a\":\"../x.safetensors\"}}";
    t_write_file(p, esc, strlen(esc));
    CHECK(grt_st_open_dir(dir, &st) == GRT_ERR_FORMAT);
    const char *miss = "{\"weight_map\":{\"a\":\"gone.safetensors\"}}";
    t_write_file(p, miss, strlen(miss));
    CHECK(grt_st_open_dir(dir, &st) == GRT_ERR_IO);
    CHECK(strstr(grt_last_error(), "gone.safetensors") != NULL);
    const char *nomap = "{\"metadata\":{}}";
    t_write_file(p, nomap, strlen(nomap));
    CHECK(grt_st_open_dir(dir, &st) == GRT_ERR_FORMAT);
    CHECK(strstr(grt_last_error(), "weight_map") != NULL);
    /* a tensor in two shards */
    write_st("sharded/dup.safetensors", h1, 8);
    const char *dup = "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"x\":\"dup.safetensors\"}}";
    t_write_file(p, dup, strlen(dup));
    CHECK(grt_st_open_dir(dir, &st) == GRT_ERR_FORMAT);
    CHECK(strstr(grt_last_error(), "'a'") != NULL);
    CHECK(grt_st_open_dir(t_tmp("nowhere"), &st) == GRT_ERR_IO);
}

static unsigned touch(const grt_st *st) {
    unsigned acc = 0;
    for (int i = 0; i < grt_st_count(st); i++) {
        const grt_st_tensor *t = grt_st_at(st, i);
        if (t->nbytes) acc += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
    }
    return acc;
}

static void test_fuzz_golden(void) {
    size_t n;
    char *full = t_read_file(t_data("hf-goldens/qwen2-tiny/model.safetensors"), &n);
    if (!full) { CHECKF(0, "golden model missing"); return; }
    uint64_t hl;
    memcpy(&hl, full, 8);
    const char *path = t_tmp("cut.safetensors");
    int opened = 0;
    for (size_t cut = 0; cut < 8 + hl + 64 && cut < n; cut++) {
        t_write_file(path, full, cut);
        grt_st *st = NULL;
        grt_status s = grt_st_open_file(path, &st);
        if (!s) { opened++; touch(st); grt_st_free(st); }
    }
    CHECKF(opened == 0, "%d truncated files opened", opened);
    grt_st *st;
    t_write_file(path, full, n);
    CHECK(grt_st_open_file(path, &st) == GRT_OK);
    grt_st_free(st);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    char *copy = malloc(n);
    for (int it = 0; it < 1500; it++) {
        memcpy(copy, full, n);
        for (int k = 0; k < 1 + it % 3; k++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            size_t at = (size_t)(x % (8 + hl));
            /* digits and structure characters make the interesting corruptions */
            static const char pool[] = "0123456789,[]{}\":-.eE ";
            copy[at] = it % 2 ? pool[(x >> 32) % (sizeof pool - 1)] : (char)(x >> 40);
        }
        t_write_file(path, copy, n);
        grt_st *s2 = NULL;
        if (grt_st_open_file(path, &s2) == GRT_OK) { touch(s2); grt_st_free(s2); }
    }
    free(copy);
    free(full);
}

int main(void) {
    t_run("safetensors_valid", test_valid);
    t_run("safetensors_bad_headers", test_bad);
    t_run("safetensors_shards", test_shards);
    t_run("safetensors_truncation_and_flips", test_fuzz_golden);
    return t_done();
}
