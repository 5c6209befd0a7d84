/* Status plus a per-thread message, the way SQLite and zstd report errors. */
#ifndef GRT_ERROR_H
#define GRT_ERROR_H

#include "genrt.h"

/* Record a failure: sets this thread's message (printf-style) and returns s,
 * so call sites read `return grt_fail(GRT_ERR_FORMAT, "%s: ...", path);`. */
grt_status grt_fail(grt_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefix the current message with "context: " and return s unchanged. */
grt_status grt_fail_ctx(grt_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void grt_clear_error(void);

/* Broken internal invariant (not bad input): stays on in release builds. */
#define GRT_ASSERT(c)                                                        \
    do {                                                                     \
        if (!(c)) grt_panic(__FILE__, __LINE__, #c);                         \
    } while (0)
_Noreturn void grt_panic(const char *file, int line, const char *what);

/* Checked allocation helpers: return NULL and set GRT_ERR_NO_MEMORY. */
void *grt_malloc(size_t n);
void *grt_calloc(size_t count, size_t size);

#endif
