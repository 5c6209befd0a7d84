/* Spans on the host and device timelines, written as Chrome trace JSON. */
#ifndef GRT_TRACE_H
#define GRT_TRACE_H

#include <stdbool.h>

enum { GRT_TRACE_HOST = 1, GRT_TRACE_DEVICE = 2 };

/* Microseconds on a monotonic clock. */
double grt_now_us(void);
bool grt_trace_on(void);
/* A complete span on track tid (GRT_TRACE_HOST / _DEVICE); args is a JSON
 * object text or NULL. No-op when tracing is off. */
void grt_trace_span(const char *name, const char *cat, int tid, double ts_us, double dur_us,
                    const char *args);

#endif
