#!/bin/sh
# bf16-train-check.sh: the accuracy of bf16 mixed-precision training on the README's main job
# (`make bf16-train-check`). Trains the main job's model (scripts/demo.sh: TTT-Linear, 2
# layers, width 128, Mamba backbone, 300 steps of 16 x 256 Llama-2 tokens) from the same
# initial weights and data order three times: float32, --bf16, and as a control float32 with
# --micro-batch 8 (the same run up to float32 rounding: the gradient is summed in another
# order), then evaluates each on the held-out text in float32. Prints the final training loss
# (the mean of the last 25 steps), the held-out loss, the training loss every 20 steps, and the
# differences from float32; exits 1 if bf16 differs by more than 1%. Everything goes to
# runs/bf16-check/ (RUN=DIR to change it); the demo's DEMO_* settings apply.
set -eu
TTT=${1:-build/ttt}
RUN=${RUN:-runs/bf16-check}
. "$(dirname "$0")/demo-settings.sh"
[ -f "$TOK/train.tok" ] && [ -f "$TOK/eval.tok" ] || { echo "bf16-train-check: run 'make demo' (or 'ttt data') first: no $TOK"; exit 2; }
mkdir -p "$RUN"
for mode in f32 bf16 f32-mb8; do
    flag=""
    [ "$mode" = bf16 ] && flag="--bf16"
    [ "$mode" = f32-mb8 ] && flag="--micro-batch 8"
    rm -rf "$RUN/$mode"
    start=$(date +%s)
    "$TTT" train --preset ttt-linear-small --layers "$LAYERS" --width "$WIDTH" --heads "$HEADS" \
        --intermediate "$INTER" --data "$TOK/train.tok" --val "$TOK/eval.tok" --run "$RUN/$mode" --steps "$STEPS" \
        --seq-len "$SEQ" --batch "$BATCH" --lr "$LR" --log-every 1 --val-every 100 --val-windows 8 --quiet $flag
    echo "$mode: trained in $(( $(date +%s) - start )) s"
    "$TTT" eval --model "$RUN/$mode/model" --data "$TOK/eval.tok" --context "$SEQ" --batch 8 > "$RUN/$mode/eval.txt"
done
/usr/bin/python3 - "$RUN" <<'PY'
import json, sys
run = sys.argv[1]
modes = ("f32", "bf16", "f32-mb8")
curve, res = {}, {}
for mode in modes:
    curve[mode] = [json.loads(l)["loss"] for l in open(f"{run}/{mode}/metrics.jsonl") if '"loss"' in l]
    ev = open(f"{run}/{mode}/eval.txt").read()
    res[mode] = (sum(curve[mode][-25:]) / 25, float(ev.split("mean loss ")[1].split()[0]))
print(f"{'':48s} {'f32':>8s} {'bf16':>8s} {'diff':>7s}   {'f32 mb8':>8s} {'diff':>7s}")
bad = 0
for name, i in (("final training loss (mean of the last 25 steps)", 0), ("held-out loss (float32 eval)", 1)):
    a, b, c = res["f32"][i], res["bf16"][i], res["f32-mb8"][i]
    bad |= abs(b - a) / a > 0.01
    print(f"{name:48s} {a:8.4f} {b:8.4f} {100 * (b - a) / a:+6.2f}%   {c:8.4f} {100 * (c - a) / a:+6.2f}%")
print("\ntraining loss, mean of each 20 steps:")
print(f"{'steps':>9s} " + " ".join(f"{m:>8s}" for m in modes))
n = min(len(curve[m]) for m in modes)
for s0 in range(0, n, 20):
    print(f"{s0 + 1:4d}-{min(s0 + 20, n):<4d} " + " ".join(f"{sum(curve[m][s0:s0 + 20]) / len(curve[m][s0:s0 + 20]):8.4f}" for m in modes))
print("\nbf16 " + ("within 1% of float32" if not bad else "NOT within 1% of float32"))
sys.exit(1 if bad else 0)
PY
