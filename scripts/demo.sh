#!/bin/sh
# demo.sh: the README's main job (until training lands): create the paper's 125M TTT-Linear
# model, run its forward pass at 2k context and a forward + backward, and check on a small
# model that token-by-token decoding through the recurrent cache reproduces the forward.
set -eu
TTT=${1:-build/ttt}
OUT=runs/demo
mkdir -p "$OUT"
echo "== 1. a fresh TTT-Linear (Mamba backbone) 125M model"
"$TTT" init --preset ttt-linear-125m --out "$OUT/ttt-linear-125m" --seed 1
"$TTT" info --model "$OUT/ttt-linear-125m"
echo
echo "== 2. forward at B=1, L=2048 (median of 3), then forward + backward at L=512"
"$TTT" forward --model "$OUT/ttt-linear-125m" --random 1x2048 --repeat 3
"$TTT" forward --model "$OUT/ttt-linear-125m" --random 1x512 --grad
echo
echo "== 3. decode through the recurrent cache vs the full forward (small TTT-MLP model)"
"$TTT" init --preset ttt-mlp-tiny --out "$OUT/ttt-mlp-tiny" --seed 2
"$TTT" forward --model "$OUT/ttt-mlp-tiny" --random 2x300 --decode --output "$OUT/tiny-out.safetensors"
echo
echo "demo done: models and outputs are in $OUT/"
