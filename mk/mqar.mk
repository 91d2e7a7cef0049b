# mqar.mk: a quick demonstration that associative recall (MQAR, Zoology; ttt synth mqar) is
# learnable here: one small MQAR set, the four families at 2 layers x width 64 (the *-tiny
# presets), trained for MQAR_STEPS steps each, then ttt eval --accuracy on a held-out set of
# another seed. About 2-4 minutes on 2 quiet cores.
#   make study-mqar-quick                     (MQAR_K, MQAR_L, MQAR_V, MQAR_STEPS, MQAR_LR override)
# Results in $(BUILD)/mqar-quick/: the runs, eval-<family>.json, and summary.txt (the table).
#
# The MQAR study (issue 20, scripts/study-mqar.py): the four families at widths 64-256, K 4-16,
# L 64, vocabulary 8192, 2 layers, 2000 steps of 32, a learning-rate sweep per family; resumable
# (a finished run's results/mqar/runs/<key>.json is kept), it prints its expected time before it
# starts; MQAR_JOBS runs at a time, each on MQAR_JOB_THREADS threads (2 x 1 on 2 cores).
#   make study-mqar                    the full grid (MQAR_GRID=quick: widths 64/128, K 4/8/16,
#                                      2 learning rates, 48 runs, about 1 h 40 min on 2 cores;
#                                      MQAR_GRID=short: the first grid, L 256, 600 x 16)
#   make study-mqar MQAR_ARGS=--dry-run  the runs left and their expected time only
#   make study-mqar-redraw             summary.csv, table.md, mqar.png and the table in
#                                      docs/results.md from the committed results/mqar/runs/
.PHONY: study-mqar-quick study-mqar study-mqar-redraw

MQAR_GRID ?= full
MQAR_ARGS ?=
MQAR_JOBS ?= 2
MQAR_JOB_THREADS ?= 1

study-mqar: $(BUILD)/ttt
	/usr/bin/python3 scripts/study-mqar.py --grid $(MQAR_GRID) --ttt $(BUILD)/ttt --jobs $(MQAR_JOBS) \
	    --threads $(MQAR_JOB_THREADS) $(MQAR_ARGS)

study-mqar-redraw:
	/usr/bin/python3 scripts/study-mqar.py --redraw

MQAR_K ?= 4
MQAR_L ?= 64
MQAR_V ?= 256
MQAR_N ?= 20000
MQAR_STEPS ?= 600
MQAR_BATCH ?= 32
MQAR_LR ?= 3e-3
MQAR_THREADS ?= 2
MQAR_FAMILIES ?= llama-tiny ttt-linear-tiny ttt-mlp-tiny mamba-tiny
MQAR_DIR := $(BUILD)/mqar-quick

study-mqar-quick: $(BUILD)/ttt
	@set -e; D=$(MQAR_DIR); T=$(BUILD)/ttt; rm -rf $$D; mkdir -p $$D; \
	$$T synth mqar --pairs $(MQAR_K) --seq-len $(MQAR_L) --vocab $(MQAR_V) --examples $(MQAR_N) --seed 1 --out $$D/train.tok; \
	$$T synth mqar --pairs $(MQAR_K) --seq-len $(MQAR_L) --vocab $(MQAR_V) --examples 500 --seed 2 --out $$D/test.tok; \
	printf "MQAR K=%s L=%s V=%s, %s steps of %s sequences, lr %s, 2 layers x 64\n" $(MQAR_K) $(MQAR_L) $(MQAR_V) \
	    $(MQAR_STEPS) $(MQAR_BATCH) $(MQAR_LR) > $$D/summary.txt; \
	printf "%-16s %10s %9s %9s %9s\n" family parameters train_s test_loss accuracy >> $$D/summary.txt; \
	for f in $(MQAR_FAMILIES); do \
	    t0=$$(date +%s.%N); \
	    $$T train --preset $$f --data $$D/train.tok --run $$D/run-$$f --steps $(MQAR_STEPS) --seq-len $(MQAR_L) \
	        --batch $(MQAR_BATCH) --lr $(MQAR_LR) --threads $(MQAR_THREADS) --quiet; \
	    t1=$$(date +%s.%N); \
	    $$T eval --model $$D/run-$$f/model --data $$D/test.tok --context $(MQAR_L) --accuracy \
	        --json $$D/eval-$$f.json --threads $(MQAR_THREADS) > /dev/null; \
	    P=$$($$T info --model $$D/run-$$f/model | sed -n 's/^parameters: *\([0-9]*\).*/\1/p' | head -1); \
	    python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print('%-16s %10s %9.1f %9.4f %9.4f' % (sys.argv[2], sys.argv[3], float(sys.argv[5]) - float(sys.argv[4]), j['mean_loss'], j['accuracy']))" \
	        $$D/eval-$$f.json $$f "$$P" $$t0 $$t1 >> $$D/summary.txt; \
	done; cat $$D/summary.txt
