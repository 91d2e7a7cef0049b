#!/bin/sh
# tokenizer_bench.sh: `make bench-tokenizer`: times our tokenizers (bench/tokenizer_bench.c, all
# cores and one core) against npm gpt-tokenizer@4.0.0 and llama-tokenizer-js@1.2.2 run with node,
# on the same files (the held-out SOTU speeches and the three long documents, 3.3 MB; the Llama
# peer is slow, so it gets the SOTU speeches once), median of REPS runs each. Prints a table on
# stdout (the raw JSON lines of both sides on stderr) and checks that both sides produce the
# same tokens (count and FNV-1a hash of the ids). Then the five tokenizer.json files of
# data/tok/hf against @lenml/tokenizers@3.7.2 (transformers.js' tokenizers) on the SOTU
# speeches. Also times ours on the whole training mix.
#   bench/tokenizer_bench.sh BENCH_BINARY DATA_DIR REPS
set -eu
BIN=$1; DATA=$2; REPS=${3:-5}
command -v node >/dev/null 2>&1 || { echo "tokenizer_bench: needs node" >&2; exit 1; }
list() { sed "s#^\.\./#$DATA/#" "$DATA/splits/$1.list"; }
SMALL="$(list eval) $(list long_moby_dick) $(list long_emma) $(list long_persuasion)"
EVAL="$(list eval)"
TRAIN="$(list train)"
NPROC=$(nproc)
field() { sed -E "s/.*\"$1\":\"?([^,\"}]*)\"?.*/\1/"; }

printf '%-12s %8s %10s %10s %10s %8s %8s  %s\n' encoding MB "ttt/${NPROC}thr" ttt/1thr peer "ratio" "ratio/1" "same tokens"
for enc in r50k_base cl100k_base o200k_base llama2; do
    if [ $enc = llama2 ]; then files=$EVAL; tok=$DATA/tok/llama2; reps=1; else files=$SMALL; tok=$DATA/tok/$enc.tiktoken; reps=$REPS; fi
    ours=$("$BIN" "$tok" "$REPS" $files)
    ours1=$(OMP_NUM_THREADS=1 "$BIN" "$tok" "$REPS" $files)
    peer=$(node "$(dirname "$0")/tokenizer_bench.mjs" "$DATA" $enc $reps $files)
    echo "$ours" >&2; echo "$ours1" >&2; echo "$peer" >&2
    mb=$(echo "$ours" | field bytes); a=$(echo "$ours" | field mb_s); a1=$(echo "$ours1" | field mb_s); b=$(echo "$peer" | field mb_s)
    same=no
    [ "$(echo "$ours" | field fnv)" = "$(echo "$peer" | field fnv)" ] && [ "$(echo "$ours" | field tokens)" = "$(echo "$peer" | field tokens)" ] && same=yes
    awk -v e=$enc -v mb="$mb" -v a="$a" -v a1="$a1" -v b="$b" -v s=$same 'BEGIN {
        printf "%-12s %8.2f %10.2f %10.2f %10.2f %7.1fx %7.1fx  %s\n", e, mb / 1e6, a, a1, b, a / b, a1 / b, s }'
done
# tokenizer.json files (data/tok/hf) against @lenml/tokenizers@3.7.2, transformers.js'
# tokenizers (tests/hf_oracle.cjs), on the held-out SOTU speeches; node is slow on the
# SentencePiece-style files, so it runs those once
LENML=$DATA/pkg/lenml-tokenizers-3.7.2/package/dist/main.js
ORACLE=$(dirname "$0")/../tests/hf_oracle.cjs
for name in gpt2 llama2 llama3 qwen3 gemma3; do
    tok=$DATA/tok/hf/$name
    [ -d "$tok" ] || continue
    case $name in llama2|gemma3) reps=1;; *) reps=$REPS;; esac
    ours=$("$BIN" "$tok" "$REPS" $EVAL)
    ours1=$(OMP_NUM_THREADS=1 "$BIN" "$tok" "$REPS" $EVAL)
    peer=$(node "$ORACLE" "$LENML" "$tok" --time $reps $EVAL)
    echo "$ours" >&2; echo "$ours1" >&2; echo "$peer" >&2
    mb=$(echo "$ours" | field bytes); a=$(echo "$ours" | field mb_s); a1=$(echo "$ours1" | field mb_s); b=$(echo "$peer" | field mb_s)
    same=no
    [ "$(echo "$ours" | field fnv)" = "$(echo "$peer" | field fnv)" ] && [ "$(echo "$ours" | field tokens)" = "$(echo "$peer" | field tokens)" ] && same=yes
    awk -v e="hf/$name" -v mb="$mb" -v a="$a" -v a1="$a1" -v b="$b" -v s=$same 'BEGIN {
        printf "%-12s %8.2f %10.2f %10.2f %10.2f %7.1fx %7.1fx  %s\n", e, mb / 1e6, a, a1, b, a / b, a1 / b, s }'
done
echo "training mix (45 MB), ours only:"
for enc in r50k_base cl100k_base o200k_base llama2 hf/gpt2 hf/llama2 hf/llama3 hf/qwen3 hf/gemma3; do
    case $enc in llama2) tok=$DATA/tok/llama2;; hf/*) tok=$DATA/tok/$enc;; *) tok=$DATA/tok/$enc.tiktoken;; esac
    [ -e "$tok" ] || continue
    r=$("$BIN" "$tok" 3 $TRAIN)
    echo "$r" >&2
    echo "$r" | awk -v e=$enc -F'[:,]' '{ for (i = 1; i < NF; i++) { if ($i ~ /median_s/) t = $(i+1); if ($i ~ /mb_s/) m = $(i+1) }
        printf "  %-12s %6.2f s  %7.2f MB/s\n", e, t, m }'
done
