#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int t_failed_in_case;
static int n_pass, n_fail, n_skip;

void t_run(const char *name, void (*fn)(void)) {
    t_failed_in_case = 0;
    fn();
    if (t_failed_in_case) {
        printf("FAIL %s\n", name);
        n_fail++;
    } else {
        printf("PASS %s\n", name);
        n_pass++;
    }
    fflush(stdout);
}

void t_skip(const char *name, const char *why) {
    printf("SKIP %s: %s\n", name, why);
    n_skip++;
    fflush(stdout);
}

int t_done(void) {
    printf("# %d passed, %d failed, %d skipped\n", n_pass, n_fail, n_skip);
    return n_fail ? 1 : 0;
}

const char *t_data(const char *rel) {
    static char buf[8][1024];
    static int k;
    const char *root = getenv("GENRT_TESTDATA");
    if (!root) root = "../shared/testdata";
    char *b = buf[k++ % 8];
    snprintf(b, 1024, "%s/%s", root, rel);
    return b;
}

const char *t_tmp(const char *rel) {
    static char dir[512];
    static char buf[8][1024];
    static int k;
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/genrt-test-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(dir)) { perror("mkdtemp"); exit(2); }
    }
    char *b = buf[k++ % 8];
    snprintf(b, 1024, "%s/%s", dir, rel);
    return b;
}

char *t_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (fread(p, 1, (size_t)n, f) != (size_t)n) { free(p); fclose(f); return NULL; }
    p[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return p;
}

bool t_write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

double t_rel_err(const float *a, const float *b, size_t n) {
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > md || isnan(d)) md = isnan(d) ? INFINITY : d;
        if (fabs(b[i]) > mr) mr = fabs(b[i]);
    }
    return mr > 0 ? md / mr : md;
}
