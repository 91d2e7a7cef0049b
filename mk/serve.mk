# serve.mk: a bounded load test of `ttt serve` on loopback (issue 22), not part of the test
# suite: for each family a small model (ttt init --preset FAMILY-small with the GPT-2 tokenizer,
# about 16M parameters), 64 clients for 60 s with mixed prompt lengths (4..256 words), served by
# `ttt serve --parallel 64` and then the same load by `ttt serve --parallel 1` (one request at a
# time); every reply must equal the same request served alone, else the target fails. The
# requests are greedy (SERVE_LOAD_TEMPERATURE 0); the last run repeats TTT-Linear with sampled
# requests (temperature 0.8, a seed each). About 12 minutes. Writes results/serve/load-FAMILY.json,
# load-ttt-linear-sampled.json and load-summary.txt (one line per run; scripts/serve-load.py).
#   make serve-load     (SERVE_LOAD_FAMILIES, _CLIENTS, _SECONDS, _MAX_TOKENS, _THREADS override)
# --threads 1: on 2 shared cores a second OpenMP thread that is descheduled stalls every step.
.PHONY: serve-load

SERVE_LOAD_FAMILIES ?= ttt-linear mamba llama
SERVE_LOAD_CLIENTS ?= 64
SERVE_LOAD_SECONDS ?= 60
SERVE_LOAD_MAX_TOKENS ?= 64
SERVE_LOAD_TEMPERATURE ?= 0
SERVE_LOAD_THREADS ?= 1
SERVE_LOAD_OUT ?= results/serve
SERVE_LOAD_TOK ?= data/tok/r50k_base.tiktoken
SERVE_LOAD = /usr/bin/python3 scripts/serve-load.py --ttt $(BUILD)/ttt --tokenizer $(SERVE_LOAD_TOK) \
    --clients $(SERVE_LOAD_CLIENTS) --seconds $(SERVE_LOAD_SECONDS) --max-tokens $(SERVE_LOAD_MAX_TOKENS) \
    --threads $(SERVE_LOAD_THREADS)

serve-load: $(BUILD)/ttt
	@test -f $(SERVE_LOAD_TOK) || { echo "serve-load: $(SERVE_LOAD_TOK) is missing (make data fetches it)"; exit 1; }
	@set -e; mkdir -p $(SERVE_LOAD_OUT); S=$(SERVE_LOAD_OUT)/load-summary.txt; rm -f $$S.tmp; \
	for f in $(SERVE_LOAD_FAMILIES); do \
	    $(SERVE_LOAD) --preset $$f-small --temperature $(SERVE_LOAD_TEMPERATURE) \
	        --out $(SERVE_LOAD_OUT)/load-$$f.json --summary $$S.tmp; \
	done; \
	$(SERVE_LOAD) --preset ttt-linear-small --temperature 0.8 --out $(SERVE_LOAD_OUT)/load-ttt-linear-sampled.json \
	    --summary $$S.tmp; \
	mv $$S.tmp $$S
