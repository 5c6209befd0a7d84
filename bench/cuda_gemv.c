/* Decode matvec speed of the CUDA backend, per weight type, on the shapes
 * of Llama-3.2-1B: 64 one-row matmuls cycling over copies of the matrix
 * that total >= 512 MiB (so every byte comes from DRAM, not L2), captured
 * in one graph and replayed, timed with fences. Prints us per matmul and
 * GB/s of weight bytes. "norm" as argument: each matmul follows an
 * rmsnorm of its input (the fused-prologue path of the model).
 * Build and run from the repo root (GPU machine):
 *   make && cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Isrc bench/cuda_gemv.c build/libgenrt.a \
 *     -lcjson -lpcre2-8 -licuuc -lm -pthread -ldl -L/usr/local/cuda/lib64 -lcudart_static -lrt \
 *     -lstdc++ -o build/cuda_gemv && build/cuda_gemv [norm] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/device.h"
#include "error.h"

enum { LAUNCHES = 64, MAX_COPIES = 64 };

static int bench(grt_device *dev, grt_dtype t, int64_t N, int64_t K, bool norm) {
    size_t row = grt_row_bytes(t, K), bytes = row * (size_t)N;
    int copies = (int)((((size_t)512 << 20) + bytes - 1) / bytes);
    if (copies > MAX_COPIES) copies = MAX_COPIES;
    grt_buffer *w[MAX_COPIES] = {0}, *act = NULL;
    int rc = 1;
    for (int i = 0; i < copies; i++) {
        if (grt_dev_buffer_new(dev, bytes, GRT_BUF_DEVICE, &w[i])) goto done;
        /* f16 scales of 0.0078 and small quants: finite values, speed does not depend on them */
        grt_dev_fill(dev, w[i], 0, bytes / 4 * 4, 0x20112011u);
        int64_t ne[2] = {N, K};
        grt_tensor wt = grt_tensor_view(w[i], 0, t, 2, ne);
        if (grt_dev_prepare_weight(dev, &wt)) goto done;
    }
    size_t xo = 0, xno = (size_t)K * 4, nwo = 2 * xno, oo = 3 * xno;
    if (grt_dev_buffer_new(dev, oo + (size_t)N * 4, GRT_BUF_DEVICE, &act)) goto done;
    grt_dev_fill(dev, act, 0, oo, 0x3f800000u); /* ones */
    if (grt_dev_sync(dev)) goto done;
    int64_t ex[2] = {1, K}, en[1] = {K}, eo[2] = {1, N}, ew[2] = {N, K};
    grt_tensor x = grt_tensor_view(act, xo, GRT_F32, 2, ex), xn = grt_tensor_view(act, xno, GRT_F32, 2, ex);
    grt_tensor nw = grt_tensor_view(act, nwo, GRT_F32, 1, en), out = grt_tensor_view(act, oo, GRT_F32, 2, eo);
    grt_graph *g = NULL;
    if (grt_dev_capture_begin(dev)) goto done;
    for (int l = 0; l < LAUNCHES; l++) {
        grt_tensor wt = grt_tensor_view(w[l % copies], 0, t, 2, ew);
        if (norm) grt_dev_rmsnorm(dev, &xn, &x, &nw, 1, K, 1e-5f);
        grt_dev_matmul(dev, &out, norm ? &xn : &x, &wt, NULL, 1, false);
    }
    if (grt_dev_capture_end(dev, &g)) goto done;
    grt_fence *f0 = NULL, *f1 = NULL;
    if (grt_dev_fence_new(dev, &f0) || grt_dev_fence_new(dev, &f1)) goto done;
    grt_dev_graph_launch(dev, g);
    enum { REPS = 8 };
    grt_dev_fence_record(dev, f0);
    for (int r = 0; r < REPS; r++) grt_dev_graph_launch(dev, g);
    grt_dev_fence_record(dev, f1);
    double ms = 0;
    if (grt_dev_fence_wait(dev, f1) == GRT_OK && grt_dev_fence_elapsed_ms(dev, f0, f1, &ms)) {
        double us = ms * 1e3 / (REPS * LAUNCHES);
        printf("%-5s %s N %6lld K %5lld  %7.2f MB  %7.2f us  %6.0f GB/s\n", grt_dtype_name(t), norm ? "norm" : "    ",
               (long long)N, (long long)K, (double)bytes / 1e6, us, (double)bytes / us / 1e3);
        rc = 0;
    }
    grt_dev_fence_free(dev, f0);
    grt_dev_fence_free(dev, f1);
    grt_dev_graph_free(dev, g);
done:
    if (rc) printf("%s N %lld K %lld: %s\n", grt_dtype_name(t), (long long)N, (long long)K, grt_last_error());
    for (int i = 0; i < copies; i++) grt_dev_buffer_free(w[i]);
    grt_dev_buffer_free(act);
    return rc;
}

int main(int argc, char **argv) {
    bool norm = argc > 1 && strcmp(argv[1], "norm") == 0;
    grt_device *dev = NULL;
    if (grt_device_open("cuda", NULL, &dev)) {
        printf("cuda: %s\n", grt_last_error());
        return 1;
    }
    const grt_dtype types[] = {GRT_Q4_0, GRT_Q8_0, GRT_BF16};
    const int64_t shapes[][2] = {{512, 2048}, {2048, 2048}, {8192, 2048}, {2048, 8192}, {128256, 2048}};
    int bad = 0;
    for (size_t ti = 0; ti < 3; ti++)
        for (size_t s = 0; s < 5; s++) bad += bench(dev, types[ti], shapes[s][0], shapes[s][1], norm);
    grt_device_close(dev);
    return bad != 0;
}
