/* Decode matvec bandwidth of the CPU backend against the machine's read
 * bandwidth. Build and run from the repo root:
 *   make build/libgenrt.a && cc -O2 -std=c11 -D_GNU_SOURCE -mavx2 -Iinclude -Isrc \
 *     bench/cpu_matmul.c build/libgenrt.a -lm -pthread -o build/cpu_matmul && build/cpu_matmul
 * Shapes are SmolLM2-135M's (hidden 576, kv 192, ffn 1536, vocab 49152).
 * "cold" cycles through copies of the matrix totalling >= 1 GiB so every
 * byte comes from DRAM; "hot" repeats one matrix (cache-resident when small). */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device/cpu/cpu_internal.h"
#include "device/device.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------- read bw */

typedef struct rd_args {
    const uint8_t *p;
    size_t n;
    double sum;
} rd_args;

static void *read_thread(void *arg) {
    rd_args *a = arg;
    __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    for (size_t i = 0; i + 128 <= a->n; i += 128) {
        acc0 = _mm256_xor_si256(acc0, _mm256_load_si256((const __m256i *)(a->p + i)));
        acc1 = _mm256_xor_si256(acc1, _mm256_load_si256((const __m256i *)(a->p + i + 32)));
        acc2 = _mm256_xor_si256(acc2, _mm256_load_si256((const __m256i *)(a->p + i + 64)));
        acc3 = _mm256_xor_si256(acc3, _mm256_load_si256((const __m256i *)(a->p + i + 96)));
    }
    acc0 = _mm256_xor_si256(_mm256_xor_si256(acc0, acc1), _mm256_xor_si256(acc2, acc3));
    a->sum = (double)_mm256_extract_epi32(acc0, 0);
    return NULL;
}

static double read_bw(const uint8_t *p, size_t n, int nth) {
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        pthread_t th[8];
        rd_args a[8];
        double t0 = now_s();
        for (int i = 0; i < nth; i++) {
            a[i] = (rd_args){p + n / nth * i, n / nth, 0};
            pthread_create(&th[i], NULL, read_thread, &a[i]);
        }
        for (int i = 0; i < nth; i++) pthread_join(th[i], NULL);
        double bw = (double)n / (now_s() - t0) / 1e9;
        if (bw > best) best = bw;
    }
    return best;
}

/* ---------------------------------------------------------------- matvec */

static double matvec_bw(grt_device *dev, grt_dtype t, int64_t N, int64_t K, bool cold, int64_t n_rows) {
    size_t wbytes = grt_row_bytes(t, K) * (size_t)N;
    int copies = cold ? (int)((1ull << 30) / wbytes + 1) : 1;
    grt_buffer *w, *x, *o;
    if (grt_dev_buffer_new(dev, wbytes * copies, 0, &w) || grt_dev_buffer_new(dev, (size_t)(K * n_rows) * 4, 0, &x) ||
        grt_dev_buffer_new(dev, (size_t)(N * n_rows) * 4, 0, &o)) {
        fprintf(stderr, "alloc failed\n");
        exit(1);
    }
    /* random bytes are fine for bandwidth; keep f16 scales finite */
    uint8_t *wp = w->ptr;
    for (size_t i = 0; i < wbytes * copies; i++) wp[i] = (uint8_t)(((i * 2654435761u >> 13) | 0x30) & 0x3b);
    float *xp = x->ptr;
    for (int64_t i = 0; i < K * n_rows; i++) xp[i] = (float)(i % 7) - 3;
    int64_t nx[2] = {n_rows, K}, no[2] = {n_rows, N}, nw[2] = {N, K};
    grt_tensor tx = grt_tensor_view(x, 0, GRT_F32, 2, nx), to = grt_tensor_view(o, 0, GRT_F32, 2, no);
    int iters = cold ? copies * 3 : (int)(3e9 / wbytes) + 5;
    if (iters > 20000) iters = 20000;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now_s();
        for (int i = 0; i < iters; i++) {
            grt_tensor tw = grt_tensor_view(w, wbytes * (size_t)(i % copies), t, 2, nw);
            grt_dev_matmul(dev, &to, &tx, &tw, NULL, n_rows, false);
        }
        double dt = now_s() - t0;
        double bw = (double)wbytes * iters / dt / 1e9;
        if (bw > best) best = bw;
    }
    grt_dev_buffer_free(w);
    grt_dev_buffer_free(x);
    grt_dev_buffer_free(o);
    return best;
}

int main(int argc, char **argv) {
    int max_threads = argc > 1 ? atoi(argv[1]) : 2;
    size_t n = (size_t)1 << (argc > 3 ? 20 : 30);
    uint8_t *buf = aligned_alloc(64, n);
    memset(buf, 1, n);
    for (int t = 1; t <= max_threads; t++)
        printf("read bandwidth, %d thread%s: %.1f GB/s (1 GiB, 256-bit loads)\n", t, t > 1 ? "s" : "",
               read_bw(buf, n, t));
    free(buf);
    const int64_t shapes[][2] = {{192, 576}, {576, 576}, {1536, 576}, {576, 1536}, {49152, 576}};
    const grt_dtype types[] = {GRT_BF16, GRT_Q8_0, GRT_F16, GRT_Q4_0, GRT_F32};
    size_t n_types = argc > 2 ? (size_t)atoi(argv[2]) : 5; /* the first n types */
    bool cold_runs = !(argc > 3 && strcmp(argv[3], "hot") == 0);
    for (int th = 1; th <= max_threads; th++) {
        grt_device_options o = {.n_threads = th};
        grt_device *dev;
        if (grt_device_open("cpu", &o, &dev) != GRT_OK) {
            fprintf(stderr, "%s\n", grt_last_error());
            return 1;
        }
        printf("\n%s, %d thread%s: decode matvec (1 row), weight GB/s hot / cold\n", grt_cpu_device_isa(dev), th,
               th > 1 ? "s" : "");
        for (size_t it = 0; it < n_types; it++) {
            printf("  %-5s", grt_dtype_name(types[it]));
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                double hot = matvec_bw(dev, types[it], shapes[s][0], shapes[s][1], false, 1);
                double cold = cold_runs ? matvec_bw(dev, types[it], shapes[s][0], shapes[s][1], true, 1) : 0;
                printf("  [%lldx%lld] %5.1f / %5.1f", (long long)shapes[s][0], (long long)shapes[s][1], hot, cold);
                fflush(stdout);
            }
            printf("\n");
        }
        /* prefill: 64 rows, GFLOP/s */
        printf("  prefill, 64 rows x [1536x576], GFLOP/s:");
        for (size_t it = 0; it < n_types; it++) {
            double bw = matvec_bw(dev, types[it], 1536, 576, false, 64);
            double flops = bw / (double)grt_row_bytes(types[it], 576) * 576 * 2 * 64; /* GB/s -> GFLOP/s */
            printf("  %s %.0f", grt_dtype_name(types[it]), flops);
        }
        printf("\n");
        grt_device_close(dev);
    }
    return 0;
}
