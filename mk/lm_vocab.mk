# lm_vocab.mk: the language-modelling study with the 4096-id BPE vocabulary (issue 20,
# experiments/lm_vocab.sh: the four families at ~3.4M and ~15M non-embedding parameters, a
# learning-rate sweep, three seeds of the best; resumable; hours on 2 cores; needs make data-bpe).
#   make study-lm-vocab                           the study (results in results/lm_vocab/)
#   make study-lm-vocab LM_VOCAB_ARGS=--dry-run   the timing probes and the expected time only
#   make study-lm-vocab-redraw                    tables and charts from results/lm_vocab/
.PHONY: study-lm-vocab study-lm-vocab-redraw

LM_VOCAB_ARGS ?=

study-lm-vocab: $(BUILD)/ttt
	TTT=$(BUILD)/ttt experiments/lm_vocab.sh $(LM_VOCAB_ARGS)

study-lm-vocab-redraw:
	experiments/lm_vocab.sh --redraw
