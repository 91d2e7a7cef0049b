#!/bin/sh
# bench-tokenizer-train.sh: time `ttt tokenizer train` on the training split (data/splits/train.list)
# for byte-bpe and sp-bpe at vocabularies 4096 and 8192, and measure the compression of each trained
# tokenizer on the held-out split (data/splits/eval.list, bytes per token, no BOS/EOS) against
# Llama-2's (32000) and GPT-2's (50257) tokenizers. The trained files are encoded by `ttt tokenize`
# when it reads tokenizer.json, else by @lenml/tokenizers under node (tests/tok_oracle.cjs).
#   usage: scripts/bench-tokenizer-train.sh TTT DATA_DIR [THREADS] [OUT_DIR]
set -eu
TTT=$1
DATA=$2
THREADS=${3:-2}
OUT=${4:-$(mktemp -d)}
mkdir -p "$OUT"
TRAIN=$DATA/splits/train.list
EVAL=$DATA/splits/eval.list
PKG=$DATA/pkg/lenml-tokenizers-3.7.2/package
for f in "$TRAIN" "$EVAL"; do
    [ -f "$f" ] || { echo "bench-tokenizer-train: $f is missing (run 'make data')" >&2; exit 1; }
done
list_bytes() { (cd "$(dirname "$1")" && cat $(cat "$(basename "$1")") | wc -c); }
train_bytes=$(list_bytes "$TRAIN")
eval_bytes=$(list_bytes "$EVAL")
now() { date +%s.%N; }

# tokens of the eval split with a tokenizer.json: ttt's reader if it has one, else node
count_json() { # JSON CONFIG
    if n=$("$TTT" tokenize --tokenizer "$1" --input-list "$EVAL" --count 2>/dev/null); then echo "$n"; return; fi
    if [ -f "$PKG/dist/main.js" ] && command -v node >/dev/null 2>&1; then
        files=$(sed "s|^|$(dirname "$EVAL")/|" "$EVAL")
        node "$(dirname "$0")/../tests/tok_oracle.cjs" "$PKG" "$1" "$2" files $files |
            sed 's/.*"tokens":\([0-9]*\).*/\1/'
        return
    fi
    echo "n/a"
}
ratio() { if [ "$2" = "n/a" ]; then echo "n/a"; else awk -v b="$1" -v t="$2" 'BEGIN { printf "%.3f", b / t }'; fi; }

echo "training text: $train_bytes bytes ($(wc -l < "$TRAIN") files); held-out text: $eval_bytes bytes; $THREADS threads"
printf '%-10s %6s %10s %10s %14s %14s\n' kind vocab wall_s train_s train_B/tok eval_B/tok
for kind in byte-bpe sp-bpe; do
    for v in 4096 8192; do
        j=$OUT/$kind-$v.json
        c=$OUT/$kind-$v-config.json
        t0=$(now)
        line=$("$TTT" tokenizer train --kind "$kind" --vocab "$v" --input-list "$TRAIN" --threads "$THREADS" \
               --out "$j" --config "$c" --quiet)
        t1=$(now)
        wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
        tt=$(echo "$line" | awk '{ print $2 }')
        secs=$(echo "$line" | awk '{ print $10 }')
        n=$(count_json "$j" "$c")
        printf '%-10s %6s %10s %10s %14s %14s\n' "$kind" "$v" "$wall" "$secs" "$(ratio "$train_bytes" "$tt")" \
            "$(ratio "$eval_bytes" "$n")"
    done
done
for t in llama2 r50k_base.tiktoken; do
    [ -e "$DATA/tok/$t" ] || continue
    n=$("$TTT" tokenize --tokenizer "$DATA/tok/$t" --input-list "$EVAL" --count)
    name=$([ "$t" = llama2 ] && echo "llama2" || echo "gpt2")
    vv=$([ "$t" = llama2 ] && echo 32000 || echo 50257)
    printf '%-10s %6s %10s %10s %14s %14s\n' "$name" "$vv" - - - "$(ratio "$eval_bytes" "$n")"
done
echo "(trained files in $OUT)"
