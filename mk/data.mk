# data.mk: the data pipeline and the tokenizer benchmark (docs/data.md).
#   make data                          fetch, check and clean the corpora and tokenizer files into
#                                      data/ (scripts/fetch-data.sh; a second run does nothing)
#   make data-tokens TOKENIZER=NAME    token files of every split into data/tokens/NAME/ and their
#                                      sha256; NAME: llama2 (default), r50k_base (= gpt2), p50k_base,
#                                      cl100k_base, o200k_base, or all
#   make data-bpe                      byte-level BPE vocabularies of 4096 and 8192 ids trained on the
#                                      training split (data/tok/bpe4096/, bpe8192/, pinned by sha256)
#                                      and their token files (data/tokens/bpe4096/, bpe8192/)
#   make data-long                     the long-document training file of the long-context study:
#                                      the books and SOTU 1790-1999 of the training split
#                                      (data/tokens/bpe4096/long_train.tok, scripts/long-docs.sh)
#   make bench-tokenizer               our tokenizers against npm gpt-tokenizer,
#                                      llama-tokenizer-js and, for tokenizer.json files,
#                                      @lenml/tokenizers (node), MB/s and ratio (BENCH_REPS=5)
.PHONY: data data-tokens data-bpe data-long bench-tokenizer

TOKENIZER ?= llama2
BENCH_REPS ?= 5
TOKENIZERS_ALL := r50k_base p50k_base cl100k_base o200k_base llama2

data:
	@scripts/fetch-data.sh

data-bpe: $(BUILD)/ttt data
	@scripts/train-bpe.sh $(BUILD)/ttt

data-long: data-bpe
	@scripts/long-docs.sh $(BUILD)/ttt 4096

data-tokens: $(BUILD)/ttt data
	@set -e; for t in $(if $(filter all,$(TOKENIZER)),$(TOKENIZERS_ALL),$(TOKENIZER)); do \
	    case $$t in llama|llama2) p=data/tok/llama2;; gpt2|r50k) p=data/tok/r50k_base.tiktoken;; \
	        *_base) p=data/tok/$$t.tiktoken;; *) p=data/tok/$${t}_base.tiktoken;; esac; \
	    $(BUILD)/ttt data --tokenizer $$p; \
	done; sha256sum data/tokens/*/*.tok

$(BUILD)/bench/tokenizer_bench: bench/tokenizer_bench.c $(BUILD)/libttt.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libttt.a $(LDLIBS)

bench-tokenizer: $(BUILD)/bench/tokenizer_bench data
	@bench/tokenizer_bench.sh $(BUILD)/bench/tokenizer_bench data $(BENCH_REPS)
