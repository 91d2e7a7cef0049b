# hf.mk: the README's walk-through of a Hugging Face model directory.
#   make hf-walkthrough        a Llama-architecture and a Mamba-1 directory in the hub's layout
#                              (BF16 shards + index, tokenizer.json, generation_config.json),
#                              then ttt info, generate, eval, train --model (fine-tuning), eval
#                              of the checkpoint and bench --model on each, every command
#                              printed with its output (scripts/hf-walkthrough.sh; about 2
#                              minutes; into HF_WALK_DIR, default runs/hf-walkthrough)
#   make hf-walkthrough WALK_QUICK=1   tiny models, a few steps (about 15 s)
.PHONY: hf-walkthrough

HF_WALK_DIR ?= runs/hf-walkthrough

hf-walkthrough: $(BUILD)/ttt data
	@TTT=$(BUILD)/ttt WALK_QUICK=$(WALK_QUICK) scripts/hf-walkthrough.sh $(HF_WALK_DIR)
