# long_docs.mk: long context on long documents (issue 20, experiments/long_docs.sh: the four
# families at the small size trained at 2k and 8k on the books and SOTU 1790-1999 with windows
# inside documents, loss by position to 32k on the three held-out books; resumable; about 2 h on
# 2 cores; needs make data-long and the lm_vocab study's learning-rate sweep, or LONG_DOCS_LR).
#   make study-long-docs                            the study (results in results/long_docs/)
#   make study-long-docs LONG_DOCS_ARGS=--dry-run   the timing probes and the expected time only
#   make study-long-docs-redraw                     tables and charts from results/long_docs/
.PHONY: study-long-docs study-long-docs-redraw

LONG_DOCS_ARGS ?=

study-long-docs: $(BUILD)/ttt
	TTT=$(BUILD)/ttt experiments/long_docs.sh $(LONG_DOCS_ARGS)

study-long-docs-redraw:
	experiments/long_docs.sh --redraw
