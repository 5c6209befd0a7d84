#include "testutil.h"

#include <cjson/cJSON.h>

#include "genrt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int t_failed_in_case;
static int n_pass, n_fail, n_skip;

void t_run(const char *name, void (*fn)(void)) {
    const char *only = getenv("GENRT_TEST_ONLY"); /* run only cases whose name contains it */
    if (only && *only && !strstr(name, only)) {
        t_skip(name, "not selected by GENRT_TEST_ONLY");
        return;
    }
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

static bool load_golden(const char *dir, const char *name, t_golden *g) {
    memset(g, 0, sizeof *g);
    snprintf(g->dir, sizeof g->dir, "%s", dir);
    snprintf(g->name, sizeof g->name, "%s", name);
    char p[1024];
    snprintf(p, sizeof p, "%s/golden.json", dir);
    char *txt = t_read_file(p, NULL);
    if (!txt) return false;
    cJSON *j = cJSON_Parse(txt), *e;
    free(txt);
    if (!j) return false;
    cJSON *dt = cJSON_GetObjectItem(j, "dtype");
    g->bf16 = cJSON_IsString(dt) && strcmp(dt->valuestring, "bfloat16") == 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "input_ids")) if (g->n_ids < 64) g->ids[g->n_ids++] =
        (int32_t)e->valuedouble;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "greedy_new_ids")) if (g->n_greedy < 64)
        g->greedy[g->n_greedy++] = (int32_t)e->valuedouble;
    cJSON_Delete(j);
    snprintf(p, sizeof p, "%s/logits.f32", dir);
    size_t len = 0;
    g->logits = (float *)t_read_file(p, &len);
    g->n_logits = len / 4;
    return g->logits && g->n_ids > 0;
}

const char *const t_golden_names[T_N_GOLDENS] = {"llama3-tiny", "llama2-mha-tiny", "qwen2-tiny",
                                                   "qwen3-tiny", "mistral-swa-tiny", "llama3-medium-bf16",
                                                   "phi3-tiny", "gemma-tiny"};

const char *t_golden_dir(const char *name) {
    static char buf[4][1024];
    static int k;
    char *b = buf[k++ % 4];
    if (!strcmp(name, "phi3-tiny") || !strcmp(name, "gemma-tiny"))
        snprintf(b, 1024, "tests/data/hf-goldens/%s", name);
    else
        snprintf(b, 1024, "%s/%s", t_data("hf-goldens"), name);
    return b;
}

int t_goldens_load(t_golden *g, int max) {
    const char *const *names = t_golden_names;
    char roots[2][512];
    snprintf(roots[0], sizeof roots[0], "%s", t_data("hf-goldens"));
    snprintf(roots[1], sizeof roots[1], "tests/data/hf-goldens");
    int n = 0;
    for (int r = 0; r < 2; r++)
        for (size_t i = 0; i < T_N_GOLDENS && n < max; i++) {
            char dir[1024];
            snprintf(dir, sizeof dir, "%s/%s", roots[r], names[i]);
            if (access(dir, R_OK) == 0 && load_golden(dir, names[i], &g[n])) n++;
        }
    return n;
}

void t_goldens_free(t_golden *g, int n) {
    for (int i = 0; i < n; i++) free(g[i].logits);
}

int t_generate(grt_model *m, const int32_t *ids, int n_ids, int n, const grt_gen_params *params, int32_t *out) {
    grt_gen_params p = params ? *params : grt_gen_params_default();
    if (!params) p.sampler.temperature = 0;
    p.max_new_tokens = n;
    p.ignore_eos = true;
    grt_generator *g;
    if (grt_generator_new(m, &p, &g) || grt_generator_prefill(g, 0, ids, (size_t)n_ids)) {
        printf("  generator: %s\n", grt_last_error());
        return -1;
    }
    int k = 0;
    bool done = false;
    while (!done) {
        int32_t t[16];
        size_t got;
        if (grt_generator_next(g, NULL, t, 16, &got, &done)) {
            printf("  next: %s\n", grt_last_error());
            break;
        }
        for (size_t i = 0; i < got && k < n; i++) out[k++] = t[i];
    }
    grt_generator_free(g);
    return k;
}

void t_load_random_pair(const char *cfg, const char *dtype, const char *device, grt_model **cpu, grt_model **dev) {
    grt_model_options o = grt_model_options_default();
    o.random_weights = true;
    o.random_dtype = dtype;
    *cpu = *dev = NULL;
    o.device = "cpu";
    if (grt_model_load(cfg, &o, cpu)) printf("  load on cpu: %s\n", grt_last_error());
    o.device = device;
    if (grt_model_load(cfg, &o, dev)) printf("  load on %s: %s\n", device, grt_last_error());
}
