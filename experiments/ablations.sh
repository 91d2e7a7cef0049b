#!/bin/sh
# ablations.sh: TTT-Linear at the smallest size, context 2048, 2M tokens each (the paper's
# Table 1 and backbone comparison): Mamba versus Transformer backbone; mini-batch 16 versus 1
# versus the whole sequence (batch gradient descent); learnable versus fixed inner learning
# rate (the lr gate held at zero); with the token-position scale τ versus τ ≡ 1.
STUDY=ablations
. "$(dirname "$0")/lib.sh"
if [ "$SMOKE" = 1 ]; then
    SEQ=64 BATCH=2 STEPS=3 W=2 SIZE="--layers 1 --width 64 --heads 2 --intermediate 128"
else
    SEQ=2048 BATCH=4 STEPS=245 W=64 SIZE="--layers 4 --width 256 --heads 4 --intermediate 688"
fi
# the baseline is the short-context study's TTT-Linear (same preset, sizes, data, recipe and
# seeds): reused when that run is there rather than trained twice
SC=$(dirname "$RUNS")/short_context/ttt-linear
if [ "$SMOKE" = 0 ] && [ "$REDRAW" = 0 ] && [ ! -e "$RUNS/base" ] && [ -f "$SC/latest" ]; then
    ln -s "$(cd "$SC" && pwd)" "$RUNS/base"
    log "base: the short-context study's TTT-Linear run ($SC)"
fi
train base ttt-linear-small "$SIZE" $SEQ $BATCH $STEPS 3e-3
train transformer-backbone ttt-linear-small "$SIZE --backbone transformer" $SEQ $BATCH $STEPS 3e-3
train minibatch-1 ttt-linear-small "$SIZE --mini-batch 1" $SEQ $BATCH $STEPS 3e-3
train fixed-lr ttt-linear-small "$SIZE --fixed-lr-gate" $SEQ $BATCH $STEPS 3e-3
train no-token-scale ttt-linear-small "$SIZE --unit-token-scale" $SEQ $BATCH $STEPS 3e-3
# the slowest (inner steps over the whole 2048-token sequence) last
train minibatch-all ttt-linear-small "$SIZE --mini-batch $SEQ" $SEQ $BATCH $STEPS 3e-3
for k in base transformer-backbone minibatch-1 minibatch-all fixed-lr no-token-scale; do
    evaluate $k "$DATA/eval.tok" $SEQ $W sotu
done
for k in base transformer-backbone minibatch-1 minibatch-all fixed-lr no-token-scale; do cost $k $SEQ $BATCH; done
collect --models base transformer-backbone minibatch-1 minibatch-all fixed-lr no-token-scale --evals sotu
