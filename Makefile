# genrt — one GNU Makefile. Objects under build/, header dependencies automatic.
#   make            build/genrt, build/libgenrt.a, build/libgenrt.so
#   make test       build and run the test suite (tests/run.sh)
#   make asan       the same suite under AddressSanitizer + UBSan (build-asan/)
#   make CUDA=0 / WEBGPU=0 force a backend off (they switch on when found)
#   make CUDA_ARCH='-gencode ...' to build the CUDA kernels for other GPUs

BUILD   ?= build
CC      ?= cc
OPT     ?= -O2
WERROR  ?= -Werror
CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra -Wno-format-truncation $(WERROR) -fPIC \
           -Iinclude -Isrc -MMD -MP -pthread
LDLIBS  += -lcjson -lpcre2-8 -licuuc -lm -pthread -ldl

SRC_CORE := $(wildcard src/*.c) $(wildcard src/device/*.c)
SRC_CPU  := $(wildcard src/device/cpu/*.c)
SRC_LIB  := $(SRC_CORE) $(SRC_CPU)

# WebGPU: needs only dlopen at build time (Dawn is loaded at run time), so it
# is on by default. Shaders are .wgsl files embedded as C strings with od/sed.
WEBGPU ?= 1
ifeq ($(WEBGPU),1)
CFLAGS   += -DGRT_HAVE_WEBGPU
SRC_LIB  += $(wildcard src/device/webgpu/*.c)
WGSL     := $(sort $(wildcard src/device/webgpu/shaders/*.wgsl))
OBJ_WGSL := $(BUILD)/gen/wgsl_shaders.o
endif

# SIMD variants: files named *_avx2.c / *_avx512.c get their ISA flags; the
# dispatcher picks at run time, so the binary runs on any x86-64.
$(BUILD)/%_avx2.o:   CFLAGS += -mavx2 -mfma -mf16c
$(BUILD)/%_avx512.o: CFLAGS += -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mf16c

OBJ_LIB   := $(SRC_LIB:%.c=$(BUILD)/%.o) $(OBJ_WGSL)

# CUDA backend: on when nvcc is found (CUDA=0 turns it off). The runtime is
# linked statically so the binary runs, and says why, on machines with no GPU.
NVCC    ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
ifeq ($(strip $(NVCC)),)
CUDA    ?= 0
else
CUDA    ?= 1
endif
ifeq ($(CUDA),1)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CUDA_ARCH ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
NVCCFLAGS ?= -O3 -std=c++17 $(CUDA_ARCH) -Xcompiler -fPIC,-Wall,-Wno-unused-function -Iinclude -Isrc \
             -DGRT_HAVE_CUDA -MD -MP
CFLAGS  += -DGRT_HAVE_CUDA
LDLIBS  += -L$(CUDA_HOME)/lib64 -lcudart_static -lrt -ldl -lstdc++
SRC_CU  := $(wildcard src/device/cuda/*.cu)
OBJ_LIB += $(SRC_CU:%.cu=$(BUILD)/%.o)

$(BUILD)/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@ -MF $(@:.o=.d)
endif
TEST_SRC  := $(wildcard tests/test_*.c)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_COMMON := $(BUILD)/tests/testutil.o

all: $(BUILD)/genrt $(BUILD)/libgenrt.a $(BUILD)/libgenrt.so $(TEST_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/gen/wgsl_shaders.c: $(WGSL) Makefile
	@mkdir -p $(dir $@)
	@{ for f in $(WGSL); do \
	    printf 'const char grt_wgsl_%s[] = {\n' "$$(basename $$f .wgsl)"; \
	    od -An -v -tx1 $$f | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	    printf '0};\n'; \
	  done; } > $@

$(BUILD)/gen/wgsl_shaders.o: $(BUILD)/gen/wgsl_shaders.c
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libgenrt.a: $(OBJ_LIB)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libgenrt.so: $(OBJ_LIB)
	$(CC) -shared -o $@ $^ $(LDFLAGS) $(LDLIBS)

SRC_TOOLS := $(wildcard tools/*.c)
OBJ_TOOLS := $(SRC_TOOLS:%.c=$(BUILD)/%.o)

$(BUILD)/genrt: $(OBJ_TOOLS) $(BUILD)/libgenrt.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_COMMON) $(BUILD)/libgenrt.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

test: all
	BUILD=$(BUILD) tests/run.sh

# Sanitizer flags travel in OPT: a command-line CFLAGS would replace the
# Makefile's own (include paths and all).
asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  LDFLAGS="-fsanitize=address,undefined" test

clean:
	rm -rf build build-asan

.PHONY: all test asan clean
.SECONDARY:
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
