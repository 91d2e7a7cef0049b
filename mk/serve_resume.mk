# serve_resume.mk: the cost of resuming a `ttt serve` session against its length (issue 22),
# not part of the test suite: three servers (TTT-Linear, Mamba, the Transformer at the small
# width), sessions of 100 .. 16000 tokens, the next reply (1 + 16 tokens) timed; about 4
# minutes. Writes results/serve/resume.csv and resume.png (bench/serve_resume.py).
#   make bench-serve-resume          (RESUME_LENGTHS=100,1000,..., RESUME_REPS=7)
#   make bench-serve-resume-redraw   the chart from the committed CSV
.PHONY: bench-serve-resume bench-serve-resume-redraw

RESUME_LENGTHS ?= 100,1000,2000,4000,8000,16000
RESUME_REPS ?= 7

bench-serve-resume: $(BUILD)/ttt
	/usr/bin/python3 bench/serve_resume.py --ttt $(BUILD)/ttt --out results/serve --lengths $(RESUME_LENGTHS) \
	    --reps $(RESUME_REPS)

bench-serve-resume-redraw:
	/usr/bin/python3 bench/serve_resume.py --redraw --out results/serve
