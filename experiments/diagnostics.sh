#!/bin/sh
# diagnostics.sh: the inner-loop diagnostics (the paper's Figure 4) of the TTT-Linear and
# TTT-MLP models trained by the short-context study: for the last token of every mini-batch
# along 2048-token held-out windows, the reconstruction loss at W0, at the weights the
# mini-batch started from, and after its update. Needs experiments/short_context.sh first
# (with --smoke, the smoke version of it in the same directory).
STUDY=diagnostics
. "$(dirname "$0")/lib.sh"
SRC=$(dirname "$RUNS")/short_context
if [ "$SMOKE" = 1 ]; then SEQ=64 W=2; else SEQ=2048 W=32; fi
for k in ttt-linear ttt-mlp; do
    [ "$REDRAW" = 1 ] && break
    [ -f "$SRC/$k/latest" ] || { echo "$SRC/$k: run experiments/short_context.sh first" >&2; exit 1; }
    out=$RESULTS/ttt_stats_$k.csv
    if [ -f "$out" ] && [ "$out" -nt "$SRC/$k/latest" ]; then log "$k: diagnostics computed"; continue; fi
    log "$k: diagnostics on $W held-out windows of $SEQ"
    run "$TTT" eval --model "$SRC/$k/model" --data "$DATA/eval.tok" --context $SEQ --windows $W --batch 1 \
        --ttt-stats "$out" > "$RESULTS/eval_$k.txt"
done
collect --models ttt-linear ttt-mlp --ttt-stats
