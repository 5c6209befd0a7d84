/* The bundled toy model end to end (tokenizer, GGUF loader, forward pass,
 * sampler, streaming detokenizer) against what transformers produced for the
 * same Hugging Face checkpoint when the model was trained
 * (models/toy/reference.json, models/toy/logits0.f32). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "genrt.h"
#include "testutil.h"

static cJSON *g_ref;

static void run_model(const char *path) {
    grt_model *m;
    if (grt_model_load(path, NULL, &m)) { CHECKF(0, "%s: %s", path, grt_last_error()); return; }
    const grt_tokenizer *tok = grt_model_tokenizer(m);
    CHECK(tok != NULL);
    if (!tok) { grt_model_free(m); return; }
    int n_new = cJSON_GetObjectItem(g_ref, "n_new")->valueint;
    cJSON *p;
    int k = 0, ok_ids = 0, ok_gen = 0, ok_text = 0;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(g_ref, "prompts")) {
        const char *prompt = cJSON_GetObjectItem(p, "prompt")->valuestring;
        const char *want_text = cJSON_GetObjectItem(p, "new_text")->valuestring;
        int32_t *ids = NULL;
        size_t n = 0;
        if (grt_tokenizer_encode(tok, prompt, strlen(prompt), true, &ids, &n)) { CHECK(0); continue; }
        cJSON *want_ids = cJSON_GetObjectItem(p, "input_ids"), *want_gen = cJSON_GetObjectItem(p, "greedy_new_ids");
        bool same = (int)n == cJSON_GetArraySize(want_ids);
        for (size_t i = 0; same && i < n; i++) same = ids[i] == cJSON_GetArrayItem(want_ids, (int)i)->valueint;
        ok_ids += same;

        grt_gen_params gp = grt_gen_params_default();
        gp.sampler.temperature = 0;
        gp.max_new_tokens = n_new;
        gp.ignore_eos = true;
        grt_generator *g;
        grt_detok *dt;
        if (grt_generator_new(m, &gp, &g) || grt_generator_prefill(g, 0, ids, n) || grt_detok_new(tok, &dt)) {
            CHECKF(0, "%s", grt_last_error());
            free(ids);
            continue;
        }
        char text[4096] = "";
        size_t tl = 0;
        int got = 0;
        bool gen_same = true, done = false;
        while (!done) {
            int32_t t[8];
            size_t c;
            if (grt_generator_next(g, NULL, t, 8, &c, &done)) { CHECK(0); break; }
            for (size_t i = 0; i < c; i++, got++) {
                gen_same &= got < cJSON_GetArraySize(want_gen) && t[i] == cJSON_GetArrayItem(want_gen, got)->valueint;
                const char *piece;
                size_t len;
                if (grt_detok_push(dt, t[i], &piece, &len) == GRT_OK && tl + len < sizeof text) {
                    memcpy(text + tl, piece, len);
                    tl += len;
                }
            }
        }
        const char *piece;
        size_t len;
        if (grt_detok_flush(dt, &piece, &len) == GRT_OK && tl + len < sizeof text) {
            memcpy(text + tl, piece, len);
            tl += len;
        }
        text[tl] = 0;
        ok_gen += gen_same && got == n_new;
        ok_text += strcmp(text, want_text) == 0;
        if (strcmp(text, want_text)) printf("  prompt %d text differs:\n    got  %s\n    want %s\n", k, text, want_text);
        grt_detok_free(dt);
        grt_generator_free(g);
        free(ids);
        k++;
    }
    printf("  %s: %d prompts: ids %d/%d, greedy %d/%d, streamed text %d/%d equal transformers\n", path, k, ok_ids,
           k, ok_gen, k, ok_text, k);
    CHECK(k >= 5 && ok_ids == k && ok_gen == k && ok_text == k);

    /* logits of prompt 0 at every position */
    cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItem(g_ref, "prompts"), 0);
    cJSON *iv = cJSON_GetObjectItem(p0, "input_ids"), *e;
    int32_t ids0[64];
    int n0 = 0;
    cJSON_ArrayForEach(e, iv) if (n0 < 64) ids0[n0++] = e->valueint;
    size_t len;
    float *want = (float *)t_read_file("models/toy/logits0.f32", &len);
    grt_model_info info;
    grt_model_get_info(m, &info);
    CHECK(want && len == (size_t)n0 * (size_t)info.n_vocab * 4);
    if (want && len == (size_t)n0 * (size_t)info.n_vocab * 4) {
        float *got = malloc(len);
        CHECK(grt_model_eval(m, ids0, (size_t)n0, got) == GRT_OK);
        double err = t_rel_err(got, want, len / 4);
        printf("  %s: logits of prompt 0 rel err %.3g (tolerance 1e-4)\n", path, err);
        CHECK(err <= 1e-4);
        free(got);
    }
    free(want);
    grt_model_free(m);
}

static void test_gguf(void) { run_model("models/toy/toy-bf16.gguf"); }
static void test_hf(void) { run_model("models/toy/hf"); }

/* A stop string ends generation at the token that completes it. */
static void test_stop_string(void) {
    grt_model *m;
    if (grt_model_load("models/toy/toy-bf16.gguf", NULL, &m)) { CHECK(0); return; }
    const grt_tokenizer *tok = grt_model_tokenizer(m);
    cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItem(g_ref, "prompts"), 0);
    const char *prompt = cJSON_GetObjectItem(p0, "prompt")->valuestring;
    const char *want = cJSON_GetObjectItem(p0, "new_text")->valuestring; /* " of the word of the LORD, ..." */
    int32_t *ids;
    size_t n;
    CHECK(grt_tokenizer_encode(tok, prompt, strlen(prompt), true, &ids, &n) == GRT_OK);
    const char *stops[] = {"LORD"};
    grt_gen_params gp = grt_gen_params_default();
    gp.sampler.temperature = 0;
    gp.max_new_tokens = 40;
    gp.stop_strings = stops;
    gp.n_stop = 1;
    grt_generator *g;
    CHECK(grt_generator_new(m, &gp, &g) == GRT_OK && grt_generator_prefill(g, 0, ids, n) == GRT_OK);
    int32_t out[64];
    int got = 0;
    bool done = false;
    while (!done && got < 64) {
        size_t c;
        if (grt_generator_next(g, NULL, out + got, 8, &c, &done)) { CHECK(0); break; }
        got += (int)c;
    }
    char *text;
    size_t tl;
    CHECK(grt_tokenizer_decode(tok, out, (size_t)got, &text, &tl) == GRT_OK);
    const char *end = strstr(want, "LORD");
    printf("  stopped after %d tokens at \"%s\" (%s)\n", got, text,
           grt_stop_reason_str(grt_generator_stop_reason(g, 0)));
    CHECK(grt_generator_stop_reason(g, 0) == GRT_STOP_STRING);
    CHECK(end && tl >= (size_t)(end - want) + 4 && strncmp(text, want, tl) == 0 && strstr(text, "LORD"));
    free(text);
    free(ids);
    grt_generator_free(g);
    grt_model_free(m);
}

static void test_size(void) {
    size_t len = 0;
    char *b = t_read_file("models/toy/toy-bf16.gguf", &len);
    printf("  models/toy/toy-bf16.gguf is %zu bytes\n", len);
    CHECK(b && len <= 8u * 1000 * 1000);
    free(b);
}

int main(void) {
    char *txt = t_read_file("models/toy/reference.json", NULL);
    g_ref = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    if (!g_ref) {
        printf("FAIL toy model: models/toy/reference.json missing or not JSON\n");
        return 1;
    }
    t_run("bundled toy GGUF is at most 8 MB", test_size);
    t_run("toy GGUF: ids, greedy text and logits match transformers", test_gguf);
    t_run("a stop string ends generation", test_stop_string);
    t_run("toy HF checkpoint: ids, greedy text and logits match transformers", test_hf);
    cJSON_Delete(g_ref);
    return t_done();
}
