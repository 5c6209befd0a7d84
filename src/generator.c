/* The generator: prompt -> prefill -> captured decode loop -> token stream.
 *
 * Token k of every sequence is sampled by step k: step 0 is the end of the
 * sequence's prefill, step k >= 1 a decode step replayed from the captured
 * graph. The sampled token goes to the next step's input and to slot
 * k % ring_len of the host-visible ring; fence[k % ring_len] is recorded
 * after step k. The host enqueues step k + 1 before it reads token k, and
 * reads only tokens whose fence reports done, so it never waits on the step
 * it just submitted. Stop rules are checked on tokens as they are read;
 * steps enqueued past a stop are discarded. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"
#include "trace.h"

#define RING_LEN 64
#define DEFAULT_MAX_CONTEXT 4096

typedef struct seq_state {
    int n_prompt;            /* 0 until prefilled */
    int n_out;               /* tokens returned */
    grt_stop_reason stop;
    grt_detok *detok;        /* stop strings only */
    char *text;              /* decoded text so far (stop strings only) */
    size_t text_len, text_cap;
} seq_state;

struct grt_generator {
    grt_model *model;
    grt_gen_params p;
    grt_sample_cfg scfg;
    grt_ctx *ctx;
    seq_state *seqs;         /* [n_seqs] */
    char **stops;            /* copies of the stop strings */
    grt_fence *fences[RING_LEN];
    grt_fence *prefill_fence[2];
    grt_graph *graph;
    bool use_capture;
    bool started;
    int64_t n_target;        /* tokens per sequence the loop will sample at most */
    int64_t next_step;       /* next decode step to enqueue (token index) */
    int64_t n_read;          /* tokens read back per sequence */
    int lag;                 /* steps enqueued ahead of the oldest unread token */
    int K;                   /* steps per submit: a fence ends each group */
    bool immediate;          /* read each token as soon as its step is submitted */
    int64_t recorded;        /* tokens 0..recorded have a fence recorded after them */
    int64_t prev_recorded;   /* the same, one fence earlier */
    int64_t cover[RING_LEN]; /* token t: the step whose fence covers it (fences[cover % RING_LEN]) */
    double t_submit[RING_LEN]; /* token t: host time its covering fence was recorded */
    double latency_us_sum;
    grt_status err;
    grt_gen_stats st;
    double t_decode0, t_dev_cursor;
    double host_enqueue_us;
};

grt_gen_params grt_gen_params_default(void) {
    grt_gen_params p;
    memset(&p, 0, sizeof p);
    p.sampler.temperature = 0.8f;
    p.sampler.top_k = 40;
    p.sampler.top_p = 0.95f;
    p.sampler.min_p = 0.05f;
    p.sampler.repeat_penalty = 1.0f;
    p.sampler.repeat_last_n = 64;
    p.sampler.seed = 0;
    p.n_seqs = 1;
    p.max_new_tokens = 128;
    p.graph_capture = 1;
    return p;
}

static int default_context(const grt_model *m) {
    int mp = m->cfg.max_position;
    return (mp > 0 && mp < DEFAULT_MAX_CONTEXT) ? mp : DEFAULT_MAX_CONTEXT;
}

grt_status grt_gen_params_check(const grt_model *m, const grt_gen_params *p) {
    const grt_sampler_params *s = &p->sampler;
    if (!(s->temperature >= 0.0f && s->temperature <= 1000.0f))
        return grt_fail(GRT_ERR_INVALID_ARG, "--temp %g: expected a value in [0, 1000] (0 = greedy)", s->temperature);
    if (s->top_k < 0) return grt_fail(GRT_ERR_INVALID_ARG, "--top-k %d: expected >= 0 (0 = off)", s->top_k);
    if (!(s->top_p > 0.0f && s->top_p <= 1.0f))
        return grt_fail(GRT_ERR_INVALID_ARG, "--top-p %g: expected a value in (0, 1]", s->top_p);
    if (!(s->min_p >= 0.0f && s->min_p < 1.0f))
        return grt_fail(GRT_ERR_INVALID_ARG, "--min-p %g: expected a value in [0, 1)", s->min_p);
    if (!(s->repeat_penalty > 0.0f && s->repeat_penalty <= 100.0f))
        return grt_fail(GRT_ERR_INVALID_ARG, "--repeat-penalty %g: expected a value in (0, 100]", s->repeat_penalty);
    if (s->repeat_last_n < -1)
        return grt_fail(GRT_ERR_INVALID_ARG, "--repeat-last-n %d: expected -1 (all) or >= 0", s->repeat_last_n);
    if (p->n_seqs < 1 || p->n_seqs > 256)
        return grt_fail(GRT_ERR_INVALID_ARG, "n_seqs %d: expected 1 to 256", p->n_seqs);
    if (p->max_new_tokens < 1 || p->max_new_tokens > (1 << 24))
        return grt_fail(GRT_ERR_INVALID_ARG, "-n %d: expected 1 to %d new tokens", p->max_new_tokens, 1 << 24);
    if (p->max_context < 0 || p->max_context > (1 << 22))
        return grt_fail(GRT_ERR_INVALID_ARG, "--max-context %d: expected 0 (model default) to %d", p->max_context,
                        1 << 22);
    if (p->max_context == 1)
        return grt_fail(GRT_ERR_INVALID_ARG, "--max-context 1: leaves no room for a generated token");
    if (p->n_stop < 0 || (p->n_stop > 0 && !p->stop_strings) || p->n_stop > 64)
        return grt_fail(GRT_ERR_INVALID_ARG, "stop strings: %d given, expected 0 to 64", p->n_stop);
    for (int i = 0; i < p->n_stop; i++)
        if (!p->stop_strings[i] || !p->stop_strings[i][0])
            return grt_fail(GRT_ERR_INVALID_ARG, "--stop #%d: empty stop string", i + 1);
    if (p->n_stop > 0 && (!m || !m->tok))
        return grt_fail(GRT_ERR_INVALID_ARG, "--stop needs a tokenizer, and this model has none");
    if (p->prefill_chunk < 0 || p->prefill_chunk > 16384)
        return grt_fail(GRT_ERR_INVALID_ARG, "--prefill-chunk %d: expected 0 (default) to 16384", p->prefill_chunk);
    if (p->readback_every < 0 || p->readback_every > RING_LEN / 2 - 1)
        return grt_fail(GRT_ERR_INVALID_ARG, "--readback-every %d: expected 0 to %d", p->readback_every,
                        RING_LEN / 2 - 1);
    if (p->graph_capture < -1 || p->graph_capture > 1)
        return grt_fail(GRT_ERR_INVALID_ARG, "--graph-capture: expected on or off");
    if (p->steps_per_submit < 0 || p->steps_per_submit > 16)
        return grt_fail(GRT_ERR_INVALID_ARG, "--steps-per-submit %d: expected 0 to 16", p->steps_per_submit);
    if (p->read_immediate < 0 || p->read_immediate > 1)
        return grt_fail(GRT_ERR_INVALID_ARG, "read_immediate %d: expected 0 or 1", p->read_immediate);
    if (p->read_immediate && (p->steps_per_submit > 1 || p->readback_every > 1))
        return grt_fail(GRT_ERR_INVALID_ARG,
                        "read_immediate reads every step as it is submitted: it excludes --steps-per-submit and "
                        "--readback-every above 1");
    return GRT_OK;
}

const char *grt_stop_reason_str(grt_stop_reason r) {
    switch (r) {
    case GRT_STOP_NONE: return "running";
    case GRT_STOP_EOS: return "end of sequence token";
    case GRT_STOP_STRING: return "stop string";
    case GRT_STOP_MAX_TOKENS: return "max new tokens";
    case GRT_STOP_CONTEXT: return "context full";
    case GRT_STOP_ERROR: return "error";
    }
    return "unknown";
}

grt_status grt_generator_new(grt_model *m, const grt_gen_params *params, grt_generator **out) {
    *out = NULL;
    if (!m) return grt_fail(GRT_ERR_INVALID_ARG, "grt_generator_new: model is NULL");
    grt_gen_params p = params ? *params : grt_gen_params_default();
    grt_status s = grt_gen_params_check(m, &p);
    if (s) return s;
    if (p.max_context == 0) p.max_context = default_context(m);
    if (p.prefill_chunk == 0) p.prefill_chunk = 512;
    if (p.prefill_chunk > p.max_context) p.prefill_chunk = p.max_context;
    const char *env = getenv("GENRT_GRAPH_CAPTURE");
    if (p.graph_capture == -1) p.graph_capture = 1;
    if (env && (strcmp(env, "0") == 0 || strcmp(env, "off") == 0)) p.graph_capture = 0;

    grt_generator *g = grt_calloc(1, sizeof *g);
    if (!g) return GRT_ERR_NO_MEMORY;
    g->model = m;
    g->p = p;
    g->p.stop_strings = NULL;
    g->use_capture = p.graph_capture == 1;
    g->K = p.steps_per_submit > 1 ? p.steps_per_submit : 1;
    g->immediate = p.read_immediate == 1;
    g->lag = (p.readback_every > 1 ? p.readback_every : 1) + 1;
    if (g->lag < 2 * g->K) g->lag = 2 * g->K; /* a whole group queued behind the one being read */
    if (g->immediate) g->lag = 0;

    grt_sample_cfg *c = &g->scfg;
    c->temperature = p.sampler.temperature;
    c->top_k = p.sampler.top_k;
    c->top_p = p.sampler.top_p;
    c->min_p = p.sampler.min_p;
    c->repeat_penalty = p.sampler.repeat_penalty;
    c->repeat_last_n = p.sampler.repeat_last_n;
    c->seed = p.sampler.seed;
    c->n_eos = m->cfg.n_eos < 8 ? m->cfg.n_eos : 8;
    memcpy(c->eos, m->cfg.eos_ids, (size_t)c->n_eos * sizeof(int32_t));

    int rows = p.prefill_chunk > p.n_seqs ? p.prefill_chunk : p.n_seqs;
    g->seqs = grt_calloc((size_t)p.n_seqs, sizeof *g->seqs);
    g->stops = grt_calloc((size_t)p.n_stop + 1, sizeof *g->stops);
    if (!g->seqs || !g->stops) { s = GRT_ERR_NO_MEMORY; goto fail; }
    for (int i = 0; i < p.n_stop; i++) {
        g->stops[i] = strdup(params->stop_strings[i]);
        if (!g->stops[i]) { s = grt_fail(GRT_ERR_NO_MEMORY, "out of memory"); goto fail; }
    }
    for (int i = 0; i < p.n_seqs && p.n_stop > 0; i++)
        if ((s = grt_detok_new(m->tok, &g->seqs[i].detok)) != GRT_OK) goto fail;
    if ((s = grt_ctx_new(m, p.n_seqs, p.max_context, rows, p.n_seqs, RING_LEN, &g->ctx)) != GRT_OK) goto fail;
    for (int i = 0; i < RING_LEN; i++)
        if ((s = grt_dev_fence_new(m->dev, &g->fences[i])) != GRT_OK) goto fail;
    for (int i = 0; i < 2; i++)
        if ((s = grt_dev_fence_new(m->dev, &g->prefill_fence[i])) != GRT_OK) goto fail;
    if ((s = grt_dev_sync(m->dev)) != GRT_OK) goto fail;
    g->st.load_ms = m->load_ms;
    *out = g;
    return GRT_OK;
fail:
    grt_generator_free(g);
    return s;
}

void grt_generator_free(grt_generator *g) {
    if (!g) return;
    grt_device *dev = g->model->dev;
    if (g->started) grt_dev_sync(dev);
    for (int i = 0; i < RING_LEN; i++) grt_dev_fence_free(dev, g->fences[i]);
    for (int i = 0; i < 2; i++) grt_dev_fence_free(dev, g->prefill_fence[i]);
    grt_dev_graph_free(dev, g->graph);
    grt_ctx_free(g->ctx);
    if (g->seqs)
        for (int i = 0; i < g->p.n_seqs; i++) {
            grt_detok_free(g->seqs[i].detok);
            free(g->seqs[i].text);
        }
    free(g->seqs);
    if (g->stops)
        for (int i = 0; i < g->p.n_stop; i++) free(g->stops[i]);
    free(g->stops);
    free(g);
}

static grt_status set_error(grt_generator *g, grt_status s) {
    g->err = s;
    for (int i = 0; i < g->p.n_seqs; i++)
        if (g->seqs[i].stop == GRT_STOP_NONE) g->seqs[i].stop = GRT_STOP_ERROR;
    return s;
}

grt_status grt_generator_prefill(grt_generator *g, int seq, const int32_t *ids, size_t n_ids) {
    if (!g) return grt_fail(GRT_ERR_INVALID_ARG, "grt_generator_prefill: generator is NULL");
    if (g->err) return grt_fail(g->err, "generator is in an error state");
    if (seq < 0 || seq >= g->p.n_seqs)
        return grt_fail(GRT_ERR_INVALID_ARG, "sequence %d: expected 0 to %d", seq, g->p.n_seqs - 1);
    if (g->started) return grt_fail(GRT_ERR_INVALID_ARG, "prefill after generation started");
    if (g->seqs[seq].n_prompt) return grt_fail(GRT_ERR_INVALID_ARG, "sequence %d already has a prompt", seq);
    if (!ids || n_ids == 0) return grt_fail(GRT_ERR_INVALID_ARG, "empty prompt: at least one token is needed");
    if (n_ids >= (size_t)g->p.max_context)
        return grt_fail(GRT_ERR_RANGE, "prompt of %zu tokens leaves no room in a context of %d tokens "
                                       "(raise --max-context)", n_ids, g->p.max_context);
    grt_model *m = g->model;
    grt_device *dev = m->dev;
    grt_ctx *c = g->ctx;
    grt_status s = grt_model_check_ids(m, ids, n_ids);
    if (s) return s;

    double t0 = grt_now_us();
    grt_step_state st;
    memset(&st, 0, sizeof st);
    grt_dev_write(dev, c->state, (size_t)seq * sizeof st, &st, sizeof st);
    grt_dev_write(dev, c->history, (size_t)seq * (size_t)c->max_ctx * 4, ids, n_ids * 4);
    grt_dev_fence_record(dev, g->prefill_fence[0]);
    grt_tensor state = grt_ctx_state(c), hist = grt_ctx_history(c), next = grt_ctx_next_ids(c);
    grt_tensor ring = grt_ctx_ring(c), logits = grt_ctx_logits(c, 1);
    for (size_t i = 0; i < n_ids; i += (size_t)g->p.prefill_chunk) {
        size_t left = n_ids - i;
        int n = (int)(left < (size_t)g->p.prefill_chunk ? left : (size_t)g->p.prefill_chunk);
        bool last = i + (size_t)n == n_ids;
        grt_dev_write(dev, c->ids, 0, ids + i, (size_t)n * 4);
        grt_tensor t = grt_ctx_ids(c, n);
        grt_forward(c, &t, (grt_rows){.n_rows = n, .seq0 = seq, .n_seqs = 1},
                    last ? GRT_LOGITS_LAST : GRT_LOGITS_NONE);
    }
    grt_dev_sample(dev, &logits, m->cfg.n_vocab, &g->scfg, &state, seq, 1, &hist, c->max_ctx, &next, &ring,
                   c->ring_len);
    grt_dev_fence_record(dev, g->prefill_fence[1]);
    /* Prefill is eager and not on the per-token path: wait, so its time is
     * measured and its errors surface here. */
    if ((s = grt_dev_fence_wait(dev, g->prefill_fence[1])) == GRT_OK) s = grt_dev_status(dev);
    if (s) return set_error(g, s);
    double t1 = grt_now_us(), dev_ms;
    g->st.prefill_ms += (t1 - t0) / 1e3;
    g->st.n_prompt += (int)n_ids;
    g->seqs[seq].n_prompt = (int)n_ids;
    char args[64];
    snprintf(args, sizeof args, "{\"seq\":%d,\"tokens\":%zu}", seq, n_ids);
    grt_trace_span("prefill", "prefill", GRT_TRACE_HOST, t0, t1 - t0, args);
    if (grt_dev_fence_elapsed_ms(dev, g->prefill_fence[0], g->prefill_fence[1], &dev_ms))
        grt_trace_span("prefill", "device", GRT_TRACE_DEVICE, t1 - dev_ms * 1e3, dev_ms * 1e3, args);
    g->t_dev_cursor = t1;
    return GRT_OK;
}

/* Enqueue decode step k: a replay of the captured graph, or the same ops
 * eagerly when capture is off. */
static void enqueue_step(grt_generator *g) {
    grt_model *m = g->model;
    grt_device *dev = m->dev;
    grt_ctx *c = g->ctx;
    double t0 = grt_now_us();
    if (g->use_capture && !g->graph) {
        if (grt_dev_capture_begin(dev) != GRT_OK) {
            g->use_capture = false; /* the backend cannot capture: stay eager */
        }
    }
    if (!g->use_capture || !g->graph) {
        int B = g->p.n_seqs;
        grt_tensor ids = grt_ctx_next_ids(c), state = grt_ctx_state(c), hist = grt_ctx_history(c);
        grt_tensor ring = grt_ctx_ring(c), logits = grt_ctx_logits(c, B);
        grt_forward(c, &ids, (grt_rows){.n_rows = B, .seq0 = 0, .n_seqs = B}, GRT_LOGITS_LAST);
        grt_dev_sample(dev, &logits, m->cfg.n_vocab, &g->scfg, &state, 0, B, &hist, c->max_ctx, &ids, &ring,
                       c->ring_len);
    }
    if (g->use_capture && !g->graph) {
        grt_status s = grt_dev_capture_end(dev, &g->graph);
        if (s) {
            set_error(g, s);
            return;
        }
        g->st.captured = true;
    }
    if (g->graph) grt_dev_graph_launch(dev, g->graph);
    int64_t k = g->next_step++;
    /* a fence (and with it a submit) ends each group of K steps and the last step */
    if (k % g->K == 0 || k + 1 >= g->n_target) {
        grt_dev_fence_record(dev, g->fences[k % RING_LEN]);
        double ts = grt_now_us();
        for (int64_t t = g->recorded + 1; t <= k; t++) {
            g->cover[t % RING_LEN] = k;
            g->t_submit[t % RING_LEN] = ts;
        }
        g->prev_recorded = g->recorded;
        g->recorded = k;
    }
    g->st.n_steps++;
    double t1 = grt_now_us();
    g->host_enqueue_us += t1 - t0;
    if (grt_trace_on()) {
        char args[48];
        snprintf(args, sizeof args, "{\"step\":%lld}", (long long)k);
        grt_trace_span("enqueue step", "decode", GRT_TRACE_HOST, t0, t1 - t0, args);
    }
}

static bool all_stopped(const grt_generator *g) {
    for (int i = 0; i < g->p.n_seqs; i++)
        if (g->seqs[i].stop == GRT_STOP_NONE) return false;
    return true;
}

/* Apply the stop rules to token `tok` of sequence i; returns whether the token
 * is delivered. */
static bool accept_token(grt_generator *g, int i, int32_t tok) {
    seq_state *q = &g->seqs[i];
    if (q->stop != GRT_STOP_NONE) return false;
    q->n_out++;
    if (!g->p.ignore_eos) {
        for (int e = 0; e < g->scfg.n_eos; e++)
            if (tok == g->scfg.eos[e]) q->stop = GRT_STOP_EOS;
    }
    if (q->stop == GRT_STOP_NONE && g->p.n_stop > 0) {
        const char *piece;
        size_t len;
        if (grt_detok_push(q->detok, tok, &piece, &len) == GRT_OK && len > 0) {
            if (q->text_len + len + 1 > q->text_cap) {
                size_t cap = (q->text_len + len + 1) * 2;
                char *t = realloc(q->text, cap);
                if (t) { q->text = t; q->text_cap = cap; }
            }
            if (q->text_len + len + 1 <= q->text_cap) {
                size_t before = q->text_len;
                memcpy(q->text + q->text_len, piece, len);
                q->text_len += len;
                q->text[q->text_len] = 0;
                for (int s = 0; s < g->p.n_stop; s++) {
                    size_t sl = strlen(g->stops[s]);
                    size_t from = before >= sl ? before - sl + 1 : 0; /* matches ending in the new piece */
                    if (q->text_len >= sl && memmem(q->text + from, q->text_len - from, g->stops[s], sl))
                        q->stop = GRT_STOP_STRING;
                }
            }
        }
    }
    if (q->stop == GRT_STOP_NONE && q->n_out >= g->p.max_new_tokens) q->stop = GRT_STOP_MAX_TOKENS;
    if (q->stop == GRT_STOP_NONE && q->n_out >= g->n_target) q->stop = GRT_STOP_CONTEXT;
    return true;
}

static grt_status start(grt_generator *g) {
    for (int i = 0; i < g->p.n_seqs; i++)
        if (!g->seqs[i].n_prompt)
            return grt_fail(GRT_ERR_INVALID_ARG, "sequence %d has no prompt: call grt_generator_prefill first", i);
    int64_t room = INT64_MAX;
    for (int i = 0; i < g->p.n_seqs; i++) {
        int64_t r = (int64_t)g->p.max_context - g->seqs[i].n_prompt;
        if (r < room) room = r;
    }
    /* Token k sits at position n_prompt + k, which must be < max_context. */
    g->n_target = room < g->p.max_new_tokens ? room : g->p.max_new_tokens;
    g->started = true;
    g->next_step = 1;
    g->n_read = 0;
    grt_dev_fence_record(g->model->dev, g->fences[0]);
    g->t_decode0 = grt_now_us();
    g->cover[0] = 0;
    g->t_submit[0] = g->t_decode0;
    g->recorded = 0;
    g->prev_recorded = -1;
    return GRT_OK;
}

grt_status grt_generator_next(grt_generator *g, int *seqs, int32_t *tokens, size_t cap, size_t *n,
                              bool *done) {
    if (n) *n = 0;
    if (done) *done = false;
    if (!g || !tokens || !n || !done || cap == 0)
        return grt_fail(GRT_ERR_INVALID_ARG, "grt_generator_next: NULL argument or zero capacity");
    if (g->err) return grt_fail(g->err, "generator is in an error state");
    if (cap < (size_t)g->p.n_seqs)
        return grt_fail(GRT_ERR_INVALID_ARG, "grt_generator_next: capacity %zu is below the %d sequences", cap,
                        g->p.n_seqs);
    grt_status s;
    if (!g->started && (s = start(g)) != GRT_OK) return s;
    grt_device *dev = g->model->dev;
    grt_ctx *c = g->ctx;
    const int B = g->p.n_seqs;
    const int batch = g->p.readback_every > 1 ? g->p.readback_every : 1;
    size_t got = 0;

    while (!all_stopped(g)) {
        /* Keep the queue ahead of the reader. */
        while (g->next_step < g->n_target && g->next_step - g->n_read <= g->lag && !all_stopped(g)) {
            enqueue_step(g);
            if (g->err) return g->err;
        }
        /* Read token n_read once a later fence is recorded (or none will be),
         * in batches of `batch` tokens; immediate: once its own is. */
        bool tail = g->next_step >= g->n_target;
        int64_t ready = (tail || g->immediate ? g->recorded : g->prev_recorded) + 1 - g->n_read;
        if (ready <= 0 || (!tail && ready < batch)) {
            if (g->next_step < g->n_target) continue; /* room to enqueue: loop */
        }
        if (got + (size_t)B > cap) break;
        grt_fence *f = g->fences[g->cover[g->n_read % RING_LEN] % RING_LEN];
        if (!grt_dev_fence_done(dev, f)) {
            double t0 = grt_now_us();
            if (g->n_read + 1 >= g->next_step) g->st.blocking_waits++; /* waiting on the queue's tail */
            if ((s = grt_dev_fence_wait(dev, f)) != GRT_OK) return set_error(g, s);
            grt_trace_span("wait", "readback", GRT_TRACE_HOST, t0, grt_now_us() - t0, NULL);
        }
        if ((s = grt_dev_status(dev)) != GRT_OK) return set_error(g, s);
        double t0 = grt_now_us();
        int slot = (int)(g->n_read % RING_LEN);
        for (int i = 0; i < B; i++) {
            int32_t tok;
            s = grt_dev_read_completed(dev, c->ring, ((size_t)i * (size_t)c->ring_len + (size_t)slot) * 4, &tok, 4);
            if (s) return set_error(g, s);
            if (accept_token(g, i, tok)) {
                if (seqs) seqs[got] = i;
                tokens[got++] = tok;
                g->st.n_decoded++;
            }
        }
        double t2 = grt_now_us(), ts = g->t_submit[g->n_read % RING_LEN];
        g->latency_us_sum += t2 - ts;
        if (grt_trace_on()) {
            double ms;
            char args[48];
            snprintf(args, sizeof args, "{\"token\":%lld}", (long long)g->n_read);
            grt_trace_span("read token", "readback", GRT_TRACE_HOST, t0, t2 - t0, args);
            grt_trace_span(g->immediate ? "token latency (immediate read)" : "token latency (lagged read)",
                           "latency", GRT_TRACE_HOST, ts, t2 - ts, args);
            int64_t cv = g->cover[g->n_read % RING_LEN];
            /* the device span of each fence's group, at its first token */
            if (g->n_read > 0 && g->cover[(g->n_read - 1) % RING_LEN] != cv &&
                grt_dev_fence_elapsed_ms(dev, g->fences[g->cover[(g->n_read - 1) % RING_LEN] % RING_LEN], f,
                                         &ms)) {
                grt_trace_span(g->K > 1 ? "steps" : "step", "device", GRT_TRACE_DEVICE, g->t_dev_cursor,
                               ms * 1e3, args);
                g->t_dev_cursor += ms * 1e3;
            }
        }
        g->n_read++;
        if (g->n_read >= g->n_target) {
            for (int i = 0; i < B; i++)
                if (g->seqs[i].stop == GRT_STOP_NONE) g->seqs[i].stop = GRT_STOP_CONTEXT;
        }
        if (got > 0 && (g->n_read % batch == 0 || all_stopped(g))) break;
    }
    if (all_stopped(g)) {
        if ((s = grt_dev_sync(dev)) != GRT_OK) return set_error(g, s); /* drain discarded steps */
        g->st.decode_ms = (grt_now_us() - g->t_decode0) / 1e3;
        *done = true;
    }
    *n = got;
    return GRT_OK;
}

grt_stop_reason grt_generator_stop_reason(const grt_generator *g, int seq) {
    if (!g || seq < 0 || seq >= g->p.n_seqs) return GRT_STOP_ERROR;
    return g->seqs[seq].stop;
}

void grt_generator_stats(const grt_generator *g, grt_gen_stats *st) {
    *st = g->st;
    if (g->started && !all_stopped(g)) st->decode_ms = (grt_now_us() - g->t_decode0) / 1e3;
    st->host_us_per_step = g->st.n_steps ? g->host_enqueue_us / g->st.n_steps : 0;
    st->token_latency_us = g->n_read ? g->latency_us_sum / (double)g->n_read : 0;
}
