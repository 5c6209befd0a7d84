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

/* n tokens generated with graph capture on, then off (p otherwise as
 * given): true when both runs give all n and the same ids (n <= 256). */
static bool replay_equals_eager(grt_model *m, const int32_t *ids, int n_ids, int n, grt_gen_params p) {
    static int32_t a[256], b[256];
    p.graph_capture = 1;
    int na = t_generate(m, ids, n_ids, n, &p, a);
    p.graph_capture = 0;
    int nb = t_generate(m, ids, n_ids, n, &p, b);
    return na == n && nb == n && memcmp(a, b, sizeof(int32_t) * (size_t)n) == 0;
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
        bool same = replay_equals_eager(m, G[i].ids, G[i].n_ids, 256, p);
        printf("  %-20s %s captured replay equals eager over 256 tokens: %s\n", G[i].name, g_dev,
               same ? "yes" : "no");
        CHECK(same);
        grt_model_free(m);
    }
}

/* Random-weight Q8_0 / Q4_0 models whose every matrix has K % 256 == 0 (the
 * CUDA backend repacks them at load): logits of a 12-token prefill (the
 * tiled kernel) and of a 3-token eval (the GEMVs) within 2e-2 of the CPU's,
 * which quantizes activations the same way; and captured replay equal to
 * eager steps. */
static const char *k_qcfg =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 256,"
    " \"intermediate_size\": 768, \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
    " \"num_key_value_heads\": 2, \"head_dim\": 64, \"vocab_size\": 1000, \"max_position_embeddings\": 1024,"
    " \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0, \"tie_word_embeddings\": true, \"hidden_act\": \"silu\","
    " \"bos_token_id\": 1, \"eos_token_id\": 2}";

static void test_quant_models(void) {
    const char *cfg = t_tmp("quant-config.json");
    CHECK(t_write_file(cfg, k_qcfg, strlen(k_qcfg)));
    const char *types[] = {"q8_0", "q4_0"};
    enum { V = 1000 };
    static const int32_t ids[12] = {1, 17, 400, 23, 999, 5, 6, 77, 123, 500, 42, 8};
    for (int t = 0; t < 2; t++) {
        grt_model *cpu, *dev;
        t_load_random_pair(cfg, types[t], g_dev, &cpu, &dev);
        if (!cpu || !dev) {
            CHECK(0);
            grt_model_free(cpu);
            grt_model_free(dev);
            continue;
        }
        static float a[12 * V], b[12 * V];
        const int lens[2] = {12, 3};
        for (int li = 0; li < 2; li++) {
            int n = lens[li];
            grt_status s1 = grt_model_eval(cpu, ids, (size_t)n, a), s2 = grt_model_eval(dev, ids, (size_t)n, b);
            double e = s1 || s2 ? INFINITY : t_rel_err(b, a, (size_t)n * V);
            printf("  random %s, %2d tokens: %s logits vs cpu: rel err %.3g (tolerance 2e-2)\n", types[t], n, g_dev, e);
            CHECKF(e <= 2e-2, "%s: %s", types[t], s1 || s2 ? grt_last_error() : "");
        }
        grt_gen_params p = grt_gen_params_default();
        p.sampler.temperature = 1.0f;
        p.sampler.top_k = 50;
        p.sampler.seed = 7;
        p.max_context = 300;
        bool same = replay_equals_eager(dev, ids, 12, 200, p);
        printf("  random %s: %s captured replay equals eager over 200 tokens: %s\n", types[t], g_dev, same ? "yes" : "no");
        CHECK(same);
        grt_model_free(cpu);
        grt_model_free(dev);
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
        snprintf(name, sizeof name, "%s: quantized random models match the CPU", g_dev);
        t_run(name, test_quant_models);
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
