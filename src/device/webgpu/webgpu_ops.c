/* Kernels: pipelines from the embedded WGSL, cached bind groups, and one
 * dispatch per op: encoded into the open pass (eager, parameters in a slot
 * of the per-submit parameter buffer) or recorded for a graph (capture).
 * Tensors are bound as windows of their buffers starting at the storage
 * offset alignment; the kernels get element offsets into the windows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/webgpu/webgpu_internal.h"
#include "error.h"
#include "trace.h"

extern const char grt_wgsl_common[], grt_wgsl_rope_pair[], grt_wgsl_weights[], grt_wgsl_fill[], grt_wgsl_embed[],
    grt_wgsl_rmsnorm[], grt_wgsl_matmul[], grt_wgsl_rope[], grt_wgsl_kv_store[], grt_wgsl_attention[],
    grt_wgsl_glu[], grt_wgsl_advance[], grt_wgsl_sample[], grt_wgsl_mv[], grt_wgsl_mvq[],
    grt_wgsl_attn_part[], grt_wgsl_attn_combine[], grt_wgsl_argmax_part[], grt_wgsl_mv3[], grt_wgsl_mvh[], grt_wgsl_unpack8[], grt_wgsl_copy[],
    grt_wgsl_mvx[], grt_wgsl_mvx_f[], grt_wgsl_mvx_q[], grt_wgsl_rope_kv[], grt_wgsl_attn_dec[], grt_wgsl_params[],
    grt_wgsl_mvx_io[], grt_wgsl_attn_io[], grt_wgsl_attn_o[], grt_wgsl_mvx2[], grt_wgsl_mvx3[], grt_wgsl_mvx_chain[],
    grt_wgsl_mmt[], grt_wgsl_mmt_red[];

enum { SH_FILL, SH_EMBED, SH_RMSNORM, SH_MATMUL, SH_ROPE, SH_KV_STORE, SH_ATTENTION, SH_GLU,
       SH_ADVANCE, SH_SAMPLE, SH_MV, SH_MVQ, SH_ATTN_PART,
       SH_ATTN_COMBINE, SH_ARGMAX_PART, SH_MV3, SH_MVH, SH_COPY, SH_MVX, SH_MVXQ, SH_ROPE_KV,
       SH_ATTN_DEC, SH_ATTN_O, SH_MVX2, SH_MMT, SH_MMT_RED, SH_MVX3 };
enum { WG_MAX_CONSTS = 16 };

typedef struct shader_def {
    const char *name;
    const char *src;
    bool weights;            /* needs weights.wgsl */
    bool f16;                /* needs "enable f16;" (shader-f16) */
    int nb;                  /* storage bindings */
    const char *consts[WG_MAX_CONSTS]; /* override constants, values from the pipeline key */
    const char *prelude;     /* source placed before src (or NULL) */
    const char *post;        /* source placed after src (or NULL) */
    bool chain;              /* declares its own arguments (not params.wgsl) */
} shader_def;

static const shader_def SHADERS[] = {
    [SH_FILL] = {"fill", grt_wgsl_fill, false, false, 1, {NULL, NULL}},
    [SH_EMBED] = {"embed", grt_wgsl_embed, true, false, 3, {"WTYPE", NULL}},
    [SH_RMSNORM] = {"rmsnorm", grt_wgsl_rmsnorm, false, false, 3, {"IN_IS_OUT", NULL}},
    [SH_MATMUL] = {"matmul", grt_wgsl_matmul, true, false, 4, {"WTYPE", "ROWS"}},
    [SH_ROPE] = {"rope", grt_wgsl_rope, false, false, 3, {NULL, NULL}, grt_wgsl_rope_pair},
    [SH_KV_STORE] = {"kv_store", grt_wgsl_kv_store, false, false, 5, {"KV_SHARED", NULL}},
    [SH_ATTENTION] = {"attention", grt_wgsl_attention, false, false, 5, {"KV_SHARED", NULL}},
    [SH_GLU] = {"glu", grt_wgsl_glu, false, false, 3, {"ACT", "ALIAS"}},
    [SH_ADVANCE] = {"advance", grt_wgsl_advance, false, false, 1, {NULL, NULL}},
    [SH_SAMPLE] = {"sample", grt_wgsl_sample, false, false, 6, {NULL, NULL}},
    [SH_MV] = {"mv", grt_wgsl_mv, false, false, 4, {"WTYPE", "R"}, NULL, grt_wgsl_unpack8},
    [SH_MVQ] = {"mvq", grt_wgsl_mvq, false, false, 4, {"WTYPE", "R", "STAGED"}},
    [SH_ATTN_PART] = {"attn_part", grt_wgsl_attn_part, false, false, 5, {"KV_SHARED", NULL}},
    [SH_ATTN_COMBINE] = {"attn_combine", grt_wgsl_attn_combine, false, false, 2, {NULL, NULL}},
    [SH_ARGMAX_PART] = {"argmax_part", grt_wgsl_argmax_part, false, false, 2, {NULL, NULL}},
    [SH_MV3] = {"mv3", grt_wgsl_mv3, false, false, 7, {"WTYPE", "R", "NORM"}, NULL, grt_wgsl_unpack8},
    [SH_MVH] = {"mvh", grt_wgsl_mvh, false, true, 4, {NULL, NULL}},
    [SH_COPY] = {"copy", grt_wgsl_copy, false, false, 2, {NULL, NULL}},
    [SH_MVX] = {"mvx", grt_wgsl_mvx, false, false, 7, {"WTYPE", "T", "RPW", "U", "NORM", "GLU", "STAGE"}, grt_wgsl_mvx_f,
                grt_wgsl_mvx_io},
    [SH_ROPE_KV] = {"rope_kv", grt_wgsl_rope_kv, false, false, 5, {"KV_SHARED", NULL}, grt_wgsl_rope_pair},
    [SH_MVXQ] = {"mvxq", grt_wgsl_mvx, false, false, 7, {"WTYPE", "T", "RPW", "U", "NORM", "GLU", "STAGE"}, grt_wgsl_mvx_q,
                 grt_wgsl_mvx_io},
    [SH_ATTN_DEC] = {"attn_dec", grt_wgsl_attn_dec, false, false, 7, {"KV_SHARED", "HD4", "G", "ROPE"}, NULL,
                     grt_wgsl_attn_io},
    [SH_ATTN_O] = {"attn_o", NULL, false, false, 7, {"KV_SHARED", "HD4", "G", "ROPE", "WTYPE", "T", "RPW"},
                   NULL, grt_wgsl_attn_o, true},
    [SH_MVX2] = {"mvx2", NULL, false, false, 7, {"WTYPE_a", "T_a", "RPW_a", "WTYPE_b", "T_b", "RPW_b", "NORM_b"}, NULL,
                 grt_wgsl_mvx2, true},
    [SH_MMT] = {"mmt", grt_wgsl_mmt, true, false, 5, {"WTYPE", "TM", "TN", "PF"}},
    [SH_MMT_RED] = {"mmt_red", grt_wgsl_mmt_red, false, false, 3, {NULL, NULL}},
    [SH_MVX3] = {"mvx3", NULL, false, false, WG_MAX_BIND,
                 {"WTYPE_a", "T_a", "RPW_a", "GLU_a", "NORM_a", "WTYPE_b", "T_b", "RPW_b", "WTYPE_c", "T_c", "RPW_c",
                  "NORM_c"},
                 NULL, grt_wgsl_mvx3, true},
};
_Static_assert(sizeof SHADERS / sizeof SHADERS[0] <= WG_N_SHADERS, "shader table");

static WGPUStringView sv(const char *s) { return (WGPUStringView){s, s ? strlen(s) : 0}; }
static uint64_t round_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* ---------------------------------------------------------------- pipelines */

grt_status wg_pipes_init(grt_device *dev) {
    wg_ctx *x = wg_ctx_of(dev);
    x->bg_heads = grt_calloc(WG_BG_BUCKETS, sizeof *x->bg_heads);
    if (!x->bg_heads) return GRT_ERR_NO_MEMORY;
    for (int nb = 1; nb <= WG_MAX_BIND; nb++) {
        if (nb > WG_BIND && nb < WG_MAX_BIND) continue;
        WGPUBindGroupLayoutEntry e[WG_MAX_BIND + 1];
        memset(e, 0, sizeof e);
        for (int i = 0; i <= nb; i++) {
            e[i].binding = (uint32_t)i;
            e[i].visibility = WGPUShaderStage_Compute;
            e[i].buffer.type = i == 0 ? WGPUBufferBindingType_Uniform : WGPUBufferBindingType_Storage;
            e[i].buffer.hasDynamicOffset = i == 0;
            e[i].buffer.minBindingSize = i == 0 ? WG_PARAM_WORDS * 4 : 0;
        }
        if (nb <= WG_BIND) {
            WGPUBindGroupLayoutDescriptor d = {NULL, sv("genrt bindings"), (size_t)nb + 1, e};
            x->bgl[nb] = W.DeviceCreateBindGroupLayout(x->device, &d);
            WGPUPipelineLayoutDescriptor pd = {NULL, sv("genrt layout"), 1, &x->bgl[nb], 0};
            x->pl[nb] = x->bgl[nb] ? W.DeviceCreatePipelineLayout(x->device, &pd) : NULL;
            if (!x->pl[nb]) return grt_fail(GRT_ERR_DEVICE, "webgpu: could not create pipeline layouts");
            if (nb < WG_BIND) continue;
        }
        /* the chain kernels' layouts: WG_BIND windows, and WG_MAX_BIND
         * (mvx3) where the adapter allows as many storage buffers */
        int k = nb == WG_BIND ? 0 : 1;
        if (k == 1 && x->limits.maxStorageBuffersPerShaderStage < WG_MAX_BIND) break;
        e[0].buffer.minBindingSize = WG_CMD_WORDS * 4;
        WGPUBindGroupLayoutDescriptor dc = {NULL, sv("genrt chain bindings"), (size_t)nb + 1, e};
        x->bgl_chain[k] = W.DeviceCreateBindGroupLayout(x->device, &dc);
        WGPUPipelineLayoutDescriptor pc = {NULL, sv("genrt chain layout"), 1, &x->bgl_chain[k], 0};
        x->pl_chain[k] = x->bgl_chain[k] ? W.DeviceCreatePipelineLayout(x->device, &pc) : NULL;
        if (!x->pl_chain[k]) return grt_fail(GRT_ERR_DEVICE, "webgpu: could not create pipeline layouts");
    }
    return GRT_OK;
}

void wg_pipes_free(wg_ctx *x) {
    for (int i = 0; i < x->n_pipes; i++) W.ComputePipelineRelease(x->pipes[i].p);
    x->n_pipes = 0;
    for (int i = 0; i < WG_N_SHADERS; i++)
        if (x->modules[i]) W.ShaderModuleRelease(x->modules[i]);
    for (int k = 0; k < 2; k++) {
        if (x->pl_chain[k]) W.PipelineLayoutRelease(x->pl_chain[k]);
        if (x->bgl_chain[k]) W.BindGroupLayoutRelease(x->bgl_chain[k]);
    }
    for (int nb = 1; nb <= WG_BIND; nb++) {
        if (x->pl[nb]) W.PipelineLayoutRelease(x->pl[nb]);
        if (x->bgl[nb]) W.BindGroupLayoutRelease(x->bgl[nb]);
    }
}

/* src with every identifier token named in map[i][0] replaced by map[i][1]
 * (not member names after '.'; numeric literals are kept whole), then
 * every other one in suf_names with suffix appended; malloc'd (NULL: out of
 * memory). Chain kernels instantiate kernel bodies with it. */
static char *wgsl_rename(const char *src, const char *const map[][2], int n_map, const char *const *suf_names,
                         int n_suf, const char *suffix) {
    size_t cap = strlen(src) * 2 + 4096, o = 0;
    char *out = malloc(cap);
    if (!out) return NULL;
    for (const char *c = src; *c;) {
        bool id0 = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_';
        bool digit = *c >= '0' && *c <= '9';
        const char *e = c + 1;
        if (id0 || digit)
            while ((*e >= 'a' && *e <= 'z') || (*e >= 'A' && *e <= 'Z') || *e == '_' || (*e >= '0' && *e <= '9') ||
                   (digit && *e == '.'))
                e++;
        size_t len = (size_t)(e - c);
        const char *rep = NULL, *sfx = "";
        if (id0 && !(c > src && c[-1] == '.')) {
            for (int i = 0; i < n_map && !rep; i++)
                if (strlen(map[i][0]) == len && memcmp(map[i][0], c, len) == 0) rep = map[i][1];
            for (int i = 0; i < n_suf && !rep; i++)
                if (strlen(suf_names[i]) == len && memcmp(suf_names[i], c, len) == 0) sfx = suffix;
        }
        size_t need = (rep ? strlen(rep) : len) + strlen(sfx);
        if (o + need + 1 > cap) {
            cap = cap * 2 + need;
            char *nb = realloc(out, cap);
            if (!nb) {
                free(out);
                return NULL;
            }
            out = nb;
        }
        memcpy(out + o, rep ? rep : c, rep ? strlen(rep) : len);
        o += rep ? strlen(rep) : len;
        memcpy(out + o, sfx, strlen(sfx));
        o += strlen(sfx);
        c = e;
    }
    out[o] = 0;
    return out;
}

/* mvx.wgsl's module-scope names (and the accessors its body calls that
 * differ between instances), renamed per instance in a chain kernel (the
 * others, xv4 xf old ost ldb rget rset wsh: mvx_chain.wgsl) */
static const char *const MVX_NAMES[] = {"WTYPE", "T", "RPW", "U", "NORM", "GLU", "STAGE", "scl", "bf2", "lo8", "hi8",
                                        "ldx", "i8x4", "nib4", "qs_lo4", "qs_hi4", "qs_i8", "qs_fsh", "qs_b4",
                                        "qs_b8", "qw", "qs_ld", "qs_sb", "tanh_f",
                                        "qword", "qdot", "mvx_main", "nwv4", "xnst", "ldw", "ldq", "mvx_block",
                                        "mvx_wait"};

/* The kernel bodies of chain shader sh, instantiated: *a placed before *b. */
static bool chain_parts(int sh, char **a, char **b) {
    static const char *const p1[][2] = {{"P", "PC.p1"}}, *const p2[][2] = {{"P", "PC.p2"}},
                             *const p3[][2] = {{"P", "PC.p3"}};
    int nn = (int)(sizeof MVX_NAMES / sizeof MVX_NAMES[0]);
    *a = *b = NULL;
    if (sh == SH_ATTN_O) {
        *a = wgsl_rename(grt_wgsl_mvx, p2, 1, NULL, 0, "");
        *b = wgsl_rename(grt_wgsl_attn_dec, p1, 1, NULL, 0, "");
    } else {
        *a = wgsl_rename(grt_wgsl_mvx, p1, 1, MVX_NAMES, nn, "_a");
        *b = wgsl_rename(grt_wgsl_mvx, p2, 1, MVX_NAMES, nn, "_b");
        /* the shared accessors, then the instances (mvx3: the third last) */
        char *c = sh == SH_MVX3 ? wgsl_rename(grt_wgsl_mvx, p3, 1, MVX_NAMES, nn, "_c") : NULL;
        const char *parts[3] = {grt_wgsl_mvx_chain, *a, c ? *b : ""};
        size_t n = 1;
        for (int i = 0; i < 3; i++) n += parts[i] ? strlen(parts[i]) : 0;
        char *ab = *a && *b && (c || sh != SH_MVX3) ? malloc(n) : NULL;
        if (ab) snprintf(ab, n, "%s%s%s", parts[0], parts[1], parts[2]);
        free(*a);
        if (c) free(*b), *b = c;
        *a = ab;
    }
    if (*a && *b) return true;
    free(*a);
    free(*b);
    return false;
}

/* The pipeline of a shader with its override constants (the first n of
 * vals, n <= WG_MAX_CONSTS; each < 256, or 256). */
static WGPUComputePipeline get_pipe_n(grt_device *dev, int sh, const uint32_t *vals, int n) {
    wg_ctx *x = wg_ctx_of(dev);
    uint64_t key[2] = {0, 0};
    for (int i = 0; i < n; i++) key[i / 8] |= (uint64_t)(vals[i] & 0xff) << (8 * (i % 8));
    for (int i = 0; i < x->n_pipes; i++)
        if (x->pipes[i].shader == sh && x->pipes[i].key[0] == key[0] && x->pipes[i].key[1] == key[1])
            return x->pipes[i].p;
    if (x->n_pipes == WG_MAX_PIPES) {
        grt_dev_set_error(dev, GRT_ERR_INTERNAL, "webgpu: pipeline cache full");
        return NULL;
    }
    const shader_def *d = &SHADERS[sh];
    double t0 = grt_now_us();
    if (!x->modules[sh]) {
        const char *en = d->f16 ? "enable f16;\n" : "";
        const char *pre = d->prelude ? d->prelude : "";
        /* SG and sg_xor*, which common.wgsl's sg_sum and the kernels build on:
         * subgroup shuffles with the feature, else clusters of one lane */
        char sg[400];
        if (x->sg_on)
            snprintf(sg, sizeof sg,
                     "enable subgroups;\nconst SG : u32 = %uu;\n"
                     "fn sg_xor(v : f32, m : u32) -> f32 { return subgroupShuffleXor(v, m); }\n"
                     "fn sg_xoru(v : u32, m : u32) -> u32 { return subgroupShuffleXor(v, m); }\n",
                     x->sg_cluster);
        else
            snprintf(sg, sizeof sg,
                     "const SG : u32 = 1u;\n"
                     "fn sg_xor(v : f32, m : u32) -> f32 { return v; }\n"
                     "fn sg_xoru(v : u32, m : u32) -> u32 { return v; }\n");
        const char *post = d->post ? d->post : "", *par = d->chain ? "" : grt_wgsl_params, *body = d->src;
        char *ca = NULL, *cb = NULL;
        if (d->chain && !chain_parts(sh, &ca, &cb)) {
            grt_dev_set_error(dev, GRT_ERR_NO_MEMORY, "webgpu: out of memory building a shader");
            return NULL;
        }
        if (d->chain) pre = ca, body = cb;
        size_t n = strlen(en) + strlen(sg) + strlen(grt_wgsl_common) + strlen(par) +
                   (d->weights ? strlen(grt_wgsl_weights) : 0) + strlen(pre) + strlen(body) + strlen(post) + 1;
        char *src = malloc(n);
        if (!src) {
            free(ca);
            free(cb);
            grt_dev_set_error(dev, GRT_ERR_NO_MEMORY, "webgpu: out of memory building a shader");
            return NULL;
        }
        snprintf(src, n, "%s%s%s%s%s%s%s%s", en, sg, grt_wgsl_common, par, d->weights ? grt_wgsl_weights : "", pre,
                 body, post);
        free(ca);
        free(cb);
        WGPUShaderSourceWGSL ws = {{NULL, WGPUSType_ShaderSourceWGSL}, sv(src)};
        WGPUShaderModuleDescriptor md = {&ws.chain, sv(d->name)};
        x->modules[sh] = W.DeviceCreateShaderModule(x->device, &md);
        free(src);
        if (!x->modules[sh]) {
            grt_dev_set_error(dev, GRT_ERR_DEVICE, "webgpu: shader %s did not compile", d->name);
            return NULL;
        }
    }
    WGPUConstantEntry ce[WG_MAX_CONSTS];
    memset(ce, 0, sizeof ce);
    size_t nc = 0;
    for (int i = 0; i < n; i++)
        if (d->consts[i]) {
            ce[nc].key = sv(d->consts[i]);
            ce[nc].value = (double)vals[i];
            nc++;
        }
    WGPUComputePipelineDescriptor pd;
    memset(&pd, 0, sizeof pd);
    pd.label = sv(d->name);
    pd.layout = d->chain ? x->pl_chain[d->nb > WG_BIND] : x->pl[d->nb];
    pd.compute.module = x->modules[sh];
    pd.compute.entryPoint = sv("main");
    pd.compute.constantCount = nc;
    pd.compute.constants = nc ? ce : NULL;
    WGPUComputePipeline p = W.DeviceCreateComputePipeline(x->device, &pd);
    if (!p || dev->error) {
        grt_dev_set_error(dev, GRT_ERR_DEVICE, "webgpu: pipeline %s could not be created", d->name);
        if (p) W.ComputePipelineRelease(p);
        return NULL;
    }
    x->pipes[x->n_pipes++] = (wg_pipe){sh, {key[0], key[1]}, p};
    if (getenv("GENRT_WEBGPU_DUMP_GRAPH"))
        fprintf(stderr, "webgpu: pipeline %s (%s) created in %.1f ms\n", d->name, dev->capturing ? "capture" : "eager",
                (grt_now_us() - t0) / 1000.0);
    x->counters.pipelines++;
    return p;
}

static WGPUComputePipeline get_pipe_v(grt_device *dev, int sh, const uint32_t vals[7]) {
    return get_pipe_n(dev, sh, vals, 7);
}

const char *wg_pipe_name(const wg_ctx *x, WGPUComputePipeline p) {
    for (int i = 0; i < x->n_pipes; i++)
        if (x->pipes[i].p == p) return SHADERS[x->pipes[i].shader].name;
    return "?";
}

static WGPUComputePipeline get_pipe3(grt_device *dev, int sh, uint32_t v0, uint32_t v1, uint32_t v2) {
    uint32_t vals[7] = {v0, v1, v2, 0, 0, 0, 0};
    return get_pipe_v(dev, sh, vals);
}

static WGPUComputePipeline get_pipe(grt_device *dev, int sh, uint32_t v0, uint32_t v1) {
    return get_pipe3(dev, sh, v0, v1, 0);
}

/* ---------------------------------------------------------------- bind groups */

static uint64_t bg_hash(uint64_t uid, int nb, const wg_binding *b) {
    uint64_t h = 1469598103934665603ull ^ uid;
    for (int i = 0; i < nb; i++) {
        uint64_t v[3] = {b[i].id, b[i].off, b[i].size};
        for (int k = 0; k < 3; k++) h = (h ^ v[k]) * 1099511628211ull;
    }
    return h ^ (uint64_t)nb;
}

WGPUBindGroup wg_bind_group(grt_device *dev, WGPUBuffer ubuf, uint64_t uid, uint64_t usize, bool chain, int nb,
                            const wg_binding *b) {
    wg_ctx *x = wg_ctx_of(dev);
    uint64_t h = bg_hash(uid, nb, b) ^ (uint64_t)chain;
    wg_bg_entry **head = &x->bg_heads[h % WG_BG_BUCKETS];
    for (wg_bg_entry *e = *head; e; e = e->next) {
        if (e->hash != h || e->uid != uid || e->nb != nb || e->chain != chain) continue;
        bool same = true;
        for (int i = 0; i < nb && same; i++)
            same = e->b[i].id == b[i].id && e->b[i].off == b[i].off && e->b[i].size == b[i].size;
        if (same) return e->bg;
    }
    WGPUBindGroupEntry ge[WG_MAX_BIND + 1];
    memset(ge, 0, sizeof ge);
    ge[0].binding = 0;
    ge[0].buffer = ubuf;
    ge[0].offset = 0;
    ge[0].size = usize;
    for (int i = 0; i < nb; i++) {
        ge[i + 1].binding = (uint32_t)i + 1;
        ge[i + 1].buffer = b[i].b;
        ge[i + 1].offset = b[i].off;
        ge[i + 1].size = b[i].size;
    }
    WGPUBindGroupDescriptor d = {NULL, sv("genrt"), chain ? x->bgl_chain[nb > WG_BIND] : x->bgl[nb], (size_t)nb + 1,
                                 ge};
    WGPUBindGroup bg = W.DeviceCreateBindGroup(x->device, &d);
    wg_bg_entry *e = calloc(1, sizeof *e);
    if (!bg || !e) {
        free(e);
        if (bg) W.BindGroupRelease(bg);
        grt_dev_set_error(dev, GRT_ERR_DEVICE, "webgpu: could not create a bind group");
        return NULL;
    }
    e->hash = h;
    e->uid = uid;
    e->chain = chain;
    e->nb = nb;
    memcpy(e->b, b, (size_t)nb * sizeof *b);
    e->bg = bg;
    e->next = *head;
    *head = e;
    x->counters.bind_groups++;
    return bg;
}

void wg_bg_purge(wg_ctx *x, uint64_t id) {
    if (!x->bg_heads) return;
    for (int k = 0; k < WG_BG_BUCKETS; k++) {
        wg_bg_entry **pp = &x->bg_heads[k];
        while (*pp) {
            wg_bg_entry *e = *pp;
            bool hit = id == 0 || e->uid == id;
            for (int i = 0; i < e->nb && !hit; i++) hit = e->b[i].id == id;
            if (hit) {
                *pp = e->next;
                W.BindGroupRelease(e->bg);
                free(e);
            } else {
                pp = &e->next;
            }
        }
    }
}

/* ---------------------------------------------------------------- dispatch */

typedef struct params {
    uint32_t w[WG_PARAM_WORDS]; /* a b c d e g (u32 x4 each), then f (f32 x4) */
} params;

static void pf(params *p, int i, float v) { memcpy(&p->w[24 + i], &v, 4); }

/* Bind bytes [off, off + nbytes) of buffer buf; *rel gets off's byte
 * distance from the window start. */
static bool bind_range(grt_device *dev, grt_buffer *buf, uint64_t off, uint64_t nbytes, wg_binding *out,
                       uint64_t *rel, const char *op) {
    wg_ctx *x = wg_ctx_of(dev);
    wg_buf *wb = buf->impl;
    uint64_t start = off / x->align * x->align;
    uint64_t end = round_up(off + (nbytes ? nbytes : 4), 4);
    if (end > wb->alloc) end = wb->alloc;
    if (end - start > x->max_binding) {
        grt_dev_set_error(dev, GRT_ERR_UNSUPPORTED,
                          "webgpu: %s: a tensor of %llu bytes exceeds the storage binding limit (%llu: "
                          "maxStorageBufferBindingSize or GENRT_WEBGPU_MAX_BINDING)", op,
                          (unsigned long long)(end - start), (unsigned long long)x->max_binding);
        return false;
    }
    *out = (wg_binding){wb->id, wb->b, start, end - start};
    *rel = off - start;
    return true;
}

static bool bind_t(grt_device *dev, const grt_tensor *t, wg_binding *out, uint64_t *rel, const char *op) {
    return bind_range(dev, t->buf, t->offset, grt_tensor_nbytes(t), out, rel, op);
}

static wg_binding dummy_binding(wg_ctx *x) { return (wg_binding){x->dummy_id, x->dummy, 0, 256}; }
static wg_binding dummy_binding2(wg_ctx *x) { return (wg_binding){x->dummy2_id, x->dummy2, 0, 256}; }
/* Placeholder window k (< WG_DUMMY_WINDOWS) of the first placeholder buffer. */
static wg_binding dummy_window(wg_ctx *x, int k) { return (wg_binding){x->dummy_id, x->dummy, 256u * (uint64_t)k, 256}; }
static bool is_dummy(const wg_ctx *x, const wg_binding *b) { return b->id == x->dummy_id || b->id == x->dummy2_id; }

static bool overlapping(const wg_binding *a, const wg_binding *b) {
    return a->id == b->id && a->off < b->off + b->size && b->off < a->off + a->size;
}

static void dispatch(grt_device *dev, WGPUComputePipeline pipe, int nb, const wg_binding *b, const params *p,
                     uint64_t n_wg, const char *op) {
    wg_ctx *x = wg_ctx_of(dev);
    if (!pipe || x->lost || n_wg == 0) return;
    for (int i = 0; i < nb; i++)
        for (int j = i + 1; j < nb; j++)
            if (b[i].id != x->dummy_id && overlapping(&b[i], &b[j])) {
                grt_dev_set_error(dev, GRT_ERR_UNSUPPORTED,
                                  "webgpu: %s: arguments %d and %d overlap within one buffer (within %u bytes)", op,
                                  i, j, x->align);
                return;
            }
    uint64_t maxd = x->limits.maxComputeWorkgroupsPerDimension ? x->limits.maxComputeWorkgroupsPerDimension : 65535;
    uint64_t gx = n_wg < maxd ? n_wg : maxd, gy = (n_wg + gx - 1) / gx;
    if (gy > maxd) {
        grt_dev_set_error(dev, GRT_ERR_UNSUPPORTED, "webgpu: %s: %llu workgroups exceed the adapter's limits", op,
                          (unsigned long long)n_wg);
        return;
    }
    if (dev->capturing) {
        wg_cmd *c = wg_rec_push(dev);
        if (!c) return;
        c->kind = WG_CMD_DISPATCH;
        c->pipe = pipe;
        c->nb = nb;
        memcpy(c->b, b, (size_t)nb * sizeof *b);
        memcpy(c->params, p->w, sizeof p->w);
        c->gx = (uint32_t)gx;
        c->gy = (uint32_t)gy;
        c->tag = x->rec_tag;
        c->wt = x->rec_wt;
        c->R = x->rec_R;
        memcpy(c->cfg, x->rec_cfg, sizeof c->cfg);
        return;
    }
    if (x->param_used == WG_PARAM_SLOTS) wg_flush(dev);
    WGPUBindGroup bg = wg_bind_group(dev, x->param_buf, x->param_id, WG_PARAM_WORDS * 4, false, nb, b);
    if (!bg) return;
    uint32_t slot = (uint32_t)x->param_used++;
    memcpy(x->param_host + (size_t)slot * WG_SLOT, p->w, sizeof p->w);
    uint32_t dyn = slot * WG_SLOT;
    wg_ensure_pass(x);
    if (x->pass_pipe != pipe) {
        W.ComputePassEncoderSetPipeline(x->pass, pipe);
        x->pass_pipe = pipe;
    }
    W.ComputePassEncoderSetBindGroup(x->pass, 0, bg, 1, &dyn);
    W.ComputePassEncoderDispatchWorkgroups(x->pass, (uint32_t)gx, (uint32_t)gy, 1);
    x->counters.dispatches++;
}

static uint32_t u32of(uint64_t v) { return (uint32_t)v; }

/* Grow a device-private scratch buffer to at least need bytes. */
static bool scratch_ensure(grt_device *dev, wg_scratch *sc, uint64_t need, const char *what) {
    wg_ctx *x = wg_ctx_of(dev);
    need = round_up(need, 256);
    if (need <= sc->size) return true;
    WGPUBuffer nb = wg_raw_buffer(dev, need, WGPUBufferUsage_Storage, false, what);
    if (!nb) {
        grt_dev_set_error(dev, GRT_ERR_NO_MEMORY, "%s", grt_last_error());
        return false;
    }
    if (sc->b) {
        /* graphs may hold bind groups naming the old buffer: it stays alive
         * until the device closes */
        if (x->n_retired == WG_MAX_RETIRED) {
            W.BufferRelease(nb);
            grt_dev_set_error(dev, GRT_ERR_INTERNAL, "webgpu: %s grew too many times", what);
            return false;
        }
        x->retired[x->n_retired++] = sc->b;
    }
    sc->b = nb;
    sc->size = need;
    sc->id = ++x->next_id;
    return true;
}

/* ---------------------------------------------------------------- ops */

void wg_fill(grt_device *dev, grt_buffer *dst, size_t off, size_t n, uint32_t pattern) {
    if (n == 0) return;
    wg_binding b[1];
    uint64_t rel;
    if (!bind_range(dev, dst, off, n, &b[0], &rel, "fill")) return;
    params p = {{0}};
    p.w[0] = u32of(rel / 4);
    p.w[1] = u32of(n / 4);
    p.w[2] = pattern;
    dispatch(dev, get_pipe(dev, SH_FILL, 0, 0), 1, b, &p, (n / 4 + 255) / 256, "fill");
}

void wg_copy_bytes(grt_device *dev, grt_buffer *dst, size_t dst_off, grt_buffer *src, size_t src_off, size_t n) {
    if (n == 0) return;
    wg_binding b[2];
    uint64_t srel, drel;
    if (!bind_range(dev, src, src_off, n + 4, &b[0], &srel, "copy") ||
        !bind_range(dev, dst, dst_off, n + 4, &b[1], &drel, "copy"))
        return;
    params p = {{0}};
    p.w[0] = u32of(srel);
    p.w[1] = u32of(drel);
    p.w[2] = u32of(n);
    uint64_t words = (drel + n + 3) / 4 - drel / 4;
    dispatch(dev, get_pipe(dev, SH_COPY, 0, 0), 2, b, &p, (words + 255) / 256, "copy");
}

static int wtype_code(grt_dtype t) {
    switch (t) {
    case GRT_F32: return 0;
    case GRT_F16: return 1;
    case GRT_BF16: return 2;
    case GRT_Q8_0: return 3;
    case GRT_Q4_0: return 4;
    default: return -1;
    }
}

void wg_embed(grt_device *dev, const grt_tensor *out, const grt_tensor *table, const grt_tensor *ids, float scale,
              int n_rows) {
    wg_ctx *x = wg_ctx_of(dev);
    int wt = wtype_code(table->type);
    if (wt < 0) {
        grt_dev_set_error(dev, GRT_ERR_UNSUPPORTED, "webgpu: embed: table type %s", grt_dtype_name(table->type));
        return;
    }
    int64_t n_embd = table->ne[1], V = table->ne[0];
    uint64_t rbytes = grt_row_bytes(table->type, n_embd), room = x->max_binding - x->align - 16;
    /* rows per binding: the whole table, or parts that fit */
    int64_t per = (uint64_t)V * rbytes <= room ? V : (int64_t)(room / rbytes);
    if (per < 1) {
        grt_dev_set_error(dev, GRT_ERR_UNSUPPORTED, "webgpu: embed: a table row of %llu bytes exceeds the storage "
                          "binding limit (%llu)", (unsigned long long)rbytes, (unsigned long long)x->max_binding);
        return;
    }
    for (int64_t lo = 0; lo < V; lo += per) {
        int64_t hi = V - lo < per ? V : lo + per;
        wg_binding b[3];
        uint64_t ro, rt, ri;
        if (!bind_range(dev, out->buf, out->offset, (uint64_t)n_rows * n_embd * 4, &b[0], &ro, "embed") ||
            !bind_range(dev, table->buf, table->offset + (uint64_t)lo * rbytes, (uint64_t)(hi - lo) * rbytes, &b[1],
                        &rt, "embed") ||
            !bind_range(dev, ids->buf, ids->offset, (uint64_t)n_rows * 4, &b[2], &ri, "embed"))
            return;
        params p = {{0}};
        p.w[0] = u32of(ro / 4);
        p.w[1] = u32of(rt);
        p.w[2] = u32of(ri / 4);
        p.w[3] = u32of(n_embd);
        p.w[4] = (uint32_t)n_rows;
        p.w[5] = u32of(V);
        p.w[6] = u32of(rbytes);
        p.w[8] = u32of(lo);
        p.w[9] = u32of(hi);
        pf(&p, 0, scale);
        dispatch(dev, get_pipe(dev, SH_EMBED, (uint32_t)wt, 0), 3, b, &p, (uint64_t)n_rows, "embed");
    }
}

void wg_rmsnorm(grt_device *dev, const grt_tensor *out, const grt_tensor *in, const grt_tensor *w, int64_t n_rows,
                int64_t dim, float eps) {
    wg_ctx *x = wg_ctx_of(dev);
    wg_binding b[3];
    uint64_t ro, ri = 0, rw;
    uint64_t nbytes = (uint64_t)(n_rows * dim) * 4;
    bool inplace = out->buf == in->buf && out->offset == in->offset;
    if (!bind_range(dev, out->buf, out->offset, nbytes, &b[0], &ro, "rmsnorm")) return;
    if (inplace) {
        b[1] = dummy_binding(x);
    } else if (!bind_range(dev, in->buf, in->offset, nbytes, &b[1], &ri, "rmsnorm")) {
        return;
    }
    if (!bind_t(dev, w, &b[2], &rw, "rmsnorm")) return;
    params p = {{0}};
    p.w[0] = u32of(ro / 4);
    p.w[1] = u32of((inplace ? ro : ri) / 4);
    p.w[2] = u32of(rw / 4);
    p.w[3] = u32of(dim);
    p.w[4] = u32of(n_rows);
    pf(&p, 0, eps);
    if (!inplace) x->rec_tag = WG_TAG_NORM;
    dispatch(dev, get_pipe(dev, SH_RMSNORM, inplace, 0), 3, b, &p, (uint64_t)n_rows, "rmsnorm");
    x->rec_tag = WG_TAG_NONE;
}

/* Whether the streaming kernels (mv, mvq) take these operands: 16-byte
 * activation rows; float weight rows 16-byte aligned, quantized blocks 2-byte
 * aligned (windows start at the offset alignment, a multiple of 16). */
static bool mv_fits(wg_ctx *x, const grt_tensor *in, const grt_tensor *w) {
    int wt = wtype_code(w->type);
    int64_t K = w->ne[1];
    uint64_t rbytes = grt_row_bytes(w->type, K), ri = in->offset % x->align, rw = w->offset % x->align;
    return !getenv("GENRT_WEBGPU_PLAIN_MATMUL") && ri % 16 == 0 && K % 8 == 0 &&
           (wt <= 2 ? rw % 16 == 0 && rbytes % 16 == 0 : rw % 2 == 0 && K % 32 == 0);
}

/* ---------------------------------------------------------------- decode matvec (mvx.wgsl) */

/* A captured step folds an rmsnorm into the mvx reading it while its
 * workgroups x K is at most this (GENRT_WEBGPU_NORM_MAX_WORK; fuse_norm_x).
 * 500000 takes SmolLM2's gate/up (768 x 576) as well as its q/k/v: in mvx3
 * its norm then costs less than attn_o's norm tail (H200: 1075 -> 1107
 * tok/s); Llama-1B's q/k/v (768 x 2048) and LM heads stay out. */
static uint64_t norm_max_work(void) {
    const char *e = getenv("GENRT_WEBGPU_NORM_MAX_WORK");
    return e ? strtoull(e, NULL, 10) : 500000;
}
static uint64_t chain_max_wg(void);
static uint32_t step_form(int i);
static void mvx3_vals(const uint32_t ca[7], uint32_t Na, const uint32_t cb[7], uint32_t Nb, const uint32_t cc[7],
                      uint32_t v[12]);

enum { MVX_STAGE_DEFAULT = 0 };

/* Chunks of one weight row the kernel walks: vec4s of f32, 8 halves, blocks of 32. */
static uint32_t mvx_chunks(int wt, int64_t K) { return (uint32_t)(wt == 0 ? K / 4 : wt <= 2 ? K / 8 : K / 32); }

static uint32_t env_u32(const char *name, int field) {
    const char *e = getenv(name);
    for (int i = 0; e && i < field; i++) {
        e = strchr(e, ',');
        if (e) e++;
    }
    return e ? (uint32_t)strtoul(e, NULL, 10) : 0;
}

/* Whether a quantized weight [N, K]'s decode matvec reads whole
 * superblocks (8 blocks: mvx.wgsl's QS, WTYPE wt + 8): K % 256 == 0, rows
 * 16-byte aligned (rw: the weight's byte offset in its binding, which
 * starts 16-byte aligned) and at least QS_MIN_WORK superblocks (one a
 * thread: fewer leave the device idle; the blocks' path spreads a row over
 * up to 256 threads). Properties of the weight, so eager and captured
 * steps take the same path. GENRT_WEBGPU_MVX's 5th field 2 turns it off
 * (1 or absent: on), its 6th sets the minimum (0: the default). */
enum { QS_MIN_WORK = 4096 };
static bool mvx_qs(int wt, int64_t K, int64_t N, uint64_t rw) {
    uint32_t mw = env_u32("GENRT_WEBGPU_MVX", 5);
    return (wt == 3 || wt == 4) && K % 256 == 0 && rw % 16 == 0 && env_u32("GENRT_WEBGPU_MVX", 4) != 2 &&
           (uint64_t)N * (uint64_t)(K / 256) >= (mw ? mw : QS_MIN_WORK);
}

/* Override constants of mvx for a weight of type wt, [N, K], at byte rw of
 * its binding: WTYPE, T, RPW, U, NORM (0), GLU (0), STAGE. T (threads over
 * a row) fixes each row's sum order, so it depends on wt and K only (and
 * the QS choice, fixed per weight): eager steps and captured ones (merged,
 * maybe other RPW/U) agree bit for bit. GENRT_WEBGPU_MVX=
 * "T,RPW,U,STAGE,QS,QS_MIN_WORK" sets them (0 or absent: chosen here) to
 * compare variants. */
static void mvx_cfg(int wt, int64_t K, int64_t N, uint64_t rw, uint32_t cfg[7]) {
    uint32_t eT = env_u32("GENRT_WEBGPU_MVX", 0), eR = env_u32("GENRT_WEBGPU_MVX", 1);
    if (mvx_qs(wt, K, N, rw)) {
        /* T: superblocks per row, at most 32 (a power of two: the tree); one
         * row a thread, the only form mvx.wgsl's QS has (two were slower on
         * the H100, LM heads too: 1B q4_0 868 vs 385 us, q8_0 1165 vs 905) */
        uint32_t nsb = (uint32_t)(K / 256), T = 1;
        while (T < 32 && T * 2 <= nsb) T *= 2;
        if (eT >= 1 && eT <= 32 && (eT & (eT - 1)) == 0) T = eT;
        uint32_t v[7] = {(uint32_t)wt + 8, T, 1, 1, 0, 0, 0};
        memcpy(cfg, v, sizeof v);
        return;
    }
    uint32_t ch = mvx_chunks(wt, K), T = 32;
    while (T < 256 && T * 2 <= ch) T *= 2;
    uint32_t eU = env_u32("GENRT_WEBGPU_MVX", 2);
    if (eT == 32 || eT == 64 || eT == 128 || eT == 256) T = eT;
    uint32_t G = 256 / T, per = (ch + T - 1) / T; /* chunks per thread */
    /* rows per group: 4, halved until there are enough workgroups to fill
     * the device (>= ~264), 8 for very tall matrices (an LM head); one chunk
     * per row in flight (H100 sweep: U 2 and 4 were no faster for float
     * weights, slower for K 8192) */
    uint32_t R = (uint64_t)N / (G * 8) >= 4096 ? 8 : 4, min_wg = 264;
    if (wt > 2) R = 8, min_wg = 128; /* quantized: x shared by more rows pays (sweep) */
    while (R > 1 && (uint64_t)N / (G * R) < min_wg) R /= 2;
    if (eR >= 1 && eR <= 8) R = eR;
    /* U (chunks of a row in flight per thread): 1; 2 (K <= 2 T: all of a
     * thread's chunks at once) read slower on the H100 (SmolLM2 -3%), as in
     * the first sweep. Chain kernels use 2 (their weights load before the
     * wait). */
    uint32_t Uc = 1;
    (void)per;
    if (eU >= 1 && eU * R <= 16) Uc = eU;
    (void)N;
    /* quantized: stage runs of blocks through workgroup memory (GENRT_WEBGPU_MVX 4th field: 1 on, 2 off) */
    uint32_t eS = env_u32("GENRT_WEBGPU_MVX", 3), st = wt > 2 && T % 2 == 0 ? MVX_STAGE_DEFAULT : 0;
    if (wt > 2 && eS) st = eS == 1;
    cfg[0] = (uint32_t)wt, cfg[1] = T, cfg[2] = R, cfg[3] = Uc, cfg[4] = 0, cfg[5] = 0, cfg[6] = st;
}

static WGPUComputePipeline mvx_pipe(grt_device *dev, const uint32_t cfg[7]) {
    /* float weights and QS: vec4<u32> weight bindings; else u32 ones */
    return get_pipe_v(dev, cfg[0] <= 2 || cfg[0] >= 8 ? SH_MVX : SH_MVXQ, cfg);
}

/* Workgroups of an mvx dispatch over segments of N[0..2] rows. */
static uint64_t mvx_groups(const uint32_t cfg[7], const uint32_t N[3]) {
    uint32_t NB = 256 / cfg[1] * cfg[2], nsl = cfg[5] ? NB / 2 : NB;
    uint64_t n = 0;
    for (int s = 0; s < (cfg[5] ? 1 : 3); s++) n += (N[s] + nsl - 1) / nsl;
    return n;
}

static void set_groups(wg_ctx *x, wg_cmd *c, uint64_t n_wg) {
    uint64_t maxd = x->limits.maxComputeWorkgroupsPerDimension ? x->limits.maxComputeWorkgroupsPerDimension : 65535;
    c->gx = (uint32_t)(n_wg < maxd ? n_wg : maxd);
    c->gy = (uint32_t)((n_wg + c->gx - 1) / c->gx);
}

/* Whether the tiled product (mmt.wgsl) takes a matmul of n_rows rows, and
 * its override constants (cfg: WTYPE, TM, TN, PF; tiles of 16 TM rows by
 * 16 TN outputs). It takes every weight type and alignment, from
 * MMT_MIN_ROWS rows on: every matmul the streaming kernels would run in
 * more than one pass of 8 rows (H100, Llama-1B shapes at 16 rows: half
 * their time; SmolLM2's small ones about even). GENRT_WEBGPU_MMT =
 * "min_rows,TM,TN,PF,splits" (PF 1 on, 2 off) sets them (0 or absent:
 * chosen here) to compare variants. H100 sweep
 * (bench/results/webgpu-prefill-2026-11-25.md): TM 4, TN 4 without PF is
 * the fastest; TM or TN 8 run 10x slower (the accumulators leave
 * registers). */
enum { MMT_MIN_ROWS = 9 };
static bool mmt_takes(wg_ctx *x, int wt, int64_t n_rows, uint32_t cfg[7]) {
    const char *e = "GENRT_WEBGPU_MMT";
    uint32_t lo = env_u32(e, 0), tm = env_u32(e, 1), tn = env_u32(e, 2), pf = env_u32(e, 3);
    if (n_rows < (lo ? lo : MMT_MIN_ROWS)) return false;
    tm = tm == 2 || tm == 4 || tm == 8 ? tm : 4;
    tn = tn == 4 || tn == 8 ? tn : 4;
    /* workgroup memory: the x tile and the weight tile, BK = 32 floats per row */
    if ((uint64_t)(tm + tn) * 16 * 32 * 4 > x->limits.maxComputeWorkgroupStorageSize) tm = 4, tn = 4;
    uint32_t v[7] = {(uint32_t)wt, tm, tn, pf == 1, 0, 0, 0};
    memcpy(cfg, v, sizeof v);
    return true;
}

/* K splits of a tiled product with `tiles` output tiles and `chunks` blocks
 * of 32 along K: below 256 tiles, enough workgroups to fill a large device
 * (~264, as mvx_cfg), at least 8 blocks per split, at most 16 splits
 * (H100: 1B q/o at 128 rows, 64 tiles, 137 -> 71 us; at 256 tiles two
 * splits cost 20% more than one); GENRT_WEBGPU_MMT's 5th field sets it. */
static uint32_t mmt_splits(uint64_t tiles, uint32_t chunks) {
    uint32_t es = env_u32("GENRT_WEBGPU_MMT", 4);
    uint64_t s = es ? es : tiles >= 256 ? 1 : (264 + tiles - 1) / tiles;
    if (!es && s > chunks / 8) s = chunks / 8;
    if (s > 16) s = 16;
    if (s > chunks) s = chunks;
    return s < 1 ? 1 : (uint32_t)s;
}

/* The parameters matmul.wgsl and mmt.wgsl share: a: out, in (words), w
 * (bytes) offsets, N; b: K, rows, row bytes, flags; c.x: bias offset. */
static params mm_params(uint64_t ro, uint64_t ri, uint64_t rw, int64_t N, int64_t K, int64_t n_rows, uint64_t rbytes,
                        uint32_t flags, uint64_t rb) {
    params p = {{0}};
    p.w[0] = u32of(ro / 4);
    p.w[1] = u32of(ri / 4);
    p.w[2] = u32of(rw);
    p.w[3] = u32of(N);
    p.w[4] = u32of(K);
    p.w[5] = u32of(n_rows);
    p.w[6] = u32of(rbytes);
    p.w[7] = flags;
    p.w[8] = u32of(rb / 4);
    return p;
}

/* Outputs n0 .. n0 + w->ne[0] of a matmul with N_full outputs (w: those rows). */
static void matmul_part(grt_device *dev, const grt_tensor *out, const grt_tensor *in, const grt_tensor *w,
                        const grt_tensor *bias, int64_t n_rows, bool accumulate, int64_t n0, int64_t N_full) {
    wg_ctx *x = wg_ctx_of(dev);
    int wt = wtype_code(w->type);
    int64_t N = w->ne[0], K = w->ne[1];
    wg_binding b[4];
    uint64_t ro, ri, rw, rb = 0;
    if (!bind_range(dev, out->buf, out->offset, (uint64_t)(n_rows * N_full) * 4, &b[0], &ro, "matmul") ||
        !bind_range(dev, in->buf, in->offset, (uint64_t)(n_rows * K) * 4, &b[1], &ri, "matmul") ||
        !bind_t(dev, w, &b[2], &rw, "matmul"))
        return;
    if (bias) {
        /* at least 16 bytes: mvx reads the bias through an array of vec4 */
        uint64_t nb = grt_tensor_nbytes(bias);
        if (!bind_range(dev, bias->buf, bias->offset, nb < 16 ? 16 : nb, &b[3], &rb, "matmul")) return;
    } else {
        b[3] = dummy_binding(x);
    }
    uint64_t rbytes = grt_row_bytes(w->type, K);
    bool mvx_ok = mv_fits(x, in, w) && (wt <= 2 || (rw % 4 == 0 && rbytes % 4 == 0)) && !getenv("GENRT_WEBGPU_OLD_MV");
    if (n_rows > 1 && mvx_ok && !dev->capturing) {
        /* a prefill: create the pipelines the decode steps of this weight
         * will use (and the norm-folded one a captured step may), so that
         * the first decode step does not pay their compilation */
        uint32_t cfg[7], Ns[3] = {(uint32_t)N, 0, 0};
        mvx_cfg(wt, K, N, rw, cfg);
        mvx_pipe(dev, cfg);
        memcpy(x->pre_cfg, cfg, sizeof cfg); /* for wg_glu's prefill: the glu-merged variant */
        x->pre_N = (uint64_t)N;
        bool chainable = cfg[6] == 0; /* every weight type, unless staged through workgroup memory */
        if (x->pre_att_set && accumulate && !bias && chainable && x->chains_on &&
            !getenv("GENRT_WEBGPU_NO_ATTN_O_MERGE")) {
            /* the output projection after an attention: the attn_o pipeline
             * a captured step merges the two into (rope folded in) */
            uint32_t v[7] = {x->pre_att[0], x->pre_att[1], x->pre_att[2], !getenv("GENRT_WEBGPU_NO_ATTN_ROPE_MERGE"),
                             cfg[0], cfg[1], cfg[2]};
            get_pipe_v(dev, SH_ATTN_O, v);
        }
        x->pre_att_set = false;
        if (x->pre_chain_set && !accumulate && !bias && chainable && x->chains_on &&
            !getenv("GENRT_WEBGPU_NO_MVX2_MERGE")) {
            /* a matmul after an accumulating one (the next layer's q after a
             * down projection): the mvx2 pipelines a captured step may chain
             * the two into, with and without the norm folded in */
            for (uint32_t nm = 0; nm < 2; nm++) {
                uint32_t v[7] = {x->pre_chain[0], x->pre_chain[1], x->pre_chain[2], cfg[0], cfg[1], cfg[2], nm};
                get_pipe_v(dev, SH_MVX2, v);
            }
        }
        if (x->pre_chain_set && x->pre_glu_set && !accumulate && !bias && chainable && x->chains_on &&
            x->pl_chain[1] && step_form(1) == 2 && mvx_groups(cfg, Ns) <= chain_max_wg() && cfg[0] < 8 &&
            x->pre_chain[0] < 8 && x->pre_glu[0] < 8 && !getenv("GENRT_WEBGPU_NO_MVX3_MERGE")) {
            /* the next layer's q after a down projection after a glu: the
             * mvx3 pipelines (gate/up, down, q/k/v) the step may chain the
             * three into, with and without the norm folded into the q/k/v */
            uint32_t cb[7] = {x->pre_chain[0], x->pre_chain[1], x->pre_chain[2], 0, 0, 0, 0}, cc[7], v[12];
            memcpy(cc, cfg, sizeof cc);
            for (uint32_t nm = 0; nm < 2; nm++) {
                cc[4] = nm;
                mvx3_vals(x->pre_glu, x->pre_glu_N, cb, x->pre_chain_N, cc, v);
                get_pipe_n(dev, SH_MVX3, v, 12);
            }
        }
        x->pre_chain_set = accumulate && !bias && chainable && K <= 2048;
        memcpy(x->pre_chain, cfg, sizeof x->pre_chain);
        x->pre_chain_N = (uint32_t)N;
        x->pre_K = (uint64_t)K;
        if (mvx_groups(cfg, Ns) * (uint64_t)K <= norm_max_work()) {
            cfg[4] = 1;
            mvx_pipe(dev, cfg);
        }
    }
    if (n_rows == 1 && mvx_ok) {
        uint32_t cfg[7];
        mvx_cfg(wt, K, N, rw, cfg);
        bool v4 = wt <= 2 || cfg[0] >= 8; /* weight offsets in vec4s (else bytes) */
        wg_binding bx[7] = {b[0], b[1], b[2], bias ? b[3] : dummy_window(x, 1), dummy_window(x, 2),
                            dummy_window(x, 3), dummy_window(x, 4)};
        params p = {{0}};
        p.w[0] = u32of(ro / 4);
        p.w[1] = u32of(ri / 16);
        p.w[2] = u32of(v4 ? rw / 16 : rw);
        p.w[3] = u32of(N);
        p.w[4] = u32of(K);
        p.w[5] = 1;
        p.w[6] = u32of(v4 ? rbytes / 16 : rbytes);
        p.w[7] = (accumulate ? 1u : 0u) | (bias ? 2u : 0u);
        p.w[11] = u32of(rb / 4);
        p.w[15] = 1;
        p.w[18] = u32of(n0);
        if (!bias && n0 == 0 && N == N_full) {
            x->rec_tag = WG_TAG_MVX;
            x->rec_wt = (uint32_t)wt;
            memcpy(x->rec_cfg, cfg, sizeof cfg);
        }
        uint32_t Ns[3] = {(uint32_t)N, 0, 0};
        dispatch(dev, mvx_pipe(dev, cfg), 7, bx, &p, mvx_groups(cfg, Ns), "matmul");
        x->rec_tag = WG_TAG_NONE;
        return;
    }
    uint32_t mc[7];
    if (mmt_takes(x, wt, n_rows, mc)) {
        uint64_t bm = 16 * mc[1], bn = 16 * mc[2];
        uint64_t tiles = ((uint64_t)n_rows + bm - 1) / bm * (((uint64_t)N + bn - 1) / bn);
        uint32_t chunks = (uint32_t)((K + 31) / 32), S = mmt_splits(tiles, chunks);
        uint32_t per = (chunks + S - 1) / S; /* blocks per split */
        S = (chunks + per - 1) / per;
        wg_binding b5[5] = {b[0], b[1], b[2], b[3], dummy_window(x, 1)};
        if (S > 1) {
            /* the partial sums, in the split attention's scratch (each
             * kernel's partials are consumed by the dispatch after it) */
            if (!scratch_ensure(dev, &x->att_part, (uint64_t)S * (uint64_t)n_rows * (uint64_t)N * 4,
                                "matmul partials"))
                return;
            b5[4] = (wg_binding){x->att_part.id, x->att_part.b, 0, x->att_part.size};
        }
        params p = mm_params(ro, ri, rw, N, K, n_rows, rbytes, (accumulate ? 1u : 0u) | (bias ? 2u : 0u), rb);
        p.w[9] = u32of(N_full);
        p.w[10] = u32of(n0);
        p.w[11] = per * 32;
        p.w[12] = S;
        dispatch(dev, get_pipe_v(dev, SH_MMT, mc), 5, b5, &p, tiles * S, "matmul");
        if (S > 1) {
            wg_binding br[3] = {b[0], b5[4], b[3]};
            params q = {{0}};
            q.w[0] = u32of(ro / 4);
            q.w[1] = u32of(N);
            q.w[2] = u32of(n_rows);
            q.w[3] = S;
            q.w[4] = u32of(N_full);
            q.w[5] = u32of(n0);
            q.w[6] = p.w[7];
            q.w[7] = u32of(rb / 4);
            dispatch(dev, get_pipe(dev, SH_MMT_RED, 0, 0), 3, br, &q, ((uint64_t)n_rows * N + 255) / 256, "matmul");
        }
        return;
    }
    if (mv_fits(x, in, w)) {
        uint32_t R = n_rows >= 8 ? 8 : n_rows >= 4 ? 4 : n_rows >= 2 ? 2 : 1;
        params p = {{0}};
        p.w[0] = u32of(ro / 4);
        p.w[1] = u32of(ri / 16);
        p.w[2] = u32of(wt <= 2 ? rw / 16 : rw);
        p.w[3] = u32of(N);
        p.w[4] = u32of(K);
        p.w[5] = u32of(n_rows);
        p.w[6] = u32of(wt <= 2 ? rbytes / 16 : rbytes);
        p.w[7] = (accumulate ? 1u : 0u) | (bias ? 2u : 0u);
        p.w[8] = u32of(rb / 4);
        p.w[9] = u32of(N_full);
        p.w[10] = u32of(n0);
        uint64_t tiles = ((uint64_t)n_rows + R - 1) / R, blocks = ((uint64_t)N + 7) / 8;
        bool staged = wt > 2 && rw % 4 == 0 && rbytes % 4 == 0 && !getenv("GENRT_WEBGPU_UNSTAGED");
        if (x->f16_math && wt == 1 && n_rows == 1) {
            dispatch(dev, get_pipe(dev, SH_MVH, 0, 0), 4, b, &p, blocks, "matmul");
            return;
        }
        if (wt <= 2 && !bias) {
            x->rec_tag = WG_TAG_MV;
            x->rec_wt = (uint32_t)wt;
            x->rec_R = R;
        }
        dispatch(dev, get_pipe3(dev, wt <= 2 ? SH_MV : SH_MVQ, (uint32_t)wt, R, staged), 4, b, &p, blocks * tiles,
                 "matmul");
        x->rec_tag = WG_TAG_NONE;
        return;
    }
    uint32_t rows = n_rows == 1 ? 1 : 8;
    bool aligned = rw % 4 == 0 && rbytes % 4 == 0;
    params p = mm_params(ro, ri, rw, N, K, n_rows, rbytes,
                         (accumulate ? 1u : 0u) | (bias ? 2u : 0u) | (aligned ? 4u : 0u), rb);
    uint64_t tiles = ((uint64_t)n_rows + rows - 1) / rows;
    dispatch(dev, get_pipe(dev, SH_MATMUL, (uint32_t)wt, rows), 4, b, &p, (uint64_t)N * tiles, "matmul");
}

/* A weight larger than one storage binding is split by output rows into
 * windows that fit, one dispatch each (streaming and tiled kernels only). */
void wg_matmul(grt_device *dev, const grt_tensor *out, const grt_tensor *in, const grt_tensor *w,
               const grt_tensor *bias, int64_t n_rows, bool accumulate) {
    wg_ctx *x = wg_ctx_of(dev);
    int64_t N = w->ne[0], K = w->ne[1];
    uint64_t rbytes = grt_row_bytes(w->type, K), room = x->max_binding - x->align - 16;
    uint32_t mc[7];
    if ((uint64_t)N * rbytes <= room || (!mv_fits(x, in, w) && !mmt_takes(x, wtype_code(w->type), n_rows, mc))) {
        matmul_part(dev, out, in, w, bias, n_rows, accumulate, 0, N);
        return;
    }
    int64_t per = (int64_t)(room / rbytes);
    if (per < 8) {
        grt_dev_set_error(dev, GRT_ERR_UNSUPPORTED,
                          "webgpu: matmul: weight rows of %llu bytes: fewer than 8 fit the storage binding limit "
                          "(%llu)", (unsigned long long)rbytes, (unsigned long long)x->max_binding);
        return;
    }
    per = per / 8 * 8;
    for (int64_t n0 = 0; n0 < N; n0 += per) {
        grt_tensor sub = *w;
        sub.offset += (size_t)n0 * rbytes;
        sub.ne[0] = N - n0 < per ? N - n0 : per;
        matmul_part(dev, out, in, &sub, bias, n_rows, accumulate, n0, N);
    }
}

void wg_rope(grt_device *dev, const grt_tensor *xt, const grt_tensor *inv_freq, const grt_tensor *state,
             grt_rows rows, int n_heads, int head_dim, int rot_dim, bool interleaved) {
    wg_binding b[3];
    uint64_t rx, rf, rs;
    if (!bind_range(dev, xt->buf, xt->offset, (uint64_t)rows.n_rows * n_heads * head_dim * 4, &b[0], &rx, "rope") ||
        !bind_t(dev, inv_freq, &b[1], &rf, "rope") || !bind_t(dev, state, &b[2], &rs, "rope"))
        return;
    params p = {{0}};
    p.w[0] = u32of(rx / 4);
    p.w[1] = (uint32_t)n_heads;
    p.w[2] = (uint32_t)head_dim;
    p.w[3] = (uint32_t)rot_dim;
    p.w[4] = (uint32_t)rows.n_rows;
    p.w[5] = (uint32_t)rows.seq0;
    p.w[6] = (uint32_t)rows.n_seqs;
    p.w[7] = interleaved;
    p.w[8] = u32of(rf / 4);
    p.w[9] = u32of(rs / 4);
    uint64_t n = (uint64_t)rows.n_rows * (uint64_t)n_heads * (uint64_t)(rot_dim / 2);
    wg_ctx *x = wg_ctx_of(dev);
    x->rec_tag = WG_TAG_ROPE;
    dispatch(dev, get_pipe(dev, SH_ROPE, 0, 0), 3, b, &p, (n + 63) / 64, "rope");
    x->rec_tag = WG_TAG_NONE;
}

/* K and V caches: one window when they share a buffer (KV_SHARED). */
static bool bind_kv(grt_device *dev, const grt_tensor *kc, const grt_tensor *vc, wg_binding *bk, wg_binding *bv,
                    uint64_t *rk, uint64_t *rv, bool *shared, const char *op) {
    wg_ctx *x = wg_ctx_of(dev);
    if (kc->type != GRT_F32 || vc->type != GRT_F32) {
        grt_dev_set_error(dev, GRT_ERR_UNSUPPORTED, "webgpu: %s: only f32 KV caches", op);
        return false;
    }
    *shared = kc->buf == vc->buf;
    if (!*shared) return bind_t(dev, kc, bk, rk, op) && bind_t(dev, vc, bv, rv, op);
    uint64_t k0 = kc->offset, k1 = k0 + grt_tensor_nbytes(kc), v0 = vc->offset, v1 = v0 + grt_tensor_nbytes(vc);
    uint64_t lo = k0 < v0 ? k0 : v0, hi = k1 > v1 ? k1 : v1, rel;
    if (!bind_range(dev, kc->buf, lo, hi - lo, bk, &rel, op)) return false;
    *rk = k0 - bk->off;
    *rv = v0 - bk->off;
    *bv = dummy_binding(x);
    return true;
}

void wg_kv_store(grt_device *dev, const grt_tensor *k_cache, const grt_tensor *v_cache, const grt_tensor *k,
                 const grt_tensor *v, const grt_tensor *state, grt_rows rows, int kv_dim, int max_ctx) {
    wg_binding b[5];
    uint64_t rkc, rvc, rk, rv, rs;
    bool shared;
    uint64_t nb = (uint64_t)rows.n_rows * kv_dim * 4;
    if (!bind_kv(dev, k_cache, v_cache, &b[0], &b[1], &rkc, &rvc, &shared, "kv_store") ||
        !bind_range(dev, k->buf, k->offset, nb, &b[2], &rk, "kv_store") ||
        !bind_range(dev, v->buf, v->offset, nb, &b[3], &rv, "kv_store") ||
        !bind_t(dev, state, &b[4], &rs, "kv_store"))
        return;
    params p = {{0}};
    p.w[0] = u32of(rkc / 4);
    p.w[1] = u32of(rvc / 4);
    p.w[2] = u32of(rk / 4);
    p.w[3] = u32of(rv / 4);
    p.w[4] = (uint32_t)kv_dim;
    p.w[5] = (uint32_t)max_ctx;
    p.w[6] = (uint32_t)rows.n_rows;
    p.w[7] = (uint32_t)rows.seq0;
    p.w[8] = (uint32_t)rows.n_seqs;
    p.w[9] = u32of(rs / 4);
    uint64_t n = (uint64_t)rows.n_rows * (uint64_t)kv_dim;
    wg_ctx *x = wg_ctx_of(dev);
    if (rows.n_rows > rows.n_seqs && !dev->capturing && !getenv("GENRT_WEBGPU_NO_ROPE_KV_MERGE"))
        get_pipe(dev, SH_ROPE_KV, shared, 0); /* a prefill: the captured decode step's merged rope + kv_store */
    x->rec_tag = WG_TAG_KV;
    x->rec_wt = shared;
    dispatch(dev, get_pipe(dev, SH_KV_STORE, shared, 0), 5, b, &p, (n + 63) / 64, "kv_store");
    x->rec_tag = WG_TAG_NONE;
}

/* attn_dec's head groups and key splits for (row, KV head) pairs of G
 * query heads each: *gw query heads per workgroup (a divisor of G, at most
 * 8, gw * hd <= 2048; 0 when none fits), *cps 64-key chunks per split at
 * least, *sgr the chunk's reductions on subgroups (one head a workgroup,
 * with subgroups of >= 4 lanes). Default (H100: SmolLM2 f16 +3.6%, the
 * 1B +2%): one head a workgroup (a KV head's workgroups read its keys from
 * L2; fewer heads each, shorter serial chains), ATTN_MIN_KEYS keys a split
 * (longer splits were slower: a chunk's serial chain costs more than the
 * merge), subgroup reductions.
 * GENRT_WEBGPU_ATTN_DEC="heads,keys,sg" sets them to compare: heads per
 * workgroup at most (the largest divisor of G that fits; 8: a KV head's
 * heads in one workgroup, the form before head groups), keys per split at
 * least (64..4096, rounded up to whole chunks), sg 1 on, 2 off; 0, absent
 * or out of range: the default. */
enum { ATTN_MIN_KEYS = 64 };

/* The decode step's short-path forms, each 1 (the form before) or 2:
 * [0] attn_dec's split merge with every output thread loading all splits'
 * (m, s) and its value at once (one round trip, no barrier; up to 8 splits,
 * G * head_dim <= 256), [1] one barrier instead of storageBarrier +
 * workgroupBarrier before a counter (storageBarrier is a control barrier:
 * attn_dec, attn_o, mvx2; mvx3 has only this form) and none after attn_dec's one-head output stage.
 * H100, SmolLM2 f16 captured: merge +2.5%, barriers +0.8% (see
 * bench/results/webgpu-step-2026-11-25.md; reading the chains' inputs from
 * A unstaged lost 33%). GENRT_WEBGPU_STEP="merge,bar" sets them; 0, absent
 * or out of range: the default. */
static const uint32_t STEP_DEFAULT[2] = {2, 2};
static uint32_t step_form(int i) {
    uint32_t v = env_u32("GENRT_WEBGPU_STEP", i);
    return v == 1 || v == 2 ? v : STEP_DEFAULT[i];
}

static void attn_dec_cfg(uint32_t G, uint32_t hd, uint32_t *gw, uint32_t *cps, uint32_t *sgr) {
    uint32_t eh = env_u32("GENRT_WEBGPU_ATTN_DEC", 0), ek = env_u32("GENRT_WEBGPU_ATTN_DEC", 1);
    *sgr = env_u32("GENRT_WEBGPU_ATTN_DEC", 2) != 2;
    uint32_t h = eh >= 1 && eh <= 64 ? eh : 1, keys = ek >= 64 && ek <= 4096 ? ek : ATTN_MIN_KEYS;
    *gw = 0;
    for (uint32_t d = 1; d <= G && d <= h && d <= 8; d++)
        if (G % d == 0 && d * hd <= 2048) *gw = d;
    *cps = (keys + 63) / 64;
}

/* Decode attention as one attn_dec dispatch where the shape allows (false:
 * use the split path). b, p: wg_attention's bindings and parameters. */
static bool attn_dec(grt_device *dev, const wg_binding *b, const params *p, grt_rows rows, int n_heads,
                     int n_kv_heads, int head_dim, int max_ctx, int window, bool shared, bool create_only) {
    wg_ctx *x = wg_ctx_of(dev);
    if (n_kv_heads <= 0 || n_heads % n_kv_heads) return false;
    uint32_t Gkv = (uint32_t)(n_heads / n_kv_heads), hd = (uint32_t)head_dim, G, cps, sgr;
    attn_dec_cfg(Gkv, hd, &G, &cps, &sgr);
    if (!G) return false;
    /* units: (row, KV head, head group); their split counters, then one k counter per (row, KV head) */
    uint64_t groups = (uint64_t)rows.n_rows * (uint64_t)n_kv_heads, units = groups * (Gkv / G);
    uint64_t wg_bytes = ((uint64_t)G + 2) * hd * 4 + (uint64_t)G * 64 * 4 * 2 + 2048 * 4 + 3 * 8 * 4 + 8;
    if (hd % 16 || hd > 256 || p->w[2] % 4 || p->w[3] % 4 || units + groups > WG_ATT_COUNTERS - WG_CHAIN_COUNTERS ||
        wg_bytes > x->limits.maxComputeWorkgroupStorageSize || x->limits.maxStorageBuffersPerShaderStage < 7)
        return false;
    if (create_only) { /* and the variant a captured step merges rope_kv into */
        uint32_t v[7] = {shared, hd / 4, G, 1, 0, 0, 0};
        x->pre_att[0] = shared, x->pre_att[1] = hd / 4, x->pre_att[2] = G;
        x->pre_att_set = true;
        return get_pipe3(dev, SH_ATTN_DEC, shared, hd / 4, G) && get_pipe_v(dev, SH_ATTN_DEC, v);
    }
    /* splits: at least cps whole 64-key chunks, at most 64 splits */
    uint32_t span = (uint32_t)max_ctx;
    if (window > 0 && (uint32_t)window < span) span = (uint32_t)window;
    uint32_t ns = ((span + 63) / 64 + cps - 1) / cps;
    if (ns > 64) ns = 64;
    if (ns < 1) ns = 1;
    uint64_t words = WG_ATT_COUNTERS + units * ns * G * (hd + 2);
    if (!scratch_ensure(dev, &x->att_dec, words * 4, "attention partials")) return true;
    wg_binding bd[7];
    memcpy(bd, b, 5 * sizeof *b);
    bd[5] = (wg_binding){x->att_dec.id, x->att_dec.b, 0, x->att_dec.size};
    bd[6] = dummy_window(x, 3);
    params pd = *p;
    pd.w[2] /= 4;
    pd.w[3] /= 4;
    pd.w[13] = ns;
    pd.w[14] = WG_ATT_COUNTERS;
    pd.w[15] = 0;
    pd.w[20] = Gkv / G;
    pd.w[21] = cps;
    pd.w[22] = sgr && x->sg_on && x->sg_cluster >= 4;
    pd.w[23] = (step_form(0) == 2 ? 1u : 0u) | (step_form(1) == 2 ? 2u : 0u);
    WGPUComputePipeline pipe = get_pipe3(dev, SH_ATTN_DEC, shared, hd / 4, G);
    x->rec_tag = WG_TAG_ATTN_DEC;
    uint32_t cfg[7] = {shared, hd / 4, G, 0, 0, 0, 0};
    memcpy(x->rec_cfg, cfg, sizeof cfg);
    dispatch(dev, pipe, 7, bd, &pd, units * ns, "attention");
    x->rec_tag = WG_TAG_NONE;
    return true;
}

void wg_attention(grt_device *dev, const grt_tensor *out, const grt_tensor *q, const grt_tensor *k_cache,
                  const grt_tensor *v_cache, const grt_tensor *state, grt_rows rows, int n_heads, int n_kv_heads,
                  int head_dim, int max_ctx, float scale, int window) {
    if (head_dim > 256) {
        grt_dev_set_error(dev, GRT_ERR_UNSUPPORTED, "webgpu: attention: head_dim %d > 256", head_dim);
        return;
    }
    wg_binding b[5];
    uint64_t ro, rq, rkc, rvc, rs;
    bool shared;
    uint64_t nb = (uint64_t)rows.n_rows * n_heads * head_dim * 4;
    if (!bind_range(dev, out->buf, out->offset, nb, &b[0], &ro, "attention") ||
        !bind_range(dev, q->buf, q->offset, nb, &b[1], &rq, "attention") ||
        !bind_kv(dev, k_cache, v_cache, &b[2], &b[3], &rkc, &rvc, &shared, "attention") ||
        !bind_t(dev, state, &b[4], &rs, "attention"))
        return;
    params p = {{0}};
    p.w[0] = u32of(ro / 4);
    p.w[1] = u32of(rq / 4);
    p.w[2] = u32of(rkc / 4);
    p.w[3] = u32of(rvc / 4);
    p.w[4] = (uint32_t)rows.n_rows;
    p.w[5] = (uint32_t)rows.seq0;
    p.w[6] = (uint32_t)rows.n_seqs;
    p.w[7] = u32of(rs / 4);
    p.w[8] = (uint32_t)n_heads;
    p.w[9] = (uint32_t)n_kv_heads;
    p.w[10] = (uint32_t)head_dim;
    p.w[11] = (uint32_t)max_ctx;
    p.w[12] = (uint32_t)window;
    pf(&p, 0, scale);
    wg_ctx *x = wg_ctx_of(dev);
    if (rows.n_rows == rows.n_seqs && !getenv("GENRT_WEBGPU_PLAIN_ATTENTION") && !getenv("GENRT_WEBGPU_OLD_ATTN") &&
        attn_dec(dev, b, &p, rows, n_heads, n_kv_heads, head_dim, max_ctx, window, shared, false))
        return;
    if (rows.n_rows > rows.n_seqs && !dev->capturing && !getenv("GENRT_WEBGPU_OLD_ATTN")) {
        /* a prefill: create the decode steps' pipeline now (its compilation
         * would otherwise land in the first decode step) */
        grt_rows one = {rows.n_seqs, rows.seq0, rows.n_seqs};
        attn_dec(dev, b, &p, one, n_heads, n_kv_heads, head_dim, max_ctx, window, shared, true);
    }
    if (rows.n_rows == rows.n_seqs && !getenv("GENRT_WEBGPU_PLAIN_ATTENTION")) {
        /* one token per sequence: keys split over workgroups (spans of >= 16 keys
         * at full context), then merged */
        uint32_t splits = (uint32_t)((max_ctx + 15) / 16);
        if (splits > 64) splits = 64;
        uint64_t heads = (uint64_t)rows.n_rows * (uint64_t)n_heads;
        if (!scratch_ensure(dev, &x->att_part, heads * splits * (uint64_t)(head_dim + 2) * 4, "attention partials"))
            return;
        wg_binding bp[5];
        memcpy(bp, b, sizeof bp);
        bp[0] = (wg_binding){x->att_part.id, x->att_part.b, 0, x->att_part.size};
        params pp = p;
        pp.w[0] = 0;
        pp.w[13] = splits;
        dispatch(dev, get_pipe(dev, SH_ATTN_PART, shared, 0), 5, bp, &pp, heads * splits, "attention");
        wg_binding bc[2] = {b[0], bp[0]};
        params pc = {{0}};
        pc.w[0] = u32of(ro / 4);
        pc.w[1] = 0;
        pc.w[2] = (uint32_t)head_dim;
        pc.w[3] = splits;
        pc.w[4] = u32of(heads);
        dispatch(dev, get_pipe(dev, SH_ATTN_COMBINE, 0, 0), 2, bc, &pc, heads, "attention");
        return;
    }
    dispatch(dev, get_pipe(dev, SH_ATTENTION, shared, 0), 5, b, &p, (uint64_t)rows.n_rows * (uint64_t)n_heads,
             "attention");
}

void wg_glu(grt_device *dev, const grt_tensor *out, const grt_tensor *gate, const grt_tensor *up, int64_t n_rows,
            int64_t n_ff, grt_act act) {
    wg_ctx *x = wg_ctx_of(dev);
    uint64_t n = (uint64_t)(n_rows * n_ff), nb = n * 4;
    wg_binding b[3];
    uint64_t ro, rg = 0, ru;
    ru = 0;
    bool g_out = gate->buf == out->buf && gate->offset == out->offset;
    bool u_out = up->buf == out->buf && up->offset == out->offset;
    if (!bind_range(dev, out->buf, out->offset, nb, &b[0], &ro, "glu")) return;
    if (g_out) {
        b[1] = dummy_binding(x);
    } else if (!bind_range(dev, gate->buf, gate->offset, nb, &b[1], &rg, "glu")) {
        return;
    }
    if (u_out) {
        b[2] = dummy_binding(x);
    } else if (!bind_range(dev, up->buf, up->offset, nb, &b[2], &ru, "glu")) {
        return;
    }
    params p = {{0}};
    p.w[0] = u32of(ro / 4);
    p.w[1] = u32of(rg / 4);
    p.w[2] = u32of(ru / 4);
    p.w[3] = u32of(n);
    x->rec_tag = WG_TAG_GLU;
    if (n_rows > 1 && !dev->capturing && x->pre_N == (uint64_t)n_ff && !getenv("GENRT_WEBGPU_NO_GLU_MERGE")) {
        /* a prefill: the pipelines of the gate/up mvx with this glu as its
         * epilogue (merge_glu_x), with and without a folded rmsnorm */
        uint32_t cfg[7];
        memcpy(cfg, x->pre_cfg, sizeof cfg);
        cfg[5] = (act == GRT_ACT_GELU_TANH) + 1u;
        if (256 / cfg[1] * cfg[2] < 2) cfg[2] = 2;
        for (uint32_t nm = 0; nm < 2; nm++) {
            cfg[4] = nm;
            mvx_pipe(dev, cfg);
        }
        /* for mvx3: the configuration a captured step's gate/up takes (the
         * norm folded in as fuse_norm_x decides: gate and up merged, two
         * segments, times K) */
        uint32_t N2[3] = {(uint32_t)n_ff, (uint32_t)n_ff, 0};
        cfg[4] = mvx_groups(x->pre_cfg, N2) * x->pre_K <= norm_max_work();
        memcpy(x->pre_glu, cfg, sizeof cfg);
        x->pre_glu_N = (uint32_t)n_ff;
        x->pre_glu_set = cfg[6] == 0 && x->pre_K <= 2048;
    }
    x->rec_wt = act == GRT_ACT_GELU_TANH;
    x->rec_R = (g_out ? 1u : 0u) | (u_out ? 2u : 0u);
    dispatch(dev, get_pipe(dev, SH_GLU, act == GRT_ACT_GELU_TANH, (g_out ? 1u : 0u) | (u_out ? 2u : 0u)), 3, b, &p, (n + 255) / 256, "glu");
    x->rec_tag = WG_TAG_NONE;
}

void wg_advance(grt_device *dev, const grt_tensor *state, grt_rows rows) {
    wg_binding b[1];
    uint64_t rs;
    if (!bind_t(dev, state, &b[0], &rs, "advance")) return;
    params p = {{0}};
    p.w[0] = u32of(rs / 4);
    p.w[1] = (uint32_t)rows.seq0;
    p.w[2] = (uint32_t)rows.n_seqs;
    p.w[3] = (uint32_t)(rows.n_rows / rows.n_seqs);
    dispatch(dev, get_pipe(dev, SH_ADVANCE, 0, 0), 1, b, &p, ((uint64_t)rows.n_seqs + 63) / 64, "advance");
}

void wg_sample(grt_device *dev, const grt_tensor *logits, int n_vocab, const grt_sample_cfg *cfg,
               const grt_tensor *state, int seq0, int n_seqs, const grt_tensor *history, int max_ctx,
               const grt_tensor *next_ids, const grt_tensor *ring, int ring_len) {
    wg_ctx *x = wg_ctx_of(dev);
    uint64_t words = ((uint64_t)n_vocab + 31) / 32;
    /* greedy without a penalty: a parallel argmax first (its pairs after the seen bits) */
    bool split_argmax = cfg->temperature == 0 && cfg->repeat_penalty == 1 && !getenv("GENRT_WEBGPU_PLAIN_SAMPLE");
    uint64_t nb_arg = ((uint64_t)n_vocab + 1023) / 1024;
    uint64_t pairs_off = (uint64_t)n_seqs * words;
    if (!scratch_ensure(dev, &x->sample_seen, (pairs_off + (split_argmax ? (uint64_t)n_seqs * nb_arg * 2 : 0)) * 4,
                        "sampler scratch"))
        return;
    wg_binding b[6];
    uint64_t rl, rs, rh, rn, rr;
    if (!bind_range(dev, logits->buf, logits->offset, (uint64_t)n_seqs * n_vocab * 4, &b[0], &rl, "sample") ||
        !bind_t(dev, state, &b[1], &rs, "sample") || !bind_t(dev, history, &b[2], &rh, "sample") ||
        !bind_t(dev, next_ids, &b[3], &rn, "sample") || !bind_t(dev, ring, &b[4], &rr, "sample"))
        return;
    b[5] = (wg_binding){x->sample_seen.id, x->sample_seen.b, 0, x->sample_seen.size};
    if (split_argmax) {
        wg_binding ba[2] = {b[0], b[5]};
        params pa = {{0}};
        pa.w[0] = u32of(rl / 4);
        pa.w[1] = (uint32_t)n_vocab;
        pa.w[2] = u32of(nb_arg);
        pa.w[3] = u32of(pairs_off);
        dispatch(dev, get_pipe(dev, SH_ARGMAX_PART, 0, 0), 2, ba, &pa, (uint64_t)n_seqs * nb_arg, "sample");
    }
    params p = {{0}};
    p.w[0] = u32of(rl / 4);
    p.w[1] = (uint32_t)n_vocab;
    p.w[2] = (uint32_t)seq0;
    p.w[3] = split_argmax ? u32of(pairs_off) : 0;
    p.w[4] = (uint32_t)max_ctx;
    p.w[5] = (uint32_t)ring_len;
    p.w[6] = u32of(rs / 4);
    p.w[7] = u32of(rh / 4);
    p.w[8] = u32of(rn / 4);
    p.w[9] = u32of(rr / 4);
    p.w[10] = (uint32_t)cfg->top_k;
    p.w[11] = (uint32_t)cfg->repeat_last_n;
    p.w[12] = (uint32_t)cfg->n_eos;
    p.w[13] = (uint32_t)cfg->seed;
    p.w[14] = (uint32_t)(cfg->seed >> 32);
    p.w[15] = u32of(words);
    for (int i = 0; i < 8; i++) p.w[16 + i] = i < cfg->n_eos ? (uint32_t)cfg->eos[i] : 0xffffffffu;
    pf(&p, 0, cfg->temperature);
    pf(&p, 1, cfg->top_p);
    pf(&p, 2, cfg->min_p);
    pf(&p, 3, cfg->repeat_penalty);
    dispatch(dev, get_pipe(dev, SH_SAMPLE, 0, 0), 6, b, &p, (uint64_t)n_seqs, "sample");
}

/* ---------------------------------------------------------------- capture merging */

/* Whether dispatch b can join a (mv, same pipeline and input, outputs in
 * one buffer, neither split nor accumulating into a bias). */
static bool mv_joinable(const wg_cmd *a, const wg_cmd *b) {
    if (a->kind != WG_CMD_DISPATCH || b->kind != WG_CMD_DISPATCH || a->tag != WG_TAG_MV || b->tag != WG_TAG_MV)
        return false;
    const uint32_t *p = a->params, *q = b->params;
    return a->pipe == b->pipe && a->b[1].id == b->b[1].id && a->b[1].off == b->b[1].off &&
           a->b[1].size == b->b[1].size && p[1] == q[1] && p[4] == q[4] && p[5] == q[5] && p[6] == q[6] &&
           p[7] == q[7] && p[9] == p[3] && q[9] == q[3] && p[10] == 0 && q[10] == 0 && a->b[0].id == b->b[0].id;
}

/* The union [lo, hi) of the output windows of the m matvecs at c (one
 * output buffer): true when it fits one binding and stays clear of c's
 * input, so one dispatch may write all of them. */
static bool out_window(const wg_ctx *x, const wg_cmd *c, size_t m, uint64_t *lo, uint64_t *hi) {
    *lo = UINT64_MAX, *hi = 0;
    for (size_t j = 0; j < m; j++) {
        const wg_binding *w = &c[j].b[0];
        if (w->off < *lo) *lo = w->off;
        if (w->off + w->size > *hi) *hi = w->off + w->size;
    }
    const wg_binding *in = &c[0].b[1];
    return *hi - *lo <= x->max_binding && !(in->id == c[0].b[0].id && in->off < *hi && *lo < in->off + in->size);
}

/* Whether a dispatch's bindings overlap (placeholders aside). */
static bool any_alias(const wg_ctx *x, const wg_cmd *c) {
    for (int a = 0; a < c->nb; a++)
        for (int b2 = a + 1; b2 < c->nb; b2++)
            if (!is_dummy(x, &c->b[a]) && overlapping(&c->b[a], &c->b[b2])) return true;
    return false;
}

static size_t merge_mv3(grt_device *dev, wg_cmd *cmds, size_t n) {
    wg_ctx *x = wg_ctx_of(dev);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t m = 1;
        while (m < 3 && i + m < n && mv_joinable(&cmds[i], &cmds[i + m])) m++;
        /* the outputs' union window: within the binding limit, clear of the input */
        uint64_t lo, hi;
        bool ok = out_window(x, &cmds[i], m, &lo, &hi) && m > 1;
        WGPUComputePipeline pipe =
            ok && x->limits.maxStorageBuffersPerShaderStage >= 7 ? get_pipe(dev, SH_MV3, cmds[i].wt, cmds[i].R) : NULL;
        if (!pipe) {
            for (size_t j = 0; j < m; j++) cmds[o++] = cmds[i + j];
            i += m;
            continue;
        }
        wg_cmd c = cmds[i];
        c.pipe = pipe;
        c.nb = 7;
        c.b[0] = (wg_binding){cmds[i].b[0].id, cmds[i].b[0].b, lo, hi - lo};
        c.b[1] = cmds[i].b[1];
        c.b[5] = dummy_window(x, 1); /* no norm: NW, XN placeholders */
        c.b[6] = dummy_window(x, 2);
        memset(c.params, 0, sizeof c.params);
        uint64_t blocks = 0;
        for (size_t j = 0; j < 3; j++) {
            const wg_cmd *s = &cmds[i + (j < m ? j : 0)];
            uint32_t oo = (uint32_t)((s->b[0].off - lo) / 4) + s->params[0];
            uint32_t wo = s->params[2], N = j < m ? s->params[3] : 0;
            c.b[2 + j] = j < m ? s->b[2] : dummy_binding(x);
            uint32_t *slot = j == 0 ? &c.params[0] : j == 1 ? &c.params[8] : &c.params[12];
            if (j == 0) {
                c.params[0] = oo, c.params[2] = wo, c.params[3] = N;
            } else {
                slot[0] = oo, slot[1] = wo, slot[2] = N;
            }
            blocks += ((uint64_t)N + 7) / 8;
        }
        c.params[1] = cmds[i].params[1];
        c.params[4] = cmds[i].params[4];
        c.params[5] = cmds[i].params[5];
        c.params[6] = cmds[i].params[6];
        c.params[7] = cmds[i].params[7] & 1u;
        c.params[15] = (uint32_t)m;
        uint64_t n_rows = cmds[i].params[5], tiles = (n_rows + cmds[i].R - 1) / cmds[i].R, n_wg = blocks * tiles;
        uint64_t maxd = x->limits.maxComputeWorkgroupsPerDimension ? x->limits.maxComputeWorkgroupsPerDimension : 65535;
        c.gx = (uint32_t)(n_wg < maxd ? n_wg : maxd);
        c.gy = (uint32_t)((n_wg + c.gx - 1) / c.gx);
        c.tag = WG_TAG_MV3;
        /* one buffer's windows may not overlap (e.g. slices of a fused weight) */
        if (any_alias(x, &c)) {
            for (size_t j = 0; j < m; j++) cmds[o++] = cmds[i + j];
            i += m;
            continue;
        }
        cmds[o++] = c;
        x->counters.merged += m - 1;
        i += m;
    }
    return o;
}

/* A fuse_* function: whether dispatches a then b (consecutive) run as one,
 * and that one in *out. */
typedef bool (*pair_fuse)(grt_device *dev, const wg_cmd *a, const wg_cmd *b, wg_cmd *out);

/* One peephole pass: each pair of consecutive dispatches that fuse() joins
 * becomes the joined one; everything else stays, in order. */
static size_t merge_pairs(grt_device *dev, wg_cmd *cmds, size_t n, pair_fuse fuse) {
    wg_ctx *x = wg_ctx_of(dev);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        wg_cmd c;
        if (i + 1 < n && cmds[i].kind == WG_CMD_DISPATCH && cmds[i + 1].kind == WG_CMD_DISPATCH &&
            fuse(dev, &cmds[i], &cmds[i + 1], &c)) {
            x->counters.chains += c.chain && !cmds[i].chain;
            cmds[o++] = c;
            x->counters.merged++;
            i++; /* the second is consumed */
        } else {
            cmds[o++] = cmds[i];
        }
    }
    return o;
}

/* An rmsnorm right before the mv or mv3 that reads its output: one mv3 with NORM. */
static bool fuse_norm(grt_device *dev, const wg_cmd *nm, const wg_cmd *mv, wg_cmd *out) {
    wg_ctx *x = wg_ctx_of(dev);
    if (x->limits.maxStorageBuffersPerShaderStage < 7) return false;
    if (nm->tag != WG_TAG_NORM || (mv->tag != WG_TAG_MV && mv->tag != WG_TAG_MV3)) return false;
    const uint32_t *np = nm->params, *mp = mv->params;
    bool ok = nm->b[0].id == mv->b[1].id && nm->b[0].off == mv->b[1].off && nm->b[0].size == mv->b[1].size &&
              np[0] == mp[1] * 4 && np[3] == mp[4] && np[4] == mp[5] && np[1] % 4 == 0 && np[2] % 4 == 0 &&
              (mv->tag == WG_TAG_MV3 || (mp[9] == mp[3] && mp[10] == 0));
    WGPUComputePipeline pipe = ok ? get_pipe3(dev, SH_MV3, mv->wt, mv->R, 1) : NULL;
    if (!pipe) return false;
    wg_cmd c = *mv;
    if (mv->tag == WG_TAG_MV) { /* one segment in mv3's layout */
        c.b[3] = dummy_binding(x);
        c.b[4] = dummy_binding2(x);
        for (int k = 8; k < 16; k++) c.params[k] = 0;
        c.params[15] = 1;
        c.params[7] &= 1u;
    }
    c.pipe = pipe;
    c.nb = 7;
    c.b[1] = nm->b[1];
    c.b[5] = nm->b[2];
    c.b[6] = nm->b[0];
    c.params[1] = nm->params[1] / 4;
    c.params[16] = nm->params[2] / 4;
    c.params[17] = nm->params[0];
    c.params[24] = nm->params[24];
    c.tag = WG_TAG_NONE;
    if (any_alias(x, &c)) return false;
    *out = c;
    return true;
}

/* Two consecutive ropes of the same rows (q, then k) in one buffer: one
 * dispatch over both (rope.wgsl's second tensor). */
static bool fuse_rope(grt_device *dev, const wg_cmd *a, const wg_cmd *b, wg_cmd *out) {
    wg_ctx *x = wg_ctx_of(dev);
    bool ok = a->tag == WG_TAG_ROPE && b->tag == WG_TAG_ROPE && a->pipe == b->pipe && a->b[0].id == b->b[0].id &&
              a->params[2] == b->params[2] && a->params[3] == b->params[3];
    for (int k = 4; k < 10 && ok; k++) ok = a->params[k] == b->params[k];
    for (int k = 1; k < 3 && ok; k++)
        ok = a->b[k].id == b->b[k].id && a->b[k].off == b->b[k].off && a->b[k].size == b->b[k].size;
    if (!ok) return false;
    uint64_t lo = a->b[0].off < b->b[0].off ? a->b[0].off : b->b[0].off;
    uint64_t ea = a->b[0].off + a->b[0].size, eb = b->b[0].off + b->b[0].size;
    uint64_t hi = ea > eb ? ea : eb;
    wg_binding u = {a->b[0].id, a->b[0].b, lo, hi - lo};
    if (hi - lo > x->max_binding || overlapping(&u, &a->b[1]) || overlapping(&u, &a->b[2])) return false;
    wg_cmd c = *a;
    c.b[0] = u;
    c.params[0] = (uint32_t)((a->b[0].off - lo) / 4) + a->params[0];
    c.params[12] = (uint32_t)((b->b[0].off - lo) / 4) + b->params[0];
    c.params[13] = b->params[1];
    c.tag = WG_TAG_ROPE2;
    set_groups(x, &c, ((uint64_t)c.params[4] * (c.params[1] + c.params[13]) * (c.params[3] / 2) + 63) / 64);
    *out = c;
    return true;
}

/* A merged rope of q and k (rot_dim == head_dim) then the kv_store of that k
 * and of v (in the same buffer): one rope_kv dispatch. */
static bool fuse_rope_kv(grt_device *dev, const wg_cmd *ro, const wg_cmd *kv, wg_cmd *out) {
    wg_ctx *x = wg_ctx_of(dev);
    if (ro->tag != WG_TAG_ROPE2 || kv->tag != WG_TAG_KV) return false;
    const uint32_t *rp = ro->params, *kp = kv->params;
    const wg_binding *X = &ro->b[0], *Kr = &kv->b[2], *Vr = &kv->b[3];
    bool ok = rp[3] == rp[2] && rp[13] > 0 && kp[4] == rp[13] * rp[2] && kp[6] == rp[4] && kp[7] == rp[5] &&
              kp[8] == rp[6] && kp[9] == rp[9] && kv->b[4].id == ro->b[2].id && kv->b[4].off == ro->b[2].off &&
              kv->b[4].size == ro->b[2].size && Kr->id == X->id && Vr->id == X->id &&
              Kr->off + (uint64_t)kp[2] * 4 == X->off + (uint64_t)rp[12] * 4;
    uint64_t lo = X->off < Vr->off ? X->off : Vr->off;
    uint64_t hi = X->off + X->size > Vr->off + Vr->size ? X->off + X->size : Vr->off + Vr->size;
    if (!ok || hi - lo > x->max_binding) return false;
    wg_cmd c = *ro;
    c.pipe = get_pipe(dev, SH_ROPE_KV, kv->wt, 0);
    c.nb = 5;
    c.b[0] = (wg_binding){X->id, X->b, lo, hi - lo};
    c.b[3] = kv->b[0];
    c.b[4] = kv->wt ? dummy_window(x, 1) : kv->b[1];
    c.params[0] = (uint32_t)((X->off - lo) / 4) + rp[0];
    c.params[12] = (uint32_t)((X->off - lo) / 4) + rp[12];
    c.params[16] = kp[0];
    c.params[17] = kp[1];
    c.params[18] = (uint32_t)((Vr->off - lo) / 4) + kp[3];
    c.params[19] = kp[5];
    c.tag = WG_TAG_ROPE_KV;
    if (!c.pipe || any_alias(x, &c)) return false;
    *out = c;
    return true;
}

/* A rope_kv (rot_dim == head_dim) then the attn_dec of that q over those
 * caches: one attn_dec with ROPE (see attn_dec.wgsl). */
static bool fuse_attn_rope(grt_device *dev, const wg_cmd *ro, const wg_cmd *at, wg_cmd *out) {
    wg_ctx *x = wg_ctx_of(dev);
    if (ro->tag != WG_TAG_ROPE_KV || at->tag != WG_TAG_ATTN_DEC) return false;
    const uint32_t *rp = ro->params, *ap = at->params;
    const wg_binding *X = &ro->b[0];
    /* same q (absolute), heads, head_dim, rows, state, caches (absolute) */
    bool ok = at->b[1].id == X->id && at->b[1].off + (uint64_t)ap[1] * 4 == X->off + (uint64_t)rp[0] * 4 &&
              rp[1] == ap[8] && rp[13] == ap[9] && rp[2] == ap[10] && rp[4] == ap[4] && rp[5] == ap[5] &&
              rp[6] == ap[6] && rp[19] == ap[11] && ro->b[2].id == at->b[4].id &&
              ro->b[2].off + (uint64_t)rp[9] * 4 == at->b[4].off + (uint64_t)ap[7] * 4 &&
              ro->b[3].id == at->b[2].id && ro->b[3].off + (uint64_t)rp[16] * 4 == at->b[2].off + (uint64_t)ap[2] * 16 &&
              at->cfg[0] == (uint32_t)is_dummy(x, &ro->b[4]);
    if (ok && !at->cfg[0])
        ok = ro->b[4].id == at->b[3].id && ro->b[4].off + (uint64_t)rp[17] * 4 == at->b[3].off + (uint64_t)ap[3] * 16;
    if (ok && at->cfg[0]) ok = ro->b[3].off + (uint64_t)rp[17] * 4 == at->b[2].off + (uint64_t)ap[3] * 16;
    if (!ok) return false;
    uint32_t v[7] = {at->cfg[0], at->cfg[1], at->cfg[2], 1, 0, 0, 0};
    wg_cmd c = *at;
    c.pipe = get_pipe_v(dev, SH_ATTN_DEC, v);
    c.b[1] = *X;
    c.b[6] = ro->b[1];
    c.params[1] = rp[0];
    c.params[16] = rp[12];
    c.params[17] = rp[18];
    c.params[18] = rp[8];
    c.params[19] = rp[7];
    c.cfg[3] = 1;
    if (!c.pipe || any_alias(x, &c)) return false;
    *out = c;
    return true;
}

/* Consecutive single mvx dispatches sharing their input (q, k, v; gate, up): one
 * dispatch with up to three segments. */
static size_t merge_mvx3(grt_device *dev, wg_cmd *cmds, size_t n) {
    wg_ctx *x = wg_ctx_of(dev);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t m = 1;
        const wg_cmd *a = &cmds[i];
        while (m < 3 && i + m < n) {
            const wg_cmd *b = &cmds[i + m];
            const uint32_t *p = a->params, *q = b->params;
            bool ok = a->kind == WG_CMD_DISPATCH && b->kind == WG_CMD_DISPATCH && a->tag == WG_TAG_MVX &&
                      b->tag == WG_TAG_MVX && a->pipe == b->pipe && p[15] == 1 && q[15] == 1 &&
                      a->b[1].id == b->b[1].id && a->b[1].off == b->b[1].off && a->b[1].size == b->b[1].size &&
                      p[1] == q[1] && p[4] == q[4] && p[6] == q[6] && p[7] == q[7] && a->b[0].id == b->b[0].id;
            if (!ok) break;
            m++;
        }
        uint64_t lo, hi;
        bool ok = out_window(x, &cmds[i], m, &lo, &hi) && m > 1;
        wg_cmd c = cmds[i];
        if (ok) {
            c.b[0] = (wg_binding){cmds[i].b[0].id, cmds[i].b[0].b, lo, hi - lo};
            uint32_t Ns[3] = {0, 0, 0};
            for (size_t j = 0; j < 3; j++) {
                const wg_cmd *sc = &cmds[i + j];
                uint32_t oo = j < m ? (uint32_t)((sc->b[0].off - lo) / 4) + sc->params[0] : 0;
                uint32_t wo = j < m ? sc->params[2] : 0;
                Ns[j] = j < m ? sc->params[3] : 0;
                c.b[2 + j] = j < m ? sc->b[2] : dummy_window(x, (int)j);
                uint32_t *slot = j == 0 ? &c.params[0] : j == 1 ? &c.params[8] : &c.params[12];
                if (j == 0) {
                    c.params[0] = oo, c.params[2] = wo, c.params[3] = Ns[0];
                } else {
                    slot[0] = oo, slot[1] = wo, slot[2] = Ns[j];
                }
            }
            c.params[11] = 0;
            c.params[15] = (uint32_t)m;
            set_groups(x, &c, mvx_groups(c.cfg, Ns));
            ok = !any_alias(x, &c);
        }
        if (!ok) {
            for (size_t j = 0; j < m; j++) cmds[o++] = cmds[i + j];
            i += m;
            continue;
        }
        cmds[o++] = c;
        x->counters.merged += m - 1;
        i += m;
    }
    return o;
}

/* An rmsnorm (one row) right before the mvx that reads its output: the norm
 * folded into the mvx (NORM). */
static bool fuse_norm_x(grt_device *dev, const wg_cmd *nm, const wg_cmd *mv, wg_cmd *out) {
    wg_ctx *x = wg_ctx_of(dev);
    if (nm->tag != WG_TAG_NORM || mv->tag != WG_TAG_MVX || mv->cfg[4] != 0) return false;
    const uint32_t *np = nm->params, *mp = mv->params;
    bool ok = nm->b[0].id == mv->b[1].id && nm->b[0].off == mv->b[1].off && nm->b[0].size == mv->b[1].size &&
              np[0] == mp[1] * 4 && np[3] == mp[4] && np[4] == 1 && np[1] % 4 == 0 && np[2] % 4 == 0;
    /* every workgroup sums the row's K squares again: worth a dispatch only
     * while workgroups x K is small (norm_max_work) */
    if (!ok || (uint64_t)mv->gx * mv->gy * np[3] > norm_max_work()) return false;
    wg_cmd c = *mv;
    c.cfg[4] = 1;
    c.pipe = mvx_pipe(dev, c.cfg);
    c.b[1] = nm->b[1];
    c.b[5] = nm->b[2];
    c.b[6] = nm->b[0];
    c.params[1] = nm->params[1] / 4;
    c.params[16] = nm->params[2] / 4;
    c.params[17] = nm->params[0];
    c.params[24] = nm->params[24];
    if (!c.pipe || any_alias(x, &c)) return false;
    *out = c;
    return true;
}

/* An mvx of two segments of n rows each (gate, up; not accumulating) then a
 * glu writing act(gate) * up over the gate: the glu as the mvx's epilogue. */
static bool fuse_glu_x(grt_device *dev, const wg_cmd *mv, const wg_cmd *gl, wg_cmd *out) {
    wg_ctx *x = wg_ctx_of(dev);
    if (mv->tag != WG_TAG_MVX || gl->tag != WG_TAG_GLU || gl->R != 1 || mv->cfg[5] != 0) return false;
    const uint32_t *mp = mv->params, *gp = gl->params;
    bool ok = mp[15] == 2 && (mp[7] & 3u) == 0 && mp[3] == mp[10] && gp[3] == mp[3] && gl->b[0].id == mv->b[0].id &&
              gl->b[0].off + (uint64_t)gp[0] * 4 == mv->b[0].off + (uint64_t)mp[0] * 4 && gl->b[2].id == mv->b[0].id &&
              gl->b[2].off + (uint64_t)gp[2] * 4 == mv->b[0].off + (uint64_t)mp[8] * 4;
    if (!ok) return false;
    wg_cmd c = *mv;
    c.cfg[5] = gl->wt + 1;
    if (256 / c.cfg[1] * c.cfg[2] < 2) c.cfg[2] = 2;
    c.pipe = mvx_pipe(dev, c.cfg);
    uint32_t Ns[3] = {mv->params[3], 0, 0};
    set_groups(x, &c, mvx_groups(c.cfg, Ns));
    c.tag = WG_TAG_MVX; /* (GLU set: only fuse_mvx3 takes it further) */
    if (!c.pipe) return false;
    *out = c;
    return true;
}

/* Chain kernels (attn_o, mvx2, mvx3): at most this many workgroups wait (more
 * would not all overlap the first kernel, and a large matvec in a chain
 * loses occupancy: Llama-1B's output projection ran slower so on the H100). */
static uint64_t chain_max_wg(void) {
    const char *e = getenv("GENRT_WEBGPU_CHAIN_MAX_WG");
    return e ? strtoull(e, NULL, 10) : 256;
}

/* An attn_dec of one row then the mvx of the output projection over its
 * output (float weights or QS, one segment, U 1; no norm, GLU or bias): one
 * attn_o dispatch (attn_o.wgsl), the attention's workgroups and then the
 * mvx's (any weight type, STAGE off), the latter waiting on the former's counter. x, q, k, v and the attention's
 * output are bound as one window of their buffer. */
static bool fuse_attn_o(grt_device *dev, const wg_cmd *at, const wg_cmd *mv, wg_cmd *out) {
    wg_ctx *x = wg_ctx_of(dev);
    if (at->tag != WG_TAG_ATTN_DEC || mv->tag != WG_TAG_MVX) return false;
    const uint32_t *ap = at->params, *mp = mv->params;
    const wg_binding *O = &at->b[0], *Q = &at->b[1], *X = &mv->b[0], *In = &mv->b[1];
    /* attn_dec's units (row, KV head, head group), each with one writer */
    uint64_t groups = (uint64_t)ap[4] * ap[9], units = groups * (ap[20] ? ap[20] : 1);
    bool ok = mv->cfg[6] == 0 && mv->cfg[2] <= 8 && mv->cfg[3] <= 2 && mv->cfg[4] == 0 &&
              mv->cfg[5] == 0 && mp[15] == 1 && (mp[7] & 2u) == 0 && ap[4] == 1 &&
              units + groups <= WG_ATT_COUNTERS - WG_CHAIN_COUNTERS &&
              In->id == O->id && In->off + (uint64_t)mp[1] * 16 == O->off + (uint64_t)ap[0] * 4 &&
              mp[4] == ap[8] * ap[10] && mp[4] <= 2048 && Q->id == O->id && X->id == O->id;
    /* attn_dec's workgroup memory, the staged input and the rest */
    uint64_t G = at->cfg[2], hd = at->cfg[1] * 4;
    uint64_t wg_bytes = (G + 2) * hd * 4 + G * 64 * 4 * 2 + 2048 * 4 + 3 * 8 * 4 + 8 + 2048 * 4 + 32;
    if (!ok || wg_bytes > x->limits.maxComputeWorkgroupStorageSize) return false;
    uint64_t lo = O->off, hi = O->off + O->size;
    const wg_binding *w3[3] = {O, Q, X};
    for (int i = 0; i < 3; i++) {
        if (w3[i]->off < lo) lo = w3[i]->off;
        if (w3[i]->off + w3[i]->size > hi) hi = w3[i]->off + w3[i]->size;
    }
    if (hi - lo > x->max_binding) return false;
    uint32_t v[7] = {at->cfg[0], at->cfg[1], at->cfg[2], at->cfg[3], mv->cfg[0], mv->cfg[1], mv->cfg[2]};
    wg_cmd c = *at;
    c.pipe = get_pipe_v(dev, SH_ATTN_O, v);
    c.nb = 7;
    c.b[0] = (wg_binding){O->id, O->b, lo, hi - lo};
    c.b[1] = mv->b[2]; /* b[2..6]: the attention's KC, VC, S, PT, F */
    memset(c.params, 0, sizeof c.params);
    uint32_t *p1 = c.params + WG_PARAM_WORDS, *p2 = c.params + 2 * WG_PARAM_WORDS, *cx = c.params + 3 * WG_PARAM_WORDS;
    uint32_t qd = (uint32_t)((Q->off - lo) / 4);
    memcpy(p1, ap, WG_PARAM_WORDS * 4);
    p1[0] = (uint32_t)((O->off - lo) / 4) + ap[0];
    p1[1] = qd + ap[1];
    if (at->cfg[3]) p1[16] += qd, p1[17] += qd; /* the new k and v */
    memcpy(p2, mp, WG_PARAM_WORDS * 4);
    p2[0] = (uint32_t)((X->off - lo) / 4) + mp[0];
    p2[1] = 0;                                                /* the input, staged */
    p2[20] = (uint32_t)((In->off - lo) / 4) + mp[1] * 4;     /* from here in A */
    uint32_t Ns[3] = {mp[3], 0, 0};
    uint64_t nA = units * ap[13], nM = mvx_groups(mv->cfg, Ns);
    if (nM > chain_max_wg()) return false;
    cx[0] = (uint32_t)nA;
    cx[1] = (uint32_t)nM;
    cx[2] = WG_ATT_COUNTERS - 3; /* (x.z .. x.z + 2) */
    cx[3] = (uint32_t)units;
    set_groups(x, &c, nA + nM);
    c.tag = WG_TAG_ATTN_O;
    c.chain = true;
    if (!c.pipe || any_alias(x, &c)) return false;
    *out = c;
    return true;
}

/* An attn_o (KV caches in one buffer) then the rmsnorm (one row, dim <=
 * 4096) of the row its projection wrote: the rmsnorm as the attn_o's tail
 * (its last mvx workgroup; the weights at binding 4, unused with one KV
 * buffer). The activation window grows to cover the norm's output. */
static bool fuse_o_norm(grt_device *dev, const wg_cmd *ao, const wg_cmd *nm, wg_cmd *out) {
    wg_ctx *x = wg_ctx_of(dev);
    if (ao->tag != WG_TAG_ATTN_O || nm->tag != WG_TAG_NORM || !is_dummy(x, &ao->b[3])) return false;
    const uint32_t *np = nm->params, *p2 = ao->params + 2 * WG_PARAM_WORDS;
    const wg_binding *A = &ao->b[0], *Xo = &nm->b[0], *Xi = &nm->b[1];
    bool ok = np[4] == 1 && np[3] <= 4096 && np[3] == p2[3] && Xi->id == A->id && Xo->id == A->id &&
              Xi->off + (uint64_t)np[1] * 4 == A->off + (uint64_t)p2[0] * 4;
    uint64_t lo = A->off < Xo->off ? A->off : Xo->off;
    uint64_t hi = A->off + A->size > Xo->off + Xo->size ? A->off + A->size : Xo->off + Xo->size;
    if (!ok || hi - lo > x->max_binding) return false;
    wg_cmd c = *ao;
    uint32_t d = (uint32_t)((A->off - lo) / 4); /* A's start moves back d floats */
    uint32_t *p0 = c.params, *p1 = c.params + WG_PARAM_WORDS, *q2 = c.params + 2 * WG_PARAM_WORDS;
    p1[0] += d, p1[1] += d;
    if (ao->cfg[3]) p1[16] += d, p1[17] += d;
    q2[0] += d, q2[20] += d;
    memset(p0, 0, 20 * 4); /* (g: the chain's switches) */
    p0[0] = (uint32_t)((Xo->off - lo) / 4) + np[0];
    p0[1] = (uint32_t)((Xi->off - lo) / 4) + np[1];
    p0[2] = np[2];
    p0[3] = np[3];
    p0[4] = 1;
    p0[24] = np[24];
    c.b[0] = (wg_binding){A->id, A->b, lo, hi - lo};
    c.b[3] = nm->b[2];
    c.tag = WG_TAG_NONE;
    if (any_alias(x, &c)) return false;
    *out = c;
    return true;
}

/* Whether mvx dispatch c can be a chain instance: any weight type, not
 * staged through workgroup memory (STAGE: the chains' wsh is a stub), U <=
 * 2, no GLU or bias, K <= 2048 (its input staged in workgroup memory). */
static bool chain_mvx_ok(const wg_cmd *c) {
    return c->tag == WG_TAG_MVX && c->cfg[6] == 0 && c->cfg[2] <= 8 && c->cfg[3] <= 2 &&
           c->cfg[5] == 0 && (c->params[7] & 2u) == 0 && c->params[4] <= 2048;
}

/* The union [lo, hi) of n windows of one buffer (false: another buffer). */
static bool chain_window(const wg_binding *const *w, int n, uint64_t *lo, uint64_t *hi) {
    *lo = w[0]->off, *hi = w[0]->off + w[0]->size;
    for (int i = 0; i < n; i++) {
        if (w[i]->id != w[0]->id) return false;
        if (w[i]->off < *lo) *lo = w[i]->off;
        if (w[i]->off + w[i]->size > *hi) *hi = w[i]->off + w[i]->size;
    }
    return true;
}

/* Chain instance arguments p: mvx dispatch m's, with its outputs (and the
 * norm's output row) rebased onto the activation window at byte lo of their
 * buffer, its input staged from there (a.y 0, g.x its offset). */
static void chain_instance(uint32_t *p, const wg_cmd *m, uint64_t lo) {
    uint32_t d = (uint32_t)((m->b[0].off - lo) / 4);
    memcpy(p, m->params, WG_PARAM_WORDS * 4);
    p[0] += d, p[8] += d, p[12] += d;
    p[1] = 0;
    p[20] = (uint32_t)((m->b[1].off - lo) / 4) + m->params[1] * 4;
    if (m->cfg[4]) p[17] += (uint32_t)((m->b[6].off - lo) / 4);
}

/* Two consecutive mvx dispatches (one segment, no norm; then up to three
 * segments, maybe with the norm folded in: a down projection and the next
 * layer's q/k/v), their activations in one buffer: one mvx2 dispatch
 * (mvx2.wgsl), the second's workgroups waiting on the first's counter. */
static bool fuse_mvx2(grt_device *dev, const wg_cmd *a, const wg_cmd *b, wg_cmd *out) {
    wg_ctx *x = wg_ctx_of(dev);
    if (!chain_mvx_ok(a) || !chain_mvx_ok(b) || a->cfg[4] || a->params[15] != 1 || !x->att_dec.b) return false;
    const uint32_t *ap = a->params, *bp = b->params;
    bool norm = b->cfg[4] != 0;
    const wg_binding *w[5] = {&a->b[0], &a->b[1], &b->b[0], &b->b[1], norm ? &b->b[6] : &b->b[0]};
    uint64_t lo, hi, wg_bytes = 2 * 2048 * 4 + 64;
    if (!chain_window(w, 5, &lo, &hi) || hi - lo > x->max_binding ||
        wg_bytes > x->limits.maxComputeWorkgroupStorageSize)
        return false;
    uint32_t Na[3] = {ap[3], 0, 0}, Nb[3] = {bp[3], bp[15] > 1 ? bp[10] : 0, bp[15] > 2 ? bp[14] : 0};
    uint64_t nA = mvx_groups(a->cfg, Na), nB = mvx_groups(b->cfg, Nb);
    if (nB > chain_max_wg()) return false;
    uint32_t v[7] = {a->cfg[0], a->cfg[1], a->cfg[2], b->cfg[0], b->cfg[1], b->cfg[2], norm};
    wg_cmd c = *b;
    c.pipe = get_pipe_v(dev, SH_MVX2, v);
    c.nb = 7;
    c.b[0] = (wg_binding){w[0]->id, w[0]->b, lo, hi - lo};
    c.b[1] = a->b[2];
    /* b[2..4]: the second's weights; b[5]: its norm weights (or a placeholder) */
    c.b[6] = (wg_binding){x->att_dec.id, x->att_dec.b, 0, x->att_dec.size};
    memset(c.params, 0, sizeof c.params);
    uint32_t *p1 = c.params + WG_PARAM_WORDS, *p2 = c.params + 2 * WG_PARAM_WORDS;
    uint32_t *cx = c.params + 3 * WG_PARAM_WORDS;
    chain_instance(p1, a, lo);
    chain_instance(p2, b, lo);
    cx[0] = (uint32_t)nA;
    cx[1] = (uint32_t)nB;
    cx[2] = WG_ATT_COUNTERS - 5; /* (x.z, x.z + 1) */
    cx[3] = step_form(1) == 2;
    set_groups(x, &c, nA + nB);
    c.tag = WG_TAG_NONE;
    c.chain = true;
    if (!c.pipe || any_alias(x, &c)) return false;
    *out = c;
    return true;
}

/* mvx3's override constants for a gate/up mvx configuration ca (GLU and
 * NORM set) of Na rows, a down one cb of Nb rows and a q/k/v one cc (NORM
 * set): the gate/up and the down take more rows a workgroup while they have
 * more than chain_max_wg() workgroups (the sums depend on T only). From the
 * weights alone, so that a prefill can create the pipeline a captured step
 * will use. Not for QS rows (WTYPE >= 8): three instances of the unrolled
 * superblock code took lavapipe's LLVM over a minute to compile. */
static void mvx3_vals(const uint32_t ca[7], uint32_t Na, const uint32_t cb[7], uint32_t Nb, const uint32_t cc[7],
                      uint32_t v[12]) {
    uint32_t a[7], b[7], na[3] = {Na, 0, 0}, nb[3] = {Nb, 0, 0};
    memcpy(a, ca, sizeof a), memcpy(b, cb, sizeof b);
    b[4] = b[5] = 0;
    uint64_t cap = chain_max_wg();
    while (mvx_groups(a, na) > cap && a[2] < 8) a[2] *= 2;
    while (mvx_groups(b, nb) > cap && b[2] < 8) b[2] *= 2;
    uint32_t w[12] = {a[0], a[1], a[2], a[5], a[4], b[0], b[1], b[2], cc[0], cc[1], cc[2], cc[4]};
    memcpy(v, w, sizeof w);
}

/* A layer's gate/up (an mvx with the GLU epilogue, maybe the norm folded
 * in), its down projection (one segment, no norm) and the next layer's
 * q/k/v (maybe the norm folded in), consecutive, their activations in one
 * buffer: one mvx3 dispatch (mvx3.wgsl), the down's workgroups waiting on
 * the gate/up's, the q/k/v's on the down's. Waiting stages of more than
 * chain_max_wg() workgroups take more rows a workgroup (the sums do not
 * change: they depend on T only). Needs an adapter with WG_MAX_BIND storage
 * bindings (pl_chain[1]) and GENRT_WEBGPU_STEP's bar form 2. */
static bool fuse_mvx3(grt_device *dev, const wg_cmd *a, const wg_cmd *b, const wg_cmd *c3, wg_cmd *out) {
    wg_ctx *x = wg_ctx_of(dev);
    if (!x->pl_chain[1] || !x->att_dec.b || step_form(1) != 2) return false;
    bool a_ok = a->tag == WG_TAG_MVX && a->cfg[6] == 0 && a->cfg[2] <= 8 && a->cfg[3] <= 2 && a->cfg[5] != 0 &&
                (a->params[7] & 3u) == 0 && a->params[4] <= 2048;
    if (!a_ok || !chain_mvx_ok(b) || !chain_mvx_ok(c3) || b->cfg[4] || b->params[15] != 1) return false;
    if (a->cfg[0] >= 8 || b->cfg[0] >= 8 || c3->cfg[0] >= 8) return false; /* no QS: see mvx3_vals */
    const uint32_t *ap = a->params, *bp = b->params, *cp = c3->params;
    bool na = a->cfg[4] != 0, nc = c3->cfg[4] != 0;
    const wg_binding *w[8] = {&a->b[0], &a->b[1], &b->b[0], &b->b[1], &c3->b[0], &c3->b[1], na ? &a->b[6] : &a->b[0],
                              nc ? &c3->b[6] : &c3->b[0]};
    uint64_t lo, hi, wg_bytes = 2 * 2048 * 4 + 64;
    if (!chain_window(w, 8, &lo, &hi) || hi - lo > x->max_binding ||
        wg_bytes > x->limits.maxComputeWorkgroupStorageSize)
        return false;
    uint32_t v[12];
    mvx3_vals(a->cfg, ap[3], b->cfg, bp[3], c3->cfg, v);
    uint32_t ca[7] = {v[0], v[1], v[2], 0, na, v[3], 0}, cb[7] = {v[5], v[6], v[7], 0, 0, 0, 0};
    uint32_t Na[3] = {ap[3], 0, 0}, Nb[3] = {bp[3], 0, 0},
             Nc[3] = {cp[3], cp[15] > 1 ? cp[10] : 0, cp[15] > 2 ? cp[14] : 0};
    uint64_t nA = mvx_groups(ca, Na), nB = mvx_groups(cb, Nb), nC = mvx_groups(c3->cfg, Nc);
    if (nB > chain_max_wg() || nC > chain_max_wg()) return false;
    wg_cmd c = *c3;
    c.pipe = get_pipe_n(dev, SH_MVX3, v, 12);
    c.nb = WG_MAX_BIND;
    c.b[0] = (wg_binding){w[0]->id, w[0]->b, lo, hi - lo};
    c.b[1] = a->b[2], c.b[2] = a->b[3], c.b[3] = a->b[5]; /* gate, up, their norm weights */
    c.b[4] = b->b[2];                                     /* down */
    c.b[5] = c3->b[2], c.b[6] = c3->b[3], c.b[7] = c3->b[4], c.b[8] = c3->b[5]; /* q, k, v, norm weights */
    c.b[9] = (wg_binding){x->att_dec.id, x->att_dec.b, 0, x->att_dec.size};
    /* placeholders: windows of their own (never one bound twice) */
    for (int i = 1, k = 1; i < 9; i++)
        if (is_dummy(x, &c.b[i])) c.b[i] = dummy_window(x, k++);
    memset(c.params, 0, sizeof c.params);
    uint32_t *p1 = c.params, *p2 = c.params + WG_PARAM_WORDS, *p3 = c.params + 2 * WG_PARAM_WORDS;
    uint32_t *cx = c.params + 3 * WG_PARAM_WORDS;
    chain_instance(p1, a, lo); /* (a.x: act(gate) * up, c.x: up) */
    chain_instance(p2, b, lo);
    chain_instance(p3, c3, lo);
    cx[0] = (uint32_t)nA;
    cx[1] = (uint32_t)nB;
    cx[2] = (uint32_t)nC;
    cx[3] = WG_ATT_COUNTERS - 9; /* (x.w .. x.w + 3) */
    set_groups(x, &c, nA + nB + nC);
    c.tag = WG_TAG_NONE;
    c.chain = true;
    if (!c.pipe || any_alias(x, &c)) return false;
    *out = c;
    return true;
}

/* One pass: each gate/up, down, q/k/v run fuse_mvx3 joins becomes one mvx3. */
static size_t merge_chain3(grt_device *dev, wg_cmd *cmds, size_t n) {
    wg_ctx *x = wg_ctx_of(dev);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        wg_cmd c;
        if (i + 2 < n && cmds[i].kind == WG_CMD_DISPATCH && cmds[i + 1].kind == WG_CMD_DISPATCH &&
            cmds[i + 2].kind == WG_CMD_DISPATCH && fuse_mvx3(dev, &cmds[i], &cmds[i + 1], &cmds[i + 2], &c)) {
            cmds[o++] = c;
            x->counters.chains++;
            x->counters.chains3++;
            x->counters.merged += 2;
            i += 2; /* the second and third are consumed */
        } else {
            cmds[o++] = cmds[i];
        }
    }
    return o;
}

size_t wg_merge_mv(grt_device *dev, wg_cmd *cmds, size_t n) {
    if (getenv("GENRT_WEBGPU_NO_MERGE")) return n;
    wg_ctx *x = wg_ctx_of(dev);
    n = merge_pairs(dev, cmds, n, fuse_rope);
    if (!getenv("GENRT_WEBGPU_NO_ROPE_KV_MERGE")) n = merge_pairs(dev, cmds, n, fuse_rope_kv);
    if (!getenv("GENRT_WEBGPU_NO_ATTN_ROPE_MERGE")) n = merge_pairs(dev, cmds, n, fuse_attn_rope);
    n = merge_mv3(dev, cmds, n);
    n = merge_mvx3(dev, cmds, n);
    if (!getenv("GENRT_WEBGPU_NO_NORM_MERGE")) {
        n = merge_pairs(dev, cmds, n, fuse_norm);
        n = merge_pairs(dev, cmds, n, fuse_norm_x);
    }
    if (!getenv("GENRT_WEBGPU_NO_GLU_MERGE")) n = merge_pairs(dev, cmds, n, fuse_glu_x);
    if (x->chains_on && !getenv("GENRT_WEBGPU_NO_ATTN_O_MERGE")) {
        n = merge_pairs(dev, cmds, n, fuse_attn_o);
        if (!getenv("GENRT_WEBGPU_NO_O_NORM_MERGE")) n = merge_pairs(dev, cmds, n, fuse_o_norm);
    }
    if (x->chains_on && !getenv("GENRT_WEBGPU_NO_MVX3_MERGE")) n = merge_chain3(dev, cmds, n);
    if (x->chains_on && !getenv("GENRT_WEBGPU_NO_MVX2_MERGE")) n = merge_pairs(dev, cmds, n, fuse_mvx2);
    return n;
}
