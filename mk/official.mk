# mk/official.mk: `make bench-official TTT_PY=/path/to/ttt.py`: the ttt command side by side with
# the authors' ttt.py (test-time-training/ttt-lm-pytorch at commit cd831db), each in its best
# environment, on the same weights (bench/official/bench_official.py; about 5 minutes on 2 cores).
# OFFICIAL_FLAGS adds flags (--quick: tiny shapes in seconds; --rounds N; --threads N). Needs
# Debian's python3-torch (apt-get install python3-torch); ttt.py is not part of this repository.
TTT_PY ?=
OFFICIAL_FLAGS ?=
OFFICIAL_OUT ?= results/official

.PHONY: bench-official
bench-official: $(BUILD)/ttt
	@test -n "$(TTT_PY)" || { echo "make bench-official: give TTT_PY=/path/to/ttt.py (git clone https://github.com/test-time-training/ttt-lm-pytorch; git checkout cd831db)" >&2; exit 2; }
	@/usr/bin/python3 -c "import torch, numpy" 2>/dev/null || { echo "make bench-official: needs Debian's python3-torch and python3-numpy (apt-get install python3-torch)" >&2; exit 2; }
	@mkdir -p $(OFFICIAL_OUT)
	/usr/bin/python3 bench/official/bench_official.py --ttt-py "$(TTT_PY)" --ttt $(BUILD)/ttt --out $(OFFICIAL_OUT) $(OFFICIAL_FLAGS)
