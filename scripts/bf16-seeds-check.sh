#!/bin/sh
# bf16-seeds-check.sh: is the gap between bf16 and float32 training on the README's main job
# larger than the spread between seeds? (`make bf16-seeds-check`; bf16-train-check.sh compares
# one float32 and one bf16 run). For each seed in SEEDS (default "1 2 3"; --seed and
# --init-seed both take it, so the initial weights and the window order change together), it
# trains the main job (scripts/demo-settings.sh) in float32 and with --bf16 and evaluates both
# on the held-out text in float32. It prints, per seed and as mean and range over the seeds, the
# final training loss (the mean of the last 25 steps) and the held-out loss, and the bf16
# difference. bf16 passes when the mean difference is within 1% of the float32 mean, or within
# the float32 range over seeds (noise that the seed alone makes). Exits 1 otherwise. Runs go to
# runs/bf16-seeds/ (RUN=DIR); the demo's DEMO_* settings apply.
set -eu
TTT=${1:-build/ttt}
RUN=${RUN:-runs/bf16-seeds}
SEEDS=${SEEDS:-"1 2 3"}
. "$(dirname "$0")/demo-settings.sh"
[ -f "$TOK/train.tok" ] && [ -f "$TOK/eval.tok" ] || { echo "bf16-seeds-check: run 'make demo' (or 'ttt data') first: no $TOK"; exit 2; }
mkdir -p "$RUN"
for seed in $SEEDS; do
    for mode in f32 bf16; do
        flag=""
        [ "$mode" = bf16 ] && flag="--bf16"
        dir="$RUN/seed$seed-$mode"
        if [ -f "$dir/eval.txt" ]; then echo "seed $seed $mode: done before (delete $dir to redo)"; continue; fi
        rm -rf "$dir"
        start=$(date +%s)
        "$TTT" train --preset ttt-linear-small --layers "$LAYERS" --width "$WIDTH" --heads "$HEADS" \
            --intermediate "$INTER" --data "$TOK/train.tok" --val "$TOK/eval.tok" --run "$dir" --steps "$STEPS" \
            --seq-len "$SEQ" --batch "$BATCH" --lr "$LR" --seed "$seed" --init-seed "$seed" --log-every 1 \
            --val-every 100 --val-windows 8 --quiet $flag
        "$TTT" eval --model "$dir/model" --data "$TOK/eval.tok" --context "$SEQ" --batch 8 > "$dir/eval.txt.tmp"
        mv "$dir/eval.txt.tmp" "$dir/eval.txt"
        echo "seed $seed $mode: trained and evaluated in $(( $(date +%s) - start )) s"
    done
done
/usr/bin/python3 - "$RUN" $SEEDS <<'PY'
import json, sys
run, seeds = sys.argv[1], sys.argv[2:]
def result(seed, mode):
    d = f"{run}/seed{seed}-{mode}"
    loss = [json.loads(l)["loss"] for l in open(f"{d}/metrics.jsonl") if '"loss"' in l]
    ev = open(f"{d}/eval.txt").read()
    return sum(loss[-25:]) / 25, float(ev.split("mean loss ")[1].split()[0])
res = {(s, m): result(s, m) for s in seeds for m in ("f32", "bf16")}
bad = 0
for i, name in ((0, "final training loss (mean of the last 25 steps)"), (1, "held-out loss (float32 eval)")):
    print(name)
    print(f"  {'seed':>6s} {'f32':>8s} {'bf16':>8s} {'diff':>8s}")
    for s in seeds:
        a, b = res[(s, "f32")][i], res[(s, "bf16")][i]
        print(f"  {s:>6s} {a:8.4f} {b:8.4f} {100 * (b - a) / a:+7.2f}%")
    fa = [res[(s, "f32")][i] for s in seeds]
    fb = [res[(s, "bf16")][i] for s in seeds]
    ma, mb = sum(fa) / len(fa), sum(fb) / len(fb)
    spread = max(fa) - min(fa)
    gap = mb - ma
    ok = abs(gap) / ma <= 0.01 or abs(gap) <= spread
    bad |= not ok
    print(f"  {'mean':>6s} {ma:8.4f} {mb:8.4f} {100 * gap / ma:+7.2f}%   float32 range over seeds {spread:.4f} "
          f"({100 * spread / ma:.2f}%), bf16 range {max(fb) - min(fb):.4f}: "
          + ("within" if ok else "NOT within") + " 1% or the seed range\n")
print("bf16 " + ("agrees with float32 within the noise of the seeds" if not bad else "differs from float32 beyond the noise of the seeds"))
sys.exit(1 if bad else 0)
PY
