# gemm.mk: oneDNN for the fast GEMM path, and the GEMM library benchmark (bench/gemm_bench.c,
# results in docs/gemm.md; not part of the test suite). The benchmark also needs
# libblis-openmp-dev and libxsmm-dev (scripts/install-deps.sh installs them).
#   make bench-gemm                    quick shape set, 1 and 2 threads, OpenBLAS as configured
#   make bench-gemm GEMM_ARGS="-s all" every shape (see the table in the source)
.PHONY: bench-gemm

# oneDNN (Debian libdnnl-dev, installed by scripts/install-deps.sh) is the float32 GEMM of the
# fast path and the bf16 matmul (src/ops/gemm_dnnl.c); without its header the build falls
# back to OpenBLAS alone (src/ops/kernels.h)
ifneq ($(wildcard /usr/include/dnnl.h /usr/include/oneapi/dnnl/dnnl.h),)
CPPFLAGS += -DTTT_HAVE_DNNL
LDLIBS += -ldnnl
endif

GEMM_ARGS ?=
BLIS_DIR := /usr/lib/x86_64-linux-gnu/blis-openmp

$(BUILD)/bench/gemm_bench: bench/gemm_bench.c $(BUILD)/libttt.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libttt.a $(LDLIBS) \
	    -L$(BLIS_DIR) -Wl,-rpath,$(BLIS_DIR) -lblis -lxsmm -lopenblas -ldl -lpthread -lm

bench-gemm: $(BUILD)/bench/gemm_bench
	@$(BUILD)/bench/gemm_bench $(GEMM_ARGS)

# bf16 weights against float32: accuracy on a model and token file, prefill and decode speed
#   make bench-bf16 BF16_MODEL=DIR [BF16_DATA=data/tokens/llama2/eval.tok] [BF16_ARGS="512 16"]
.PHONY: bench-bf16
BF16_DATA ?= data/tokens/llama2/eval.tok
BF16_ARGS ?= 512 16

$(BUILD)/bench/bf16_accuracy: bench/bf16_accuracy.c $(BUILD)/libttt.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libttt.a $(LDLIBS)

bench-bf16: $(BUILD)/bench/bf16_accuracy
	@test -n "$(BF16_MODEL)" || { echo "give BF16_MODEL=DIR (a model directory)"; exit 2; }
	@$(BUILD)/bench/bf16_accuracy $(BF16_MODEL) $(BF16_DATA) $(BF16_ARGS)

# bf16 mixed-precision training against float32 on the README's main job (scripts/bf16-train-
# check.sh; about 15 minutes on 2 cores): final training and held-out loss within 1%
#   make bf16-train-check [RUN=runs/bf16-check]
.PHONY: bf16-train-check
bf16-train-check: $(BUILD)/ttt
	@sh scripts/bf16-train-check.sh $(BUILD)/ttt

# the same question against the noise of the seeds: float32 and bf16 for each of SEEDS
# (default "1 2 3"), mean and range (scripts/bf16-seeds-check.sh; resumable, RUN=runs/bf16-seeds)
#   make bf16-seeds-check [SEEDS="1 2 3"]
.PHONY: bf16-seeds-check
bf16-seeds-check: $(BUILD)/ttt
	@sh scripts/bf16-seeds-check.sh $(BUILD)/ttt
