/* genrt side of the tokenizer benchmark: load time (median of N loads) and
 * single-thread encode throughput (median of R runs) of one tokenizer on
 * one text file; writes the ids as a JSON array for the cross-check.
 * usage: bench_tok TOKENIZER TEXT_FILE IDS_OUT [loads runs] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "genrt.h"

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bench_tok TOKENIZER TEXT_FILE IDS_OUT [loads runs]\n");
        return 2;
    }
    int loads = argc > 4 ? atoi(argv[4]) : 5, runs = argc > 5 ? atoi(argv[5]) : 3;
    if (loads < 1 || loads > 100 || runs < 1 || runs > 100) return 2;
    double lt[100], et[100];
    grt_tokenizer *tok = NULL;
    for (int i = 0; i < loads; i++) {
        grt_tokenizer_free(tok);
        double t0 = now_ms();
        if (grt_tokenizer_load(argv[1], &tok)) {
            fprintf(stderr, "bench_tok: %s\n", grt_last_error());
            return 1;
        }
        lt[i] = now_ms() - t0;
    }
    FILE *f = fopen(argv[2], "rb");
    if (!f) return 1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *text = malloc((size_t)n + 1);
    if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) return 1;
    fclose(f);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    for (int i = 0; i < runs; i++) {
        free(ids);
        double t0 = now_ms();
        if (grt_tokenizer_encode(tok, text, (size_t)n, false, &ids, &n_ids)) {
            fprintf(stderr, "bench_tok: %s\n", grt_last_error());
            return 1;
        }
        et[i] = now_ms() - t0;
    }
    FILE *o = fopen(argv[3], "w");
    if (!o) return 1;
    fputc('[', o);
    for (size_t i = 0; i < n_ids; i++) fprintf(o, i ? ",%d" : "%d", ids[i]);
    fputs("]\n", o);
    fclose(o);
    double em = median(et, runs);
    printf("{\"load_ms\": %.2f, \"encode_ms\": %.2f, \"mb_per_s\": %.3f, \"bytes\": %ld, \"ids\": %zu}\n",
           median(lt, loads), em, n / 1e6 / (em / 1e3), n, n_ids);
    free(ids);
    free(text);
    grt_tokenizer_free(tok);
    return 0;
}
