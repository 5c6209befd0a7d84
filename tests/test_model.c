/* Conformance of the whole forward pass and generator against Hugging Face
 * transformers (../shared/testdata/hf-goldens and tests/data/hf-goldens):
 * logits for every prompt position, greedy continuations, the same through
 * GGUFs written by grt_convert, and captured replay against eager steps. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "genrt.h"
#include "testutil.h"

typedef t_golden golden;
#define MAX_GOLDENS 16
static golden G[MAX_GOLDENS];
static int n_goldens;

/* Logit tolerance (max |d| / max |ref|): float32 references agree to 1e-4.
 * The bf16 reference computed every op in bf16 (rounding each activation to
 * 8 bits of mantissa) while genrt computes in f32 from the same bf16
 * weights, so the two differ by bf16 rounding noise: 3e-2 bounds it. */
static double tol_for(const golden *g) { return g->bf16 ? 3e-2 : 1e-4; }

static double eval_err(const char *path, const golden *g, grt_status *st) {
    grt_model *m;
    *st = grt_model_load(path, NULL, &m);
    if (*st) { printf("  load %s: %s\n", path, grt_last_error()); return INFINITY; }
    grt_model_info info;
    grt_model_get_info(m, &info);
    size_t n = (size_t)g->n_ids * (size_t)info.n_vocab;
    if (n != g->n_logits) { printf("  %s: vocab mismatch\n", path); grt_model_free(m); return INFINITY; }
    float *out = malloc(n * sizeof *out);
    *st = grt_model_eval(m, g->ids, (size_t)g->n_ids, out);
    double e = *st ? INFINITY : t_rel_err(out, g->logits, n);
    if (*st) printf("  eval %s: %s\n", path, grt_last_error());
    free(out);
    grt_model_free(m);
    return e;
}

static void test_logits(void) {
    for (int i = 0; i < n_goldens; i++) {
        grt_status st;
        double e = eval_err(G[i].dir, &G[i], &st);
        printf("  %-20s logits rel err %.3g (tolerance %.0e)\n", G[i].name, e, tol_for(&G[i]));
        CHECKF(st == GRT_OK && e <= tol_for(&G[i]), "%s: %g", G[i].name, e);
    }
}

static int matching_prefix(const int32_t *a, const int32_t *b, int n) {
    int i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i;
}

static void test_greedy(void) {
    for (int i = 0; i < n_goldens; i++) {
        grt_model *m;
        if (grt_model_load(G[i].dir, NULL, &m)) { CHECKF(0, "%s: %s", G[i].name, grt_last_error()); continue; }
        int32_t out[64];
        int k = t_generate(m, G[i].ids, G[i].n_ids, G[i].n_greedy, NULL, out);
        int same = k > 0 ? matching_prefix(out, G[i].greedy, G[i].n_greedy) : 0;
        printf("  %-20s greedy: %d of %d tokens equal\n", G[i].name, same, G[i].n_greedy);
        if (G[i].bf16) /* bf16 reference math: most of the run, not all (README) */
            CHECKF(same >= G[i].n_greedy / 4, "%s", G[i].name);
        else
            CHECKF(k == G[i].n_greedy && same == G[i].n_greedy, "%s", G[i].name);
        grt_model_free(m);
    }
}

/* The GGUFs grt_convert writes give the same logits (f32), or stay within a
 * stated tolerance (16-bit and block-quantized weights). For Q8_0 and Q4_0
 * two checks: against Hugging Face, loose, since 4-bit weights move the
 * logits of these random-weight models a lot (~0.4 of the largest logit);
 * and, tight, against the same quantized weights dequantized to an f32 GGUF
 * (convert q -> f32), which isolates what the quantized kernels add: the
 * activations quantized to Q8_0 blocks. */
static void test_convert_logits(void) {
    static const struct { const char *type; double tol_hf, tol_kernel; } types[] = {
        {"f32", 1e-4, 0}, {"f16", 5e-3, 0}, {"bf16", 3e-2, 0}, {"q8_0", 0.15, 5e-2}, {"q4_0", 1.0, 5e-2}};
    for (int i = 0; i < n_goldens; i++) {
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
            char out[1024], deq[1024];
            snprintf(out, sizeof out, "%s-%s.gguf", t_tmp(G[i].name), types[t].type);
            snprintf(deq, sizeof deq, "%s-%s-f32.gguf", t_tmp(G[i].name), types[t].type);
            grt_status st = grt_convert(G[i].dir, out, types[t].type);
            if (st) { CHECKF(0, "convert %s %s: %s", G[i].name, types[t].type, grt_last_error()); continue; }
            double e = eval_err(out, &G[i], &st);
            double tol = types[t].tol_hf > tol_for(&G[i]) ? types[t].tol_hf : tol_for(&G[i]);
            printf("  %-20s %-5s gguf logits rel err %.3g (tolerance %.0e)", G[i].name, types[t].type, e, tol);
            CHECKF(st == GRT_OK && e <= tol, "%s %s: %g", G[i].name, types[t].type, e);
            if (types[t].tol_kernel > 0) {
                /* reference: the dequantized weights run through the f32 path */
                golden ref = G[i];
                ref.logits = malloc(G[i].n_logits * sizeof(float));
                grt_model *m = NULL;
                if (grt_convert(out, deq, "f32") == GRT_OK && grt_model_load(deq, NULL, &m) == GRT_OK &&
                    grt_model_eval(m, G[i].ids, (size_t)G[i].n_ids, ref.logits) == GRT_OK) {
                    double ek = eval_err(out, &ref, &st);
                    printf(", vs its dequantized weights %.3g (tolerance %.0e)", ek, types[t].tol_kernel);
                    CHECKF(ek <= types[t].tol_kernel, "%s %s kernel: %g", G[i].name, types[t].type, ek);
                } else {
                    CHECKF(0, "dequantized reference for %s %s: %s", G[i].name, types[t].type, grt_last_error());
                }
                grt_model_free(m);
                free(ref.logits);
                unlink(deq);
            }
            printf("\n");
            unlink(out);
        }
    }
}

/* Captured replay equals eager, token for token, with sampling on, over 256
 * tokens, across the sliding window of mistral-swa-tiny. */
static void test_capture_equals_eager(void) {
    for (int i = 0; i < n_goldens; i++) {
        if (strcmp(G[i].name, "mistral-swa-tiny") && strcmp(G[i].name, "llama3-tiny")) continue;
        grt_model *m;
        if (grt_model_load(G[i].dir, NULL, &m)) { CHECK(0); continue; }
        grt_gen_params p = grt_gen_params_default();
        p.sampler.temperature = 1.0f;
        p.sampler.top_k = 50;
        p.sampler.top_p = 0.9f;
        p.sampler.repeat_penalty = 1.1f;
        p.sampler.seed = 42;
        static int32_t a[256], b[256], c[256];
        p.graph_capture = 1;
        p.max_context = 300;
        int na = t_generate(m, G[i].ids, G[i].n_ids, 256, &p, a);
        p.graph_capture = 0;
        int nb = t_generate(m, G[i].ids, G[i].n_ids, 256, &p, b);
        p.sampler.seed = 43;
        p.graph_capture = 1;
        int nc = t_generate(m, G[i].ids, G[i].n_ids, 256, &p, c);
        printf("  %-20s capture vs eager: %d/%d equal; other seed: %d equal\n", G[i].name,
               matching_prefix(a, b, na), na, matching_prefix(a, c, nc));
        CHECK(na == 256 && nb == 256 && matching_prefix(a, b, na) == na);
        CHECK(nc == 256 && matching_prefix(a, c, nc) < nc); /* the seed matters */
        grt_model_free(m);
    }
}

/* Several sequences in one generator: each sequence's greedy tokens equal
 * those of the same prompt generated alone (different prompt lengths, so the
 * sequences sit at different positions in every decode step). */
static void test_batch(void) {
    for (int i = 0; i < n_goldens; i++) {
        if (G[i].bf16) continue;
        grt_model *m;
        if (grt_model_load(G[i].dir, NULL, &m)) { CHECK(0); continue; }
        enum { B = 3, N = 20 };
        int lens[B] = {G[i].n_ids, 5, 9};
        int32_t solo[B][N];
        for (int b = 0; b < B; b++) CHECK(t_generate(m, G[i].ids + (G[i].n_ids - lens[b]), lens[b], N, NULL, solo[b]) == N);
        grt_gen_params p = grt_gen_params_default();
        p.sampler.temperature = 0;
        p.n_seqs = B;
        p.max_new_tokens = N;
        p.ignore_eos = true;
        grt_generator *g;
        CHECK(grt_generator_new(m, &p, &g) == GRT_OK);
        for (int b = 0; b < B; b++)
            CHECK(grt_generator_prefill(g, b, G[i].ids + (G[i].n_ids - lens[b]), (size_t)lens[b]) == GRT_OK);
        int32_t got[B][N];
        int n_got[B] = {0};
        bool done = false;
        while (!done) {
            int seqs[16];
            int32_t t[16];
            size_t n;
            if (grt_generator_next(g, seqs, t, 16, &n, &done)) { CHECK(0); break; }
            for (size_t k = 0; k < n; k++)
                if (n_got[seqs[k]] < N) got[seqs[k]][n_got[seqs[k]]++] = t[k];
        }
        int same = 0;
        for (int b = 0; b < B; b++) same += n_got[b] == N && memcmp(got[b], solo[b], sizeof solo[b]) == 0;
        printf("  %-20s batch of %d: %d sequences equal their solo runs\n", G[i].name, B, same);
        CHECK(same == B);
        grt_generator_free(g);
        grt_model_free(m);
    }
}

static void test_bad_input(void) {
    if (n_goldens == 0) return;
    grt_model *m;
    if (grt_model_load(G[0].dir, NULL, &m)) { CHECK(0); return; }
    grt_model_info info;
    grt_model_get_info(m, &info);
    int32_t bad[3] = {1, info.n_vocab, 2};
    float *lg = malloc(3 * (size_t)info.n_vocab * 4);
    CHECK(grt_model_eval(m, bad, 3, lg) == GRT_ERR_RANGE);
    CHECK(strstr(grt_last_error(), "index 1") != NULL);
    bad[1] = -5;
    CHECK(grt_model_eval(m, bad, 3, lg) == GRT_ERR_RANGE);
    free(lg);

    grt_gen_params p = grt_gen_params_default();
    grt_generator *g;
    p.sampler.top_p = 2.0f;
    CHECK(grt_generator_new(m, &p, &g) == GRT_ERR_INVALID_ARG && strstr(grt_last_error(), "--top-p"));
    CHECK(g == NULL);
    p = grt_gen_params_default();
    p.max_new_tokens = -1;
    CHECK(grt_generator_new(m, &p, &g) == GRT_ERR_INVALID_ARG && strstr(grt_last_error(), "-n"));
    p = grt_gen_params_default();
    p.sampler.temperature = NAN;
    CHECK(grt_generator_new(m, &p, &g) == GRT_ERR_INVALID_ARG);
    p = grt_gen_params_default();
    p.max_context = 8;
    CHECK(grt_generator_new(m, &p, &g) == GRT_OK);
    int32_t ids[8] = {5, 6, 7, 8, 9, 10, 11, 12};
    CHECK(grt_generator_prefill(g, 0, ids, 8) == GRT_ERR_RANGE);   /* no room */
    CHECK(strstr(grt_last_error(), "context") != NULL);
    CHECK(grt_generator_prefill(g, 1, ids, 3) == GRT_ERR_INVALID_ARG);  /* no such sequence */
    /* A prompt that fits runs until the context is full and says so. */
    CHECK(grt_generator_prefill(g, 0, ids, 5) == GRT_OK);
    bool done = false;
    int total = 0;
    while (!done) {
        int32_t t[4];
        size_t n;
        if (grt_generator_next(g, NULL, t, 4, &n, &done)) { CHECK(0); break; }
        total += (int)n;
    }
    CHECK(total == 3);
    CHECK(grt_generator_stop_reason(g, 0) == GRT_STOP_CONTEXT);
    grt_generator_free(g);

    /* Stop after max_new_tokens; EOS ends early unless ignored. */
    p = grt_gen_params_default();
    p.sampler.temperature = 0;
    p.max_new_tokens = 5;
    CHECK(grt_generator_new(m, &p, &g) == GRT_OK);
    CHECK(grt_generator_prefill(g, 0, ids, 4) == GRT_OK);
    total = 0;
    done = false;
    while (!done) {
        int32_t t[4];
        size_t n;
        if (grt_generator_next(g, NULL, t, 4, &n, &done)) { CHECK(0); break; }
        total += (int)n;
    }
    grt_stop_reason r = grt_generator_stop_reason(g, 0);
    CHECK((total == 5 && r == GRT_STOP_MAX_TOKENS) || (total < 5 && r == GRT_STOP_EOS));
    grt_generator_free(g);
    grt_model_free(m);

    CHECK(grt_model_load("/nonexistent/model", NULL, &m) != GRT_OK && m == NULL);
    CHECK(strstr(grt_last_error(), "/nonexistent/model") != NULL);
    grt_model_options o = grt_model_options_default();
    o.device = "tpu";
    CHECK(grt_model_load(G[0].dir, &o, &m) == GRT_ERR_NO_DEVICE && m == NULL);
}

int main(void) {
    n_goldens = t_goldens_load(G, MAX_GOLDENS);
    if (n_goldens == 0) {
        t_skip("model conformance", "no reference models found under ../shared/testdata/hf-goldens");
        return t_done();
    }
    t_run("logits match transformers", test_logits);
    t_run("greedy ids match transformers", test_greedy);
    t_run("converted GGUF logits", test_convert_logits);
    t_run("captured replay equals eager (256 tokens)", test_capture_equals_eager);
    t_run("a batch of sequences equals solo runs", test_batch);
    t_run("bad input to model and generator", test_bad_input);
    t_goldens_free(G, n_goldens);
    return t_done();
}
