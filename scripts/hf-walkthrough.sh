#!/bin/sh
# hf-walkthrough.sh: the README's walk-through of a Hugging Face model directory, offline.
#
#   scripts/hf-walkthrough.sh [DIR]        (make hf-walkthrough)
#
# No weights can be downloaded here, so step 1 makes directories in exactly the layout that
# `huggingface-cli download` gives: a Llama-architecture model (config.json of
# LlamaForCausalLM, BF16 weights in shards model-0000N-of-0000M.safetensors with
# model.safetensors.index.json, the Llama-2 tokenizer.json + tokenizer_config.json, a
# generation_config.json) and a Mamba-1 model (MambaForCausalLM config, the GPT-2
# tokenizer.json, as state-spaces/mamba-130m-hf's GPT-NeoX one is not fetched). With a real
# download you start at step 2 with DIR = the downloaded directory. Step 2 runs, on each:
# ttt info, ttt generate, token files of the held-out text, ttt eval, a short fine-tuning
# with ttt train --model, ttt eval of the fine-tuned checkpoint, ttt bench --model.
#
# Every command is printed ("$ ...") before its output; the script stops at the first error.
# It writes nothing outside DIR (default runs/hf-walkthrough, which is replaced).
# Environment:
#   TTT=PATH       the ttt binary (default build/ttt of this repository)
#   DATA=DIR       the fetched data (default data/ of this repository: make data)
#   WALK_QUICK=1   tiny models, a few training steps, a tiny bench (the test suite's mode)
#   WALK_MAMBA=0   the Llama directory only
#   WALK_THREADS=N threads of every command (default: all cores)
#   WALK_LLAMA_DIR=DIR, WALK_MAMBA_DIR=DIR   a real downloaded directory (e.g. of
#                  HuggingFaceTB/SmolLM2-135M, state-spaces/mamba-130m-hf) instead of step 1's;
#                  it is only read
#   WALK_STEPS=N WALK_LR=X WALK_BATCH=B   the fine-tuning's steps, learning rate and batch
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TTT=${TTT:-$ROOT/build/ttt}
DATA=${DATA:-$ROOT/data}
QUICK=${WALK_QUICK:-0}
MAMBA=${WALK_MAMBA:-1}
W=${1:-runs/hf-walkthrough}

die() { echo "hf-walkthrough: $*" >&2; exit 1; }
[ -x "$TTT" ] || die "no ttt binary at $TTT (make, or TTT=PATH)"
for f in "$DATA/tok/hf/llama2/tokenizer.json" "$DATA/tok/hf/llama2/tokenizer_config.json" \
         "$DATA/tok/hf/gpt2/tokenizer.json" "$DATA/tok/hf/gpt2/tokenizer_config.json" \
         "$DATA/splits/train.list" "$DATA/splits/eval.list"; do
    [ -f "$f" ] || die "$f is missing (make data fetches it)"
done
case $W in /*) ;; *) W=$(pwd)/$W ;; esac
case $TTT in /*) ;; *) TTT=$(pwd)/$TTT ;; esac
# a real model directory is only read: it may not lie inside the directory that is replaced
for d in "${WALK_LLAMA_DIR:-}" "${WALK_MAMBA_DIR:-}"; do
    [ -z "$d" ] && continue
    [ -f "$d/config.json" ] || die "$d/config.json is missing (WALK_LLAMA_DIR / WALK_MAMBA_DIR name a model directory)"
    a=$(cd "$d" && pwd -P)
    mkdir -p "$W"
    case "$a/" in "$(cd "$W" && pwd -P)/"*) die "$d lies inside $W, which is replaced" ;; esac
done
# a directory of an earlier walk-through is replaced; anything else is left alone
if [ -e "$W" ] && [ -n "$(ls -A "$W" 2>/dev/null)" ] && [ ! -f "$W/.hf-walkthrough" ]; then
    die "$W exists and is not a walk-through directory: give a new or empty one"
fi
rm -rf "$W"
mkdir -p "$W"
: > "$W/.hf-walkthrough"
echo "hf-walkthrough: in $W (the commands below are shown relative to it; ttt is $TTT)"
# matplotlib (the bench's charts) keeps its cache in the walk-through directory too
MPLCONFIGDIR=$W/.matplotlib
export MPLCONFIGDIR
THREADS=
[ -n "${WALK_THREADS:-}" ] && THREADS="--threads $WALK_THREADS"

# print a command (the binary as "ttt", paths under $W relative to it), run it, stop on failure
show() {
    line=
    for a in "$@"; do
        case $a in
            *[!A-Za-z0-9_./=,:+-]*|'') a="'$a'" ;;
        esac
        line="$line${line:+ }$a"
    done
    printf '\n$ %s\n' "$(printf '%s' "$line" | sed "s|$TTT|ttt|g; s|$W/||g; s|$ROOT/||g")"
}
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "[%.1f s]\n", b - a }'; }
run() {
    show "$@"
    t0=$(now)
    "$@" 2>&1 || die "failed (exit $?): $*"
    took "$t0"
}
# the same, the output also kept in file $1
run_to() {
    out=$1
    shift
    show "$@"
    t0=$(now)
    "$@" > "$out" 2>&1 || { cat "$out"; die "failed (exit $?): $*"; }
    cat "$out"
    took "$t0"
}
# the mean loss of an eval output line "perplexity P  (mean loss X over ...)"
mean_loss() { sed -n 's/.*(mean loss \([^ ]*\) over.*/\1/p' "$1"; }
section() { printf '\n==== %s\n' "$*"; }

if [ "$QUICK" = 1 ]; then
    LLAMA_INIT="--preset llama-tiny"          # 2 x 64, 4 heads, 2 key/value heads
    MAMBA_INIT="--preset mamba-tiny"          # 2 x 64, d_state 16
    SHARD=2MB
    CTX=64; EVAL_WIN=16; TRAIN_WIN=16; STEPS=4; SEQ=64; BATCH=4; LR=1e-2; TRAIN_FILES=8
    BENCH="--quick --contexts 32,64 --reps 1 --decode-steps 2 --batch 2 --train-context 32 --skip bf16"
    MAXTOK=8
else
    LLAMA_INIT="--preset llama-small --kv-heads 2"   # 4 x 256, 4 heads, 2 key/value heads
    MAMBA_INIT="--preset mamba-small --layers 4"     # 4 x 256, d_state 16
    SHARD=10MB
    CTX=256; EVAL_WIN=128; TRAIN_WIN=64; STEPS=30; SEQ=256; BATCH=8; LR=2e-3; TRAIN_FILES=0
    BENCH="--contexts 256,1024 --reps 2 --decode-steps 16 --batch 1 --train-context 256"
    MAXTOK=32
fi
# on the held-out text: its first EVAL_WIN windows (without --windows: all of it, 665 windows
# of 256 tokens with the Llama-2 tokenizer)
STEPS=${WALK_STEPS:-$STEPS} LR=${WALK_LR:-$LR} BATCH=${WALK_BATCH:-$BATCH}
EVAL_FLAGS="--context $CTX --windows $EVAL_WIN"
# on the training data: its first windows only (the fine-tuning samples windows of all of it)
TRAIN_EVAL_FLAGS="--context $CTX --windows $TRAIN_WIN"

# ------------------------------------------------------------------------------------------
# Step 1: a directory as `huggingface-cli download` leaves it (skip with a real download)
# ------------------------------------------------------------------------------------------
# make_hub NAME INIT_FLAGS TOKENIZER GENERATION_CONFIG: $W/hub/NAME from a fresh `ttt init`,
# converted to BF16 shards + index, with the tokenizer files and generation_config.json
make_hub() {
    name=$1 init=$2 tok=$3 gen=$4
    section "step 1 ($name): a model directory in the hub's layout"
    mkdir -p "$W/make" "$W/hub"
    # shellcheck disable=SC2086
    run "$TTT" init $init --out "$W/make/$name-f32" --seed 1
    cp "$DATA/tok/hf/$tok/tokenizer.json" "$DATA/tok/hf/$tok/tokenizer_config.json" "$W/make/$name-f32/"
    printf '%s\n' "$gen" > "$W/make/$name-f32/generation_config.json"
    # a BF16 checkpoint on the hub says so in its config.json (save_pretrained's torch_dtype)
    sed 's/"torch_dtype":[[:space:]]*"float32"/"torch_dtype": "bfloat16"/' "$W/make/$name-f32/config.json" \
        > "$W/make/$name-f32/config.json.tmp"
    mv "$W/make/$name-f32/config.json.tmp" "$W/make/$name-f32/config.json"
    run "$TTT" convert --model "$W/make/$name-f32" --out "$W/hub/$name" --dtype bf16 --shard-size $SHARD
    run ls -l "$W/hub/$name"
    run cat "$W/hub/$name/generation_config.json"
}

# ------------------------------------------------------------------------------------------
# Step 2: the walk-through proper, on DIR = $W/hub/NAME
# ------------------------------------------------------------------------------------------
# walk NAME DIR PROMPT
walk() {
    name=$1 dir=$2 prompt=$3
    tokd=$W/tokens/$name
    mkdir -p "$W/tokens"
    section "step 2 ($name): info, generate, eval, fine-tune, bench"
    run "$TTT" info --model "$dir"
    # shellcheck disable=SC2086
    run "$TTT" generate --model "$dir" --tokenizer "$dir" --prompt "$prompt" --seed 1 --max-tokens $MAXTOK $THREADS
    # token files of the fetched corpus with the directory's tokenizer: the held-out split
    # (State of the Union 2000-2021) for eval, the training mix for fine-tuning
    if [ "$TRAIN_FILES" -gt 0 ]; then
        # quick: the held-out split and a few State of the Union addresses of the training mix
        mkdir -p "$tokd"
        sed "s|^|$DATA/splits/|" "$DATA/splits/eval.list" > "$tokd/eval.list"
        grep '/sotu/' "$DATA/splits/train.list" | head -n "$TRAIN_FILES" | sed "s|^|$DATA/splits/|" > "$tokd/train.list"
        run "$TTT" tokenize --tokenizer "$dir" --input-list "$tokd/eval.list" --output "$tokd/eval.tok"
        run "$TTT" tokenize --tokenizer "$dir" --input-list "$tokd/train.list" --output "$tokd/train.tok"
    else
        run "$TTT" data --tokenizer "$dir" --data "$DATA" --out "$tokd"
    fi
    # shellcheck disable=SC2086
    run_to "$W/$name-eval-before.txt" "$TTT" eval --model "$dir" --data "$tokd/eval.tok" $EVAL_FLAGS \
        --unigram "$tokd/train.tok" $THREADS
    # shellcheck disable=SC2086
    run_to "$W/$name-evaltrain-before.txt" "$TTT" eval --model "$dir" --data "$tokd/train.tok" $TRAIN_EVAL_FLAGS $THREADS
    # fine-tuning: the directory's weights (BF16 shards) are loaded into float32 and trained;
    # the checkpoint is a model directory (one float32 model.safetensors)
    mkdir -p "$W/runs"
    # shellcheck disable=SC2086
    run "$TTT" train --model "$dir" --data "$tokd/train.tok" --val "$tokd/eval.tok" --run "$W/runs/$name-ft" \
        --steps $STEPS --seq-len $SEQ --batch $BATCH --lr $LR --log-every $(( STEPS / 4 > 0 ? STEPS / 4 : 1 )) \
        --val-windows 8 $THREADS
    ft=$W/runs/$name-ft/model
    # shellcheck disable=SC2086
    run_to "$W/$name-eval-after.txt" "$TTT" eval --model "$ft" --data "$tokd/eval.tok" $EVAL_FLAGS \
        --unigram "$tokd/train.tok" $THREADS
    # shellcheck disable=SC2086
    run_to "$W/$name-evaltrain-after.txt" "$TTT" eval --model "$ft" --data "$tokd/train.tok" $TRAIN_EVAL_FLAGS $THREADS
    # the checkpoint carries the directory's tokenizer.json and tokenizer_config.json (train
    # --model copies them; not generation_config.json): generate finds it there
    # shellcheck disable=SC2086
    run "$TTT" generate --model "$ft" --prompt "$prompt" --seed 1 --max-tokens $MAXTOK $THREADS
    # back to the hub's layout (BF16 shards) for upload: convert copies the checkpoint's
    # tokenizer files; the original's others (generation_config.json, ...) are copied here
    mkdir -p "$W/hub"
    run "$TTT" convert --model "$ft" --out "$W/hub/$name-ft" --dtype bf16 --shard-size $SHARD
    for f in tokenizer.json tokenizer_config.json special_tokens_map.json generation_config.json; do
        if [ -f "$dir/$f" ] && [ ! -f "$W/hub/$name-ft/$f" ]; then cp "$dir/$f" "$W/hub/$name-ft/"; fi
    done
    run "$TTT" info --model "$W/hub/$name-ft"
    # shellcheck disable=SC2086
    run "$TTT" bench --model "$dir" $BENCH --out "$W/bench/$name" $THREADS
    printf '%s: held-out loss %s -> %s, training-data loss %s -> %s after %s fine-tuning steps\n' "$name" \
        "$(mean_loss "$W/$name-eval-before.txt")" "$(mean_loss "$W/$name-eval-after.txt")" \
        "$(mean_loss "$W/$name-evaltrain-before.txt")" "$(mean_loss "$W/$name-evaltrain-after.txt")" "$STEPS" \
        >> "$W/summary.txt"
    printf '\n'
    tail -n 1 "$W/summary.txt"
}

# Llama: the Llama-2 tokenizer (vocabulary 32000, BOS 1, EOS 2) and Llama-2's generation_config.json
if [ -n "${WALK_LLAMA_DIR:-}" ]; then
    LLAMA_DIR=$(cd "$WALK_LLAMA_DIR" && pwd)
else
    LLAMA_DIR=$W/hub/llama
    make_hub llama "$LLAMA_INIT --vocab 32000 --bos 1 --eos 2" llama2 '{
  "bos_token_id": 1,
  "do_sample": true,
  "eos_token_id": 2,
  "max_new_tokens": 32,
  "pad_token_id": 0,
  "temperature": 0.6,
  "top_p": 0.9,
  "transformers_version": "4.44.2"
}'
fi
walk llama "$LLAMA_DIR" "The state of our Union is"

if [ "$MAMBA" = 1 ]; then
    # Mamba-1: the GPT-2 tokenizer (50257 tokens, <|endoftext|> = 50256), the vocabulary padded
    # to 50280 as in state-spaces/mamba-130m-hf (the ids above 50256 are never used)
    if [ -n "${WALK_MAMBA_DIR:-}" ]; then
        MAMBA_DIR=$(cd "$WALK_MAMBA_DIR" && pwd)
    else
        MAMBA_DIR=$W/hub/mamba
        make_hub mamba "$MAMBA_INIT --vocab 50280 --bos 50256 --eos 50256" gpt2 '{
  "_from_model_config": true,
  "bos_token_id": 50256,
  "do_sample": true,
  "eos_token_id": 50256,
  "max_new_tokens": 32,
  "temperature": 0.8,
  "top_p": 0.95,
  "transformers_version": "4.44.2"
}'
    fi
    walk mamba "$MAMBA_DIR" "The state of our Union is"
fi

section "summary"
cat "$W/summary.txt"
echo "hf-walkthrough: done, everything in $W"
