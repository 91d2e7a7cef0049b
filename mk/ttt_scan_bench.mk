# ttt_scan_bench.mk: the TTT scan of one layer alone, fused kernels against the reference
# ones, A/B interleaved in one process (bench/ttt_scan_bench.c). Not part of the test suite.
#   make bench-ttt-scan   TTT-Linear and TTT-MLP at the 125M shapes (12 heads of 64, L = 2048,
#                         B = 1): forward, forward + backward, decode step; SCAN_REPS=5
.PHONY: bench-ttt-scan

SCAN_REPS ?= 5

$(BUILD)/bench/ttt_scan_bench: bench/ttt_scan_bench.c $(BUILD)/libttt.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libttt.a $(LDLIBS)

bench-ttt-scan: $(BUILD)/bench/ttt_scan_bench
	@uptime
	@$(BUILD)/bench/ttt_scan_bench linear 2048 $(SCAN_REPS)
	@$(BUILD)/bench/ttt_scan_bench mlp 2048 $(SCAN_REPS)
