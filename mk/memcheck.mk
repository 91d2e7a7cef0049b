# memcheck.mk: long-context checks of the Llama baseline, not part of the test suite.
#   make memcheck             one attention layer (width 768, 12 heads) at L = 32768, forward and
#                             backward; fails if the peak resident memory reaches 4 GiB
#                             (MEMCHECK_L, MEMCHECK_GIB override); also /usr/bin/time -v's figure
#   make bench-llama-decode   decode latency per token of the 125M Llama after prompts of 1k
#                             and 16k tokens (DECODE_CONTEXTS="1024 16384", DECODE_STEPS=20)
#   make bench-decode-multi   one step of 8 sequences at their own positions: ttt_decode_multi
#                             against a loop of ttt_decode_step (PRESET=llama-125m, MULTI_N=8,
#                             MULTI_STEPS=10, MULTI_P=512; SAME=1: TTT at one place in the mini-batch)
.PHONY: memcheck bench-llama-decode bench-decode-multi

MEMCHECK_L ?= 32768
MEMCHECK_GIB ?= 4
DECODE_CONTEXTS ?= 1024 16384
DECODE_STEPS ?= 20

$(BUILD)/bench/llama_memcheck: bench/llama_memcheck.c $(BUILD)/libttt.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libttt.a $(LDLIBS)

$(BUILD)/bench/llama_decode_bench: bench/llama_decode_bench.c $(BUILD)/libttt.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libttt.a $(LDLIBS)

memcheck: $(BUILD)/bench/llama_memcheck
	@if [ -x /usr/bin/time ]; then \
	    /usr/bin/time -v $(BUILD)/bench/llama_memcheck $(MEMCHECK_L) $(MEMCHECK_GIB) 2>$(BUILD)/bench/memcheck.time; \
	    rc=$$?; grep -E "Maximum resident|Elapsed" $(BUILD)/bench/memcheck.time; exit $$rc; \
	else $(BUILD)/bench/llama_memcheck $(MEMCHECK_L) $(MEMCHECK_GIB); fi

$(BUILD)/bench/decode_multi_bench: bench/decode_multi_bench.c $(BUILD)/libttt.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libttt.a $(LDLIBS)

MULTI_N ?= 8
MULTI_STEPS ?= 10
MULTI_P ?= 512
bench-decode-multi: $(BUILD)/bench/decode_multi_bench
	@$(BUILD)/bench/decode_multi_bench $(MULTI_N) $(MULTI_STEPS) $(MULTI_P)

bench-llama-decode: $(BUILD)/bench/llama_decode_bench
	@$(BUILD)/bench/llama_decode_bench $(DECODE_STEPS) $(DECODE_CONTEXTS)
