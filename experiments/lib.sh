#!/bin/sh
# lib.sh: shared steps of the studies (sourced by experiments/<study>.sh).
#
# A study trains each of its models from a preset on the Llama-2 token files with the same
# recipe and token budget, evaluates them, and writes metrics (CSV/JSON) and charts (PNG) into
# results/<study>/. Checkpoints go to runs/<study>/ (never committed). Every step is resumable:
# a finished training run is not repeated, an interrupted one resumes from its checkpoint,
# finished evaluations are kept; rerunning a finished study only redraws its charts.
#
#   experiments/<study>.sh            the study
#   experiments/<study>.sh --smoke D  a smoke version (tiny models, a few steps) into D
#   experiments/<study>.sh --redraw   only metrics.csv/json and the charts, from the committed
#                                     results/<study>/ files (no training, evaluation, binary or
#                                     data needed: a clean checkout regenerates them)
set -eu

TTT=${TTT:-build/ttt}
# the token files: TTT_STUDY_DATA, else the study's STUDY_DATA (set before sourcing this file,
# with STUDY_DATA_HINT the command that makes them), else the Llama-2 ones
DATA=${TTT_STUDY_DATA:-${STUDY_DATA:-data/tokens/llama2}}
DATA_HINT=${STUDY_DATA_HINT:-make data && $TTT data --tokenizer data/tok/llama2}
# --dry-run (DRY_RUN=1: time the steps, print the expected time, train nothing) only for the
# studies that set STUDY_DRY_RUN=1 before sourcing this file and act on it
SMOKE=0 REDRAW=0 DRY_RUN=0 OUT=
while [ $# -gt 0 ]; do
    case $1 in
    --smoke) SMOKE=1; OUT=${2:?"--smoke needs an output directory"}; shift 2 ;;
    --redraw) REDRAW=1; shift ;;
    --dry-run) [ "${STUDY_DRY_RUN:-0}" = 1 ] || { echo "$0: this study has no --dry-run" >&2; exit 2; }
        DRY_RUN=1; shift ;;
    *) echo "$0: unknown argument '$1' (expected --smoke DIR or --redraw${STUDY_DRY_RUN:+ or --dry-run})" >&2; exit 2 ;;
    esac
done
if [ "$SMOKE" = 1 ]; then
    RESULTS=$OUT/results/$STUDY
    RUNS=$OUT/runs/$STUDY
else
    RESULTS=results/$STUDY
    RUNS=${TTT_STUDY_RUNS:-runs}/$STUDY
fi
if [ "$REDRAW" = 1 ]; then
    [ -f "$RESULTS/metrics.json" ] || { echo "$RESULTS/metrics.json not found: nothing to redraw" >&2; exit 1; }
else
    mkdir -p "$RESULTS" "$RUNS"
    [ -x "$TTT" ] || { echo "$TTT not found: run make first" >&2; exit 1; }
    for f in train.tok eval.tok; do
        [ -f "$DATA/$f" ] || { echo "$DATA/$f not found: run $DATA_HINT" >&2; exit 1; }
    done
fi
START=$(date +%s)
log() { printf '[%s +%ds] %s\n' "$STUDY" "$(( $(date +%s) - START ))" "$*"; }

# the command log of the study (what was run, for docs/results.md): every sitting appends its
# commands under a line with its start time, so the log covers runs resumed across sittings
COMMANDS=$RESULTS/commands.txt
[ "$REDRAW" = 1 ] || echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $0${OUT:+ --smoke $OUT}" >> "$COMMANDS"
run() {
    echo "$*" >> "$COMMANDS"
    "$@"
}
finish_log() { :; }

# the step of a run directory's newest checkpoint (0 when it has none)
latest_step() {
    [ -f "$1/latest" ] || { echo 0; return 0; }
    n=$(sed -n 's/^ckpt-0*\([0-9][0-9]*\)$/\1/p' "$1/latest")
    echo "${n:-0}"
}

# train KEY PRESET "EXTRA FLAGS" SEQ_LEN BATCH STEPS LR [SEED]
# SEED (default 1) is both the order of the windows (--seed) and the initialisation (--init-seed).
# The windows come from TRAIN_TOK (default $DATA/train.tok); TRAIN_FLAGS (default none) go to
# every training call, the first and the resumed ones (e.g. --doc-windows, which a resume must
# repeat)
# (a finished run is skipped; an interrupted one resumes). TTT_STUDY_STOP_AFTER=N ends each
# training call after N steps with a checkpoint, as an interrupted sitting would (the tests
# use it to exercise resuming).
train() {
    key=$1 preset=$2 extra=$3 seq=$4 batch=$5 steps=$6 lr=$7 seed=${8:-1}
    TRAIN_FLAGS=${TRAIN_FLAGS:-}
    dir=$RUNS/$key
    [ "$REDRAW" = 1 ] && return 0
    stop=
    [ -n "${TTT_STUDY_STOP_AFTER:-}" ] && stop="--stop-after $TTT_STUDY_STOP_AFTER"
    if [ -f "$dir/latest" ]; then
        done_step=$(latest_step "$dir")
        if [ "$done_step" -ge "$steps" ]; then
            log "$key: trained ($steps steps)"
            return 0
        fi
        log "$key: resuming at step $done_step of $steps"
        # shellcheck disable=SC2086
        run "$TTT" train --run "$dir" --resume --data "${TRAIN_TOK:-$DATA/train.tok}" $TRAIN_FLAGS --val "$DATA/eval.tok" --seq-len "$seq" \
            --batch "$batch" --steps "$steps" --lr "$lr" --log-every 10 --val-every 0 --val-windows 4 \
            --ckpt-every 25 --seed "$seed" $stop
    else
        log "$key: training $preset $extra, $steps steps of $batch x $seq tokens"
        # shellcheck disable=SC2086
        run "$TTT" train --preset "$preset" $extra --data "${TRAIN_TOK:-$DATA/train.tok}" $TRAIN_FLAGS --val "$DATA/eval.tok" --run "$dir" \
            --seq-len "$seq" --batch "$batch" --steps "$steps" --lr "$lr" --log-every 10 --val-every 0 \
            --val-windows 4 --ckpt-every 25 --seed "$seed" --init-seed "$seed" $stop
    fi
    if [ -n "${TTT_STUDY_STOP_AFTER:-}" ]; then
        done_step=$(latest_step "$dir")
        if [ "$done_step" -lt "$steps" ]; then
            log "$key: stopped at step $done_step of $steps (TTT_STUDY_STOP_AFTER): the sitting ends here"
            exit 0
        fi
    fi
}

# evaluate KEY DATAFILE CONTEXT WINDOWS NAME [extra eval flags]  ->  $RESULTS/eval_KEY_NAME.txt
evaluate() {
    key=$1 file=$2 ctx=$3 win=$4 name=$5
    shift 5
    out=$RESULTS/eval_${key}_${name}.txt
    [ "$REDRAW" = 1 ] && return 0
    if [ -f "$out" ] && [ "$out" -nt "$RUNS/$key/latest" ]; then
        log "$key: $name evaluated"
        return 0
    fi
    log "$key: evaluating on $name (context $ctx)"
    run "$TTT" eval --model "$RUNS/$key/model" --data "$file" --context "$ctx" --windows "$win" --batch 1 "$@" > "$out.tmp"
    mv "$out.tmp" "$out"
}

# cost KEY SEQ_LEN BATCH  ->  $RESULTS/cost_KEY.txt
# Training tokens/s of the trained model's architecture measured in one short sitting (a few
# steps from its final weights into a scratch run directory, deleted after), so that the cost
# column does not depend on what else shared the machine during the long run. The median of
# the logged steps after the first.
cost() {
    key=$1 seq=$2 batch=$3
    out=$RESULTS/cost_$key.txt
    [ "$REDRAW" = 1 ] && return 0
    if [ -f "$out" ] && [ "$out" -nt "$RUNS/$key/latest" ]; then
        log "$key: cost measured"
        return 0
    fi
    if [ "$SMOKE" = 1 ]; then n=3; else n=6; fi
    tmp=$RUNS/cost_$key.tmp
    rm -rf "$tmp"
    log "$key: cost ($n training steps of $batch x $seq)"
    run "$TTT" train --model "$RUNS/$key/model" --data "$DATA/train.tok" --run "$tmp" --seq-len "$seq" \
        --batch "$batch" --steps "$n" --log-every 1 --ckpt-every 0 --seed 2 --quiet > /dev/null
    /usr/bin/python3 -c '
import json, statistics, sys
t = [json.loads(l).get("tokens_per_s") for l in open(sys.argv[1])]
t = [x for x in t if x is not None][1:]
print("train_tokens_per_s %.1f" % statistics.median(t))' "$tmp/metrics.jsonl" > "$out.tmp"
    mv "$out.tmp" "$out"
    rm -rf "$tmp"
}

# collect KEY... : metrics.csv / metrics.json and charts of the study (experiments/collect.py)
collect() {
    /usr/bin/python3 experiments/collect.py --study "$STUDY" --results "$RESULTS" --runs "$RUNS" "$@"
    finish_log
    log "results in $RESULTS/"
}
