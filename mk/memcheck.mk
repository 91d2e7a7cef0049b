# memcheck.mk: long-context checks of the Llama baseline, not part of the test suite.
#   make memcheck             one attention layer (width 768, 12 heads) at L = 32768, forward and
#                             backward; fails if the peak resident memory reaches 4 GiB
#                             (MEMCHECK_L, MEMCHECK_GIB override); also /usr/bin/time -v's figure
#   make bench-llama-decode   decode latency per token of the 125M Llama after prompts of 1k
#                             and 16k tokens (DECODE_CONTEXTS="1024 16384", DECODE_STEPS=20)
.PHONY: memcheck bench-llama-decode

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

bench-llama-decode: $(BUILD)/bench/llama_decode_bench
	@$(BUILD)/bench/llama_decode_bench $(DECODE_STEPS) $(DECODE_CONTEXTS)
