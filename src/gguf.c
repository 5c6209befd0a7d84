/* GGUF reader (mmap, every length checked against the file end before it is
 * read) and writer. File layout (GGUF v2/v3, little-endian):
 *   u32 magic "GGUF", u32 version, u64 n_tensors, u64 n_kv,
 *   n_kv x { string key, u32 type, value },
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset },
 *   padding to general.alignment (default 32), tensor data.
 * A string is u64 length + bytes (no NUL); a bool is one byte; an array is
 * u32 element type + u64 count + elements. Tensor offsets are relative to the
 * start of the data section and aligned. */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGN 32
#define GGUF_MAX_NAME 65536     /* bytes of a tensor name the reader accepts */
#define GGUF_WRITER_MAX_NAME 63 /* llama.cpp's limit (GGML_MAX_NAME - 1) */

typedef struct gguf_kv {
    const char *key;      /* into the mapping, not NUL-terminated */
    size_t key_len;
    grt_gguf_type type;
    size_t val_off;       /* scalar value or string length prefix */
    grt_gguf_type elem;   /* arrays */
    uint64_t n;
    size_t data_off;      /* first element */
    size_t *str_off;      /* string arrays: offset of each element's length prefix */
} gguf_kv;

struct grt_gguf {
    char *path;
    const uint8_t *map;
    size_t size;
    uint32_t version;
    int64_t n_kv, n_tensors;
    gguf_kv *kv;
    grt_gguf_tensor *tensors;
    int64_t *kv_hash, *t_hash; /* open addressing: index + 1, 0 = empty */
    uint64_t kv_cap, t_cap;
    size_t data_start;
    uint32_t alignment;
};

/* ---------------------------------------------------------------- helpers */

static uint64_t hash_bytes(const void *p, size_t n) {
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static uint64_t pow2_at_least(uint64_t n) {
    uint64_t c = 16;
    while (c < 2 * n) c <<= 1;
    return c;
}

static size_t type_size(grt_gguf_type t) {
    switch (t) {
    case GRT_GGUF_U8: case GRT_GGUF_I8: case GRT_GGUF_BOOL: return 1;
    case GRT_GGUF_U16: case GRT_GGUF_I16: return 2;
    case GRT_GGUF_U32: case GRT_GGUF_I32: case GRT_GGUF_F32: return 4;
    case GRT_GGUF_U64: case GRT_GGUF_I64: case GRT_GGUF_F64: return 8;
    default: return 0; /* string, array: variable */
    }
}

static const char *type_name(uint32_t t) {
    static const char *n[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                              "string", "array", "u64", "i64", "f64"};
    return t < 13 ? n[t] : "unknown";
}

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

typedef struct cursor {
    const uint8_t *base;
    size_t size, off;
    const char *path;
} cursor;

static grt_status need(cursor *c, uint64_t n, const char *what) {
    if (n > c->size - c->off)
        return grt_fail(GRT_ERR_FORMAT,
                        "%s: truncated: %s at offset %zu needs %llu bytes, file has %zu",
                        c->path, what, c->off, (unsigned long long)n, c->size);
    return GRT_OK;
}

static grt_status get_u32(cursor *c, uint32_t *v, const char *what) {
    grt_status s = need(c, 4, what);
    if (s) return s;
    *v = rd32(c->base + c->off);
    c->off += 4;
    return GRT_OK;
}

static grt_status get_u64(cursor *c, uint64_t *v, const char *what) {
    grt_status s = need(c, 8, what);
    if (s) return s;
    *v = rd64(c->base + c->off);
    c->off += 8;
    return GRT_OK;
}

/* A string: checks its length prefix against the bytes left. */
static grt_status get_str(cursor *c, const char **s, uint64_t *len, const char *what) {
    grt_status st = get_u64(c, len, what);
    if (st) return st;
    if ((st = need(c, *len, what))) return st;
    *s = (const char *)c->base + c->off;
    c->off += (size_t)*len;
    return GRT_OK;
}

/* ---------------------------------------------------------------- reader */

static int64_t kv_lookup(const grt_gguf *g, const char *key, size_t len) {
    if (!g || !g->kv_hash) return -1;
    uint64_t m = g->kv_cap - 1, h = hash_bytes(key, len) & m;
    for (;;) {
        int64_t i = g->kv_hash[h];
        if (!i) return -1;
        const gguf_kv *kv = &g->kv[i - 1];
        if (kv->key_len == len && memcmp(kv->key, key, len) == 0) return i - 1;
        h = (h + 1) & m;
    }
}

static int64_t t_lookup(const grt_gguf *g, const char *name) {
    if (!g || !g->t_hash) return -1;
    size_t len = strlen(name);
    uint64_t m = g->t_cap - 1, h = hash_bytes(name, len) & m;
    for (;;) {
        int64_t i = g->t_hash[h];
        if (!i) return -1;
        if (strcmp(g->tensors[i - 1].name, name) == 0) return i - 1;
        h = (h + 1) & m;
    }
}

static grt_status read_kv(grt_gguf *g, cursor *c, int64_t idx) {
    gguf_kv *kv = &g->kv[idx];
    uint64_t klen;
    char what[96];
    snprintf(what, sizeof what, "key %lld", (long long)idx);
    grt_status s = get_str(c, &kv->key, &klen, what);
    if (s) return s;
    kv->key_len = (size_t)klen;
    int kl = klen > 200 ? 200 : (int)klen;
    uint32_t t;
    if ((s = get_u32(c, &t, "value type"))) return s;
    if (t > GRT_GGUF_F64)
        return grt_fail(GRT_ERR_FORMAT, "%s: key '%.*s': unknown value type %u at offset %zu",
                        g->path, kl, kv->key, t, c->off - 4);
    kv->type = (grt_gguf_type)t;
    kv->val_off = c->off;
    if (t == GRT_GGUF_STRING) {
        const char *str;
        uint64_t len;
        if ((s = get_str(c, &str, &len, "string value")))
            return grt_fail_ctx(s, "key '%.*s'", kl, kv->key);
    } else if (t == GRT_GGUF_ARRAY) {
        uint32_t et;
        if ((s = get_u32(c, &et, "array element type")) || (s = get_u64(c, &kv->n, "array length")))
            return grt_fail_ctx(s, "key '%.*s'", kl, kv->key);
        if (et > GRT_GGUF_F64)
            return grt_fail(GRT_ERR_FORMAT, "%s: key '%.*s': unknown array element type %u",
                            g->path, kl, kv->key, et);
        if (et == GRT_GGUF_ARRAY)
            return grt_fail(GRT_ERR_FORMAT, "%s: key '%.*s': nested arrays are not supported",
                            g->path, kl, kv->key);
        kv->elem = (grt_gguf_type)et;
        kv->data_off = c->off;
        if (et == GRT_GGUF_STRING) {
            /* every element takes at least its 8-byte length prefix */
            if (kv->n > (c->size - c->off) / 8)
                return grt_fail(GRT_ERR_FORMAT,
                                "%s: key '%.*s': array of %llu strings does not fit in the file",
                                g->path, kl, kv->key, (unsigned long long)kv->n);
            kv->str_off = grt_malloc((size_t)kv->n * sizeof(size_t));
            if (!kv->str_off) return GRT_ERR_NO_MEMORY;
            for (uint64_t i = 0; i < kv->n; i++) {
                const char *str;
                uint64_t len;
                kv->str_off[i] = c->off;
                if ((s = get_str(c, &str, &len, "array string")))
                    return grt_fail_ctx(s, "key '%.*s' element %llu", kl, kv->key,
                                        (unsigned long long)i);
            }
        } else {
            size_t es = type_size(kv->elem);
            if (kv->n > (c->size - c->off) / es)
                return grt_fail(GRT_ERR_FORMAT,
                                "%s: key '%.*s': array of %llu %s at offset %zu runs past the end (%zu bytes)",
                                g->path, kl, kv->key, (unsigned long long)kv->n,
                                type_name(et), c->off, c->size);
            c->off += (size_t)kv->n * es;
        }
    } else {
        if ((s = need(c, type_size(kv->type), "value")))
            return grt_fail_ctx(s, "key '%.*s'", kl, kv->key);
        c->off += type_size(kv->type);
    }
    return GRT_OK;
}

static bool supported_tensor_type(uint32_t t) {
    return t == GRT_F32 || t == GRT_F16 || t == GRT_BF16 || t == GRT_Q8_0 || t == GRT_Q4_0 ||
           t == GRT_I32;
}

static grt_status read_tensor_info(grt_gguf *g, cursor *c, int64_t idx, uint64_t *offset) {
    grt_gguf_tensor *t = &g->tensors[idx];
    const char *name;
    uint64_t len;
    char what[64];
    snprintf(what, sizeof what, "tensor %lld name", (long long)idx);
    grt_status s = get_str(c, &name, &len, what);
    if (s) return s;
    if (len == 0 || len > GGUF_MAX_NAME)
        return grt_fail(GRT_ERR_FORMAT, "%s: tensor %lld: name length %llu out of range",
                        g->path, (long long)idx, (unsigned long long)len);
    if (memchr(name, 0, (size_t)len))
        return grt_fail(GRT_ERR_FORMAT, "%s: tensor %lld: name contains a NUL byte", g->path,
                        (long long)idx);
    char *copy = grt_malloc((size_t)len + 1);
    if (!copy) return GRT_ERR_NO_MEMORY;
    memcpy(copy, name, (size_t)len);
    copy[len] = 0;
    t->name = copy;
    uint32_t nd, type;
    if ((s = get_u32(c, &nd, "n_dims"))) return grt_fail_ctx(s, "tensor '%s'", t->name);
    if (nd < 1 || nd > 4)
        return grt_fail(GRT_ERR_FORMAT, "%s: tensor '%s': n_dims %u not in 1..4", g->path,
                        t->name, nd);
    t->n_dims = (int)nd;
    int64_t n_el = 1;
    for (int d = 0; d < 4; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t ne;
        if ((s = get_u64(c, &ne, "ne"))) return grt_fail_ctx(s, "tensor '%s'", t->name);
        if (ne == 0 || ne > (uint64_t)INT64_MAX / (uint64_t)n_el)
            return grt_fail(GRT_ERR_FORMAT, "%s: tensor '%s': dimension %u is %llu (zero or too large)",
                            g->path, t->name, d, (unsigned long long)ne);
        t->ne[d] = (int64_t)ne;
        n_el *= (int64_t)ne;
    }
    if ((s = get_u32(c, &type, "type")) || (s = get_u64(c, offset, "data offset")))
        return grt_fail_ctx(s, "tensor '%s'", t->name);
    if (!supported_tensor_type(type))
        return grt_fail(GRT_ERR_UNSUPPORTED,
                        "%s: tensor '%s': ggml type id %u is not supported "
                        "(supported: f32, f16, bf16, q8_0, q4_0, i32)",
                        g->path, t->name, type);
    t->type = (grt_dtype)type;
    int blk = grt_dtype_block(t->type);
    if (t->ne[0] % blk)
        return grt_fail(GRT_ERR_FORMAT, "%s: tensor '%s': row of %lld elements is not a multiple of the %s block (%d)",
                        g->path, t->name, (long long)t->ne[0], grt_dtype_name(t->type), blk);
    /* n_el < 2^63; bytes per element <= 4, so this cannot overflow */
    uint64_t nb = (uint64_t)(n_el / blk) * grt_dtype_block_bytes(t->type);
    if (nb > (uint64_t)SIZE_MAX || nb > c->size)
        return grt_fail(GRT_ERR_FORMAT, "%s: tensor '%s': %llu bytes of data is more than the file holds",
                        g->path, t->name, (unsigned long long)nb);
    t->nbytes = (size_t)nb;
    return GRT_OK;
}

static grt_status map_file(const char *path, const uint8_t **map, size_t *size) {
    *map = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return grt_fail(GRT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return grt_fail(GRT_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return grt_fail(GRT_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return grt_fail(GRT_ERR_FORMAT, "%s: file is empty", path);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return grt_fail(GRT_ERR_IO, "%s: cannot map: %s", path, strerror(e));
    *map = p;
    *size = (size_t)st.st_size;
    return GRT_OK;
}

void grt_gguf_close(grt_gguf *g) {
    if (!g) return;
    if (g->kv)
        for (int64_t i = 0; i < g->n_kv; i++) free(g->kv[i].str_off);
    free(g->kv);
    if (g->tensors)
        for (int64_t i = 0; i < g->n_tensors; i++) free((char *)g->tensors[i].name);
    free(g->tensors);
    free(g->kv_hash);
    free(g->t_hash);
    if (g->map) munmap((void *)g->map, g->size);
    free(g->path);
    free(g);
}

grt_status grt_gguf_open(const char *path, grt_gguf **out) {
    *out = NULL;
    if (!path) return grt_fail(GRT_ERR_INVALID_ARG, "gguf: path is NULL");
    grt_status s;
    grt_gguf *g = grt_calloc(1, sizeof *g);
    if (!g) return GRT_ERR_NO_MEMORY;
    g->path = strdup(path);
    if (!g->path) { s = grt_fail(GRT_ERR_NO_MEMORY, "out of memory"); goto fail; }
    if ((s = map_file(path, &g->map, &g->size))) goto fail;

    cursor c = {g->map, g->size, 0, g->path};
    if (g->size < 4 || memcmp(g->map, GGUF_MAGIC, 4) != 0) {
        s = grt_fail(GRT_ERR_FORMAT, "%s: not a GGUF file (bad magic)", path);
        goto fail;
    }
    c.off = 4;
    uint64_t n_tensors, n_kv;
    if ((s = get_u32(&c, &g->version, "version"))) goto fail;
    if (g->version == 1) {
        s = grt_fail(GRT_ERR_UNSUPPORTED, "%s: GGUF version 1 is not supported (only 2 and 3)", path);
        goto fail;
    }
    if (g->version != 2 && g->version != 3) {
        s = grt_fail(GRT_ERR_FORMAT, "%s: unknown GGUF version %u (expected 2 or 3)", path,
                     g->version);
        goto fail;
    }
    if ((s = get_u64(&c, &n_tensors, "tensor count")) || (s = get_u64(&c, &n_kv, "key count")))
        goto fail;
    /* Bound the counts by the smallest encoding of each entry before allocating:
     * a key/value is >= 13 bytes, a tensor info >= 32. */
    if (n_kv > (c.size - c.off) / 13) {
        s = grt_fail(GRT_ERR_FORMAT, "%s: key count %llu is impossible for a %zu-byte file", path,
                     (unsigned long long)n_kv, g->size);
        goto fail;
    }
    if (n_tensors > (c.size - c.off) / 32) {
        s = grt_fail(GRT_ERR_FORMAT, "%s: tensor count %llu is impossible for a %zu-byte file",
                     path, (unsigned long long)n_tensors, g->size);
        goto fail;
    }
    g->n_kv = (int64_t)n_kv;
    g->n_tensors = (int64_t)n_tensors;
    g->kv = grt_calloc((size_t)n_kv, sizeof *g->kv);
    g->tensors = grt_calloc((size_t)n_tensors, sizeof *g->tensors);
    g->kv_cap = pow2_at_least(n_kv);
    g->t_cap = pow2_at_least(n_tensors);
    g->kv_hash = grt_calloc(g->kv_cap, sizeof *g->kv_hash);
    g->t_hash = grt_calloc(g->t_cap, sizeof *g->t_hash);
    if (!g->kv || !g->tensors || !g->kv_hash || !g->t_hash) { s = GRT_ERR_NO_MEMORY; goto fail; }

    for (int64_t i = 0; i < g->n_kv; i++) {
        if ((s = read_kv(g, &c, i))) goto fail;
        gguf_kv *kv = &g->kv[i];
        uint64_t m = g->kv_cap - 1, h = hash_bytes(kv->key, kv->key_len) & m;
        while (g->kv_hash[h]) {
            const gguf_kv *o = &g->kv[g->kv_hash[h] - 1];
            if (o->key_len == kv->key_len && memcmp(o->key, kv->key, kv->key_len) == 0) {
                s = grt_fail(GRT_ERR_FORMAT, "%s: duplicate key '%.*s'", path,
                             (int)(kv->key_len > 200 ? 200 : kv->key_len), kv->key);
                goto fail;
            }
            h = (h + 1) & m;
        }
        g->kv_hash[h] = i + 1;
    }

    g->alignment = GGUF_DEFAULT_ALIGN;
    int64_t ka = grt_gguf_find_key(g, "general.alignment");
    if (ka >= 0) {
        if (g->kv[ka].type != GRT_GGUF_U32) {
            s = grt_fail(GRT_ERR_FORMAT, "%s: key 'general.alignment' has type %s, expected u32",
                         path, type_name(g->kv[ka].type));
            goto fail;
        }
        g->alignment = rd32(g->map + g->kv[ka].val_off);
        if (g->alignment == 0 || (g->alignment & (g->alignment - 1)) || g->alignment > (1u << 24)) {
            s = grt_fail(GRT_ERR_FORMAT, "%s: general.alignment %u is not a power of two", path,
                         g->alignment);
            goto fail;
        }
    }

    uint64_t *offsets = grt_calloc((size_t)n_tensors, sizeof *offsets);
    if (!offsets) { s = GRT_ERR_NO_MEMORY; goto fail; }
    for (int64_t i = 0; i < g->n_tensors; i++) {
        if ((s = read_tensor_info(g, &c, i, &offsets[i]))) {
            free(offsets);
            goto fail;
        }
        uint64_t m = g->t_cap - 1, h = hash_bytes(g->tensors[i].name, strlen(g->tensors[i].name)) & m;
        while (g->t_hash[h]) {
            if (strcmp(g->tensors[g->t_hash[h] - 1].name, g->tensors[i].name) == 0) {
                s = grt_fail(GRT_ERR_FORMAT, "%s: duplicate tensor '%s'", path, g->tensors[i].name);
                free(offsets);
                goto fail;
            }
            h = (h + 1) & m;
        }
        g->t_hash[h] = i + 1;
    }
    size_t a = g->alignment;
    g->data_start = c.off % a ? c.off + (a - c.off % a) : c.off;
    if (g->n_tensors > 0 && g->data_start > g->size) {
        s = grt_fail(GRT_ERR_FORMAT, "%s: truncated: data section would start at %zu, file has %zu bytes",
                     path, g->data_start, g->size);
        free(offsets);
        goto fail;
    }
    for (int64_t i = 0; i < g->n_tensors; i++) {
        grt_gguf_tensor *t = &g->tensors[i];
        size_t avail = g->size - g->data_start;
        if (offsets[i] % a) {
            s = grt_fail(GRT_ERR_FORMAT, "%s: tensor '%s': data offset %llu is not aligned to %zu",
                         path, t->name, (unsigned long long)offsets[i], a);
            free(offsets);
            goto fail;
        }
        if (offsets[i] > avail || t->nbytes > avail - offsets[i]) {
            s = grt_fail(GRT_ERR_FORMAT,
                         "%s: tensor '%s': data [%llu, +%zu) runs past the end of the file "
                         "(data section holds %zu bytes)",
                         path, t->name, (unsigned long long)offsets[i], t->nbytes, avail);
            free(offsets);
            goto fail;
        }
        t->data = g->map + g->data_start + offsets[i];
    }
    free(offsets);
    *out = g;
    return GRT_OK;
fail:
    grt_gguf_close(g);
    return s;
}

const char *grt_gguf_path(const grt_gguf *g) { return g ? g->path : NULL; }

int64_t grt_gguf_find_key(const grt_gguf *g, const char *key) {
    return key ? kv_lookup(g, key, strlen(key)) : -1;
}

grt_gguf_type grt_gguf_key_type(const grt_gguf *g, int64_t k) {
    if (!g || k < 0 || k >= g->n_kv) return (grt_gguf_type)-1;
    return g->kv[k].type;
}

static const gguf_kv *kv_get(const grt_gguf *g, const char *key) {
    int64_t k = grt_gguf_find_key(g, key);
    return k < 0 ? NULL : &g->kv[k];
}

bool grt_gguf_get_int(const grt_gguf *g, const char *key, int64_t *v) {
    const gguf_kv *kv = kv_get(g, key);
    if (!kv) return false;
    const uint8_t *p = g->map + kv->val_off;
    switch (kv->type) {
    case GRT_GGUF_U8: *v = p[0]; return true;
    case GRT_GGUF_I8: *v = (int8_t)p[0]; return true;
    case GRT_GGUF_U16: { uint16_t x; memcpy(&x, p, 2); *v = x; return true; }
    case GRT_GGUF_I16: { int16_t x; memcpy(&x, p, 2); *v = x; return true; }
    case GRT_GGUF_U32: *v = rd32(p); return true;
    case GRT_GGUF_I32: *v = (int32_t)rd32(p); return true;
    case GRT_GGUF_I64: *v = (int64_t)rd64(p); return true;
    case GRT_GGUF_U64: {
        uint64_t x = rd64(p);
        if (x > (uint64_t)INT64_MAX) return false;
        *v = (int64_t)x;
        return true;
    }
    default: return false;
    }
}

bool grt_gguf_get_f32(const grt_gguf *g, const char *key, float *v) {
    const gguf_kv *kv = kv_get(g, key);
    if (!kv) return false;
    const uint8_t *p = g->map + kv->val_off;
    if (kv->type == GRT_GGUF_F32) { memcpy(v, p, 4); return true; }
    if (kv->type == GRT_GGUF_F64) { double d; memcpy(&d, p, 8); *v = (float)d; return true; }
    int64_t i;
    if (grt_gguf_get_int(g, key, &i)) { *v = (float)i; return true; }
    return false;
}

bool grt_gguf_get_bool(const grt_gguf *g, const char *key, bool *v) {
    const gguf_kv *kv = kv_get(g, key);
    if (!kv || kv->type != GRT_GGUF_BOOL) return false;
    *v = g->map[kv->val_off] != 0;
    return true;
}

bool grt_gguf_get_str(const grt_gguf *g, const char *key, const char **s, size_t *len) {
    const gguf_kv *kv = kv_get(g, key);
    if (!kv || kv->type != GRT_GGUF_STRING) return false;
    *len = (size_t)rd64(g->map + kv->val_off);
    *s = (const char *)g->map + kv->val_off + 8;
    return true;
}

bool grt_gguf_get_arr(const grt_gguf *g, const char *key, grt_gguf_type *elem_type, uint64_t *n,
                      const void **data) {
    const gguf_kv *kv = kv_get(g, key);
    if (!kv || kv->type != GRT_GGUF_ARRAY) return false;
    if (elem_type) *elem_type = kv->elem;
    if (n) *n = kv->n;
    if (data) *data = g->map + kv->data_off;
    return true;
}

bool grt_gguf_arr_str(const grt_gguf *g, const char *key, uint64_t i, const char **s, size_t *len) {
    const gguf_kv *kv = kv_get(g, key);
    if (!kv || kv->type != GRT_GGUF_ARRAY || kv->elem != GRT_GGUF_STRING || i >= kv->n) return false;
    size_t o = kv->str_off[i];
    *len = (size_t)rd64(g->map + o);
    *s = (const char *)g->map + o + 8;
    return true;
}

int64_t grt_gguf_n_keys(const grt_gguf *g) { return g ? g->n_kv : 0; }

const char *grt_gguf_key_name(const grt_gguf *g, int64_t k, size_t *len) {
    if (!g || k < 0 || k >= g->n_kv) return NULL;
    if (len) *len = g->kv[k].key_len;
    return g->kv[k].key;
}

int64_t grt_gguf_n_tensors(const grt_gguf *g) { return g ? g->n_tensors : 0; }

const grt_gguf_tensor *grt_gguf_tensor_at(const grt_gguf *g, int64_t i) {
    if (!g || i < 0 || i >= g->n_tensors) return NULL;
    return &g->tensors[i];
}

const grt_gguf_tensor *grt_gguf_find_tensor(const grt_gguf *g, const char *name) {
    if (!name) return NULL;
    int64_t i = t_lookup(g, name);
    return i < 0 ? NULL : &g->tensors[i];
}

/* ---------------------------------------------------------------- writer */

typedef struct wkv {
    char *key;
    uint8_t *val;   /* u32 type + encoded value */
    size_t val_len;
} wkv;

typedef struct wtensor {
    char *name;
    grt_dtype type;
    int n_dims;
    int64_t ne[4];
    const void *data;
    size_t nbytes;
} wtensor;

struct grt_gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
};

grt_status grt_gguf_writer_new(grt_gguf_writer **out) {
    *out = grt_calloc(1, sizeof **out);
    return *out ? GRT_OK : GRT_ERR_NO_MEMORY;
}

void grt_gguf_writer_free(grt_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) { free(w->kv[i].key); free(w->kv[i].val); }
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

/* Takes ownership of val; replaces an earlier value of the same key. */
static grt_status put_kv(grt_gguf_writer *w, const char *key, uint8_t *val, size_t len) {
    if (!w || !key || !key[0]) {
        free(val);
        return grt_fail(GRT_ERR_INVALID_ARG, "gguf writer: empty key");
    }
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].val);
            w->kv[i].val = val;
            w->kv[i].val_len = len;
            return GRT_OK;
        }
    if (w->n_kv == w->cap_kv) {
        size_t nc = w->cap_kv ? 2 * w->cap_kv : 32;
        wkv *n = realloc(w->kv, nc * sizeof *n);
        if (!n) { free(val); return grt_fail(GRT_ERR_NO_MEMORY, "gguf writer: out of memory"); }
        w->kv = n;
        w->cap_kv = nc;
    }
    char *k = strdup(key);
    if (!k) { free(val); return grt_fail(GRT_ERR_NO_MEMORY, "gguf writer: out of memory"); }
    w->kv[w->n_kv++] = (wkv){k, val, len};
    return GRT_OK;
}

static grt_status put_scalar(grt_gguf_writer *w, const char *key, grt_gguf_type t, const void *v,
                             size_t n) {
    uint8_t *b = grt_malloc(4 + n);
    if (!b) return GRT_ERR_NO_MEMORY;
    uint32_t t32 = (uint32_t)t;
    memcpy(b, &t32, 4);
    memcpy(b + 4, v, n);
    return put_kv(w, key, b, 4 + n);
}

grt_status grt_gguf_set_u32(grt_gguf_writer *w, const char *key, uint32_t v) {
    return put_scalar(w, key, GRT_GGUF_U32, &v, 4);
}
grt_status grt_gguf_set_i32(grt_gguf_writer *w, const char *key, int32_t v) {
    return put_scalar(w, key, GRT_GGUF_I32, &v, 4);
}
grt_status grt_gguf_set_f32(grt_gguf_writer *w, const char *key, float v) {
    return put_scalar(w, key, GRT_GGUF_F32, &v, 4);
}
grt_status grt_gguf_set_bool(grt_gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    return put_scalar(w, key, GRT_GGUF_BOOL, &b, 1);
}

grt_status grt_gguf_set_str(grt_gguf_writer *w, const char *key, const char *s) {
    if (!s) return grt_fail(GRT_ERR_INVALID_ARG, "gguf writer: key '%s': NULL string", key);
    size_t len = strlen(s);
    uint8_t *b = grt_malloc(12 + len);
    if (!b) return GRT_ERR_NO_MEMORY;
    uint32_t t = GRT_GGUF_STRING;
    uint64_t l = len;
    memcpy(b, &t, 4);
    memcpy(b + 4, &l, 8);
    memcpy(b + 12, s, len);
    return put_kv(w, key, b, 12 + len);
}

grt_status grt_gguf_set_arr(grt_gguf_writer *w, const char *key, grt_gguf_type elem_type,
                            const void *data, uint64_t n) {
    size_t es = type_size(elem_type);
    if (!es)
        return grt_fail(GRT_ERR_INVALID_ARG, "gguf writer: key '%s': array element type %s needs grt_gguf_set_arr_str",
                        key ? key : "", type_name(elem_type));
    if (n > (SIZE_MAX - 16) / es || (n && !data))
        return grt_fail(GRT_ERR_INVALID_ARG, "gguf writer: key '%s': bad array", key ? key : "");
    uint8_t *b = grt_malloc(16 + (size_t)n * es);
    if (!b) return GRT_ERR_NO_MEMORY;
    uint32_t t = GRT_GGUF_ARRAY, et = (uint32_t)elem_type;
    memcpy(b, &t, 4);
    memcpy(b + 4, &et, 4);
    memcpy(b + 8, &n, 8);
    if (n) memcpy(b + 16, data, (size_t)n * es);
    return put_kv(w, key, b, 16 + (size_t)n * es);
}

grt_status grt_gguf_set_arr_str(grt_gguf_writer *w, const char *key, const char *const *s,
                                const size_t *lens, uint64_t n) {
    size_t total = 16;
    for (uint64_t i = 0; i < n; i++) {
        size_t l = lens ? lens[i] : strlen(s[i]);
        if (l > SIZE_MAX / 2 - total)
            return grt_fail(GRT_ERR_INVALID_ARG, "gguf writer: key '%s': array too large", key);
        total += 8 + l;
    }
    uint8_t *b = grt_malloc(total);
    if (!b) return GRT_ERR_NO_MEMORY;
    uint32_t t = GRT_GGUF_ARRAY, et = GRT_GGUF_STRING;
    memcpy(b, &t, 4);
    memcpy(b + 4, &et, 4);
    memcpy(b + 8, &n, 8);
    size_t o = 16;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t l = lens ? lens[i] : strlen(s[i]);
        memcpy(b + o, &l, 8);
        if (l) memcpy(b + o + 8, s[i], (size_t)l);
        o += 8 + (size_t)l;
    }
    return put_kv(w, key, b, total);
}

grt_status grt_gguf_copy_kv(grt_gguf_writer *w, const grt_gguf *g, int64_t k) {
    if (!w || !g || k < 0 || k >= g->n_kv)
        return grt_fail(GRT_ERR_INVALID_ARG, "gguf writer: no key %lld to copy", (long long)k);
    const gguf_kv *kv = &g->kv[k];
    /* the value's bytes end where the next key starts: measure them */
    size_t end;
    if (kv->type == GRT_GGUF_STRING) {
        end = kv->val_off + 8 + (size_t)rd64(g->map + kv->val_off);
    } else if (kv->type == GRT_GGUF_ARRAY) {
        if (kv->elem == GRT_GGUF_STRING)
            end = kv->n ? kv->str_off[kv->n - 1] + 8 + (size_t)rd64(g->map + kv->str_off[kv->n - 1])
                        : kv->data_off;
        else
            end = kv->data_off + (size_t)kv->n * type_size(kv->elem);
    } else {
        end = kv->val_off + type_size(kv->type);
    }
    size_t n = end - kv->val_off;
    if (memchr(kv->key, 0, kv->key_len))
        return grt_fail(GRT_ERR_INVALID_ARG, "gguf writer: key with a NUL byte cannot be copied");
    char *key = strndup(kv->key, kv->key_len);
    uint8_t *b = grt_malloc(4 + n);
    if (!key || !b) {
        free(key);
        free(b);
        return grt_fail(GRT_ERR_NO_MEMORY, "gguf writer: out of memory");
    }
    uint32_t t = (uint32_t)kv->type;
    memcpy(b, &t, 4);
    memcpy(b + 4, g->map + kv->val_off, n);
    grt_status s = put_kv(w, key, b, 4 + n);
    free(key);
    return s;
}

grt_status grt_gguf_add_tensor(grt_gguf_writer *w, const char *name, grt_dtype type, int n_dims,
                               const int64_t *ne, const void *data, size_t nbytes) {
    if (!w || !name) return grt_fail(GRT_ERR_INVALID_ARG, "gguf writer: NULL tensor name");
    size_t nl = strlen(name);
    if (nl == 0 || nl > GGUF_WRITER_MAX_NAME)
        return grt_fail(GRT_ERR_INVALID_ARG, "gguf writer: tensor name '%s' must be 1..%d bytes",
                        name, GGUF_WRITER_MAX_NAME);
    if (!supported_tensor_type((uint32_t)type))
        return grt_fail(GRT_ERR_INVALID_ARG, "gguf writer: tensor '%s': unsupported type %d", name,
                        (int)type);
    if (n_dims < 1 || n_dims > 4)
        return grt_fail(GRT_ERR_INVALID_ARG, "gguf writer: tensor '%s': n_dims %d", name, n_dims);
    int64_t n_el = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] <= 0 || ne[d] > INT64_MAX / n_el)
            return grt_fail(GRT_ERR_INVALID_ARG, "gguf writer: tensor '%s': bad dimension %lld",
                            name, (long long)ne[d]);
        n_el *= ne[d];
    }
    if (ne[0] % grt_dtype_block(type))
        return grt_fail(GRT_ERR_INVALID_ARG, "gguf writer: tensor '%s': row of %lld is not a multiple of the %s block",
                        name, (long long)ne[0], grt_dtype_name(type));
    size_t want = (size_t)(n_el / grt_dtype_block(type)) * grt_dtype_block_bytes(type);
    if (nbytes != want || !data)
        return grt_fail(GRT_ERR_INVALID_ARG, "gguf writer: tensor '%s': %zu bytes given, shape needs %zu",
                        name, nbytes, want);
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return grt_fail(GRT_ERR_INVALID_ARG, "gguf writer: duplicate tensor '%s'", name);
    if (w->n_t == w->cap_t) {
        size_t nc = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *n = realloc(w->t, nc * sizeof *n);
        if (!n) return grt_fail(GRT_ERR_NO_MEMORY, "gguf writer: out of memory");
        w->t = n;
        w->cap_t = nc;
    }
    wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name) return grt_fail(GRT_ERR_NO_MEMORY, "gguf writer: out of memory");
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < 4; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->data = data;
    t->nbytes = nbytes;
    w->n_t++;
    return GRT_OK;
}

static bool put(FILE *f, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, f) == n; }
static bool put_u32(FILE *f, uint32_t v) { return put(f, &v, 4); }
static bool put_u64(FILE *f, uint64_t v) { return put(f, &v, 8); }
static bool put_pad(FILE *f, uint64_t *pos, size_t a) {
    static const uint8_t zeros[64];
    size_t pad = *pos % a ? a - *pos % a : 0;
    *pos += pad;
    return put(f, zeros, pad);
}

grt_status grt_gguf_writer_write(grt_gguf_writer *w, const char *path) {
    if (!w || !path) return grt_fail(GRT_ERR_INVALID_ARG, "gguf writer: NULL argument");
    FILE *f = fopen(path, "wb");
    if (!f) return grt_fail(GRT_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    const size_t a = GGUF_DEFAULT_ALIGN;
    bool ok = put(f, GGUF_MAGIC, 4) && put_u32(f, 3) && put_u64(f, w->n_t) && put_u64(f, w->n_kv);
    uint64_t pos = 24;
    for (size_t i = 0; ok && i < w->n_kv; i++) {
        size_t kl = strlen(w->kv[i].key);
        ok = put_u64(f, kl) && put(f, w->kv[i].key, kl) && put(f, w->kv[i].val, w->kv[i].val_len);
        pos += 8 + kl + w->kv[i].val_len;
    }
    uint64_t off = 0;
    for (size_t i = 0; ok && i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        size_t nl = strlen(t->name);
        ok = put_u64(f, nl) && put(f, t->name, nl) && put_u32(f, (uint32_t)t->n_dims);
        for (int d = 0; ok && d < t->n_dims; d++) ok = put_u64(f, (uint64_t)t->ne[d]);
        ok = ok && put_u32(f, (uint32_t)t->type) && put_u64(f, off);
        pos += 8 + nl + 4 + 8 * (uint64_t)t->n_dims + 12;
        off += t->nbytes;
        off = off % a ? off + (a - off % a) : off;
    }
    ok = ok && put_pad(f, &pos, a);
    for (size_t i = 0; ok && i < w->n_t; i++) {
        ok = put(f, w->t[i].data, w->t[i].nbytes);
        pos += w->t[i].nbytes;
        ok = ok && put_pad(f, &pos, a);
    }
    int e = errno;
    if (fclose(f) != 0 && ok) { ok = false; e = errno; }
    if (!ok) {
        unlink(path);
        return grt_fail(GRT_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    return GRT_OK;
}
