#!/bin/sh
# demo.sh: the README's main job. On a fresh machine (after `make demo` has installed the
# Debian packages and built the tool) it fetches and tokenizes the public-domain corpora,
# trains a 4096-id BPE vocabulary on the training split (pinned by sha256), trains a small
# TTT-Linear language model for a few minutes on both cores, evaluates it on held-out text
# against a unigram baseline (perplexity and bits per byte), draws the charts and generates a
# continuation.
# Everything goes to runs/demo/. Settings can be changed through the environment, e.g.
#   DEMO_STEPS=400 DEMO_WIDTH=256 make demo
set -eu
TTT=${1:-build/ttt}
RUN=${DEMO_RUN:-runs/demo}
. "$(dirname "$0")/demo-settings.sh"
start=$(date +%s)
stage() { printf '\n== [%s, %ds] %s\n' "$1" "$(( $(date +%s) - start ))" "$2"; }

stage "1/6" "data: fetch the corpora and tokenizers (scripts/fetch-data.sh; skipped when present)"
make --no-print-directory data
if [ "$VOCAB" = llama2 ]; then
    stage "2/6" "tokenize every split with the Llama-2 tokenizer"
    if [ -f "$TOK/train.tok" ] && [ -f "$TOK/eval.tok" ]; then echo "token files already in $TOK/"
    else "$TTT" data --tokenizer data/tok/llama2; fi
else
    stage "2/6" "train the $VOCAB-id BPE vocabulary on the training split and tokenize every split (scripts/train-bpe.sh)"
    scripts/train-bpe.sh "$TTT" "$VOCAB"
fi
ls -l "$TOK"

stage "3/6" "train a TTT-Linear model ($LAYERS layers, width $WIDTH, $HEADS heads; $STEPS steps of $BATCH x $SEQ tokens)"
if [ -f "$RUN/train/latest" ]; then
    "$TTT" train --run "$RUN/train" --resume --data "$TOK/train.tok" --val "$TOK/eval.tok" --steps "$STEPS" \
        --seq-len "$SEQ" --batch "$BATCH" --lr "$LR" --log-every 25 --val-every 100 --val-windows 8 --ckpt-every 50
else
    mkdir -p "$RUN"
    "$TTT" train --preset ttt-linear-small --tokenizer "$TOKENIZER" --layers "$LAYERS" --width "$WIDTH" --heads "$HEADS" \
        --intermediate "$INTER" --data "$TOK/train.tok" --val "$TOK/eval.tok" --run "$RUN/train" --steps "$STEPS" \
        --seq-len "$SEQ" --batch "$BATCH" --lr "$LR" --log-every 25 --val-every 100 --val-windows 8 --ckpt-every 50
fi

stage "4/6" "evaluate on held-out text (State of the Union 2000-2021) against a unigram baseline"
"$TTT" eval --model "$RUN/train/model" --data "$TOK/eval.tok" --context "$SEQ" --batch 8 \
    --by-position "$RUN/eval_by_position.csv" --buckets 12 --unigram "$TOK/train.tok" --bits-per-byte \
    --json "$RUN/eval.json" | tee "$RUN/eval.txt"
ppl=$(sed -n 's/^perplexity \([0-9.]*\).*/\1/p' "$RUN/eval.txt")
uni=$(sed -n 's/^unigram perplexity \([0-9.]*\).*/\1/p' "$RUN/eval.txt")
bpb=$(sed -n 's/^bits per byte \([0-9.]*\).*/\1/p' "$RUN/eval.txt")
awk -v p="$ppl" -v u="$uni" -v b="$bpb" 'BEGIN { printf "held-out perplexity %.1f vs unigram %.1f: %s; %.3f bits per byte\n", p, u, (p <= u / 2) ? "at most half the unigram baseline" : "NOT below half the unigram baseline", b }'

stage "5/6" "charts"
/usr/bin/python3 scripts/plot.py --run "$RUN/train" --out "$RUN"
/usr/bin/python3 scripts/plot.py --by-position "$RUN/eval_by_position.csv:TTT-Linear (held-out)" --out "$RUN"

stage "6/6" "generate continuations: greedy, then sampled (temperature 0.8, top-p 0.95, seed 1)"
"$TTT" generate --model "$RUN/train/model" --prompt "The state of our Union is" --max-tokens 40 --temperature 0
"$TTT" generate --model "$RUN/train/model" --prompt "The state of our Union is" --max-tokens 60 --temperature 0.8 \
    --top-p 0.95 --seed 1

stage "done" "model: $RUN/train/model   charts: $RUN/loss.png $RUN/loss_by_position.png   metrics: $RUN/train/metrics.jsonl"
