/* A small test harness: each test binary prints one line per case,
 *   PASS name | FAIL name: why | SKIP name: why
 * and tests/run.sh totals them. */
#ifndef GRT_TESTUTIL_H
#define GRT_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern int t_failed_in_case;

/* Run fn as a case named name. */
void t_run(const char *name, void (*fn)(void));
void t_skip(const char *name, const char *why);
/* Exit status for main: 0 if every case passed. */
int t_done(void);

#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            printf("  check failed at %s:%d: %s\n", __FILE__, __LINE__, #c);       \
            t_failed_in_case++;                                                    \
        }                                                                          \
    } while (0)
#define CHECKF(c, ...)                                                             \
    do {                                                                           \
        if (!(c)) {                                                                \
            printf("  check failed at %s:%d: %s: ", __FILE__, __LINE__, #c);       \
            printf(__VA_ARGS__);                                                   \
            printf("\n");                                                          \
            t_failed_in_case++;                                                    \
        }                                                                          \
    } while (0)

/* ../shared/testdata (or $GENRT_TESTDATA), with a trailing component. */
const char *t_data(const char *rel);
/* A fresh temporary directory for this test binary, with a component. */
const char *t_tmp(const char *rel);
/* Read a whole file (malloc'ed, NUL-terminated); NULL if missing. */
char *t_read_file(const char *path, size_t *len);
/* Write bytes to a file; false on failure. */
bool t_write_file(const char *path, const void *data, size_t len);
/* Max |a - b| / max |b| over n floats. */
double t_rel_err(const float *a, const float *b, size_t n);

/* A Hugging Face reference model (hf-goldens): its directory, prompt ids,
 * greedy continuation and float32 logits [n_ids, vocab]. */
typedef struct t_golden {
    char dir[512];
    char name[64];
    bool bf16;         /* reference computed in bfloat16 */
    int32_t ids[64];
    int n_ids;
    int32_t greedy[64];
    int n_greedy;
    float *logits;
    size_t n_logits;
} t_golden;

/* The reference models by name, and the directory of one (phi3-tiny and
 * gemma-tiny live in tests/data/hf-goldens, the rest in ../shared). */
#define T_N_GOLDENS 8
extern const char *const t_golden_names[T_N_GOLDENS];
const char *t_golden_dir(const char *name);

/* Every reference model found under ../shared/testdata/hf-goldens and
 * tests/data/hf-goldens, up to max; returns how many. Free with
 * t_goldens_free. */
int t_goldens_load(t_golden *g, int max);
void t_goldens_free(t_golden *g, int n);

/* Generate n tokens for one prompt (EOS ignored) with params (NULL: greedy)
 * into out; returns how many came back, or -1 (the reason is printed). */
struct grt_model;
struct grt_gen_params;
int t_generate(struct grt_model *m, const int32_t *ids, int n_ids, int n, const struct grt_gen_params *params,
               int32_t *out);

/* The model of config cfg with random weights of dtype on the CPU (*cpu)
 * and on device (*dev); each NULL when its load failed (the reason is
 * printed). */
void t_load_random_pair(const char *cfg, const char *dtype, const char *device, struct grt_model **cpu,
                        struct grt_model **dev);

#endif
