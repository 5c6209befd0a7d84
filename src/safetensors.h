/* Safetensors files (one, or the shards of a model.safetensors.index.json),
 * memory-mapped and validated. Internal to the weights loader.
 *
 * File layout: u64 header length N, N bytes of JSON
 *   { "name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *     "__metadata__": {...} }
 * then the data; offsets are relative to the byte after the header. */
#ifndef GRT_SAFETENSORS_H
#define GRT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "genrt.h"

#define GRT_ST_MAX_DIMS 4

typedef struct grt_st_tensor {
    const char *name;       /* HF name, NUL-terminated, owned by the grt_st */
    grt_dtype type;         /* F32, F16 or BF16 */
    int n_dims;
    int64_t shape[GRT_ST_MAX_DIMS]; /* outermost first, as in the file */
    const void *data;       /* into the mapping; may be unaligned */
    size_t nbytes;
    const char *file;       /* path of the shard that holds it */
} grt_st_tensor;

typedef struct grt_st grt_st;

/* Map and validate one .safetensors file: header length against the file
 * size, JSON, dtypes (others are GRT_ERR_UNSUPPORTED naming the tensor),
 * shape x element size == byte range, ranges in bounds, no overlaps. */
grt_status grt_st_open_file(const char *path, grt_st **out);
/* A model directory: model.safetensors.index.json (weight_map; every listed
 * tensor must be in its shard) or else model.safetensors. */
grt_status grt_st_open_dir(const char *dir, grt_st **out);
void grt_st_free(grt_st *st);

int grt_st_count(const grt_st *st);
const grt_st_tensor *grt_st_at(const grt_st *st, int i);
const grt_st_tensor *grt_st_find(const grt_st *st, const char *name);

#endif
