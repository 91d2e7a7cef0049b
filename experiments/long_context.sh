#!/bin/sh
# long_context.sh: the four models of the short-context study trained at context 8192 (same
# sizes, same 2M-token budget); loss against token position (log axis) on the long books, out
# to 8k and, beyond the training length, to 32k. The paper finds that TTT and the Transformer
# keep improving with position while Mamba levels off.
STUDY=long_context
. "$(dirname "$0")/lib.sh"
if [ "$SMOKE" = 1 ]; then
    SEQ=128 LONG=256 BATCH=1 STEPS=3 W=1 SIZE="--layers 1 --width 64 --heads 2" MI="--intermediate 128" MLPI="--intermediate 96" LI="--intermediate 120 --max-position 256" ML="--layers 2 --width 64"
else
    # 2,000,000+ tokens: 245 steps of 1 x 8192
    SEQ=8192 LONG=32768 BATCH=1 STEPS=245 W=0 SIZE="--layers 4 --width 256 --heads 4" MI="--intermediate 688" MLPI="--intermediate 600" LI="--intermediate 736 --max-position 32768" ML="--layers 8 --width 256"
fi
train ttt-linear ttt-linear-small "$SIZE $MI" $SEQ $BATCH $STEPS 3e-3
train ttt-mlp ttt-mlp-small "$SIZE $MLPI" $SEQ $BATCH $STEPS 3e-3
train transformer llama-small "$SIZE $LI" $SEQ $BATCH $STEPS 3e-3
train mamba mamba-small "$ML" $SEQ $BATCH $STEPS 3e-3
for k in ttt-linear ttt-mlp transformer mamba; do
    # every window of the three books (9 + 6 + 3 windows of 32k; twice as many of 8k windows... all of them)
    for book in moby_dick emma persuasion; do
        evaluate $k "$DATA/long_$book.tok" $SEQ $W ${book}_8k --by-position "$RESULTS/bypos_${k}_${book}_8k.csv" --buckets 24
        evaluate $k "$DATA/long_$book.tok" $LONG $W ${book}_32k --by-position "$RESULTS/bypos_${k}_${book}_32k.csv" --buckets 30
    done
done
for k in ttt-linear ttt-mlp transformer mamba; do cost $k $SEQ $BATCH; done
collect --models ttt-linear ttt-mlp transformer mamba --evals moby_dick_8k emma_8k persuasion_8k moby_dick_32k emma_32k persuasion_32k --by-position
