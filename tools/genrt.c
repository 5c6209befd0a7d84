/* genrt — the command line, a thin layer over include/genrt.h.
 * Exit status: 0 ok, 1 runtime failure (message on stderr), 2 usage error. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "genrt.h"

static const char *USAGE =
    "usage: genrt COMMAND [options]\n"
    "  run        generate text:   genrt run [-m MODEL] -p TEXT | --ids 1,2,3 [-n N] [sampling options]\n"
    "  eval       logits per position: genrt eval -m MODEL --ids 1,2,3 | -p TEXT --logits out.f32\n"
    "  bench      speed:           genrt bench -m MODEL [--random-weights [--dtype T]] [--prompt-len 128] [-n 256] [--json]\n"
    "  info       describe a model: genrt info MODEL\n"
    "  convert    write GGUF:      genrt convert SRC out.gguf [--type f32|f16|bf16|q8_0|q4_0]\n"
    "  tokenize   genrt tokenize -m MODEL_OR_TOKENIZER [--special] TEXT | --jsonl\n"
    "  detokenize genrt detokenize -m MODEL_OR_TOKENIZER 1,2,3\n"
    "MODEL is a Hugging Face directory or a .gguf file. `genrt COMMAND --help` for options.\n";

static const char *RUN_HELP =
    "genrt run [-m MODEL] (-p TEXT | -f FILE | --ids 1,2,3) [options]\n"
    "  -n N                 new tokens (default 128)\n"
    "  --temp T             temperature, 0 = greedy (default 0.8)\n"
    "  --top-k K            0 = off (default 40)\n"
    "  --top-p P            in (0, 1], 1 = off (default 0.95)\n"
    "  --min-p P            in [0, 1), 0 = off (default 0.05)\n"
    "  --repeat-penalty R   1 = off (default 1)\n"
    "  --repeat-last-n N    tokens the penalty looks back, -1 = all (default 64)\n"
    "  --seed S             (default 0)\n"
    "  --stop STR           stop when the text contains STR (repeatable)\n"
    "  --ignore-eos         keep going past end-of-sequence tokens\n"
    "  --max-context N      KV cache length (default: the model's, at most 4096)\n"
    "  --threads N          CPU threads (default all cores)\n"
    "  --device D           cpu | cuda | webgpu (default cpu)\n"
    "  --graph-capture on|off   replay a captured decode step (default on)\n"
    "  --readback-every K   read sampled tokens every K steps (default 1)\n"
    "  --steps-per-submit K decode steps per queue submission (default 1)\n"
    "  --prefill-chunk N    prompt tokens per prefill pass (default 512)\n"
    "  --raw                do not add the tokenizer's BOS/EOS template to -p text\n"
    "  --print-ids          print token ids (one line, space-separated) instead of text\n"
    "  --trace FILE         write a Chrome trace (open in Perfetto)\n";

static int usage_error(const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "genrt: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n");
    return 2;
}

static int fail(const char *what) {
    fprintf(stderr, "genrt: %s%s%s\n", what ? what : "", what ? ": " : "", grt_last_error());
    return 1;
}

/* Strict number parsing: the whole string, in range. */
static bool parse_long(const char *s, long lo, long hi, long *v) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (errno || *end || x < lo || x > hi) return false;
    *v = x;
    return true;
}
static bool parse_float(const char *s, float *v) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    float x = strtof(s, &end);
    if (errno || *end || !isfinite(x)) return false;
    *v = x;
    return true;
}

static bool parse_ids(const char *s, int32_t **ids, size_t *n) {
    size_t cap = 16, k = 0;
    int32_t *v = malloc(cap * sizeof *v);
    const char *p = s;
    while (v && *p) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || x < INT32_MIN || x > INT32_MAX) { free(v); return false; }
        if (k == cap) {
            int32_t *nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) { free(v); return false; }
            v = nv;
        }
        v[k++] = (int32_t)x;
        p = end;
        while (*p == ',' || *p == ' ') p++;
    }
    if (!v || k == 0) { free(v); return false; }
    *ids = v;
    *n = k;
    return true;
}

static char *read_text_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) { free(buf); buf = NULL; }
            else buf = nb;
        }
    }
    fclose(f);
    if (buf) buf[n] = 0;
    *len = n;
    return buf;
}

/* The model shipped in the repository, used when -m is not given. */
static const char *default_model(void) {
    static char path[PATH_MAX];
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return NULL;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return NULL;
    *slash = 0;
    char rel[PATH_MAX + 64];
    snprintf(rel, sizeof rel, "%s/../models/toy/toy-bf16.gguf", exe);
    return realpath(rel, path) && access(path, R_OK) == 0 ? path : NULL;
}

/* ------------------------------------------------------------ options */

typedef struct opts {
    const char *model, *prompt, *prompt_file, *ids, *device, *trace, *logits_out, *dtype;
    const char *stops[64];
    int n_stop;
    grt_gen_params gp;
    int threads;
    bool print_ids, raw, json, random_weights, help, read_compare;
    long prompt_len;
} opts;

/* Parses the options shared by run, eval and bench. Returns 0, or 2 after
 * printing a usage error. `positional` receives a leftover argument. */
static int parse_opts(int argc, char **argv, opts *o, const char **positional) {
    memset(o, 0, sizeof *o);
    o->gp = grt_gen_params_default();
    o->prompt_len = 128;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long l;
        float f;
#define NEED_VALUE() \
    if (!v) return usage_error("%s: missing value", a, NULL); \
    i++;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { o->help = true; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { NEED_VALUE(); o->model = v; }
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) { NEED_VALUE(); o->prompt = v; }
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) { NEED_VALUE(); o->prompt_file = v; }
        else if (!strcmp(a, "--ids")) { NEED_VALUE(); o->ids = v; }
        else if (!strcmp(a, "--device")) { NEED_VALUE(); o->device = v; }
        else if (!strcmp(a, "--trace")) { NEED_VALUE(); o->trace = v; }
        else if (!strcmp(a, "--logits")) { NEED_VALUE(); o->logits_out = v; }
        else if (!strcmp(a, "--dtype")) { NEED_VALUE(); o->dtype = v; }
        else if (!strcmp(a, "--print-ids")) { o->print_ids = true; }
        else if (!strcmp(a, "--raw")) { o->raw = true; }
        else if (!strcmp(a, "--json")) { o->json = true; }
        else if (!strcmp(a, "--random-weights")) { o->random_weights = true; }
        else if (!strcmp(a, "--ignore-eos")) { o->gp.ignore_eos = true; }
        else if (!strcmp(a, "--stop")) {
            NEED_VALUE();
            if (o->n_stop == 64) return usage_error("--stop: at most 64 stop strings", NULL, NULL);
            o->stops[o->n_stop++] = v;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--max-new-tokens")) {
            NEED_VALUE();
            if (!parse_long(v, 1, 1 << 24, &l)) return usage_error("%s %s: expected a whole number from 1 to 16777216", a, v);
            o->gp.max_new_tokens = (int)l;
        } else if (!strcmp(a, "--prompt-len")) {
            NEED_VALUE();
            if (!parse_long(v, 1, 1 << 20, &l)) return usage_error("%s %s: expected a whole number from 1 to 1048576", a, v);
            o->prompt_len = l;
        } else if (!strcmp(a, "--temp")) {
            NEED_VALUE();
            if (!parse_float(v, &f) || f < 0) return usage_error("%s %s: expected a number >= 0 (0 = greedy)", a, v);
            o->gp.sampler.temperature = f;
        } else if (!strcmp(a, "--top-k")) {
            NEED_VALUE();
            if (!parse_long(v, 0, INT_MAX, &l)) return usage_error("%s %s: expected a whole number >= 0", a, v);
            o->gp.sampler.top_k = (int)l;
        } else if (!strcmp(a, "--top-p")) {
            NEED_VALUE();
            if (!parse_float(v, &f) || !(f > 0 && f <= 1)) return usage_error("%s %s: expected a number in (0, 1]", a, v);
            o->gp.sampler.top_p = f;
        } else if (!strcmp(a, "--min-p")) {
            NEED_VALUE();
            if (!parse_float(v, &f) || !(f >= 0 && f < 1)) return usage_error("%s %s: expected a number in [0, 1)", a, v);
            o->gp.sampler.min_p = f;
        } else if (!strcmp(a, "--repeat-penalty")) {
            NEED_VALUE();
            if (!parse_float(v, &f) || !(f > 0)) return usage_error("%s %s: expected a number > 0 (1 = off)", a, v);
            o->gp.sampler.repeat_penalty = f;
        } else if (!strcmp(a, "--repeat-last-n")) {
            NEED_VALUE();
            if (!parse_long(v, -1, INT_MAX, &l)) return usage_error("%s %s: expected -1 (all) or a whole number >= 0", a, v);
            o->gp.sampler.repeat_last_n = (int)l;
        } else if (!strcmp(a, "--seed")) {
            NEED_VALUE();
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (errno || *end || !*v || *v == '-') return usage_error("%s %s: expected a whole number >= 0", a, v);
            o->gp.sampler.seed = s;
        } else if (!strcmp(a, "--max-context")) {
            NEED_VALUE();
            if (!parse_long(v, 2, 1 << 22, &l)) return usage_error("%s %s: expected a whole number from 2 to 4194304", a, v);
            o->gp.max_context = (int)l;
        } else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) {
            NEED_VALUE();
            if (!parse_long(v, 0, 1024, &l)) return usage_error("%s %s: expected 0 (all cores) to 1024", a, v);
            o->threads = (int)l;
        } else if (!strcmp(a, "--readback-every")) {
            NEED_VALUE();
            if (!parse_long(v, 1, 31, &l)) return usage_error("%s %s: expected a whole number from 1 to 31", a, v);
            o->gp.readback_every = (int)l;
        } else if (!strcmp(a, "--steps-per-submit")) {
            NEED_VALUE();
            if (!parse_long(v, 1, 16, &l)) return usage_error("%s %s: expected a whole number from 1 to 16", a, v);
            o->gp.steps_per_submit = (int)l;
        } else if (!strcmp(a, "--read-compare")) {
            o->read_compare = true;
        } else if (!strcmp(a, "--prefill-chunk")) {
            NEED_VALUE();
            if (!parse_long(v, 1, 16384, &l)) return usage_error("%s %s: expected a whole number from 1 to 16384", a, v);
            o->gp.prefill_chunk = (int)l;
        } else if (!strcmp(a, "--graph-capture")) {
            NEED_VALUE();
            if (!strcmp(v, "on")) o->gp.graph_capture = 1;
            else if (!strcmp(v, "off")) o->gp.graph_capture = 0;
            else return usage_error("%s %s: expected on or off", a, v);
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option %s (see --help)", a, NULL);
        } else if (positional && !*positional) {
            *positional = a;
        } else {
            return usage_error("unexpected argument '%s' (see --help)", a, NULL);
        }
#undef NEED_VALUE
    }
    o->gp.stop_strings = o->stops;
    o->gp.n_stop = o->n_stop;
    return 0;
}

static grt_status load(const opts *o, const char *path, grt_model **m) {
    grt_model_options mo = grt_model_options_default();
    mo.device = o->device ? o->device : "cpu";
    mo.n_threads = o->threads;
    mo.random_weights = o->random_weights;
    mo.random_dtype = o->dtype;
    if (o->device && !grt_device_available(o->device, NULL)) {
        const char *why = "";
        grt_device_available(o->device, &why);
        fprintf(stderr, "genrt: --device %s is not available: %s\n", o->device, why);
        return GRT_ERR_NO_DEVICE;
    }
    return grt_model_load(path, &mo, m);
}

/* The prompt as ids: --ids, or -p / -f text through the model's tokenizer. */
static int prompt_ids(const opts *o, grt_model *m, int32_t **ids, size_t *n) {
    int given = !!o->ids + !!o->prompt + !!o->prompt_file;
    if (given != 1) {
        fprintf(stderr, "genrt: give exactly one of -p TEXT, -f FILE or --ids 1,2,3\n");
        return 2;
    }
    if (o->ids) {
        if (!parse_ids(o->ids, ids, n)) {
            fprintf(stderr, "genrt: --ids '%s': expected comma-separated integers\n", o->ids);
            return 2;
        }
        return 0;
    }
    const grt_tokenizer *tok = grt_model_tokenizer(m);
    if (!tok) {
        fprintf(stderr, "genrt: this model has no tokenizer (no tokenizer.json / GGUF vocabulary): use --ids\n");
        return 1;
    }
    size_t len = 0;
    char *text = NULL;
    const char *t = o->prompt;
    if (o->prompt_file) {
        text = read_text_file(o->prompt_file, &len);
        if (!text) {
            fprintf(stderr, "genrt: -f %s: cannot read: %s\n", o->prompt_file, strerror(errno));
            return 1;
        }
        t = text;
    } else {
        len = strlen(t);
    }
    grt_status s = grt_tokenizer_encode(tok, t, len, !o->raw, ids, n);
    free(text);
    if (s) return fail("tokenize prompt");
    if (*n == 0) {
        fprintf(stderr, "genrt: the prompt encodes to no tokens\n");
        return 2;
    }
    return 0;
}

/* ------------------------------------------------------------ run */

static int cmd_run(int argc, char **argv) {
    opts o;
    int rc = parse_opts(argc, argv, &o, NULL);
    if (rc) return rc;
    if (o.help) { fputs(RUN_HELP, stdout); return 0; }
    const char *path = o.model;
    if (!path) {
        path = default_model();
        if (!path) {
            fprintf(stderr, "genrt: no model given (-m MODEL) and the bundled model models/toy/toy-bf16.gguf is missing\n");
            return 2;
        }
        fprintf(stderr, "genrt: no -m given: using the bundled toy model %s\n", path);
    }
    if (o.trace && grt_trace_start(o.trace)) return fail(NULL);
    grt_model *m = NULL;
    grt_generator *g = NULL;
    grt_detok *dt = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (load(&o, path, &m)) { rc = fail(NULL); goto out; }
    if ((rc = prompt_ids(&o, m, &ids, &n_ids)) != 0) goto out;
    if (grt_generator_new(m, &o.gp, &g) || grt_generator_prefill(g, 0, ids, n_ids)) { rc = fail(NULL); goto out; }
    const grt_tokenizer *tok = grt_model_tokenizer(m);
    if (!o.print_ids && !tok) {
        fprintf(stderr, "genrt: this model has no tokenizer: printing ids\n");
        o.print_ids = true;
    }
    if (!o.print_ids && grt_detok_new(tok, &dt)) { rc = fail(NULL); goto out; }
    grt_model_info info;
    grt_model_get_info(m, &info);
    bool done = false, first = true;
    if (!o.print_ids && o.prompt) fputs(o.prompt, stdout); /* the continuation follows the prompt */
    while (!done) {
        int32_t toks[64];
        size_t n = 0;
        if (grt_generator_next(g, NULL, toks, 64, &n, &done)) { rc = fail("generate"); break; }
        for (size_t i = 0; i < n; i++) {
            if (o.print_ids) {
                printf(first ? "%d" : " %d", toks[i]);
                first = false;
                continue;
            }
            bool eos = false;
            for (int e = 0; e < info.n_eos; e++) eos |= toks[i] == info.eos_ids[e];
            if (eos && !o.gp.ignore_eos) continue;
            const char *piece;
            size_t len;
            if (grt_detok_push(dt, toks[i], &piece, &len) == GRT_OK) fwrite(piece, 1, len, stdout);
        }
        fflush(stdout);
    }
    if (dt) {
        const char *piece;
        size_t len;
        if (grt_detok_flush(dt, &piece, &len) == GRT_OK) fwrite(piece, 1, len, stdout);
    }
    printf("\n");
    fflush(stdout);
    if (rc == 0) {
        grt_gen_stats st;
        grt_generator_stats(g, &st);
        int dec = st.n_decoded > 1 ? st.n_decoded - 1 : 0;
        fprintf(stderr,
                "genrt: %s, %s %s on %s | prompt %d tokens, %.1f tokens/s | %d tokens, %.1f tokens/s "
                "(%.2f ms/token, capture %s, %d blocking waits) | stop: %s\n",
                info.arch, info.format, info.weight_type, info.device, st.n_prompt,
                st.prefill_ms > 0 ? st.n_prompt / (st.prefill_ms / 1e3) : 0.0, st.n_decoded,
                st.decode_ms > 0 ? dec / (st.decode_ms / 1e3) : 0.0, dec ? st.decode_ms / dec : 0.0,
                st.captured ? "on" : "off", st.blocking_waits,
                grt_stop_reason_str(grt_generator_stop_reason(g, 0)));
        if (grt_generator_stop_reason(g, 0) == GRT_STOP_CONTEXT)
            fprintf(stderr, "genrt: stopped: the context of %d tokens is full (raise --max-context)\n",
                    o.gp.max_context ? o.gp.max_context : info.max_position);
    }
out:
    grt_detok_free(dt);
    grt_generator_free(g);
    grt_model_free(m);
    free(ids);
    if (o.trace && grt_trace_stop() && rc == 0) rc = fail(NULL);
    return rc;
}

/* ------------------------------------------------------------ eval */

static int cmd_eval(int argc, char **argv) {
    opts o;
    int rc = parse_opts(argc, argv, &o, NULL);
    if (rc) return rc;
    if (o.help) {
        puts("genrt eval -m MODEL (--ids 1,2,3 | -p TEXT) --logits out.f32 [--device D] [--threads N]\n"
             "  writes float32 logits [n_ids, vocab], row-major");
        return 0;
    }
    if (!o.model) return usage_error("eval: -m MODEL is required", NULL, NULL);
    if (!o.logits_out) return usage_error("eval: --logits FILE is required", NULL, NULL);
    grt_model *m = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    size_t n = 0;
    if (load(&o, o.model, &m)) { rc = fail(NULL); goto out; }
    if ((rc = prompt_ids(&o, m, &ids, &n)) != 0) goto out;
    grt_model_info info;
    grt_model_get_info(m, &info);
    logits = malloc(n * (size_t)info.n_vocab * sizeof *logits);
    if (!logits) { fprintf(stderr, "genrt: out of memory for %zu x %d logits\n", n, info.n_vocab); rc = 1; goto out; }
    if (grt_model_eval(m, ids, n, logits)) { rc = fail("eval"); goto out; }
    FILE *f = fopen(o.logits_out, "wb");
    if (!f || fwrite(logits, sizeof *logits, n * (size_t)info.n_vocab, f) != n * (size_t)info.n_vocab) {
        fprintf(stderr, "genrt: %s: cannot write logits: %s\n", o.logits_out, strerror(errno));
        rc = 1;
    }
    if (f && fclose(f) != 0 && rc == 0) { fprintf(stderr, "genrt: %s: write failed\n", o.logits_out); rc = 1; }
    if (rc == 0) fprintf(stderr, "genrt: wrote %zu x %d logits to %s\n", n, info.n_vocab, o.logits_out);
out:
    free(logits);
    free(ids);
    grt_model_free(m);
    return rc;
}

/* ------------------------------------------------------------ bench */

static int cmd_bench(int argc, char **argv) {
    opts o;
    int rc = parse_opts(argc, argv, &o, NULL);
    if (rc) return rc;
    if (o.help) {
        puts("genrt bench -m MODEL [--random-weights [--dtype f32|f16|bf16|q8_0|q4_0]] [--prompt-len 128] [-n 256]\n"
             "            [--threads N] [--device D] [--graph-capture on|off] [--steps-per-submit K]\n"
             "            [--read-compare] [--trace FILE] [--json]\n"
             "  MODEL may be a config.json (or its directory) with --random-weights. EOS is ignored.\n"
             "  --read-compare: decode again reading each token right after its step is submitted\n"
             "  (waiting on it), next to genrt's read one step behind; one result each (and both in\n"
             "  the trace: 'token latency (lagged read)' / '(immediate read)').");
        return 0;
    }
    if (!o.model) return usage_error("bench: -m MODEL is required", NULL, NULL);
    if (o.dtype && !o.random_weights) return usage_error("bench: --dtype needs --random-weights", NULL, NULL);
    if (o.trace && grt_trace_start(o.trace)) return fail(NULL);
    if (!o.gp.max_new_tokens || argc < 0) o.gp.max_new_tokens = 256;
    bool n_given = false;
    for (int i = 1; i < argc; i++) n_given |= !strcmp(argv[i], "-n") || !strcmp(argv[i], "--max-new-tokens");
    if (!n_given) o.gp.max_new_tokens = 256;
    o.gp.ignore_eos = true;
    o.gp.sampler.temperature = 0;
    grt_model *m = NULL;
    grt_generator *g = NULL;
    int32_t *ids = NULL;
    if (load(&o, o.model, &m)) { rc = fail(NULL); goto out; }
    grt_model_info info;
    grt_model_get_info(m, &info);
    if (!o.gp.max_context) {
        long need = o.prompt_len + o.gp.max_new_tokens;
        o.gp.max_context = (int)(need < 16 ? 16 : need);
    }
    ids = malloc((size_t)o.prompt_len * sizeof *ids);
    if (!ids) { rc = 1; goto out; }
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (long i = 0; i < o.prompt_len; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        ids[i] = (int32_t)(x % (uint64_t)info.n_vocab);
    }
    /* One untimed prefill first, so that one-time costs (lazy kernel
     * loading, pipeline creation) stay out of the prefill figure. */
    if (grt_generator_new(m, &o.gp, &g) || grt_generator_prefill(g, 0, ids, (size_t)o.prompt_len)) {
        rc = fail(NULL);
        goto out;
    }
    for (int mode = 0; mode < (o.read_compare ? 2 : 1); mode++) {
    o.gp.read_immediate = mode;
    grt_generator_free(g);
    g = NULL;
    if (grt_generator_new(m, &o.gp, &g) || grt_generator_prefill(g, 0, ids, (size_t)o.prompt_len)) {
        rc = fail(NULL);
        goto out;
    }
    bool done = false;
    while (!done) {
        int32_t toks[64];
        size_t n;
        if (grt_generator_next(g, NULL, toks, 64, &n, &done)) { rc = fail("generate"); goto out; }
    }
    grt_gen_stats st;
    grt_generator_stats(g, &st);
    int dec = st.n_decoded - 1;
    double dec_tps = st.decode_ms > 0 ? dec / (st.decode_ms / 1e3) : 0;
    double pre_tps = st.prefill_ms > 0 ? st.n_prompt / (st.prefill_ms / 1e3) : 0;
    /* Bytes a decode step reads: the weights once, plus the K and V cache up
     * to the mean position of the run. */
    double mean_ctx = o.prompt_len + dec / 2.0;
    double kv_bytes = 2.0 * info.n_layers * info.n_kv_heads * info.head_dim * 4.0 * mean_ctx;
    double bytes = (double)info.bytes_per_token + kv_bytes;
    double gbs = bytes * dec_tps / 1e9;
    if (o.json) {
        printf("{\"model\":\"%s\",\"arch\":\"%s\",\"weight_type\":\"%s\",\"device\":\"%s\",\"prompt_len\":%ld,"
               "\"n_decode\":%d,\"prefill_tokens_per_s\":%.2f,\"decode_tokens_per_s\":%.2f,\"ms_per_token\":%.4f,"
               "\"weight_bytes_per_token\":%llu,\"kv_bytes_per_token\":%.0f,\"effective_gb_per_s\":%.3f,"
               "\"host_us_per_step\":%.2f,\"blocking_waits\":%d,\"captured\":%s,\"steps\":%d,"
               "\"steps_per_submit\":%d,\"read\":\"%s\",\"token_latency_us\":%.1f}\n",
               o.model, info.arch, info.weight_type, info.device, o.prompt_len, dec, pre_tps, dec_tps,
               dec_tps > 0 ? 1e3 / dec_tps : 0.0, (unsigned long long)info.bytes_per_token, kv_bytes, gbs,
               st.host_us_per_step, st.blocking_waits, st.captured ? "true" : "false", st.n_steps,
               o.gp.steps_per_submit > 1 ? o.gp.steps_per_submit : 1, mode ? "immediate" : "lagged",
               st.token_latency_us);
    } else {
        printf("model        %s (%s, %s, %s)\n", o.model, info.arch, info.weight_type, info.device);
        printf("prompt       %ld tokens, %.1f tokens/s\n", o.prompt_len, pre_tps);
        printf("decode       %d tokens, %.2f tokens/s, %.3f ms/token\n", dec, dec_tps, dec_tps > 0 ? 1e3 / dec_tps : 0);
        printf("bytes/token  %.1f MB weights + %.2f MB KV\n", info.bytes_per_token / 1e6, kv_bytes / 1e6);
        printf("bandwidth    %.2f GB/s effective\n", gbs);
        printf("host         %.2f us/step enqueue, %d blocking waits, capture %s\n", st.host_us_per_step,
               st.blocking_waits, st.captured ? "on" : "off");
        printf("readback     %s: %.1f us from a step's submit to its token (mean)\n",
               mode ? "immediate" : "lagged (one step behind)", st.token_latency_us);
    }
    }
out:
    free(ids);
    grt_generator_free(g);
    grt_model_free(m);
    if (o.trace && grt_trace_stop() && rc == 0) rc = fail(NULL);
    return rc;
}

/* ------------------------------------------------------------ info */

static int cmd_info(int argc, char **argv) {
    opts o;
    const char *path = NULL;
    int rc = parse_opts(argc, argv, &o, &path);
    if (rc) return rc;
    if (o.help) { puts("genrt info MODEL [--random-weights [--dtype T]]"); return 0; }
    if (!path) path = o.model;
    if (!path) return usage_error("info: MODEL is required", NULL, NULL);
    grt_model *m;
    if (load(&o, path, &m)) return fail(NULL);
    grt_model_info i;
    grt_model_get_info(m, &i);
    int ctx = i.max_position > 0 && i.max_position < 4096 ? i.max_position : 4096;
    printf("model          %s\n", path);
    printf("format         %s\n", i.format);
    printf("architecture   %s\n", i.arch);
    printf("weights        %s, %.2f M parameters, %.1f MB\n", i.weight_type, i.n_params / 1e6, i.weight_bytes / 1e6);
    printf("layers         %d, hidden %d, ffn %d, vocab %d\n", i.n_layers, i.n_embd, i.n_ff, i.n_vocab);
    printf("attention      %d heads, %d kv heads, head_dim %d, rotary dims %d%s\n", i.n_heads, i.n_kv_heads,
           i.head_dim, i.rot_dim, i.sliding_window ? "" : "");
    if (i.sliding_window) printf("sliding window %d\n", i.sliding_window);
    printf("rope           theta %g, scaling %s\n", i.rope_theta, i.rope_scaling);
    printf("embeddings     %s\n", i.tied_embeddings ? "tied" : "separate output matrix");
    printf("context        %d trained\n", i.max_position);
    printf("bos / eos      %d /", i.bos_id);
    for (int e = 0; e < i.n_eos; e++) printf(" %d", i.eos_ids[e]);
    printf("\ntokenizer      %s\n", i.tokenizer);
    printf("memory         %.1f MB weights + %.1f MB KV cache at %d tokens\n", i.weight_bytes / 1e6,
           grt_model_kv_bytes(m, 1, ctx) / 1e6, ctx);
    printf("per token      %.1f MB of weights read per decode step\n", i.bytes_per_token / 1e6);
    grt_model_free(m);
    return 0;
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *c = argv[1];
    argc--;
    argv++;
    if (!strcmp(c, "run")) return cmd_run(argc, argv);
    if (!strcmp(c, "eval")) return cmd_eval(argc, argv);
    if (!strcmp(c, "bench")) return cmd_bench(argc, argv);
    if (!strcmp(c, "info")) return cmd_info(argc, argv);
    if (!strcmp(c, "tokenize")) return cmd_tokenize(argc, argv);
    if (!strcmp(c, "detokenize")) return cmd_detokenize(argc, argv);
    if (!strcmp(c, "convert")) return cmd_convert(argc, argv);
    fprintf(stderr, "genrt: unknown command '%s'\n%s", c, USAGE);
    return 2;
}
