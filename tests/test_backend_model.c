/* Every GPU backend this build and machine have, on the Hugging Face
 * reference models: logits within the CPU's tolerances of transformers,
 * greedy ids equal to the CPU backend's (float32 models), and captured
 * replay equal to eager steps over 256 sampled tokens. Backends that are not
 * available report themselves skipped, with the reason. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "genrt.h"
#include "testutil.h"

static const char *g_dev;

typedef t_golden golden;
static golden G[16];
static int n_goldens;

static grt_model *load_on(const char *dir, const char *dev) {
    grt_model_options o = grt_model_options_default();
    o.device = dev;
    grt_model *m = NULL;
    if (grt_model_load(dir, &o, &m)) printf("  load %s on %s: %s\n", dir, dev, grt_last_error());
    return m;
}

static void test_logits(void) {
    for (int i = 0; i < n_goldens; i++) {
        grt_model *m = load_on(G[i].dir, g_dev);
        if (!m) { CHECK(0); continue; }
        float *out = malloc(G[i].n_logits * sizeof *out);
        grt_status s = grt_model_eval(m, G[i].ids, (size_t)G[i].n_ids, out);
        double e = s ? INFINITY : t_rel_err(out, G[i].logits, G[i].n_logits);
        double tol = G[i].bf16 ? 3e-2 : 1e-4;
        printf("  %-20s %s logits vs transformers: rel err %.3g (tolerance %.0e)\n", G[i].name, g_dev, e, tol);
        CHECKF(s == GRT_OK && e <= tol, "%s: %s", G[i].name, s ? grt_last_error() : "");
        free(out);
        grt_model_free(m);
    }
}

static void test_greedy_equals_cpu(void) {
    for (int i = 0; i < n_goldens; i++) {
        if (G[i].bf16) continue;
        grt_model *cpu = load_on(G[i].dir, "cpu"), *dev = load_on(G[i].dir, g_dev);
        grt_gen_params p = grt_gen_params_default();
        p.sampler.temperature = 0;
        int32_t a[64], b[64];
        int na = cpu ? t_generate(cpu, G[i].ids, G[i].n_ids, 28, &p, a) : -1;
        int nb = dev ? t_generate(dev, G[i].ids, G[i].n_ids, 28, &p, b) : -2;
        bool same = na == 28 && nb == 28 && memcmp(a, b, sizeof(int32_t) * 28) == 0;
        printf("  %-20s greedy on %s equals cpu: %s\n", G[i].name, g_dev, same ? "yes" : "no");
        CHECK(same);
        grt_model_free(cpu);
        grt_model_free(dev);
    }
}

static void test_capture_equals_eager(void) {
    for (int i = 0; i < n_goldens; i++) {
        if (strcmp(G[i].name, "mistral-swa-tiny") && strcmp(G[i].name, "llama3-tiny")) continue;
        grt_model *m = load_on(G[i].dir, g_dev);
        if (!m) { CHECK(0); continue; }
        grt_gen_params p = grt_gen_params_default();
        p.sampler.temperature = 1.0f;
        p.sampler.top_k = 50;
        p.sampler.top_p = 0.9f;
        p.sampler.repeat_penalty = 1.1f;
        p.sampler.seed = 42;
        p.max_context = 300;
        static int32_t a[256], b[256];
        p.graph_capture = 1;
        int na = t_generate(m, G[i].ids, G[i].n_ids, 256, &p, a);
        p.graph_capture = 0;
        int nb = t_generate(m, G[i].ids, G[i].n_ids, 256, &p, b);
        bool same = na == 256 && nb == 256 && memcmp(a, b, sizeof a) == 0;
        printf("  %-20s %s captured replay equals eager over 256 tokens: %s\n", G[i].name, g_dev,
               same ? "yes" : "no");
        CHECK(same);
        grt_model_free(m);
    }
}

int main(void) {
    n_goldens = t_goldens_load(G, 16);
    const char *devs[] = {"cuda", "webgpu"};
    for (size_t d = 0; d < sizeof devs / sizeof devs[0]; d++) {
        g_dev = devs[d];
        const char *why = NULL;
        char name[128];
        if (!grt_device_available(g_dev, &why)) {
            snprintf(name, sizeof name, "%s backend on the reference models", g_dev);
            t_skip(name, why ? why : "unavailable");
            continue;
        }
        if (n_goldens == 0) { t_skip("backend models", "no reference models"); break; }
        snprintf(name, sizeof name, "%s: logits match transformers", g_dev);
        t_run(name, test_logits);
        snprintf(name, sizeof name, "%s: greedy ids equal the CPU backend's", g_dev);
        t_run(name, test_greedy_equals_cpu);
        snprintf(name, sizeof name, "%s: captured replay equals eager", g_dev);
        t_run(name, test_capture_equals_eager);
    }
    t_goldens_free(G, n_goldens);
    return t_done();
}
