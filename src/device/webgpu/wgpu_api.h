/* The subset of the standard webgpu.h C API that the WebGPU backend uses,
 * declared here because Dawn's npm build (bun-webgpu-linux-x64@0.1.7) ships
 * no header. Layouts follow Dawn's webgpu.h of that build; the static
 * asserts pin the sizes and offsets the library was compiled with (read from
 * its debug info, see ../shared/probes/dawn/NOTES.md). x86-64 LP64 only.
 * Functions are resolved at run time (dlsym) into the wgpu_api table, so
 * genrt links and runs without the library. */
#ifndef GRT_WGPU_API_H
#define GRT_WGPU_API_H

#include <stddef.h>
#include <stdint.h>

typedef uint32_t WGPUBool;
typedef uint64_t WGPUFlags;

#define WGPU_STRLEN SIZE_MAX
#define WGPU_WHOLE_SIZE UINT64_MAX

typedef struct WGPUInstanceImpl *WGPUInstance;
typedef struct WGPUAdapterImpl *WGPUAdapter;
typedef struct WGPUDeviceImpl *WGPUDevice;
typedef struct WGPUQueueImpl *WGPUQueue;
typedef struct WGPUBufferImpl *WGPUBuffer;
typedef struct WGPUShaderModuleImpl *WGPUShaderModule;
typedef struct WGPUBindGroupLayoutImpl *WGPUBindGroupLayout;
typedef struct WGPUBindGroupImpl *WGPUBindGroup;
typedef struct WGPUPipelineLayoutImpl *WGPUPipelineLayout;
typedef struct WGPUComputePipelineImpl *WGPUComputePipeline;
typedef struct WGPUCommandEncoderImpl *WGPUCommandEncoder;
typedef struct WGPUComputePassEncoderImpl *WGPUComputePassEncoder;
typedef struct WGPUCommandBufferImpl *WGPUCommandBuffer;
typedef struct WGPUQuerySetImpl *WGPUQuerySet;

/* Every C enum of webgpu.h is 32 bits wide. */
typedef uint32_t WGPUSType, WGPUStatus, WGPUCallbackMode, WGPUWaitStatus, WGPUFeatureLevel,
    WGPUPowerPreference, WGPUBackendType, WGPUAdapterType, WGPURequestAdapterStatus,
    WGPURequestDeviceStatus, WGPUDeviceLostReason, WGPUErrorType, WGPUErrorFilter,
    WGPUPopErrorScopeStatus, WGPUMapAsyncStatus, WGPUQueueWorkDoneStatus, WGPUBufferBindingType,
    WGPUFeatureName, WGPUQueryType;
typedef WGPUFlags WGPUBufferUsage, WGPUShaderStage, WGPUMapMode;

enum { WGPUStatus_Success = 1 };
enum { WGPUSType_ShaderSourceWGSL = 2, WGPUSType_DawnTogglesDescriptor = 0x0005000A };
enum { WGPUCallbackMode_AllowProcessEvents = 2, WGPUCallbackMode_AllowSpontaneous = 3 };
enum { WGPUWaitStatus_Success = 1, WGPUWaitStatus_TimedOut = 2, WGPUWaitStatus_Error = 3 };
enum { WGPUFeatureLevel_Core = 2 };
enum { WGPUPowerPreference_HighPerformance = 2 };
enum { WGPUBackendType_Undefined = 0, WGPUBackendType_Null = 1, WGPUBackendType_Vulkan = 6,
       WGPUBackendType_OpenGL = 7, WGPUBackendType_OpenGLES = 8 };
enum { WGPUAdapterType_CPU = 3 };
enum { WGPURequestAdapterStatus_Success = 1 };
enum { WGPURequestDeviceStatus_Success = 1 };
enum { WGPUDeviceLostReason_Destroyed = 2, WGPUDeviceLostReason_CallbackCancelled = 3 };
enum { WGPUErrorType_NoError = 1, WGPUErrorType_Validation = 2, WGPUErrorType_OutOfMemory = 3 };
enum { WGPUErrorFilter_Validation = 1, WGPUErrorFilter_OutOfMemory = 2 };
enum { WGPUMapAsyncStatus_Success = 1 };
enum { WGPUQueueWorkDoneStatus_Success = 1 };
enum { WGPUBufferBindingType_Uniform = 2, WGPUBufferBindingType_Storage = 3 };
enum { WGPUQueryType_Timestamp = 2 };
#define WGPU_QUERY_SET_INDEX_UNDEFINED UINT32_MAX
enum { WGPUFeatureName_TimestampQuery = 3, WGPUFeatureName_ShaderF16 = 10, WGPUFeatureName_Subgroups = 17 };

#define WGPUBufferUsage_MapRead ((WGPUBufferUsage)0x0001)
#define WGPUBufferUsage_CopySrc ((WGPUBufferUsage)0x0004)
#define WGPUBufferUsage_CopyDst ((WGPUBufferUsage)0x0008)
#define WGPUBufferUsage_Uniform ((WGPUBufferUsage)0x0040)
#define WGPUBufferUsage_Storage ((WGPUBufferUsage)0x0080)
#define WGPUBufferUsage_QueryResolve ((WGPUBufferUsage)0x0200)
#define WGPUShaderStage_Compute ((WGPUShaderStage)0x0004)
#define WGPUMapMode_Read ((WGPUMapMode)0x0001)

typedef struct WGPUStringView {
    const char *data;
    size_t length; /* WGPU_STRLEN: NUL-terminated */
} WGPUStringView;

typedef struct WGPUChainedStruct {
    struct WGPUChainedStruct *next;
    WGPUSType sType;
} WGPUChainedStruct;

typedef struct WGPUFuture { uint64_t id; } WGPUFuture;
typedef struct WGPUFutureWaitInfo {
    WGPUFuture future;
    WGPUBool completed;
} WGPUFutureWaitInfo;

typedef struct WGPUInstanceCapabilities {
    WGPUChainedStruct *nextInChain;
    WGPUBool timedWaitAnyEnable;
    size_t timedWaitAnyMaxCount;
} WGPUInstanceCapabilities;

/* This build's instance descriptor embeds the capabilities. */
typedef struct WGPUInstanceDescriptor {
    WGPUChainedStruct *nextInChain;
    WGPUInstanceCapabilities capabilities;
} WGPUInstanceDescriptor;

/* Dawn's toggles, chained on the device descriptor. */
typedef struct WGPUDawnTogglesDescriptor {
    WGPUChainedStruct chain;
    size_t enabledToggleCount;
    const char *const *enabledToggles;
    size_t disabledToggleCount;
    const char *const *disabledToggles;
} WGPUDawnTogglesDescriptor;

typedef struct WGPURequestAdapterOptions {
    WGPUChainedStruct *nextInChain;
    WGPUFeatureLevel featureLevel;
    WGPUPowerPreference powerPreference;
    WGPUBool forceFallbackAdapter;
    WGPUBackendType backendType;
    void *compatibleSurface;
} WGPURequestAdapterOptions;

typedef void (*WGPURequestAdapterCallback)(WGPURequestAdapterStatus, WGPUAdapter, WGPUStringView,
                                           void *, void *);
typedef void (*WGPURequestDeviceCallback)(WGPURequestDeviceStatus, WGPUDevice, WGPUStringView,
                                          void *, void *);
typedef void (*WGPUDeviceLostCallback)(WGPUDevice const *, WGPUDeviceLostReason, WGPUStringView,
                                       void *, void *);
typedef void (*WGPUUncapturedErrorCallback)(WGPUDevice const *, WGPUErrorType, WGPUStringView,
                                            void *, void *);
typedef void (*WGPUBufferMapCallback)(WGPUMapAsyncStatus, WGPUStringView, void *, void *);
typedef void (*WGPUPopErrorScopeCallback)(WGPUPopErrorScopeStatus, WGPUErrorType, WGPUStringView,
                                          void *, void *);
/* This build passes a message after the status (the probe detected it). */
typedef void (*WGPUQueueWorkDoneCallback)(WGPUQueueWorkDoneStatus, WGPUStringView, void *, void *);

#define GRT_WGPU_CALLBACK_INFO(Name, Cb)                                                          \
    typedef struct Name {                                                                         \
        WGPUChainedStruct *nextInChain;                                                           \
        WGPUCallbackMode mode;                                                                    \
        Cb callback;                                                                              \
        void *userdata1;                                                                          \
        void *userdata2;                                                                          \
    } Name
GRT_WGPU_CALLBACK_INFO(WGPURequestAdapterCallbackInfo, WGPURequestAdapterCallback);
GRT_WGPU_CALLBACK_INFO(WGPURequestDeviceCallbackInfo, WGPURequestDeviceCallback);
GRT_WGPU_CALLBACK_INFO(WGPUDeviceLostCallbackInfo, WGPUDeviceLostCallback);
GRT_WGPU_CALLBACK_INFO(WGPUBufferMapCallbackInfo, WGPUBufferMapCallback);
GRT_WGPU_CALLBACK_INFO(WGPUPopErrorScopeCallbackInfo, WGPUPopErrorScopeCallback);
GRT_WGPU_CALLBACK_INFO(WGPUQueueWorkDoneCallbackInfo, WGPUQueueWorkDoneCallback);
#undef GRT_WGPU_CALLBACK_INFO

typedef struct WGPUUncapturedErrorCallbackInfo { /* no mode: called as errors happen */
    WGPUChainedStruct *nextInChain;
    WGPUUncapturedErrorCallback callback;
    void *userdata1;
    void *userdata2;
} WGPUUncapturedErrorCallbackInfo;

typedef struct WGPUAdapterInfo {
    WGPUChainedStruct *nextInChain;
    WGPUStringView vendor, architecture, device, description;
    WGPUBackendType backendType;
    WGPUAdapterType adapterType;
    uint32_t vendorID, deviceID;
    uint32_t subgroupMinSize, subgroupMaxSize;
} WGPUAdapterInfo;

typedef struct WGPULimits {
    WGPUChainedStruct *nextInChain;
    uint32_t maxTextureDimension1D, maxTextureDimension2D, maxTextureDimension3D;
    uint32_t maxTextureArrayLayers, maxBindGroups, maxBindGroupsPlusVertexBuffers;
    uint32_t maxBindingsPerBindGroup, maxDynamicUniformBuffersPerPipelineLayout;
    uint32_t maxDynamicStorageBuffersPerPipelineLayout, maxSampledTexturesPerShaderStage;
    uint32_t maxSamplersPerShaderStage, maxStorageBuffersPerShaderStage;
    uint32_t maxStorageTexturesPerShaderStage, maxUniformBuffersPerShaderStage;
    uint64_t maxUniformBufferBindingSize, maxStorageBufferBindingSize;
    uint32_t minUniformBufferOffsetAlignment, minStorageBufferOffsetAlignment;
    uint32_t maxVertexBuffers;
    uint64_t maxBufferSize;
    uint32_t maxVertexAttributes, maxVertexBufferArrayStride, maxInterStageShaderVariables;
    uint32_t maxColorAttachments, maxColorAttachmentBytesPerSample;
    uint32_t maxComputeWorkgroupStorageSize, maxComputeInvocationsPerWorkgroup;
    uint32_t maxComputeWorkgroupSizeX, maxComputeWorkgroupSizeY, maxComputeWorkgroupSizeZ;
    uint32_t maxComputeWorkgroupsPerDimension;
    uint32_t maxImmediateSize;
} WGPULimits;

typedef struct WGPUQueueDescriptor {
    WGPUChainedStruct *nextInChain;
    WGPUStringView label;
} WGPUQueueDescriptor;

typedef struct WGPUDeviceDescriptor {
    WGPUChainedStruct *nextInChain;
    WGPUStringView label;
    size_t requiredFeatureCount;
    const WGPUFeatureName *requiredFeatures;
    const WGPULimits *requiredLimits;
    WGPUQueueDescriptor defaultQueue;
    WGPUDeviceLostCallbackInfo deviceLostCallbackInfo;
    WGPUUncapturedErrorCallbackInfo uncapturedErrorCallbackInfo;
} WGPUDeviceDescriptor;

typedef struct WGPUBufferDescriptor {
    WGPUChainedStruct *nextInChain;
    WGPUStringView label;
    WGPUBufferUsage usage;
    uint64_t size;
    WGPUBool mappedAtCreation;
} WGPUBufferDescriptor;

typedef struct WGPUShaderSourceWGSL {
    WGPUChainedStruct chain;
    WGPUStringView code;
} WGPUShaderSourceWGSL;

typedef struct WGPUShaderModuleDescriptor {
    WGPUChainedStruct *nextInChain; /* -> WGPUShaderSourceWGSL.chain */
    WGPUStringView label;
} WGPUShaderModuleDescriptor;

typedef struct WGPUBufferBindingLayout {
    WGPUChainedStruct *nextInChain;
    WGPUBufferBindingType type;
    WGPUBool hasDynamicOffset;
    uint64_t minBindingSize;
} WGPUBufferBindingLayout;

/* Sampler/texture/storage texture layouts: zero (unused) here. */
typedef struct WGPUUnusedBindingLayout16 { void *nextInChain; uint32_t a; } WGPUUnusedBindingLayout16;
typedef struct WGPUUnusedBindingLayout24 { void *nextInChain; uint32_t a, b, c; } WGPUUnusedBindingLayout24;

typedef struct WGPUBindGroupLayoutEntry {
    WGPUChainedStruct *nextInChain;
    uint32_t binding;
    WGPUShaderStage visibility;
    uint32_t bindingArraySize; /* 0 */
    WGPUBufferBindingLayout buffer;
    WGPUUnusedBindingLayout16 sampler;
    WGPUUnusedBindingLayout24 texture;
    WGPUUnusedBindingLayout24 storageTexture;
} WGPUBindGroupLayoutEntry;

typedef struct WGPUBindGroupLayoutDescriptor {
    WGPUChainedStruct *nextInChain;
    WGPUStringView label;
    size_t entryCount;
    const WGPUBindGroupLayoutEntry *entries;
} WGPUBindGroupLayoutDescriptor;

typedef struct WGPUBindGroupEntry {
    WGPUChainedStruct *nextInChain;
    uint32_t binding;
    WGPUBuffer buffer;
    uint64_t offset;
    uint64_t size;
    void *sampler;
    void *textureView;
} WGPUBindGroupEntry;

typedef struct WGPUBindGroupDescriptor {
    WGPUChainedStruct *nextInChain;
    WGPUStringView label;
    WGPUBindGroupLayout layout;
    size_t entryCount;
    const WGPUBindGroupEntry *entries;
} WGPUBindGroupDescriptor;

typedef struct WGPUPipelineLayoutDescriptor {
    WGPUChainedStruct *nextInChain;
    WGPUStringView label;
    size_t bindGroupLayoutCount;
    const WGPUBindGroupLayout *bindGroupLayouts;
    uint32_t immediateSize;
} WGPUPipelineLayoutDescriptor;

typedef struct WGPUConstantEntry {
    WGPUChainedStruct *nextInChain;
    WGPUStringView key;
    double value;
} WGPUConstantEntry;

typedef struct WGPUComputeState {
    WGPUChainedStruct *nextInChain;
    WGPUShaderModule module;
    WGPUStringView entryPoint;
    size_t constantCount;
    const WGPUConstantEntry *constants;
} WGPUComputeState;

typedef struct WGPUComputePipelineDescriptor {
    WGPUChainedStruct *nextInChain;
    WGPUStringView label;
    WGPUPipelineLayout layout;
    WGPUComputeState compute;
} WGPUComputePipelineDescriptor;

typedef struct WGPUQuerySetDescriptor {
    WGPUChainedStruct *nextInChain;
    WGPUStringView label;
    WGPUQueryType type;
    uint32_t count;
} WGPUQuerySetDescriptor;

typedef struct WGPUPassTimestampWrites {
    WGPUChainedStruct *nextInChain;
    WGPUQuerySet querySet;
    uint32_t beginningOfPassWriteIndex;
    uint32_t endOfPassWriteIndex;
} WGPUPassTimestampWrites;

typedef struct WGPUComputePassDescriptor {
    WGPUChainedStruct *nextInChain;
    WGPUStringView label;
    const WGPUPassTimestampWrites *timestampWrites;
} WGPUComputePassDescriptor;

#define GRT_WGPU_SA(c) _Static_assert(c, "webgpu.h layout: " #c)
GRT_WGPU_SA(sizeof(WGPUStringView) == 16);
GRT_WGPU_SA(sizeof(WGPUChainedStruct) == 16);
GRT_WGPU_SA(sizeof(WGPUFutureWaitInfo) == 16);
GRT_WGPU_SA(sizeof(WGPUInstanceCapabilities) == 24);
GRT_WGPU_SA(sizeof(WGPUInstanceDescriptor) == 32);
GRT_WGPU_SA(sizeof(WGPURequestAdapterOptions) == 32);
GRT_WGPU_SA(sizeof(WGPUDawnTogglesDescriptor) == 48);
GRT_WGPU_SA(sizeof(WGPURequestAdapterCallbackInfo) == 40);
GRT_WGPU_SA(sizeof(WGPUUncapturedErrorCallbackInfo) == 32);
GRT_WGPU_SA(sizeof(WGPUAdapterInfo) == 96);
GRT_WGPU_SA(offsetof(WGPUAdapterInfo, backendType) == 72);
GRT_WGPU_SA(sizeof(WGPULimits) == 152);
GRT_WGPU_SA(offsetof(WGPULimits, maxStorageBufferBindingSize) == 72);
GRT_WGPU_SA(offsetof(WGPULimits, maxBufferSize) == 96);
GRT_WGPU_SA(offsetof(WGPULimits, maxComputeWorkgroupStorageSize) == 124);
GRT_WGPU_SA(offsetof(WGPULimits, maxImmediateSize) == 148);
GRT_WGPU_SA(sizeof(WGPUDeviceDescriptor) == 144);
GRT_WGPU_SA(offsetof(WGPUDeviceDescriptor, defaultQueue) == 48);
GRT_WGPU_SA(offsetof(WGPUDeviceDescriptor, deviceLostCallbackInfo) == 72);
GRT_WGPU_SA(offsetof(WGPUDeviceDescriptor, uncapturedErrorCallbackInfo) == 112);
GRT_WGPU_SA(sizeof(WGPUBufferDescriptor) == 48);
GRT_WGPU_SA(sizeof(WGPUShaderModuleDescriptor) == 24);
GRT_WGPU_SA(sizeof(WGPUBindGroupLayoutEntry) == 120);
GRT_WGPU_SA(offsetof(WGPUBindGroupLayoutEntry, bindingArraySize) == 24);
GRT_WGPU_SA(offsetof(WGPUBindGroupLayoutEntry, buffer) == 32);
GRT_WGPU_SA(offsetof(WGPUBindGroupLayoutEntry, storageTexture) == 96);
GRT_WGPU_SA(sizeof(WGPUBindGroupLayoutDescriptor) == 40);
GRT_WGPU_SA(sizeof(WGPUBindGroupEntry) == 56);
GRT_WGPU_SA(sizeof(WGPUBindGroupDescriptor) == 48);
GRT_WGPU_SA(sizeof(WGPUPipelineLayoutDescriptor) == 48);
GRT_WGPU_SA(sizeof(WGPUComputeState) == 48);
GRT_WGPU_SA(sizeof(WGPUComputePipelineDescriptor) == 80);
GRT_WGPU_SA(sizeof(WGPUComputePassDescriptor) == 32);
GRT_WGPU_SA(sizeof(WGPUQuerySetDescriptor) == 32);
GRT_WGPU_SA(sizeof(WGPUPassTimestampWrites) == 24);
#undef GRT_WGPU_SA

/* X(return type, name without the wgpu prefix, parameter list) */
#define GRT_WGPU_FUNCS(X)                                                                          \
    X(WGPUInstance, CreateInstance, (const WGPUInstanceDescriptor *))                              \
    X(WGPUStatus, GetInstanceCapabilities, (WGPUInstanceCapabilities *))                           \
    X(WGPUFuture, InstanceRequestAdapter,                                                          \
      (WGPUInstance, const WGPURequestAdapterOptions *, WGPURequestAdapterCallbackInfo))           \
    X(WGPUWaitStatus, InstanceWaitAny, (WGPUInstance, size_t, WGPUFutureWaitInfo *, uint64_t))     \
    X(void, InstanceProcessEvents, (WGPUInstance))                                                 \
    X(void, InstanceRelease, (WGPUInstance))                                                       \
    X(WGPUStatus, AdapterGetInfo, (WGPUAdapter, WGPUAdapterInfo *))                                \
    X(void, AdapterInfoFreeMembers, (WGPUAdapterInfo))                                             \
    X(WGPUStatus, AdapterGetLimits, (WGPUAdapter, WGPULimits *))                                   \
    X(WGPUBool, AdapterHasFeature, (WGPUAdapter, WGPUFeatureName))                                 \
    X(WGPUFuture, AdapterRequestDevice,                                                            \
      (WGPUAdapter, const WGPUDeviceDescriptor *, WGPURequestDeviceCallbackInfo))                  \
    X(void, AdapterRelease, (WGPUAdapter))                                                         \
    X(WGPUQueue, DeviceGetQueue, (WGPUDevice))                                                     \
    X(WGPUStatus, DeviceGetLimits, (WGPUDevice, WGPULimits *))                                     \
    X(WGPUBuffer, DeviceCreateBuffer, (WGPUDevice, const WGPUBufferDescriptor *))                  \
    X(WGPUShaderModule, DeviceCreateShaderModule, (WGPUDevice, const WGPUShaderModuleDescriptor *)) \
    X(WGPUBindGroupLayout, DeviceCreateBindGroupLayout,                                            \
      (WGPUDevice, const WGPUBindGroupLayoutDescriptor *))                                         \
    X(WGPUPipelineLayout, DeviceCreatePipelineLayout,                                              \
      (WGPUDevice, const WGPUPipelineLayoutDescriptor *))                                          \
    X(WGPUComputePipeline, DeviceCreateComputePipeline,                                            \
      (WGPUDevice, const WGPUComputePipelineDescriptor *))                                         \
    X(WGPUBindGroup, DeviceCreateBindGroup, (WGPUDevice, const WGPUBindGroupDescriptor *))         \
    X(WGPUCommandEncoder, DeviceCreateCommandEncoder, (WGPUDevice, const void *))                  \
    X(void, DevicePushErrorScope, (WGPUDevice, WGPUErrorFilter))                                   \
    X(WGPUFuture, DevicePopErrorScope, (WGPUDevice, WGPUPopErrorScopeCallbackInfo))                \
    X(void, DeviceDestroy, (WGPUDevice))                                                           \
    X(void, DeviceRelease, (WGPUDevice))                                                           \
    X(WGPUComputePassEncoder, CommandEncoderBeginComputePass,                                      \
      (WGPUCommandEncoder, const WGPUComputePassDescriptor *))                                     \
    X(void, CommandEncoderCopyBufferToBuffer,                                                      \
      (WGPUCommandEncoder, WGPUBuffer, uint64_t, WGPUBuffer, uint64_t, uint64_t))                  \
    X(WGPUCommandBuffer, CommandEncoderFinish, (WGPUCommandEncoder, const void *))                 \
    X(void, CommandEncoderRelease, (WGPUCommandEncoder))                                           \
    X(void, ComputePassEncoderSetPipeline, (WGPUComputePassEncoder, WGPUComputePipeline))          \
    X(void, ComputePassEncoderSetBindGroup,                                                        \
      (WGPUComputePassEncoder, uint32_t, WGPUBindGroup, size_t, const uint32_t *))                 \
    X(void, ComputePassEncoderDispatchWorkgroups,                                                  \
      (WGPUComputePassEncoder, uint32_t, uint32_t, uint32_t))                                      \
    X(void, ComputePassEncoderEnd, (WGPUComputePassEncoder))                                       \
    X(void, ComputePassEncoderRelease, (WGPUComputePassEncoder))                                   \
    X(void, CommandBufferRelease, (WGPUCommandBuffer))                                             \
    X(void, QueueSubmit, (WGPUQueue, size_t, const WGPUCommandBuffer *))                           \
    X(void, QueueWriteBuffer, (WGPUQueue, WGPUBuffer, uint64_t, const void *, size_t))             \
    X(WGPUFuture, QueueOnSubmittedWorkDone, (WGPUQueue, WGPUQueueWorkDoneCallbackInfo))            \
    X(void, QueueRelease, (WGPUQueue))                                                             \
    X(WGPUFuture, BufferMapAsync,                                                                  \
      (WGPUBuffer, WGPUMapMode, size_t, size_t, WGPUBufferMapCallbackInfo))                        \
    X(const void *, BufferGetConstMappedRange, (WGPUBuffer, size_t, size_t))                       \
    X(void *, BufferGetMappedRange, (WGPUBuffer, size_t, size_t))                                  \
    X(void, BufferUnmap, (WGPUBuffer))                                                             \
    X(void, BufferDestroy, (WGPUBuffer))                                                           \
    X(void, BufferRelease, (WGPUBuffer))                                                           \
    X(void, ShaderModuleRelease, (WGPUShaderModule))                                               \
    X(void, BindGroupLayoutRelease, (WGPUBindGroupLayout))                                         \
    X(void, BindGroupRelease, (WGPUBindGroup))                                                     \
    X(void, PipelineLayoutRelease, (WGPUPipelineLayout))                                           \
    X(void, ComputePipelineRelease, (WGPUComputePipeline))                                       \
    X(WGPUQuerySet, DeviceCreateQuerySet, (WGPUDevice, const WGPUQuerySetDescriptor *))             \
    X(void, CommandEncoderResolveQuerySet,                                                         \
      (WGPUCommandEncoder, WGPUQuerySet, uint32_t, uint32_t, WGPUBuffer, uint64_t))                \
    X(void, QuerySetDestroy, (WGPUQuerySet))                                                       \
    X(void, QuerySetRelease, (WGPUQuerySet))

typedef struct wgpu_api {
#define GRT_WGPU_FIELD(ret, name, args) ret(*name) args;
    GRT_WGPU_FUNCS(GRT_WGPU_FIELD)
#undef GRT_WGPU_FIELD
} wgpu_api;

#endif
