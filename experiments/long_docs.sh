#!/bin/sh
# long_docs.sh: long context on long documents (issue 20). The four families at the small size
# of experiments/lm_vocab.sh (about 3.3-3.5M non-embedding parameters, the 4096-id BPE
# vocabulary) trained on the long coherent texts of the training split only (the books and the
# State of the Union addresses 1790-1999: data/tokens/bpe4096/long_train.tok, make data-long),
# with every training window inside one document (ttt train --doc-windows: no document boundary
# in a window), at context 2048 (batch 4) and 8192 (batch 1): 8,192 tokens a step either way,
# the same tokens and steps at both lengths, and the same 2,048,000 tokens as lm_vocab.sh. Each family's learning rate is its best of the
# lm_vocab learning-rate sweep (experiments/lm_vocab.py best; LONG_DOCS_LR=x sets one for all).
# Evaluated on every 32768-token window of the three held-out books (Moby Dick, Emma,
# Persuasion), with the loss by token position (ttt eval --by-position, 30 log-spaced buckets)
# and bits per byte; positions past the training length show how a model extrapolates.
#
#   seeds    1 at context 2048; 1, 2, 3 at context 8192 (LONG_DOCS_SEEDS_8K), for the spread,
#            except the Transformer: 1 (LONG_DOCS_SEEDS_8K_TRANSFORMER), whose 8k run costs 2.7
#            times TTT-Linear's to train and 6 times to evaluate at 32k
#   budget   LONG_DOCS_STEPS steps of 8,192 tokens (default 250: 2,048,000 tokens a run)
#
# Before training, every (family, context) is timed with a few steps and a one-window 32k
# evaluation (cached in runs/long_docs/timing/), and the expected machine time of the whole
# study is printed and written to results/long_docs/plan.json; --dry-run stops there.
#
#   experiments/long_docs.sh [--dry-run]  |  --smoke DIR  |  --redraw       (see lib.sh)
STUDY=long_docs
STUDY_DATA=data/tokens/bpe4096
STUDY_DATA_HINT="make data-bpe data-long"
STUDY_DRY_RUN=1
. "$(dirname "$0")/lib.sh"
TOK=data/tok/bpe4096
TRAIN_TOK=$DATA/long_train.tok
TRAIN_FLAGS=--doc-windows
PY="/usr/bin/python3 experiments/long_docs.py"
FAMILIES=${LONG_DOCS_FAMILIES:-ttt-linear ttt-mlp transformer mamba}
BOOKS="moby_dick emma persuasion"
if [ "$REDRAW" = 0 ]; then
    for f in $TRAIN_TOK $DATA/long_moby_dick.tok $DATA/long_emma.tok $DATA/long_persuasion.tok; do
        [ -f "$f" ] || { echo "$f not found: run $STUDY_DATA_HINT" >&2; exit 1; }
    done
fi
if [ "$SMOKE" = 1 ]; then
    export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
    SHORT=64 SHORT_B=2 LONG=128 LONG_B=1 EVAL=256 STEPS=3 W=1 PROBE=2 SEEDS_8K="1 2" SEEDS_8K_T=1 TH="--threads 1"
    SIZE="--layers 1 --width 64 --heads 2 $TH" SIZE_MAMBA="--layers 2 --width 64 $TH" I="128 96 120"
    LR=${LONG_DOCS_LR:-3e-3}
else
    SHORT=2048 SHORT_B=4 LONG=8192 LONG_B=1 EVAL=32768 STEPS=${LONG_DOCS_STEPS:-250} W=0 PROBE=3 TH=
    SEEDS_8K=${LONG_DOCS_SEEDS_8K:-1 2 3} SEEDS_8K_T=${LONG_DOCS_SEEDS_8K_TRANSFORMER:-1}
    SIZE="--layers 4 --width 256 --heads 4" SIZE_MAMBA="--layers 8 --width 256" I="688 600 736"
    LR=${LONG_DOCS_LR:-}
fi

# preset FAMILY / flags FAMILY: the small size of lm_vocab.sh; the Transformer's RoPE tables
# cover the evaluation length (it is trained only on positions below the training length)
preset() {
    case $1 in
    ttt-linear) echo ttt-linear-small ;; ttt-mlp) echo ttt-mlp-small ;;
    transformer) echo llama-small ;; mamba) echo mamba-small ;;
    esac
}
flags() {
    # shellcheck disable=SC2086
    set -- "$1" $I
    case $1 in
    ttt-linear) echo "$SIZE --intermediate $2" ;; ttt-mlp) echo "$SIZE --intermediate $3" ;;
    transformer) echo "$SIZE --intermediate $4 --max-position $EVAL" ;; mamba) echo "$SIZE_MAMBA" ;;
    esac
}
batch_of() { if [ "$1" = "$SHORT" ]; then echo "$SHORT_B"; else echo "$LONG_B"; fi; }
# seeds_of FAMILY CONTEXT
seeds_of() {
    if [ "$2" = "$SHORT" ]; then echo 1; elif [ "$1" = transformer ]; then echo "$SEEDS_8K_T"; else echo "$SEEDS_8K"; fi
}
# lr FAMILY: LONG_DOCS_LR, else the family's best lm_vocab stage-A learning rate
lr_of() {
    if [ -n "$LR" ]; then echo "$LR"; return 0; fi
    /usr/bin/python3 experiments/lm_vocab.py best --results results/lm_vocab --family "$1" --lrs 1e-3 3e-3 1e-2
}

# probe FAMILY CONTEXT: PROBE training steps and a one-window evaluation at the evaluation
# length, into $RUNS/timing/FAMILY-CONTEXT/ (kept: a later sitting reuses them)
probe() {
    d=$RUNS/timing/$1-$2
    [ -f "$d/eval.txt" ] && return 0
    rm -rf "$d"
    mkdir -p "$RUNS/timing"
    log "timing probe: $1 at context $2 ($PROBE steps of $(batch_of "$2") x $2)"
    # shellcheck disable=SC2046
    "$TTT" train --preset "$(preset "$1")" $(flags "$1") --data "$TRAIN_TOK" --doc-windows --run "$d" --seq-len "$2" \
        --batch "$(batch_of "$2")" --steps "$PROBE" --lr 3e-3 --log-every 1 --ckpt-every 0 --quiet > /dev/null
    # shellcheck disable=SC2086
    "$TTT" eval --model "$d/model" --data "$DATA/long_moby_dick.tok" --context "$EVAL" --windows 1 --batch 1 $TH > "$d/eval.txt.tmp"
    mv "$d/eval.txt.tmp" "$d/eval.txt"
}

# run_one FAMILY CONTEXT SEED: train (or resume) one run and evaluate it on the three books
run_one() {
    k=$1-$2-s$3
    lr=$(lr_of "$1")
    log "$k: learning rate $lr"
    train "$k" "$(preset "$1")" "$(flags "$1")" "$2" "$(batch_of "$2")" "$STEPS" "$lr" "$3"
    for book in $BOOKS; do
        # shellcheck disable=SC2086
        evaluate "$k" "$DATA/long_$book.tok" "$EVAL" "$W" "$book" --by-position \
            "$RESULTS/bypos_${k}_$book.csv" --buckets 30 --bits-per-byte --tokenizer "$TOK" \
            --json "$RESULTS/eval_${k}_$book.json" $TH
    done
}

PLAN="--results $RESULTS --runs $RUNS --families $FAMILIES --short $SHORT --long $LONG --eval-context $EVAL"
PLAN="$PLAN --steps $STEPS --seeds-long $SEEDS_8K --seeds-long-transformer $SEEDS_8K_T --books $BOOKS --tokens-per-step $((SHORT * SHORT_B))"
if [ "$REDRAW" = 0 ]; then
    for c in $SHORT $LONG; do for f in $FAMILIES; do probe "$f" "$c"; done; done
    # shellcheck disable=SC2086
    $PY plan $PLAN --data "$DATA" --eval-windows "$W"
    if [ "$DRY_RUN" = 1 ]; then
        log "--dry-run: nothing trained"
        exit 0
    fi
    # the order: every family at 8k with its first seed, then every family at 2k, then the
    # other 8k seeds, so that a study stopped part-way already compares the four families
    for f in $FAMILIES; do set -- $(seeds_of "$f" "$LONG"); run_one "$f" "$LONG" "$1"; done
    for f in $FAMILIES; do run_one "$f" "$SHORT" 1; done
    for f in $FAMILIES; do
        set -- $(seeds_of "$f" "$LONG")
        shift
        for seed in "$@"; do run_one "$f" "$LONG" "$seed"; done
    done
fi
# shellcheck disable=SC2086
$PY collect $PLAN
finish_log
log "results in $RESULTS/"
