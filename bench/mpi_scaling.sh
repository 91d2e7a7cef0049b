#!/bin/sh
# mpi_scaling.sh: training tokens/s of one process against two MPI processes on this machine
# (docs/distributed.md). The same model, data, seed and global batch in three set-ups,
# alternated REPS times: 1 process x 1 thread, 1 process x 2 threads, 2 processes x 1 thread.
# Each is a fresh run of STEPS steps; the figure is the median tokens/s of the steps after the
# first (metrics.jsonl). Prints one line per run and the medians; run it on a quiet machine.
#   bench/mpi_scaling.sh [REPS] [STEPS]        (make bench-mpi)
set -eu
REPS=${1:-3} STEPS=${2:-4}
TTT=${TTT:-build/ttt}
DATA=${TTT_STUDY_DATA:-data/tokens/llama2}/train.tok
[ -f "$DATA" ] || { echo "$DATA not found: make data && $TTT data --tokenizer data/tok/llama2" >&2; exit 1; }
command -v mpirun > /dev/null || { echo "mpirun not found (openmpi-bin)" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
ROOT=""
[ "$(id -u)" -eq 0 ] && ROOT="--allow-run-as-root"
ARGS="--preset ttt-linear-small --layers 4 --width 256 --heads 4 --intermediate 688 --data $DATA --seq-len 2048
      --batch 4 --micro-batch 2 --steps $STEPS --log-every 1 --ckpt-every 0 --seed 1 --init-seed 1 --quiet"
median_tps() {
    /usr/bin/python3 -c '
import json, statistics, sys
t = [json.loads(l).get("tokens_per_s") for l in open(sys.argv[1])]
t = [x for x in t if x is not None][1:]
print("%.1f" % statistics.median(t))' "$1/metrics.jsonl"
}
: > "$TMP/all"
for r in $(seq "$REPS"); do
    for setup in 1x1 1x2 2x1; do
        run=$TMP/run_${setup}_$r
        rm -rf "$run"
        # shellcheck disable=SC2086
        case $setup in
        1x1) "$TTT" train $ARGS --run "$run" --threads 1 > /dev/null ;;
        1x2) "$TTT" train $ARGS --run "$run" --threads 2 > /dev/null ;;
        2x1) mpirun $ROOT --oversubscribe -np 2 "$TTT" train $ARGS --run "$run" --threads 1 > /dev/null ;;
        esac
        t=$(median_tps "$run")
        echo "$setup $t" >> "$TMP/all"
        echo "round $r: $setup (processes x threads) $t tokens/s"
    done
done
for setup in 1x1 1x2 2x1; do
    printf '%s median %s tokens/s\n' "$setup" "$(awk -v s="$setup" '$1 == s { print $2 }' "$TMP/all" | sort -n |
        awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')"
done
