/* Memory read bandwidth of this machine: every thread sums its share of a
 * buffer far larger than the caches; the best of several passes is reported.
 * The yardstick for genrt's decode GB/s (decode reads each weight once).
 *   cc -O2 -march=native -fopenmp bench/membw.c -o build/membw && build/membw [MiB] */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 1024;
    size_t n = mib * 1024 * 1024 / 8;
    uint64_t *a = aligned_alloc(64, n * 8);
    if (!a) return 1;
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) a[i] = i;
    double best = 0;
    uint64_t sink = 0;
    for (int rep = 0; rep < 8; rep++) {
        double t0 = now();
        uint64_t s = 0;
#pragma omp parallel for reduction(+ : s)
        for (size_t i = 0; i < n; i += 4) s += a[i] ^ a[i + 1] ^ a[i + 2] ^ a[i + 3];
        double dt = now() - t0;
        sink += s;
        double gbs = n * 8 / dt / 1e9;
        if (gbs > best) best = gbs;
    }
    printf("{\"read_gb_per_s\": %.2f, \"threads\": %d, \"mib\": %zu, \"sink\": %llu}\n", best,
           omp_get_max_threads(), mib, (unsigned long long)(sink & 1));
    return 0;
}
