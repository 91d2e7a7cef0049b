# ladder.mk: TTT-Linear's ablations (the paper's Table 1: backbone, fixed inner lr, token-position
# scale) and mini-batch study (1, 4, 16, 64, 512) in the lm_vocab set-up with three seeds (issue
# 20, experiments/ladder.sh; resumable; needs make data-bpe and the lm_vocab sweep, or LADDER_LR).
#   make study-ladder                          the study (results in results/ladder/)
#   make study-ladder LADDER_ARGS=--dry-run    the timing probes and the expected time only
#   make study-ladder-redraw                   tables and chart from results/ladder/
.PHONY: study-ladder study-ladder-redraw

LADDER_ARGS ?=

study-ladder: $(BUILD)/ttt
	TTT=$(BUILD)/ttt experiments/ladder.sh $(LADDER_ARGS)

study-ladder-redraw:
	experiments/ladder.sh --redraw
