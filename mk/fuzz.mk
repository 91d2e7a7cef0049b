# fuzz.mk: libFuzzer runs over the file readers (not part of the default test suite).
#   make fuzz                   every harness for FUZZ_SECONDS (default 60) each
#   make fuzz FUZZ=tokfile      one harness: tokfile tiktoken llama encode safetensors config st_index
#                               train_state latest hfjson genconfig state
# Builds libttt with clang, AddressSanitizer and UndefinedBehaviorSanitizer into build-fuzz/,
# seeds each corpus from data/ and a tiny model (when present), and stops at the first crash;
# the input that crashed is saved as build-fuzz/crashes/NAME-crash-*. Every crash found so far
# is a regression case in the test file of the reader it hit.
.PHONY: fuzz fuzz-lib fuzz-seeds

FUZZ_SECONDS ?= 60
FUZZ ?= tokfile tiktoken llama encode safetensors config train_state latest st_index hfjson genconfig state
FUZZ_BUILD := build-fuzz
FUZZ_CC ?= clang
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer

fuzz-lib:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) \
	    EXTRA_CFLAGS="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" EXTRA_LDFLAGS="$(FUZZ_SAN)" $(FUZZ_BUILD)/libttt.a

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_util.h fuzz-lib
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) -std=c11 -g -O1 -fopenmp -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< \
	    $(FUZZ_BUILD)/libttt.a $(LDLIBS)

# seeds: small valid inputs made from the fetched data and a tiny model (skipped when absent)
fuzz-seeds: $(BUILD)/ttt
	@set -e; S=$(FUZZ_BUILD)/seeds; rm -rf $$S; for h in tokfile tiktoken llama encode safetensors config train_state latest st_index hfjson genconfig state; do mkdir -p $$S/$$h; done; \
	printf '{"do_sample": true, "temperature": 0.7, "top_k": 40, "top_p": 0.9, "max_new_tokens": 20, "eos_token_id": [2, 7]}' > $$S/genconfig/gen; \
	printf '{"bos_token": {"content": "<s>"}, "eos_token": "</s>", "chat_template": "{%% for message in messages %%}<|im_start|>{{ message.content }}<|im_end|>{%% endfor %%}"}' > $$S/genconfig/chat; \
	for f in tests/fixtures/hf/*.json; do cp $$f $$S/hfjson/; done; \
	printf '{"metadata": {"total_size": 36}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}' > $$S/st_index/ok; \
	printf 'ckpt-00000001\n' > $$S/latest/ok; printf 'ckpt-00000002' > $$S/latest/link; \
	printf '../other/ckpt-00000001\n' > $$S/latest/escape; printf 'ckpt-00000003\n' > $$S/latest/file; \
	if [ -d data/tok/llama2 ]; then \
	    $(BUILD)/ttt tokenize --tokenizer data/tok/llama2 --text "Hello, world" --output $$S/tokfile/llama.tok 2>/dev/null; \
	    $(BUILD)/ttt tokenize --tokenizer data/tok/o200k_base.tiktoken --text "Hello" --output $$S/tokfile/o200k.tok 2>/dev/null; \
	    $(BUILD)/ttt synth mqar --pairs 2 --seq-len 16 --vocab 64 --examples 4 --out $$S/tokfile/mqar.tok 2>/dev/null; \
	    { printf '\000'; head -n 400 data/tok/r50k_base.tiktoken; } > $$S/tiktoken/r50k_head; \
	    { printf '\002'; head -n 400 data/tok/cl100k_base.tiktoken; } > $$S/tiktoken/cl100k_head; \
	    head -n 300 data/tok/llama2/vocab.txt > $$S/v.tmp; \
	    python3 -c "import struct,sys; v=open('$$S/v.tmp','rb').read(); m=open('data/tok/llama2/merges.u16le','rb').read(400); sys.stdout.buffer.write(struct.pack('<I',len(v))+v+m)" > $$S/llama/head; \
	    rm -f $$S/v.tmp; \
	    head -c 4000 data/text/moby_dick.txt > $$S/encode/moby; \
	    sed -n 's/^Sample: //p' data/tok/TestPlans.txt | head -n 64 | split -l 1 - $$S/encode/plan_; \
	fi; \
	rm -rf $$S/model; $(BUILD)/ttt init --preset ttt-linear-tiny --out $$S/model >/dev/null 2>&1 || true; \
	if [ -f $$S/model/config.json ]; then cp $$S/model/config.json $$S/config/; cp $$S/model/model.safetensors $$S/safetensors/; fi; \
	rm -rf $$S/model

fuzz: fuzz-seeds $(addprefix $(FUZZ_BUILD)/fuzz_,$(FUZZ))
	@set -e; mkdir -p $(FUZZ_BUILD)/crashes; for h in $(FUZZ); do \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$h; \
	    if [ $$h = train_state ]; then \
	        TTT_FUZZ_SEED_OUT=$(FUZZ_BUILD)/seeds/train_state/valid $(FUZZ_BUILD)/fuzz_train_state >/dev/null 2>&1 \
	            || { echo "fuzz: cannot write the train_state seed"; exit 1; }; fi; \
	    if [ $$h = state ]; then \
	        TTT_FUZZ_SEED_OUT=$(FUZZ_BUILD)/seeds/state $(FUZZ_BUILD)/fuzz_state >/dev/null 2>&1 \
	            || { echo "fuzz: cannot write the state seeds"; exit 1; }; fi; \
	    echo "fuzz: $$h for $(FUZZ_SECONDS) s"; \
	    $(FUZZ_BUILD)/fuzz_$$h -max_total_time=$(FUZZ_SECONDS) -timeout=30 -rss_limit_mb=4096 -max_len=65536 \
	        -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/crashes/$$h- \
	        $(FUZZ_BUILD)/corpus/$$h $(FUZZ_BUILD)/seeds/$$h 2>$(FUZZ_BUILD)/$$h.log \
	        || { tail -n 40 $(FUZZ_BUILD)/$$h.log; echo "fuzz: $$h FAILED (input in $(FUZZ_BUILD)/crashes/)"; exit 1; }; \
	    grep -E "stat::number_of_executed_units|cov:" $(FUZZ_BUILD)/$$h.log | tail -n 2; \
	done; echo "fuzz: no crash in $(FUZZ)"
