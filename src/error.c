#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char g_msg[1024];

const char *grt_last_error(void) { return g_msg; }

void grt_clear_error(void) { g_msg[0] = 0; }

grt_status grt_fail(grt_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return s;
}

grt_status grt_fail_ctx(grt_status s, const char *fmt, ...) {
    char prefix[512], old[sizeof g_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, g_msg, sizeof old);
    snprintf(g_msg, sizeof g_msg, "%s: %s", prefix, old);
    return s;
}

const char *grt_status_str(grt_status s) {
    switch (s) {
    case GRT_OK: return "ok";
    case GRT_ERR_INVALID_ARG: return "invalid argument";
    case GRT_ERR_IO: return "i/o error";
    case GRT_ERR_FORMAT: return "bad format";
    case GRT_ERR_UNSUPPORTED: return "unsupported";
    case GRT_ERR_NO_MEMORY: return "out of memory";
    case GRT_ERR_NO_DEVICE: return "no device";
    case GRT_ERR_DEVICE: return "device error";
    case GRT_ERR_RANGE: return "out of range";
    case GRT_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

_Noreturn void grt_panic(const char *file, int line, const char *what) {
    fprintf(stderr, "genrt: internal invariant broken at %s:%d: %s\n", file, line, what);
    abort();
}

void *grt_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) grt_fail(GRT_ERR_NO_MEMORY, "out of host memory allocating %zu bytes", n);
    return p;
}

void *grt_calloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) grt_fail(GRT_ERR_NO_MEMORY, "out of host memory allocating %zu x %zu bytes", count, size);
    return p;
}
