/* The CPU backend's ops against naive references written here (double
 * accumulation), on every ISA path this machine runs (GENRT_CPU_ISA) and
 * with 1, 2 and 3 threads. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "device/cpu/cpu_internal.h"
#include "device/device.h"
#include "dtype.h"
#include "error.h"
#include "philox.h"
#include "testutil.h"

static grt_device *g_dev;

/* ---------------------------------------------------------------- helpers */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd_u32(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 32);
}
/* uniform in [-1, 1) */
static float rnd(void) { return (float)((double)rnd_u32() / 2147483648.0 - 1.0); }
static void fill_rnd(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = rnd() * scale;
}

static grt_buffer *mkbuf(size_t n) {
    grt_buffer *b = NULL;
    grt_status s = grt_dev_buffer_new(g_dev, n, GRT_BUF_DEVICE, &b);
    if (s != GRT_OK) {
        printf("buffer_new failed: %s\n", grt_last_error());
        exit(2);
    }
    return b;
}

static grt_tensor view(grt_buffer *b, size_t off, grt_dtype t, int64_t rows, int64_t cols) {
    int64_t ne[2] = {rows, cols};
    return grt_tensor_view(b, off, t, 2, ne);
}

/* A buffer holding host data at byte offset `off`, with the tensor view. */
static grt_tensor upload(const void *data, size_t n, size_t off, grt_dtype t, int64_t rows,
                         int64_t cols, grt_buffer **buf) {
    *buf = mkbuf(off + n + 64);
    grt_dev_fill(g_dev, *buf, 0, (off + n + 64) & ~(size_t)3, 0x7fc00001u); /* NaN garbage */
    grt_dev_write(g_dev, *buf, off, data, n);
    return view(*buf, off, t, rows, cols);
}

static void download(grt_buffer *b, size_t off, void *dst, size_t n) {
    CHECK(grt_dev_read(g_dev, b, off, dst, n) == GRT_OK);
}

static bool all_close(const float *got, const double *ref, const double *bound, int64_t n,
                      const char *what) {
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]);
        if (!(e <= bound[i])) {
            printf("  %s: element %lld: got %.9g want %.9g (bound %.3g)\n", what, (long long)i,
                   (double)got[i], ref[i], bound[i]);
            return false;
        }
    }
    return true;
}

/* ---------------------------------------------------------------- matmul */

static const grt_dtype g_wtypes[] = {GRT_F32, GRT_F16, GRT_BF16, GRT_Q8_0, GRT_Q4_0};

/* One matmul case with every option varied by `variant`. */
static bool matmul_case(grt_dtype wt, int64_t n_rows, int64_t K, int64_t N, int variant) {
    bool with_bias = variant & 1, acc = variant & 2;
    int64_t row_off = (variant & 4) ? 3 : 0; /* W is rows [3, 3 + N) of a fused tensor */
    size_t wrow = grt_row_bytes(wt, K);
    int64_t Nf = N + row_off + 2;
    float *wf = malloc((size_t)(Nf * K) * 4), *x = malloc((size_t)(n_rows * K) * 4);
    float *wd = malloc((size_t)(Nf * K) * 4);
    uint8_t *wq = malloc(wrow * (size_t)Nf);
    float *bias = malloc((size_t)N * 4), *out0 = malloc((size_t)(n_rows * N + 16) * 4);
    float *got = malloc((size_t)(n_rows * N + 16) * 4);
    double *ref = malloc((size_t)(n_rows * N) * 8), *bound = malloc((size_t)(n_rows * N) * 8);
    fill_rnd(wf, Nf * K, 1.0f);
    fill_rnd(x, n_rows * K, 2.0f);
    x[(n_rows * K) / 2] = 0; /* a zero inside a block */
    fill_rnd(bias, N, 1.0f);
    fill_rnd(out0, n_rows * N + 16, 1.0f);
    for (int64_t n = 0; n < Nf; n++) {
        grt_quantize_row(wt, wf + n * K, wq + n * wrow, K);
        grt_dequantize_row(wt, wq + n * wrow, wd + n * K, K);
    }
    for (int64_t r = 0; r < n_rows; r++) {
        const float *xr = x + r * K;
        for (int64_t n = 0; n < N; n++) {
            const float *w = wd + (n + row_off) * K;
            double s = 0, sabs = 0, qerr = 0;
            for (int64_t k = 0; k < K; k++) {
                s += (double)w[k] * xr[k];
                sabs += fabs((double)w[k] * xr[k]);
            }
            if (wt == GRT_Q8_0 || wt == GRT_Q4_0) { /* activation rounding: <= d/2 each */
                for (int64_t b = 0; b < K / 32; b++) {
                    double amax = 0, wabs = 0;
                    for (int j = 0; j < 32; j++) {
                        amax = fmax(amax, fabs(xr[b * 32 + j]));
                        wabs += fabs(w[b * 32 + j]);
                    }
                    qerr += amax / 254.0 * wabs * 1.001;
                }
            }
            if (with_bias) s += bias[n];
            if (acc) s += out0[r * N + n];
            ref[r * N + n] = s;
            bound[r * N + n] = qerr + 2e-6 * (sabs + fabs(s)) + 1e-6;
        }
    }
    grt_buffer *bw, *bx, *bb, *bo;
    size_t woff = 64 + (variant & 8 ? 2 : 0); /* W offset need not be 4-aligned */
    grt_tensor tw_all = upload(wq, wrow * (size_t)Nf, woff, wt, Nf, K, &bw);
    (void)tw_all;
    grt_tensor tw = view(bw, woff + (size_t)row_off * wrow, wt, N, K);
    grt_tensor tx = upload(x, (size_t)(n_rows * K) * 4, 128, GRT_F32, n_rows, K, &bx);
    grt_tensor tb = upload(bias, (size_t)N * 4, 4, GRT_F32, 1, N, &bb);
    int64_t ne1[1] = {N};
    tb = grt_tensor_view(bb, 4, GRT_F32, 1, ne1);
    grt_tensor to = upload(out0, (size_t)(n_rows * N + 16) * 4, 256, GRT_F32, n_rows, N, &bo);
    grt_dev_matmul(g_dev, &to, &tx, &tw, with_bias ? &tb : NULL, n_rows, acc);
    CHECK(grt_dev_status(g_dev) == GRT_OK);
    download(bo, 256, got, (size_t)(n_rows * N + 16) * 4);
    char what[128];
    snprintf(what, sizeof what, "matmul %s rows=%lld K=%lld N=%lld variant=%d", grt_dtype_name(wt),
             (long long)n_rows, (long long)K, (long long)N, variant);
    bool ok = all_close(got, ref, bound, n_rows * N, what);
    for (int i = 0; i < 16; i++) /* nothing written past the output */
        if (memcmp(&got[n_rows * N + i], &out0[n_rows * N + i], 4) != 0) {
            printf("  %s: wrote past the output\n", what);
            ok = false;
            break;
        }
    grt_dev_buffer_free(bw);
    grt_dev_buffer_free(bx);
    grt_dev_buffer_free(bb);
    grt_dev_buffer_free(bo);
    free(wf); free(x); free(wd); free(wq); free(bias); free(out0); free(got); free(ref); free(bound);
    return ok;
}

static void test_matmul_type(grt_dtype wt) {
    bool q = wt == GRT_Q8_0 || wt == GRT_Q4_0;
    static const int64_t rows[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 67};
    static const int64_t Ks_q[] = {32, 64, 96, 160, 576, 1024, 1536, 4096};
    static const int64_t Ks_f[] = {1, 3, 15, 16, 17, 31, 33, 100, 576, 1001, 2048, 4099};
    static const int64_t Ns[] = {1, 2, 3, 4, 5, 15, 16, 17, 33, 64, 100};
    int n_fail = 0, n = 0;
    const int64_t *Ks = q ? Ks_q : Ks_f;
    int nK = q ? 8 : 12;
    for (int ik = 0; ik < nK; ik++)
        for (int ir = 0; ir < 15; ir++) {
            int64_t K = Ks[ik], R = rows[ir];
            if (K * R > 70000 && ir % 3) continue; /* keep big cases few */
            int64_t N = Ns[(ik * 7 + ir * 3) % 11];
            if (!matmul_case(wt, R, K, N, (ik + ir) % 16)) n_fail++;
            n++;
        }
    /* wider outputs, so every thread gets tiles and tails */
    if (!matmul_case(wt, 1, q ? 576 : 577, 1536 + 5, 5)) n_fail++;
    if (!matmul_case(wt, 67, q ? 256 : 255, 203, 3)) n_fail++;
    if (!matmul_case(wt, 2, q ? 2048 : 2047, 130, 10)) n_fail++;
    CHECKF(n_fail == 0, "%d of %d %s cases failed", n_fail, n + 3, grt_dtype_name(wt));
}

static void test_matmul_f32(void) { test_matmul_type(GRT_F32); }
static void test_matmul_f16(void) { test_matmul_type(GRT_F16); }
static void test_matmul_bf16(void) { test_matmul_type(GRT_BF16); }
static void test_matmul_q8_0(void) { test_matmul_type(GRT_Q8_0); }
static void test_matmul_q4_0(void) { test_matmul_type(GRT_Q4_0); }

/* ---------------------------------------------------------------- rmsnorm */

static void test_rmsnorm(void) {
    static const int64_t dims[] = {1, 7, 16, 64, 100, 576, 1001};
    static const int64_t rows[] = {1, 3, 67};
    for (int id = 0; id < 7; id++)
        for (int ir = 0; ir < 3; ir++) {
            int64_t D = dims[id], R = rows[ir];
            float *x = malloc((size_t)(R * D) * 4), *w = malloc((size_t)D * 4), *got = malloc((size_t)(R * D) * 4);
            double *ref = malloc((size_t)(R * D) * 8), *bound = malloc((size_t)(R * D) * 8);
            fill_rnd(x, R * D, 3.0f);
            fill_rnd(w, D, 1.5f);
            float eps = 1e-5f;
            for (int64_t r = 0; r < R; r++) {
                double ss = 0;
                for (int64_t i = 0; i < D; i++) ss += (double)x[r * D + i] * x[r * D + i];
                double s = 1.0 / sqrt(ss / D + eps);
                for (int64_t i = 0; i < D; i++) {
                    ref[r * D + i] = x[r * D + i] * s * w[i];
                    bound[r * D + i] = 2e-6 * fabs(ref[r * D + i]) + 1e-7;
                }
            }
            grt_buffer *bx, *bw, *bo;
            grt_tensor tx = upload(x, (size_t)(R * D) * 4, 64, GRT_F32, R, D, &bx);
            grt_tensor tw = upload(w, (size_t)D * 4, 4, GRT_F32, 1, D, &bw);
            bool inplace = ir == 1;
            grt_tensor to = inplace ? tx : upload(x, (size_t)(R * D) * 4, 12, GRT_F32, R, D, &bo);
            grt_dev_rmsnorm(g_dev, &to, &tx, &tw, R, D, eps);
            download(to.buf, to.offset, got, (size_t)(R * D) * 4);
            CHECK(all_close(got, ref, bound, R * D, "rmsnorm"));
            grt_dev_buffer_free(bx);
            grt_dev_buffer_free(bw);
            if (!inplace) grt_dev_buffer_free(bo);
            free(x); free(w); free(got); free(ref); free(bound);
        }
}

/* ---------------------------------------------------------------- state */

static grt_buffer *make_state(int n_seqs, const int *pos, grt_tensor *t) {
    grt_step_state st[16];
    memset(st, 0, sizeof st);
    for (int s = 0; s < n_seqs; s++) st[s].pos = pos[s], st[s].n_new = s, st[s].rng_ctr = 7 * s;
    grt_buffer *b;
    *t = upload(st, sizeof(grt_step_state) * (size_t)n_seqs, 32, GRT_I32, n_seqs, 8, &b);
    return b;
}

static void test_advance(void) {
    int pos[4] = {5, 9, 0, 3};
    grt_tensor ts;
    grt_buffer *b = make_state(4, pos, &ts);
    grt_dev_advance(g_dev, &ts, (grt_rows){6, 1, 2}); /* seqs 1, 2: 3 tokens each */
    grt_step_state st[4];
    download(b, 32, st, sizeof st);
    CHECK(st[0].pos == 5 && st[1].pos == 12 && st[2].pos == 3 && st[3].pos == 3);
    CHECK(st[1].n_new == 1 && st[1].rng_ctr == 7);
    grt_dev_buffer_free(b);
}

/* ---------------------------------------------------------------- rope */

static void test_rope(void) {
    int pos[3] = {0, 17, 100003};
    for (int inter = 0; inter < 2; inter++)
        for (int variant = 0; variant < 3; variant++) {
            int n_heads = variant == 2 ? 3 : 4, hd = variant == 1 ? 64 : 16;
            int rot = variant == 2 ? 8 : hd; /* partial rotary */
            grt_rows rows = variant == 0 ? (grt_rows){3, 0, 3} : (grt_rows){6, 1, 2};
            int R = rows.n_rows;
            float inv[32];
            for (int i = 0; i < rot / 2; i++) inv[i] = (float)pow(10000.0, -2.0 * i / rot);
            size_t n = (size_t)R * n_heads * hd;
            float *x = malloc(n * 4), *got = malloc(n * 4);
            double *ref = malloc(n * 8), *bound = malloc(n * 8);
            fill_rnd(x, (int64_t)n, 1.0f);
            int tps = R / rows.n_seqs;
            for (int r = 0; r < R; r++) {
                int p = pos[rows.seq0 + r / tps] + r % tps;
                for (int h = 0; h < n_heads; h++) {
                    const float *v = x + ((size_t)r * n_heads + h) * hd;
                    double *o = ref + ((size_t)r * n_heads + h) * hd;
                    for (int i = 0; i < hd; i++) o[i] = v[i];
                    for (int i = 0; i < rot / 2; i++) {
                        float ang = (float)p * inv[i];
                        double c = cos(ang), s = sin(ang);
                        int a = inter ? 2 * i : i, b = inter ? 2 * i + 1 : i + rot / 2;
                        o[a] = v[a] * c - v[b] * s;
                        o[b] = v[a] * s + v[b] * c;
                    }
                }
            }
            for (size_t i = 0; i < n; i++) bound[i] = 1e-6;
            grt_tensor ts, tx, ti;
            grt_buffer *bs = make_state(3, pos, &ts), *bx, *bi;
            tx = upload(x, n * 4, 16, GRT_F32, R, n_heads * hd, &bx);
            ti = upload(inv, (size_t)rot / 2 * 4, 0, GRT_F32, 1, rot / 2, &bi);
            grt_dev_rope(g_dev, &tx, &ti, &ts, rows, n_heads, hd, rot, inter);
            download(bx, 16, got, n * 4);
            CHECK(all_close(got, ref, bound, (int64_t)n, inter ? "rope interleaved" : "rope halves"));
            grt_dev_buffer_free(bs);
            grt_dev_buffer_free(bx);
            grt_dev_buffer_free(bi);
            free(x); free(got); free(ref); free(bound);
        }
}

/* ---------------------------------------------------------------- kv + attention */

/* kv_store then attention for `rows` over 4 sequences of max_ctx, with the
 * cache prefilled with random history; checked against a direct formula. */
static bool attn_case(grt_rows rows, const int *pos, int n_heads, int n_kv, int hd, int max_ctx,
                      int window, grt_dtype cache_t) {
    int n_seqs_total = 4, kvd = n_kv * hd, R = rows.n_rows, tps = R / rows.n_seqs;
    size_t ncache = (size_t)n_seqs_total * max_ctx * kvd;
    float *kc = malloc(ncache * 4), *vc = malloc(ncache * 4);
    fill_rnd(kc, (int64_t)ncache, 1.0f);
    fill_rnd(vc, (int64_t)ncache, 1.0f);
    size_t nq = (size_t)R * n_heads * hd, nk = (size_t)R * kvd;
    float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *got = malloc(nq * 4);
    double *ref = malloc(nq * 8), *bound = malloc(nq * 8);
    fill_rnd(q, (int64_t)nq, 2.0f);
    fill_rnd(k, (int64_t)nk, 2.0f);
    fill_rnd(v, (int64_t)nk, 1.0f);
    uint16_t *kh = NULL, *vh = NULL;
    if (cache_t == GRT_F16) { /* the reference reads what an f16 cache holds */
        kh = malloc(ncache * 2);
        vh = malloc(ncache * 2);
        for (size_t i = 0; i < ncache; i++) {
            kh[i] = grt_f32_to_f16(kc[i]), kc[i] = grt_f16_to_f32(kh[i]);
            vh[i] = grt_f32_to_f16(vc[i]), vc[i] = grt_f16_to_f32(vh[i]);
        }
    }
    float *kc_ref = malloc(ncache * 4), *vc_ref = malloc(ncache * 4);
    memcpy(kc_ref, kc, ncache * 4);
    memcpy(vc_ref, vc, ncache * 4);
    for (int r = 0; r < R; r++) {
        int s = rows.seq0 + r / tps, p = pos[s] + r % tps;
        if (p >= max_ctx) continue;
        for (int i = 0; i < kvd; i++) {
            float kk = k[(size_t)r * kvd + i], vv = v[(size_t)r * kvd + i];
            if (cache_t == GRT_F16) kk = grt_f16_to_f32(grt_f32_to_f16(kk)), vv = grt_f16_to_f32(grt_f32_to_f16(vv));
            kc_ref[((size_t)s * max_ctx + p) * kvd + i] = kk;
            vc_ref[((size_t)s * max_ctx + p) * kvd + i] = vv;
        }
    }
    float scale = 1.0f / sqrtf((float)hd);
    for (int r = 0; r < R; r++) {
        int s = rows.seq0 + r / tps, p = pos[s] + r % tps;
        int hi = p < max_ctx - 1 ? p : max_ctx - 1;
        int lo = window > 0 ? p - window + 1 : 0;
        if (lo < 0) lo = 0;
        for (int h = 0; h < n_heads; h++) {
            int g = h / (n_heads / n_kv);
            const float *qh = q + ((size_t)r * n_heads + h) * hd;
            double *o = ref + ((size_t)r * n_heads + h) * hd;
            double mx = -1e300, sum = 0, sc[4096];
            for (int j = lo; j <= hi; j++) {
                double d = 0;
                for (int i = 0; i < hd; i++) d += (double)qh[i] * kc_ref[((size_t)s * max_ctx + j) * kvd + g * hd + i];
                sc[j - lo] = d * scale;
                mx = fmax(mx, sc[j - lo]);
            }
            for (int i = 0; i < hd; i++) o[i] = 0;
            for (int j = lo; j <= hi; j++) {
                double e = exp(sc[j - lo] - mx);
                sum += e;
                for (int i = 0; i < hd; i++) o[i] += e * vc_ref[((size_t)s * max_ctx + j) * kvd + g * hd + i];
            }
            for (int i = 0; i < hd; i++) {
                if (hi >= lo) o[i] /= sum;
                bound[((size_t)r * n_heads + h) * hd + i] = 2e-5;
            }
        }
    }
    grt_tensor ts, tkc, tvc, tq, tk, tv, to;
    grt_buffer *bs = make_state(4, pos, &ts), *bkc, *bvc, *bq, *bk, *bv, *bo;
    size_t esz = cache_t == GRT_F16 ? 2 : 4;
    tkc = upload(kh ? (void *)kh : (void *)kc, ncache * esz, 64, cache_t, (int64_t)n_seqs_total * max_ctx, kvd, &bkc);
    tvc = upload(vh ? (void *)vh : (void *)vc, ncache * esz, 0, cache_t, (int64_t)n_seqs_total * max_ctx, kvd, &bvc);
    tq = upload(q, nq * 4, 4, GRT_F32, R, n_heads * hd, &bq);
    tk = upload(k, nk * 4, 8, GRT_F32, R, kvd, &bk);
    tv = upload(v, nk * 4, 12, GRT_F32, R, kvd, &bv);
    bo = mkbuf(nq * 4 + 64);
    to = view(bo, 64, GRT_F32, R, n_heads * hd);
    grt_dev_kv_store(g_dev, &tkc, &tvc, &tk, &tv, &ts, rows, kvd, max_ctx);
    grt_dev_attention(g_dev, &to, &tq, &tkc, &tvc, &ts, rows, n_heads, n_kv, hd, max_ctx, scale, window);
    download(bo, 64, got, nq * 4);
    bool ok = all_close(got, ref, bound, (int64_t)nq, "attention");
    /* the cache holds exactly the stored rows, nothing else changed */
    float *kc_got = malloc(ncache * 4), *vc_got = malloc(ncache * 4);
    if (cache_t == GRT_F32) {
        download(bkc, 64, kc_got, ncache * 4);
        download(bvc, 0, vc_got, ncache * 4);
        if (memcmp(kc_got, kc_ref, ncache * 4) || memcmp(vc_got, vc_ref, ncache * 4)) {
            printf("  kv_store: cache contents differ\n");
            ok = false;
        }
    }
    grt_dev_buffer_free(bs); grt_dev_buffer_free(bkc); grt_dev_buffer_free(bvc);
    grt_dev_buffer_free(bq); grt_dev_buffer_free(bk); grt_dev_buffer_free(bv); grt_dev_buffer_free(bo);
    free(kc); free(vc); free(q); free(k); free(v); free(got); free(ref); free(bound);
    free(kc_ref); free(vc_ref); free(kc_got); free(vc_got); free(kh); free(vh);
    return ok;
}

static void test_attention(void) {
    int pos_dec[4] = {0, 5, 37, 2};
    /* decode: 3 sequences at different positions, one row each */
    CHECK(attn_case((grt_rows){3, 1, 3}, pos_dec, 4, 4, 16, 64, 0, GRT_F32));
    CHECK(attn_case((grt_rows){3, 1, 3}, pos_dec, 8, 2, 32, 64, 0, GRT_F32));   /* GQA */
    CHECK(attn_case((grt_rows){3, 1, 3}, pos_dec, 6, 3, 8, 64, 4, GRT_F32));    /* window */
    CHECK(attn_case((grt_rows){3, 0, 3}, pos_dec, 4, 1, 64, 48, 0, GRT_F32));   /* MQA */
    /* prefill: one sequence, many rows, each to its own position */
    int pos_pre[4] = {0, 0, 10, 0};
    CHECK(attn_case((grt_rows){40, 2, 1}, pos_pre, 4, 2, 16, 64, 0, GRT_F32));
    CHECK(attn_case((grt_rows){40, 2, 1}, pos_pre, 4, 2, 16, 64, 8, GRT_F32));
    CHECK(attn_case((grt_rows){67, 0, 1}, pos_pre, 3, 1, 24, 80, 0, GRT_F32));
    /* two sequences prefilled together, 5 rows each */
    CHECK(attn_case((grt_rows){10, 1, 2}, pos_dec, 4, 2, 16, 64, 3, GRT_F32));
    /* rows past the context are dropped from the cache and attend to the end */
    int pos_full[4] = {0, 30, 31, 0};
    CHECK(attn_case((grt_rows){2, 1, 2}, pos_full, 2, 1, 16, 32, 0, GRT_F32));
    CHECK(attn_case((grt_rows){4, 1, 1}, pos_full, 2, 1, 16, 32, 0, GRT_F32));
    /* an f16 cache */
    CHECK(attn_case((grt_rows){3, 1, 3}, pos_dec, 8, 2, 32, 64, 0, GRT_F16));
    CHECK(attn_case((grt_rows){40, 2, 1}, pos_pre, 4, 2, 16, 64, 5, GRT_F16));
}

/* ---------------------------------------------------------------- glu, embed */

static void test_glu(void) {
    for (int act = 0; act < 2; act++) {
        int64_t R = 5, F = 1003;
        size_t n = (size_t)(R * F);
        float *g = malloc(n * 4), *u = malloc(n * 4), *got = malloc(n * 4);
        double *ref = malloc(n * 8), *bound = malloc(n * 8);
        fill_rnd(g, (int64_t)n, 8.0f);
        fill_rnd(u, (int64_t)n, 2.0f);
        g[0] = -90.0f; /* exp overflow territory */
        g[1] = 90.0f;
        for (size_t i = 0; i < n; i++) {
            double x = g[i], a;
            if (act == GRT_ACT_SILU) a = x / (1.0 + exp(-x));
            else a = 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
            ref[i] = a * u[i];
            bound[i] = 1e-6 * fabs(ref[i]) + 1e-6 * fabs(u[i]) + 1e-30;
        }
        grt_buffer *bg, *bu;
        grt_tensor tg = upload(g, n * 4, 0, GRT_F32, R, F, &bg), tu = upload(u, n * 4, 4, GRT_F32, R, F, &bu);
        grt_dev_glu(g_dev, &tg, &tg, &tu, R, F, (grt_act)act); /* out aliases gate */
        download(bg, 0, got, n * 4);
        CHECK(all_close(got, ref, bound, (int64_t)n, act ? "gelu" : "silu"));
        grt_dev_buffer_free(bg);
        grt_dev_buffer_free(bu);
        free(g); free(u); free(got); free(ref); free(bound);
    }
}

static void test_embed(void) {
    for (size_t it = 0; it < 5; it++) {
        grt_dtype t = g_wtypes[it];
        int64_t V = 50, D = 96;
        size_t row = grt_row_bytes(t, D);
        float *tab = malloc((size_t)(V * D) * 4), *want = malloc((size_t)D * 4), *got = malloc((size_t)(4 * D) * 4);
        uint8_t *q = malloc(row * (size_t)V);
        fill_rnd(tab, V * D, 1.0f);
        for (int64_t v = 0; v < V; v++) grt_quantize_row(t, tab + v * D, q + v * row, D);
        int32_t ids[4] = {0, 49, 7, 7};
        grt_buffer *bt, *bi, *bo;
        grt_tensor tt = upload(q, row * (size_t)V, 34, t, V, D, &bt);
        grt_tensor ti = upload(ids, sizeof ids, 4, GRT_I32, 1, 4, &bi);
        bo = mkbuf((size_t)(4 * D) * 4);
        grt_tensor to = view(bo, 0, GRT_F32, 4, D);
        grt_dev_embed(g_dev, &to, &tt, &ti, 0.5f, 4);
        download(bo, 0, got, (size_t)(4 * D) * 4);
        for (int r = 0; r < 4; r++) {
            grt_dequantize_row(t, q + (size_t)ids[r] * row, want, D);
            for (int64_t i = 0; i < D; i++) CHECK(got[r * D + i] == want[i] * 0.5f);
        }
        CHECK(grt_dev_status(g_dev) == GRT_OK);
        grt_dev_buffer_free(bt); grt_dev_buffer_free(bi); grt_dev_buffer_free(bo);
        free(tab); free(want); free(got); free(q);
    }
}

/* ---------------------------------------------------------------- sampler */

typedef struct cand_t { float x; int id; } cand_t;
static int cand_cmp_t(const void *pa, const void *pb) {
    const cand_t *a = pa, *b = pb;
    if (a->x != b->x) return a->x > b->x ? -1 : 1;
    return a->id - b->id;
}

/* The contract, written plainly: full sort, sequential sums in double. */
static int ref_sample(const float *logits, int V, const grt_sample_cfg *cfg, const int32_t *hist,
                      int pos, int seq, uint32_t ctr) {
    float *x = malloc((size_t)V * 4);
    memcpy(x, logits, (size_t)V * 4);
    if (cfg->repeat_penalty != 1.0f) {
        char *seen = calloc((size_t)V, 1);
        int lo = cfg->repeat_last_n < 0 ? 0 : pos - cfg->repeat_last_n;
        for (int j = lo < 0 ? 0 : lo; j < pos; j++) {
            int t = hist[j];
            if (seen[t]) continue;
            seen[t] = 1;
            x[t] = x[t] > 0 ? x[t] / cfg->repeat_penalty : x[t] * cfg->repeat_penalty;
        }
        free(seen);
    }
    int tok = 0;
    if (cfg->temperature == 0) {
        for (int i = 1; i < V; i++)
            if (x[i] > x[tok]) tok = i;
        free(x);
        return tok;
    }
    cand_t *c = malloc((size_t)V * sizeof *c);
    for (int i = 0; i < V; i++) c[i] = (cand_t){x[i] / cfg->temperature, i};
    qsort(c, (size_t)V, sizeof *c, cand_cmp_t);
    int n = V;
    if (cfg->top_k > 0 && cfg->top_k < V) {
        float vk = c[cfg->top_k - 1].x;
        n = cfg->top_k;
        while (n < V && c[n].x >= vk) n++;
    }
    float mx = c[0].x;
    if (cfg->top_p < 1.0f) {
        double Z = 0, cum = 0;
        for (int j = 0; j < n; j++) Z += expf(c[j].x - mx);
        for (int j = 0; j < n; j++) {
            cum += expf(c[j].x - mx);
            if (cum >= cfg->top_p * Z) { n = j + 1; break; }
        }
    }
    if (cfg->min_p > 0) {
        int m = 1;
        while (m < n && expf(c[m].x - mx) >= cfg->min_p) m++;
        n = m;
    }
    double total = 0, cum = 0;
    for (int j = 0; j < n; j++) total += expf(c[j].x - mx);
    double T = grt_philox_uniform(cfg->seed, (uint32_t)seq, ctr) * total;
    tok = c[n - 1].id;
    for (int j = 0; j < n; j++) {
        cum += expf(c[j].x - mx);
        if (cum > T) { tok = c[j].id; break; }
    }
    free(c);
    free(x);
    return tok;
}

/* Sampling buffers for n_seqs sequences of a V-token vocabulary. */
typedef struct sbufs {
    grt_buffer *logits, *state, *hist, *next, *ring;
    grt_tensor tl, ts, th, tn, tr;
    int V, n_seqs, max_ctx, ring_len;
} sbufs;

static void sbufs_new(sbufs *b, int V, int n_seqs, int max_ctx, int ring_len) {
    b->V = V, b->n_seqs = n_seqs, b->max_ctx = max_ctx, b->ring_len = ring_len;
    b->logits = mkbuf((size_t)V * n_seqs * 4 + 8);
    b->tl = view(b->logits, 8, GRT_F32, n_seqs, V);
    b->state = mkbuf(sizeof(grt_step_state) * (size_t)n_seqs);
    b->ts = view(b->state, 0, GRT_I32, n_seqs, 8);
    b->hist = mkbuf((size_t)n_seqs * max_ctx * 4);
    b->th = view(b->hist, 0, GRT_I32, n_seqs, max_ctx);
    b->next = mkbuf((size_t)n_seqs * 4);
    b->tn = view(b->next, 0, GRT_I32, 1, n_seqs);
    b->ring = NULL;
    CHECK(grt_dev_buffer_new(g_dev, (size_t)n_seqs * ring_len * 4, GRT_BUF_HOST_VISIBLE, &b->ring) == GRT_OK);
    b->tr = view(b->ring, 0, GRT_I32, n_seqs, ring_len);
}

static void sbufs_free(sbufs *b) {
    grt_dev_buffer_free(b->logits); grt_dev_buffer_free(b->state); grt_dev_buffer_free(b->hist);
    grt_dev_buffer_free(b->next); grt_dev_buffer_free(b->ring);
}

static grt_sample_cfg cfg_default(void) {
    grt_sample_cfg c = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f,
                        .repeat_penalty = 1.0f, .repeat_last_n = -1, .seed = 1234};
    return c;
}

/* Sample one token of sequence 0 from logits x. */
static int sample1(sbufs *b, const float *x, const grt_sample_cfg *cfg) {
    grt_dev_write(g_dev, b->logits, 8, x, (size_t)b->V * 4);
    grt_dev_sample(g_dev, &b->tl, b->V, cfg, &b->ts, 0, 1, &b->th, b->max_ctx, &b->tn, &b->tr, b->ring_len);
    int32_t t;
    download(b->next, 0, &t, 4);
    return t;
}

/* The set of tokens seen over many draws. */
static unsigned seen_set(sbufs *b, const float *x, const grt_sample_cfg *c, int draws) {
    unsigned m = 0;
    for (int i = 0; i < draws; i++) m |= 1u << sample1(b, x, c);
    return m;
}

static void test_sample_greedy(void) {
    sbufs b;
    sbufs_new(&b, 6, 1, 16, 4);
    float x[6] = {1.0f, 3.0f, -2.0f, 3.0f, 2.9f, 3.0f};
    grt_sample_cfg c = cfg_default();
    c.temperature = 0;
    CHECK(sample1(&b, x, &c) == 1); /* ties to the lowest id */
    c.temperature = 0.7f;
    c.top_k = 1; /* top-k 1 is greedy whatever the draw */
    float z[6] = {1.0f, 3.0f, -2.0f, 2.99f, 2.9f, 3.0001f};
    for (int i = 0; i < 20; i++) CHECK(sample1(&b, z, &c) == 5);
    /* ...except that HF's top-k keeps every token tied with the k-th */
    CHECK(seen_set(&b, x, &c, 200) == 0x2a);
    float y[6] = {-5.0f, -1.0f, -3.0f, -1.5f, -9.0f, -1.0001f};
    c.temperature = 0;
    CHECK(sample1(&b, y, &c) == 1);
    sbufs_free(&b);
}

/* Writes: history at pos, next_ids, ring slot n_new % ring_len, counters, EOS. */
static void test_sample_state(void) {
    sbufs b;
    sbufs_new(&b, 8, 3, 6, 4);
    grt_step_state st[3] = {{.pos = 2, .n_new = 5, .rng_ctr = 9}, {.pos = 6, .n_new = 3}, {.pos = 0}};
    grt_dev_write(g_dev, b.state, 0, st, sizeof st);
    float x[16] = {0};
    x[3] = 5; /* seq 1 (row 0): token 3 */
    x[8 + 6] = 5; /* seq 2 (row 1): token 6 */
    grt_dev_write(g_dev, b.logits, 8, x, sizeof x);
    grt_sample_cfg c = cfg_default();
    c.temperature = 0;
    c.n_eos = 2;
    c.eos[0] = 7;
    c.eos[1] = 6;
    int32_t hist0[18];
    for (int i = 0; i < 18; i++) hist0[i] = 100 + i;
    grt_dev_write(g_dev, b.hist, 0, hist0, sizeof hist0);
    grt_dev_sample(g_dev, &b.tl, 8, &c, &b.ts, 1, 2, &b.th, 6, &b.tn, &b.tr, 4);
    grt_step_state g[3];
    int32_t hist[18], next[3], ring[12];
    download(b.state, 0, g, sizeof g);
    download(b.hist, 0, hist, sizeof hist);
    download(b.next, 0, next, sizeof next);
    CHECK(grt_dev_read_completed(g_dev, b.ring, 0, ring, sizeof ring) == GRT_OK);
    CHECK(g[0].n_new == 5 && g[0].rng_ctr == 9 && g[0].pos == 2); /* seq 0 untouched */
    CHECK(g[1].n_new == 4 && g[1].rng_ctr == 1 && g[1].done == 0 && g[1].pos == 6);
    CHECK(g[2].n_new == 1 && g[2].rng_ctr == 1 && g[2].done == 1);
    CHECK(next[1] == 3 && next[2] == 6);
    CHECK(ring[4 + 3] == 3 && ring[8 + 0] == 6);
    for (int i = 0; i < 18; i++) /* seq 1 is at pos 6 = max_ctx: no history write */
        CHECK(hist[i] == (i == 12 ? 6 : 100 + i));
    sbufs_free(&b);
}

static void test_sample_penalty(void) {
    sbufs b;
    sbufs_new(&b, 4, 1, 16, 4);
    grt_step_state st = {.pos = 3};
    grt_dev_write(g_dev, b.state, 0, &st, sizeof st);
    int32_t h[3] = {0, 0, 1};
    grt_dev_write(g_dev, b.hist, 0, h, sizeof h);
    grt_sample_cfg c = cfg_default();
    c.temperature = 0;
    c.repeat_penalty = 2.0f;
    float x[4] = {2.0f, -1.0f, 0.5f, 0.9f};
    /* token 0 penalised once (2 -> 1 > 0.9), not twice (0.5) */
    CHECK(sample1(&b, x, &c) == 0);
    float got[4];
    download(b.logits, 8, got, sizeof got);
    CHECK(got[0] == 1.0f && got[1] == -2.0f && got[2] == 0.5f && got[3] == 0.9f);
    /* last_n = 1 looks at token 1 only; token 0 keeps 2.0 */
    st.pos = 3;
    grt_dev_write(g_dev, b.state, 0, &st, sizeof st);
    c.repeat_last_n = 1;
    float y[4] = {2.0f, 2.5f, 0.5f, 0.9f};
    CHECK(sample1(&b, y, &c) == 0);
    download(b.logits, 8, got, sizeof got);
    CHECK(got[1] == 1.25f && got[0] == 2.0f);
    sbufs_free(&b);
}

static void test_sample_filters(void) {
    sbufs b;
    sbufs_new(&b, 5, 1, 16, 4);
    /* probabilities 0.5, 0.3, 0.15, 0.04, 0.01 */
    float x[5] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.04f), logf(0.01f)};
    grt_sample_cfg c = cfg_default();
    c.top_p = 0.75f; /* HF: keep while the mass before a token < 0.75 */
    CHECK(seen_set(&b, x, &c, 400) == 0x3);
    c.top_p = 0.85f;
    CHECK(seen_set(&b, x, &c, 400) == 0x7);
    c.top_p = 0.4f;
    CHECK(seen_set(&b, x, &c, 100) == 0x1);
    c.top_p = 1.0f;
    c.min_p = 0.2f; /* keep p >= 0.1 */
    CHECK(seen_set(&b, x, &c, 400) == 0x7);
    c.min_p = 0.5f; /* keep p >= 0.25 */
    CHECK(seen_set(&b, x, &c, 400) == 0x3);
    c.min_p = 0.05f; /* keep p >= 0.025 */
    CHECK(seen_set(&b, x, &c, 2000) == 0xf);
    c.min_p = 0;
    c.top_k = 2;
    CHECK(seen_set(&b, x, &c, 400) == 0x3);
    /* top-k keeps every token tied with the k-th value, as HF does */
    float t[5] = {3.0f, 2.0f, 2.0f, 1.0f, 2.0f};
    c.top_k = 2;
    CHECK(seen_set(&b, t, &c, 600) == 0x17);
    /* top-k then top-p: top-p renormalises over the top-k survivors */
    c.top_k = 3;
    c.top_p = 0.7f; /* among {0.5, 0.3, 0.15}/0.95: 0.526, 0.842 -> keep 2 */
    CHECK(seen_set(&b, x, &c, 400) == 0x3);
    sbufs_free(&b);
}

static void test_sample_distribution(void) {
    sbufs b;
    sbufs_new(&b, 5, 1, 16, 4);
    float x[5] = {1.0f, 0.0f, 2.0f, -1.0f, 0.5f};
    double p[5], Z = 0;
    for (int i = 0; i < 5; i++) Z += exp(x[i]);
    for (int i = 0; i < 5; i++) p[i] = exp(x[i]) / Z;
    grt_sample_cfg c = cfg_default();
    c.seed = 42;
    int N = 20000, cnt[5] = {0};
    for (int i = 0; i < N; i++) cnt[sample1(&b, x, &c)]++;
    double chi2 = 0;
    for (int i = 0; i < 5; i++) chi2 += (cnt[i] - N * p[i]) * (cnt[i] - N * p[i]) / (N * p[i]);
    CHECKF(chi2 < 18.5, "chi2 = %.2f (df 4, p = 0.001 at 18.5)", chi2); /* df = 4 */
    /* temperature 0.5 sharpens: p ~ exp(2x) */
    c.temperature = 0.5f;
    memset(cnt, 0, sizeof cnt);
    Z = 0;
    for (int i = 0; i < 5; i++) Z += exp(2 * x[i]);
    for (int i = 0; i < 5; i++) p[i] = exp(2 * x[i]) / Z;
    for (int i = 0; i < N; i++) cnt[sample1(&b, x, &c)]++;
    chi2 = 0;
    for (int i = 0; i < 5; i++) chi2 += (cnt[i] - N * p[i]) * (cnt[i] - N * p[i]) / (N * p[i]);
    CHECKF(chi2 < 18.5, "chi2 = %.2f at temperature 0.5", chi2);
    sbufs_free(&b);
}

static void test_sample_seeds(void) {
    sbufs b;
    sbufs_new(&b, 1000, 1, 16, 4);
    float *x = malloc(1000 * 4);
    fill_rnd(x, 1000, 2.0f);
    grt_sample_cfg c = cfg_default();
    int a[32], a2[32], d[32];
    for (int i = 0; i < 32; i++) a[i] = sample1(&b, x, &c);
    grt_step_state z = {0};
    grt_dev_write(g_dev, b.state, 0, &z, sizeof z);
    for (int i = 0; i < 32; i++) a2[i] = sample1(&b, x, &c);
    grt_dev_write(g_dev, b.state, 0, &z, sizeof z);
    c.seed = 1235;
    for (int i = 0; i < 32; i++) d[i] = sample1(&b, x, &c);
    CHECK(memcmp(a, a2, sizeof a) == 0);
    CHECK(memcmp(a, d, sizeof a) != 0);
    free(x);
    sbufs_free(&b);
}

/* -0 and +0 are one logit value: the walk orders them by id together. */
static void test_sample_signed_zero(void) {
    sbufs b;
    sbufs_new(&b, 8, 1, 16, 4);
    float x[8] = {0.0f, -0.0f, 0.0f, -0.0f, -1.0f, -0.0f, 0.0f, -2.0f};
    grt_sample_cfg c = cfg_default();
    int bad = 0;
    for (uint32_t i = 0; i < 300; i++) {
        int want = ref_sample(x, 8, &c, NULL, 0, 0, i);
        if (sample1(&b, x, &c) != want) bad++;
    }
    CHECKF(bad == 0, "%d of 300 draws differ", bad);
    sbufs_free(&b);
}

/* Random configurations against ref_sample, including the full 151936 vocab. */
static void test_sample_vs_ref(void) {
    int Vs[3] = {17, 1000, 151936};
    int mismatches = 0, total = 0;
    for (int iv = 0; iv < 3; iv++) {
        int V = Vs[iv], max_ctx = 64;
        sbufs b;
        sbufs_new(&b, V, 2, max_ctx, 8);
        float *x = malloc((size_t)V * 4);
        int32_t hist[128];
        for (int i = 0; i < 128; i++) hist[i] = (int)(rnd_u32() % (uint32_t)V);
        grt_dev_write(g_dev, b.hist, 0, hist, sizeof hist);
        int n_iter = iv == 2 ? 24 : 120;
        for (int it = 0; it < n_iter; it++) {
            /* logits on a coarse grid sometimes, so ties happen */
            for (int i = 0; i < V; i++) {
                x[i] = rnd() * 6.0f;
                if (it % 3 == 0) x[i] = roundf(x[i] * 2) / 2;
            }
            grt_sample_cfg c = cfg_default();
            c.seed = rnd_u32();
            c.temperature = (it % 7 == 0) ? 0.0f : 0.3f + (float)(rnd_u32() % 100) / 60.0f;
            c.top_k = (it % 4 == 1) ? 1 + (int)(rnd_u32() % 60) : (it % 4 == 2 ? V + 5 : 0);
            c.top_p = (it % 5 < 2) ? 0.05f + (float)(rnd_u32() % 95) / 100.0f : 1.0f;
            c.min_p = (it % 3 == 1) ? (float)(rnd_u32() % 30) / 100.0f : 0.0f;
            c.repeat_penalty = (it % 2) ? 1.3f : 1.0f;
            c.repeat_last_n = (it % 6 == 1) ? 8 : -1;
            grt_step_state st[2] = {{.pos = 40, .rng_ctr = (uint32_t)it}, {.pos = 20, .rng_ctr = 3u * it}};
            grt_dev_write(g_dev, b.state, 0, st, sizeof st);
            for (int s = 0; s < 2; s++) grt_dev_write(g_dev, b.logits, 8 + (size_t)s * V * 4, x, (size_t)V * 4);
            grt_dev_sample(g_dev, &b.tl, V, &c, &b.ts, 0, 2, &b.th, max_ctx, &b.tn, &b.tr, 8);
            int32_t next[2];
            download(b.next, 0, next, 8);
            for (int s = 0; s < 2; s++) {
                int want = ref_sample(x, V, &c, hist + s * max_ctx, st[s].pos, s, st[s].rng_ctr);
                total++;
                if (next[s] != want) {
                    mismatches++;
                    printf("  V=%d it=%d seq=%d: got %d want %d (T=%g k=%d p=%g minp=%g)\n", V, it, s,
                           next[s], want, c.temperature, c.top_k, c.top_p, c.min_p);
                }
            }
            /* the writes of this draw land in history: restore it */
            grt_dev_write(g_dev, b.hist, 0, hist, sizeof hist);
        }
        free(x);
        sbufs_free(&b);
    }
    CHECKF(mismatches == 0, "%d of %d draws differ from the reference", mismatches, total);
}

/* ---------------------------------------------------------------- memory */

static void test_copy_fill(void) {
    grt_buffer *a = mkbuf(256), *b = mkbuf(300);
    uint8_t src[256], got[300];
    for (int i = 0; i < 256; i++) src[i] = (uint8_t)i;
    grt_dev_write(g_dev, a, 0, src, 256);
    grt_dev_fill(g_dev, b, 0, 300, 0xAABBCCDDu);
    grt_dev_copy(g_dev, b, 17, a, 33, 100);
    grt_dev_fill(g_dev, b, 200, 8, 0x01020304u);
    download(b, 0, got, 300);
    bool ok = true;
    for (int i = 0; i < 300; i++) {
        uint8_t want;
        if (i >= 17 && i < 117) want = (uint8_t)(i - 17 + 33);
        else if (i >= 200 && i < 208) want = (uint8_t)(4 - (i - 200) % 4);
        else want = (uint8_t)(0xDD - 0x11 * (i % 4));
        if (got[i] != want) ok = false;
    }
    CHECK(ok);
    /* a copy within one buffer, overlapping */
    grt_dev_copy(g_dev, a, 10, a, 0, 50);
    download(a, 0, got, 64);
    for (int i = 10; i < 60; i++) CHECK(got[i] == (uint8_t)(i - 10));
    /* a host alias sees host bytes without a copy */
    float host[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    grt_buffer *h = NULL;
    CHECK(grt_dev_buffer_from_host(g_dev, host, sizeof host, &h) == GRT_OK);
    CHECK(h && h->ptr == (void *)host && !h->owned);
    float r;
    host[5] = 42;
    download(h, 20, &r, 4);
    CHECK(r == 42);
    CHECK((uintptr_t)a->ptr % 64 == 0);
    grt_dev_buffer_free(h);
    grt_dev_buffer_free(a);
    grt_dev_buffer_free(b);
    grt_dev_buffer_free(NULL);
}

static void test_fences(void) {
    grt_fence *f1, *f2, *f3;
    CHECK(grt_dev_fence_new(g_dev, &f1) == GRT_OK);
    CHECK(grt_dev_fence_new(g_dev, &f2) == GRT_OK);
    CHECK(grt_dev_fence_new(g_dev, &f3) == GRT_OK);
    double ms = -1;
    CHECK(!grt_dev_fence_elapsed_ms(g_dev, f1, f2, &ms)); /* not recorded */
    grt_dev_fence_record(g_dev, f1);
    grt_buffer *b = mkbuf(1 << 20);
    for (int i = 0; i < 20; i++) grt_dev_fill(g_dev, b, 0, 1 << 20, (uint32_t)i);
    grt_dev_fence_record(g_dev, f2);
    CHECK(grt_dev_fence_done(g_dev, f1) && grt_dev_fence_done(g_dev, f2));
    CHECK(grt_dev_fence_wait(g_dev, f2) == GRT_OK);
    CHECK(grt_dev_fence_elapsed_ms(g_dev, f1, f2, &ms) && ms >= 0 && ms < 10000);
    grt_dev_fence_record(g_dev, f3);
    double ms2;
    CHECK(grt_dev_fence_elapsed_ms(g_dev, f1, f3, &ms2) && ms2 >= ms);
    CHECK(grt_dev_sync(g_dev) == GRT_OK);
    grt_dev_buffer_free(b);
    grt_dev_fence_free(g_dev, f1);
    grt_dev_fence_free(g_dev, f2);
    grt_dev_fence_free(g_dev, f3);
    grt_dev_fence_free(g_dev, NULL);
}

/* ---------------------------------------------------------------- capture */

/* A toy decode step over every op kind, reading everything per-token from
 * device buffers. */
typedef struct toy {
    grt_buffer *w, *act, *kv, *state, *hist, *next, *ring, *bias;
    grt_tensor emb, wqkv_q, wqkv_k, wqkv_v, wo, wg, wu, wd, norm, inv, lm, b;
    int V, D, F, hd, nh, nkv, max_ctx, B;
} toy;

static void toy_new(toy *t, grt_dtype wt) {
    t->V = 64, t->D = 64, t->F = 96, t->hd = 16, t->nh = 4, t->nkv = 2, t->max_ctx = 32, t->B = 2;
    int V = t->V, D = t->D, F = t->F, KVD = t->nkv * t->hd;
    int64_t rows_all = V + D + 2 * KVD + D + 2 * F + D + V; /* emb, q, k, v, o, gate, up, down(D x F), lm */
    size_t rb = grt_row_bytes(wt, D), rbf = grt_row_bytes(wt, F);
    size_t total = (size_t)rows_all * rb + (size_t)D * rbf + 1024;
    t->w = mkbuf(total);
    uint8_t *host = calloc(1, total);
    float *tmp = malloc((size_t)F * 4);
    size_t off = 0;
    grt_tensor *mats[] = {&t->emb, &t->wqkv_q, &t->wqkv_k, &t->wqkv_v, &t->wo, &t->wg, &t->wu, &t->wd, &t->lm};
    int64_t ns[] = {V, D, KVD, KVD, D, F, F, D, V}, ks[] = {D, D, D, D, D, D, D, F, D};
    for (int m = 0; m < 9; m++) {
        size_t r = grt_row_bytes(wt, ks[m]);
        for (int64_t i = 0; i < ns[m]; i++) {
            fill_rnd(tmp, ks[m], 0.3f);
            grt_quantize_row(wt, tmp, host + off + (size_t)i * r, ks[m]);
        }
        *mats[m] = view(t->w, off, wt, ns[m], ks[m]);
        off += (size_t)ns[m] * r;
    }
    grt_dev_write(g_dev, t->w, 0, host, total);
    float nrm[64], inv[8], bias[64];
    for (int i = 0; i < D; i++) nrm[i] = 1.0f + rnd() * 0.1f, bias[i] = rnd() * 0.1f;
    for (int i = 0; i < t->hd / 2; i++) inv[i] = powf(10000.0f, -2.0f * i / t->hd);
    t->bias = mkbuf(1024);
    grt_dev_write(g_dev, t->bias, 0, nrm, sizeof nrm);
    grt_dev_write(g_dev, t->bias, 256, inv, sizeof inv);
    grt_dev_write(g_dev, t->bias, 512, bias, sizeof bias);
    int64_t nD[1] = {D}, nI[1] = {t->hd / 2};
    t->norm = grt_tensor_view(t->bias, 0, GRT_F32, 1, nD);
    t->inv = grt_tensor_view(t->bias, 256, GRT_F32, 1, nI);
    t->b = grt_tensor_view(t->bias, 512, GRT_F32, 1, nD);
    t->act = mkbuf(1 << 16);
    t->kv = mkbuf((size_t)2 * t->B * t->max_ctx * KVD * 4);
    t->state = mkbuf(sizeof(grt_step_state) * (size_t)t->B);
    t->hist = mkbuf((size_t)t->B * t->max_ctx * 4);
    t->next = mkbuf((size_t)t->B * 4);
    CHECK(grt_dev_buffer_new(g_dev, (size_t)t->B * 8 * 4, GRT_BUF_HOST_VISIBLE, &t->ring) == GRT_OK);
    grt_step_state st[2] = {{.pos = 3}, {.pos = 5}};
    grt_dev_write(g_dev, t->state, 0, st, sizeof st);
    int32_t ids[2] = {7, 11};
    grt_dev_write(g_dev, t->next, 0, ids, sizeof ids);
    free(host);
    free(tmp);
}

static void toy_free(toy *t) {
    grt_buffer *bs[] = {t->w, t->act, t->kv, t->state, t->hist, t->next, t->ring, t->bias};
    for (int i = 0; i < 8; i++) grt_dev_buffer_free(bs[i]);
}

static void toy_step(toy *t, const int32_t *host_word) {
    int B = t->B, D = t->D, F = t->F, KVD = t->nkv * t->hd, QD = t->nh * t->hd;
    grt_rows rows = {B, 0, B};
    grt_tensor x = view(t->act, 0, GRT_F32, B, D), xn = view(t->act, 1024, GRT_F32, B, D);
    grt_tensor q = view(t->act, 2048, GRT_F32, B, QD), k = view(t->act, 3072, GRT_F32, B, KVD);
    grt_tensor v = view(t->act, 4096, GRT_F32, B, KVD), att = view(t->act, 5120, GRT_F32, B, QD);
    grt_tensor g = view(t->act, 6144, GRT_F32, B, F), u = view(t->act, 8192, GRT_F32, B, F);
    grt_tensor lg = view(t->act, 10240, GRT_F32, B, t->V);
    grt_tensor st = view(t->state, 0, GRT_I32, B, 8), ids = view(t->next, 0, GRT_I32, 1, B);
    grt_tensor kc = view(t->kv, 0, GRT_F32, (int64_t)B * t->max_ctx, KVD);
    grt_tensor vc = view(t->kv, (size_t)B * t->max_ctx * KVD * 4, GRT_F32, (int64_t)B * t->max_ctx, KVD);
    grt_tensor hist = view(t->hist, 0, GRT_I32, B, t->max_ctx), ring = view(t->ring, 0, GRT_I32, B, 8);
    grt_dev_write(g_dev, t->act, 60000, host_word, 4); /* the bytes at record time count */
    grt_dev_embed(g_dev, &x, &t->emb, &ids, 1.5f, B);
    grt_dev_rmsnorm(g_dev, &xn, &x, &t->norm, B, D, 1e-5f);
    grt_dev_matmul(g_dev, &q, &xn, &t->wqkv_q, &t->b, B, false);
    grt_dev_matmul(g_dev, &k, &xn, &t->wqkv_k, NULL, B, false);
    grt_dev_matmul(g_dev, &v, &xn, &t->wqkv_v, NULL, B, false);
    grt_dev_rope(g_dev, &q, &t->inv, &st, rows, t->nh, t->hd, t->hd, false);
    grt_dev_rope(g_dev, &k, &t->inv, &st, rows, t->nkv, t->hd, t->hd, false);
    grt_dev_kv_store(g_dev, &kc, &vc, &k, &v, &st, rows, KVD, t->max_ctx);
    grt_dev_attention(g_dev, &att, &q, &kc, &vc, &st, rows, t->nh, t->nkv, t->hd, t->max_ctx, 0.25f, 0);
    grt_dev_matmul(g_dev, &x, &att, &t->wo, NULL, B, true);
    grt_dev_rmsnorm(g_dev, &xn, &x, &t->norm, B, D, 1e-5f);
    grt_dev_matmul(g_dev, &g, &xn, &t->wg, NULL, B, false);
    grt_dev_matmul(g_dev, &u, &xn, &t->wu, NULL, B, false);
    grt_dev_glu(g_dev, &g, &g, &u, B, F, GRT_ACT_SILU);
    grt_dev_matmul(g_dev, &x, &g, &t->wd, NULL, B, true);
    grt_dev_copy(g_dev, t->act, 61000, t->act, 60000, 4);
    grt_dev_fill(g_dev, t->act, 62000, 8, 0x5a5a5a5au);
    grt_dev_advance(g_dev, &st, rows);
    grt_dev_matmul(g_dev, &lg, &x, &t->lm, NULL, B, false);
    grt_sample_cfg c = cfg_default();
    c.temperature = 0.9f;
    c.top_k = 20;
    c.top_p = 0.95f;
    c.repeat_penalty = 1.1f;
    c.n_eos = 1;
    c.eos[0] = 63;
    grt_dev_sample(g_dev, &lg, t->V, &c, &st, 0, B, &hist, t->max_ctx, &ids, &ring, 8);
}

static bool buf_eq(grt_buffer *a, grt_buffer *b) {
    GRT_ASSERT(a->size == b->size);
    uint8_t *x = malloc(a->size), *y = malloc(b->size);
    download(a, 0, x, a->size);
    download(b, 0, y, b->size);
    bool eq = memcmp(x, y, a->size) == 0;
    free(x);
    free(y);
    return eq;
}

static void test_capture_replay(void) {
    grt_dtype wts[2] = {GRT_BF16, GRT_Q8_0};
    for (int iw = 0; iw < 2; iw++) {
        uint64_t seed = g_rng;
        toy a, b;
        toy_new(&a, wts[iw]);
        g_rng = seed;
        toy_new(&b, wts[iw]);
        int N = 12;
        int32_t word = 1111;
        for (int i = 0; i < N; i++) toy_step(&a, &word);
        /* record once (nothing runs), then replay N times */
        grt_step_state st0[2];
        download(b.state, 0, st0, sizeof st0);
        CHECK(grt_dev_capture_begin(g_dev) == GRT_OK);
        toy_step(&b, &word);
        word = 2222; /* changed after recording: the replay writes 1111 */
        grt_graph *gr = NULL;
        CHECK(grt_dev_capture_end(g_dev, &gr) == GRT_OK && gr);
        grt_step_state st1[2];
        download(b.state, 0, st1, sizeof st1);
        CHECK(memcmp(st0, st1, sizeof st0) == 0); /* recording ran nothing */
        for (int i = 0; i < N; i++) grt_dev_graph_launch(g_dev, gr);
        CHECK(grt_dev_status(g_dev) == GRT_OK);
        CHECK(buf_eq(a.act, b.act));
        CHECK(buf_eq(a.kv, b.kv));
        CHECK(buf_eq(a.state, b.state));
        CHECK(buf_eq(a.hist, b.hist));
        CHECK(buf_eq(a.next, b.next));
        CHECK(buf_eq(a.ring, b.ring));
        int32_t w;
        download(b.act, 60000, &w, 4);
        CHECK(w == 1111);
        grt_step_state st[2];
        download(b.state, 0, st, sizeof st);
        CHECK(st[0].pos == 3 + N && st[1].pos == 5 + N && st[0].n_new == N && st[1].rng_ctr == (uint32_t)N);
        grt_dev_graph_free(g_dev, gr);
        toy_free(&a);
        toy_free(&b);
    }
}

/* ---------------------------------------------------------------- errors */

static void test_open_errors(void) {
    grt_device *d = (grt_device *)1;
    const char *cuda_why = NULL;
    if (!grt_device_available("cuda", &cuda_why)) { /* unbuilt, or no GPU here */
        CHECK(grt_device_open("cuda", NULL, &d) == GRT_ERR_NO_DEVICE && d == NULL);
        CHECK(cuda_why && strstr(grt_last_error(), cuda_why) != NULL);
    }
    CHECK(grt_device_open("tpu", NULL, &d) == GRT_ERR_NO_DEVICE && d == NULL);
    CHECK(strstr(grt_last_error(), "tpu") != NULL);
    grt_device_options o = {.n_threads = -1};
    CHECK(grt_device_open("cpu", &o, &d) == GRT_ERR_INVALID_ARG && d == NULL);
    const char *why = NULL;
    CHECK(grt_device_available("cpu", &why));
    /* webgpu is built in by default; where unavailable it says why */
    CHECK(grt_device_available("webgpu", &why) ? why == NULL : why != NULL);
    CHECK(!grt_device_available("nope", &why) && why);
    const char *old = getenv("GENRT_CPU_ISA");
    char *saved = old ? strdup(old) : NULL;
    setenv("GENRT_CPU_ISA", "sse9", 1);
    CHECK(grt_device_open("cpu", NULL, &d) == GRT_ERR_INVALID_ARG && d == NULL);
    CHECK(strstr(grt_last_error(), "sse9") != NULL);
    if (saved) setenv("GENRT_CPU_ISA", saved, 1);
    else unsetenv("GENRT_CPU_ISA");
    free(saved);
    grt_device_close(NULL);
}

/* A broken invariant (a shape mismatch) aborts, in a child process. */
static void test_assert_aborts(void) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        grt_buffer *b = mkbuf(4096);
        grt_tensor w = view(b, 0, GRT_F32, 8, 16), x = view(b, 1024, GRT_F32, 1, 15);
        grt_tensor o = view(b, 2048, GRT_F32, 1, 8);
        grt_dev_matmul(g_dev, &o, &x, &w, NULL, 1, false); /* K 15 != 16 */
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
}

static void test_embed_bad_id(void) {
    grt_device_options o = {.n_threads = 1};
    grt_device *d = NULL, *saved = g_dev;
    CHECK(grt_device_open("cpu", &o, &d) == GRT_OK);
    g_dev = d;
    grt_buffer *b = mkbuf(4096);
    grt_tensor tab = view(b, 0, GRT_F32, 4, 8), ids = view(b, 1024, GRT_I32, 1, 1), out = view(b, 2048, GRT_F32, 1, 8);
    int32_t bad = 4;
    grt_dev_write(d, b, 1024, &bad, 4);
    grt_dev_embed(d, &out, &tab, &ids, 1.0f, 1);
    CHECK(grt_dev_status(d) == GRT_ERR_RANGE);
    CHECK(strstr(grt_last_error(), "token id 4") != NULL);
    CHECK(grt_dev_sync(d) == GRT_ERR_RANGE); /* sticky */
    grt_dev_buffer_free(b);
    grt_device_close(d);
    g_dev = saved;
}

/* ---------------------------------------------------------------- main */

typedef struct tcase {
    const char *name;
    void (*fn)(void);
} tcase;

static const tcase g_cases[] = {
    {"matmul_f32", test_matmul_f32},   {"matmul_f16", test_matmul_f16},
    {"matmul_bf16", test_matmul_bf16}, {"matmul_q8_0", test_matmul_q8_0},
    {"matmul_q4_0", test_matmul_q4_0}, {"rmsnorm", test_rmsnorm},
    {"rope", test_rope},               {"attention_kv_store", test_attention},
    {"glu", test_glu},                 {"embed", test_embed},
    {"advance", test_advance},         {"sample_greedy", test_sample_greedy},
    {"sample_state_writes", test_sample_state},
    {"sample_repeat_penalty", test_sample_penalty},
    {"sample_filters", test_sample_filters},
    {"sample_distribution", test_sample_distribution},
    {"sample_seeds", test_sample_seeds},
    {"sample_vs_reference", test_sample_vs_ref},
    {"sample_signed_zero", test_sample_signed_zero},
    {"copy_fill", test_copy_fill},     {"fences", test_fences},
    {"capture_replay", test_capture_replay},
};

int main(void) {
    /* avx512 twice: with VNNI where the CPU has it, and without */
    static const char *isas[] = {"scalar", "avx2", "avx512", "avx512"};
    static const char *tags[] = {"scalar", "avx2", "avx512", "avx512-novnni"};
    static const int threads[] = {1, 2, 3};
    for (int ii = 0; ii < 4; ii++) {
        for (int it = 0; it < 3; it++) {
            /* every thread count on the best path, two threads elsewhere */
            if (ii != 2 && threads[it] != 2) continue;
            char name[128];
            setenv("GENRT_CPU_ISA", isas[ii], 1);
            setenv("GENRT_CPU_VNNI", ii == 3 ? "0" : "1", 1);
            grt_device_options o = {.n_threads = threads[it]};
            grt_status s = grt_device_open("cpu", &o, &g_dev);
            if (s != GRT_OK) {
                snprintf(name, sizeof name, "%s: this CPU", isas[ii]);
                t_skip(name, grt_last_error());
                continue;
            }
            if (strcmp(grt_cpu_device_isa(g_dev), isas[ii]) != 0) {
                printf("FAIL isa %s: device picked %s\n", isas[ii], grt_cpu_device_isa(g_dev));
                return 1;
            }
            for (size_t c = 0; c < sizeof g_cases / sizeof g_cases[0]; c++) {
                snprintf(name, sizeof name, "%s/t%d/%s", tags[ii], threads[it], g_cases[c].name);
                t_run(name, g_cases[c].fn);
            }
            grt_device_close(g_dev);
        }
    }
    unsetenv("GENRT_CPU_ISA");
    grt_device_options o = {.n_threads = 2};
    if (grt_device_open("cpu", &o, &g_dev) == GRT_OK) {
        t_run("open_errors", test_open_errors);
        t_run("assert_aborts", test_assert_aborts);
        t_run("embed_bad_id", test_embed_bad_id);
        grt_device_close(g_dev);
    }
    return t_done();
}
