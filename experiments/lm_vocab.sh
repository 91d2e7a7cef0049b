#!/bin/sh
# lm_vocab.sh: language modelling with a vocabulary sized for the model (issue 20): the
# 4096-id byte-level BPE trained on the training split (make data-bpe: data/tok/bpe4096/,
# data/tokens/bpe4096/), the four families -- TTT-Linear and TTT-MLP (Mamba backbone, as in
# short_context.sh), the Transformer, Mamba -- at two sizes matched in non-embedding
# parameters as the paper matches them (Mamba two blocks per Transformer layer), context 512,
# batch 8 (4,096 tokens a step). Headline: held-out bits per byte (ttt eval --bits-per-byte) on
# the whole eval split (State of the Union 2000-2021, every window of 512).
#
#   stage A  small size, learning rates 1e-3, 3e-3, 1e-2 per family, seed 1
#   stage B  small size, each family's best stage-A learning rate (the lowest held-out bits
#            per byte, read from results/lm_vocab/eval_*_sotu.json by experiments/lm_vocab.py
#            best), seeds 2 and 3 (with stage A's seed 1: three seeds, mean ± spread)
#   stage C  large size, the same best learning rate, seed 1
#
# Sizes (ttt info; the tied 4096 x width embedding apart: 1,048,576 at width 256, 1,572,864
# at width 384):
#   small: width 256, 4 heads   non-embedding  (within 7.6%, short_context.sh's sizes)
#     TTT-Linear  4 layers, SwiGLU 688         3,255,632
#     TTT-MLP     4 layers, SwiGLU 600         3,448,144
#     Transformer 4 layers, SwiGLU 736         3,311,872
#     Mamba       8 layers                     3,504,384
#   large: width 384, 6 heads                  (within 1.9%)
#     TTT-Linear  8 layers, SwiGLU 1100       15,142,448
#     TTT-MLP     8 layers, SwiGLU 960        15,240,752
#     Transformer 8 layers, SwiGLU 1160       15,415,680
#     Mamba      16 layers                    15,427,968
#
# Budget: STEPS_SMALL=500 and STEPS_LARGE=500 steps of LM_VOCAB_BATCH=8 x LM_VOCAB_SEQ=512
# tokens (2,048,000 tokens each): the same tokens at both sizes, so the sizes compare at equal
# data (not compute-optimal: about 0.6 tokens per non-embedding parameter at the small size,
# 0.13 at the large). Changing the budget needs fresh runs/lm_vocab and results/lm_vocab.
# Before stage A every (family, size) is timed with a few training steps and a short
# evaluation (cached in runs/lm_vocab/timing/), and the expected machine time of the whole
# study is printed and written to results/lm_vocab/plan.json; --dry-run stops there.
#
#   experiments/lm_vocab.sh [--dry-run]  |  --smoke DIR  |  --redraw       (see lib.sh)
STUDY=lm_vocab
STUDY_DATA=data/tokens/bpe4096
STUDY_DATA_HINT="make data-bpe"
STUDY_DRY_RUN=1
. "$(dirname "$0")/lib.sh"
TOK=data/tok/bpe4096
PY="/usr/bin/python3 experiments/lm_vocab.py"
# LM_VOCAB_FAMILIES: a subset of the families (the smoke test uses two, for time)
FAMILIES=${LM_VOCAB_FAMILIES:-ttt-linear ttt-mlp transformer mamba}
if [ "$SMOKE" = 1 ]; then
    # one thread (and no OpenMP/OpenBLAS pools): the tiny models start faster so
    export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
    SEQ=64 BATCH=2 STEPS_SMALL=3 STEPS_LARGE=3 W=2 PROBE=2 PROBE_W=2 LRS="1e-3 3e-3 1e-2" TH="--threads 1"
    SMALL="--layers 1 --width 64 --heads 2 $TH" SMALL_MAMBA="--layers 2 --width 64 $TH"
    LARGE="--layers 2 --width 64 --heads 2 $TH" LARGE_MAMBA="--layers 4 --width 64 $TH"
    SMALL_I="128 96 120" LARGE_I="128 96 120"
else
    SEQ=${LM_VOCAB_SEQ:-512} BATCH=${LM_VOCAB_BATCH:-8} STEPS_SMALL=${STEPS_SMALL:-500} STEPS_LARGE=${STEPS_LARGE:-500}
    W=0 PROBE=4 PROBE_W=8 LRS="1e-3 3e-3 1e-2" TH=  # W=0: every window of the eval split
    SMALL="--layers 4 --width 256 --heads 4" SMALL_MAMBA="--layers 8 --width 256"
    LARGE="--layers 8 --width 384 --heads 6" LARGE_MAMBA="--layers 16 --width 384"
    SMALL_I="688 600 736" LARGE_I="1100 960 1160"  # SwiGLU of TTT-Linear, TTT-MLP, Transformer
fi

# preset FAMILY  /  flags FAMILY SIZE: the preset and the size overrides of a (family, size)
preset() {
    case $1 in
    ttt-linear) echo ttt-linear-small ;; ttt-mlp) echo ttt-mlp-small ;;
    transformer) echo llama-small ;; mamba) echo mamba-small ;;
    esac
}
flags() {
    if [ "$2" = small ]; then s=$SMALL m=$SMALL_MAMBA i=$SMALL_I; else s=$LARGE m=$LARGE_MAMBA i=$LARGE_I; fi
    # shellcheck disable=SC2086
    set -- "$1" $i
    case $1 in
    ttt-linear) echo "$s --intermediate $2" ;; ttt-mlp) echo "$s --intermediate $3" ;;
    transformer) echo "$s --intermediate $4" ;; mamba) echo "$m" ;;
    esac
}

# probe FAMILY SIZE: PROBE training steps (logged each) and a PROBE_W-window evaluation of the
# result, into $RUNS/timing/FAMILY-SIZE/ (kept: a later sitting reuses them)
probe() {
    d=$RUNS/timing/$1-$2
    [ -f "$d/eval.txt" ] && return 0
    rm -rf "$d"
    mkdir -p "$RUNS/timing"
    log "timing probe: $1 $2 ($PROBE steps of $BATCH x $SEQ)"
    # shellcheck disable=SC2046
    "$TTT" train --preset "$(preset "$1")" $(flags "$1" "$2") --data "$DATA/train.tok" --run "$d" --seq-len "$SEQ" \
        --batch "$BATCH" --steps "$PROBE" --lr 3e-3 --log-every 1 --ckpt-every 0 --quiet > /dev/null
    # shellcheck disable=SC2086
    "$TTT" eval --model "$d/model" --data "$DATA/eval.tok" --context "$SEQ" --windows "$PROBE_W" --batch 1 $TH > "$d/eval.txt.tmp"
    mv "$d/eval.txt.tmp" "$d/eval.txt"
}

# evaluate_all KEYS: the evaluation of each trained run of a stage on the whole eval split
evaluate_all() {
    for k in "$@"; do
        # shellcheck disable=SC2086
        evaluate "$k" "$DATA/eval.tok" "$SEQ" "$W" sotu --bits-per-byte --tokenizer "$TOK" \
            --json "$RESULTS/eval_${k}_sotu.json" $TH
    done
}

PLAN="--results $RESULTS --seq-len $SEQ --batch $BATCH --steps-small $STEPS_SMALL --steps-large $STEPS_LARGE"
PLAN="$PLAN --families $FAMILIES --lrs $LRS --seeds 2 3"
if [ "$REDRAW" = 0 ]; then
    for size in small large; do for f in $FAMILIES; do probe "$f" "$size"; done; done
    # shellcheck disable=SC2086
    $PY plan $PLAN --runs "$RUNS" --eval-data "$DATA/eval.tok" --eval-windows "$W"
    if [ "$DRY_RUN" = 1 ]; then
        log "--dry-run: nothing trained"
        exit 0
    fi
fi

# stage A: the learning-rate sweep at the small size, seed 1
A=""
for lr in $LRS; do
    for f in $FAMILIES; do
        train "$f-small-lr$lr-s1" "$(preset "$f")" "$(flags "$f" small)" "$SEQ" "$BATCH" "$STEPS_SMALL" "$lr" 1
        A="$A $f-small-lr$lr-s1"
    done
done
# shellcheck disable=SC2086
evaluate_all $A

# stages B and C: each family's best stage-A learning rate, seeds 2 and 3 at the small size,
# seed 1 at the large
B="" C=""
for f in $FAMILIES; do
    # shellcheck disable=SC2086
    best=$($PY best --results "$RESULTS" --family "$f" --lrs $LRS)
    log "$f: best stage-A learning rate $best"
    for seed in 2 3; do
        train "$f-small-lr$best-s$seed" "$(preset "$f")" "$(flags "$f" small)" "$SEQ" "$BATCH" "$STEPS_SMALL" "$best" "$seed"
        B="$B $f-small-lr$best-s$seed"
    done
done
# shellcheck disable=SC2086
evaluate_all $B
for f in $FAMILIES; do
    # shellcheck disable=SC2086
    best=$($PY best --results "$RESULTS" --family "$f" --lrs $LRS)
    train "$f-large-lr$best-s1" "$(preset "$f")" "$(flags "$f" large)" "$SEQ" "$BATCH" "$STEPS_LARGE" "$best" 1
    C="$C $f-large-lr$best-s1"
done
# shellcheck disable=SC2086
evaluate_all $C

# shellcheck disable=SC2086
$PY collect $PLAN --runs "$RUNS"
finish_log
log "results in $RESULTS/"
