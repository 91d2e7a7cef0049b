#!/bin/sh
# short_context.sh: TTT-Linear and TTT-MLP (Mamba backbone), the Transformer and Mamba at
# matched non-embedding parameters (3.26M-3.50M, within 8%) and the same 2M-token budget at
# context 2048; held-out perplexity on State of the Union 2000-2021 and on the long books;
# training curves; training and evaluation tokens/s. The paper finds them comparable at 2k.
STUDY=short_context
. "$(dirname "$0")/lib.sh"
if [ "$SMOKE" = 1 ]; then
    SEQ=64 BATCH=2 STEPS=3 W=2 SIZE="--layers 1 --width 64 --heads 2" MI="--intermediate 128" MLPI="--intermediate 96" LI="--intermediate 120" ML="--layers 2 --width 64"
else
    # 2,000,000+ tokens: 245 steps of 4 x 2048
    SEQ=2048 BATCH=4 STEPS=245 W=64 SIZE="--layers 4 --width 256 --heads 4" MI="--intermediate 688" MLPI="--intermediate 600" LI="--intermediate 736" ML="--layers 8 --width 256"
fi
train ttt-linear ttt-linear-small "$SIZE $MI" $SEQ $BATCH $STEPS 3e-3
train ttt-mlp ttt-mlp-small "$SIZE $MLPI" $SEQ $BATCH $STEPS 3e-3
train transformer llama-small "$SIZE $LI" $SEQ $BATCH $STEPS 3e-3
train mamba mamba-small "$ML" $SEQ $BATCH $STEPS 3e-3
for k in ttt-linear ttt-mlp transformer mamba; do
    evaluate $k "$DATA/eval.tok" $SEQ $W sotu
    for book in moby_dick emma persuasion; do
        evaluate $k "$DATA/long_$book.tok" $SEQ $W $book
    done
done
for k in ttt-linear ttt-mlp transformer mamba; do cost $k $SEQ $BATCH; done
collect --models ttt-linear ttt-mlp transformer mamba --evals sotu moby_dick emma persuasion
