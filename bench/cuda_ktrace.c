/* Kernel trace through CUPTI, loaded into any CUDA program as an injection
 * library (no nsys on the GPU machine): every kernel's start and end, in
 * graph replays too, as text lines "start end name" (ns) in $KTRACE_OUT.
 * bench/ktrace_summary.py turns a decode run's trace into per-kernel times.
 *
 *   gcc -shared -fPIC -O2 -DKREC=CUpti_ActivityKernel9 -I$CUPTI/include bench/cuda_ktrace.c \
 *       -L$CUPTI/lib64 -lcupti -o libktrace.so
 *   CUDA_INJECTION64_PATH=$PWD/libktrace.so KTRACE_OUT=trace.txt genrt bench ...
 * KREC: the newest kernel record the installed cupti_activity.h declares. */
#include <cupti.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef KREC
#define KREC CUpti_ActivityKernel9
#endif

static FILE *g_out;

static void CUPTIAPI buf_req(uint8_t **buf, size_t *size, size_t *max_records) {
    *size = 8 << 20;
    *buf = (uint8_t *)aligned_alloc(8, *size);
    *max_records = 0;
}

static void CUPTIAPI buf_done(CUcontext ctx, uint32_t stream, uint8_t *buf, size_t size, size_t valid) {
    (void)ctx;
    (void)stream;
    (void)size;
    CUpti_Activity *r = NULL;
    while (cuptiActivityGetNextRecord(buf, valid, &r) == CUPTI_SUCCESS) {
        if (r->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL && r->kind != CUPTI_ACTIVITY_KIND_KERNEL) continue;
        const KREC *k = (const KREC *)r;
        if (g_out) fprintf(g_out, "%llu %llu %s\n", (unsigned long long)k->start, (unsigned long long)k->end, k->name);
    }
    free(buf);
}

static void flush_all(void) {
    cuptiActivityFlushAll(1);
    if (g_out) fclose(g_out);
    g_out = NULL;
}

int InitializeInjection(void) {
    const char *p = getenv("KTRACE_OUT");
    g_out = fopen(p ? p : "ktrace.txt", "w");
    if (!g_out) return 0;
    if (cuptiActivityRegisterCallbacks(buf_req, buf_done) != CUPTI_SUCCESS ||
        cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) != CUPTI_SUCCESS) {
        fprintf(stderr, "ktrace: CUPTI did not start\n");
        return 0;
    }
    atexit(flush_all);
    return 1;
}
