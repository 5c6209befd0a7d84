/* The WebGPU backend: the library and adapter, buffers, the queue (one open
 * compute pass that every op encodes into, submitted at fences, reads,
 * writes and syncs), fences backed by mappable snapshots of the host-visible
 * buffers, and capture (a recorded dispatch list replayed into the open pass
 * with no per-step object creation). Kernels: webgpu_ops.c. */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "device/webgpu/webgpu_internal.h"
#include "error.h"
#include "trace.h"

wgpu_api W;

/* ---------------------------------------------------------------- library */

static pthread_once_t g_lib_once = PTHREAD_ONCE_INIT;
static bool g_lib_ok;
static char g_lib_why[768];
static char g_root[PATH_MAX]; /* repository root holding .deps/, or "" */

static bool file_exists(const char *p) { return access(p, R_OK) == 0; }

/* The first of dir, its parent, ... (4 levels) that has .deps/webgpu. */
static bool find_root_from(const char *start, char *out, size_t cap) {
    char d[PATH_MAX];
    snprintf(d, sizeof d, "%s", start);
    for (int up = 0; up < 5; up++) {
        char p[PATH_MAX + 64];
        snprintf(p, sizeof p, "%s/.deps/webgpu/libwebgpu_wrapper.so", d);
        if (file_exists(p)) {
            snprintf(out, cap, "%s", d);
            return true;
        }
        char *slash = strrchr(d, '/');
        if (!slash || slash == d) break;
        *slash = 0;
    }
    return false;
}

static void find_root(void) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        if (find_root_from(exe, g_root, sizeof g_root)) return;
    }
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) && find_root_from(cwd, g_root, sizeof g_root)) return;
    g_root[0] = 0;
}

/* Vulkan for Dawn: the loader and, on machines without a GPU driver, the
 * project's lavapipe. Preloading by absolute path makes Dawn's
 * dlopen("libvulkan.so.1") and lavapipe's libdrm.so.2 resolve to them. */
static void setup_vulkan(void) {
    const char *lib = "mesa/usr/lib/x86_64-linux-gnu";
    char p[PATH_MAX + 128];
    void *h = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_GLOBAL);
    if (!h && g_root[0]) {
        snprintf(p, sizeof p, "%s/.deps/lavapipe/%s/libvulkan.so.1", g_root, lib);
        if (file_exists(p)) dlopen(p, RTLD_NOW | RTLD_GLOBAL);
    }
    const char *off = getenv("GENRT_WEBGPU_LAVAPIPE");
    if (off && strcmp(off, "0") == 0) return;
    if (getenv("VK_ICD_FILENAMES") || getenv("VK_DRIVER_FILES")) return;
    if (file_exists("/proc/driver/nvidia/version") || !g_root[0]) return;
    char icd[PATH_MAX + 64];
    snprintf(icd, sizeof icd, "%s/.deps/lavapipe/lvp_icd.json", g_root);
    if (!file_exists(icd)) return;
    snprintf(p, sizeof p, "%s/.deps/lavapipe/%s/libdrm.so.2", g_root, lib);
    if (file_exists(p)) dlopen(p, RTLD_NOW | RTLD_GLOBAL);
    setenv("VK_ICD_FILENAMES", icd, 0);
    setenv("VK_DRIVER_FILES", icd, 0);
}

static bool load_from(const char *path) {
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(g_lib_why, sizeof g_lib_why, "cannot load %s: %s", path, dlerror());
        return false;
    }
    wgpu_api api;
#define GRT_WGPU_LOAD(ret, name, args)                                                      \
    {                                                                                       \
        void *s = dlsym(h, "wgpu" #name);                                                   \
        if (!s) {                                                                           \
            snprintf(g_lib_why, sizeof g_lib_why,                                           \
                     "%s lacks wgpu" #name ": not a webgpu.h implementation with this ABI", \
                     path);                                                                 \
            dlclose(h);                                                                     \
            return false;                                                                   \
        }                                                                                   \
        memcpy(&api.name, &s, sizeof s);                                                    \
    }
    GRT_WGPU_FUNCS(GRT_WGPU_LOAD)
#undef GRT_WGPU_LOAD
    W = api;
    return true;
}

static void load_library(void) {
    find_root();
    const char *env = getenv("GENRT_WEBGPU_LIB");
    if (env && *env) {
        g_lib_ok = load_from(env);
        if (!g_lib_ok) {
            char tmp[768];
            snprintf(tmp, sizeof tmp, "GENRT_WEBGPU_LIB: %s", g_lib_why);
            snprintf(g_lib_why, sizeof g_lib_why, "%s", tmp);
        }
    } else {
        char p[PATH_MAX + 64];
        if (g_root[0]) {
            snprintf(p, sizeof p, "%s/.deps/webgpu/libwebgpu_wrapper.so", g_root);
            g_lib_ok = load_from(p);
        }
        if (!g_lib_ok) g_lib_ok = load_from("libwebgpu_wrapper.so");
        if (!g_lib_ok)
            snprintf(g_lib_why, sizeof g_lib_why,
                     "no WebGPU library: run scripts/setup_webgpu.sh (fetches Dawn into "
                     ".deps/webgpu) or set GENRT_WEBGPU_LIB");
    }
    if (g_lib_ok) setup_vulkan();
}

/* ---------------------------------------------------------------- waiting */

static WGPUStringView sv(const char *s) { return (WGPUStringView){s, s ? strlen(s) : 0}; }

void wg_svcpy(char *dst, size_t cap, WGPUStringView v) {
    size_t n = 0;
    if (v.data) n = v.length == WGPU_STRLEN ? strlen(v.data) : v.length;
    if (n >= cap) n = cap - 1;
    if (n) memcpy(dst, v.data, n);
    dst[n] = 0;
}

/* Wait for a future (callbacks in AllowProcessEvents mode), in slices so a
 * lost device ends the wait. lost may be NULL. */
static bool wait_future(WGPUInstance inst, WGPUFuture f, volatile int *done, volatile bool *lost) {
    for (int i = 0; i < 600 && !*done; i++) { /* at most ~60 s */
        WGPUFutureWaitInfo wi = {f, 0};
        WGPUWaitStatus st = W.InstanceWaitAny(inst, 1, &wi, 100 * 1000 * 1000ull);
        if (st == WGPUWaitStatus_Error) {
            /* no timed waits: poll */
            W.InstanceProcessEvents(inst);
            if (!*done) {
                struct timespec ts = {0, 50 * 1000};
                nanosleep(&ts, NULL);
            }
        }
        if (lost && *lost && !*done) return false;
    }
    return *done;
}

/* ---------------------------------------------------------------- adapter */

typedef struct adapter_req {
    volatile int done;
    WGPURequestAdapterStatus status;
    WGPUAdapter adapter;
    char msg[256];
} adapter_req;

static void on_adapter(WGPURequestAdapterStatus st, WGPUAdapter a, WGPUStringView m, void *u1, void *u2) {
    (void)u2;
    adapter_req *r = u1;
    r->status = st;
    r->adapter = a;
    wg_svcpy(r->msg, sizeof r->msg, m);
    r->done = 1;
}

static const char *backend_name(WGPUBackendType b) {
    static const char *n[] = {"undefined", "null", "webgpu", "d3d11", "d3d12", "metal", "vulkan", "opengl", "opengles"};
    return b < 9 ? n[b] : "?";
}

/* An instance and a real adapter (not Dawn's Null one), or the reason. */
static bool get_adapter(WGPUInstance *inst_out, WGPUAdapter *ad_out, WGPUAdapterInfo *info_out,
                        char *why, size_t cap) {
    *inst_out = NULL;
    *ad_out = NULL;
    pthread_once(&g_lib_once, load_library);
    if (!g_lib_ok) {
        snprintf(why, cap, "%s", g_lib_why);
        return false;
    }
    WGPUInstanceCapabilities caps = {0};
    W.GetInstanceCapabilities(&caps);
    WGPUInstanceDescriptor idesc = {0};
    idesc.capabilities.timedWaitAnyEnable = caps.timedWaitAnyEnable;
    idesc.capabilities.timedWaitAnyMaxCount = caps.timedWaitAnyMaxCount ? caps.timedWaitAnyMaxCount : 1;
    WGPUInstance inst = W.CreateInstance(&idesc);
    if (!inst) inst = W.CreateInstance(NULL);
    if (!inst) {
        snprintf(why, cap, "wgpuCreateInstance failed");
        return false;
    }
    WGPURequestAdapterOptions o = {0};
    o.featureLevel = WGPUFeatureLevel_Core;
    o.powerPreference = WGPUPowerPreference_HighPerformance;
    o.backendType = WGPUBackendType_Undefined;
    const char *be = getenv("GENRT_WEBGPU_BACKEND");
    if (be && strcmp(be, "vulkan") == 0) o.backendType = WGPUBackendType_Vulkan;
    adapter_req r = {0};
    WGPURequestAdapterCallbackInfo ci = {NULL, WGPUCallbackMode_AllowProcessEvents, on_adapter, &r, NULL};
    WGPUFuture f = W.InstanceRequestAdapter(inst, &o, ci);
    if (!wait_future(inst, f, &r.done, NULL) || r.status != WGPURequestAdapterStatus_Success || !r.adapter) {
        snprintf(why, cap, "no WebGPU adapter%s%s (no Vulkan driver? scripts/setup_webgpu.sh installs lavapipe)",
                 r.msg[0] ? ": " : "", r.msg);
        W.InstanceRelease(inst);
        return false;
    }
    WGPUAdapterInfo info = {0};
    W.AdapterGetInfo(r.adapter, &info);
    if (info.backendType == WGPUBackendType_Null) {
        snprintf(why, cap, "only Dawn's Null adapter, which runs nothing (no working Vulkan driver; "
                           "scripts/setup_webgpu.sh installs lavapipe)");
        W.AdapterInfoFreeMembers(info);
        W.AdapterRelease(r.adapter);
        W.InstanceRelease(inst);
        return false;
    }
    *inst_out = inst;
    *ad_out = r.adapter;
    *info_out = info;
    return true;
}

static pthread_mutex_t g_avail_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_avail = -1;
static char g_avail_why[768];

bool grt_webgpu_available(const char **why) {
    pthread_mutex_lock(&g_avail_mu);
    if (g_avail < 0) {
        WGPUInstance inst;
        WGPUAdapter ad;
        WGPUAdapterInfo info;
        g_avail = get_adapter(&inst, &ad, &info, g_avail_why, sizeof g_avail_why);
        if (g_avail) {
            W.AdapterInfoFreeMembers(info);
            W.AdapterRelease(ad);
            W.InstanceRelease(inst);
        }
    }
    bool ok = g_avail == 1;
    pthread_mutex_unlock(&g_avail_mu);
    if (why) *why = ok ? NULL : g_avail_why;
    return ok;
}

/* ---------------------------------------------------------------- errors */

static void on_uncaptured(WGPUDevice const *d, WGPUErrorType t, WGPUStringView m, void *u1, void *u2) {
    (void)d;
    (void)u2;
    grt_device *dev = u1;
    char msg[400];
    wg_svcpy(msg, sizeof msg, m);
    char *nl = strchr(msg, '\n');
    if (nl) *nl = 0;
    grt_dev_set_error(dev, t == WGPUErrorType_OutOfMemory ? GRT_ERR_NO_MEMORY : GRT_ERR_DEVICE,
                      "webgpu: %s", msg);
}

static void on_lost(WGPUDevice const *d, WGPUDeviceLostReason reason, WGPUStringView m, void *u1, void *u2) {
    (void)d;
    (void)u2;
    grt_device *dev = u1;
    wg_ctx *x = wg_ctx_of(dev);
    if (!x || x->closing) return;
    if (reason == WGPUDeviceLostReason_CallbackCancelled) return;
    if (reason == WGPUDeviceLostReason_Destroyed && !x->lose_on_destroy) return;
    char msg[300];
    wg_svcpy(msg, sizeof msg, m);
    x->lost = true;
    grt_dev_set_error(dev, GRT_ERR_DEVICE, "webgpu: device lost (reason %u): %s", reason, msg);
}

typedef struct device_req {
    volatile int done;
    WGPURequestDeviceStatus status;
    WGPUDevice device;
    char msg[256];
} device_req;

static void on_device(WGPURequestDeviceStatus st, WGPUDevice d, WGPUStringView m, void *u1, void *u2) {
    (void)u2;
    device_req *r = u1;
    r->status = st;
    r->device = d;
    wg_svcpy(r->msg, sizeof r->msg, m);
    r->done = 1;
}

typedef struct scope_req {
    volatile int done;
    WGPUErrorType type;
    char msg[300];
} scope_req;

static void on_scope(WGPUPopErrorScopeStatus st, WGPUErrorType t, WGPUStringView m, void *u1, void *u2) {
    (void)st;
    (void)u2;
    scope_req *r = u1;
    r->type = t;
    wg_svcpy(r->msg, sizeof r->msg, m);
    r->done = 1;
}

/* ---------------------------------------------------------------- objects */

static uint64_t round_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* A raw buffer; with error scopes, so allocation failures are reported
 * here and not later as a sticky error. */
WGPUBuffer wg_raw_buffer(grt_device *dev, uint64_t size, WGPUBufferUsage usage, bool mapped, const char *what) {
    wg_ctx *x = wg_ctx_of(dev);
    if (size > x->limits.maxBufferSize) {
        x->raw_status = grt_fail(GRT_ERR_NO_MEMORY, "webgpu: %s of %llu bytes exceeds the adapter's maxBufferSize (%llu)", what,
                 (unsigned long long)size, (unsigned long long)x->limits.maxBufferSize);
        return NULL;
    }
    W.DevicePushErrorScope(x->device, WGPUErrorFilter_OutOfMemory);
    W.DevicePushErrorScope(x->device, WGPUErrorFilter_Validation);
    WGPUBufferDescriptor d = {NULL, sv(what), usage, size, mapped};
    WGPUBuffer b = W.DeviceCreateBuffer(x->device, &d);
    scope_req r[2] = {{0}, {0}};
    for (int i = 0; i < 2; i++) {
        WGPUPopErrorScopeCallbackInfo ci = {NULL, WGPUCallbackMode_AllowProcessEvents, on_scope, &r[i], NULL};
        WGPUFuture f = W.DevicePopErrorScope(x->device, ci);
        wait_future(x->instance, f, &r[i].done, &x->lost);
    }
    for (int i = 0; i < 2; i++)
        if (r[i].done && r[i].type != WGPUErrorType_NoError && r[i].type != 0) {
            if (b) W.BufferRelease(b);
            x->raw_status = grt_fail(r[i].type == WGPUErrorType_OutOfMemory ? GRT_ERR_NO_MEMORY : GRT_ERR_DEVICE,
                     "webgpu: %s of %llu bytes: %s", what, (unsigned long long)size, r[i].msg);
            return NULL;
        }
    if (!b) {
        x->raw_status = grt_fail(GRT_ERR_NO_MEMORY, "webgpu: could not create %s of %llu bytes", what, (unsigned long long)size);
        return NULL;
    }
    x->counters.buffers++;
    return b;
}

static grt_status new_buffer(grt_device *dev, size_t size, unsigned flags, const void *host, grt_buffer **out) {
    wg_ctx *x = wg_ctx_of(dev);
    if (x->lost) return grt_fail(GRT_ERR_DEVICE, "webgpu: device lost");
    grt_buffer *b = grt_calloc(1, sizeof *b);
    wg_buf *wb = grt_calloc(1, sizeof *wb);
    if (!b || !wb) {
        free(b);
        free(wb);
        return GRT_ERR_NO_MEMORY;
    }
    uint64_t alloc = round_up(size ? size : 16, 16);
    WGPUBufferUsage use = WGPUBufferUsage_Storage | WGPUBufferUsage_CopySrc | WGPUBufferUsage_CopyDst;
    wb->b = wg_raw_buffer(dev, alloc, use, host != NULL, flags & GRT_BUF_HOST_VISIBLE ? "host-visible buffer" : "buffer");
    if (!wb->b) {
        free(b);
        free(wb);
        return x->raw_status;
    }
    if (host) {
        void *p = W.BufferGetMappedRange(wb->b, 0, alloc);
        if (!p) {
            W.BufferRelease(wb->b);
            free(b);
            free(wb);
            return grt_fail(GRT_ERR_DEVICE, "webgpu: could not map a new buffer of %zu bytes", size);
        }
        memcpy(p, host, size);
        W.BufferUnmap(wb->b);
    }
    wb->id = ++x->next_id;
    wb->alloc = alloc;
    b->dev = dev;
    b->size = size;
    b->flags = flags;
    b->ptr = NULL;
    b->impl = wb;
    b->owned = true;
    if (flags & GRT_BUF_HOST_VISIBLE) {
        if (x->n_hv == WG_MAX_HV) {
            W.BufferRelease(wb->b);
            free(b);
            free(wb);
            return grt_fail(GRT_ERR_UNSUPPORTED, "webgpu: more than %d host-visible buffers", WG_MAX_HV);
        }
        x->hv[x->n_hv++] = b;
    }
    *out = b;
    return GRT_OK;
}

static grt_status wg_buffer_new(grt_device *dev, size_t size, unsigned flags, grt_buffer **out) {
    return new_buffer(dev, size, flags, NULL, out);
}

static grt_status wg_buffer_from_host(grt_device *dev, const void *host, size_t size, grt_buffer **out) {
    static const char zero[16];
    return new_buffer(dev, size, GRT_BUF_DEVICE, host ? host : zero, out);
}

static void wg_buffer_free(grt_buffer *b) {
    if (!b) return;
    grt_device *dev = b->dev;
    wg_ctx *x = wg_ctx_of(dev);
    wg_buf *wb = b->impl;
    wg_flush(dev); /* encoded work may name it */
    wg_bg_purge(x, wb->id);
    for (int i = 0; i < x->n_hv; i++)
        if (x->hv[i] == b) {
            x->hv[i] = x->hv[--x->n_hv];
            x->hv_version++;
            break;
        }
    W.BufferRelease(wb->b);
    free(wb);
    free(b);
}

/* ---------------------------------------------------------------- encoding */

void wg_end_pass(wg_ctx *x) {
    if (!x->pass) return;
    W.ComputePassEncoderEnd(x->pass);
    W.ComputePassEncoderRelease(x->pass);
    x->pass = NULL;
}

void wg_ensure_encoder(wg_ctx *x) {
    if (!x->enc) x->enc = W.DeviceCreateCommandEncoder(x->device, NULL);
}

/* Whether passes and fences record device timestamps now: only for a
 * trace's device spans (grt_trace_on) or on request (GENRT_WEBGPU_TIMESTAMPS=1:
 * tests, kernel timings). Writing and resolving them costs a captured
 * SmolLM2-135M step on the H100 ~2.5% (the resolve and its copy per fence). */
static bool wg_ts_live(const wg_ctx *x) { return x->ts_on && (x->ts_force || grt_trace_on()); }

void wg_ensure_pass(wg_ctx *x) {
    if (x->pass) return;
    wg_ensure_encoder(x);
    if (wg_ts_live(x)) {
        uint32_t q = (uint32_t)(x->ts_window % WG_TS_PAIRS) * 2;
        WGPUPassTimestampWrites tw = {NULL, x->qset, x->ts_pass_in_window ? WGPU_QUERY_SET_INDEX_UNDEFINED : q, q + 1};
        WGPUComputePassDescriptor d = {NULL, sv("genrt"), &tw};
        x->pass = W.CommandEncoderBeginComputePass(x->enc, &d);
        x->ts_pass_in_window = true;
    } else {
        x->pass = W.CommandEncoderBeginComputePass(x->enc, NULL);
    }
    x->pass_pipe = NULL;
}

/* Submit what is encoded: the eager parameter slots go first (a queue write
 * is ordered before the submit that follows it). */
void wg_flush(grt_device *dev) {
    wg_ctx *x = wg_ctx_of(dev);
    wg_end_pass(x);
    if (!x->enc) return;
    WGPUCommandBuffer cb = W.CommandEncoderFinish(x->enc, NULL);
    W.CommandEncoderRelease(x->enc);
    x->enc = NULL;
    if (x->param_used) W.QueueWriteBuffer(x->queue, x->param_buf, 0, x->param_host, (size_t)x->param_used * WG_SLOT);
    x->param_used = 0;
    W.QueueSubmit(x->queue, 1, &cb);
    W.CommandBufferRelease(cb);
    x->counters.submits++;
}

/* ---------------------------------------------------------------- memory ops */

typedef struct map_req {
    volatile int done;
    WGPUMapAsyncStatus status;
} map_req;

static void on_map(WGPUMapAsyncStatus st, WGPUStringView m, void *u1, void *u2) {
    (void)m;
    (void)u2;
    map_req *r = u1;
    r->status = st;
    r->done = 1;
}

/* Blocking read of [off, off + n) of b, 4-byte aligned bounds. */
static grt_status read_words(grt_device *dev, WGPUBuffer src, uint64_t off, void *dst, uint64_t n) {
    wg_ctx *x = wg_ctx_of(dev);
    if (x->lost) return grt_fail(GRT_ERR_DEVICE, "webgpu: device lost");
    if (n > x->rb_size) {
        uint64_t sz = round_up(n, 4096);
        WGPUBuffer nb = wg_raw_buffer(dev, sz, WGPUBufferUsage_MapRead | WGPUBufferUsage_CopyDst, false, "readback buffer");
        if (!nb) return x->raw_status;
        if (x->rb) W.BufferRelease(x->rb);
        x->rb = nb;
        x->rb_size = sz;
    }
    wg_end_pass(x);
    wg_ensure_encoder(x);
    W.CommandEncoderCopyBufferToBuffer(x->enc, src, off, x->rb, 0, n);
    wg_flush(dev);
    map_req r = {0};
    WGPUBufferMapCallbackInfo ci = {NULL, WGPUCallbackMode_AllowProcessEvents, on_map, &r, NULL};
    WGPUFuture f = W.BufferMapAsync(x->rb, WGPUMapMode_Read, 0, (size_t)round_up(n, 4), ci);
    if (!wait_future(x->instance, f, &r.done, &x->lost) || r.status != WGPUMapAsyncStatus_Success) {
        if (!r.done) W.BufferUnmap(x->rb);
        return grt_fail(GRT_ERR_DEVICE, "webgpu: reading back %llu bytes failed%s", (unsigned long long)n,
                        x->lost ? " (device lost)" : "");
    }
    const void *p = W.BufferGetConstMappedRange(x->rb, 0, (size_t)round_up(n, 4));
    if (p) memcpy(dst, p, n);
    W.BufferUnmap(x->rb);
    x->counters.bytes_mapped += n;
    return p ? GRT_OK : grt_fail(GRT_ERR_DEVICE, "webgpu: mapped range unavailable");
}

static grt_status wg_read(grt_device *dev, grt_buffer *src, size_t off, void *dst, size_t n) {
    if (n == 0) return GRT_OK;
    wg_buf *wb = src->impl;
    uint64_t a0 = off & ~(uint64_t)3, a1 = round_up(off + n, 4);
    if (a0 == off && a1 == off + n) return read_words(dev, wb->b, off, dst, n);
    uint8_t *tmp = malloc(a1 - a0);
    if (!tmp) return GRT_ERR_NO_MEMORY;
    grt_status s = read_words(dev, wb->b, a0, tmp, a1 - a0);
    if (s == GRT_OK) memcpy(dst, tmp + (off - a0), n);
    free(tmp);
    return s;
}

static void wg_write(grt_device *dev, grt_buffer *dst, size_t off, const void *src, size_t n) {
    wg_ctx *x = wg_ctx_of(dev);
    if (n == 0) return;
    if (dev->capturing) {
        grt_dev_set_error(dev, GRT_ERR_UNSUPPORTED, "webgpu: host writes cannot be captured");
        return;
    }
    wg_buf *wb = dst->impl;
    wg_flush(dev); /* keep queue order: encoded work runs before the write */
    uint64_t a0 = off & ~(uint64_t)3, a1 = round_up(off + n, 4);
    if (a0 == off && a1 == off + n) {
        W.QueueWriteBuffer(x->queue, wb->b, off, src, n);
        return;
    }
    uint8_t *tmp = malloc(a1 - a0);
    if (!tmp) {
        grt_dev_set_error(dev, GRT_ERR_NO_MEMORY, "webgpu: out of memory staging a write");
        return;
    }
    if (read_words(dev, wb->b, a0, tmp, a1 - a0) != GRT_OK) {
        grt_dev_set_error(dev, GRT_ERR_DEVICE, "webgpu: unaligned write: %s", grt_last_error());
    } else {
        memcpy(tmp + (off - a0), src, n);
        W.QueueWriteBuffer(x->queue, wb->b, a0, tmp, a1 - a0);
    }
    free(tmp);
}

static void record_or_copy(grt_device *dev, WGPUBuffer dst, uint64_t doff, WGPUBuffer src, uint64_t soff, uint64_t n) {
    wg_ctx *x = wg_ctx_of(dev);
    if (dev->capturing) {
        wg_cmd *c = wg_rec_push(dev);
        if (!c) return;
        c->kind = WG_CMD_COPY;
        c->src = src;
        c->dst = dst;
        c->soff = soff;
        c->doff = doff;
        c->n = n;
        return;
    }
    wg_end_pass(x);
    wg_ensure_encoder(x);
    W.CommandEncoderCopyBufferToBuffer(x->enc, src, soff, dst, doff, n);
}

static void wg_copy(grt_device *dev, grt_buffer *dst, size_t dst_off, grt_buffer *src, size_t src_off, size_t n) {
    wg_ctx *x = wg_ctx_of(dev);
    if (n == 0) return;
    if ((dst_off | src_off | n) & 3) {
        if (dst->impl != src->impl) {
            wg_copy_bytes(dev, dst, dst_off, src, src_off, n);
            return;
        }
        grt_dev_set_error(dev, GRT_ERR_UNSUPPORTED,
                          "webgpu: copy of %zu bytes from offset %zu to %zu within one buffer: offsets and size "
                          "must be multiples of 4", n, src_off, dst_off);
        return;
    }
    wg_buf *d = dst->impl, *s = src->impl;
    if (d != s) {
        record_or_copy(dev, d->b, dst_off, s->b, src_off, n);
        return;
    }
    /* Within one buffer (not a WebGPU copy): through the scratch buffer. */
    if (n > x->tmp_size) {
        if (dev->capturing) wg_flush(dev);
        uint64_t sz = round_up(n, 4096);
        WGPUBuffer nb = wg_raw_buffer(dev, sz, WGPUBufferUsage_CopySrc | WGPUBufferUsage_CopyDst, false, "copy scratch");
        if (!nb) {
            grt_dev_set_error(dev, GRT_ERR_NO_MEMORY, "%s", grt_last_error());
            return;
        }
        if (x->tmp) {
            wg_flush(dev);
            W.BufferRelease(x->tmp);
        }
        x->tmp = nb;
        x->tmp_size = sz;
    }
    record_or_copy(dev, x->tmp, 0, s->b, src_off, n);
    record_or_copy(dev, d->b, dst_off, x->tmp, 0, n);
}

/* ---------------------------------------------------------------- fences */

struct grt_fence {
    grt_device *dev;
    WGPUBuffer staging;      /* MapRead snapshot of the host-visible buffers */
    uint64_t staging_size;
    struct {
        grt_buffer *buf;
        uint64_t at, n;
    } snap[WG_MAX_HV];
    int n_snap;
    bool mapped;             /* staging is mapped (snapshot readable) */
    volatile int done;
    WGPUMapAsyncStatus map_status;
    WGPUFuture fut;
    uint64_t serial;         /* 0: never recorded */
    bool has_future;
    grt_fence *next_orphan;  /* freed while its callback was pending (lost device) */
    bool has_ts;             /* staging holds (begin, end) ns of its window's passes at ts_at */
    uint64_t ts_at;
};

static void on_fence_map(WGPUMapAsyncStatus st, WGPUStringView m, void *u1, void *u2) {
    (void)m;
    (void)u2;
    grt_fence *f = u1;
    f->map_status = st;
    f->mapped = st == WGPUMapAsyncStatus_Success;
    f->done = 1;
}

static void on_fence_work(WGPUQueueWorkDoneStatus st, WGPUStringView m, void *u1, void *u2) {
    (void)m;
    (void)u2;
    grt_fence *f = u1;
    f->map_status = st == WGPUQueueWorkDoneStatus_Success ? WGPUMapAsyncStatus_Success : 3;
    f->done = 1;
}

static uint64_t hv_bytes(wg_ctx *x) {
    uint64_t t = 0;
    for (int i = 0; i < x->n_hv; i++) t += round_up(x->hv[i]->size, 4);
    return x->ts_on ? round_up(t, 8) + 16 : t;
}

static grt_status fence_staging(grt_device *dev, grt_fence *f) {
    wg_ctx *x = wg_ctx_of(dev);
    uint64_t need = hv_bytes(x);
    if (need == 0 || f->staging_size >= need) return GRT_OK;
    uint64_t sz = round_up(need, 256);
    WGPUBuffer nb = wg_raw_buffer(dev, sz, WGPUBufferUsage_MapRead | WGPUBufferUsage_CopyDst, false, "fence snapshot");
    if (!nb) return x->raw_status;
    if (f->staging) {
        if (f->mapped) W.BufferUnmap(f->staging);
        W.BufferRelease(f->staging);
    }
    f->staging = nb;
    f->staging_size = sz;
    f->mapped = false;
    return GRT_OK;
}

static grt_status wg_fence_new(grt_device *dev, grt_fence **out) {
    grt_fence *f = grt_calloc(1, sizeof *f);
    if (!f) return GRT_ERR_NO_MEMORY;
    f->dev = dev;
    grt_status s = fence_staging(dev, f);
    if (s) {
        free(f);
        return s;
    }
    *out = f;
    return GRT_OK;
}

static void fence_settle(grt_fence *f) {
    wg_ctx *x = wg_ctx_of(f->dev);
    if (f->serial && !f->done && !x->lost) wait_future(x->instance, f->fut, &f->done, &x->lost);
}

static void wg_fence_free(grt_fence *f) {
    if (!f) return;
    fence_settle(f); /* its callback names it */
    wg_ctx *x = wg_ctx_of(f->dev);
    for (int k = 0; k < WG_FENCE_TRACK; k++)
        if (x->fences_live[k] == f) x->fences_live[k] = NULL;
    if (f->staging) {
        if (f->mapped) W.BufferUnmap(f->staging);
        W.BufferRelease(f->staging);
        f->staging = NULL;
    }
    if (f->serial && !f->done) {
        /* A lost device left its map callback pending: the callback still
         * names f, so f lives until the device closes. */
        f->next_orphan = x->orphans;
        x->orphans = f;
        return;
    }
    free(f);
}

/* Submit the queue; snapshot the host-visible buffers into the fence's
 * mappable staging and map it: the map completes when the work before it
 * has, which is what the fence reports. */
static void wg_fence_record(grt_device *dev, grt_fence *f) {
    wg_ctx *x = wg_ctx_of(dev);
    fence_settle(f);
    if (f->mapped) {
        W.BufferUnmap(f->staging);
        f->mapped = false;
    }
    if (fence_staging(dev, f) != GRT_OK) {
        grt_dev_set_error(dev, GRT_ERR_NO_MEMORY, "%s", grt_last_error());
        return;
    }
    f->n_snap = 0;
    wg_end_pass(x);
    uint64_t at = 0;
    for (int i = 0; i < x->n_hv && f->staging; i++) {
        grt_buffer *b = x->hv[i];
        uint64_t n = round_up(b->size, 4);
        if (!n) continue;
        wg_ensure_encoder(x);
        W.CommandEncoderCopyBufferToBuffer(x->enc, ((wg_buf *)b->impl)->b, 0, f->staging, at, n);
        f->snap[f->n_snap].buf = b;
        f->snap[f->n_snap].at = at;
        f->snap[f->n_snap].n = n;
        f->n_snap++;
        at += n;
    }
    f->has_ts = false;
    if (!wg_ts_live(x)) x->ts_pass_in_window = false;
    if (x->ts_pass_in_window && f->staging) {
        uint32_t q = (uint32_t)(x->ts_window % WG_TS_PAIRS) * 2;
        wg_ensure_encoder(x);
        /* resolve offsets are multiples of 256 */
        W.CommandEncoderResolveQuerySet(x->enc, x->qset, q, 2, x->q_resolve, (uint64_t)q * 128);
        f->ts_at = round_up(at, 8);
        W.CommandEncoderCopyBufferToBuffer(x->enc, x->q_resolve, (uint64_t)q * 128, f->staging, f->ts_at, 16);
        at = f->ts_at + 16;
        f->has_ts = true;
        x->ts_window++;
        x->ts_pass_in_window = false;
    }
    wg_flush(dev);
    f->done = 0;
    f->serial = ++x->fence_serial;
    if (f->n_snap || f->has_ts) {
        WGPUBufferMapCallbackInfo ci = {NULL, WGPUCallbackMode_AllowProcessEvents, on_fence_map, f, NULL};
        f->fut = W.BufferMapAsync(f->staging, WGPUMapMode_Read, 0, (size_t)f->staging_size, ci);
    } else {
        WGPUQueueWorkDoneCallbackInfo ci = {NULL, WGPUCallbackMode_AllowProcessEvents, on_fence_work, f, NULL};
        f->fut = W.QueueOnSubmittedWorkDone(x->queue, ci);
    }
    x->fences_live[f->serial % WG_FENCE_TRACK] = f;
}

static bool wg_fence_done(grt_device *dev, grt_fence *f) {
    wg_ctx *x = wg_ctx_of(dev);
    if (!f->serial) return true;
    if (!f->done) W.InstanceProcessEvents(x->instance);
    return f->done || x->lost;
}

static grt_status wg_fence_wait(grt_device *dev, grt_fence *f) {
    wg_ctx *x = wg_ctx_of(dev);
    if (!f->serial || f->done) return GRT_OK;
    if (!wait_future(x->instance, f->fut, &f->done, &x->lost)) {
        if (x->lost) return grt_dev_status(dev);
        return grt_fail(GRT_ERR_DEVICE, "webgpu: fence wait timed out");
    }
    if (f->map_status != WGPUMapAsyncStatus_Success)
        return grt_fail(GRT_ERR_DEVICE, "webgpu: waiting on the queue failed (status %u)", f->map_status);
    return GRT_OK;
}

/* Bytes of hv from the newest completed snapshot holding it. */
static grt_status wg_read_completed(grt_device *dev, grt_buffer *hv, size_t off, void *dst, size_t n) {
    wg_ctx *x = wg_ctx_of(dev);
    if (x->lost) return grt_dev_status(dev);
    grt_fence *best = NULL;
    int bi = -1;
    for (int k = 0; k < WG_FENCE_TRACK; k++) {
        grt_fence *f = x->fences_live[k];
        if (!f || !f->done || !f->mapped || (best && f->serial < best->serial)) continue;
        for (int i = 0; i < f->n_snap; i++)
            if (f->snap[i].buf == hv) {
                best = f;
                bi = i;
            }
    }
    if (!best) {
        W.InstanceProcessEvents(x->instance);
        return grt_fail(GRT_ERR_INTERNAL, "webgpu: read_completed: no completed fence covers this buffer");
    }
    const uint8_t *p = W.BufferGetConstMappedRange(best->staging, 0, (size_t)best->staging_size);
    if (!p) return grt_fail(GRT_ERR_DEVICE, "webgpu: snapshot not mapped");
    memcpy(dst, p + best->snap[bi].at + off, n);
    x->counters.bytes_mapped += n;
    return GRT_OK;
}

/* (begin, end) in ns of the passes in f's window, once f has completed. */
static bool fence_ts(grt_fence *f, uint64_t t[2]) {
    if (!f->serial || !f->done || !f->mapped || !f->has_ts) return false;
    const uint8_t *p = W.BufferGetConstMappedRange(f->staging, 0, (size_t)f->staging_size);
    if (!p) return false;
    memcpy(t, p + f->ts_at, 16);
    return t[1] >= t[0] && t[0] != 0;
}

/* b right after a: the span of b's passes (first begin to last end);
 * otherwise from a's last end to b's, idle gaps included. */
static bool wg_fence_elapsed_ms(grt_device *dev, grt_fence *a, grt_fence *b, double *ms) {
    (void)dev;
    uint64_t tb[2], ta[2];
    if (!fence_ts(b, tb)) return false;
    if (a && a->serial + 1 == b->serial) {
        *ms = (double)(tb[1] - tb[0]) / 1e6;
        return true;
    }
    if (!a || !fence_ts(a, ta) || tb[1] < ta[1]) return false;
    *ms = (double)(tb[1] - ta[1]) / 1e6;
    return true;
}

typedef struct work_req {
    volatile int done;
    WGPUQueueWorkDoneStatus st;
} work_req;

static void on_work(WGPUQueueWorkDoneStatus st, WGPUStringView m, void *u1, void *u2) {
    (void)m;
    (void)u2;
    work_req *r = u1;
    r->st = st;
    r->done = 1;
}

static grt_status wg_sync(grt_device *dev) {
    wg_ctx *x = wg_ctx_of(dev);
    if (x->lost) return grt_dev_status(dev);
    wg_flush(dev);
    work_req r = {0};
    WGPUQueueWorkDoneCallbackInfo ci = {NULL, WGPUCallbackMode_AllowProcessEvents, on_work, &r, NULL};
    WGPUFuture f = W.QueueOnSubmittedWorkDone(x->queue, ci);
    if (!wait_future(x->instance, f, &r.done, &x->lost)) {
        if (x->lost) return grt_dev_status(dev);
        return grt_fail(GRT_ERR_DEVICE, "webgpu: queue did not drain");
    }
    return GRT_OK;
}

/* ---------------------------------------------------------------- capture */

struct grt_graph {
    grt_device *dev;
    wg_cmd *cmds;
    size_t n;
    WGPUBuffer params;
    uint64_t params_id;
};

wg_cmd *wg_rec_push(grt_device *dev) {
    wg_ctx *x = wg_ctx_of(dev);
    if (x->n_rec == x->cap_rec) {
        size_t cap = x->cap_rec ? x->cap_rec * 2 : 256;
        wg_cmd *r = realloc(x->rec, cap * sizeof *r);
        if (!r) {
            grt_dev_set_error(dev, GRT_ERR_NO_MEMORY, "webgpu: out of memory recording a step");
            return NULL;
        }
        x->rec = r;
        x->cap_rec = cap;
    }
    wg_cmd *c = &x->rec[x->n_rec++];
    memset(c, 0, sizeof *c);
    return c;
}

static grt_status wg_capture_begin(grt_device *dev) {
    wg_ctx *x = wg_ctx_of(dev);
    if (getenv("GENRT_WEBGPU_NO_CAPTURE")) return grt_fail(GRT_ERR_UNSUPPORTED, "webgpu: capture disabled");
    x->n_rec = 0;
    return GRT_OK;
}

static void wg_graph_free(grt_graph *g) {
    if (!g) return;
    wg_ctx *x = wg_ctx_of(g->dev);
    wg_flush(g->dev);
    if (g->params) {
        wg_bg_purge(x, g->params_id);
        W.BufferRelease(g->params);
    }
    free(g->cmds);
    free(g);
}

/* The recorded dispatches get their parameters in a buffer of the graph's
 * own, written once, and their bind groups now: replay creates nothing. */
static grt_status wg_capture_end(grt_device *dev, grt_graph **out) {
    wg_ctx *x = wg_ctx_of(dev);
    grt_graph *g = grt_calloc(1, sizeof *g);
    if (!g) return GRT_ERR_NO_MEMORY;
    g->dev = dev;
    g->cmds = x->rec;
    g->n = x->n_rec;
    x->rec = NULL;
    x->n_rec = x->cap_rec = 0;
    if (dev->error != GRT_OK) {
        wg_graph_free(g);
        return grt_dev_status(dev);
    }
    size_t n_recorded = g->n;
    g->n = wg_merge_mv(dev, g->cmds, g->n);
    if (getenv("GENRT_WEBGPU_DUMP_GRAPH")) {
        /* the captured step's dispatch list, after the merges */
        fprintf(stderr, "webgpu graph: %zu commands recorded, %zu after merging\n", n_recorded, g->n);
        for (size_t i = 0; i < g->n; i++) {
            const wg_cmd *c = &g->cmds[i];
            if (c->kind == WG_CMD_COPY)
                fprintf(stderr, "  %3zu copy %llu bytes\n", i, (unsigned long long)c->n);
            else
                fprintf(stderr, "  %3zu %-10s %u x %u workgroups\n", i, wg_pipe_name(x, c->pipe), c->gx, c->gy);
        }
    }
    if (dev->error != GRT_OK) {
        wg_graph_free(g);
        return grt_dev_status(dev);
    }
    size_t nd = 0;
    for (size_t i = 0; i < g->n; i++) nd += g->cmds[i].kind == WG_CMD_DISPATCH;
    if (nd) {
        uint8_t *host = calloc(nd, WG_GRAPH_SLOT);
        g->params = wg_raw_buffer(dev, nd * WG_GRAPH_SLOT, WGPUBufferUsage_Uniform | WGPUBufferUsage_CopyDst, false,
                                  "graph parameters");
        if (!host || !g->params) {
            free(host);
            wg_graph_free(g);
            return host ? x->raw_status : GRT_ERR_NO_MEMORY;
        }
        g->params_id = ++x->next_id;
        size_t k = 0;
        for (size_t i = 0; i < g->n; i++) {
            wg_cmd *c = &g->cmds[i];
            if (c->kind != WG_CMD_DISPATCH) continue;
            memcpy(host + k * WG_GRAPH_SLOT, c->params, sizeof c->params);
            c->dynoff = (uint32_t)(k * WG_GRAPH_SLOT);
            c->bg = wg_bind_group(dev, g->params, g->params_id, WG_CMD_WORDS * 4, c->chain, c->nb, c->b);
            if (!c->bg) {
                free(host);
                wg_graph_free(g);
                return grt_dev_status(dev) ? grt_dev_status(dev) : GRT_ERR_DEVICE;
            }
            k++;
        }
        wg_flush(dev);
        W.QueueWriteBuffer(x->queue, g->params, 0, host, nd * WG_GRAPH_SLOT);
        free(host);
    }
    *out = g;
    return GRT_OK;
}

static void wg_graph_launch(grt_device *dev, grt_graph *g) {
    wg_ctx *x = wg_ctx_of(dev);
    /* diagnosis only (results are wrong): leave out one kernel's dispatches
     * to time what they cost */
    const char *skip = getenv("GENRT_WEBGPU_GRAPH_SKIP");
    for (size_t i = 0; i < g->n; i++) {
        const wg_cmd *c = &g->cmds[i];
        if (skip && c->kind == WG_CMD_DISPATCH && strcmp(skip, wg_pipe_name(x, c->pipe)) == 0) continue;
        if (c->kind == WG_CMD_COPY) {
            wg_end_pass(x);
            wg_ensure_encoder(x);
            W.CommandEncoderCopyBufferToBuffer(x->enc, c->src, c->soff, c->dst, c->doff, c->n);
            continue;
        }
        wg_ensure_pass(x);
        if (x->pass_pipe != c->pipe) {
            W.ComputePassEncoderSetPipeline(x->pass, c->pipe);
            x->pass_pipe = c->pipe;
        }
        W.ComputePassEncoderSetBindGroup(x->pass, 0, c->bg, 1, &c->dynoff);
        W.ComputePassEncoderDispatchWorkgroups(x->pass, c->gx, c->gy, 1);
        x->counters.dispatches++;
    }
}

/* ---------------------------------------------------------------- device */

static void wg_close(grt_device *dev) {
    if (!dev) return;
    wg_ctx *x = wg_ctx_of(dev);
    if (x) {
        if (x->device && !x->lost) wg_sync(dev);
        x->closing = true;
        wg_end_pass(x);
        if (x->enc) W.CommandEncoderRelease(x->enc);
        free(x->rec);
        wg_pipes_free(x);
        wg_bg_purge(x, 0);
        free(x->bg_heads);
        if (x->param_buf) W.BufferRelease(x->param_buf);
        free(x->param_host);
        if (x->dummy) W.BufferRelease(x->dummy);
        if (x->dummy2) W.BufferRelease(x->dummy2);
        if (x->rb) W.BufferRelease(x->rb);
        if (x->tmp) W.BufferRelease(x->tmp);
        if (x->sample_seen.b) W.BufferRelease(x->sample_seen.b);
        if (x->att_part.b) W.BufferRelease(x->att_part.b);
        if (x->att_dec.b) W.BufferRelease(x->att_dec.b);
        if (x->q_resolve) W.BufferRelease(x->q_resolve);
        if (x->qset) {
            W.QuerySetDestroy(x->qset);
            W.QuerySetRelease(x->qset);
        }
        for (int i = 0; i < x->n_retired; i++) W.BufferRelease(x->retired[i]);
        if (x->queue) W.QueueRelease(x->queue);
        if (x->device) {
            W.DeviceDestroy(x->device);
            W.DeviceRelease(x->device);
        }
        if (x->adapter) W.AdapterRelease(x->adapter);
        if (x->instance) {
            W.InstanceProcessEvents(x->instance);
            W.InstanceRelease(x->instance);
        }
        while (x->orphans) {
            grt_fence *o = x->orphans;
            x->orphans = o->next_orphan;
            free(o);
        }
        free(x);
    }
    free(dev);
}

static const grt_device_i wg_device_i = {
    .name = "webgpu",
    .close = wg_close,
    .buffer_new = wg_buffer_new,
    .buffer_from_host = wg_buffer_from_host,
    .buffer_free = wg_buffer_free,
    .write = wg_write,
    .read = wg_read,
    .copy = wg_copy,
    .fill = wg_fill,
    .read_completed = wg_read_completed,
    .sync = wg_sync,
    .fence_new = wg_fence_new,
    .fence_free = wg_fence_free,
    .fence_record = wg_fence_record,
    .fence_done = wg_fence_done,
    .fence_wait = wg_fence_wait,
    .fence_elapsed_ms = wg_fence_elapsed_ms,
    .capture_begin = wg_capture_begin,
    .capture_end = wg_capture_end,
    .graph_launch = wg_graph_launch,
    .graph_free = wg_graph_free,
    .embed = wg_embed,
    .rmsnorm = wg_rmsnorm,
    .matmul = wg_matmul,
    .rope = wg_rope,
    .kv_store = wg_kv_store,
    .attention = wg_attention,
    .glu = wg_glu,
    .advance = wg_advance,
    .sample = wg_sample,
};

grt_status grt_webgpu_device_open(const grt_device_options *opts, grt_device **out) {
    (void)opts;
    *out = NULL;
    grt_status s;
    char why[768];
    grt_device *dev = grt_calloc(1, sizeof *dev);
    wg_ctx *x = grt_calloc(1, sizeof *x);
    if (!dev || !x) {
        free(dev);
        free(x);
        return GRT_ERR_NO_MEMORY;
    }
    dev->i = &wg_device_i;
    dev->ctx = x;
    dev->name = "webgpu";
    dev->n_threads = 1;
    WGPUAdapterInfo info;
    if (!get_adapter(&x->instance, &x->adapter, &info, why, sizeof why)) {
        s = grt_fail(GRT_ERR_NO_DEVICE, "webgpu: %s", why);
        goto fail;
    }
    {
        char name[160];
        wg_svcpy(name, sizeof name, info.device);
        if (!name[0]) wg_svcpy(name, sizeof name, info.description);
        snprintf(x->adapter_name, sizeof x->adapter_name, "%s (%s)", name, backend_name(info.backendType));
        x->subgroup_min = info.subgroupMinSize;
        const char *ch = getenv("GENRT_WEBGPU_CHAINS");
        x->chains_on = ch ? strcmp(ch, "0") != 0 : info.vendorID == 0x10de || strstr(name, "llvmpipe") != NULL;
        W.AdapterInfoFreeMembers(info);
    }
    x->has_f16 = W.AdapterHasFeature(x->adapter, WGPUFeatureName_ShaderF16);
    x->has_subgroups = W.AdapterHasFeature(x->adapter, WGPUFeatureName_Subgroups);
    x->has_timestamps = W.AdapterHasFeature(x->adapter, WGPUFeatureName_TimestampQuery);
    {
        WGPULimits al;
        memset(&al, 0, sizeof al);
        W.AdapterGetLimits(x->adapter, &al);
        WGPULimits req;
        memset(&req, 0xff, sizeof req); /* every limit "undefined" ... */
        req.nextInChain = NULL;
        /* ... but the ones the kernels and large models need, at the adapter's values */
        req.maxStorageBufferBindingSize = al.maxStorageBufferBindingSize;
        req.maxBufferSize = al.maxBufferSize;
        req.maxStorageBuffersPerShaderStage = al.maxStorageBuffersPerShaderStage;
        req.maxComputeWorkgroupStorageSize = al.maxComputeWorkgroupStorageSize;
        req.maxComputeInvocationsPerWorkgroup = al.maxComputeInvocationsPerWorkgroup;
        req.maxComputeWorkgroupSizeX = al.maxComputeWorkgroupSizeX;
        req.maxComputeWorkgroupsPerDimension = al.maxComputeWorkgroupsPerDimension;
        /* The kernels index inside their bindings and initialise the
         * workgroup memory they read, so Dawn's bounds clamping and
         * workgroup zeroing are turned off; validation stays on unless
         * GENRT_WEBGPU_SKIP_VALIDATION=1 (host time per dispatch). */
        const char *toggles[3] = {"disable_robustness", "disable_workgroup_init", "skip_validation"};
        const char *sk = getenv("GENRT_WEBGPU_SKIP_VALIDATION");
        const char *safe = getenv("GENRT_WEBGPU_SAFE");
        WGPUDawnTogglesDescriptor tg;
        memset(&tg, 0, sizeof tg);
        tg.chain.sType = WGPUSType_DawnTogglesDescriptor;
        tg.enabledToggles = toggles;
        tg.enabledToggleCount = (safe && strcmp(safe, "1") == 0) ? 0 : (sk && strcmp(sk, "1") == 0) ? 3 : 2;
        /* device timestamps at full resolution (Dawn quantizes them by default) */
        const char *off[1] = {"timestamp_quantization"};
        tg.disabledToggles = off;
        tg.disabledToggleCount = 1;
        WGPUDeviceDescriptor dd;
        memset(&dd, 0, sizeof dd);
        dd.nextInChain = &tg.chain;
        const char *nots = getenv("GENRT_WEBGPU_NO_TIMESTAMPS");
        x->ts_on = x->has_timestamps && !(nots && strcmp(nots, "1") == 0);
        const char *tson = getenv("GENRT_WEBGPU_TIMESTAMPS");
        x->ts_force = tson && strcmp(tson, "1") == 0;
        WGPUFeatureName feats[3];
        size_t nf = 0;
        if (x->ts_on) feats[nf++] = WGPUFeatureName_TimestampQuery;
        if (x->has_f16) feats[nf++] = WGPUFeatureName_ShaderF16;
        /* subgroups: the reductions butterfly over clusters of the adapter's
         * smallest subgroup size (capped at 32, a power of two), so the sums
         * do not depend on the size a driver picks for one pipeline */
        const char *nosg = getenv("GENRT_WEBGPU_NO_SUBGROUPS");
        x->sg_cluster = 1;
        if (x->has_subgroups && !(nosg && strcmp(nosg, "1") == 0) && x->subgroup_min >= 4) {
            uint32_t c = 4;
            while (c * 2 <= x->subgroup_min && c < 32) c *= 2;
            x->sg_on = true;
            x->sg_cluster = c;
            feats[nf++] = WGPUFeatureName_Subgroups;
        }
        const char *f16 = getenv("GENRT_WEBGPU_F16");
        x->f16_math = x->has_f16 && f16 && strcmp(f16, "1") == 0;
        dd.requiredFeatureCount = nf;
        dd.requiredFeatures = nf ? feats : NULL;
        dd.label = sv("genrt");
        dd.requiredLimits = &req;
        dd.defaultQueue.label = sv("genrt queue");
        dd.deviceLostCallbackInfo =
            (WGPUDeviceLostCallbackInfo){NULL, WGPUCallbackMode_AllowProcessEvents, on_lost, dev, NULL};
        dd.uncapturedErrorCallbackInfo = (WGPUUncapturedErrorCallbackInfo){NULL, on_uncaptured, dev, NULL};
        device_req r = {0};
        WGPURequestDeviceCallbackInfo ci = {NULL, WGPUCallbackMode_AllowProcessEvents, on_device, &r, NULL};
        WGPUFuture f = W.AdapterRequestDevice(x->adapter, &dd, ci);
        if (!wait_future(x->instance, f, &r.done, NULL) || r.status != WGPURequestDeviceStatus_Success) {
            s = grt_fail(GRT_ERR_NO_DEVICE, "webgpu: requesting a device from %s failed: %s", x->adapter_name, r.msg);
            goto fail;
        }
        x->device = r.device;
    }
    x->queue = W.DeviceGetQueue(x->device);
    memset(&x->limits, 0, sizeof x->limits);
    W.DeviceGetLimits(x->device, &x->limits);
    if (x->limits.maxStorageBuffersPerShaderStage < 6) {
        s = grt_fail(GRT_ERR_NO_DEVICE, "webgpu: %s allows %u storage buffers per shader stage; genrt needs 6",
                     x->adapter_name, x->limits.maxStorageBuffersPerShaderStage);
        goto fail;
    }
    if (getenv("GENRT_WEBGPU_DUMP_GRAPH"))
        fprintf(stderr,
                "webgpu: %s: storage buffers per stage %u, storage binding %llu bytes, buffer %llu bytes, "
                "workgroup storage %u bytes, workgroups per dimension %u\n",
                x->adapter_name, x->limits.maxStorageBuffersPerShaderStage,
                (unsigned long long)x->limits.maxStorageBufferBindingSize,
                (unsigned long long)x->limits.maxBufferSize, x->limits.maxComputeWorkgroupStorageSize,
                x->limits.maxComputeWorkgroupsPerDimension);
    x->align = x->limits.minStorageBufferOffsetAlignment ? x->limits.minStorageBufferOffsetAlignment : 256;
    x->max_binding = x->limits.maxStorageBufferBindingSize;
    {
        /* a lower binding limit (tests of the split paths) */
        const char *mb = getenv("GENRT_WEBGPU_MAX_BINDING");
        char *end = NULL;
        unsigned long long v = mb ? strtoull(mb, &end, 10) : 0;
        if (mb && (!*mb || *end || v < 4096)) {
            s = grt_fail(GRT_ERR_INVALID_ARG, "GENRT_WEBGPU_MAX_BINDING=%s: expected a byte count >= 4096", mb);
            goto fail;
        }
        if (v && v < x->max_binding) x->max_binding = v / 16 * 16;
    }
    x->param_host = calloc(WG_PARAM_SLOTS, WG_SLOT);
    if (!x->param_host) {
        s = GRT_ERR_NO_MEMORY;
        goto fail;
    }
    x->param_buf = wg_raw_buffer(dev, (uint64_t)WG_PARAM_SLOTS * WG_SLOT,
                                 WGPUBufferUsage_Uniform | WGPUBufferUsage_CopyDst, false, "parameters");
    x->param_id = ++x->next_id;
    x->dummy = wg_raw_buffer(dev, 256 * WG_DUMMY_WINDOWS, WGPUBufferUsage_Storage, false, "placeholder binding");
    x->dummy_id = ++x->next_id;
    x->dummy2 = wg_raw_buffer(dev, 256, WGPUBufferUsage_Storage, false, "placeholder binding");
    x->dummy2_id = ++x->next_id;
    if (!x->param_buf || !x->dummy || !x->dummy2) {
        s = x->raw_status;
        goto fail;
    }
    if (x->ts_on) {
        WGPUQuerySetDescriptor qd = {NULL, sv("genrt timestamps"), WGPUQueryType_Timestamp, WG_TS_PAIRS * 2};
        x->qset = W.DeviceCreateQuerySet(x->device, &qd);
        x->q_resolve = wg_raw_buffer(dev, WG_TS_PAIRS * 256, WGPUBufferUsage_QueryResolve | WGPUBufferUsage_CopySrc,
                                     false, "timestamp resolve");
        if (!x->qset || !x->q_resolve || dev->error) {
            s = grt_fail(GRT_ERR_NO_DEVICE, "webgpu: %s: timestamp queries could not be set up", x->adapter_name);
            goto fail;
        }
    }
    if ((s = wg_pipes_init(dev)) != GRT_OK) goto fail;
    *out = dev;
    return GRT_OK;
fail:
    wg_close(dev);
    return s;
}

bool grt_webgpu_get_counters(grt_device *dev, grt_webgpu_counters *out) {
    if (!dev || dev->i != &wg_device_i) return false;
    *out = wg_ctx_of(dev)->counters;
    return true;
}

bool grt_webgpu_get_features(grt_device *dev, grt_webgpu_features *out) {
    if (!dev || dev->i != &wg_device_i) return false;
    wg_ctx *x = wg_ctx_of(dev);
    *out = (grt_webgpu_features){x->ts_on, x->has_f16, x->has_subgroups, x->subgroup_min,
                                 x->max_binding, x->f16_math, x->sg_on, x->sg_cluster, x->chains_on,
                                 x->chains_on && x->pl_chain[1] != NULL};
    return true;
}

const char *grt_webgpu_adapter_name(grt_device *dev) {
    if (!dev || dev->i != &wg_device_i) return NULL;
    return wg_ctx_of(dev)->adapter_name;
}

void grt_webgpu_lose_device(grt_device *dev) {
    if (!dev || dev->i != &wg_device_i) return;
    wg_ctx *x = wg_ctx_of(dev);
    x->lose_on_destroy = true;
    W.DeviceDestroy(x->device);
    W.InstanceProcessEvents(x->instance);
}
