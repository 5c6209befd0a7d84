/* Every op of the device interface on each GPU backend this build and
 * machine have ("cuda", "webgpu"), against the CPU backend on the same
 * random inputs, with a tolerance per op. Backends that are not available
 * report themselves skipped, with the reason.
 *
 * Tolerances (max |gpu - cpu| / max |cpu| over the output unless noted):
 *   embed, kv_store, advance, copies, fill: exact.
 *   rmsnorm, rope, glu: 1e-5 (f32 math; expf/tanhf/sqrt may differ by ulps).
 *   matmul f32/f16/bf16: 1e-4 (f32 accumulation in another order).
 *   matmul q8_0/q4_0: 2e-2 (the CPU multiplies against activations
 *     quantized to Q8_0 blocks; a backend may keep them in f32).
 *   attention: 1e-4.
 *   sample, greedy: the same token always (ties to the lowest id).
 *   sample, with temperature: the draw is a deterministic function of the
 *     logits and philox(seed, seq, ctr); backends differ only in float
 *     rounding (expf ulps, sum order), which moves a cumulative boundary by
 *     ~1e-6 of the total weight, so a draw flips only when u falls that close
 *     to a boundary: expected mismatches are far below 1 in 1000. We require
 *     at least 98% of 360 draws over varied settings to agree. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "device/device.h"
#include "dtype.h"
#include "error.h"
#include "testutil.h"

static grt_device *g_cpu, *g_dev;
static const char *g_name;

static uint64_t g_rng = 0x2545F4914F6CDD1Dull;
static uint32_t rnd_u32(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 32);
}
static float rnd(void) { return (float)((double)rnd_u32() / 2147483648.0 - 1.0); }
static void fill_rnd(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = rnd() * scale;
}

/* The same bytes on the CPU and on the device under test. */
typedef struct twin {
    grt_buffer *c, *d;
    size_t size;
} twin;

static twin twin_new(size_t size, unsigned flags) {
    twin t = {NULL, NULL, size};
    if (grt_dev_buffer_new(g_cpu, size, flags, &t.c) || grt_dev_buffer_new(g_dev, size, flags, &t.d)) {
        printf("buffer_new: %s\n", grt_last_error());
        exit(2);
    }
    return t;
}

static twin twin_data(const void *data, size_t n) {
    twin t = twin_new(n + 256, GRT_BUF_DEVICE);
    grt_dev_write(g_cpu, t.c, 0, data, n);
    grt_dev_write(g_dev, t.d, 0, data, n);
    return t;
}

static void twin_free(twin *t) {
    grt_dev_buffer_free(t->c);
    grt_dev_buffer_free(t->d);
    t->c = t->d = NULL;
}

static grt_tensor tv(grt_buffer *b, size_t off, grt_dtype type, int64_t rows, int64_t cols) {
    int64_t ne[2] = {rows, cols};
    return grt_tensor_view(b, off, type, 2, ne);
}

/* Read n bytes of both sides; false (and a message) on a device error. */
static bool fetch(twin *t, size_t off, void *c, void *d, size_t n) {
    if (grt_dev_read(g_cpu, t->c, off, c, n) || grt_dev_read(g_dev, t->d, off, d, n)) {
        printf("  read: %s\n", grt_last_error());
        return false;
    }
    return true;
}

static double rel_err(const float *got, const float *ref, int64_t n) {
    double m = 0, e = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (!(d == d) || isinf(d)) return INFINITY;
        if (d > e) e = d;
        if (fabs(ref[i]) > m) m = fabs(ref[i]);
    }
    return m > 0 ? e / m : e;
}

/* Compare n floats at off; prints the case on failure. */
static bool cmp_f32(twin *t, size_t off, int64_t n, double tol, const char *what) {
    float *a = malloc((size_t)n * 4), *b = malloc((size_t)n * 4);
    bool ok = fetch(t, off, a, b, (size_t)n * 4);
    double e = ok ? rel_err(b, a, n) : INFINITY;
    if (!(e <= tol)) {
        printf("  %s: rel err %.3g > %.1e\n", what, e, tol);
        ok = false;
    }
    free(a);
    free(b);
    return ok;
}

static bool cmp_bytes(twin *t, size_t off, size_t n, const char *what) {
    uint8_t *a = malloc(n ? n : 1), *b = malloc(n ? n : 1);
    bool ok = fetch(t, off, a, b, n) && memcmp(a, b, n) == 0;
    if (!ok) printf("  %s: bytes differ\n", what);
    free(a);
    free(b);
    return ok;
}

static twin state_twin(int n_seqs, const int *pos) {
    grt_step_state *st = calloc((size_t)n_seqs, sizeof *st);
    for (int i = 0; i < n_seqs; i++) st[i].pos = pos[i], st[i].rng_ctr = (uint32_t)(7 * i + 3);
    twin t = twin_data(st, (size_t)n_seqs * sizeof *st);
    free(st);
    return t;
}

static grt_tensor state_view(grt_buffer *b, int n_seqs) {
    return tv(b, 0, GRT_I32, n_seqs, (int64_t)sizeof(grt_step_state) / 4);
}

static bool ok_status(void) {
    if (grt_dev_sync(g_dev) != GRT_OK || grt_dev_sync(g_cpu) != GRT_OK) {
        printf("  device error: %s\n", grt_last_error());
        return false;
    }
    return true;
}

static const grt_dtype g_wtypes[] = {GRT_F32, GRT_F16, GRT_BF16, GRT_Q8_0, GRT_Q4_0};

/* Random weights of type t, [N, K], in GGUF layout. */
static void *make_weights(grt_dtype t, int64_t N, int64_t K, size_t *bytes) {
    size_t row = grt_row_bytes(t, K);
    uint8_t *w = malloc(row * (size_t)N);
    float *f = malloc((size_t)K * 4);
    for (int64_t n = 0; n < N; n++) {
        fill_rnd(f, K, 0.5f);
        grt_quantize_row(t, f, w + (size_t)n * row, K);
    }
    free(f);
    *bytes = row * (size_t)N;
    return w;
}

/* ---------------------------------------------------------------- cases */

static void test_embed(void) {
    for (size_t ti = 0; ti < 5; ti++) {
        grt_dtype t = g_wtypes[ti];
        int64_t V = 37, E = 96;
        size_t wb;
        void *w = make_weights(t, V, E, &wb);
        twin tab = twin_data(w, wb);
        int32_t ids[5] = {0, 36, 5, 5, 17};
        twin idb = twin_data(ids, sizeof ids);
        twin out = twin_new(5 * E * 4, GRT_BUF_DEVICE);
        grt_tensor tc = tv(tab.c, 0, t, V, E), td = tv(tab.d, 0, t, V, E);
        grt_tensor ic = tv(idb.c, 0, GRT_I32, 1, 5), id = tv(idb.d, 0, GRT_I32, 1, 5);
        grt_tensor oc = tv(out.c, 0, GRT_F32, 5, E), od = tv(out.d, 0, GRT_F32, 5, E);
        grt_dev_embed(g_cpu, &oc, &tc, &ic, 1.5f, 5);
        grt_dev_embed(g_dev, &od, &td, &id, 1.5f, 5);
        CHECK(ok_status());
        CHECKF(cmp_f32(&out, 0, 5 * E, 0, "embed"), "type %s", grt_dtype_name(t));
        twin_free(&tab);
        twin_free(&idb);
        twin_free(&out);
        free(w);
    }
}

static void test_rmsnorm(void) {
    const int64_t dims[] = {1, 31, 64, 576, 2048, 4096, 5000};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        int64_t D = dims[i], R = 3;
        float *x = malloc((size_t)(R * D) * 4), *w = malloc((size_t)D * 4);
        fill_rnd(x, R * D, 3.0f);
        fill_rnd(w, D, 1.0f);
        twin xb = twin_data(x, (size_t)(R * D) * 4), wb = twin_data(w, (size_t)D * 4);
        twin out = twin_new((size_t)(R * D) * 4, GRT_BUF_DEVICE);
        grt_tensor xc = tv(xb.c, 0, GRT_F32, R, D), xd = tv(xb.d, 0, GRT_F32, R, D);
        grt_tensor wc = tv(wb.c, 0, GRT_F32, 1, D), wd = tv(wb.d, 0, GRT_F32, 1, D);
        grt_tensor oc = tv(out.c, 0, GRT_F32, R, D), od = tv(out.d, 0, GRT_F32, R, D);
        grt_dev_rmsnorm(g_cpu, &oc, &xc, &wc, R, D, 1e-6f);
        grt_dev_rmsnorm(g_dev, &od, &xd, &wd, R, D, 1e-6f);
        /* in place too */
        grt_dev_rmsnorm(g_cpu, &xc, &xc, &wc, R, D, 1e-5f);
        grt_dev_rmsnorm(g_dev, &xd, &xd, &wd, R, D, 1e-5f);
        CHECK(ok_status());
        CHECKF(cmp_f32(&out, 0, R * D, 1e-5, "rmsnorm"), "dim %lld", (long long)D);
        CHECKF(cmp_f32(&xb, 0, R * D, 1e-5, "rmsnorm in place"), "dim %lld", (long long)D);
        twin_free(&xb);
        twin_free(&wb);
        twin_free(&out);
        free(x);
        free(w);
    }
}

/* prep: the weight goes through grt_dev_prepare_weight first (the CUDA
 * backend repacks Q8_0 / Q4_0 with K % 256 == 0 in place). tight > 0:
 * quantized weights must also give the product of the dequantized weights
 * and the f32 input (computed here in double) within tight times the size
 * of the terms: no quantized activations on the way. The weight starts
 * woff bytes into its buffer, the input xoff. */
static bool matmul_case_t(grt_dtype t, int64_t R, int64_t K, int64_t N, bool bias, bool acc, size_t xoff, bool prep,
                          double tight, size_t woff) {
    size_t wb;
    void *w = make_weights(t, N, K, &wb);
    float *x = malloc((size_t)(R * K) * 4), *b = malloc((size_t)N * 4), *o = malloc((size_t)(R * N) * 4);
    fill_rnd(x, R * K, 1.0f);
    fill_rnd(b, N, 1.0f);
    fill_rnd(o, R * N, 1.0f);
    twin W = twin_new(woff + wb + 256, GRT_BUF_DEVICE), X = twin_new(xoff + (size_t)(R * K) * 4, GRT_BUF_DEVICE),
         B = twin_data(b, (size_t)N * 4);
    grt_dev_write(g_cpu, W.c, woff, w, wb);
    grt_dev_write(g_dev, W.d, woff, w, wb);
    grt_dev_write(g_cpu, X.c, xoff, x, (size_t)(R * K) * 4);
    grt_dev_write(g_dev, X.d, xoff, x, (size_t)(R * K) * 4);
    twin O = twin_data(o, (size_t)(R * N) * 4);
    grt_tensor wc = tv(W.c, woff, t, N, K), wd = tv(W.d, woff, t, N, K);
    grt_tensor xc = tv(X.c, xoff, GRT_F32, R, K), xd = tv(X.d, xoff, GRT_F32, R, K);
    grt_tensor bc = tv(B.c, 0, GRT_F32, 1, N), bd = tv(B.d, 0, GRT_F32, 1, N);
    grt_tensor oc = tv(O.c, 0, GRT_F32, R, N), od = tv(O.d, 0, GRT_F32, R, N);
    if (prep && (grt_dev_prepare_weight(g_cpu, &wc) || grt_dev_prepare_weight(g_dev, &wd))) printf("  prepare: %s\n", grt_last_error());
    grt_dev_matmul(g_cpu, &oc, &xc, &wc, bias ? &bc : NULL, R, acc);
    grt_dev_matmul(g_dev, &od, &xd, &wd, bias ? &bd : NULL, R, acc);
    bool q = t == GRT_Q8_0 || t == GRT_Q4_0;
    bool ok = ok_status();
    if (ok && q) {
        /* Quantized weights may meet Q8_0 activations (each off by up to half
         * a step of its block), so the error is measured against the size
         * of the terms, max over outputs of sum_k |w[n,k] x[r,k]|, not
         * against the result, which one draw can bring near zero. */
        float *wr = malloc((size_t)K * 4), *a = malloc((size_t)(R * N) * 4), *d = malloc((size_t)(R * N) * 4);
        double *ref = malloc((size_t)(R * N) * sizeof(double));
        double scale = 0, e = 0, et = 0;
        for (int64_t n = 0; n < N; n++) {
            grt_dequantize_row(t, (const char *)w + (size_t)n * grt_row_bytes(t, K), wr, K);
            for (int64_t r = 0; r < R; r++) {
                double m = 0, y = 0;
                for (int64_t k = 0; k < K; k++) {
                    m += fabs((double)wr[k] * x[r * K + k]);
                    y += (double)wr[k] * x[r * K + k];
                }
                if (m > scale) scale = m;
                ref[r * N + n] = y + (bias ? b[n] : 0.0) + (acc ? o[r * N + n] : 0.0);
            }
        }
        ok = fetch(&O, 0, a, d, (size_t)(R * N) * 4);
        for (int64_t i = 0; ok && i < R * N; i++) {
            double di = fabs((double)a[i] - d[i]), ti = fabs(ref[i] - d[i]);
            if (!(di <= 1e30)) di = INFINITY;
            if (!(ti <= 1e30)) ti = INFINITY;
            if (di > e) e = di;
            if (ti > et) et = ti;
        }
        if (ok && !(e <= 1e-2 * scale)) {
            printf("  matmul: max err %.3g > 1e-2 x %.3g (size of the terms)\n", e, scale);
            ok = false;
        }
        if (ok && tight > 0 && !(et <= tight * scale)) {
            printf("  matmul: max err %.3g against f32 inputs > %.1e x %.3g (size of the terms)\n", et, tight, scale);
            ok = false;
        }
        free(ref);
        free(wr);
        free(a);
        free(d);
    } else if (ok) {
        ok = cmp_f32(&O, 0, R * N, 1e-4, "matmul");
    }
    if (!ok)
        printf("  matmul %s rows %lld K %lld N %lld bias %d acc %d xoff %zu woff %zu prepared %d\n", grt_dtype_name(t),
               (long long)R, (long long)K, (long long)N, bias, acc, xoff, woff, prep);
    twin_free(&W);
    twin_free(&X);
    twin_free(&B);
    twin_free(&O);
    free(w);
    free(x);
    free(b);
    free(o);
    return ok;
}

static bool matmul_case_p(grt_dtype t, int64_t R, int64_t K, int64_t N, bool bias, bool acc, size_t xoff, bool prep) {
    return matmul_case_t(t, R, K, N, bias, acc, xoff, prep, 0, 0);
}

static bool matmul_case(grt_dtype t, int64_t R, int64_t K, int64_t N, bool bias, bool acc, size_t xoff) {
    return matmul_case_p(t, R, K, N, bias, acc, xoff, false);
}

static void test_matmul(void) {
    const int64_t rows[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 33, 70};
    /* K 2304 and 8192: several rounds, the last one partial, in the pipelined GEMVs */
    const int64_t shapes[][2] = {{32, 1}, {96, 37}, {576, 64}, {2048, 130}, {160, 300}, {2304, 41}, {8192, 23}};
    /* GENRT_TEST_FEW=1: rows 1, 4, 9 and 3 shapes, for slow tools (racecheck) */
    bool few = getenv("GENRT_TEST_FEW") != NULL;
    size_t n_rows = few ? 3 : sizeof rows / sizeof rows[0], n_shapes = few ? 3 : sizeof shapes / sizeof shapes[0];
    const int64_t few_rows[] = {1, 4, 9}, few_shapes[][2] = {{576, 64}, {2048, 130}, {8192, 23}};
    int n = 0, bad = 0;
    for (size_t ti = 0; ti < 5; ti++)
        for (size_t r = 0; r < n_rows; r++)
            for (size_t s = 0; s < n_shapes; s++) {
                if (few) {
                    bool ok = matmul_case(g_wtypes[ti], few_rows[r], few_shapes[s][0], few_shapes[s][1], (r + s) % 2 == 0,
                                          (r + s) % 3 == 0, (r % 2) * 16);
                    n++;
                    bad += !ok;
                    continue;
                }
                bool ok = matmul_case(g_wtypes[ti], rows[r], shapes[s][0], shapes[s][1], (r + s) % 2 == 0,
                                      (r + s) % 3 == 0, (r % 2) * 16);
                n++;
                bad += !ok;
                /* quantized weights prepared (repacked where K % 256 == 0) */
                if (ti >= 3 && shapes[s][0] % 256 == 0) {
                    ok = matmul_case_p(g_wtypes[ti], rows[r], shapes[s][0], shapes[s][1], (r + s) % 2 == 1,
                                       (r + s) % 3 == 1, (r % 2) * 16, true);
                    n++;
                    bad += !ok;
                }
                if (bad > 5) break;
            }
    /* one row on GGUF-layout blocks (K % 256 != 0: never packed; CUDA's
     * k_mvq GG takes K % 64 == 0 on 4-aligned weights): one block pair (K
     * 64), rows under a warp, partial and several rounds (K 1088: 68 Q8_0
     * units), weights 2 mod 4 into the buffer (another kernel); prepared or
     * not. {K, N, weight offset} */
    const int64_t g1[][3] = {{64, 5, 0}, {576, 3, 0}, {576, 300, 2}, {1088, 77, 0}, {1600, 130, 0}, {1600, 9, 2}, {1088, 1, 0}};
    for (size_t ti = 3; ti < 5; ti++)
        for (size_t i = 0; i < sizeof g1 / sizeof g1[0]; i++) {
            bool ok = matmul_case_t(g_wtypes[ti], 1, g1[i][0], g1[i][1], i % 2 == 0, i % 3 == 1, (i % 2) * 16, i % 2 == 1,
                                    0, (size_t)g1[i][2]);
            n++;
            bad += !ok;
        }
    /* float weights with K not a multiple of 8 (unaligned rows) */
    for (size_t ti = 0; ti < 3; ti++) {
        bool ok = matmul_case(g_wtypes[ti], 1, 13, 29, true, false, 4) && matmul_case(g_wtypes[ti], 3, 44, 7, false, true, 0);
        n += 2;
        bad += !ok;
    }
    /* prefill rows on 16-bit weights (tensor cores on CUDA): M, N, K off the
     * tiles, K not a multiple of 32, both tile sizes with and without split
     * K, rows just above the GEMV limit, and K % 8 != 0 (another kernel).
     * {rows, K, N, bias, accumulate} */
    const int64_t mma[][5] = {{9, 200, 77, 1, 0},     {17, 8, 5, 0, 1},       {67, 40, 129, 1, 1},
                              {130, 1000, 300, 1, 1}, {12, 44, 33, 1, 0},     {260, 136, 8200, 0, 1},
                              {128, 2048, 256, 0, 0}, {33, 72, 1, 1, 1},      {256, 1024, 4096, 1, 1},
                              {200, 3000, 70, 0, 1}};
    for (size_t ti = 1; ti < 3; ti++)
        for (size_t i = 0; i < sizeof mma / sizeof mma[0]; i++) {
            bool ok = matmul_case(g_wtypes[ti], mma[i][0], mma[i][1], mma[i][2], mma[i][3], mma[i][4], (i % 2) * 16);
            n++;
            bad += !ok;
        }
    /* prepared, but the input not 16-aligned or too long for the staged GEMV:
     * the element-wise kernel reads the packed layout; K 576 stays GGUF */
    for (size_t ti = 3; ti < 5; ti++) {
        bool ok = matmul_case_p(g_wtypes[ti], 2, 512, 40, true, false, 4, true) &&
                  matmul_case_p(g_wtypes[ti], 4, 16384, 9, false, true, 0, true) &&
                  matmul_case_p(g_wtypes[ti], 1, 576, 70, false, false, 0, true);
        n += 3;
        bad += !ok;
    }
    printf("  %d matmul cases, %d failed\n", n, bad);
    CHECK(bad == 0);
}

/* Prefill rows on Q8_0 / Q4_0 weights. On CUDA they must run on the tensor
 * cores, which take f32 activations: a device opened with
 * GENRT_CUDA_MM_SIMT=0 (a product the tensor cores decline is an error)
 * and the tight check against the f32 inputs. */
static void test_matmul_quant_prefill(void) {
    bool cuda = strcmp(g_name, "cuda") == 0;
    grt_device *dev = g_dev, *strict = NULL;
    if (cuda) {
        setenv("GENRT_CUDA_MM_SIMT", "0", 1);
        grt_status s = grt_device_open("cuda", NULL, &strict);
        unsetenv("GENRT_CUDA_MM_SIMT");
        CHECKF(s == GRT_OK, "%s", grt_last_error());
        if (s != GRT_OK) return;
        g_dev = strict;
    }
    double tight = cuda ? 2e-5 : 0;
    bool few = getenv("GENRT_TEST_FEW") != NULL;
    int n = 0, bad = 0;
    /* GGUF layout (2-byte aligned blocks): K % 256 != 0, or not prepared;
     * both tile sizes, split K, M and N off the tiles, weights starting 2
     * or 0 mod 4 into the buffer, rows 2 or 0 mod 4 bytes long (K 96, 864,
     * 1120, 2080: 2; 576: 0), one block a row (K 32). On an H100 (132 SMs):
     * 64 x 64 tiles split 2, 1, 3, 2 for the first four, 128 x 128 tiles
     * unsplit for the fifth, split 8 for the sixth. {rows, K, N, bias,
     * accumulate, weight offset} */
    const int64_t gg[][6] = {{9, 576, 77, 1, 0, 2},       {70, 96, 129, 0, 1, 0},    {130, 864, 77, 1, 1, 6},
                             {33, 576, 300, 0, 0, 18},    {1500, 96, 1400, 1, 0, 34}, {250, 2080, 1100, 0, 1, 2},
                             {512, 576, 1536, 1, 1, 0},   {128, 512, 256, 0, 0, 0},  {17, 32, 5, 1, 1, 2},
                             {200, 1120, 70, 1, 0, 2}};
    size_t n_gg = few ? 5 : sizeof gg / sizeof gg[0];
    for (size_t ti = 3; ti < 5; ti++)
        for (size_t i = 0; i < n_gg; i++) {
            bool ok = matmul_case_t(g_wtypes[ti], gg[i][0], gg[i][1], gg[i][2], gg[i][3], gg[i][4], (i % 2) * 16, false,
                                    tight, (size_t)gg[i][5]);
            n++;
            bad += !ok;
        }
    /* prepared (packed on CUDA where K % 256 == 0): both tile sizes, split
     * K, M and N off the tiles. {rows, K, N, bias, accumulate} */
    const int64_t pk[][5] = {{9, 256, 77, 1, 0},     {70, 512, 129, 0, 1}, {130, 1024, 300, 1, 1},
                             {260, 256, 1000, 0, 0}, {33, 2048, 8, 1, 1},  {128, 4096, 256, 0, 1},
                             {300, 2048, 520, 1, 0}};
    size_t n_pk = few ? 3 : sizeof pk / sizeof pk[0];
    for (size_t ti = 3; ti < 5; ti++)
        for (size_t i = 0; i < n_pk; i++) {
            bool ok = matmul_case_t(g_wtypes[ti], pk[i][0], pk[i][1], pk[i][2], pk[i][3], pk[i][4], (i % 2) * 16, true,
                                    tight, 0);
            n++;
            bad += !ok;
        }
    printf("  %d quantized prefill cases, %d failed\n", n, bad);
    CHECK(bad == 0);
    if (cuda) {
        /* the switch is live: f32 weights never go to the tensor cores */
        size_t wb;
        void *w = make_weights(GRT_F32, 8, 64, &wb);
        twin W = twin_data(w, wb), X = twin_new(16 * 64 * 4, GRT_BUF_DEVICE), O = twin_new(16 * 8 * 4, GRT_BUF_DEVICE);
        grt_tensor wd = tv(W.d, 0, GRT_F32, 8, 64), xd = tv(X.d, 0, GRT_F32, 16, 64), od = tv(O.d, 0, GRT_F32, 16, 8);
        grt_dev_matmul(strict, &od, &xd, &wd, NULL, 16, false);
        CHECK(grt_dev_sync(strict) != GRT_OK && strstr(grt_last_error(), "GENRT_CUDA_MM_SIMT") != NULL);
        twin_free(&W);
        twin_free(&X);
        twin_free(&O);
        free(w);
        g_dev = dev;
        grt_device_close(strict);
    }
}

/* 16-bit weights times rows of very different sizes (1e-7 to 1e6, beyond
 * f16's range): each output row must match the CPU relative to its own size. */
static void test_matmul_range(void) {
    const int64_t R = 24, K = 256, N = 96;
    for (size_t ti = 1; ti < 3; ti++) {
        grt_dtype t = g_wtypes[ti];
        size_t wb;
        void *w = make_weights(t, N, K, &wb);
        float *x = malloc((size_t)(R * K) * 4), *a = malloc((size_t)(R * N) * 4), *d = malloc((size_t)(R * N) * 4);
        fill_rnd(x, R * K, 1.0f);
        for (int64_t r = 0; r < R; r++) {
            float sc = powf(10.0f, (float)(r % 14) - 7.0f);
            for (int64_t k = 0; k < K; k++) x[r * K + k] *= sc;
        }
        x[5 * K + 3] = 70000.0f * 3.0f; /* one outlier in a row of small values */
        twin W = twin_data(w, wb), X = twin_data(x, (size_t)(R * K) * 4), O = twin_new((size_t)(R * N) * 4, GRT_BUF_DEVICE);
        grt_tensor wc = tv(W.c, 0, t, N, K), wd = tv(W.d, 0, t, N, K);
        grt_tensor xc = tv(X.c, 0, GRT_F32, R, K), xd = tv(X.d, 0, GRT_F32, R, K);
        grt_tensor oc = tv(O.c, 0, GRT_F32, R, N), od = tv(O.d, 0, GRT_F32, R, N);
        grt_dev_matmul(g_cpu, &oc, &xc, &wc, NULL, R, false);
        grt_dev_matmul(g_dev, &od, &xd, &wd, NULL, R, false);
        bool ok = ok_status() && fetch(&O, 0, a, d, (size_t)(R * N) * 4);
        double worst = 0;
        for (int64_t r = 0; ok && r < R; r++) {
            double e = rel_err(d + r * N, a + r * N, N);
            if (!(e <= worst)) worst = e;
        }
        CHECKF(ok && worst <= 1e-4, "%s: worst row rel err %.3g", grt_dtype_name(t), worst);
        twin_free(&W);
        twin_free(&X);
        twin_free(&O);
        free(w);
        free(x);
        free(a);
        free(d);
    }
}

static void test_rope(void) {
    for (int inter = 0; inter < 2; inter++) {
        int n_seqs = 2, tps = 5, R = n_seqs * tps, H = 3, hd = 64, rot = 32;
        int pos[2] = {0, 1000};
        twin st = state_twin(n_seqs, pos);
        float f[32], *x = malloc((size_t)R * H * hd * 4);
        for (int i = 0; i < rot / 2; i++) f[i] = powf(10000.0f, -(float)(2 * i) / (float)rot);
        fill_rnd(x, (int64_t)R * H * hd, 2.0f);
        twin F = twin_data(f, sizeof f), X = twin_data(x, (size_t)R * H * hd * 4);
        grt_rows rows = {R, 0, n_seqs};
        grt_tensor sc = state_view(st.c, n_seqs), sd = state_view(st.d, n_seqs);
        grt_tensor fc = tv(F.c, 0, GRT_F32, 1, rot / 2), fd = tv(F.d, 0, GRT_F32, 1, rot / 2);
        grt_tensor xc = tv(X.c, 0, GRT_F32, R, H * hd), xd = tv(X.d, 0, GRT_F32, R, H * hd);
        grt_dev_rope(g_cpu, &xc, &fc, &sc, rows, H, hd, rot, inter);
        grt_dev_rope(g_dev, &xd, &fd, &sd, rows, H, hd, rot, inter);
        CHECK(ok_status());
        CHECKF(cmp_f32(&X, 0, (int64_t)R * H * hd, 1e-5, "rope"), "interleaved %d", inter);
        twin_free(&st);
        twin_free(&F);
        twin_free(&X);
        free(x);
    }
}

/* kv_store then attention, decode-like (one row per sequence) and
 * prefill-like (many rows of one sequence), GQA, sliding window. */
/* Random cache contents of type ct (f32 or f16), n entries. */
static twin cache_twin(grt_dtype ct, float *tmp, size_t n) {
    fill_rnd(tmp, (int64_t)n, 1.0f);
    if (ct == GRT_F32) return twin_data(tmp, n * 4);
    uint16_t *h = malloc(n * 2);
    grt_quantize_row(GRT_F16, tmp, h, (int64_t)n);
    twin t = twin_data(h, n * 2);
    free(h);
    return t;
}

static bool attn_case_ct(grt_dtype ct, int n_seqs, int tps, const int *pos, int H, int KVH, int hd, int max_ctx,
                         int window) {
    int R = n_seqs * tps, kvd = KVH * hd;
    size_t cache = (size_t)n_seqs * max_ctx * kvd, esz = ct == GRT_F32 ? 4 : 2;
    float *kc = malloc(cache * 4), *q = malloc((size_t)R * H * hd * 4), *k = malloc((size_t)R * kvd * 4),
          *v = malloc((size_t)R * kvd * 4);
    fill_rnd(q, (int64_t)R * H * hd, 1.0f);
    fill_rnd(k, (int64_t)R * kvd, 1.0f);
    fill_rnd(v, (int64_t)R * kvd, 1.0f);
    twin K = cache_twin(ct, kc, cache);
    twin V = cache_twin(ct, kc, cache), Q = twin_data(q, (size_t)R * H * hd * 4);
    twin k1 = twin_data(k, (size_t)R * kvd * 4), v1 = twin_data(v, (size_t)R * kvd * 4);
    twin O = twin_new((size_t)R * H * hd * 4, GRT_BUF_DEVICE);
    twin st = state_twin(n_seqs, pos);
    grt_rows rows = {R, 0, n_seqs};
    grt_device *devs[2] = {g_cpu, g_dev};
    for (int d = 0; d < 2; d++) {
        grt_buffer *kb = d ? K.d : K.c, *vb = d ? V.d : V.c;
        grt_tensor kt = tv(kb, 0, ct, (int64_t)n_seqs * max_ctx, kvd);
        grt_tensor vt = tv(vb, 0, ct, (int64_t)n_seqs * max_ctx, kvd);
        grt_tensor s = state_view(d ? st.d : st.c, n_seqs);
        grt_tensor kk = tv(d ? k1.d : k1.c, 0, GRT_F32, R, kvd), vv = tv(d ? v1.d : v1.c, 0, GRT_F32, R, kvd);
        grt_tensor qq = tv(d ? Q.d : Q.c, 0, GRT_F32, R, H * hd), oo = tv(d ? O.d : O.c, 0, GRT_F32, R, H * hd);
        grt_dev_kv_store(devs[d], &kt, &vt, &kk, &vv, &s, rows, kvd, max_ctx);
        grt_dev_attention(devs[d], &oo, &qq, &kt, &vt, &s, rows, H, KVH, hd, max_ctx, 1.0f / sqrtf((float)hd), window);
    }
    /* f16 caches: the stores may round differently by an ulp; the output still has to match */
    bool ok = ok_status() && (ct != GRT_F32 || (cmp_bytes(&K, 0, cache * esz, "k cache") &&
                                                cmp_bytes(&V, 0, cache * esz, "v cache"))) &&
              cmp_f32(&O, 0, (int64_t)R * H * hd, 1e-4, "attention");
    if (!ok)
        printf("  attention %s seqs %d tps %d heads %d/%d hd %d ctx %d window %d\n", grt_dtype_name(ct), n_seqs, tps,
               H, KVH, hd, max_ctx, window);
    twin_free(&K);
    twin_free(&V);
    twin_free(&Q);
    twin_free(&k1);
    twin_free(&v1);
    twin_free(&O);
    twin_free(&st);
    free(kc);
    free(q);
    free(k);
    free(v);
    return ok;
}

static bool attn_case(int n_seqs, int tps, const int *pos, int H, int KVH, int hd, int max_ctx, int window) {
    return attn_case_ct(GRT_F32, n_seqs, tps, pos, H, KVH, hd, max_ctx, window);
}

/* Prefill rows (the flash kernel on CUDA): tiles of rows and keys, their
 * partial edges, chunks that continue a sequence, windows that cut tiles,
 * GQA ratios around the tile of query vectors, head_dim 32..256, f16 caches. */
static void test_attention_prefill(void) {
    int p0[1] = {0}, p200[1] = {200}, p5[1] = {5}, p30[1] = {30}, p2[2] = {0, 77}, p9[1] = {1000};
    CHECK(attn_case(1, 300, p0, 8, 2, 64, 512, 0));     /* long prompt, G = 4 (1B-like) */
    CHECK(attn_case(1, 130, p200, 9, 3, 64, 400, 0));   /* a later chunk, G = 3 (SmolLM2-like) */
    CHECK(attn_case(1, 100, p200, 9, 3, 96, 512, 64));  /* window cuts the key tiles, head_dim 96 */
    CHECK(attn_case(1, 70, p5, 4, 4, 128, 128, 0));     /* G = 1, head_dim 128 */
    CHECK(attn_case(1, 40, p30, 4, 2, 256, 80, 17));    /* head_dim 256, odd window */
    CHECK(attn_case(1, 65, p0, 16, 2, 32, 65, 0));      /* head_dim 32, G = 8, cache exactly full */
    CHECK(attn_case(1, 33, p0, 40, 1, 64, 64, 0));      /* G = 40: one row per block */
    CHECK(attn_case(2, 50, p2, 6, 2, 64, 200, 0));      /* two sequences of rows */
    CHECK(attn_case(1, 20, p9, 4, 2, 64, 1010, 0));     /* rows past the end of the cache */
    CHECK(attn_case(1, 2, p0, 4, 2, 64, 16, 0));        /* two rows */
    CHECK(attn_case(1, 20, p5, 4, 2, 30, 64, 0));       /* head_dim % 4 != 0: the split kernels */
    if (strcmp(g_name, "cuda") != 0) return; /* WebGPU keeps f32 caches only (an error, and sticky) */
    CHECK(attn_case_ct(GRT_F16, 1, 150, p30, 8, 2, 64, 256, 0));  /* f16 caches */
    CHECK(attn_case_ct(GRT_F16, 1, 60, p200, 6, 3, 128, 300, 50)); /* f16 caches, window */
    CHECK(attn_case_ct(GRT_F16, 1, 1, p200, 6, 3, 128, 300, 50));  /* f16 caches, decode */
}

static void test_attention(void) {
    int p1[1] = {0}, p2[1] = {40}, p3[3] = {5, 300, 1023}, p4[2] = {7, 60}, p5[1] = {1000};
    CHECK(attn_case(1, 1, p1, 4, 2, 64, 16, 0));
    CHECK(attn_case(1, 12, p2, 4, 1, 32, 64, 0));       /* prefill, MQA */
    CHECK(attn_case(1, 12, p2, 6, 3, 64, 64, 8));       /* prefill across a window */
    CHECK(attn_case(3, 1, p3, 8, 2, 128, 1024, 0));     /* decode, 3 sequences */
    CHECK(attn_case(3, 1, p3, 8, 8, 64, 1024, 100));    /* decode, window */
    CHECK(attn_case(2, 3, p4, 2, 1, 96, 70, 0));        /* multi-seq rows, odd head_dim */
    CHECK(attn_case(1, 1, p5, 32, 8, 64, 1001, 0));     /* long decode, many splits */
    CHECK(attn_case(1, 1, p5, 2, 1, 256, 1001, 0));     /* head_dim 256 */
    int p6[2] = {511, 200}, p7[2] = {700, 64}, p8[4] = {1023, 1022, 63, 64};
    CHECK(attn_case(2, 1, p6, 9, 3, 96, 512, 0));       /* G = 3, head_dim 96, last slot */
    CHECK(attn_case(2, 1, p7, 14, 2, 128, 701, 300));   /* G = 7, head_dim 128, window */
    CHECK(attn_case(4, 1, p8, 32, 8, 64, 1024, 0));     /* 4 sequences, chunk edges, end of cache */
    CHECK(attn_case(4, 1, p8, 16, 2, 64, 1024, 64));    /* G = 8, window of one chunk */
}

/* rope(q), rope(k), kv_store, attention in the forward pass's order, which
 * a backend may run as one kernel (CUDA decode): every effect must match
 * the CPU's: rotated q and k, both caches, the output. */
static bool attn_block_case(int n_seqs, int tps, const int *pos, int H, int KVH, int hd, int rot, bool inter,
                            int max_ctx, int window) {
    int R = n_seqs * tps, kvd = KVH * hd;
    size_t cache = (size_t)n_seqs * max_ctx * kvd;
    float *buf = malloc(cache * 4), f[128];
    for (int i = 0; i < rot / 2; i++) f[i] = powf(10000.0f, -(float)(2 * i) / (float)rot);
    fill_rnd(buf, (int64_t)cache, 1.0f);
    twin K = twin_data(buf, cache * 4);
    fill_rnd(buf, (int64_t)cache, 1.0f);
    twin V = twin_data(buf, cache * 4);
    fill_rnd(buf, (int64_t)R * H * hd, 1.0f);
    twin Q = twin_data(buf, (size_t)R * H * hd * 4);
    fill_rnd(buf, (int64_t)R * kvd, 1.0f);
    twin k1 = twin_data(buf, (size_t)R * kvd * 4);
    fill_rnd(buf, (int64_t)R * kvd, 1.0f);
    twin v1 = twin_data(buf, (size_t)R * kvd * 4);
    twin F = twin_data(f, sizeof f);
    twin O = twin_new((size_t)R * H * hd * 4, GRT_BUF_DEVICE);
    twin st = state_twin(n_seqs, pos);
    grt_rows rows = {R, 0, n_seqs};
    grt_device *devs[2] = {g_cpu, g_dev};
    for (int d = 0; d < 2; d++) {
        grt_tensor kt = tv(d ? K.d : K.c, 0, GRT_F32, (int64_t)n_seqs * max_ctx, kvd);
        grt_tensor vt = tv(d ? V.d : V.c, 0, GRT_F32, (int64_t)n_seqs * max_ctx, kvd);
        grt_tensor s = state_view(d ? st.d : st.c, n_seqs);
        grt_tensor ff = tv(d ? F.d : F.c, 0, GRT_F32, 1, rot / 2);
        grt_tensor kk = tv(d ? k1.d : k1.c, 0, GRT_F32, R, kvd), vv = tv(d ? v1.d : v1.c, 0, GRT_F32, R, kvd);
        grt_tensor qq = tv(d ? Q.d : Q.c, 0, GRT_F32, R, H * hd), oo = tv(d ? O.d : O.c, 0, GRT_F32, R, H * hd);
        grt_dev_rope(devs[d], &qq, &ff, &s, rows, H, hd, rot, inter);
        grt_dev_rope(devs[d], &kk, &ff, &s, rows, KVH, hd, rot, inter);
        grt_dev_kv_store(devs[d], &kt, &vt, &kk, &vv, &s, rows, kvd, max_ctx);
        grt_dev_attention(devs[d], &oo, &qq, &kt, &vt, &s, rows, H, KVH, hd, max_ctx, 1.0f / sqrtf((float)hd), window);
    }
    bool ok = ok_status() && cmp_f32(&Q, 0, (int64_t)R * H * hd, 1e-5, "rotated q") &&
              cmp_f32(&k1, 0, (int64_t)R * kvd, 1e-5, "rotated k") && cmp_f32(&K, 0, (int64_t)cache, 1e-5, "k cache") &&
              cmp_bytes(&V, 0, cache * 4, "v cache") && cmp_f32(&O, 0, (int64_t)R * H * hd, 1e-4, "attention");
    if (!ok)
        printf("  rope+kv+attention seqs %d tps %d heads %d/%d hd %d rot %d inter %d ctx %d window %d\n", n_seqs, tps,
               H, KVH, hd, rot, inter, max_ctx, window);
    twin *all[] = {&K, &V, &Q, &k1, &v1, &F, &O, &st};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) twin_free(all[i]);
    free(buf);
    return ok;
}

/* The same four ops with q, k and v rows in one buffer (a model's layout),
 * captured on the device and replayed once: a backend may merge them into
 * one dispatch there (WebGPU: attn_dec with rope_kv folded in). Every
 * effect must still match the CPU's eager ops. */
static bool attn_block_captured(int n_seqs, const int *pos, int H, int KVH, int hd, bool inter, int max_ctx,
                                int window, bool shared) {
    int R = n_seqs, kvd = KVH * hd;
    size_t cache = (size_t)n_seqs * max_ctx * kvd, nq = (size_t)R * H * hd, nk = (size_t)R * kvd;
    float *buf = malloc((2 * cache + nq + 2 * nk) * 4), f[128];
    for (int i = 0; i < hd / 2; i++) f[i] = powf(10000.0f, -(float)(2 * i) / (float)hd);
    fill_rnd(buf, (int64_t)(2 * cache), 1.0f);
    twin KV = twin_data(buf, 2 * cache * 4);
    fill_rnd(buf, (int64_t)(nq + 2 * nk), 1.0f);
    twin X = twin_data(buf, (nq + 2 * nk) * 4), F = twin_data(f, sizeof f);
    twin O = twin_new(nq * 4, GRT_BUF_DEVICE), st = state_twin(n_seqs, pos);
    twin K2 = twin_new(shared ? 256 : cache * 4, GRT_BUF_DEVICE);
    grt_rows rows = {R, 0, n_seqs};
    grt_device *devs[2] = {g_cpu, g_dev};
    bool ok = true;
    for (int d = 0; d < 2 && ok; d++) {
        grt_buffer *kvb = d ? KV.d : KV.c, *vb = shared ? kvb : d ? K2.d : K2.c;
        if (!shared) grt_dev_copy(devs[d], vb, 0, kvb, cache * 4, cache * 4); /* v cache apart, same data */
        grt_tensor kt = tv(kvb, 0, GRT_F32, (int64_t)n_seqs * max_ctx, kvd);
        grt_tensor vt = tv(vb, shared ? cache * 4 : 0, GRT_F32, (int64_t)n_seqs * max_ctx, kvd);
        grt_tensor s = state_view(d ? st.d : st.c, n_seqs);
        grt_tensor ff = tv(d ? F.d : F.c, 0, GRT_F32, 1, hd / 2);
        grt_buffer *xb = d ? X.d : X.c;
        grt_tensor qq = tv(xb, 0, GRT_F32, R, H * hd), kk = tv(xb, nq * 4, GRT_F32, R, kvd);
        grt_tensor vv = tv(xb, (nq + nk) * 4, GRT_F32, R, kvd), oo = tv(d ? O.d : O.c, 0, GRT_F32, R, H * hd);
        grt_graph *g = NULL;
        if (d) ok = grt_dev_capture_begin(devs[d]) == GRT_OK;
        grt_dev_rope(devs[d], &qq, &ff, &s, rows, H, hd, hd, inter);
        grt_dev_rope(devs[d], &kk, &ff, &s, rows, KVH, hd, hd, inter);
        grt_dev_kv_store(devs[d], &kt, &vt, &kk, &vv, &s, rows, kvd, max_ctx);
        grt_dev_attention(devs[d], &oo, &qq, &kt, &vt, &s, rows, H, KVH, hd, max_ctx, 1.0f / sqrtf((float)hd),
                          window);
        if (d && ok) ok = grt_dev_capture_end(devs[d], &g) == GRT_OK;
        if (d && ok) grt_dev_graph_launch(devs[d], g);
        grt_dev_graph_free(devs[d], g);
    }
    if (!shared) { /* compare the v caches: the device's v cache lives in K2 */
        grt_dev_copy(g_dev, KV.d, cache * 4, K2.d, 0, cache * 4);
        grt_dev_copy(g_cpu, KV.c, cache * 4, K2.c, 0, cache * 4);
    }
    ok = ok && ok_status() && cmp_f32(&X, 0, (int64_t)(nq + nk), 1e-5, "rotated q, k") &&
         cmp_f32(&KV, 0, (int64_t)cache, 1e-5, "k cache") && cmp_bytes(&KV, cache * 4, cache * 4, "v cache") &&
         cmp_f32(&O, 0, (int64_t)nq, 1e-4, "attention");
    if (!ok)
        printf("  captured rope+kv+attention seqs %d heads %d/%d hd %d inter %d ctx %d window %d shared %d\n", n_seqs,
               H, KVH, hd, inter, max_ctx, window, shared);
    twin *all[] = {&KV, &X, &F, &O, &st, &K2};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) twin_free(all[i]);
    free(buf);
    return ok;
}

static void test_attention_captured(void) {
    int p1[1] = {0}, p2[1] = {383}, p3[3] = {5, 300, 1023}, p4[2] = {7, 60}, p5[1] = {4000}, p6[4] = {63, 64, 127, 0};
    CHECK(attn_block_captured(1, p1, 32, 8, 64, false, 384, 0, true));    /* 1B shape, first token */
    CHECK(attn_block_captured(1, p2, 32, 8, 64, false, 384, 0, false));   /* last slot, caches apart */
    CHECK(attn_block_captured(1, p2, 9, 3, 64, true, 384, 0, true));      /* SmolLM2 shape, interleaved */
    CHECK(attn_block_captured(3, p3, 8, 2, 128, false, 1024, 0, true));   /* 3 sequences, head_dim 128 */
    CHECK(attn_block_captured(3, p3, 8, 8, 64, false, 1024, 100, false)); /* G = 1, window */
    CHECK(attn_block_captured(2, p4, 14, 2, 64, false, 70, 0, true));     /* G = 7 */
    CHECK(attn_block_captured(1, p5, 16, 2, 96, false, 4096, 0, true));   /* G = 8, head_dim 96, many splits */
    CHECK(attn_block_captured(4, p6, 12, 4, 96, true, 128, 64, false));   /* G = 3, 4 sequences, window */
}

static void test_attention_block(void) {
    int p1[1] = {0}, p2[1] = {383}, p3[3] = {5, 300, 1023}, p4[2] = {7, 60}, p5[1] = {4000}, p6[1] = {64};
    CHECK(attn_block_case(1, 1, p1, 32, 8, 64, 64, true, 384, 0));    /* 1B shape, first token */
    CHECK(attn_block_case(1, 1, p2, 32, 8, 64, 64, true, 384, 0));    /* last slot of the cache */
    CHECK(attn_block_case(1, 1, p2, 9, 3, 64, 64, false, 384, 0));    /* SmolLM2 shape */
    CHECK(attn_block_case(3, 1, p3, 8, 2, 128, 128, true, 1024, 0));  /* 3 sequences */
    CHECK(attn_block_case(3, 1, p3, 8, 8, 64, 32, false, 1024, 100)); /* window, partial rotation */
    CHECK(attn_block_case(2, 1, p4, 14, 2, 64, 64, false, 70, 0));    /* G = 7 */
    CHECK(attn_block_case(1, 1, p5, 16, 2, 96, 96, false, 4096, 0));  /* long context, head_dim 96 */
    CHECK(attn_block_case(1, 1, p6, 8, 1, 256, 256, false, 64, 0));   /* head_dim 256, full context */
    CHECK(attn_block_case(1, 1, p6, 4, 4, 64, 64, true, 65, 0));      /* G = 1 */
    CHECK(attn_block_case(1, 12, p4, 6, 2, 64, 64, true, 128, 0));    /* prefill rows: not fused */
}

/* The first half of a decode layer, as the forward pass issues it:
 * rmsnorm, q/k/v matmuls, rope(q), rope(k), kv_store, attention, the o
 * matmul into x, advance; `steps` times, eager on the CPU and eager or
 * captured once and replayed on the device. On CUDA the matmuls run as one
 * GEMV that lets the fused attention after it read the cache before its
 * PDL wait (several splits at SmolLM2's shape at position 300); the o
 * GEMV then waits for the attention. Every effect must
 * match: x, both caches, rotated q and k, the attention output, the state.
 * Tolerance 3e-4: three f32-accumulated stages (1e-4 each) in a chain;
 * 5e-2 with quantized weights (Q8_0 activations on the CPU, as matmul). */
static bool attn_layer_case(grt_dtype wt, int n_seqs, const int *pos, int E, int H, int KVH, int hd, int max_ctx,
                            int window, int steps, bool captured) {
    /* quantized weights: the CPU multiplies Q8_0-quantized activations (see matmul) */
    double tol = wt == GRT_Q8_0 || wt == GRT_Q4_0 ? 5e-2 : 3e-4;
    int R = n_seqs, kvd = KVH * hd, qd = H * hd;
    size_t cache = (size_t)n_seqs * max_ctx * kvd, wq, wk, wv, wo;
    void *Wq = make_weights(wt, qd, E, &wq), *Wk = make_weights(wt, kvd, E, &wk), *Wv = make_weights(wt, kvd, E, &wv),
         *Wo = make_weights(wt, E, qd, &wo);
    float *buf = malloc((cache > (size_t)R * E ? cache : (size_t)R * E) * 4), f[128], nw[4096];
    for (int i = 0; i < hd / 2; i++) f[i] = powf(10000.0f, -(float)(2 * i) / (float)hd);
    /* Quantized: the CPU rounds the activations to Q8_0 and a GPU may not.
     * At this scale the scores' spread is ~5, where softmax turns those
     * roundings into ~7% of the output (seen on WebGPU); a norm weight 4x
     * smaller keeps the scores ~0.3, so the comparison checks the kernels,
     * not the softmax's sensitivity. */
    fill_rnd(nw, E, wt == GRT_Q8_0 || wt == GRT_Q4_0 ? 0.25f : 1.0f);
    fill_rnd(buf, (int64_t)cache, 1.0f);
    twin K = twin_data(buf, cache * 4);
    fill_rnd(buf, (int64_t)cache, 1.0f);
    twin V = twin_data(buf, cache * 4);
    fill_rnd(buf, (int64_t)R * E, 1.0f);
    twin X = twin_data(buf, (size_t)R * E * 4), XN = twin_new((size_t)R * E * 4, GRT_BUF_DEVICE);
    twin Q = twin_new((size_t)R * qd * 4, GRT_BUF_DEVICE), k1 = twin_new((size_t)R * kvd * 4, GRT_BUF_DEVICE);
    twin v1 = twin_new((size_t)R * kvd * 4, GRT_BUF_DEVICE), O = twin_new((size_t)R * qd * 4, GRT_BUF_DEVICE);
    twin BQ = twin_data(Wq, wq), BK = twin_data(Wk, wk), BV = twin_data(Wv, wv), BO = twin_data(Wo, wo);
    twin F = twin_data(f, sizeof f), NW = twin_data(nw, (size_t)E * 4), st = state_twin(n_seqs, pos);
    grt_rows rows = {R, 0, n_seqs};
    grt_device *devs[2] = {g_cpu, g_dev};
    bool ok = true;
    for (int d = 0; d < 2 && ok; d++) {
        grt_device *dv = devs[d];
#define SIDE(t) (d ? (t).d : (t).c)
        grt_tensor kt = tv(SIDE(K), 0, GRT_F32, (int64_t)n_seqs * max_ctx, kvd);
        grt_tensor vt = tv(SIDE(V), 0, GRT_F32, (int64_t)n_seqs * max_ctx, kvd);
        grt_tensor s = state_view(SIDE(st), n_seqs), ff = tv(SIDE(F), 0, GRT_F32, 1, hd / 2);
        grt_tensor x = tv(SIDE(X), 0, GRT_F32, R, E), xn = tv(SIDE(XN), 0, GRT_F32, R, E);
        grt_tensor nwt = tv(SIDE(NW), 0, GRT_F32, 1, E);
        grt_tensor qq = tv(SIDE(Q), 0, GRT_F32, R, qd), kk = tv(SIDE(k1), 0, GRT_F32, R, kvd);
        grt_tensor vv = tv(SIDE(v1), 0, GRT_F32, R, kvd), oo = tv(SIDE(O), 0, GRT_F32, R, qd);
        grt_tensor mq = tv(SIDE(BQ), 0, wt, qd, E), mk = tv(SIDE(BK), 0, wt, kvd, E);
        grt_tensor mv = tv(SIDE(BV), 0, wt, kvd, E), mo = tv(SIDE(BO), 0, wt, E, qd);
#undef SIDE
        grt_graph *g = NULL;
        bool cap = d && captured;
        for (int t = 0; t < (cap ? 1 : steps) && ok; t++) {
            if (cap) ok = grt_dev_capture_begin(dv) == GRT_OK;
            grt_dev_rmsnorm(dv, &xn, &x, &nwt, R, E, 1e-5f);
            grt_dev_matmul(dv, &qq, &xn, &mq, NULL, R, false);
            grt_dev_matmul(dv, &kk, &xn, &mk, NULL, R, false);
            grt_dev_matmul(dv, &vv, &xn, &mv, NULL, R, false);
            grt_dev_rope(dv, &qq, &ff, &s, rows, H, hd, hd, false);
            grt_dev_rope(dv, &kk, &ff, &s, rows, KVH, hd, hd, false);
            grt_dev_kv_store(dv, &kt, &vt, &kk, &vv, &s, rows, kvd, max_ctx);
            grt_dev_attention(dv, &oo, &qq, &kt, &vt, &s, rows, H, KVH, hd, max_ctx, 1.0f / sqrtf((float)hd), window);
            grt_dev_matmul(dv, &x, &oo, &mo, NULL, R, true);
            grt_dev_advance(dv, &s, rows);
            if (cap && ok) ok = grt_dev_capture_end(dv, &g) == GRT_OK;
        }
        for (int t = 0; cap && ok && t < steps; t++) grt_dev_graph_launch(dv, g);
        grt_dev_graph_free(dv, g);
    }
    ok = ok && ok_status() && cmp_f32(&X, 0, (int64_t)R * E, tol, "x") &&
         cmp_f32(&Q, 0, (int64_t)R * qd, tol, "rotated q") && cmp_f32(&k1, 0, (int64_t)R * kvd, tol, "rotated k") &&
         cmp_f32(&K, 0, (int64_t)cache, tol, "k cache") && cmp_f32(&V, 0, (int64_t)cache, tol, "v cache") &&
         cmp_f32(&O, 0, (int64_t)R * qd, tol, "attention") && cmp_bytes(&st, 0, (size_t)n_seqs * sizeof(grt_step_state), "state");
    if (!ok)
        printf("  layer %s seqs %d E %d heads %d/%d hd %d ctx %d window %d steps %d captured %d\n", grt_dtype_name(wt),
               n_seqs, E, H, KVH, hd, max_ctx, window, steps, captured);
    twin *all[] = {&K, &V, &X, &XN, &Q, &k1, &v1, &O, &BQ, &BK, &BV, &BO, &F, &NW, &st};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) twin_free(all[i]);
    free(buf);
    free(Wq);
    free(Wk);
    free(Wv);
    free(Wo);
    return ok;
}

static void test_attention_layer(void) {
    int p1[1] = {300}, p2[1] = {0}, p3[2] = {5, 700}, p4[1] = {200}, p5[3] = {1000, 500, 20};
    CHECK(attn_layer_case(GRT_BF16, 1, p1, 576, 9, 3, 64, 384, 0, 3, true));     /* SmolLM2 shape */
    CHECK(attn_layer_case(GRT_BF16, 1, p2, 512, 32, 8, 64, 384, 0, 2, false));   /* 1B heads, first tokens */
    CHECK(attn_layer_case(GRT_F16, 2, p3, 256, 8, 2, 128, 1024, 0, 2, true));    /* 2 sequences */
    CHECK(attn_layer_case(GRT_F32, 1, p4, 256, 4, 1, 64, 256, 64, 3, true));     /* G = 4, window */
    CHECK(attn_layer_case(GRT_Q8_0, 1, p1, 256, 8, 2, 64, 384, 0, 2, true));     /* quantized GEMVs around it */
    CHECK(attn_layer_case(GRT_Q4_0, 1, p1, 256, 9, 3, 64, 384, 0, 2, false));    /* o rows of 576: older GEMV */
    /* 144 KV groups: one split of up to 1024 keys, more than shared memory stages */
    CHECK(attn_layer_case(GRT_BF16, 3, p5, 256, 48, 48, 64, 1024, 0, 2, true));
}

static void test_glu(void) {
    for (int act = 0; act < 2; act++) {
        int64_t R = 3, F = 1000;
        float *g = malloc((size_t)(R * F) * 4), *u = malloc((size_t)(R * F) * 4);
        fill_rnd(g, R * F, 6.0f);
        fill_rnd(u, R * F, 2.0f);
        twin G = twin_data(g, (size_t)(R * F) * 4), U = twin_data(u, (size_t)(R * F) * 4);
        grt_tensor gc = tv(G.c, 0, GRT_F32, R, F), gd = tv(G.d, 0, GRT_F32, R, F);
        grt_tensor uc = tv(U.c, 0, GRT_F32, R, F), ud = tv(U.d, 0, GRT_F32, R, F);
        grt_dev_glu(g_cpu, &gc, &gc, &uc, R, F, (grt_act)act);
        grt_dev_glu(g_dev, &gd, &gd, &ud, R, F, (grt_act)act);
        CHECK(ok_status());
        CHECKF(cmp_f32(&G, 0, R * F, 1e-5, "glu"), "act %d", act);
        twin_free(&G);
        twin_free(&U);
        free(g);
        free(u);
    }
}

/* rmsnorm or GLU right before a matmul that reads its output (the CUDA
 * backend folds them into the GEMV's staging): the op's own output must
 * come out as if it had run alone, both when it is a separate buffer (each
 * GEMV block writes a share) and when the GLU writes over its gate input
 * (written once every block has read the input). */
static void test_glu_matmul(void) {
    const grt_dtype types[] = {GRT_BF16, GRT_Q8_0};
    for (size_t ti = 0; ti < 2; ti++)
        for (int64_t R = 1; R <= 3; R += 2) {
            grt_dtype t = types[ti];
            int64_t K = 512, N = 100;
            size_t wb;
            void *w = make_weights(t, N, K, &wb);
            float *x = malloc((size_t)(R * K) * 4), *u = malloc((size_t)(R * K) * 4), *nw = malloc((size_t)K * 4);
            fill_rnd(x, R * K, 3.0f);
            fill_rnd(u, R * K, 1.0f);
            fill_rnd(nw, K, 1.0f);
            twin W = twin_data(w, wb), X = twin_data(x, (size_t)(R * K) * 4), U = twin_data(u, (size_t)(R * K) * 4);
            twin NW = twin_data(nw, (size_t)K * 4), XN = twin_new((size_t)(R * K) * 4, GRT_BUF_DEVICE);
            twin O = twin_new((size_t)(2 * R * N) * 4, GRT_BUF_DEVICE);
            for (int d = 0; d < 2; d++) {
                grt_device *dev = d ? g_dev : g_cpu;
                grt_tensor wt = tv(d ? W.d : W.c, 0, t, N, K);
                if (t != GRT_BF16) CHECK(grt_dev_prepare_weight(dev, &wt) == GRT_OK);
                grt_tensor xt = tv(d ? X.d : X.c, 0, GRT_F32, R, K), ut = tv(d ? U.d : U.c, 0, GRT_F32, R, K);
                grt_tensor nt = tv(d ? NW.d : NW.c, 0, GRT_F32, 1, K), xn = tv(d ? XN.d : XN.c, 0, GRT_F32, R, K);
                grt_tensor o0 = tv(d ? O.d : O.c, 0, GRT_F32, R, N), o1 = tv(d ? O.d : O.c, (size_t)(R * N) * 4, GRT_F32, R, N);
                grt_dev_rmsnorm(dev, &xn, &xt, &nt, R, K, 1e-5f);
                grt_dev_matmul(dev, &o0, &xn, &wt, NULL, R, false);
                grt_dev_glu(dev, &xt, &xt, &ut, R, K, GRT_ACT_SILU); /* over its gate */
                grt_dev_matmul(dev, &o1, &xt, &wt, NULL, R, false);
            }
            CHECK(ok_status());
            CHECKF(cmp_f32(&XN, 0, R * K, 1e-5, "rmsnorm output"), "%s rows %lld", grt_dtype_name(t), (long long)R);
            CHECKF(cmp_f32(&X, 0, R * K, 1e-5, "glu output in place"), "%s rows %lld", grt_dtype_name(t), (long long)R);
            /* quantized: Q8_0 activations on the device */
            CHECKF(cmp_f32(&O, 0, 2 * R * N, t == GRT_BF16 ? 1e-4 : 2e-2, "matmuls"), "%s rows %lld", grt_dtype_name(t),
                   (long long)R);
            twin *all[] = {&W, &X, &U, &NW, &XN, &O};
            for (size_t i = 0; i < 6; i++) twin_free(all[i]);
            free(w);
            free(x);
            free(u);
            free(nw);
        }
}

/* The second half of a decode layer, as the forward pass issues it:
 * rmsnorm, the gate and up matmuls, GLU, the down matmul accumulating into
 * x; eager or captured once and replayed `steps` times. The GLU writes a
 * buffer of its own (at 0), over its gate (1, as the forward pass does) or
 * over its up input (2). On CUDA, with one row and the GLU not over up,
 * the gate / up GEMV computes the GLU too (a gate row and its up row in
 * one warp); otherwise the down GEMV's prologue does. Every effect must
 * match the CPU: x, the norm output, gate, up and the GLU output.
 * Tolerances as the attention layer's. reps: the FFN this many times a
 * step, each norm + gate / up reading the x the down GEMV before it
 * accumulated into. */
static bool ffn_case_n(grt_dtype wt, int R, int E, int F, bool bias, int in_place, int steps, bool captured, int reps) {
    double tol = wt == GRT_Q8_0 || wt == GRT_Q4_0 ? 5e-2 : 3e-4;
    size_t wg, wu, wd;
    void *Wg = make_weights(wt, F, E, &wg), *Wu = make_weights(wt, F, E, &wu), *Wd = make_weights(wt, E, F, &wd);
    float *buf = malloc((size_t)(R > 1 ? R : 1) * (E > F ? E : F) * 4 * 2), nw[4096];
    fill_rnd(nw, E, 1.0f);
    fill_rnd(buf, (int64_t)R * E, 1.0f);
    twin X = twin_data(buf, (size_t)R * E * 4), XN = twin_new((size_t)R * E * 4, GRT_BUF_DEVICE);
    fill_rnd(buf, 2 * (int64_t)F, 0.5f);
    twin B = twin_data(buf, (size_t)F * 8); /* gate and up biases */
    twin G = twin_new((size_t)R * F * 4, GRT_BUF_DEVICE), U = twin_new((size_t)R * F * 4, GRT_BUF_DEVICE);
    twin H = twin_new((size_t)R * F * 4, GRT_BUF_DEVICE), NW = twin_data(nw, (size_t)E * 4);
    twin BG = twin_data(Wg, wg), BU = twin_data(Wu, wu), BD = twin_data(Wd, wd);
    grt_device *devs[2] = {g_cpu, g_dev};
    bool ok = true;
    for (int d = 0; d < 2 && ok; d++) {
        grt_device *dv = devs[d];
#define SIDE(t) (d ? (t).d : (t).c)
        grt_tensor x = tv(SIDE(X), 0, GRT_F32, R, E), xn = tv(SIDE(XN), 0, GRT_F32, R, E);
        grt_tensor nwt = tv(SIDE(NW), 0, GRT_F32, 1, E), bg = tv(SIDE(B), 0, GRT_F32, 1, F);
        grt_tensor bu = tv(SIDE(B), (size_t)F * 4, GRT_F32, 1, F);
        grt_tensor g = tv(SIDE(G), 0, GRT_F32, R, F), u = tv(SIDE(U), 0, GRT_F32, R, F);
        grt_tensor h = in_place == 1 ? g : in_place == 2 ? u : tv(SIDE(H), 0, GRT_F32, R, F);
        grt_tensor mg = tv(SIDE(BG), 0, wt, F, E), mu = tv(SIDE(BU), 0, wt, F, E), md = tv(SIDE(BD), 0, wt, E, F);
#undef SIDE
        grt_tensor *ws[3] = {&mg, &mu, &md};
        for (int i = 0; i < 3 && ok; i++) ok = grt_dev_prepare_weight(dv, ws[i]) == GRT_OK;
        grt_graph *gr = NULL;
        bool cap = d && captured;
        for (int t = 0; t < (cap ? 1 : steps) && ok; t++) {
            if (cap) ok = grt_dev_capture_begin(dv) == GRT_OK;
            for (int r = 0; r < reps; r++) {
                grt_dev_rmsnorm(dv, &xn, &x, &nwt, R, E, 1e-5f);
                grt_dev_matmul(dv, &g, &xn, &mg, bias ? &bg : NULL, R, false);
                grt_dev_matmul(dv, &u, &xn, &mu, bias ? &bu : NULL, R, false);
                grt_dev_glu(dv, &h, &g, &u, R, F, GRT_ACT_SILU);
                grt_dev_matmul(dv, &x, &h, &md, NULL, R, true);
            }
            if (cap && ok) ok = grt_dev_capture_end(dv, &gr) == GRT_OK;
        }
        for (int t = 0; cap && ok && t < steps; t++) grt_dev_graph_launch(dv, gr);
        grt_dev_graph_free(dv, gr);
    }
    ok = ok && ok_status() && cmp_f32(&X, 0, (int64_t)R * E, tol, "x") && cmp_f32(&XN, 0, (int64_t)R * E, tol, "norm") &&
         cmp_f32(&U, 0, (int64_t)R * F, tol, in_place == 2 ? "glu" : "up") &&
         cmp_f32(&G, 0, (int64_t)R * F, tol, in_place == 1 ? "glu" : "gate") &&
         (in_place || cmp_f32(&H, 0, (int64_t)R * F, tol, "glu"));
    if (!ok)
        printf("  ffn %s rows %d E %d F %d bias %d in place %d steps %d captured %d reps %d\n", grt_dtype_name(wt), R, E,
               F, bias, in_place, steps, captured, reps);
    twin *all[] = {&X, &XN, &B, &G, &U, &H, &NW, &BG, &BU, &BD};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) twin_free(all[i]);
    free(buf);
    free(Wg);
    free(Wu);
    free(Wd);
    return ok;
}

static bool ffn_case(grt_dtype wt, int R, int E, int F, bool bias, int in_place, int steps, bool captured) {
    return ffn_case_n(wt, R, E, F, bias, in_place, steps, captured, 1);
}

static void test_ffn(void) {
    for (size_t ti = 0; ti < sizeof g_wtypes / sizeof g_wtypes[0]; ti++) {
        grt_dtype t = g_wtypes[ti];
        CHECK(ffn_case(t, 1, 512, 1536, false, 0, 2, false)); /* paired */
        /* paired over the gate, bias, down rows of 1056, captured (on CUDA,
         * GENRT_CUDA_QG=1 makes the packed GEMV decline the pair: the GLU
         * then goes to the down GEMV's prologue) */
        CHECK(ffn_case(t, 1, 256, 1056, true, 1, 3, true));
        CHECK(ffn_case(t, 2, 256, 512, false, 1, 2, false));  /* two rows: the down GEMV's prologue */
        CHECK(ffn_case(t, 1, 256, 512, false, 2, 2, false));  /* GLU over up: the down GEMV's prologue */
    }
    CHECK(ffn_case(GRT_Q8_0, 1, 576, 1536, false, 1, 2, true)); /* rows of 576: not packed */
    CHECK(ffn_case(GRT_Q4_0, 1, 576, 1536, true, 1, 2, true));  /* (CUDA: 4 rows a warp, paired) */
    CHECK(ffn_case(GRT_Q4_0, 1, 2048, 8192, false, 1, 1, false)); /* 1B shape */
    CHECK(ffn_case(GRT_BF16, 1, 2048, 8192, false, 1, 1, false));
    /* FFN after FFN: down, then the next norm + gate / up reading its x */
    CHECK(ffn_case_n(GRT_BF16, 1, 576, 1536, false, 1, 3, true, 3)); /* SmolLM2 shape, replayed */
    CHECK(ffn_case_n(GRT_Q4_0, 1, 576, 1536, false, 1, 2, true, 3));
    CHECK(ffn_case_n(GRT_BF16, 1, 2048, 8192, false, 1, 2, false, 2)); /* eager */
}

static void test_advance(void) {
    int pos[4] = {0, 5, 9, 100};
    twin st = state_twin(4, pos);
    grt_rows a = {2, 1, 2}, b = {6, 3, 1};
    for (int d = 0; d < 2; d++) {
        grt_tensor s = state_view(d ? st.d : st.c, 4);
        grt_dev_advance(d ? g_dev : g_cpu, &s, a);
        grt_dev_advance(d ? g_dev : g_cpu, &s, b);
    }
    CHECK(ok_status());
    CHECK(cmp_bytes(&st, 0, 4 * sizeof(grt_step_state), "state"));
    twin_free(&st);
}

/* Sampling: n_seqs sequences, both devices, same inputs; returns the number
 * of sequences whose token agrees, and checks every other output. */
static int sample_round(const grt_sample_cfg *cfg, int V, int n_seqs, int seq0, int max_ctx, uint32_t ctr0,
                        bool *outputs_ok) {
    int n_total = seq0 + n_seqs, ring_len = 8;
    float *x = malloc((size_t)n_seqs * V * 4);
    for (int64_t i = 0; i < (int64_t)n_seqs * V; i++) {
        x[i] = rnd() * 4.0f;
        if (rnd_u32() % 97 == 0) x[i] = x[i > 0 ? i - 1 : 0]; /* ties */
    }
    grt_step_state *st = calloc((size_t)n_total, sizeof *st);
    int32_t *hist = calloc((size_t)n_total * max_ctx, 4);
    for (int s = 0; s < n_total; s++) {
        st[s].pos = (int)(rnd_u32() % (uint32_t)max_ctx);
        st[s].n_new = (int)(rnd_u32() % 20);
        st[s].rng_ctr = ctr0 + (uint32_t)s;
        for (int j = 0; j < max_ctx; j++) hist[(size_t)s * max_ctx + j] = (int32_t)(rnd_u32() % (uint32_t)V);
    }
    twin L = twin_data(x, (size_t)n_seqs * V * 4), S = twin_data(st, (size_t)n_total * sizeof *st);
    twin Hh = twin_data(hist, (size_t)n_total * max_ctx * 4), N = twin_new((size_t)n_total * 4, GRT_BUF_DEVICE);
    twin Rg = twin_new((size_t)n_total * ring_len * 4, GRT_BUF_HOST_VISIBLE);
    for (int d = 0; d < 2; d++) {
        grt_device *dev = d ? g_dev : g_cpu;
        grt_tensor l = tv(d ? L.d : L.c, 0, GRT_F32, n_seqs, V), s = state_view(d ? S.d : S.c, n_total);
        grt_tensor h = tv(d ? Hh.d : Hh.c, 0, GRT_I32, n_total, max_ctx), n = tv(d ? N.d : N.c, 0, GRT_I32, 1, n_total);
        grt_tensor r = tv(d ? Rg.d : Rg.c, 0, GRT_I32, n_total, ring_len);
        grt_dev_sample(dev, &l, V, cfg, &s, seq0, n_seqs, &h, max_ctx, &n, &r, ring_len);
    }
    int agree = 0;
    *outputs_ok = ok_status();
    int32_t *a = malloc((size_t)n_total * 4), *b = malloc((size_t)n_total * 4);
    if (*outputs_ok && fetch(&N, 0, a, b, (size_t)n_total * 4)) {
        for (int s = seq0; s < n_total; s++) agree += a[s] == b[s];
        /* the rest must agree wherever the tokens do */
        if (agree == n_seqs) {
            *outputs_ok = cmp_bytes(&S, 0, (size_t)n_total * sizeof *st, "state") &&
                          cmp_bytes(&Hh, 0, (size_t)n_total * max_ctx * 4, "history") &&
                          cmp_bytes(&Rg, 0, (size_t)n_total * ring_len * 4, "ring");
        }
    } else {
        *outputs_ok = false;
    }
    twin_free(&L);
    twin_free(&S);
    twin_free(&Hh);
    twin_free(&N);
    twin_free(&Rg);
    free(x);
    free(st);
    free(hist);
    free(a);
    free(b);
    return agree;
}

static grt_sample_cfg cfg_of(float temp, int top_k, float top_p, float min_p, float pen, int last_n) {
    grt_sample_cfg c;
    memset(&c, 0, sizeof c);
    c.temperature = temp;
    c.top_k = top_k;
    c.top_p = top_p;
    c.min_p = min_p;
    c.repeat_penalty = pen;
    c.repeat_last_n = last_n;
    c.seed = 1234;
    c.n_eos = 2;
    c.eos[0] = 3;
    c.eos[1] = 11;
    return c;
}

static void test_sample_greedy(void) {
    const int Vs[] = {1, 7, 1000, 49152, 128256};
    int bad = 0;
    for (size_t v = 0; v < sizeof Vs / sizeof Vs[0]; v++)
        for (int rep = 0; rep < 4; rep++) {
            grt_sample_cfg c = cfg_of(0, 0, 1, 0, rep % 2 ? 1.3f : 1.0f, rep == 3 ? -1 : 64);
            bool ok;
            int n_seqs = rep == 2 ? 3 : 1;
            int agree = sample_round(&c, Vs[v], n_seqs, rep == 2 ? 1 : 0, 300, 5, &ok);
            if (agree != n_seqs || !ok) {
                printf("  greedy V %d rep %d: %d/%d agree, outputs %s\n", Vs[v], rep, agree, n_seqs, ok ? "ok" : "differ");
                bad++;
            }
        }
    CHECK(bad == 0);
}

static void test_sample_draws(void) {
    grt_sample_cfg cfgs[] = {
        cfg_of(1.0f, 0, 1.0f, 0, 1.0f, 64),     /* full vocabulary */
        cfg_of(0.8f, 40, 0.95f, 0.05f, 1.0f, 64), /* the CLI defaults */
        cfg_of(1.5f, 0, 0.9f, 0, 1.1f, -1),     /* top-p over the vocabulary, penalty */
        cfg_of(0.7f, 5, 1.0f, 0, 1.0f, 64),     /* top-k alone */
        cfg_of(1.0f, 0, 1.0f, 0.2f, 1.0f, 64),  /* min-p alone */
        cfg_of(2.0f, 1000, 0.5f, 0.01f, 1.2f, 16),
    };
    const int Vs[] = {50, 4099, 32000};
    int total = 0, agree = 0, bad_outputs = 0;
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++)
        for (size_t v = 0; v < sizeof Vs / sizeof Vs[0]; v++)
            for (int rep = 0; rep < 16; rep++) {
                bool ok;
                int n_seqs = rep % 8 == 0 ? 3 : 1;
                int a = sample_round(&cfgs[c], Vs[v], n_seqs, 0, 128, (uint32_t)(rep * 131 + c), &ok);
                total += n_seqs;
                agree += a;
                bad_outputs += !ok;
            }
    printf("  %d of %d sampled tokens equal the CPU's\n", agree, total);
    CHECK(agree * 100 >= total * 98);
    CHECK(bad_outputs == 0);
}

static void test_copy_fill(void) {
    size_t n = 4096;
    uint8_t *src = malloc(n), *a = malloc(n), *b = malloc(n);
    for (size_t i = 0; i < n; i++) src[i] = (uint8_t)rnd_u32();
    twin A = twin_new(n, GRT_BUF_DEVICE), B = twin_new(n, GRT_BUF_DEVICE), H = twin_new(n, GRT_BUF_HOST_VISIBLE);
    for (int d = 0; d < 2; d++) {
        grt_device *dev = d ? g_dev : g_cpu;
        grt_buffer *ab = d ? A.d : A.c, *bb = d ? B.d : B.c, *hb = d ? H.d : H.c;
        grt_dev_fill(dev, ab, 0, n, 0xdeadbeefu);
        grt_dev_write(dev, ab, 3, src, 1001);
        grt_dev_fill(dev, bb, 8, 400, 0x01020304u);
        grt_dev_copy(dev, bb, 1000, ab, 7, 777);   /* device to device, odd offsets */
        grt_dev_copy(dev, hb, 5, bb, 900, 1500);   /* device to host-visible */
        grt_dev_copy(dev, ab, 2000, hb, 5, 1000);  /* host-visible to device */
        grt_dev_write(dev, hb, 3000, src + 100, 99);
    }
    CHECK(ok_status());
    CHECK(cmp_bytes(&A, 0, n, "a"));
    CHECK(cmp_bytes(&B, 0, n, "b"));
    CHECK(cmp_bytes(&H, 0, n, "host-visible"));
    /* read_completed after a fence */
    grt_fence *f;
    CHECK(grt_dev_fence_new(g_dev, &f) == GRT_OK);
    grt_dev_fence_record(g_dev, f);
    CHECK(grt_dev_fence_wait(g_dev, f) == GRT_OK);
    CHECK(grt_dev_fence_done(g_dev, f));
    CHECK(grt_dev_read_completed(g_dev, H.d, 0, a, n) == GRT_OK);
    CHECK(grt_dev_read(g_cpu, H.c, 0, b, n) == GRT_OK);
    CHECK(memcmp(a, b, n) == 0);
    grt_dev_fence_free(g_dev, f);
    twin_free(&A);
    twin_free(&B);
    twin_free(&H);
    free(src);
    free(a);
    free(b);
}

/* A prepared (repacked) quantized weight through every reader and writer:
 * embed, decode and prefill matmuls, fused rmsnorm/GLU prologues and a
 * merged group, read-back bytes, partial and whole rewrites, copies in and
 * out, a fill; after each change the device must agree with the CPU. */
static bool packed_matmuls(twin *W, grt_dtype t, int64_t N, int64_t K, size_t woff, const char *when) {
    bool ok = true;
    const int64_t rows[] = {1, 3, 4, 9};
    for (size_t ri = 0; ri < 4; ri++) {
        int64_t R = rows[ri];
        float *x = malloc((size_t)(R * K) * 4), *u = malloc((size_t)(R * K) * 4), *nw = malloc((size_t)K * 4);
        fill_rnd(x, R * K, 2.0f);
        fill_rnd(u, R * K, 1.0f);
        fill_rnd(nw, K, 1.0f);
        twin X = twin_data(x, (size_t)(R * K) * 4), U = twin_data(u, (size_t)(R * K) * 4), NW = twin_data(nw, (size_t)K * 4);
        twin XN = twin_new((size_t)(R * K) * 4, GRT_BUF_DEVICE), O = twin_new((size_t)(3 * R * N) * 4, GRT_BUF_DEVICE);
        for (int d = 0; d < 2; d++) {
            grt_device *dev = d ? g_dev : g_cpu;
            grt_buffer *xb = d ? X.d : X.c, *ub = d ? U.d : U.c, *nb = d ? NW.d : NW.c, *xnb = d ? XN.d : XN.c;
            grt_buffer *ob = d ? O.d : O.c, *wb = d ? W->d : W->c;
            grt_tensor w = tv(wb, woff, t, N, K), xt = tv(xb, 0, GRT_F32, R, K), ut = tv(ub, 0, GRT_F32, R, K);
            grt_tensor nt = tv(nb, 0, GRT_F32, 1, K), xn = tv(xnb, 0, GRT_F32, R, K);
            grt_tensor o0 = tv(ob, 0, GRT_F32, R, N), o1 = tv(ob, (size_t)(R * N) * 4, GRT_F32, R, N);
            grt_tensor o2 = tv(ob, (size_t)(2 * R * N) * 4, GRT_F32, R, N);
            /* rmsnorm then a merged group of three; GLU then one, accumulating */
            grt_dev_rmsnorm(dev, &xn, &xt, &nt, R, K, 1e-5f);
            grt_dev_matmul(dev, &o0, &xn, &w, NULL, R, false);
            grt_dev_matmul(dev, &o1, &xn, &w, NULL, R, false);
            grt_dev_matmul(dev, &o2, &xt, &w, NULL, R, false);
            grt_dev_glu(dev, &xn, &xt, &ut, R, K, GRT_ACT_SILU);
            grt_dev_matmul(dev, &o1, &xn, &w, NULL, R, true);
        }
        if (!ok_status()) ok = false;
        /* Q8_0 activations on either side: errors of a few steps of the
         * largest activation over the sum of |w x| terms */
        if (ok && !cmp_f32(&O, 0, 3 * R * N, 2e-2, "packed matmul")) {
            printf("  %s %s rows %lld K %lld N %lld (%s)\n", "packed", grt_dtype_name(t), (long long)R, (long long)K,
                   (long long)N, when);
            ok = false;
        }
        if (ok && !cmp_f32(&XN, 0, R * K, 1e-5, "glu output")) ok = false;
        twin_free(&X);
        twin_free(&U);
        twin_free(&NW);
        twin_free(&XN);
        twin_free(&O);
        free(x);
        free(u);
        free(nw);
    }
    /* embed rows of the table */
    int32_t ids[4] = {0, (int32_t)N - 1, 5, 2};
    twin I = twin_data(ids, sizeof ids), E = twin_new((size_t)(4 * K) * 4, GRT_BUF_DEVICE);
    for (int d = 0; d < 2; d++) {
        grt_device *dev = d ? g_dev : g_cpu;
        grt_tensor w = tv(d ? W->d : W->c, woff, t, N, K), it = tv(d ? I.d : I.c, 0, GRT_I32, 1, 4);
        grt_tensor e = tv(d ? E.d : E.c, 0, GRT_F32, 4, K);
        grt_dev_embed(dev, &e, &w, &it, 0.5f, 4);
    }
    if (!ok_status() || !cmp_f32(&E, 0, 4 * K, 0, "packed embed")) {
        printf("  packed embed %s (%s)\n", grt_dtype_name(t), when);
        ok = false;
    }
    twin_free(&I);
    twin_free(&E);
    return ok;
}

static void test_packed_weights(void) {
    for (size_t ti = 3; ti < 5; ti++) {
        grt_dtype t = g_wtypes[ti];
        int64_t N = 72, K = 768;
        size_t row = grt_row_bytes(t, K), woff = 2 * row, wb, wb2;
        /* the weight sits after two rows of other bytes in its buffer */
        void *w = make_weights(t, N + 4, K, &wb), *w2 = make_weights(t, N, K, &wb2);
        twin W = twin_data(w, wb);
        grt_tensor wc = tv(W.c, woff, t, N, K), wd = tv(W.d, woff, t, N, K);
        CHECK(grt_dev_prepare_weight(g_cpu, &wc) == GRT_OK && grt_dev_prepare_weight(g_dev, &wd) == GRT_OK);
        CHECK(grt_dev_prepare_weight(g_dev, &wd) == GRT_OK); /* again: nothing */
        CHECKF(cmp_bytes(&W, 0, wb, "read back"), "%s", grt_dtype_name(t));
        CHECKF(packed_matmuls(&W, t, N, K, woff, "as prepared"), "%s", grt_dtype_name(t));
        /* a few rows rewritten, one write spanning the region's end (bytes
         * land at their own place in a block: scales stay scales, finite) */
        size_t bs = grt_dtype_block_bytes(t);
        for (int d = 0; d < 2; d++) {
            grt_device *dev = d ? g_dev : g_cpu;
            grt_buffer *b = d ? W.d : W.c;
            grt_dev_write(dev, b, woff + 3 * row + 2 * bs, (const char *)w2 + 2 * bs, row + 5 * bs + 3);
            grt_dev_write(dev, b, woff + (N - 1) * row, (const char *)w2, 2 * row);
        }
        CHECKF(cmp_bytes(&W, 0, wb, "read back after partial writes"), "%s", grt_dtype_name(t));
        CHECKF(packed_matmuls(&W, t, N, K, woff, "rows rewritten"), "%s", grt_dtype_name(t));
        /* the whole matrix rewritten, then bytes copied in from a plain buffer
         * and out to one (odd offsets), and a fill inside it */
        twin P = twin_data(w2, wb2);
        for (int d = 0; d < 2; d++) {
            grt_device *dev = d ? g_dev : g_cpu;
            grt_buffer *b = d ? W.d : W.c, *pb = d ? P.d : P.c;
            grt_dev_write(dev, b, woff, w2, wb2);
            grt_dev_copy(dev, b, woff + 10 * row + 3, pb, 3, 3 * row);
            grt_dev_copy(dev, pb, 5, b, woff + 20 * row + 11, 2 * row + 7);
            grt_dev_copy(dev, b, woff + 40 * row + 4, b, woff + 30 * row + 4, row); /* WebGPU: 4-aligned within a buffer */
            /* f16 scales of 1/128 and quants 0 and 32: weights of the other
             * rows' size (f16 ones gave weights of -8 and 60, whose Q8_0
             * activation errors on the CPU side outgrew the tolerance) */
            grt_dev_fill(dev, b, woff + 50 * row + 4, 64, 0x20002000u);
        }
        CHECKF(cmp_bytes(&W, 0, wb, "read back after rewrite, copies, fill"), "%s", grt_dtype_name(t));
        CHECKF(cmp_bytes(&P, 0, wb2, "bytes copied out"), "%s", grt_dtype_name(t));
        CHECKF(packed_matmuls(&W, t, N, K, woff, "rewritten"), "%s", grt_dtype_name(t));
        twin_free(&P);
        twin_free(&W);
        free(w);
        free(w2);
    }
    /* a view of a packed weight with another row length is an error, not a
     * misread (its own device: the error is sticky) */
    grt_device *dev = NULL;
    if (grt_device_open(g_name, NULL, &dev) != GRT_OK) {
        CHECK(0);
        return;
    }
    size_t wb;
    void *w = make_weights(GRT_Q8_0, 8, 512, &wb);
    grt_buffer *b = NULL, *xo = NULL;
    CHECK(grt_dev_buffer_new(dev, wb, GRT_BUF_DEVICE, &b) == GRT_OK && grt_dev_buffer_new(dev, 64 * 1024, GRT_BUF_DEVICE, &xo) == GRT_OK);
    if (b && xo) {
        grt_dev_write(dev, b, 0, w, wb);
        /* rows of 64: not whole superblocks (rows of 256 would be, and read right) */
        grt_tensor wt = tv(b, 0, GRT_Q8_0, 8, 512), other = tv(b, 0, GRT_Q8_0, 64, 64);
        grt_tensor x = tv(xo, 0, GRT_F32, 1, 64), o = tv(xo, 4096, GRT_F32, 1, 64);
        CHECK(grt_dev_prepare_weight(dev, &wt) == GRT_OK);
        grt_dev_matmul(dev, &o, &x, &other, NULL, 1, false);
        grt_status s = grt_dev_sync(dev);
        bool packs = strcmp(g_name, "cuda") == 0;
        printf("  other row length: %s\n", s ? grt_last_error() : "ok");
        CHECK(packs ? s == GRT_ERR_INVALID_ARG : s == GRT_OK);
    }
    grt_dev_buffer_free(b);
    grt_dev_buffer_free(xo);
    grt_device_close(dev);
    free(w);
}

/* A toy decode step (embed, rmsnorm, matmul to logits, advance, sample into
 * the next input): 40 steps eagerly on the CPU, eagerly on the device, and
 * captured once on the device then replayed 40 times. Outputs: history,
 * state and ring bytes ([max_ctx + 8 + ring_len] words). */
enum { TOY_V = 300, TOY_E = 64, TOY_CTX = 64, TOY_RING = 8, TOY_WORDS = TOY_CTX + 8 + TOY_RING };

static bool toy_run(grt_device *dev, bool capture, const void *w, size_t wb, int32_t *out) {
    float nw[TOY_E];
    for (int i = 0; i < TOY_E; i++) nw[i] = 1.0f + 0.01f * (float)i;
    grt_step_state st0;
    memset(&st0, 0, sizeof st0);
    grt_buffer *W, *NW, *X, *L, *S, *H, *N, *R;
    if (grt_dev_buffer_new(dev, wb, 0, &W) || grt_dev_buffer_new(dev, sizeof nw, 0, &NW) ||
        grt_dev_buffer_new(dev, TOY_E * 4, 0, &X) || grt_dev_buffer_new(dev, TOY_V * 4, 0, &L) ||
        grt_dev_buffer_new(dev, sizeof st0, 0, &S) || grt_dev_buffer_new(dev, TOY_CTX * 4, 0, &H) ||
        grt_dev_buffer_new(dev, 4, 0, &N) || grt_dev_buffer_new(dev, TOY_RING * 4, GRT_BUF_HOST_VISIBLE, &R)) {
        printf("  toy buffers: %s\n", grt_last_error());
        return false;
    }
    grt_dev_write(dev, W, 0, w, wb);
    grt_dev_write(dev, NW, 0, nw, sizeof nw);
    grt_dev_fill(dev, S, 0, sizeof st0, 0);
    grt_dev_fill(dev, H, 0, TOY_CTX * 4, 0);
    grt_dev_fill(dev, N, 0, 4, 0);
    grt_dev_fill(dev, R, 0, TOY_RING * 4, 0);
    grt_tensor wt = tv(W, 0, GRT_F32, TOY_V, TOY_E), nt = tv(NW, 0, GRT_F32, 1, TOY_E);
    grt_tensor x = tv(X, 0, GRT_F32, 1, TOY_E), l = tv(L, 0, GRT_F32, 1, TOY_V);
    grt_tensor s = state_view(S, 1), h = tv(H, 0, GRT_I32, 1, TOY_CTX);
    grt_tensor n = tv(N, 0, GRT_I32, 1, 1), r = tv(R, 0, GRT_I32, 1, TOY_RING);
    grt_rows rows = {1, 0, 1};
    grt_sample_cfg cfg = cfg_of(0, 0, 1, 0, 1.5f, -1);
    grt_graph *g = NULL;
    bool ok = true;
    if (capture && grt_dev_capture_begin(dev) != GRT_OK) {
        printf("  capture_begin: %s\n", grt_last_error());
        ok = false;
    }
    for (int step = 0; ok && step < (capture ? 1 : 40); step++) {
        grt_dev_embed(dev, &x, &wt, &n, 1.0f, 1);
        grt_dev_rmsnorm(dev, &x, &x, &nt, 1, TOY_E, 1e-5f);
        grt_dev_matmul(dev, &l, &x, &wt, NULL, 1, false);
        grt_dev_advance(dev, &s, rows);
        grt_dev_sample(dev, &l, TOY_V, &cfg, &s, 0, 1, &h, TOY_CTX, &n, &r, TOY_RING);
    }
    if (ok && capture) {
        if (grt_dev_capture_end(dev, &g) != GRT_OK) {
            printf("  capture_end: %s\n", grt_last_error());
            ok = false;
        }
        for (int step = 0; ok && step < 40; step++) grt_dev_graph_launch(dev, g);
    }
    ok = ok && grt_dev_read(dev, H, 0, out, TOY_CTX * 4) == GRT_OK &&
         grt_dev_read(dev, S, 0, out + TOY_CTX, sizeof st0) == GRT_OK &&
         grt_dev_read(dev, R, 0, out + TOY_CTX + 8, TOY_RING * 4) == GRT_OK;
    grt_dev_graph_free(dev, g);
    grt_buffer *all[] = {W, NW, X, L, S, H, N, R};
    for (int i = 0; i < 8; i++) grt_dev_buffer_free(all[i]);
    return ok;
}

static void test_capture_replay(void) {
    size_t wb;
    void *w = make_weights(GRT_F32, TOY_V, TOY_E, &wb);
    int32_t a[TOY_WORDS], b[TOY_WORDS], c[TOY_WORDS];
    bool ok = toy_run(g_cpu, false, w, wb, a) && toy_run(g_dev, false, w, wb, b) && toy_run(g_dev, true, w, wb, c);
    CHECK(ok);
    CHECKF(ok && memcmp(b, c, sizeof b) == 0, "captured replay differs from eager steps");
    CHECKF(ok && memcmp(a, b, sizeof a) == 0, "eager steps differ from the CPU's");
    CHECK(a[TOY_CTX] == 40); /* pos */
    free(w);
}

/* Device memory exhaustion is an error that says how much, not a crash: the
 * message names what was free (CUDA) or the adapter limit hit (WebGPU). */
static void test_out_of_memory(void) {
    grt_buffer *b = NULL;
    grt_status s = grt_dev_buffer_new(g_dev, (size_t)1 << 50, GRT_BUF_DEVICE, &b);
    CHECK(s == GRT_ERR_NO_MEMORY && b == NULL);
    printf("  %s\n", grt_last_error());
    CHECK(strstr(grt_last_error(), "free") != NULL || strstr(grt_last_error(), "max") != NULL);
    CHECK(grt_dev_status(g_dev) == GRT_OK); /* not sticky: the device still works */
}

int main(void) {
    if (grt_device_open("cpu", NULL, &g_cpu) != GRT_OK) {
        printf("FAIL cpu device: %s\n", grt_last_error());
        return 1;
    }
    const char *devs[] = {"cuda", "webgpu"};
    for (size_t d = 0; d < sizeof devs / sizeof devs[0]; d++) {
        g_name = devs[d];
        const char *why = NULL;
        char name[128];
        if (!grt_device_available(g_name, &why)) {
            snprintf(name, sizeof name, "%s ops vs cpu", g_name);
            t_skip(name, why ? why : "unavailable");
            continue;
        }
        if (grt_device_open(g_name, NULL, &g_dev) != GRT_OK) {
            printf("FAIL %s open: %s\n", g_name, grt_last_error());
            continue;
        }
        struct {
            const char *n;
            void (*fn)(void);
        } cases[] = {
            {"embed", test_embed},           {"rmsnorm", test_rmsnorm},
            {"matmul", test_matmul},         {"matmul quantized prefill", test_matmul_quant_prefill},
            {"matmul_range", test_matmul_range},
            {"packed weights", test_packed_weights}, {"rope", test_rope},
            {"kv_store+attention", test_attention}, {"kv_store+attention prefill", test_attention_prefill},
            {"rope+kv_store+attention", test_attention_block},
            {"rope+kv_store+attention captured", test_attention_captured},
            {"layer: qkv+rope+kv_store+attention+o", test_attention_layer},
            {"glu", test_glu},               {"rmsnorm/glu + matmul", test_glu_matmul},
            {"ffn: rmsnorm+gate/up+glu+down", test_ffn},
            {"advance", test_advance},       {"sample_greedy", test_sample_greedy},
            {"sample_draws", test_sample_draws}, {"copy_fill", test_copy_fill},
            {"capture_replay", test_capture_replay}, {"out_of_memory", test_out_of_memory},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            snprintf(name, sizeof name, "%s/%s", g_name, cases[i].n);
            t_run(name, cases[i].fn);
        }
        grt_device_close(g_dev);
        g_dev = NULL;
    }
    grt_device_close(g_cpu);
    return t_done();
}
