#!/bin/sh
# ladder.sh: the ablations of TTT-Linear (the paper's Table 1 and its mini-batch study) rerun in
# the set-up of experiments/lm_vocab.sh (issue 20), with seeds: TTT-Linear (M) at the small size
# (4 layers, width 256, SwiGLU 688: 3.26M non-embedding parameters), the 4096-id BPE vocabulary,
# context 512, 500 steps of 8 x 512 tokens, the learning rate of its best lm_vocab sweep run
# (experiments/lm_vocab.py best; LADDER_LR=x sets it), seeds 1-3 (LADDER_SEEDS). One change from
# the base model (mini-batch 16, Mamba backbone, learnable inner learning rate, token-position
# scale) per variant:
#
#   transformer-backbone   the Transformer backbone (no pre-convolution, no shared QK, no gate)
#   fixed-lr               the inner learning-rate gate held at zero (a fixed eta)
#   no-token-scale         the token-position scale tau = 1
#   minibatch-B            inner mini-batch B in 1, 4, 64 and 512 (the whole sequence: batch GD)
#
# The base runs are the lm_vocab study's TTT-Linear runs at that learning rate (the same preset,
# sizes, data, recipe and seeds: linked, not trained twice, when they are there). Held-out: bits
# per byte on every 512-token window of the eval split. A variant differs from the base only when
# the per-seed differences agree in sign and their mean exceeds two standard errors
# (experiments/long_docs.py verdict).
#
# Before training, each variant is timed with a few steps (runs/ladder/timing/) and the
# expected machine time is printed and written to results/ladder/plan.json; --dry-run stops there.
#
#   experiments/ladder.sh [--dry-run]  |  --smoke DIR  |  --redraw       (see lib.sh)
STUDY=ladder
STUDY_DATA=data/tokens/bpe4096
STUDY_DATA_HINT="make data-bpe"
STUDY_DRY_RUN=1
. "$(dirname "$0")/lib.sh"
TOK=data/tok/bpe4096
PY="/usr/bin/python3 experiments/ladder.py"
VARIANTS="transformer-backbone fixed-lr no-token-scale minibatch-1 minibatch-4 minibatch-64 minibatch-512"
if [ "$SMOKE" = 1 ]; then
    export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
    SEQ=64 BATCH=2 STEPS=3 W=2 PROBE=2 PROBE_W=2 SEEDS="1 2" TH="--threads 1"
    SIZE="--layers 1 --width 64 --heads 2 --intermediate 128 $TH"
    VARIANTS="transformer-backbone minibatch-1"
    LR=${LADDER_LR:-3e-3}
else
    # lm_vocab.sh's small TTT-Linear: keep the two in step, or the base runs are not shared
    SEQ=512 BATCH=8 STEPS=500 W=0 PROBE=4 PROBE_W=8 SEEDS=${LADDER_SEEDS:-1 2 3} TH=
    SIZE="--layers 4 --width 256 --heads 4 --intermediate 688"
    LR=${LADDER_LR:-}
fi
# flags VARIANT: the preset overrides of a variant
flags() {
    case $1 in
    base) echo "$SIZE" ;;
    transformer-backbone) echo "$SIZE --backbone transformer" ;;
    fixed-lr) echo "$SIZE --fixed-lr-gate" ;;
    no-token-scale) echo "$SIZE --unit-token-scale" ;;
    minibatch-*) echo "$SIZE --mini-batch ${1#minibatch-}" ;;
    esac
}

# probe VARIANT: PROBE training steps and a PROBE_W-window evaluation into $RUNS/timing/VARIANT/
# (kept for a later sitting)
probe() {
    d=$RUNS/timing/$1
    [ -f "$d/eval.txt" ] && return 0
    rm -rf "$d"
    mkdir -p "$RUNS/timing"
    log "timing probe: $1 ($PROBE steps of $BATCH x $SEQ)"
    # shellcheck disable=SC2046
    "$TTT" train --preset ttt-linear-small $(flags "$1") --data "$DATA/train.tok" --run "$d" --seq-len "$SEQ" \
        --batch "$BATCH" --steps "$PROBE" --lr 3e-3 --log-every 1 --ckpt-every 0 --quiet > /dev/null
    # shellcheck disable=SC2086
    "$TTT" eval --model "$d/model" --data "$DATA/eval.tok" --context "$SEQ" --windows "$PROBE_W" --batch 1 $TH > "$d/eval.txt.tmp"
    mv "$d/eval.txt.tmp" "$d/eval.txt"
}

PLAN="--results $RESULTS --runs $RUNS --variants base $VARIANTS --seeds $SEEDS --steps $STEPS"
PLAN="$PLAN --tokens-per-step $((SEQ * BATCH))"
if [ "$REDRAW" = 0 ]; then
    for v in base $VARIANTS; do probe "$v"; done
    # shellcheck disable=SC2086
    $PY plan $PLAN --eval-data "$DATA/eval.tok" --eval-windows "$W" --seq-len "$SEQ"
    if [ "$DRY_RUN" = 1 ]; then
        log "--dry-run: nothing trained"
        exit 0
    fi
    if [ -z "$LR" ]; then
        LR=$(/usr/bin/python3 experiments/lm_vocab.py best --results results/lm_vocab --family ttt-linear --lrs 1e-3 3e-3 1e-2)
    fi
    log "learning rate $LR"
    for seed in $SEEDS; do
        lv=$(dirname "$RUNS")/lm_vocab/ttt-linear-small-lr$LR-s$seed
        if [ "$SMOKE" = 0 ] && [ ! -e "$RUNS/base-s$seed" ] && [ -f "$lv/latest" ]; then
            ln -s "$(cd "$lv" && pwd)" "$RUNS/base-s$seed"
            log "base-s$seed: the lm_vocab study's run ($lv)"
        fi
    done
    # seed by seed, so that a study stopped part-way has every variant at its first seeds
    for seed in $SEEDS; do
        for v in base $VARIANTS; do
            train "$v-s$seed" ttt-linear-small "$(flags "$v")" "$SEQ" "$BATCH" "$STEPS" "$LR" "$seed"
            # shellcheck disable=SC2086
            evaluate "$v-s$seed" "$DATA/eval.tok" "$SEQ" "$W" sotu --bits-per-byte --tokenizer "$TOK" \
                --json "$RESULTS/eval_$v-s${seed}_sotu.json" $TH
        done
    done
fi
# shellcheck disable=SC2086
$PY collect $PLAN
finish_log
log "results in $RESULTS/"
