#include "trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"

typedef struct span {
    char name[48];
    char cat[16];
    char args[96];
    int tid;
    double ts, dur;
} span;

static struct {
    bool on;
    char path[1024];
    span *spans;
    size_t n, cap;
} g_trace;

double grt_now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

bool grt_trace_on(void) { return g_trace.on; }

grt_status grt_trace_start(const char *path) {
    if (!path || !*path) return grt_fail(GRT_ERR_INVALID_ARG, "--trace: empty path");
    FILE *f = fopen(path, "w"); /* fail now, not at the end of a long run */
    if (!f) return grt_fail(GRT_ERR_IO, "%s: cannot open trace file for writing", path);
    fclose(f);
    snprintf(g_trace.path, sizeof g_trace.path, "%s", path);
    g_trace.n = 0;
    g_trace.on = true;
    return GRT_OK;
}

void grt_trace_span(const char *name, const char *cat, int tid, double ts_us, double dur_us,
                    const char *args) {
    if (!g_trace.on) return;
    if (g_trace.n == g_trace.cap) {
        size_t cap = g_trace.cap ? g_trace.cap * 2 : 1024;
        span *s = realloc(g_trace.spans, cap * sizeof *s);
        if (!s) return; /* tracing is best effort */
        g_trace.spans = s;
        g_trace.cap = cap;
    }
    span *s = &g_trace.spans[g_trace.n++];
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->cat, sizeof s->cat, "%s", cat);
    snprintf(s->args, sizeof s->args, "%s", args ? args : "{}");
    s->tid = tid;
    s->ts = ts_us;
    s->dur = dur_us;
}

grt_status grt_trace_stop(void) {
    if (!g_trace.on) return GRT_OK;
    g_trace.on = false;
    FILE *f = fopen(g_trace.path, "w");
    if (!f) return grt_fail(GRT_ERR_IO, "%s: cannot write trace", g_trace.path);
    double t0 = g_trace.n ? g_trace.spans[0].ts : 0;
    for (size_t i = 0; i < g_trace.n; i++)
        if (g_trace.spans[i].ts < t0) t0 = g_trace.spans[i].ts;
    fprintf(f, "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n");
    fprintf(f, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":{\"name\":\"genrt\"}},\n");
    fprintf(f, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"args\":{\"name\":\"host\"}},\n", GRT_TRACE_HOST);
    fprintf(f, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"args\":{\"name\":\"device\"}}", GRT_TRACE_DEVICE);
    for (size_t i = 0; i < g_trace.n; i++) {
        const span *s = &g_trace.spans[i];
        fprintf(f, ",\n{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"X\",\"pid\":1,\"tid\":%d,"
                   "\"ts\":%.3f,\"dur\":%.3f,\"args\":%s}",
                s->name, s->cat, s->tid, s->ts - t0, s->dur, s->args);
    }
    fprintf(f, "\n]}\n");
    bool ok = fclose(f) == 0;
    free(g_trace.spans);
    g_trace.spans = NULL;
    g_trace.n = g_trace.cap = 0;
    return ok ? GRT_OK : grt_fail(GRT_ERR_IO, "%s: error writing trace", g_trace.path);
}
