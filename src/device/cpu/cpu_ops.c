/* Op executors: run one command now, splitting the work over the pool where
 * it is large enough to pay for the hand-off. */
#include <math.h>
#include <string.h>

#include "device/cpu/cpu_internal.h"

/* Below this many multiply-adds (or elements) an op runs on one thread. */
enum { PAR_MIN_WORK = 1 << 15 };

static void run_par(grt_device *dev, cpu_task_fn fn, void *arg, int64_t work) {
    cpu_ctx *x = cpu_ctx_of(dev);
    if (work < PAR_MIN_WORK || cpu_pool_size(x->pool) == 1) fn(arg, 0, 1);
    else cpu_pool_run(x->pool, fn, arg);
}

static grt_step_state *state_of(const grt_tensor *t) { return (grt_step_state *)cpu_tptr(t); }

/* Sequence and position of row r. */
static inline void row_pos(const grt_step_state *st, grt_rows rows, int r, int *seq, int *pos) {
    int tps = rows.n_rows / rows.n_seqs;
    *seq = rows.seq0 + r / tps;
    *pos = st[*seq].pos + r % tps;
}

/* ---------------------------------------------------------------- embed */

static void op_embed(grt_device *dev, const cpu_cmd *c) {
    const grt_tensor *out = &c->t[0], *table = &c->t[1], *ids = &c->t[2];
    int64_t n_vocab = table->ne[0], n_embd = table->ne[1];
    size_t row = grt_row_bytes(table->type, n_embd);
    const int32_t *id = cpu_tptr(ids);
    float *o = cpu_tptr(out);
    for (int64_t r = 0; r < c->n_rows; r++) {
        float *orow = o + r * n_embd;
        if (id[r] < 0 || id[r] >= n_vocab) {
            grt_dev_set_error(dev, GRT_ERR_RANGE, "embed: token id %d outside the vocabulary [0, %lld)",
                              (int)id[r], (long long)n_vocab);
            memset(orow, 0, (size_t)n_embd * 4);
            continue;
        }
        grt_dequantize_row(table->type, (const uint8_t *)cpu_tptr(table) + (size_t)id[r] * row, orow,
                           n_embd);
        if (c->f != 1.0f)
            for (int64_t i = 0; i < n_embd; i++) orow[i] *= c->f;
    }
}

/* ---------------------------------------------------------------- rmsnorm */

typedef struct norm_args {
    const cpu_cmd *c;
    const cpu_kernels *k;
} norm_args;

static void rmsnorm_task(void *arg, int ith, int nth) {
    const norm_args *a = arg;
    const cpu_cmd *c = a->c;
    int64_t dim = c->dim, r0, r1;
    cpu_split(c->n_rows, ith, nth, 1, &r0, &r1);
    const float *in = cpu_tptr(&c->t[1]), *w = cpu_tptr(&c->t[2]);
    float *out = cpu_tptr(&c->t[0]);
    for (int64_t r = r0; r < r1; r++) {
        const float *x = in + r * dim;
        float *y = out + r * dim;
        float ss = a->k->dot(x, x, dim);
        float s = 1.0f / sqrtf(ss / (float)dim + c->f);
        for (int64_t i = 0; i < dim; i++) y[i] = x[i] * s * w[i];
    }
}

static void op_rmsnorm(grt_device *dev, const cpu_cmd *c) {
    norm_args a = {c, cpu_ctx_of(dev)->k};
    run_par(dev, rmsnorm_task, &a, c->n_rows * c->dim);
}

/* ---------------------------------------------------------------- matmul */

typedef struct mm_args {
    cpu_mm m;
    const cpu_kernels *k;
    int8_t *xq;
    float *xd, *xs;
} mm_args;

static void quantize_task(void *arg, int ith, int nth) {
    mm_args *a = arg;
    int64_t r0, r1, K = a->m.K;
    cpu_split(a->m.n_rows, ith, nth, 1, &r0, &r1);
    for (int64_t r = r0; r < r1; r++)
        a->k->quantize_q8(a->m.x + r * K, a->xq + r * K, a->xd + r * (K / GRT_QK),
                          a->xs + r * (K / GRT_QK), K);
}

static void matmul_task(void *arg, int ith, int nth) {
    mm_args *a = arg;
    int64_t n0, n1;
    /* Whole tiles of 16 outputs per thread keep writes to out apart. */
    cpu_split(a->m.N, ith, nth, 16, &n0, &n1);
    if (n0 < n1) a->k->matmul(&a->m, 0, a->m.n_rows, n0, n1);
}

static void op_matmul(grt_device *dev, const cpu_cmd *c) {
    const grt_tensor *out = &c->t[0], *in = &c->t[1], *w = &c->t[2], *bias = &c->t[3];
    mm_args a = {.k = cpu_ctx_of(dev)->k};
    cpu_mm *m = &a.m;
    m->wtype = w->type;
    m->N = w->ne[0];
    m->K = w->ne[1];
    m->n_rows = c->n_rows;
    m->w = cpu_tptr(w);
    m->w_row = grt_row_bytes(w->type, m->K);
    m->x = cpu_tptr(in);
    m->bias = bias->buf ? cpu_tptr(bias) : NULL;
    m->out = cpu_tptr(out);
    m->accumulate = c->flag;
    m->vnni = cpu_ctx_of(dev)->vnni;
    if (w->type == GRT_Q8_0 || w->type == GRT_Q4_0) {
        int64_t nb = m->n_rows * (m->K / GRT_QK);
        size_t bytes = (size_t)(m->n_rows * m->K) + (size_t)nb * 8 + 128;
        uint8_t *s = cpu_scratch(dev, CPU_SCRATCH_MM, bytes);
        if (!s) return;
        a.xd = (float *)s;
        a.xs = a.xd + nb;
        a.xq = (int8_t *)(a.xs + nb);
        run_par(dev, quantize_task, &a, m->n_rows * m->K);
        m->xq = a.xq;
        m->xd = a.xd;
        m->xs = a.xs;
    }
    run_par(dev, matmul_task, &a, m->n_rows * m->K * m->N);
}

/* ---------------------------------------------------------------- rope */

static void op_rope(const cpu_cmd *c) {
    const grt_step_state *st = state_of(&c->t[2]);
    const float *inv_freq = cpu_tptr(&c->t[1]);
    float *x = cpu_tptr(&c->t[0]);
    int n_heads = c->i[0], head_dim = c->i[1], rot_dim = c->i[2], half = rot_dim / 2;
    bool inter = c->flag;
    for (int r = 0; r < c->rows.n_rows; r++) {
        int seq, pos;
        row_pos(st, c->rows, r, &seq, &pos);
        for (int i = 0; i < half; i++) {
            /* The angle rounded to f32 as Hugging Face forms it (an f32
             * product), then cos/sin of that value correctly rounded. */
            float ang = (float)pos * inv_freq[i];
            float cs = (float)cos((double)ang), sn = (float)sin((double)ang);
            int i0 = inter ? 2 * i : i, i1 = inter ? 2 * i + 1 : i + half;
            for (int h = 0; h < n_heads; h++) {
                float *v = x + ((int64_t)r * n_heads + h) * head_dim;
                float a = v[i0], b = v[i1];
                v[i0] = a * cs - b * sn;
                v[i1] = a * sn + b * cs;
            }
        }
    }
}

/* ---------------------------------------------------------------- kv cache */

static void op_kv_store(const cpu_cmd *c) {
    const grt_tensor *kc = &c->t[0], *vc = &c->t[1];
    const grt_step_state *st = state_of(&c->t[4]);
    const float *k = cpu_tptr(&c->t[2]), *v = cpu_tptr(&c->t[3]);
    int kv_dim = c->i[0], max_ctx = c->i[1];
    for (int r = 0; r < c->rows.n_rows; r++) {
        int seq, pos;
        row_pos(st, c->rows, r, &seq, &pos);
        if (pos < 0 || pos >= max_ctx) continue;
        size_t at = ((size_t)seq * max_ctx + pos) * kv_dim;
        const float *kr = k + (size_t)r * kv_dim, *vr = v + (size_t)r * kv_dim;
        if (kc->type == GRT_F32) {
            memcpy((float *)cpu_tptr(kc) + at, kr, (size_t)kv_dim * 4);
        } else {
            uint16_t *d = (uint16_t *)cpu_tptr(kc) + at;
            for (int i = 0; i < kv_dim; i++) d[i] = grt_f32_to_f16(kr[i]);
        }
        if (vc->type == GRT_F32) {
            memcpy((float *)cpu_tptr(vc) + at, vr, (size_t)kv_dim * 4);
        } else {
            uint16_t *d = (uint16_t *)cpu_tptr(vc) + at;
            for (int i = 0; i < kv_dim; i++) d[i] = grt_f32_to_f16(vr[i]);
        }
    }
}

/* ---------------------------------------------------------------- attention */

typedef struct attn_args {
    const cpu_cmd *c;
    const cpu_kernels *k;
    float *scratch; /* [nth][max_ctx + head_dim] */
    int nth;
} attn_args;

/* Cache rows in f16 are widened into tmp first. */
static const float *cache_row(const grt_tensor *t, size_t at, int n, float *tmp) {
    if (t->type == GRT_F32) return (const float *)cpu_tptr(t) + at;
    const uint16_t *s = (const uint16_t *)cpu_tptr(t) + at;
    for (int i = 0; i < n; i++) tmp[i] = grt_f16_to_f32(s[i]);
    return tmp;
}

static void attn_task(void *arg, int ith, int nth) {
    const attn_args *a = arg;
    const cpu_cmd *c = a->c;
    const grt_step_state *st = state_of(&c->t[4]);
    const float *q = cpu_tptr(&c->t[1]);
    float *out = cpu_tptr(&c->t[0]);
    const grt_tensor *kc = &c->t[2], *vc = &c->t[3];
    int n_heads = c->i[0], n_kv = c->i[1], hd = c->i[2], max_ctx = c->i[3], window = c->i[4];
    int group = n_heads / n_kv, kv_dim = n_kv * hd;
    float scale = c->f;
    float *sc = a->scratch + (size_t)ith * ((size_t)max_ctx + 2 * (size_t)hd);
    float *tmp = sc + max_ctx;
    int64_t t0, t1;
    cpu_split((int64_t)c->rows.n_rows * n_heads, ith, nth, 1, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        int r = (int)(t / n_heads), h = (int)(t % n_heads), kvh = h / group;
        int seq, pos;
        row_pos(st, c->rows, r, &seq, &pos);
        int hi = pos < max_ctx - 1 ? pos : max_ctx - 1;
        int lo = window > 0 && pos - window + 1 > 0 ? pos - window + 1 : 0;
        const float *qh = q + ((size_t)r * n_heads + h) * hd;
        float *oh = out + ((size_t)r * n_heads + h) * hd;
        memset(oh, 0, (size_t)hd * 4);
        if (hi < lo) continue;
        size_t base = (size_t)seq * max_ctx * kv_dim + (size_t)kvh * hd;
        float mx = -INFINITY;
        for (int j = lo; j <= hi; j++) {
            const float *kj = cache_row(kc, base + (size_t)j * kv_dim, hd, tmp);
            float s = a->k->dot(qh, kj, hd) * scale;
            sc[j - lo] = s;
            if (s > mx) mx = s;
        }
        float sum = 0;
        for (int j = lo; j <= hi; j++) {
            float e = expf(sc[j - lo] - mx);
            sc[j - lo] = e;
            sum += e;
        }
        for (int j = lo; j <= hi; j++) {
            const float *vj = cache_row(vc, base + (size_t)j * kv_dim, hd, tmp);
            a->k->scale_add(oh, 1.0f, vj, sc[j - lo], hd);
        }
        float inv = 1.0f / sum;
        for (int i = 0; i < hd; i++) oh[i] *= inv;
    }
}

static void op_attention(grt_device *dev, const cpu_cmd *c) {
    cpu_ctx *x = cpu_ctx_of(dev);
    int nth = cpu_pool_size(x->pool);
    size_t per = (size_t)c->i[3] + 2 * (size_t)c->i[2];
    float *s = cpu_scratch(dev, CPU_SCRATCH_ATTN, (size_t)nth * per * 4);
    if (!s) return;
    attn_args a = {c, x->k, s, nth};
    /* work: rows * heads * the context each row reads */
    const grt_step_state *st = state_of(&c->t[4]);
    int64_t ctx = st[c->rows.seq0].pos + 1;
    run_par(dev, attn_task, &a, (int64_t)c->rows.n_rows * c->i[0] * c->i[2] * ctx);
}

/* ---------------------------------------------------------------- glu */

static void glu_task(void *arg, int ith, int nth) {
    const cpu_cmd *c = arg;
    int64_t i0, i1;
    cpu_split(c->n_rows * c->dim, ith, nth, 16, &i0, &i1);
    const float *g = cpu_tptr(&c->t[1]), *u = cpu_tptr(&c->t[2]);
    float *o = cpu_tptr(&c->t[0]);
    if (c->act == GRT_ACT_SILU) {
        for (int64_t i = i0; i < i1; i++) o[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
    } else {
        const float k0 = 0.7978845608028654f; /* sqrt(2 / pi) */
        for (int64_t i = i0; i < i1; i++) {
            float x = g[i];
            o[i] = 0.5f * x * (1.0f + tanhf(k0 * (x + 0.044715f * x * x * x))) * u[i];
        }
    }
}

/* ---------------------------------------------------------------- state */

static void op_advance(const cpu_cmd *c) {
    grt_step_state *st = state_of(&c->t[0]);
    int tps = c->rows.n_rows / c->rows.n_seqs;
    for (int s = c->rows.seq0; s < c->rows.seq0 + c->rows.n_seqs; s++) st[s].pos += tps;
}

/* ---------------------------------------------------------------- dispatch */

void cpu_exec(grt_device *dev, const cpu_cmd *c) {
    switch (c->op) {
    case CPU_WRITE: memcpy((uint8_t *)c->dst->ptr + c->off, c->data, c->n); break;
    case CPU_COPY:
        memmove((uint8_t *)c->dst->ptr + c->off, (const uint8_t *)c->src->ptr + c->off2, c->n);
        break;
    case CPU_FILL: {
        uint8_t *d = (uint8_t *)c->dst->ptr + c->off;
        for (size_t i = 0; i < c->n; i += 4) memcpy(d + i, &c->pattern, 4);
        break;
    }
    case CPU_EMBED: op_embed(dev, c); break;
    case CPU_RMSNORM: op_rmsnorm(dev, c); break;
    case CPU_MATMUL: op_matmul(dev, c); break;
    case CPU_ROPE: op_rope(c); break;
    case CPU_KV_STORE: op_kv_store(c); break;
    case CPU_ATTENTION: op_attention(dev, c); break;
    case CPU_GLU: run_par(dev, glu_task, (void *)c, c->n_rows * c->dim * 8); break;
    case CPU_ADVANCE: op_advance(c); break;
    case CPU_SAMPLE: cpu_op_sample(dev, c); break;
    }
}
