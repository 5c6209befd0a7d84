/* GGUF files (version 2 and 3): a validated, memory-mapped reader and a
 * writer. Layout and key names follow the GGUF specification and the files
 * llama.cpp's converters write. Little-endian hosts only. */
#ifndef GRT_GGUF_H
#define GRT_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "genrt.h"

typedef enum grt_gguf_type {
    GRT_GGUF_U8 = 0, GRT_GGUF_I8 = 1, GRT_GGUF_U16 = 2, GRT_GGUF_I16 = 3,
    GRT_GGUF_U32 = 4, GRT_GGUF_I32 = 5, GRT_GGUF_F32 = 6, GRT_GGUF_BOOL = 7,
    GRT_GGUF_STRING = 8, GRT_GGUF_ARRAY = 9, GRT_GGUF_U64 = 10, GRT_GGUF_I64 = 11,
    GRT_GGUF_F64 = 12,
} grt_gguf_type;

typedef struct grt_gguf grt_gguf;

typedef struct grt_gguf_tensor {
    const char *name;
    grt_dtype type;
    int n_dims;
    int64_t ne[4];      /* GGUF order: ne[0] is the innermost (contiguous) dim */
    const void *data;   /* into the mapping */
    size_t nbytes;
} grt_gguf_tensor;

/* Map and validate path: magic, version, counts, every string and array
 * length, tensor types, shapes and data ranges (in bounds, aligned). Errors
 * name the file and the byte offset or key. */
grt_status grt_gguf_open(const char *path, grt_gguf **out);
void grt_gguf_close(grt_gguf *g);
const char *grt_gguf_path(const grt_gguf *g);

/* Metadata. Keys are looked up by exact name; -1 when absent. */
int64_t grt_gguf_find_key(const grt_gguf *g, const char *key);
grt_gguf_type grt_gguf_key_type(const grt_gguf *g, int64_t k);
/* Typed getters return false when the key is absent or of an incompatible
 * type (any integer type converts to an integer result in range). */
bool grt_gguf_get_int(const grt_gguf *g, const char *key, int64_t *v);
bool grt_gguf_get_f32(const grt_gguf *g, const char *key, float *v);
bool grt_gguf_get_bool(const grt_gguf *g, const char *key, bool *v);
bool grt_gguf_get_str(const grt_gguf *g, const char *key, const char **s, size_t *len);
/* Arrays: element type and length; numeric data as stored (little-endian);
 * strings by index in O(1). */
bool grt_gguf_get_arr(const grt_gguf *g, const char *key, grt_gguf_type *elem_type,
                      uint64_t *n, const void **data);
bool grt_gguf_arr_str(const grt_gguf *g, const char *key, uint64_t i, const char **s,
                      size_t *len);

/* Keys by index, 0 <= k < grt_gguf_n_keys: the name is not NUL-terminated. */
int64_t grt_gguf_n_keys(const grt_gguf *g);
const char *grt_gguf_key_name(const grt_gguf *g, int64_t k, size_t *len);

int64_t grt_gguf_n_tensors(const grt_gguf *g);
const grt_gguf_tensor *grt_gguf_tensor_at(const grt_gguf *g, int64_t i);
const grt_gguf_tensor *grt_gguf_find_tensor(const grt_gguf *g, const char *name);

/* Writer: collect metadata and tensors, then write once (version 3,
 * alignment 32). Strings and arrays are copied; tensor data is referenced
 * and must stay valid until grt_gguf_writer_write returns. */
typedef struct grt_gguf_writer grt_gguf_writer;
grt_status grt_gguf_writer_new(grt_gguf_writer **out);
void grt_gguf_writer_free(grt_gguf_writer *w);
grt_status grt_gguf_set_u32(grt_gguf_writer *w, const char *key, uint32_t v);
grt_status grt_gguf_set_i32(grt_gguf_writer *w, const char *key, int32_t v);
grt_status grt_gguf_set_f32(grt_gguf_writer *w, const char *key, float v);
grt_status grt_gguf_set_bool(grt_gguf_writer *w, const char *key, bool v);
grt_status grt_gguf_set_str(grt_gguf_writer *w, const char *key, const char *s);
grt_status grt_gguf_set_arr(grt_gguf_writer *w, const char *key, grt_gguf_type elem_type,
                            const void *data, uint64_t n);
grt_status grt_gguf_set_arr_str(grt_gguf_writer *w, const char *key, const char *const *s,
                                const size_t *lens, uint64_t n);
/* Copy key k of g (any type, arrays included) into w, replacing a key of
 * the same name. */
grt_status grt_gguf_copy_kv(grt_gguf_writer *w, const grt_gguf *g, int64_t k);
/* ne in GGUF order (innermost first). */
grt_status grt_gguf_add_tensor(grt_gguf_writer *w, const char *name, grt_dtype type,
                               int n_dims, const int64_t *ne, const void *data, size_t nbytes);
grt_status grt_gguf_writer_write(grt_gguf_writer *w, const char *path);

#endif
