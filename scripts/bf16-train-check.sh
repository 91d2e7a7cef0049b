#!/bin/sh
# bf16-train-check.sh: the accuracy of bf16 mixed-precision training on the README's main job
# (`make bf16-train-check`). Trains the main job's model (scripts/demo.sh: TTT-Linear, 2
# layers, width 128, Mamba backbone, 300 steps of 16 x 256 Llama-2 tokens) twice from the same
# initial weights and data order, float32 and --bf16, then evaluates both on the held-out text
# in float32. Prints the final training loss (the mean of the last 25 steps) and the held-out
# loss of each, and their relative differences; exits 1 if either exceeds 1%. Everything goes
# to runs/bf16-check/ (RUN=DIR to change it); the demo's DEMO_* settings apply.
set -eu
TTT=${1:-build/ttt}
RUN=${RUN:-runs/bf16-check}
STEPS=${DEMO_STEPS:-300}
LAYERS=${DEMO_LAYERS:-2}
WIDTH=${DEMO_WIDTH:-128}
HEADS=${DEMO_HEADS:-4}
INTER=${DEMO_INTERMEDIATE:-344}
SEQ=${DEMO_SEQ_LEN:-256}
BATCH=${DEMO_BATCH:-16}
LR=${DEMO_LR:-6e-3}
TOK=data/tokens/llama2
[ -f "$TOK/train.tok" ] && [ -f "$TOK/eval.tok" ] || { echo "bf16-train-check: run 'make demo' (or 'ttt data') first: no $TOK"; exit 2; }
mkdir -p "$RUN"
for mode in f32 bf16; do
    flag=""
    [ "$mode" = bf16 ] && flag="--bf16"
    rm -rf "$RUN/$mode"
    start=$(date +%s)
    "$TTT" train --preset ttt-linear-small --layers "$LAYERS" --width "$WIDTH" --heads "$HEADS" \
        --intermediate "$INTER" --data "$TOK/train.tok" --val "$TOK/eval.tok" --run "$RUN/$mode" --steps "$STEPS" \
        --seq-len "$SEQ" --batch "$BATCH" --lr "$LR" --log-every 1 --val-every 100 --val-windows 8 --quiet $flag
    echo "$mode: trained in $(( $(date +%s) - start )) s"
    "$TTT" eval --model "$RUN/$mode/model" --data "$TOK/eval.tok" --context "$SEQ" --batch 8 > "$RUN/$mode/eval.txt"
done
/usr/bin/python3 - "$RUN" <<'PY'
import json, math, sys
run = sys.argv[1]
res = {}
for mode in ("f32", "bf16"):
    losses = [json.loads(l) for l in open(f"{run}/{mode}/metrics.jsonl")]
    tr = [r["loss"] for r in losses if "loss" in r][-25:]
    ev = open(f"{run}/{mode}/eval.txt").read()
    held = float(ev.split("mean loss ")[1].split()[0])
    res[mode] = (sum(tr) / len(tr), held)
rows = [("final training loss (mean of the last 25 steps)", 0), ("held-out loss (float32 eval)", 1)]
bad = 0
print(f"{'':50s} {'f32':>8s} {'bf16':>8s} {'rel. diff':>9s}")
for name, i in rows:
    a, b = res["f32"][i], res["bf16"][i]
    d = (b - a) / a
    bad |= abs(d) > 0.01
    print(f"{name:50s} {a:8.4f} {b:8.4f} {100 * d:+8.2f}%")
print("within 1%" if not bad else "NOT within 1%")
sys.exit(1 if bad else 0)
PY
