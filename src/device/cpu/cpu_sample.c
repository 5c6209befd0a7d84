/* The sampler, as grt_dev_sample's contract says: repetition penalty,
 * temperature, top-k, top-p, min-p with Hugging Face's semantics, then one
 * draw by walking the candidates in order until the cumulative weight
 * exceeds u * total.
 *
 * Order: token a comes before b when x[a] > x[b], or x[a] == x[b] and a < b.
 * Every filter keeps a prefix of that order, so the candidates are either an
 * explicit sorted list (after top-k) or "all tokens up to a cut" (a logit
 * value and id) further limited by min-p. Walking the full vocabulary in
 * order without sorting it: tokens are bucketed by the top 16 bits of an
 * order-preserving key of their logit, bucket weights are summed, and only
 * the bucket where the walk ends is sorted. Weights are expf(x - max) in f32,
 * sums are in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "device/cpu/cpu_internal.h"
#include "philox.h"

enum { N_BUCKETS = 1 << 16 };

typedef struct cand {
    float x;
    int32_t id;
} cand;

static int cand_cmp(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    if (a->x != b->x) return a->x > b->x ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

/* Monotone in x, with -0 and +0 (equal logits) on one key; branch-free,
 * as logit signs are random. */
static inline uint32_t order_key(float x) {
    x += 0.0f; /* -0 + 0 = +0 */
    uint32_t u;
    memcpy(&u, &x, 4);
    uint32_t neg = (uint32_t)((int32_t)u >> 31);
    return u ^ (neg | 0x80000000u);
}

/* The implicit candidate set: tokens at or before (cut_x, cut_id) in order,
 * and with weight >= min_p when min_p > 0. */
typedef struct cut {
    float x;
    int32_t id;
    float min_p;
} cut;

static inline bool in_cut(const cut *c, float x, int32_t id, float e) {
    if (!(x > c->x || (x == c->x && id <= c->id))) return false;
    return c->min_p <= 0 || e >= c->min_p;
}

typedef struct sampler {
    const float *x;    /* [V] processed logits */
    float *e;          /* [V] weights expf(x - xmax) */
    int32_t V;
    float xmax;
    double *mass;      /* [N_BUCKETS] zero between walks */
    int32_t *count;    /* [N_BUCKETS] zero between walks */
    cand *list;        /* [V] */
} sampler;

/* First token in order, among the candidates, whose inclusive cumulative
 * weight exceeds (strict) or reaches frac * total. */
static int32_t walk_all(sampler *S, const cut *c, double frac, bool strict) {
    const float *x = S->x;
    uint32_t bmin = N_BUCKETS, bmax = 0;
    for (int32_t i = 0; i < S->V; i++) {
        float e = S->e[i];
        if (!in_cut(c, x[i], i, e)) continue;
        uint32_t b = order_key(x[i]) >> 16;
        S->mass[b] += e;
        S->count[b]++;
        if (b < bmin) bmin = b;
        if (b > bmax) bmax = b;
    }
    double total = 0;
    for (int64_t b = bmax; b >= (int64_t)bmin; b--) total += S->mass[b];
    double T = frac * total, cum = 0;
    int64_t hit = -1;
    for (int64_t b = bmax; b >= (int64_t)bmin; b--) {
        double next = cum + S->mass[b];
        if (S->count[b] && (strict ? next > T : next >= T)) {
            hit = b;
            break;
        }
        cum = next;
    }
    if (hit < 0) { /* rounding at the very end: the last non-empty bucket */
        for (int64_t b = bmin; b <= (int64_t)bmax; b++)
            if (S->count[b]) { hit = b; break; }
        cum = total - S->mass[hit];
    }
    for (int64_t b = bmin; b <= (int64_t)bmax; b++) S->mass[b] = 0, S->count[b] = 0;
    int n = 0;
    for (int32_t i = 0; i < S->V; i++) {
        if ((int64_t)(order_key(x[i]) >> 16) != hit) continue;
        if (in_cut(c, x[i], i, S->e[i])) S->list[n++] = (cand){x[i], i};
    }
    qsort(S->list, (size_t)n, sizeof(cand), cand_cmp);
    for (int j = 0; j < n; j++) {
        cum += S->e[S->list[j].id];
        if (strict ? cum > T : cum >= T) return S->list[j].id;
    }
    return S->list[n - 1].id;
}

/* The same over an explicit sorted list of n candidates. */
static int walk_list(const sampler *S, const cand *l, int n, double frac, bool strict) {
    double total = 0;
    for (int j = 0; j < n; j++) total += expf(l[j].x - S->xmax);
    double T = frac * total, cum = 0;
    for (int j = 0; j < n; j++) {
        cum += expf(l[j].x - S->xmax);
        if (strict ? cum > T : cum >= T) return j;
    }
    return n - 1;
}

/* Restores the min-heap h[0..k) below j. */
static void sift_down(float *h, int k, int j) {
    for (;;) {
        int m = j, l = 2 * j + 1, r = l + 1;
        if (l < k && h[l] < h[m]) m = l;
        if (r < k && h[r] < h[m]) m = r;
        if (m == j) break;
        float t = h[j]; h[j] = h[m]; h[m] = t;
        j = m;
    }
}

/* The k-th largest value of x[0..V) (1 <= k < V), by a min-heap of k. */
static float kth_largest(const float *x, int32_t V, int k, float *h) {
    for (int i = 0; i < k; i++) h[i] = x[i];
    for (int i = k / 2 - 1; i >= 0; i--) sift_down(h, k, i);
    for (int32_t i = k; i < V; i++) {
        if (!(x[i] > h[0])) continue;
        h[0] = x[i];
        sift_down(h, k, 0);
    }
    return h[0];
}

typedef struct exp_args {
    sampler *S;
} exp_args;

static void exp_task(void *arg, int ith, int nth) {
    sampler *S = ((exp_args *)arg)->S;
    int64_t i0, i1;
    cpu_split(S->V, ith, nth, 64, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) S->e[i] = expf(S->x[i] - S->xmax);
}

static bool is_eos(const grt_sample_cfg *cfg, int32_t t) {
    for (int i = 0; i < cfg->n_eos; i++)
        if (cfg->eos[i] == t) return true;
    return false;
}

void cpu_op_sample(grt_device *dev, const cpu_cmd *c) {
    cpu_ctx *ctx = cpu_ctx_of(dev);
    const grt_sample_cfg *cfg = &c->cfg;
    int V = c->i[0], seq0 = c->i[1], n_seqs = c->i[2], max_ctx = c->i[3], ring_len = c->i[4];
    float *logits = cpu_tptr(&c->t[0]);
    grt_step_state *st = cpu_tptr(&c->t[1]);
    int32_t *hist = cpu_tptr(&c->t[2]), *next_ids = cpu_tptr(&c->t[3]), *ring = cpu_tptr(&c->t[4]);

    size_t list_bytes = (size_t)V * sizeof(cand), seen_bytes = ((size_t)V + 63) / 8;
    uint8_t *scr = cpu_scratch(dev, CPU_SCRATCH_SAMPLE, list_bytes + seen_bytes + (size_t)V * 8 + 128);
    uint8_t *bk = cpu_scratch(dev, CPU_SCRATCH_SAMPLE2, (size_t)N_BUCKETS * 12);
    if (!scr || !bk) return;
    if (ctx->buckets_zeroed != bk) {
        memset(bk, 0, (size_t)N_BUCKETS * 12);
        ctx->buckets_zeroed = bk;
    }
    sampler S = {.V = V, .mass = (double *)bk, .count = (int32_t *)(bk + (size_t)N_BUCKETS * 8),
                 .list = (cand *)scr};
    uint8_t *seen = scr + list_bytes;
    float *heap = (float *)(seen + ((seen_bytes + 3) & ~(size_t)3));
    S.e = heap + V;

    for (int s = seq0; s < seq0 + n_seqs; s++) {
        float *x = logits + (size_t)(s - seq0) * V;
        grt_step_state *ss = &st[s];
        int pos = ss->pos;

        if (cfg->repeat_penalty != 1.0f) {
            int hi = pos < max_ctx ? pos : max_ctx;
            int lo = cfg->repeat_last_n < 0 ? 0 : pos - cfg->repeat_last_n;
            if (lo < 0) lo = 0;
            const int32_t *h = hist + (size_t)s * max_ctx;
            memset(seen, 0, seen_bytes);
            for (int j = lo; j < hi; j++) {
                int32_t t = h[j];
                if (t < 0 || t >= V || (seen[t >> 3] >> (t & 7) & 1)) continue;
                seen[t >> 3] |= (uint8_t)(1u << (t & 7));
                x[t] = x[t] > 0 ? x[t] / cfg->repeat_penalty : x[t] * cfg->repeat_penalty;
            }
        }

        int32_t tok = 0;
        if (cfg->temperature == 0) {
            float best = -INFINITY;
            for (int32_t i = 0; i < V; i++)
                if (x[i] > best) best = x[i], tok = i;
        } else {
            /* NaN never wins; +inf becomes the largest finite value so the
             * weights stay finite. */
            float xmax = -INFINITY;
            for (int32_t i = 0; i < V; i++) {
                float v = x[i] / cfg->temperature;
                if (v != v) v = -INFINITY;
                if (v > 3.4e38f) v = 3.4e38f;
                x[i] = v;
                if (v > xmax) xmax = v;
            }
            S.x = x;
            S.xmax = xmax;
            float u = grt_philox_uniform(cfg->seed, (uint32_t)s, ss->rng_ctr);
            if (cfg->top_k > 0 && cfg->top_k < V) {
                float vk = kth_largest(x, V, cfg->top_k, heap);
                int n = 0;
                for (int32_t i = 0; i < V; i++)
                    if (x[i] >= vk) S.list[n++] = (cand){x[i], i};
                qsort(S.list, (size_t)n, sizeof(cand), cand_cmp);
                if (cfg->top_p < 1.0f) n = walk_list(&S, S.list, n, cfg->top_p, false) + 1;
                if (cfg->min_p > 0) {
                    int m = 1;
                    while (m < n && expf(S.list[m].x - xmax) >= cfg->min_p) m++;
                    n = m;
                }
                tok = S.list[walk_list(&S, S.list, n, u, true)].id;
            } else {
                exp_args ea = {&S};
                if (V >= 16384) cpu_pool_run(ctx->pool, exp_task, &ea);
                else exp_task(&ea, 0, 1);
                cut all = {-INFINITY, V, 0};
                if (cfg->top_p < 1.0f) {
                    int32_t last = walk_all(&S, &all, cfg->top_p, false);
                    all.x = x[last];
                    all.id = last;
                }
                all.min_p = cfg->min_p;
                tok = walk_all(&S, &all, u, true);
            }
        }

        if (pos >= 0 && pos < max_ctx) hist[(size_t)s * max_ctx + pos] = tok;
        next_ids[s] = tok;
        ring[(size_t)s * ring_len + (uint32_t)ss->n_new % (uint32_t)ring_len] = tok;
        ss->n_new++;
        ss->rng_ctr++;
        if (is_eos(cfg, tok)) ss->done = 1;
    }
}
