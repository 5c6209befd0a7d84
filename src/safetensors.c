#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

#define ST_MAX_HEADER (100u << 20) /* the format's own limit: 100 MB */
#define ST_MAX_INT 9007199254740992.0 /* 2^53: larger JSON numbers are inexact */

typedef struct st_file {
    char *path;
    const uint8_t *map;
    size_t size;
} st_file;

struct grt_st {
    st_file *files;
    int n_files;
    grt_st_tensor *t;
    int n, cap;
    int64_t *hash;  /* open addressing: index + 1 */
    uint64_t hcap;
};

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

void grt_st_free(grt_st *st) {
    if (!st) return;
    for (int i = 0; i < st->n; i++) free((char *)st->t[i].name);
    for (int i = 0; i < st->n_files; i++) {
        if (st->files[i].map) munmap((void *)st->files[i].map, st->files[i].size);
        free(st->files[i].path);
    }
    free(st->files);
    free(st->t);
    free(st->hash);
    free(st);
}

int grt_st_count(const grt_st *st) { return st ? st->n : 0; }

const grt_st_tensor *grt_st_at(const grt_st *st, int i) {
    return st && i >= 0 && i < st->n ? &st->t[i] : NULL;
}

const grt_st_tensor *grt_st_find(const grt_st *st, const char *name) {
    if (!st || !st->hash || !name) return NULL;
    uint64_t m = st->hcap - 1, h = hash_str(name) & m;
    for (;;) {
        int64_t i = st->hash[h];
        if (!i) return NULL;
        if (strcmp(st->t[i - 1].name, name) == 0) return &st->t[i - 1];
        h = (h + 1) & m;
    }
}

static grt_status build_hash(grt_st *st) {
    st->hcap = 16;
    while (st->hcap < 2 * (uint64_t)st->n) st->hcap <<= 1;
    st->hash = grt_calloc(st->hcap, sizeof *st->hash);
    if (!st->hash) return GRT_ERR_NO_MEMORY;
    for (int i = 0; i < st->n; i++) {
        uint64_t m = st->hcap - 1, h = hash_str(st->t[i].name) & m;
        while (st->hash[h]) {
            const grt_st_tensor *o = &st->t[st->hash[h] - 1];
            if (strcmp(o->name, st->t[i].name) == 0)
                return grt_fail(GRT_ERR_FORMAT, "%s: tensor '%s' also appears in %s", st->t[i].file,
                                st->t[i].name, o->file);
            h = (h + 1) & m;
        }
        st->hash[h] = i + 1;
    }
    return GRT_OK;
}

static grt_status map_file(st_file *f) {
    int fd = open(f->path, O_RDONLY);
    if (fd < 0) return grt_fail(GRT_ERR_IO, "%s: cannot open: %s", f->path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return grt_fail(GRT_ERR_IO, "%s: not a regular file", f->path);
    }
    if (sb.st_size < 8) {
        close(fd);
        return grt_fail(GRT_ERR_FORMAT, "%s: truncated: %lld bytes, a safetensors file needs at least 8",
                        f->path, (long long)sb.st_size);
    }
    void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return grt_fail(GRT_ERR_IO, "%s: cannot map: %s", f->path, strerror(e));
    f->map = p;
    f->size = (size_t)sb.st_size;
    return GRT_OK;
}

static bool json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0) || d > ST_MAX_INT || d != floor(d)) return false;
    *out = (uint64_t)d;
    return true;
}

static grt_dtype parse_dtype(const char *s) {
    if (!strcmp(s, "F32")) return GRT_F32;
    if (!strcmp(s, "F16")) return GRT_F16;
    if (!strcmp(s, "BF16")) return GRT_BF16;
    return GRT_DTYPE_INVALID;
}

typedef struct range { uint64_t b, e; int idx; } range;

static int cmp_range(const void *a, const void *b) {
    const range *x = a, *y = b;
    return x->b < y->b ? -1 : x->b > y->b ? 1 : (x->e < y->e ? -1 : x->e > y->e);
}

/* Parse file fi's header and append its tensors to st. */
static grt_status parse_file(grt_st *st, int fi) {
    st_file *f = &st->files[fi];
    grt_status s = map_file(f);
    if (s) return s;
    uint64_t hlen;
    memcpy(&hlen, f->map, 8);
    if (hlen > f->size - 8)
        return grt_fail(GRT_ERR_FORMAT, "%s: header length %llu runs past the end of the file (%zu bytes)",
                        f->path, (unsigned long long)hlen, f->size);
    if (hlen > ST_MAX_HEADER)
        return grt_fail(GRT_ERR_FORMAT, "%s: header length %llu exceeds the 100 MB limit", f->path,
                        (unsigned long long)hlen);
    const uint8_t *data = f->map + 8 + hlen;
    size_t data_size = f->size - 8 - (size_t)hlen;
    cJSON *root = cJSON_ParseWithLength((const char *)f->map + 8, (size_t)hlen);
    if (!root) return grt_fail(GRT_ERR_FORMAT, "%s: header is not valid JSON", f->path);
    range *rg = NULL;
    int first = st->n, n_new = 0;
    if (!cJSON_IsObject(root)) {
        s = grt_fail(GRT_ERR_FORMAT, "%s: header is not a JSON object", f->path);
        goto done;
    }
    int count = cJSON_GetArraySize(root);
    if (st->n + count > st->cap) {
        int nc = st->n + count + 16;
        grt_st_tensor *nt = realloc(st->t, (size_t)nc * sizeof *nt);
        if (!nt) { s = grt_fail(GRT_ERR_NO_MEMORY, "out of memory"); goto done; }
        st->t = nt;
        st->cap = nc;
    }
    rg = grt_calloc((size_t)count + 1, sizeof *rg);
    if (!rg) { s = GRT_ERR_NO_MEMORY; goto done; }
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        const char *name = e->string;
        if (!name) { s = grt_fail(GRT_ERR_FORMAT, "%s: header entry without a name", f->path); goto done; }
        if (!strcmp(name, "__metadata__")) continue;
        if (!cJSON_IsObject(e)) {
            s = grt_fail(GRT_ERR_FORMAT, "%s: tensor '%s': entry is not an object", f->path, name);
            goto done;
        }
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
        const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of)) {
            s = grt_fail(GRT_ERR_FORMAT, "%s: tensor '%s': needs dtype (string), shape and data_offsets (arrays)",
                         f->path, name);
            goto done;
        }
        grt_dtype type = parse_dtype(dt->valuestring);
        if (type == GRT_DTYPE_INVALID) {
            s = grt_fail(GRT_ERR_UNSUPPORTED, "%s: tensor '%s': dtype '%.32s' is not supported (F32, F16, BF16)",
                         f->path, name, dt->valuestring);
            goto done;
        }
        int nd = cJSON_GetArraySize(sh);
        if (nd > GRT_ST_MAX_DIMS) {
            s = grt_fail(GRT_ERR_UNSUPPORTED, "%s: tensor '%s': %d dimensions (at most %d supported)",
                         f->path, name, nd, GRT_ST_MAX_DIMS);
            goto done;
        }
        grt_st_tensor *t = &st->t[st->n];
        memset(t, 0, sizeof *t);
        t->type = type;
        t->n_dims = nd;
        t->file = f->path;
        uint64_t n_el = 1;
        for (int d = 0; d < nd; d++) {
            uint64_t v;
            if (!json_uint(cJSON_GetArrayItem(sh, d), &v)) {
                s = grt_fail(GRT_ERR_FORMAT, "%s: tensor '%s': shape[%d] is not a non-negative integer",
                             f->path, name, d);
                goto done;
            }
            if (v && n_el > (UINT64_MAX / 4) / v) {
                s = grt_fail(GRT_ERR_FORMAT, "%s: tensor '%s': shape is too large", f->path, name);
                goto done;
            }
            n_el *= v;
            t->shape[d] = (int64_t)v;
        }
        uint64_t b, en;
        if (cJSON_GetArraySize(of) != 2 || !json_uint(cJSON_GetArrayItem(of, 0), &b) ||
            !json_uint(cJSON_GetArrayItem(of, 1), &en) || en < b) {
            s = grt_fail(GRT_ERR_FORMAT, "%s: tensor '%s': data_offsets must be [begin, end] with begin <= end",
                         f->path, name);
            goto done;
        }
        if (en > data_size) {
            s = grt_fail(GRT_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] run past the end of the data (%zu bytes)",
                         f->path, name, (unsigned long long)b, (unsigned long long)en, data_size);
            goto done;
        }
        uint64_t want = n_el * grt_dtype_block_bytes(type);
        if (en - b != want) {
            s = grt_fail(GRT_ERR_FORMAT, "%s: tensor '%s': shape needs %llu bytes of %s but data_offsets span %llu",
                         f->path, name, (unsigned long long)want, dt->valuestring,
                         (unsigned long long)(en - b));
            goto done;
        }
        t->data = data + b;
        t->nbytes = (size_t)(en - b);
        t->name = strdup(name);
        if (!t->name) { s = grt_fail(GRT_ERR_NO_MEMORY, "out of memory"); goto done; }
        rg[n_new] = (range){b, en, st->n};
        n_new++;
        st->n++;
    }
    qsort(rg, (size_t)n_new, sizeof *rg, cmp_range);
    for (int i = 1; i < n_new; i++)
        if (rg[i].b < rg[i - 1].e && rg[i].b < rg[i].e) {
            s = grt_fail(GRT_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap ([%llu, %llu) and [%llu, %llu))",
                         f->path, st->t[rg[i - 1].idx].name, st->t[rg[i].idx].name,
                         (unsigned long long)rg[i - 1].b, (unsigned long long)rg[i - 1].e,
                         (unsigned long long)rg[i].b, (unsigned long long)rg[i].e);
            goto done;
        }
    (void)first;
done:
    free(rg);
    cJSON_Delete(root);
    return s;
}

static grt_status add_file(grt_st *st, const char *path) {
    st_file *nf = realloc(st->files, (size_t)(st->n_files + 1) * sizeof *nf);
    if (!nf) return grt_fail(GRT_ERR_NO_MEMORY, "out of memory");
    st->files = nf;
    memset(&st->files[st->n_files], 0, sizeof *nf);
    st->files[st->n_files].path = strdup(path);
    if (!st->files[st->n_files].path) return grt_fail(GRT_ERR_NO_MEMORY, "out of memory");
    st->n_files++;
    return parse_file(st, st->n_files - 1);
}

grt_status grt_st_open_file(const char *path, grt_st **out) {
    *out = NULL;
    grt_st *st = grt_calloc(1, sizeof *st);
    if (!st) return GRT_ERR_NO_MEMORY;
    grt_status s = add_file(st, path);
    if (!s) s = build_hash(st);
    if (s) { grt_st_free(st); return s; }
    *out = st;
    return GRT_OK;
}

static char *read_text(const char *path, grt_status *s) {
    FILE *f = fopen(path, "rb");
    if (!f) { *s = grt_fail(GRT_ERR_IO, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            if (cap > (256u << 20)) {
                free(buf);
                fclose(f);
                *s = grt_fail(GRT_ERR_FORMAT, "%s: file is too large for a JSON index", path);
                return NULL;
            }
            cap = cap ? 2 * cap : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); fclose(f); *s = grt_fail(GRT_ERR_NO_MEMORY, "out of memory"); return NULL; }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len - 1, f);
        len += r;
        if (r == 0) break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) { free(buf); *s = grt_fail(GRT_ERR_IO, "%s: read error", path); return NULL; }
    buf[len] = 0;
    *s = GRT_OK;
    return buf;
}

grt_status grt_st_open_dir(const char *dir, grt_st **out) {
    *out = NULL;
    char path[4096];
    struct stat sb;
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    if (stat(path, &sb) != 0) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (stat(path, &sb) != 0)
            return grt_fail(GRT_ERR_IO, "%s: no model.safetensors or model.safetensors.index.json", dir);
        return grt_st_open_file(path, out);
    }
    grt_status s;
    char *text = read_text(path, &s);
    if (!text) return s;
    cJSON *root = cJSON_Parse(text);
    free(text);
    grt_st *st = grt_calloc(1, sizeof *st);
    if (!st) { cJSON_Delete(root); return GRT_ERR_NO_MEMORY; }
    if (!root) { s = grt_fail(GRT_ERR_FORMAT, "%s: not valid JSON", path); goto fail; }
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(wm) || !cJSON_GetArraySize(wm)) {
        s = grt_fail(GRT_ERR_FORMAT, "%s: weight_map is missing or empty", path);
        goto fail;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, wm) {
        if (!cJSON_IsString(e)) {
            s = grt_fail(GRT_ERR_FORMAT, "%s: weight_map['%s'] is not a file name", path, e->string);
            goto fail;
        }
        const char *fn = e->valuestring;
        if (!fn[0] || strchr(fn, '/') || !strcmp(fn, "..") || !strcmp(fn, ".")) {
            s = grt_fail(GRT_ERR_FORMAT, "%s: weight_map['%s']: '%s' is not a file name in the directory",
                         path, e->string, fn);
            goto fail;
        }
        char shard[4096];
        snprintf(shard, sizeof shard, "%s/%s", dir, fn);
        bool seen = false;
        for (int i = 0; i < st->n_files && !seen; i++) seen = !strcmp(st->files[i].path, shard);
        if (!seen && (s = add_file(st, shard))) goto fail;
    }
    if ((s = build_hash(st))) goto fail;
    cJSON_ArrayForEach(e, wm) {
        const grt_st_tensor *t = grt_st_find(st, e->string);
        char shard[4096];
        snprintf(shard, sizeof shard, "%s/%s", dir, e->valuestring);
        if (!t || strcmp(t->file, shard) != 0) {
            s = grt_fail(GRT_ERR_FORMAT, "%s: weight_map puts tensor '%s' in %s, which does not hold it",
                         path, e->string, e->valuestring);
            goto fail;
        }
    }
    cJSON_Delete(root);
    *out = st;
    return GRT_OK;
fail:
    cJSON_Delete(root);
    grt_st_free(st);
    return s;
}
