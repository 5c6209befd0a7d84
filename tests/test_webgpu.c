/* The WebGPU backend on its own: every kernel against naive references or
 * the CPU backend (all weight types), copies and fills at offsets, the
 * mapped token ring, no object creation after warm-up, Dawn's Null adapter
 * reported as no adapter, a lost device, limits. Skipped, with the reason,
 * where no WebGPU adapter is available. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "device/device.h"
#include "device/webgpu/webgpu.h"
#include "genrt.h"
#include "model.h"
#include "testutil.h"
#include "trace.h"

#ifdef GRT_HAVE_WEBGPU
static grt_device *G, *C; /* webgpu, cpu */
static const char *g_self;

static uint32_t g_rng = 12345;
static float frand(void) {
    g_rng = g_rng * 1664525u + 1013904223u;
    return (float)((g_rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static grt_buffer *upload(grt_device *d, const void *host, size_t n, size_t cap) {
    grt_buffer *b = NULL;
    if (grt_dev_buffer_new(d, cap > n ? cap : n, GRT_BUF_DEVICE, &b) != GRT_OK) return NULL;
    if (n) grt_dev_write(d, b, 0, host, n);
    return b;
}

static grt_tensor view(grt_buffer *b, size_t off, grt_dtype t, int64_t d0, int64_t d1) {
    int64_t ne[2] = {d0, d1};
    return grt_tensor_view(b, off, t, d1 ? 2 : 1, ne);
}

static double max_rel(const float *a, const float *b, size_t n) {
    double m = 0, s = 1e-6;
    for (size_t i = 0; i < n; i++) s = fmax(s, fabs(b[i]));
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]) / s);
    return m;
}

/* ---------------------------------------------------------------- memory */

static void test_copy_fill_offsets(void) {
    uint8_t a[1000], b[1000], ea[1000], eb[1000], got[1000];
    for (int i = 0; i < 1000; i++) a[i] = (uint8_t)(i * 7 + 1), b[i] = (uint8_t)(i * 13 + 5);
    grt_buffer *A = upload(G, a, 1000, 0), *B = upload(G, b, 1000, 0);
    CHECK(A && B);
    if (!A || !B) return;
    memcpy(ea, a, 1000);
    memcpy(eb, b, 1000);
    grt_dev_copy(G, B, 100, A, 12, 400);
    memcpy(eb + 100, ea + 12, 400);
    grt_dev_copy(G, A, 128, A, 0, 64); /* within one buffer */
    memmove(ea + 128, ea, 64);
    grt_dev_copy(G, A, 4, A, 0, 96); /* overlapping */
    memmove(ea + 4, ea, 96);
    grt_dev_fill(G, B, 200, 100, 0xdeadbeefu);
    for (int i = 200; i < 300; i += 4) {
        uint32_t p = 0xdeadbeefu;
        memcpy(eb + i, &p, 4);
    }
    uint8_t w[3] = {9, 8, 7};
    grt_dev_write(G, B, 501, w, 3); /* unaligned write */
    memcpy(eb + 501, w, 3);
    CHECK(grt_dev_read(G, A, 0, got, 1000) == GRT_OK);
    CHECK(memcmp(got, ea, 1000) == 0);
    CHECK(grt_dev_read(G, B, 0, got, 1000) == GRT_OK);
    CHECK(memcmp(got, eb, 1000) == 0);
    CHECK(grt_dev_read(G, B, 3, got, 14) == GRT_OK); /* unaligned read */
    CHECK(memcmp(got, eb + 3, 14) == 0);
    CHECKF(grt_dev_status(G) == GRT_OK, "%s", grt_last_error());
    grt_dev_buffer_free(A);
    grt_dev_buffer_free(B);
}

/* The ring: each fence snapshots host-visible buffers; read_completed reads
 * the newest finished snapshot and maps nothing more than asked. */
static void test_ring_mapping(void) {
    grt_buffer *R = NULL;
    grt_fence *f1 = NULL, *f2 = NULL;
    CHECK(grt_dev_buffer_new(G, 64 * 4, GRT_BUF_HOST_VISIBLE, &R) == GRT_OK);
    CHECK(grt_dev_fence_new(G, &f1) == GRT_OK && grt_dev_fence_new(G, &f2) == GRT_OK);
    if (!R || !f1 || !f2) return;
    grt_dev_fill(G, R, 0, 256, 1);
    grt_dev_fence_record(G, f1);
    CHECK(grt_dev_fence_wait(G, f1) == GRT_OK);
    CHECK(grt_dev_fence_done(G, f1));
    int32_t v = 0;
    grt_webgpu_counters c0, c1;
    grt_webgpu_get_counters(G, &c0);
    CHECKF(grt_dev_read_completed(G, R, 8, &v, 4) == GRT_OK && v == 1, "%s v=%d", grt_last_error(), v);
    grt_webgpu_get_counters(G, &c1);
    CHECK(c1.bytes_mapped - c0.bytes_mapped == 4);
    grt_dev_fill(G, R, 8, 4, 2);
    grt_dev_fence_record(G, f2);
    CHECK(grt_dev_fence_wait(G, f2) == GRT_OK);
    CHECK(grt_dev_read_completed(G, R, 8, &v, 4) == GRT_OK && v == 2);
    CHECK(grt_dev_read_completed(G, R, 12, &v, 4) == GRT_OK && v == 1);
    grt_dev_fence_free(G, f1);
    grt_dev_fence_free(G, f2);
    grt_dev_buffer_free(R);
}

/* Which reduction path ran: subgroups when the adapter has them and
 * GENRT_WEBGPU_NO_SUBGROUPS is not 1, workgroup memory otherwise. A second
 * device opened with the other setting (where the adapter allows it) and G
 * both run an rmsnorm and a one-row matvec (mvx, f16 weights, K 4096: a
 * 256-lane tree) against a double reference. */
static void test_subgroup_path(void) {
    grt_webgpu_features ft;
    CHECK(grt_webgpu_get_features(G, &ft));
    const char *ns = getenv("GENRT_WEBGPU_NO_SUBGROUPS");
    bool off = ns && strcmp(ns, "1") == 0;
    printf("  reductions: %s (adapter subgroups %d, min size %u)\n",
           ft.subgroup_math ? "subgroups" : "workgroup memory", ft.subgroups, ft.subgroup_min);
    if (ft.subgroup_math) printf("  butterfly clusters of %u lanes\n", ft.subgroup_cluster);
    CHECK(ft.subgroup_math == (ft.subgroups && !off && ft.subgroup_min >= 4));
    if (ft.subgroup_math)
        CHECK(ft.subgroup_cluster >= 4 && ft.subgroup_cluster <= 32 && ft.subgroup_cluster <= ft.subgroup_min &&
              (ft.subgroup_cluster & (ft.subgroup_cluster - 1)) == 0);
    else
        CHECK(ft.subgroup_cluster == 1);
    grt_device *D = NULL;
    if (ft.subgroups) {
        if (off) unsetenv("GENRT_WEBGPU_NO_SUBGROUPS");
        else setenv("GENRT_WEBGPU_NO_SUBGROUPS", "1", 1);
        grt_status st = grt_device_open("webgpu", NULL, &D);
        if (off) setenv("GENRT_WEBGPU_NO_SUBGROUPS", "1", 1);
        else unsetenv("GENRT_WEBGPU_NO_SUBGROUPS");
        CHECKF(st == GRT_OK, "%s", grt_last_error());
        grt_webgpu_features f2;
        CHECK(D && grt_webgpu_get_features(D, &f2) && f2.subgroup_math == off);
    }
    enum { R = 3, K = 4096, N = 300 };
    float *x = malloc(sizeof(float) * R * K), *w = malloc(sizeof(float) * K), *wf = malloc(sizeof(float) * N * K);
    uint16_t *wh = malloc(2 * (size_t)N * K);
    float ref[R * K], out[R * K], mref[N], mout[N], first[N];
    for (int i = 0; i < R * K; i++) x[i] = frand() * 3;
    for (int i = 0; i < K; i++) w[i] = frand();
    for (int i = 0; i < N * K; i++) wf[i] = frand();
    for (int n = 0; n < N; n++) grt_quantize_row(GRT_F16, wf + (size_t)n * K, wh + (size_t)n * K, K);
    for (int n = 0; n < N; n++) grt_dequantize_row(GRT_F16, wh + (size_t)n * K, wf + (size_t)n * K, K);
    for (int r = 0; r < R; r++) {
        double ss = 0;
        for (int k = 0; k < K; k++) ss += (double)x[r * K + k] * x[r * K + k];
        double sc = 1 / sqrt(ss / K + 1e-5);
        for (int k = 0; k < K; k++) ref[r * K + k] = (float)(x[r * K + k] * sc * w[k]);
    }
    for (int n = 0; n < N; n++) {
        double acc = 0;
        for (int k = 0; k < K; k++) acc += (double)wf[(size_t)n * K + k] * x[k];
        mref[n] = (float)acc;
    }
    for (int k = 0; k < 2; k++) {
        grt_device *dv = k ? D : G;
        if (!dv) continue;
        grt_webgpu_features fk;
        grt_webgpu_get_features(dv, &fk);
        grt_buffer *bx = upload(dv, x, sizeof(float) * R * K, 0), *bw = upload(dv, w, sizeof(float) * K, 0);
        grt_buffer *bo = upload(dv, NULL, 0, sizeof out), *bh = upload(dv, wh, 2 * (size_t)N * K, 0);
        grt_buffer *bm = upload(dv, NULL, 0, sizeof mout);
        grt_tensor tx = view(bx, 0, GRT_F32, R, K), tw = view(bw, 0, GRT_F32, K, 0), to = view(bo, 0, GRT_F32, R, K);
        grt_tensor th = view(bh, 0, GRT_F16, N, K), tm = view(bm, 0, GRT_F32, 1, N);
        grt_dev_rmsnorm(dv, &to, &tx, &tw, R, K, 1e-5f);
        grt_dev_matmul(dv, &tm, &tx, &th, NULL, 1, false);
        CHECKF(grt_dev_read(dv, bo, 0, out, sizeof out) == GRT_OK && grt_dev_read(dv, bm, 0, mout, sizeof mout) == GRT_OK,
               "%s", grt_last_error());
        double e1 = max_rel(out, ref, (size_t)R * K), e2 = max_rel(mout, mref, N);
        printf("  %s: rmsnorm K %d max rel err %.2g, f16 matvec K %d %.2g\n",
               fk.subgroup_math ? "subgroups" : "workgroup memory", K, e1, K, e2);
        CHECK(e1 < 1e-5 && e2 < 1e-5);
        if (k == 0) memcpy(first, mout, sizeof first);
        else { /* the two paths sum in different orders: some rows' bits differ */
            int nd = 0;
            for (int n = 0; n < N; n++) nd += memcmp(&first[n], &mout[n], 4) != 0;
            printf("  matvec rows whose bits differ between the two paths: %d of %d\n", nd, N);
        }
        grt_dev_buffer_free(bx), grt_dev_buffer_free(bw), grt_dev_buffer_free(bo), grt_dev_buffer_free(bh);
        grt_dev_buffer_free(bm);
    }
    if (D) grt_device_close(D);
    free(x), free(w), free(wf), free(wh);
}

/* With the timestamp-query feature, the device time of a fence's window of
 * work is positive and within the host's wall time around it. */
static void test_timestamps(void) {
    grt_webgpu_features ft;
    CHECK(grt_webgpu_get_features(G, &ft));
    printf("  features: timestamps %d, shader-f16 %d, subgroups %d (min %u), max binding %llu\n", ft.timestamps,
           ft.shader_f16, ft.subgroups, ft.subgroup_min, (unsigned long long)ft.max_binding);
    grt_buffer *A = NULL;
    grt_fence *f1 = NULL, *f2 = NULL;
    size_t n = (size_t)16 << 20;
    CHECK(grt_dev_buffer_new(G, n, GRT_BUF_DEVICE, &A) == GRT_OK);
    CHECK(grt_dev_fence_new(G, &f1) == GRT_OK && grt_dev_fence_new(G, &f2) == GRT_OK);
    if (!A || !f1 || !f2) return;
    grt_dev_fill(G, A, 0, n, 1);
    grt_dev_fence_record(G, f1);
    CHECK(grt_dev_fence_wait(G, f1) == GRT_OK);
    double t0 = grt_now_us();
    for (int i = 0; i < 4; i++) grt_dev_fill(G, A, 0, n, (uint32_t)i);
    grt_dev_fence_record(G, f2);
    CHECK(grt_dev_fence_wait(G, f2) == GRT_OK);
    double wall_ms = (grt_now_us() - t0) / 1e3, ms = -1;
    bool ok = grt_dev_fence_elapsed_ms(G, f1, f2, &ms);
    printf("  4 fills of 16 MiB: device %.3f ms (%s), host wall %.3f ms\n", ms, ok ? "timestamps" : "none", wall_ms);
    /* timestamps are written only while a trace runs (or with
     * GENRT_WEBGPU_TIMESTAMPS=1): none here, then a trace's fences have them */
    const char *force = getenv("GENRT_WEBGPU_TIMESTAMPS");
    bool forced = force && strcmp(force, "1") == 0;
    CHECK(ok == (ft.timestamps && forced));
    if (!forced) {
        char path[64];
        snprintf(path, sizeof path, "/tmp/genrt_test_webgpu_%d.json", (int)getpid());
        CHECK(grt_trace_start(path) == GRT_OK);
        grt_dev_fill(G, A, 0, n, 1); /* (a fence's timestamp is its window's last pass's end) */
        grt_dev_fence_record(G, f1);
        CHECK(grt_dev_fence_wait(G, f1) == GRT_OK);
        t0 = grt_now_us();
        for (int i = 0; i < 4; i++) grt_dev_fill(G, A, 0, n, (uint32_t)i);
        grt_dev_fence_record(G, f2);
        CHECK(grt_dev_fence_wait(G, f2) == GRT_OK);
        wall_ms = (grt_now_us() - t0) / 1e3;
        ok = grt_dev_fence_elapsed_ms(G, f1, f2, &ms);
        CHECK(grt_trace_stop() == GRT_OK);
        remove(path);
        printf("  same, tracing: device %.3f ms (%s), host wall %.3f ms\n", ms, ok ? "timestamps" : "none", wall_ms);
        CHECK(ok == ft.timestamps);
    }
    if (ok) CHECK(ms > 0 && ms <= wall_ms);
    CHECKF(grt_dev_status(G) == GRT_OK, "%s", grt_last_error());
    grt_dev_fence_free(G, f1);
    grt_dev_fence_free(G, f2);
    grt_dev_buffer_free(A);
}

static void test_limits(void) {
    grt_buffer *b = NULL;
    grt_status s = grt_dev_buffer_new(G, (size_t)1 << 50, GRT_BUF_DEVICE, &b);
    printf("  1 PiB buffer: %s\n", grt_last_error());
    CHECK(s == GRT_ERR_NO_MEMORY && b == NULL && strstr(grt_last_error(), "maxBufferSize"));
    CHECKF(grt_dev_status(G) == GRT_OK, "%s", grt_last_error());
}

/* ---------------------------------------------------------------- kernels */

static void test_matmul_types(void) {
    const grt_dtype types[] = {GRT_F32, GRT_F16, GRT_BF16, GRT_Q8_0, GRT_Q4_0};
    const int N = 37;
    /* K 1056, 1088: the streaming kernels' unrolled loop and its tails; 1088
     * (34 blocks) gives quantized rows at 4-byte offsets (staged through
     * workgroup memory, with a partial last run of blocks) */
    for (size_t ti = 0; ti < 5; ti++)
        for (int variant = 0; variant < 5; variant++) {
            grt_dtype wt = types[ti];
            int rows = variant == 1 ? 13 : variant == 2 ? 3 : 1;
            int K = variant == 2 || variant == 4 ? 1088 : variant == 3 ? 1056 : 96;
            bool acc = variant & 1, with_bias = variant & 1;
            size_t rb = grt_row_bytes(wt, K);
            uint8_t *wq = malloc(rb * N);
            float *wf = malloc(sizeof(float) * N * K), *wd = malloc(sizeof(float) * N * K);
            float *x = malloc(sizeof(float) * rows * K), *o0 = malloc(sizeof(float) * rows * N);
            float *out = malloc(sizeof(float) * rows * N), *ref = malloc(sizeof(float) * rows * N);
            float bias[64];
            for (int i = 0; i < N * K; i++) wf[i] = frand();
            for (int n = 0; n < N; n++) {
                grt_quantize_row(wt, wf + n * K, wq + n * rb, K);
                grt_dequantize_row(wt, wq + n * rb, wd + n * K, K);
            }
            for (int i = 0; i < rows * K; i++) x[i] = frand();
            for (int i = 0; i < rows * N; i++) o0[i] = frand();
            for (int i = 0; i < N; i++) bias[i] = frand();
            for (int r = 0; r < rows; r++)
                for (int n = 0; n < N; n++) {
                    double s = 0;
                    for (int k = 0; k < K; k++) s += (double)wd[n * K + k] * x[r * K + k];
                    if (with_bias) s += bias[n];
                    if (acc) s += o0[r * N + n];
                    ref[r * N + n] = (float)s;
                }
            /* activations share one buffer at 256-aligned offsets, as in a model */
            size_t xoff = 0, ooff = ((size_t)rows * K * 4 + 255) / 256 * 256;
            grt_buffer *act = NULL;
            grt_dev_buffer_new(G, ooff + (size_t)rows * N * 4 + 40, GRT_BUF_DEVICE, &act);
            grt_dev_write(G, act, xoff, x, (size_t)rows * K * 4);
            grt_dev_write(G, act, ooff, o0, (size_t)rows * N * 4);
            /* the weight at an odd-row offset inside its buffer, like a fused QKV slice */
            grt_buffer *wb = NULL;
            grt_dev_buffer_new(G, rb * (N + 3), GRT_BUF_DEVICE, &wb);
            grt_dev_write(G, wb, rb * 3, wq, rb * N);
            grt_buffer *bb = upload(G, bias, sizeof bias, 0);
            grt_tensor to = view(act, ooff, GRT_F32, rows, N), tx = view(act, xoff, GRT_F32, rows, K);
            grt_tensor tw = view(wb, rb * 3, wt, N, K), tb = view(bb, 0, GRT_F32, N, 0);
            grt_dev_matmul(G, &to, &tx, &tw, with_bias ? &tb : NULL, rows, acc);
            CHECK(grt_dev_read(G, act, ooff, out, (size_t)rows * N * 4) == GRT_OK);
            double e = max_rel(out, ref, (size_t)rows * N);
            printf("  matmul %-5s rows %2d K %4d%s: max rel err %.2g\n", grt_dtype_name(wt), rows, K,
                   variant ? " (bias, accumulate)" : "", e);
            CHECK(e < 2e-5);
            CHECKF(grt_dev_status(G) == GRT_OK, "%s", grt_last_error());
            grt_dev_buffer_free(act);
            grt_dev_buffer_free(wb);
            grt_dev_buffer_free(bb);
            free(wq), free(wf), free(wd), free(x), free(o0), free(out), free(ref);
        }
}

/* One matmul of the tiled prefill kernel (mmt.wgsl) on device D against a
 * double reference over the dequantized weights: rows x [M, K] at element
 * offset xoff (x_off % 4 != 0: rows not 16-byte aligned, only the tiled
 * kernel takes them), the weight at byte woff of its buffer, bias and
 * accumulate. Returns the max error relative to the largest |output|. */
static double mmt_case(grt_device *D, grt_dtype wt, int M, int K, int N, size_t xoff, size_t woff, bool bias_acc) {
    size_t rb = grt_row_bytes(wt, K);
    uint8_t *wq = malloc(rb * N);
    float *wd = malloc(sizeof(float) * N * K), *x = malloc(sizeof(float) * M * K);
    float *o0 = malloc(sizeof(float) * M * N), *out = malloc(sizeof(float) * M * N), *ref = malloc(sizeof(float) * M * N);
    float *bias = malloc(sizeof(float) * N);
    for (int i = 0; i < N * K; i++) wd[i] = frand();
    for (int n = 0; n < N; n++) {
        grt_quantize_row(wt, wd + (size_t)n * K, wq + n * rb, K);
        grt_dequantize_row(wt, wq + n * rb, wd + (size_t)n * K, K);
    }
    for (int i = 0; i < M * K; i++) x[i] = frand();
    for (int i = 0; i < M * N; i++) o0[i] = frand();
    for (int i = 0; i < N; i++) bias[i] = frand();
    for (int r = 0; r < M; r++)
        for (int n = 0; n < N; n++) {
            double s = bias_acc ? (double)o0[r * N + n] + bias[n] : 0;
            for (int k = 0; k < K; k++) s += (double)wd[(size_t)n * K + k] * x[r * K + k];
            ref[r * N + n] = (float)s;
        }
    grt_buffer *bx = NULL, *bw = NULL, *bo = upload(D, o0, sizeof(float) * M * N, 0), *bb = upload(D, bias, sizeof(float) * N, 0);
    grt_dev_buffer_new(D, xoff * 4 + sizeof(float) * M * K, GRT_BUF_DEVICE, &bx);
    grt_dev_buffer_new(D, woff + rb * N, GRT_BUF_DEVICE, &bw);
    double e = INFINITY;
    if (bx && bw && bo && bb) {
        grt_dev_write(D, bx, xoff * 4, x, sizeof(float) * M * K);
        grt_dev_write(D, bw, woff, wq, rb * N);
        grt_tensor tx = view(bx, xoff * 4, GRT_F32, M, K), tw = view(bw, woff, wt, N, K);
        grt_tensor to = view(bo, 0, GRT_F32, M, N), tb = view(bb, 0, GRT_F32, N, 0);
        grt_dev_matmul(D, &to, &tx, &tw, bias_acc ? &tb : NULL, M, bias_acc);
        if (grt_dev_read(D, bo, 0, out, sizeof(float) * M * N) == GRT_OK) e = max_rel(out, ref, (size_t)M * N);
        else printf("  read: %s\n", grt_last_error());
    }
    grt_dev_buffer_free(bx), grt_dev_buffer_free(bw), grt_dev_buffer_free(bo), grt_dev_buffer_free(bb);
    free(wq), free(wd), free(x), free(o0), free(out), free(ref), free(bias);
    return e;
}

/* The tiled prefill product (mmt.wgsl): M, N and K on and off its tiles
 * (K not a multiple of 32 for float weights, several tiles each way, so a
 * wrong tile index shows), every weight type, weight rows at 2-byte
 * offsets, x rows not 16-byte aligned, bias and accumulate; every tile
 * variant (GENRT_WEBGPU_MMT = min_rows,TM,TN,PF,splits: K split over
 * workgroups and summed by mmt_red) on two shapes, the defaults on all. */
static void test_mmt(void) {
    const grt_dtype types[] = {GRT_F32, GRT_F16, GRT_BF16, GRT_Q8_0, GRT_Q4_0};
    /* {M, K, N} */
    const int shapes[][3] = {{16, 32, 1},  {17, 33, 65},  {64, 64, 64},   {65, 100, 63},
                             {130, 96, 200}, {200, 1000, 130}, {33, 2048, 70}, {15, 200, 77}};
    const char *variants[] = {NULL, "16,4,4,1,1", "16,2,4,2,3", "16,4,8,1,2", "16,8,4,2,16", "16,8,8,0,5"};
    const size_t n_var = sizeof variants / sizeof variants[0];
    int n = 0, bad = 0;
    for (size_t ti = 0; ti < 5; ti++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
            for (size_t vi = 0; vi < n_var; vi++) {
                if (vi > 0 && si != 3 && si != 4) continue;
                grt_dtype wt = types[ti];
                int M = shapes[si][0], K = shapes[si][1], N = shapes[si][2];
                if (ti >= 3) K = (K + 31) / 32 * 32;
                /* weights at a 2-byte offset (f32: 4), x at an odd element offset on odd shapes */
                size_t woff = grt_row_bytes(wt, K) * 3 + (wt == GRT_F32 ? 4 : 2), xoff = si % 2 ? 3 : 0;
                if (variants[vi]) setenv("GENRT_WEBGPU_MMT", variants[vi], 1);
                double e = mmt_case(G, wt, M, K, N, xoff, woff, si % 3 != 0);
                unsetenv("GENRT_WEBGPU_MMT");
                n++;
                if (!(e < 2e-5)) {
                    bad++;
                    printf("  mmt %-5s M %3d K %4d N %3d xoff %zu variant %s: max rel err %.3g\n", grt_dtype_name(wt), M, K,
                           N, xoff, variants[vi] ? variants[vi] : "default", e);
                }
                CHECKF(grt_dev_status(G) == GRT_OK, "%s", grt_last_error());
            }
    printf("  %d tiled matmul cases, %d over 2e-5\n", n, bad);
    CHECK(bad == 0);
}

/* The tiled product over a weight split into binding-sized windows (outputs
 * n0 > 0 of the full row, its bias): x aligned (the streaming kernels could
 * take it) and not. */
static void test_mmt_split(void) {
    setenv("GENRT_WEBGPU_MAX_BINDING", "16384", 1);
    grt_device *D = NULL;
    grt_status st = grt_device_open("webgpu", NULL, &D);
    unsetenv("GENRT_WEBGPU_MAX_BINDING");
    CHECKF(st == GRT_OK, "%s", grt_last_error());
    if (!D) return;
    const grt_dtype types[] = {GRT_F32, GRT_F16, GRT_Q8_0};
    for (int ti = 0; ti < 3; ti++)
        for (size_t xoff = 0; xoff < 4; xoff += 3) {
            double e = mmt_case(D, types[ti], 20, 128, 200, xoff, 0, true);
            printf("  mmt %-5s rows 20, %zu-byte weight in 16 KiB bindings, x offset %zu: max rel err %.2g\n",
                   grt_dtype_name(types[ti]), grt_row_bytes(types[ti], 128) * 200, xoff, e);
            CHECK(e < 2e-5);
        }
    CHECKF(grt_dev_status(D) == GRT_OK, "%s", grt_last_error());
    grt_device_close(D);
}

/* A prompt of 100 tokens (the prefill's matmuls on the tiled kernel) on a
 * random-weight model: WebGPU logits against the streaming kernels' (the
 * tiled kernel off: GENRT_WEBGPU_MMT=100000) for f32, f16 and q4_0 weights,
 * and against the CPU backend's for the float ones (the CPU multiplies
 * quantized weights against Q8_0 activations, ~2e-2 off either kernel). */
static void test_mmt_model(void) {
    static const char cfg_json[] =
        "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 256,"
        " \"intermediate_size\": 704, \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
        " \"num_key_value_heads\": 2, \"head_dim\": 64, \"vocab_size\": 1000, \"max_position_embeddings\": 1024,"
        " \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0, \"tie_word_embeddings\": true, \"hidden_act\": \"silu\","
        " \"bos_token_id\": 1, \"eos_token_id\": 2}";
    const char *cfg = t_tmp("mmt-config.json");
    CHECK(t_write_file(cfg, cfg_json, strlen(cfg_json)));
    enum { V = 1000, T = 100 };
    int32_t ids[T];
    for (int i = 0; i < T; i++) ids[i] = (int32_t)((i * 7919 + 13) % V);
    const char *types[] = {"f32", "f16", "q4_0"};
    float *a = malloc(sizeof(float) * T * V), *b = malloc(sizeof(float) * T * V), *c = malloc(sizeof(float) * T * V);
    for (int t = 0; t < 3 && a && b && c; t++) {
        grt_model *cpu, *dev;
        t_load_random_pair(cfg, types[t], "webgpu", &cpu, &dev);
        grt_status s1 = cpu ? grt_model_eval(cpu, ids, T, a) : GRT_ERR_INTERNAL;
        grt_status s2 = dev ? grt_model_eval(dev, ids, T, b) : GRT_ERR_INTERNAL;
        setenv("GENRT_WEBGPU_MMT", "100000", 1);
        grt_status s3 = dev ? grt_model_eval(dev, ids, T, c) : GRT_ERR_INTERNAL;
        unsetenv("GENRT_WEBGPU_MMT");
        double e_cpu = s1 || s2 ? INFINITY : t_rel_err(b, a, (size_t)T * V);
        double e_mv = s2 || s3 ? INFINITY : t_rel_err(b, c, (size_t)T * V);
        printf("  random %-4s, %d tokens: webgpu logits vs the streaming kernels: rel err %.3g; vs cpu: %.3g\n",
               types[t], T, e_mv, e_cpu);
        CHECKF(e_mv <= 1e-5, "%s: %s", types[t], s2 || s3 ? grt_last_error() : "");
        if (t < 2) CHECKF(e_cpu <= 1e-4, "%s: %s", types[t], s1 || s2 ? grt_last_error() : "");
        grt_model_free(cpu);
        grt_model_free(dev);
    }
    free(a);
    free(b);
    free(c);
}

/* The decode matvec (mvx) in its variants (GENRT_WEBGPU_MVX =
 * T,RPW,U,STAGE,QS, and the old kernels), one activation row, against a
 * naive reference: every weight type, K up to 8192 (the down projection),
 * N with partial tiles. Quantized rows with K % 256 == 0 at 16-byte offsets
 * read superblocks (QS, forced at this N by the 6th field: K 256, 768,
 * 2048, 8192: T 1, 2, 8, 32 by default, T forced below and above the
 * superblock count), the 5th field 2 the blocks' path. */
static void test_mvx_variants(void) {
    const grt_dtype types[] = {GRT_F32, GRT_F16, GRT_BF16, GRT_Q8_0, GRT_Q4_0};
    const char *variants[] = {NULL, "old", "32,1,1", "64,2,4", "128,8,2", "256,4,4", "256,1,1", "0,8,1", "32,8,1,1",
                              "64,4,1,1", "256,2,1,1", "0,0,0,1", "0,0,0,2", "0,0,0,0,2", "0,0,0,0,0,1",
                              "1,1,0,0,0,1", "4,1,0,0,0,1", "32,1,0,0,1,1"};
    const int Ks[] = {8192, 2080, 576, 256, 768, 2048};
    const int N = 21;
    for (size_t ti = 0; ti < 5; ti++)
        for (size_t ki = 0; ki < 6; ki++) {
            grt_dtype wt = types[ti];
            int K = Ks[ki];
            bool quant = wt == GRT_Q8_0 || wt == GRT_Q4_0;
            if (!quant && ki >= 3) continue; /* (QS shapes) */
            size_t rb = grt_row_bytes(wt, K);
            uint8_t *wq = malloc(rb * N);
            float *wf = malloc(sizeof(float) * N * K), *wd = malloc(sizeof(float) * N * K);
            float *xv = malloc(sizeof(float) * K), out[64], ref[64], o0[64];
            for (int i = 0; i < N * K; i++) wf[i] = frand();
            for (int n = 0; n < N; n++) {
                grt_quantize_row(wt, wf + n * K, wq + n * rb, K);
                grt_dequantize_row(wt, wq + n * rb, wd + n * K, K);
            }
            for (int i = 0; i < K; i++) xv[i] = frand();
            for (int n = 0; n < N; n++) {
                o0[n] = frand();
                double s = o0[n];
                for (int k = 0; k < K; k++) s += (double)wd[n * K + k] * xv[k];
                ref[n] = (float)s;
            }
            grt_buffer *act = NULL, *wb = NULL;
            grt_dev_buffer_new(G, (size_t)K * 4 + 512, GRT_BUF_DEVICE, &act);
            grt_dev_buffer_new(G, rb * (N + 2), GRT_BUF_DEVICE, &wb);
            grt_dev_write(G, wb, rb * 2, wq, rb * N);
            size_t ooff = ((size_t)K * 4 + 255) / 256 * 256;
            grt_tensor to = view(act, ooff, GRT_F32, 1, N), tx = view(act, 0, GRT_F32, 1, K);
            grt_tensor tw = view(wb, rb * 2, wt, N, K);
            double worst = 0;
            size_t nv = 0;
            for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
                const char *vs = variants[v];
                if (!quant && v >= 13) continue; /* (QS variants) */
                nv++;
                if (vs && strcmp(vs, "old") == 0) setenv("GENRT_WEBGPU_OLD_MV", "1", 1);
                else if (vs) setenv("GENRT_WEBGPU_MVX", vs, 1);
                grt_dev_write(G, act, 0, xv, (size_t)K * 4);
                grt_dev_write(G, act, ooff, o0, (size_t)N * 4);
                grt_dev_matmul(G, &to, &tx, &tw, NULL, 1, true);
                CHECK(grt_dev_read(G, act, ooff, out, (size_t)N * 4) == GRT_OK);
                unsetenv("GENRT_WEBGPU_OLD_MV");
                unsetenv("GENRT_WEBGPU_MVX");
                double e = max_rel(out, ref, (size_t)N);
                if (e > worst) worst = e;
                CHECKF(e < 2e-5, "%s K %d variant %s: %.2g", grt_dtype_name(wt), K, vs ? vs : "default", e);
            }
            printf("  mvx %-5s K %4d N %d, %zu variants: worst rel err %.2g\n", grt_dtype_name(wt), K, N, nv, worst);
            CHECKF(grt_dev_status(G) == GRT_OK, "%s", grt_last_error());
            grt_dev_buffer_free(act);
            grt_dev_buffer_free(wb);
            free(wq), free(wf), free(wd), free(xv);
        }
}

/* A captured decode step merges dispatches (q/k/v and gate/up into segmented
 * mvx dispatches, rmsnorms folded into them, the glu into the gate/up
 * epilogue, the q+k rope and the kv_store into one rope_kv): replay must
 * give the eager step's bits, for every weight type and for KV caches in one
 * buffer or two. */
/* The o bytes of activations in A, then both caches (cb bytes each; the V
 * cache after the K cache in KC when VC is NULL), in one malloc'ed block. */
static float *read_step(grt_buffer *A, size_t o, grt_buffer *KC, grt_buffer *VC, size_t cb) {
    float *r = malloc(o + 2 * cb);
    CHECKF(grt_dev_read(G, A, 0, r, o) == GRT_OK, "%s", grt_last_error());
    CHECK(grt_dev_read(G, KC, 0, (uint8_t *)r + o, VC ? cb : 2 * cb) == GRT_OK);
    if (VC) CHECK(grt_dev_read(G, VC, 0, (uint8_t *)r + o + cb, cb) == GRT_OK);
    return r;
}

static void capture_merge_case(grt_dtype wt, bool kv_shared, int K) {
    const int NH = 4, NKV = 2, HD = 16, NQ = NH * HD, NK = NKV * HD, FF = 96, MC = 8;
    const int Ns[5] = {NQ, NK, NK, FF, FF};
    size_t rb = grt_row_bytes(wt, K);
    /* activations in one buffer at 256-byte steps, as in a model */
    enum { X, XN, XN2, Q, KK, V, GT, UP, NACT };
    const int len[NACT] = {K, K, K, NQ, NK, NK, FF, FF};
    size_t off[NACT], o = 0;
    for (int i = 0; i < NACT; i++) off[i] = o, o += ((size_t)len[i] * 4 + 255) / 256 * 256;
    grt_buffer *A = NULL, *Wb[5] = {0}, *NW = NULL, *FR = NULL, *ST = NULL, *KC = NULL, *VC = NULL;
    grt_dev_buffer_new(G, o, GRT_BUF_DEVICE, &A);
    float *x = malloc(sizeof(float) * K), *wf = malloc(sizeof(float) * FF * K), nw[576], fr[8]; /* K <= 576 */
    uint8_t *wq = malloc(rb * FF);
    for (int i = 0; i < K; i++) x[i] = frand(), nw[i] = 1 + 0.1f * frand();
    for (int i = 0; i < 8; i++) fr[i] = powf(10000.0f, -(float)i / 8);
    for (int m = 0; m < 5; m++) {
        for (int i = 0; i < Ns[m] * K; i++) wf[i] = frand();
        for (int n = 0; n < Ns[m]; n++) grt_quantize_row(wt, wf + n * K, wq + n * rb, K);
        Wb[m] = upload(G, wq, rb * Ns[m], 0);
    }
    NW = upload(G, nw, sizeof nw, 0);
    FR = upload(G, fr, sizeof fr, 0);
    grt_step_state st = {.pos = 5};
    ST = upload(G, &st, sizeof st, 0);
    size_t cb = (size_t)MC * NK * 4;
    grt_dev_buffer_new(G, kv_shared ? 2 * cb : cb, GRT_BUF_DEVICE, &KC);
    if (!kv_shared) grt_dev_buffer_new(G, cb, GRT_BUF_DEVICE, &VC);
    grt_tensor t[NACT], tw[5];
    for (int i = 0; i < NACT; i++) t[i] = view(A, off[i], GRT_F32, 1, len[i]);
    for (int m = 0; m < 5; m++) tw[m] = view(Wb[m], 0, wt, Ns[m], K);
    grt_tensor tn = view(NW, 0, GRT_F32, K, 0), tf = view(FR, 0, GRT_F32, HD / 2, 0), ts = view(ST, 0, GRT_I32, 1, 8);
    grt_tensor kc = view(KC, 0, GRT_F32, MC, NK), vc = kv_shared ? view(KC, cb, GRT_F32, MC, NK) : view(VC, 0, GRT_F32, MC, NK);
    grt_rows rows = {1, 0, 1};
    float *res[2];
    grt_webgpu_counters c0, c1;
    grt_webgpu_get_counters(G, &c0);
    for (int cap = 0; cap < 2; cap++) {
        grt_dev_fill(G, A, 0, o, 0x7fc00000u); /* NaN: every output must be written */
        grt_dev_fill(G, KC, 0, kv_shared ? 2 * cb : cb, 0);
        if (VC) grt_dev_fill(G, VC, 0, cb, 0);
        grt_dev_write(G, A, off[X], x, (size_t)K * 4);
        grt_graph *g = NULL;
        if (cap) CHECK(grt_dev_capture_begin(G) == GRT_OK);
        grt_dev_rmsnorm(G, &t[XN], &t[X], &tn, 1, K, 1e-5f);
        grt_dev_matmul(G, &t[Q], &t[XN], &tw[0], NULL, 1, false);
        grt_dev_matmul(G, &t[KK], &t[XN], &tw[1], NULL, 1, false);
        grt_dev_matmul(G, &t[V], &t[XN], &tw[2], NULL, 1, false);
        grt_dev_rope(G, &t[Q], &tf, &ts, rows, NH, HD, HD, false);
        grt_dev_rope(G, &t[KK], &tf, &ts, rows, NKV, HD, HD, false);
        grt_dev_kv_store(G, &kc, &vc, &t[KK], &t[V], &ts, rows, NK, MC);
        grt_dev_rmsnorm(G, &t[XN2], &t[X], &tn, 1, K, 1e-6f);
        grt_dev_matmul(G, &t[GT], &t[XN2], &tw[3], NULL, 1, false);
        grt_dev_matmul(G, &t[UP], &t[XN2], &tw[4], NULL, 1, false);
        grt_dev_glu(G, &t[GT], &t[GT], &t[UP], 1, FF, GRT_ACT_SILU);
        if (cap) {
            CHECK(grt_dev_capture_end(G, &g) == GRT_OK);
            grt_dev_graph_launch(G, g);
        }
        res[cap] = read_step(A, o, KC, VC, cb);
        grt_dev_graph_free(G, g);
    }
    grt_webgpu_get_counters(G, &c1);
    size_t nbytes = o + 2 * cb;
    bool same = memcmp(res[0], res[1], nbytes) == 0, finite = true;
    for (int i = 0; i < NACT; i++)
        for (int j = 0; j < len[i]; j++) finite &= isfinite(res[0][off[i] / 4 + j]) != 0;
    /* q,k,v -> 1; norm -> mvx; rope q+k -> 1; rope+kv_store; gate,up -> 1; norm; glu */
    uint64_t merged = c1.merged - c0.merged;
    printf("  capture merges, %-5s weights, K %d, KV caches in %s: %llu dispatches merged, replay equals eager: %s\n",
           grt_dtype_name(wt), K, kv_shared ? "one buffer" : "two buffers", (unsigned long long)merged, same ? "yes" : "no");
    CHECK(same && finite);
    CHECK(merged >= 8);
    CHECKF(grt_dev_status(G) == GRT_OK, "%s", grt_last_error());
    for (int m = 0; m < 5; m++) grt_dev_buffer_free(Wb[m]);
    grt_dev_buffer_free(A), grt_dev_buffer_free(NW), grt_dev_buffer_free(FR), grt_dev_buffer_free(ST);
    grt_dev_buffer_free(KC), grt_dev_buffer_free(VC);
    free(res[0]), free(res[1]), free(x), free(wf), free(wq);
}

static void test_capture_merges(void) {
    const grt_dtype types[] = {GRT_F32, GRT_F16, GRT_BF16, GRT_Q8_0, GRT_Q4_0};
    for (int i = 0; i < 5; i++) capture_merge_case(types[i], i % 2 == 1, 576);
    /* quantized rows read as superblocks (K % 256 == 0: mvx.wgsl QS, forced
     * at these small N) */
    setenv("GENRT_WEBGPU_MVX", "0,0,0,0,0,1", 1);
    capture_merge_case(GRT_Q8_0, false, 512);
    capture_merge_case(GRT_Q4_0, true, 512);
    unsetenv("GENRT_WEBGPU_MVX");
}

/* A decode layer and the next one's q/k/v, captured: the chain kernels
 * (attn_o: the attention, the output projection and, with one KV buffer, the
 * rmsnorm after it; mvx2: the down projection and the next q/k/v with their
 * norm) must replay the eager ops' bits, every activation and cache word. */
static void chain_case(grt_dtype wt, bool kv_shared, int pos, int NH, int NKV, int MC, int H) {
    const int HD = 16, NQ = NH * HD, NK = NKV * HD, FF = 256; /* H, NQ <= 256: wf holds every weight */
    enum { WQ, WK, WV, WO, WG, WU, WD, NW_ };
    const int wn[NW_] = {NQ, NK, NK, H, FF, FF, H}, wk[NW_] = {H, H, H, NQ, H, H, FF};
    enum { X, XN, Q, KK, V, AT, GT, UP, NACT };
    const int len[NACT] = {H, H, NQ, NK, NK, NQ, FF, FF};
    size_t off[NACT], o = 0;
    for (int i = 0; i < NACT; i++) off[i] = o, o += ((size_t)len[i] * 4 + 255) / 256 * 256;
    grt_buffer *A = NULL, *Wb[NW_] = {0}, *NWa = NULL, *NWf = NULL, *FR = NULL, *ST = NULL, *KC = NULL, *VC = NULL;
    grt_dev_buffer_new(G, o, GRT_BUF_DEVICE, &A);
    float *x = malloc(sizeof(float) * H), *wf = malloc(sizeof(float) * FF * FF), nwa[256], nwf[256], fr[8];
    uint8_t *wq = malloc(grt_row_bytes(wt, FF) * FF);
    for (int i = 0; i < H; i++) x[i] = frand(), nwa[i] = 1 + 0.1f * frand(), nwf[i] = 1 + 0.1f * frand();
    for (int i = 0; i < 8; i++) fr[i] = powf(10000.0f, -(float)i / 8);
    for (int m = 0; m < NW_; m++) {
        size_t rb = grt_row_bytes(wt, wk[m]);
        for (int i = 0; i < wn[m] * wk[m]; i++) wf[i] = frand() * 0.2f;
        for (int n = 0; n < wn[m]; n++) grt_quantize_row(wt, wf + (size_t)n * wk[m], wq + n * rb, wk[m]);
        Wb[m] = upload(G, wq, rb * wn[m], 0);
    }
    NWa = upload(G, nwa, sizeof nwa, 0), NWf = upload(G, nwf, sizeof nwf, 0), FR = upload(G, fr, sizeof fr, 0);
    grt_step_state st = {.pos = pos};
    ST = upload(G, &st, sizeof st, 0);
    size_t cb = (size_t)MC * NK * 4;
    grt_dev_buffer_new(G, kv_shared ? 2 * cb : cb, GRT_BUF_DEVICE, &KC);
    if (!kv_shared) grt_dev_buffer_new(G, cb, GRT_BUF_DEVICE, &VC);
    float *kv0 = malloc(2 * cb);
    for (size_t i = 0; i < 2 * cb / 4; i++) kv0[i] = frand();
    grt_tensor t[NACT], tw[NW_];
    for (int i = 0; i < NACT; i++) t[i] = view(A, off[i], GRT_F32, 1, len[i]);
    for (int m = 0; m < NW_; m++) tw[m] = view(Wb[m], 0, wt, wn[m], wk[m]);
    grt_tensor ta = view(NWa, 0, GRT_F32, H, 0), tff = view(NWf, 0, GRT_F32, H, 0);
    grt_tensor tf = view(FR, 0, GRT_F32, HD / 2, 0), ts = view(ST, 0, GRT_I32, 1, 8);
    grt_tensor kc = view(KC, 0, GRT_F32, MC, NK), vc = kv_shared ? view(KC, cb, GRT_F32, MC, NK) : view(VC, 0, GRT_F32, MC, NK);
    grt_rows rows = {1, 0, 1};
    float *res[2];
    grt_webgpu_counters c0, c1;
    grt_webgpu_get_counters(G, &c0);
    for (int cap = 0; cap < 2; cap++) {
        grt_dev_fill(G, A, 0, o, 0x7fc00000u); /* NaN: every output must be written */
        grt_dev_write(G, KC, 0, kv0, kv_shared ? 2 * cb : cb);
        if (VC) grt_dev_write(G, VC, 0, (uint8_t *)kv0 + cb, cb);
        grt_dev_write(G, A, off[X], x, (size_t)H * 4);
        grt_graph *g = NULL;
        /* the step twice (eager), or captured once and replayed twice: the
         * chains reset their counters for the next replay */
        for (int rep = 0; rep < 2; rep++) {
            if (cap && rep) break;
            if (cap) CHECK(grt_dev_capture_begin(G) == GRT_OK);
            for (int l = 0; l < 2; l++) {
                grt_dev_rmsnorm(G, &t[XN], &t[X], &ta, 1, H, 1e-5f);
                grt_dev_matmul(G, &t[Q], &t[XN], &tw[WQ], NULL, 1, false);
                grt_dev_matmul(G, &t[KK], &t[XN], &tw[WK], NULL, 1, false);
                grt_dev_matmul(G, &t[V], &t[XN], &tw[WV], NULL, 1, false);
                if (l == 1) break;
                grt_dev_rope(G, &t[Q], &tf, &ts, rows, NH, HD, HD, false);
                grt_dev_rope(G, &t[KK], &tf, &ts, rows, NKV, HD, HD, false);
                grt_dev_kv_store(G, &kc, &vc, &t[KK], &t[V], &ts, rows, NK, MC);
                grt_dev_attention(G, &t[AT], &t[Q], &kc, &vc, &ts, rows, NH, NKV, HD, MC, 0.25f, 0);
                grt_dev_matmul(G, &t[X], &t[AT], &tw[WO], NULL, 1, true);
                grt_dev_rmsnorm(G, &t[XN], &t[X], &tff, 1, H, 1e-5f);
                grt_dev_matmul(G, &t[GT], &t[XN], &tw[WG], NULL, 1, false);
                grt_dev_matmul(G, &t[UP], &t[XN], &tw[WU], NULL, 1, false);
                grt_dev_glu(G, &t[GT], &t[GT], &t[UP], 1, FF, GRT_ACT_SILU);
                grt_dev_matmul(G, &t[X], &t[GT], &tw[WD], NULL, 1, true);
            }
            if (cap) {
                CHECK(grt_dev_capture_end(G, &g) == GRT_OK);
                grt_dev_graph_launch(G, g);
                grt_dev_graph_launch(G, g);
            }
        }
        res[cap] = read_step(A, o, KC, VC, cb);
        grt_dev_graph_free(G, g);
    }
    grt_webgpu_get_counters(G, &c1);
    bool same = memcmp(res[0], res[1], o + 2 * cb) == 0, finite = true;
    for (int i = 0; i < NACT; i++)
        for (int j = 0; j < len[i]; j++) finite &= isfinite(res[0][off[i] / 4 + j]) != 0;
    uint64_t chains = c1.chains - c0.chains, chains3 = c1.chains3 - c0.chains3, merged = c1.merged - c0.merged;
    printf("  chains, %-5s weights, H %d, KV caches in %s, heads %d/%d, pos %3d: %llu chain dispatches (%llu mvx3), "
           "%llu merged, replay equals eager: %s\n", grt_dtype_name(wt), H, kv_shared ? "one buffer" : "two buffers",
           NH, NKV, pos, (unsigned long long)chains, (unsigned long long)chains3, (unsigned long long)merged,
           same ? "yes" : "no");
    CHECK(same && finite);
    grt_webgpu_features ft;
    bool on = grt_webgpu_get_features(G, &ft) && ft.chains;
    /* attn_o, then mvx3 (gate/up, down, next q/k/v) where the adapter allows
     * its ten bindings, else mvx2 (down, next q/k/v): every weight type, on
     * adapters known to start workgroups in order */
    const char *form = getenv("GENRT_WEBGPU_STEP"), *bar = form ? strchr(form, ',') : NULL;
    bool old_bar = bar && strcmp(bar, ",1") == 0; /* mvx3 has the one-barrier form only */
    /* GENRT_WEBGPU_NORM_MAX_WORK=0: no norm folded into a matvec; attn_o
     * takes the ffn norm as its tail (one KV buffer), and the next q/k/v's
     * norm, a dispatch of its own, leaves the down projection unchained */
    const char *nmw = getenv("GENRT_WEBGPU_NORM_MAX_WORK");
    bool fold = !nmw || strcmp(nmw, "0") != 0;
    CHECK(chains == (on ? (fold ? 2u : 1u) : 0u));
    const char *mvx = getenv("GENRT_WEBGPU_MVX");
    bool qs = (wt == GRT_Q8_0 || wt == GRT_Q4_0) && mvx && strcmp(mvx, "0,0,0,0,0,1") == 0; /* forced superblocks */
    CHECK(chains3 == (on && fold && !qs && ft.chains3 && !old_bar && !getenv("GENRT_WEBGPU_NO_MVX3_MERGE") ? 1u : 0u));
    CHECKF(grt_dev_status(G) == GRT_OK, "%s", grt_last_error());
    for (int m = 0; m < NW_; m++) grt_dev_buffer_free(Wb[m]);
    grt_dev_buffer_free(A), grt_dev_buffer_free(NWa), grt_dev_buffer_free(NWf), grt_dev_buffer_free(FR);
    grt_dev_buffer_free(ST), grt_dev_buffer_free(KC), grt_dev_buffer_free(VC);
    free(res[0]), free(res[1]), free(x), free(wf), free(wq), free(kv0);
}

static void test_chains(void) {
    const grt_dtype types[] = {GRT_F32, GRT_F16, GRT_BF16, GRT_Q8_0};
    for (int i = 0; i < 4; i++) {
        chain_case(types[i], true, 5, 4, 2, 96, 128);
        chain_case(types[i], i % 2 == 0, 80, 4, 2, 96, 128); /* two key splits, merged */
    }
    /* quantized superblocks (mvx.wgsl QS, forced at these small N) in both chains */
    setenv("GENRT_WEBGPU_MVX", "0,0,0,0,0,1", 1);
    chain_case(GRT_Q8_0, true, 5, 16, 4, 96, 256);
    chain_case(GRT_Q4_0, false, 80, 16, 4, 96, 256);
    chain_case(GRT_Q4_0, true, 80, 16, 4, 96, 256);
    unsetenv("GENRT_WEBGPU_MVX");
    /* mvx2 (the down projection and the next q/k/v), as on adapters without mvx3 */
    setenv("GENRT_WEBGPU_NO_MVX3_MERGE", "1", 1);
    chain_case(GRT_F16, true, 80, 4, 2, 96, 128);
    chain_case(GRT_Q8_0, false, 5, 4, 2, 96, 128);
    unsetenv("GENRT_WEBGPU_NO_MVX3_MERGE");
    /* no norm folded into a matvec: attn_o's norm tail */
    setenv("GENRT_WEBGPU_NORM_MAX_WORK", "0", 1);
    chain_case(GRT_F16, true, 80, 4, 2, 96, 128);
    chain_case(GRT_BF16, true, 5, 4, 2, 96, 128);
    unsetenv("GENRT_WEBGPU_NORM_MAX_WORK");
}

/* GENRT_WEBGPU_MVBENCH="cfg;cfg;..." (cfg: "old", "auto" or T,RPW,U): device
 * time of one decode matvec per shape of Llama-3.2-1B and SmolLM2-135M, 64
 * back-to-back dispatches in one pass over enough weight copies that L2
 * does not hold them; prints us/dispatch and GB/s. Weights are constant
 * (f16 1.0 where float), so every output must equal sum(x). */
static void test_mv_bench(void) {
    const char *spec = getenv("GENRT_WEBGPU_MVBENCH");
    struct { const char *name; int N, K; } shapes[] = {
        {"1B q/o", 2048, 2048}, {"1B k/v", 512, 2048}, {"1B gate/up", 8192, 2048}, {"1B down", 2048, 8192},
        {"1B lm_head", 128256, 2048}, {"S q/o", 576, 576}, {"S k/v", 192, 576}, {"S gate/up", 1536, 576},
        {"S down", 576, 1536}, {"S lm_head", 49152, 576}, {"tiny", 8, 64},
    };
    const grt_dtype types[] = {GRT_F16, GRT_Q8_0, GRT_Q4_0};
    grt_fence *f1 = NULL, *f2 = NULL;
    CHECK(grt_dev_fence_new(G, &f1) == GRT_OK && grt_dev_fence_new(G, &f2) == GRT_OK);
    grt_buffer *act = NULL;
    CHECK(grt_dev_buffer_new(G, (size_t)1 << 20, GRT_BUF_DEVICE, &act) == GRT_OK);
    if (!f1 || !f2 || !act) return;
    for (size_t ti = 0; ti < 3; ti++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            grt_dtype wt = types[ti];
            int N = shapes[si].N, K = shapes[si].K;
            if (wt != GRT_F16 && shapes[si].name[0] != '1') continue;
            size_t rb = grt_row_bytes(wt, K), wbytes = rb * (size_t)N;
            grt_webgpu_features ft;
            if (grt_webgpu_get_features(G, &ft) && wbytes + 4096 > ft.max_binding) continue; /* (lavapipe) */
            int copies = (int)(((size_t)256 << 20) / wbytes) + 1;
            if (copies > 64) copies = 64;
            grt_buffer *wb[64] = {0};
            bool ok = true;
            for (int c = 0; c < copies && ok; c++) {
                ok = grt_dev_buffer_new(G, wbytes, GRT_BUF_DEVICE, &wb[c]) == GRT_OK;
                if (ok) grt_dev_fill(G, wb[c], 0, wbytes, wt == GRT_F16 ? 0x3c003c00u : 0x01020304u);
            }
            CHECK(ok);
            float *xv = malloc(sizeof(float) * K);
            double sx = 0;
            for (int i = 0; i < K; i++) xv[i] = frand(), sx += xv[i];
            grt_dev_write(G, act, 0, xv, (size_t)K * 4);
            size_t ooff = (size_t)64 << 10;
            grt_tensor to = view(act, ooff, GRT_F32, 1, N), tx = view(act, 0, GRT_F32, 1, K);
            char cfgs[512];
            snprintf(cfgs, sizeof cfgs, "%s", spec);
            for (char *save = NULL, *cf = strtok_r(cfgs, ";", &save); cf && ok; cf = strtok_r(NULL, ";", &save)) {
                if (strcmp(cf, "old") == 0) setenv("GENRT_WEBGPU_OLD_MV", "1", 1);
                else if (strcmp(cf, "auto") != 0) setenv("GENRT_WEBGPU_MVX", cf, 1);
                const int M = 64;
                for (int i = 0; i < 2; i++) { /* warm: pipelines, bind groups */
                    grt_tensor tw = view(wb[i % copies], 0, wt, N, K);
                    grt_dev_matmul(G, &to, &tx, &tw, NULL, 1, false);
                }
                grt_dev_fence_record(G, f1);
                CHECK(grt_dev_fence_wait(G, f1) == GRT_OK);
                for (int i = 0; i < M; i++) {
                    grt_tensor tw = view(wb[i % copies], 0, wt, N, K);
                    grt_dev_matmul(G, &to, &tx, &tw, NULL, 1, false);
                }
                grt_dev_fence_record(G, f2);
                CHECK(grt_dev_fence_wait(G, f2) == GRT_OK);
                unsetenv("GENRT_WEBGPU_OLD_MV");
                unsetenv("GENRT_WEBGPU_MVX");
                double ms = -1;
                grt_dev_fence_elapsed_ms(G, f1, f2, &ms);
                float o[8];
                CHECK(grt_dev_read(G, act, ooff + (size_t)(N - 1) * 4, o, 4) == GRT_OK);
                if (wt == GRT_F16) CHECKF(fabs(o[0] - sx) <= 1e-3 * (1 + fabs(sx)), "%s: %g vs %g", cf, o[0], sx);
                double us = ms * 1e3 / M;
                printf("  mvbench %-5s %-11s N %6d K %5d %-9s %8.2f us %7.0f GB/s\n", grt_dtype_name(wt),
                       shapes[si].name, N, K, cf, us, us > 0 ? (double)wbytes / us / 1e3 : 0.0);
                CHECKF(grt_dev_status(G) == GRT_OK, "%s", grt_last_error());
            }
            for (int c = 0; c < copies; c++) grt_dev_buffer_free(wb[c]);
            free(xv);
        }
    grt_dev_buffer_free(act);
    grt_dev_fence_free(G, f1);
    grt_dev_fence_free(G, f2);
}

/* With GENRT_WEBGPU_MMBENCH="cfg;cfg;..." (each a GENRT_WEBGPU_MMT value,
 * "off" for the streaming kernels): device time of prefill matmuls of M
 * rows (16 to 512) at the shapes of Llama-3.2-1B (S: SmolLM2-135M), 16 back-to-back
 * dispatches in one pass, and their TFLOP/s. */
static void test_mm_bench(void) {
    const char *spec = getenv("GENRT_WEBGPU_MMBENCH");
    struct { const char *name; int N, K; } shapes[] = {
        {"1B q/o", 2048, 2048}, {"1B k/v", 512, 2048}, {"1B gate/up", 8192, 2048}, {"1B down", 2048, 8192},
        {"S q/o", 576, 576}, {"S gate/up", 1536, 576}, {"S down", 576, 1536},
    };
    const grt_dtype types[] = {GRT_F16, GRT_Q4_0, GRT_Q8_0};
    const int rows[] = {16, 32, 128, 512};
    grt_fence *f1 = NULL, *f2 = NULL;
    CHECK(grt_dev_fence_new(G, &f1) == GRT_OK && grt_dev_fence_new(G, &f2) == GRT_OK);
    size_t xbytes = (size_t)512 * 8192 * 4;
    grt_buffer *act = NULL, *wb = NULL;
    CHECK(grt_dev_buffer_new(G, 2 * xbytes, GRT_BUF_DEVICE, &act) == GRT_OK);
    CHECK(grt_dev_buffer_new(G, grt_row_bytes(GRT_F16, 2048) * 8192, GRT_BUF_DEVICE, &wb) == GRT_OK);
    if (!f1 || !f2 || !act || !wb) return;
    grt_dev_fill(G, act, 0, 2 * xbytes, 0x3c000000u);
    for (size_t ti = 0; ti < 3; ti++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
            for (size_t ri = 0; ri < 4; ri++) {
                grt_dtype wt = types[ti];
                int N = shapes[si].N, K = shapes[si].K, M = rows[ri];
                if ((wt == GRT_Q8_0 && M != 512) || (wt == GRT_Q4_0 && M < 128)) continue;
                size_t wbytes = grt_row_bytes(wt, K) * (size_t)N;
                grt_dev_fill(G, wb, 0, wbytes, wt == GRT_F16 ? 0x3c003c00u : 0x01023c00u);
                grt_tensor to = view(act, xbytes, GRT_F32, M, N), tx = view(act, 0, GRT_F32, M, K);
                grt_tensor tw = view(wb, 0, wt, N, K);
                char cfgs[512];
                snprintf(cfgs, sizeof cfgs, "%s", spec);
                for (char *save = NULL, *cf = strtok_r(cfgs, ";", &save); cf; cf = strtok_r(NULL, ";", &save)) {
                    setenv("GENRT_WEBGPU_MMT", strcmp(cf, "off") == 0 ? "100000" : cf, 1);
                    const int R = 16;
                    for (int i = 0; i < 2; i++) grt_dev_matmul(G, &to, &tx, &tw, NULL, M, false); /* warm */
                    grt_dev_fence_record(G, f1);
                    CHECK(grt_dev_fence_wait(G, f1) == GRT_OK);
                    for (int i = 0; i < R; i++) grt_dev_matmul(G, &to, &tx, &tw, NULL, M, false);
                    grt_dev_fence_record(G, f2);
                    CHECK(grt_dev_fence_wait(G, f2) == GRT_OK);
                    unsetenv("GENRT_WEBGPU_MMT");
                    double ms = -1;
                    grt_dev_fence_elapsed_ms(G, f1, f2, &ms);
                    double us = ms * 1e3 / R;
                    printf("  mmbench %-5s %-11s M %4d N %5d K %5d %-9s %9.2f us %6.2f TFLOP/s\n", grt_dtype_name(wt),
                           shapes[si].name, M, N, K, cf, us, us > 0 ? 2.0 * M * N * K / us / 1e6 : 0.0);
                    CHECKF(grt_dev_status(G) == GRT_OK, "%s", grt_last_error());
                }
            }
    grt_dev_buffer_free(act);
    grt_dev_buffer_free(wb);
    grt_dev_fence_free(G, f1);
    grt_dev_fence_free(G, f2);
}

/* With GENRT_WEBGPU_MVBENCH: device time of the other decode ops at the
 * shapes of Llama-3.2-1B (S: SmolLM2-135M), one token at position 255 of a
 * 384-entry cache, 64 back-to-back dispatches in one pass (what a decode
 * step spends besides the matvecs). */
static void op_bench_model(const char *name, int H, int NH, int NKV, int FF) {
    const int HD = H / NH, KVD = NKV * HD, MC = 384;
    size_t act = (size_t)(H + NH * HD + 2 * KVD + 2 * FF + H) * 4 + 8192;
    grt_buffer *A = NULL, *KV = NULL, *Wt = NULL, *St = NULL;
    grt_fence *f1 = NULL, *f2 = NULL;
    grt_dev_buffer_new(G, act, GRT_BUF_DEVICE, &A);
    grt_dev_buffer_new(G, (size_t)2 * MC * KVD * 4, GRT_BUF_DEVICE, &KV);
    grt_dev_buffer_new(G, (size_t)(H + HD) * 4 + 256, GRT_BUF_DEVICE, &Wt);
    grt_dev_buffer_new(G, 256, GRT_BUF_DEVICE, &St);
    grt_dev_fence_new(G, &f1);
    grt_dev_fence_new(G, &f2);
    CHECK(A && KV && Wt && St && f1 && f2);
    if (!A || !KV || !Wt || !St || !f1 || !f2) return;
    grt_dev_fill(G, A, 0, act, 0x3c000000u);
    grt_dev_fill(G, KV, 0, (size_t)2 * MC * KVD * 4, 0x3c000000u);
    grt_dev_fill(G, Wt, 0, (size_t)(H + HD) * 4 + 256, 0x3f800000u);
    grt_step_state st = {.pos = 255};
    grt_dev_write(G, St, 0, &st, sizeof st);
    size_t o = 0;
    grt_tensor x = view(A, o, GRT_F32, 1, H);
    o += ((size_t)H * 4 + 255) / 256 * 256;
    grt_tensor xn = view(A, o, GRT_F32, 1, H);
    o += ((size_t)H * 4 + 255) / 256 * 256;
    grt_tensor q = view(A, o, GRT_F32, 1, NH * HD);
    o += ((size_t)NH * HD * 4 + 255) / 256 * 256;
    grt_tensor k = view(A, o, GRT_F32, 1, KVD);
    o += ((size_t)KVD * 4 + 255) / 256 * 256;
    grt_tensor v = view(A, o, GRT_F32, 1, KVD);
    o += ((size_t)KVD * 4 + 255) / 256 * 256;
    grt_tensor att = view(A, o, GRT_F32, 1, NH * HD);
    o += ((size_t)NH * HD * 4 + 255) / 256 * 256;
    grt_tensor g = view(A, o, GRT_F32, 1, FF);
    o += ((size_t)FF * 4 + 255) / 256 * 256;
    grt_tensor u = view(A, o, GRT_F32, 1, FF);
    grt_tensor nw = view(Wt, 0, GRT_F32, H, 0), fr = view(Wt, ((size_t)H * 4 + 255) / 256 * 256, GRT_F32, HD / 2, 0);
    grt_tensor ts = view(St, 0, GRT_I32, 1, 8);
    grt_tensor kc = view(KV, 0, GRT_F32, MC, KVD), vc = view(KV, (size_t)MC * KVD * 4, GRT_F32, MC, KVD);
    grt_rows rows = {1, 0, 1};
    for (int op = 0; op < 7; op++) {
        static const char *names[] = {"rmsnorm", "rope q", "rope k", "kv_store", "attention", "glu", "attn old"};
        if (op == 6) setenv("GENRT_WEBGPU_OLD_ATTN", "1", 1);
        const int M = 64;
        for (int rep = 0; rep < 2; rep++) {
            grt_dev_fence_record(G, f1);
            CHECK(grt_dev_fence_wait(G, f1) == GRT_OK);
            for (int i = 0; i < (rep ? M : 2); i++) {
                switch (op) {
                case 0: grt_dev_rmsnorm(G, &xn, &x, &nw, 1, H, 1e-5f); break;
                case 1: grt_dev_rope(G, &q, &fr, &ts, rows, NH, HD, HD, false); break;
                case 2: grt_dev_rope(G, &k, &fr, &ts, rows, NKV, HD, HD, false); break;
                case 3: grt_dev_kv_store(G, &kc, &vc, &k, &v, &ts, rows, KVD, MC); break;
                case 4:
                case 6: grt_dev_attention(G, &att, &q, &kc, &vc, &ts, rows, NH, NKV, HD, MC, 0.125f, 0); break;
                default: grt_dev_glu(G, &g, &g, &u, 1, FF, GRT_ACT_SILU); break;
                }
            }
            grt_dev_fence_record(G, f2);
            CHECK(grt_dev_fence_wait(G, f2) == GRT_OK);
        }
        double ms = -1;
        grt_dev_fence_elapsed_ms(G, f1, f2, &ms);
        printf("  opbench %-3s %-10s %8.2f us/call%s\n", name, names[op], ms * 1e3 / M,
               op == 4 ? " (attn_dec: one dispatch)" : op == 6 ? " (2 dispatches: parts, combine)" : "");
        unsetenv("GENRT_WEBGPU_OLD_ATTN");
        CHECKF(grt_dev_status(G) == GRT_OK, "%s", grt_last_error());
    }
    grt_dev_fence_free(G, f1);
    grt_dev_fence_free(G, f2);
    grt_dev_buffer_free(A);
    grt_dev_buffer_free(KV);
    grt_dev_buffer_free(Wt);
    grt_dev_buffer_free(St);
}

static void test_op_bench(void) {
    op_bench_model("1B", 2048, 32, 8, 8192);
    op_bench_model("S", 576, 9, 3, 1536);
}

static void test_embed_types(void) {
    const grt_dtype types[] = {GRT_F32, GRT_F16, GRT_BF16, GRT_Q8_0, GRT_Q4_0};
    const int V = 50, E = 64;
    int32_t ids[5] = {3, 0, 49, 7, 3};
    for (size_t ti = 0; ti < 5; ti++) {
        grt_dtype t = types[ti];
        size_t rb = grt_row_bytes(t, E);
        uint8_t *tab = malloc(rb * V);
        float row[64], ref[5 * 64], out[5 * 64];
        for (int v = 0; v < V; v++) {
            for (int i = 0; i < E; i++) row[i] = frand();
            grt_quantize_row(t, row, tab + v * rb, E);
        }
        for (int r = 0; r < 5; r++) {
            grt_dequantize_row(t, tab + ids[r] * rb, ref + r * E, E);
            for (int i = 0; i < E; i++) ref[r * E + i] *= 0.5f;
        }
        grt_buffer *tb = upload(G, tab, rb * V, 0), *ib = upload(G, ids, sizeof ids, 0), *ob = upload(G, NULL, 0, sizeof out);
        grt_tensor tt = view(tb, 0, t, V, E), ti_ = view(ib, 0, GRT_I32, 5, 0), to = view(ob, 0, GRT_F32, 5, E);
        grt_dev_embed(G, &to, &tt, &ti_, 0.5f, 5);
        CHECK(grt_dev_read(G, ob, 0, out, sizeof out) == GRT_OK);
        double e = max_rel(out, ref, 5 * 64);
        printf("  embed %-5s: max rel err %.2g\n", grt_dtype_name(t), e);
        CHECK(e == 0);
        grt_dev_buffer_free(tb), grt_dev_buffer_free(ib), grt_dev_buffer_free(ob);
        free(tab);
    }
}

/* Run fn on both devices over identical buffers (a list of host arrays),
 * then compare buffer `cmp` of each. */
typedef struct dual {
    grt_buffer *g[6], *c[6];
    size_t n[6];
} dual;

static void dual_up(dual *d, int i, const void *host, size_t n) {
    d->n[i] = n;
    d->g[i] = upload(G, host, n, 0);
    d->c[i] = upload(C, host, n, 0);
}

static double dual_cmp(dual *d, int i, size_t off, size_t n_floats) {
    float *a = malloc(n_floats * 4), *b = malloc(n_floats * 4);
    grt_dev_read(G, d->g[i], off, a, n_floats * 4);
    grt_dev_read(C, d->c[i], off, b, n_floats * 4);
    double e = max_rel(a, b, n_floats);
    free(a), free(b);
    return e;
}

static void dual_free(dual *d) {
    for (int i = 0; i < 6; i++) grt_dev_buffer_free(d->g[i]), grt_dev_buffer_free(d->c[i]);
}

static void test_norm_glu_rope(void) {
    float x[800], w[80], inv[8];
    for (int i = 0; i < 800; i++) x[i] = frand() * 3;
    for (int i = 0; i < 80; i++) w[i] = frand();
    for (int i = 0; i < 8; i++) inv[i] = powf(10000.0f, -(float)i / 8.0f);
    grt_step_state st[2] = {{.pos = 1000}, {.pos = 4093}};
    dual d;
    memset(&d, 0, sizeof d);
    dual_up(&d, 0, x, sizeof x);
    dual_up(&d, 1, w, sizeof w);
    dual_up(&d, 2, inv, sizeof inv);
    dual_up(&d, 3, st, sizeof st);
    for (int k = 0; k < 2; k++) {
        grt_device *dv = k ? C : G;
        grt_buffer **B = k ? d.c : d.g;
        grt_tensor a = view(B[0], 0, GRT_F32, 3, 80), b = view(B[0], 1024, GRT_F32, 3, 80);
        grt_tensor tw = view(B[1], 0, GRT_F32, 80, 0);
        grt_dev_rmsnorm(dv, &b, &a, &tw, 3, 80, 1e-5f);   /* out of place */
        grt_dev_rmsnorm(dv, &a, &a, &tw, 3, 80, 1e-6f);   /* in place */
        grt_dev_glu(dv, &b, &b, &a, 1, 240, GRT_ACT_SILU);
        grt_dev_glu(dv, &a, &b, &a, 1, 240, GRT_ACT_GELU_TANH);
        /* rope: 2 sequences x 3 rows... here 2 rows, 5 heads of 16, rot 16 */
        grt_tensor r = view(B[0], 0, GRT_F32, 2, 80), tf = view(B[2], 0, GRT_F32, 8, 0);
        grt_tensor ts = view(B[3], 0, GRT_I32, 2, 8);
        grt_dev_rope(dv, &r, &tf, &ts, (grt_rows){2, 0, 2}, 5, 16, 16, false);
        grt_dev_rope(dv, &r, &tf, &ts, (grt_rows){2, 0, 1}, 5, 16, 16, true);
        grt_dev_advance(dv, &ts, (grt_rows){2, 0, 2});
    }
    double e = fmax(dual_cmp(&d, 0, 0, 480), dual_cmp(&d, 0, 1024, 240));
    int32_t sg[16], sc[16];
    grt_dev_read(G, d.g[3], 0, sg, sizeof sg);
    grt_dev_read(C, d.c[3], 0, sc, sizeof sc);
    printf("  rmsnorm, glu (silu, gelu), rope (pos ~4096) vs cpu: max rel err %.2g\n", e);
    CHECK(e < 1e-5);
    CHECK(memcmp(sg, sc, sizeof sg) == 0 && sg[0] == 1001);
    CHECKF(grt_dev_status(G) == GRT_OK, "%s", grt_last_error());
    dual_free(&d);
}

static void test_kv_attention(void) {
    const int NH = 4, NKV = 2, HD = 16, KVD = NKV * HD, MC = 37, NS = 2;
    size_t cache = (size_t)NS * MC * KVD * 4; /* not a multiple of 256: K and V share one window */
    float *kv = calloc(2 * cache / 4, 4), q[6 * 64], kr[6 * 32], vr[6 * 32];
    for (int i = 0; i < 6 * 64; i++) q[i] = frand();
    for (int i = 0; i < 6 * 32; i++) kr[i] = frand(), vr[i] = frand();
    grt_step_state st[2] = {{.pos = 2}, {.pos = 30}};
    dual d;
    memset(&d, 0, sizeof d);
    dual_up(&d, 0, kv, 2 * cache);
    dual_up(&d, 1, q, sizeof q);
    dual_up(&d, 2, kr, sizeof kr);
    dual_up(&d, 3, vr, sizeof vr);
    dual_up(&d, 4, st, sizeof st);
    dual_up(&d, 5, q, sizeof q); /* out */
    for (int k = 0; k < 2; k++) {
        grt_device *dv = k ? C : G;
        grt_buffer **B = k ? d.c : d.g;
        grt_tensor kc = view(B[0], 0, GRT_F32, NS * MC, KVD), vc = view(B[0], cache, GRT_F32, NS * MC, KVD);
        grt_tensor tq = view(B[1], 0, GRT_F32, 6, NH * HD), tk = view(B[2], 0, GRT_F32, 6, KVD);
        grt_tensor tv = view(B[3], 0, GRT_F32, 6, KVD), ts = view(B[4], 0, GRT_I32, 2, 8);
        grt_tensor to = view(B[5], 0, GRT_F32, 6, NH * HD);
        grt_rows rows = {6, 0, 2}; /* 3 rows for each sequence */
        grt_dev_kv_store(dv, &kc, &vc, &tk, &tv, &ts, rows, KVD, MC);
        grt_dev_attention(dv, &to, &tq, &kc, &vc, &ts, rows, NH, NKV, HD, MC, 0.25f, 0);
        grt_tensor to1 = view(B[1], 0, GRT_F32, 3, NH * HD), tq1 = view(B[5], 0, GRT_F32, 3, NH * HD);
        grt_dev_attention(dv, &to1, &tq1, &kc, &vc, &ts, (grt_rows){3, 1, 1}, NH, NKV, HD, MC, 0.25f, 4);
    }
    double e = fmax(fmax(dual_cmp(&d, 0, 0, 2 * cache / 4), dual_cmp(&d, 5, 0, 6 * 64)), dual_cmp(&d, 1, 0, 3 * 64));
    printf("  kv_store + attention (GQA, shared unaligned caches, window) vs cpu: max rel err %.2g\n", e);
    CHECK(e < 1e-5);
    CHECKF(grt_dev_status(G) == GRT_OK, "%s", grt_last_error());
    dual_free(&d);
    free(kv);
}

/* Decode (one token per sequence): keys split over workgroups and merged;
 * long and short histories, with and without a window. */
/* hd 64 at context 300: one chunk of keys per split, partials staged in
 * workgroup memory; hd 128 at context 3000: several chunks per split, too
 * many partials to stage */
static void attention_decode_case(int HD, int MC, int pos1, int NH, int NKV) {
    const int KVD = NKV * HD, NS = 2;
    size_t cache = (size_t)NS * MC * KVD * 4;
    float *kv = malloc(2 * cache), *q = malloc(sizeof(float) * NS * NH * HD);
    for (size_t i = 0; i < 2 * cache / 4; i++) kv[i] = frand();
    for (int i = 0; i < NS * NH * HD; i++) q[i] = frand();
    grt_step_state st[2] = {{.pos = 5}, {.pos = pos1}};
    dual d;
    memset(&d, 0, sizeof d);
    dual_up(&d, 0, kv, 2 * cache);
    dual_up(&d, 1, q, sizeof(float) * NS * NH * HD);
    dual_up(&d, 2, st, sizeof st);
    dual_up(&d, 3, q, sizeof(float) * NS * NH * HD); /* out, no window */
    dual_up(&d, 4, q, sizeof(float) * NS * NH * HD); /* out, window 100 */
    for (int k = 0; k < 2; k++) {
        grt_device *dv = k ? C : G;
        grt_buffer **B = k ? d.c : d.g;
        grt_tensor kc = view(B[0], 0, GRT_F32, NS * MC, KVD), vc = view(B[0], cache, GRT_F32, NS * MC, KVD);
        grt_tensor tq = view(B[1], 0, GRT_F32, NS, NH * HD), ts = view(B[2], 0, GRT_I32, 2, 8);
        grt_tensor o0 = view(B[3], 0, GRT_F32, NS, NH * HD), o1 = view(B[4], 0, GRT_F32, NS, NH * HD);
        grt_dev_attention(dv, &o0, &tq, &kc, &vc, &ts, (grt_rows){NS, 0, NS}, NH, NKV, HD, MC, 0.125f, 0);
        grt_dev_attention(dv, &o1, &tq, &kc, &vc, &ts, (grt_rows){NS, 0, NS}, NH, NKV, HD, MC, 0.125f, 100);
    }
    double e = fmax(dual_cmp(&d, 3, 0, NS * NH * HD), dual_cmp(&d, 4, 0, NS * NH * HD));
    printf("  decode attention (split keys, window), heads %d/%d, hd %d, context %d: vs cpu: max rel err %.2g\n", NH,
           NKV, HD, MC, e);
    CHECK(e < 1e-5);
    CHECKF(grt_dev_status(G) == GRT_OK, "%s", grt_last_error());
    dual_free(&d);
    free(kv);
    free(q);
}

static void test_attention_decode(void) {
    attention_decode_case(64, 300, 250, 4, 2);
    attention_decode_case(128, 3000, 2900, 4, 2);
}

/* Decode attention in head groups (GENRT_WEBGPU_ATTN_DEC="heads,keys,sg": G /
 * heads workgroups per KV head, keys split in spans of at least `keys`,
 * sg 2: workgroup trees instead of subgroups with one head a workgroup):
 * eager against the cpu (windows, several splits), and a captured layer
 * (rope and kv_store folded in, the o projection chained, replayed twice)
 * against the eager ops' bits: q, k and both caches written back once,
 * after every reader, and the counters reset for the next replay. */
static void test_attention_head_groups(void) {
    static const struct {
        const char *knob;
        int nh, nkv;
    } cs[] = {
        {"1", 9, 3},      /* SmolLM2's groups: 3 workgroups per KV head */
        {"1", 16, 2},     /* G 8 */
        {"1", 24, 1},     /* G 24 (one workgroup per KV head cannot hold it) */
        {"2", 8, 2},      /* 2 heads a workgroup, 2 per KV head */
        {"2", 24, 1},     /* 12 per KV head */
        {"3", 9, 3},      /* the form without head groups */
        {"4,128", 12, 2}, /* 3 heads a workgroup (the largest divisor of 6 <= 4), 2-chunk splits */
        {"8", 24, 1},     /* 8 heads a workgroup, 3 per KV head */
        {"8", 8, 2},      /* the form without head groups */
        {"1,512", 9, 3},  /* one split */
        {"2,256", 16, 2}, /* 4 per KV head */
        {"1,64,2", 9, 3}, /* one head a workgroup, the chunk's max and sum in workgroup trees */
        {"1,128,2", 16, 2},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        setenv("GENRT_WEBGPU_ATTN_DEC", cs[i].knob, 1);
        printf("  GENRT_WEBGPU_ATTN_DEC=%s\n", cs[i].knob);
        attention_decode_case(64, 300, 250, cs[i].nh, cs[i].nkv);
        chain_case(i % 2 ? GRT_F32 : GRT_F16, i % 3 != 0, 250, cs[i].nh, cs[i].nkv, 300, 128);
        if (i % 4 == 0) chain_case(GRT_BF16, true, 5, cs[i].nh, cs[i].nkv, 300, 128);
    }
    unsetenv("GENRT_WEBGPU_ATTN_DEC");
}

/* The decode step's short-path forms (GENRT_WEBGPU_STEP="merge,bar", each
 * 1: the form before, 2: the new): every combination against the cpu (2, 4
 * and 6 key splits merged, one head and 3 heads a workgroup; 46 splits, past
 * the register merge's 8) and the captured layer (attention merging 4
 * splits, chained o projection, mvx3; mvx2 with the old barrier form) against the eager ops' bits
 * over two replays. */
static void test_step_forms(void) {
    static const char *const forms[] = {"1,1", "2,1", "1,2", "2,2"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        setenv("GENRT_WEBGPU_STEP", forms[i], 1);
        printf("  GENRT_WEBGPU_STEP=%s\n", forms[i]);
        setenv("GENRT_WEBGPU_ATTN_DEC", i % 2 ? "3" : "1", 1);
        attention_decode_case(64, 400, 380, 9, 3);
        attention_decode_case(64, 300, 100, 9, 3);
        unsetenv("GENRT_WEBGPU_ATTN_DEC");
        if (i == 0 || i == 3) attention_decode_case(128, 3000, 2900, 4, 2);
        chain_case(i % 2 ? GRT_F32 : GRT_F16, i % 3 != 0, 250, 9, 3, 300, 128);
        chain_case(GRT_F16, true, 200, 4, 2, 300, 128);
    }
    unsetenv("GENRT_WEBGPU_STEP");
}

/* With the storage binding limit lowered to 64 KiB (GENRT_WEBGPU_MAX_BINDING),
 * weights and embedding tables larger than that are bound in parts and give
 * the CPU backend's results; what cannot be split gets a clear error. */
static void test_split_bindings(void) {
    setenv("GENRT_WEBGPU_MAX_BINDING", "65536", 1);
    grt_device *D = NULL;
    grt_status st = grt_device_open("webgpu", NULL, &D);
    unsetenv("GENRT_WEBGPU_MAX_BINDING");
    CHECKF(st == GRT_OK, "%s", grt_last_error());
    if (!D) return;
    grt_webgpu_features ft;
    CHECK(grt_webgpu_get_features(D, &ft) && ft.max_binding == 65536);
    const grt_dtype types[] = {GRT_F32, GRT_F16, GRT_Q8_0};
    const int N = 600, K = 256, R = 3;
    for (int ti = 0; ti < 3; ti++) {
        grt_dtype wt = types[ti];
        size_t rb = grt_row_bytes(wt, K);
        uint8_t *wq = malloc(rb * N);
        float *wf = malloc(sizeof(float) * N * K), *x = malloc(sizeof(float) * R * K), bias[600];
        float *o0 = malloc(sizeof(float) * R * N), *og = malloc(sizeof(float) * R * N), *oc = malloc(sizeof(float) * R * N);
        for (int i = 0; i < N * K; i++) wf[i] = frand();
        for (int n = 0; n < N; n++) grt_quantize_row(wt, wf + n * K, wq + n * rb, K);
        for (int i = 0; i < R * K; i++) x[i] = frand();
        for (int i = 0; i < R * N; i++) o0[i] = frand();
        for (int i = 0; i < N; i++) bias[i] = frand();
        /* reference: the dequantized weights, in double */
        for (int n = 0; n < N; n++) grt_dequantize_row(wt, wq + n * rb, wf + n * K, K);
        for (int r = 0; r < R; r++)
            for (int n = 0; n < N; n++) {
                double acc = (double)o0[r * N + n] + bias[n];
                for (int k = 0; k < K; k++) acc += (double)wf[n * K + k] * x[r * K + k];
                oc[r * N + n] = (float)acc;
            }
        grt_buffer *bw = upload(D, wq, rb * N, 0), *bx = upload(D, x, sizeof(float) * R * K, 0);
        grt_buffer *bo = upload(D, o0, sizeof(float) * R * N, 0), *bb = upload(D, bias, sizeof bias, 0);
        grt_tensor tw = view(bw, 0, wt, N, K), tx = view(bx, 0, GRT_F32, R, K);
        grt_tensor to = view(bo, 0, GRT_F32, R, N), tb = view(bb, 0, GRT_F32, N, 0);
        grt_dev_matmul(D, &to, &tx, &tw, &tb, R, true);
        CHECKF(grt_dev_read(D, bo, 0, og, sizeof(float) * R * N) == GRT_OK, "%s", grt_last_error());
        grt_dev_buffer_free(bw), grt_dev_buffer_free(bx), grt_dev_buffer_free(bo), grt_dev_buffer_free(bb);
        double e = max_rel(og, oc, (size_t)R * N);
        printf("  matmul %s, %zu-byte weight in 64 KiB bindings vs reference: max rel err %.2g\n", grt_dtype_name(wt),
               rb * N, e);
        CHECK(e < 1e-5);
        free(wq), free(wf), free(x), free(o0), free(og), free(oc);
    }
    {
        enum { V = 1000, E = 64, NR = 6 };
        float *tab = malloc(sizeof(float) * V * E), og[NR * E], oc[NR * E];
        for (int i = 0; i < V * E; i++) tab[i] = frand();
        int32_t ids[NR] = {999, 0, 300, 700, 299, 300};
        for (int k = 0; k < 2; k++) {
            grt_device *dv = k ? C : D;
            grt_buffer *bt = upload(dv, tab, sizeof(float) * V * E, 0), *bi = upload(dv, ids, sizeof ids, 0);
            grt_buffer *bo = upload(dv, NULL, 0, sizeof og);
            grt_tensor tt = view(bt, 0, GRT_F32, V, E), ti = view(bi, 0, GRT_I32, NR, 0);
            grt_tensor to = view(bo, 0, GRT_F32, NR, E);
            grt_dev_embed(dv, &to, &tt, &ti, 0.5f, NR);
            CHECKF(grt_dev_read(dv, bo, 0, k ? oc : og, sizeof og) == GRT_OK, "%s", grt_last_error());
            grt_dev_buffer_free(bt), grt_dev_buffer_free(bi), grt_dev_buffer_free(bo);
        }
        double e = max_rel(og, oc, NR * E);
        printf("  embed, 256000-byte table in 64 KiB bindings vs cpu: max rel err %.2g\n", e);
        CHECK(e == 0);
        free(tab);
    }
    CHECKF(grt_dev_status(D) == GRT_OK, "%s", grt_last_error());
    /* activations are not split: a clear error */
    grt_buffer *big = NULL;
    CHECK(grt_dev_buffer_new(D, 200000, GRT_BUF_DEVICE, &big) == GRT_OK);
    grt_buffer *wn = upload(D, NULL, 0, 4 * 50000);
    if (big && wn) {
        grt_tensor a = view(big, 0, GRT_F32, 1, 50000), tw = view(wn, 0, GRT_F32, 50000, 0);
        grt_dev_rmsnorm(D, &a, &a, &tw, 1, 50000, 1e-5f);
        grt_status s2 = grt_dev_status(D);
        printf("  rmsnorm over 200000 bytes: %s\n", grt_last_error());
        CHECK(s2 == GRT_ERR_UNSUPPORTED && strstr(grt_last_error(), "GENRT_WEBGPU_MAX_BINDING"));
    }
    grt_dev_buffer_free(big);
    grt_dev_buffer_free(wn);
    grt_device_close(D);
    setenv("GENRT_WEBGPU_MAX_BINDING", "12", 1);
    D = NULL;
    st = grt_device_open("webgpu", NULL, &D);
    unsetenv("GENRT_WEBGPU_MAX_BINDING");
    CHECK(st == GRT_ERR_INVALID_ARG && D == NULL && strstr(grt_last_error(), "GENRT_WEBGPU_MAX_BINDING=12"));
    grt_device_close(D);
}

/* GENRT_WEBGPU_F16=1 on an adapter with shader-f16: the decode matvec of f16
 * weights runs in f16 arithmetic, within f16 rounding of the f32 result. */
static void test_f16_math(void) {
    setenv("GENRT_WEBGPU_F16", "1", 1);
    grt_device *D = NULL;
    grt_status st = grt_device_open("webgpu", NULL, &D);
    unsetenv("GENRT_WEBGPU_F16");
    CHECKF(st == GRT_OK, "%s", grt_last_error());
    if (!D) return;
    grt_webgpu_features ft;
    grt_webgpu_get_features(D, &ft);
    if (!ft.shader_f16) {
        CHECK(!ft.f16_math);
        grt_device_close(D);
        printf("  adapter has no shader-f16: the f32 path stays\n");
        return;
    }
    CHECK(ft.f16_math);
    enum { N = 70, K = 1088 };
    size_t rb = grt_row_bytes(GRT_F16, K);
    uint16_t *wq = malloc(rb * N);
    float *wf = malloc(sizeof(float) * N * K), x[K], ref[N], out[N], bias[N];
    for (int i = 0; i < N * K; i++) wf[i] = frand();
    for (int n = 0; n < N; n++) {
        grt_quantize_row(GRT_F16, wf + n * K, (uint8_t *)wq + n * rb, K);
        grt_dequantize_row(GRT_F16, (uint8_t *)wq + n * rb, wf + n * K, K);
    }
    for (int i = 0; i < K; i++) x[i] = frand();
    for (int i = 0; i < N; i++) bias[i] = frand(), out[i] = frand();
    for (int n = 0; n < N; n++) {
        double a = out[n] + bias[n];
        for (int k = 0; k < K; k++) a += (double)wf[n * K + k] * x[k];
        ref[n] = (float)a;
    }
    grt_buffer *bw = upload(D, wq, rb * N, 0), *bx = upload(D, x, sizeof x, 0), *bo = upload(D, out, sizeof out, 0);
    grt_buffer *bb = upload(D, bias, sizeof bias, 0);
    grt_tensor tw = view(bw, 0, GRT_F16, N, K), tx = view(bx, 0, GRT_F32, 1, K), to = view(bo, 0, GRT_F32, 1, N);
    grt_tensor tb = view(bb, 0, GRT_F32, N, 0);
    grt_dev_matmul(D, &to, &tx, &tw, &tb, 1, true);
    CHECKF(grt_dev_read(D, bo, 0, out, sizeof out) == GRT_OK, "%s", grt_last_error());
    double e = max_rel(out, ref, N);
    printf("  f16 arithmetic matvec (K %d): max rel err %.2g (f32 path: ~1e-7)\n", K, e);
    CHECK(e < 5e-3 && e > 0);
    grt_dev_buffer_free(bw), grt_dev_buffer_free(bx), grt_dev_buffer_free(bo), grt_dev_buffer_free(bb);
    free(wq), free(wf);
    grt_device_close(D);
}

/* Sampled ids, history, ring, next ids and state equal the CPU backend's
 * over 12 draws for 3 sequences, for each sampler setting. */
static void test_sample_vs_cpu(void) {
    enum { V = 3000, NS = 3, MC = 40, RL = 8 }; /* V: 3 argmax partials per sequence */
    grt_sample_cfg cfgs[6] = {
        {.temperature = 0, .top_p = 1, .repeat_penalty = 1, .repeat_last_n = 64},
        {.temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f, .repeat_penalty = 1, .seed = 7},
        {.temperature = 1.0f, .top_p = 1, .repeat_penalty = 1, .seed = 9},
        {.temperature = 1.2f, .top_p = 0.5f, .repeat_penalty = 1, .seed = 11},
        {.temperature = 0.7f, .top_k = 5, .top_p = 1, .repeat_penalty = 1.3f, .repeat_last_n = -1, .seed = 3},
        {.temperature = 2.0f, .top_p = 0.9f, .min_p = 0.1f, .repeat_penalty = 0.8f, .repeat_last_n = 6, .seed = 5,
         .n_eos = 2, .eos = {17, 500}},
    };
    int total = 0, same = 0;
    for (int ci = 0; ci < 6; ci++) {
        float *lg = malloc(sizeof(float) * V * NS);
        int32_t hist[NS * MC];
        for (int i = 0; i < NS * MC; i++) hist[i] = (i * 37) % V;
        grt_step_state st[NS];
        memset(st, 0, sizeof st);
        for (int s = 0; s < NS; s++) st[s].pos = 10 + s;
        dual d;
    memset(&d, 0, sizeof d);
        dual_up(&d, 0, hist, sizeof hist);
        dual_up(&d, 1, st, sizeof st);
        int32_t z[3 * 8];
        memset(z, 0, sizeof z);
        dual_up(&d, 2, z, NS * 4);
        dual_up(&d, 3, z, sizeof z);
        d.g[4] = upload(G, NULL, 0, sizeof(float) * V * NS);
        d.c[4] = upload(C, NULL, 0, sizeof(float) * V * NS);
        bool eq = true;
        for (int step = 0; step < 12; step++) {
            for (int i = 0; i < V * NS; i++) lg[i] = frand() * 4;
            lg[5] = lg[6] = 3.9f; /* a tie */
            for (int k = 0; k < 2; k++) {
                grt_device *dv = k ? C : G;
                grt_buffer **B = k ? d.c : d.g;
                grt_dev_write(dv, B[4], 0, lg, sizeof(float) * V * NS);
                grt_tensor tl = view(B[4], 0, GRT_F32, NS, V), th = view(B[0], 0, GRT_I32, NS, MC);
                grt_tensor ts = view(B[1], 0, GRT_I32, NS, 8), tn = view(B[2], 0, GRT_I32, NS, 0);
                grt_tensor tr = view(B[3], 0, GRT_I32, NS, RL);
                grt_dev_sample(dv, &tl, V, &cfgs[ci], &ts, 0, NS, &th, MC, &tn, &tr, RL);
                grt_dev_advance(dv, &ts, (grt_rows){NS, 0, NS});
            }
            int32_t a[NS * MC], b[NS * MC];
            for (int i = 0; i < 4 && eq; i++) {
                grt_dev_read(G, d.g[i], 0, a, d.n[i]);
                grt_dev_read(C, d.c[i], 0, b, d.n[i]);
                eq = memcmp(a, b, d.n[i]) == 0;
            }
            total++;
            same += eq;
        }
        printf("  sampler setting %d: device state equals cpu after 12 draws: %s\n", ci, eq ? "yes" : "no");
        if (!eq) printf("  status %d %s\n", grt_dev_status(G), grt_last_error());
        CHECK(eq);
        dual_free(&d);
        free(lg);
    }
    CHECKF(grt_dev_status(G) == GRT_OK, "%s", grt_last_error());
}

/* ---------------------------------------------------------------- model-level */

static char g_model_dir[600];

static grt_model *load_tiny(void) {
    grt_model_options o = grt_model_options_default();
    o.device = "webgpu";
    grt_model *m = NULL;
    if (grt_model_load(g_model_dir, &o, &m)) printf("  load: %s\n", grt_last_error());
    return m;
}

/* After warm-up (prefill, the first steps and the capture), decoding
 * creates no buffer, bind group or pipeline, with capture on or off, and
 * submits once per step. */
static void test_no_creation_after_warmup(void) {
    grt_model *m = load_tiny();
    CHECK(m != NULL);
    if (!m) return;
    int32_t prompt[4] = {1, 100, 200, 300};
    for (int cap = 1; cap >= 0; cap--) {
        grt_gen_params p = grt_gen_params_default();
        p.sampler.temperature = 0.9f;
        p.max_new_tokens = 120;
        p.ignore_eos = true;
        p.graph_capture = cap;
        grt_generator *g = NULL;
        CHECK(grt_generator_new(m, &p, &g) == GRT_OK && grt_generator_prefill(g, 0, prompt, 4) == GRT_OK);
        if (!g) break;
        int got_total = 0;
        bool done = false;
        grt_webgpu_counters c0 = {0}, c1;
        while (!done) {
            int32_t t[8];
            size_t n;
            if (grt_generator_next(g, NULL, t, 8, &n, &done) != GRT_OK) break;
            got_total += (int)n;
            if (got_total >= 8 && c0.submits == 0) grt_webgpu_get_counters(m->dev, &c0);
        }
        grt_webgpu_get_counters(m->dev, &c1);
        grt_gen_stats st;
        grt_generator_stats(g, &st);
        double sub = (double)(c1.submits - c0.submits) / (got_total - 8);
        printf("  capture %s: %d tokens; after warm-up: +%llu buffers, +%llu bind groups, +%llu pipelines, "
               "%.2f submits/token, %d blocking waits, %.1f us/step host; %llu dispatches merged in the graph\n",
               cap ? "on" : "off", got_total, (unsigned long long)(c1.buffers - c0.buffers),
               (unsigned long long)(c1.bind_groups - c0.bind_groups),
               (unsigned long long)(c1.pipelines - c0.pipelines), sub, st.blocking_waits, st.host_us_per_step,
               (unsigned long long)c1.merged);
        /* per layer q, k, v and gate, up become one dispatch each, both
         * rmsnorms join them, the two ropes become one; the final norm joins
         * the output matmul */
        if (cap) CHECK(c1.merged >= (uint64_t)6 * m->cfg.n_layers + 1);
        CHECK(got_total == 120);
        CHECK(c1.buffers == c0.buffers && c1.bind_groups == c0.bind_groups && c1.pipelines == c0.pipelines);
        CHECK(sub <= 1.05);
        CHECK(st.captured == (cap == 1));
        grt_generator_free(g);
    }
    grt_model_free(m);
}

/* Tokens (seeded sampling) do not depend on how steps are submitted or
 * read: steps_per_submit 4 and 5 (one queue submission per group) and
 * read_immediate give the ids of the default loop, capture on and off; K
 * steps per submit cut the submits per token to about 1/K. */
static void test_submit_modes(void) {
    grt_model *m = load_tiny();
    CHECK(m != NULL);
    if (!m) return;
    int32_t prompt[4] = {1, 100, 200, 300};
    enum { N = 45 };
    int32_t ref[N];
    int modes[4][2] = {{1, 0}, {4, 0}, {5, 0}, {1, 1}}; /* steps_per_submit, read_immediate */
    for (int cap = 1; cap >= 0; cap--)
        for (int mi = 0; mi < 4; mi++) {
            grt_gen_params p = grt_gen_params_default();
            p.sampler.temperature = 0.9f;
            p.sampler.seed = 5;
            p.max_new_tokens = N;
            p.ignore_eos = true;
            p.graph_capture = cap;
            p.steps_per_submit = modes[mi][0];
            p.read_immediate = modes[mi][1];
            grt_generator *g = NULL;
            CHECKF(grt_generator_new(m, &p, &g) == GRT_OK && grt_generator_prefill(g, 0, prompt, 4) == GRT_OK, "%s",
                   grt_last_error());
            if (!g) return;
            int32_t got[N];
            int n_got = 0;
            bool done = false;
            grt_webgpu_counters c0, c1;
            grt_webgpu_get_counters(m->dev, &c0);
            while (!done) {
                int32_t t[8];
                size_t n;
                if (grt_generator_next(g, NULL, t, 8, &n, &done) != GRT_OK) break;
                for (size_t i = 0; i < n && n_got < N; i++) got[n_got++] = t[i];
            }
            grt_webgpu_get_counters(m->dev, &c1);
            grt_gen_stats st;
            grt_generator_stats(g, &st);
            if (cap == 1 && mi == 0) memcpy(ref, got, sizeof ref);
            bool same = n_got == N && memcmp(got, ref, sizeof ref) == 0;
            double sub = (double)(c1.submits - c0.submits) / N;
            printf("  capture %s, %d steps/submit%s: %d tokens, equal to the default loop: %s; %.2f submits/token, "
                   "%.0f us submit-to-token\n", cap ? "on" : "off", modes[mi][0],
                   modes[mi][1] ? ", immediate read" : "", n_got, same ? "yes" : "no", sub, st.token_latency_us);
            CHECK(same);
            if (modes[mi][0] > 1) CHECK(sub < 1.5 / modes[mi][0] + 0.1);
            grt_generator_free(g);
        }
    grt_gen_params p = grt_gen_params_default();
    p.steps_per_submit = 17;
    CHECK(grt_gen_params_check(m, &p) == GRT_ERR_INVALID_ARG && strstr(grt_last_error(), "--steps-per-submit 17"));
    p.steps_per_submit = 2;
    p.read_immediate = 1;
    CHECK(grt_gen_params_check(m, &p) == GRT_ERR_INVALID_ARG && strstr(grt_last_error(), "read_immediate"));
    grt_model_free(m);
}

/* A device lost mid-generation ends it with an error, no hang, no crash. */
static void test_device_lost(void) {
    grt_model *m = load_tiny();
    CHECK(m != NULL);
    if (!m) return;
    grt_gen_params p = grt_gen_params_default();
    p.max_new_tokens = 200;
    p.ignore_eos = true;
    grt_generator *g = NULL;
    int32_t prompt[3] = {1, 2, 3};
    CHECK(grt_generator_new(m, &p, &g) == GRT_OK && grt_generator_prefill(g, 0, prompt, 3) == GRT_OK);
    if (g) {
        int got = 0;
        bool done = false, lost = false;
        grt_status s = GRT_OK;
        time_t t0 = time(NULL);
        while (!done && time(NULL) - t0 < 60) {
            int32_t t[8];
            size_t n;
            if (got >= 10 && !lost) {
                grt_webgpu_lose_device(m->dev);
                lost = true;
            }
            if ((s = grt_generator_next(g, NULL, t, 8, &n, &done)) != GRT_OK) break;
            got += (int)n;
        }
        printf("  after %d tokens, device destroyed: %s\n", got, s ? grt_last_error() : "no error");
        CHECK(s == GRT_ERR_DEVICE && strstr(grt_last_error(), "lost"));
        grt_generator_free(g);
    }
    grt_model_free(m);
}

/* Without a driver Dawn offers only its Null adapter: "no adapter". Run in
 * a child process, since availability is decided once per process. */
static void test_null_adapter(void) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "GENRT_WEBGPU_LAVAPIPE=0 VK_ICD_FILENAMES=/nonexistent/icd.json VK_DRIVER_FILES=/nonexistent/icd.json "
             "'%s' --probe-no-adapter 2>/dev/null", g_self);
    int rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
}

static int probe_no_adapter(void) {
    const char *why = NULL;
    bool ok = grt_device_available("webgpu", &why);
    grt_device *d = NULL;
    grt_status s = grt_device_open("webgpu", NULL, &d);
    printf("  without a driver: available=%d (%s); open: %s\n", ok, why ? why : "", s ? grt_last_error() : "ok");
    int good = !ok && why && strstr(why, "adapter") && s == GRT_ERR_NO_DEVICE && d == NULL;
    grt_device_close(d);
    return good ? 0 : 1;
}

#endif

#ifndef GRT_HAVE_WEBGPU
int main(void) {
    t_skip("webgpu backend", "genrt was built without the WebGPU backend (WEBGPU=0)");
    return t_done();
}
#else
int main(int argc, char **argv) {
    g_self = argv[0];
    if (argc > 1 && strcmp(argv[1], "--probe-no-adapter") == 0) return probe_no_adapter();
    /* kernel timings read device timestamps */
    if (getenv("GENRT_WEBGPU_MVBENCH") || getenv("GENRT_WEBGPU_MMBENCH")) setenv("GENRT_WEBGPU_TIMESTAMPS", "1", 1);
    const char *why = NULL;
    if (!grt_device_available("webgpu", &why)) {
        t_skip("webgpu backend", why ? why : "unavailable");
        return t_done();
    }
    if (grt_device_open("webgpu", NULL, &G) || grt_device_open("cpu", NULL, &C)) {
        printf("open: %s\n", grt_last_error());
        return 1;
    }
    printf("  adapter: %s\n", grt_webgpu_adapter_name(G));
    snprintf(g_model_dir, sizeof g_model_dir, "%s", t_data("hf-goldens/llama3-tiny"));
    if (getenv("GENRT_WEBGPU_MMBENCH")) { /* timing only */
        t_run("webgpu: prefill matmul timing (GENRT_WEBGPU_MMBENCH)", test_mm_bench);
        grt_device_close(G);
        grt_device_close(C);
        return t_done();
    }
    if (getenv("GENRT_WEBGPU_MVBENCH")) { /* timing only */
        t_run("webgpu: decode matvec timing (GENRT_WEBGPU_MVBENCH)", test_mv_bench);
        t_run("webgpu: other decode ops timing (GENRT_WEBGPU_MVBENCH)", test_op_bench);
        grt_device_close(G);
        grt_device_close(C);
        return t_done();
    }
    t_run("webgpu: copies, fills, reads and writes at offsets", test_copy_fill_offsets);
    t_run("webgpu: ring snapshots mapped per fence", test_ring_mapping);
    t_run("webgpu: buffer beyond the adapter's limits", test_limits);
    t_run("webgpu: device timestamps between fences", test_timestamps);
    t_run("webgpu: reductions on subgroups where the adapter has them", test_subgroup_path);
    t_run("webgpu: matmul, all weight types", test_matmul_types);
    t_run("webgpu: tiled prefill matmul, all weight types, tiles off the edges", test_mmt);
    t_run("webgpu: tiled prefill matmul over a weight split over bindings", test_mmt_split);
    t_run("webgpu: a 100-token prefill (tiled matmuls) equals the cpu's, random models", test_mmt_model);
    t_run("webgpu: decode matvec variants, all weight types, K to 8192", test_mvx_variants);
    t_run("webgpu: captured step merges equal eager dispatches, all weight types", test_capture_merges);
    t_run("webgpu: chain kernels (attn_o, mvx2, mvx3) replay the eager ops' bits", test_chains);
    t_run("webgpu: decode attention, keys split", test_attention_decode);
    t_run("webgpu: decode attention in head groups (GENRT_WEBGPU_ATTN_DEC)", test_attention_head_groups);
    t_run("webgpu: decode step forms (GENRT_WEBGPU_STEP)", test_step_forms);
    t_run("webgpu: weights and tables split over bindings", test_split_bindings);
    t_run("webgpu: f16 arithmetic on request", test_f16_math);
    t_run("webgpu: embed, all weight types", test_embed_types);
    t_run("webgpu: rmsnorm, glu, rope, advance", test_norm_glu_rope);
    t_run("webgpu: kv_store and attention", test_kv_attention);
    t_run("webgpu: sampler equals cpu", test_sample_vs_cpu);
    grt_device_close(G);
    grt_device_close(C);
    char p[700];
    snprintf(p, sizeof p, "%s/config.json", g_model_dir);
    FILE *f = fopen(p, "r");
    if (f) {
        fclose(f);
        t_run("webgpu: no object creation after warm-up", test_no_creation_after_warmup);
    t_run("webgpu: steps per submit and immediate reads give the same tokens", test_submit_modes);
        t_run("webgpu: device lost mid-generation", test_device_lost);
    } else {
        t_skip("webgpu: model-level", "no llama3-tiny reference model");
    }
    t_run("webgpu: Null adapter is no adapter", test_null_adapter);
    return t_done();
}
#endif
