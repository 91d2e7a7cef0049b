# tokenizer_train.mk: the tokenizer trainer's benchmark.
#   make bench-tokenizer-train     time `ttt tokenizer train` on the training split (byte-bpe and
#                                  sp-bpe, vocabularies 4096 and 8192, TRAIN_THREADS=2) and the
#                                  bytes per token of each on the held-out split, against Llama-2
#                                  and GPT-2 (scripts/bench-tokenizer-train.sh)
.PHONY: bench-tokenizer-train

TRAIN_THREADS ?= 2

bench-tokenizer-train: $(BUILD)/ttt data
	@scripts/bench-tokenizer-train.sh $(BUILD)/ttt data $(TRAIN_THREADS) $(BUILD)/tokenizer-train
