/* The WebGPU backend (Dawn through the standard webgpu.h C API, loaded at
 * run time). Library search order: $GENRT_WEBGPU_LIB, then
 * .deps/webgpu/libwebgpu_wrapper.so in the repository holding the executable
 * (or the working directory), then libwebgpu_wrapper.so on the loader path.
 * When no Vulkan driver is configured (VK_ICD_FILENAMES / VK_DRIVER_FILES
 * unset, no NVIDIA driver) and scripts/setup_webgpu.sh unpacked Mesa's
 * lavapipe into .deps/lavapipe, the backend points Vulkan at it;
 * GENRT_WEBGPU_LAVAPIPE=0 turns that off. Dawn's Null adapter counts as no
 * adapter.
 *
 * Other environment switches: GENRT_WEBGPU_SKIP_VALIDATION=1 (Dawn skips
 * validation: less host time per dispatch), GENRT_WEBGPU_SAFE=1 (keep Dawn's
 * robustness and workgroup zeroing), GENRT_WEBGPU_NO_TIMESTAMPS=1 (device
 * timestamps are then never written; otherwise they are written while a
 * trace runs, or always with GENRT_WEBGPU_TIMESTAMPS=1),
 * GENRT_WEBGPU_F16=1 (f16 arithmetic, see grt_webgpu_features),
 * GENRT_WEBGPU_MAX_BINDING=BYTES (a lower storage binding limit: weights and
 * tables are then bound in parts), GENRT_WEBGPU_NO_CAPTURE=1; and, to compare
 * kernels, GENRT_WEBGPU_PLAIN_MATMUL / _PLAIN_ATTENTION / _PLAIN_SAMPLE /
 * _UNSTAGED / _NO_MERGE=1 select the simpler paths; GENRT_WEBGPU_OLD_MV=1 the
 * matvec kernels before mvx (decode), GENRT_WEBGPU_OLD_ATTN=1 the decode
 * attention before attn_dec (two dispatches per head),
 * GENRT_WEBGPU_MVX=T,RPW,U,STAGE,QS,QS_MIN_WORK an mvx variant (QS 2: Q8_0 /
 * Q4_0 rows not read as superblocks; QS_MIN_WORK: superblocks a matrix needs
 * for that path, default 4096; see mvx_qs), GENRT_WEBGPU_ATTN_DEC=heads,keys,sg the decode attention's query
 * heads per workgroup (8: all of a KV head's, the form before head groups),
 * shortest key split and subgroup reductions (2: off), see attn_dec_cfg;
 * GENRT_WEBGPU_STEP=merge,bar the decode step's short-path forms (1: the
 * form before, 2: the new; attn_dec's split merge in registers, one barrier
 * before a counter), see step_form;
 * GENRT_WEBGPU_NO_GLU_MERGE / _NO_ROPE_KV_MERGE / _NO_ATTN_ROPE_MERGE /
 * _NO_NORM_MERGE / _NO_ATTN_O_MERGE / _NO_O_NORM_MERGE / _NO_MVX3_MERGE /
 * _NO_MVX2_MERGE=1 turn one capture merge off (the last four: the chain
 * kernels, attn_o.wgsl, mvx3.wgsl (gate/up, down and the next q/k/v; on
 * adapters that allow 10 storage buffers a kernel) and mvx2.wgsl (down and
 * the next q/k/v), whose later kernels' workgroups wait on the earlier's, which
 * needs workgroups started in index order: WebGPU does not promise it, so
 * they run only on NVIDIA and llvmpipe adapters unless GENRT_WEBGPU_CHAINS=1,
 * and GENRT_WEBGPU_CHAINS=0 turns them off everywhere;
 * GENRT_WEBGPU_CHAIN_MAX_WG=N: at most N waiting workgroups a stage (mvx3 also
 * caps its gate/up so), default 256);
 * GENRT_WEBGPU_DUMP_GRAPH=1 prints each captured
 * step's dispatch list (and the adapter's limits, each pipeline's creation time); GENRT_WEBGPU_GRAPH_SKIP=kernel leaves that kernel's
 * dispatches out of replays (wrong results: timing diagnosis only); GENRT_WEBGPU_NORM_MAX_WORK=N folds an rmsnorm
 * into the mvx reading it while workgroups x K <= N (default 500000);
 * GENRT_WEBGPU_NO_SUBGROUPS=1 keeps the reductions off subgroups;
 * GENRT_WEBGPU_MVBENCH (test_webgpu) times matvec variants. */
#ifndef GRT_WEBGPU_H
#define GRT_WEBGPU_H

#include <stdbool.h>
#include <stdint.h>

#include "device/device.h"

grt_status grt_webgpu_device_open(const grt_device_options *opts, grt_device **out);

/* Whether a real adapter can be had (cached after the first call); *why is
 * the reason when not. */
bool grt_webgpu_available(const char **why);

/* Objects the backend created since the device opened (tests check that
 * decoding creates none after warm-up). */
typedef struct grt_webgpu_counters {
    uint64_t buffers, bind_groups, pipelines;
    uint64_t submits, dispatches, bytes_mapped;
    uint64_t merged;      /* captured dispatches merged into others */
    uint64_t chains;      /* captured dispatches that became chain kernels (attn_o, mvx2, mvx3) */
    uint64_t chains3;     /* of those, three-stage ones (mvx3) */
} grt_webgpu_counters;

/* false when dev is not a WebGPU device. */
bool grt_webgpu_get_counters(grt_device *dev, grt_webgpu_counters *out);
/* "adapter (backend)" of a WebGPU device, or NULL. */
const char *grt_webgpu_adapter_name(grt_device *dev);
/* Adapter features in use: "timestamp-query" (device spans in traces,
 * recorded while a trace runs or with GENRT_WEBGPU_TIMESTAMPS=1;
 * GENRT_WEBGPU_NO_TIMESTAMPS=1 turns it off), "shader-f16" (f16 arithmetic
 * on request), "subgroups" (requested when the adapter has it: the
 * reductions of rmsnorm, the decode matvec (mvx) and greedy argmax then
 * butterfly inside subgroups; GENRT_WEBGPU_NO_SUBGROUPS=1 keeps the
 * workgroup-memory trees). */
typedef struct grt_webgpu_features {
    bool timestamps, shader_f16, subgroups;
    uint32_t subgroup_min;
    uint64_t max_binding;   /* storage binding size genrt uses */
    bool f16_math;          /* GENRT_WEBGPU_F16=1 with shader-f16: decode matvec of f16
                               weights in f16 arithmetic (activations rounded to f16) */
    bool subgroup_math;     /* the reductions use subgroups */
    uint32_t subgroup_cluster; /* lanes reduced per butterfly (1 without subgroups) */
    bool chains;            /* chain kernels allowed on this adapter (GENRT_WEBGPU_CHAINS) */
    bool chains3;           /* and the three-stage one (mvx3: 10 storage buffers a kernel) */
} grt_webgpu_features;
bool grt_webgpu_get_features(grt_device *dev, grt_webgpu_features *out);
/* Test hook: destroy the device underneath the backend, as a lost device. */
void grt_webgpu_lose_device(grt_device *dev);

#endif
