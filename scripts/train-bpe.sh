#!/bin/sh
# train-bpe.sh: the vocabularies sized for the study models (issue 20, docs/data.md): byte-level
# BPE tokenizers of 4096 and 8192 ids learned by `ttt tokenizer train` from the training split
# (data/splits/train.list, after `make data`), into data/tok/bpe<N>/ (tokenizer.json and
# tokenizer_config.json), each checked against its pinned sha256, then token files of every
# split into data/tokens/bpe<N>/. The trainer's result does not depend on the thread count,
# so the pin holds on any machine; a mismatch means the training split or the trainer changed.
# A second run does nothing.
#   scripts/train-bpe.sh [TTT] [VOCAB...]      (defaults: build/ttt, 4096 8192)
set -eu
TTT=${1:-build/ttt}
[ $# -gt 0 ] && shift
VOCABS=${*:-4096 8192}

pin() {
    case $1 in
    4096) echo 9c6dd23dafe0a86b1590ef613f435490585f1b3f3146b0cdc5ed83404029e7e4 ;;
    8192) echo 89cd7f0470e99973fbaf7a8ebffc2ec458c39bff2bb7ad4edf656c5c262a1fd0 ;;
    *) echo "" ;;
    esac
}

[ -f data/splits/train.list ] || { echo "train-bpe.sh: data/splits/train.list is missing: run make data first" >&2; exit 1; }
for v in $VOCABS; do
    want=$(pin "$v")
    [ -n "$want" ] || { echo "train-bpe.sh: no pinned sha256 for vocabulary $v (pinned: 4096 8192)" >&2; exit 2; }
    d=data/tok/bpe$v
    if [ ! -f "$d/tokenizer.json" ]; then
        tmp=data/tok/.bpe$v.tmp
        rm -rf "$tmp" && mkdir -p "$tmp"
        "$TTT" tokenizer train --input-list data/splits/train.list --vocab "$v" --out "$tmp/tokenizer.json"
        got=$(sha256sum "$tmp/tokenizer.json" | cut -d' ' -f1)
        if [ "$got" != "$want" ]; then
            echo "train-bpe.sh: $tmp/tokenizer.json has sha256 $got, expected $want (the training split" \
                 "or the tokenizer trainer changed; left in $tmp for inspection)" >&2
            exit 1
        fi
        rm -rf "$d" && mv "$tmp" "$d"
    fi
    got=$(sha256sum "$d/tokenizer.json" | cut -d' ' -f1)
    [ "$got" = "$want" ] || { echo "train-bpe.sh: $d/tokenizer.json has sha256 $got, expected $want (remove $d to retrain)" >&2; exit 1; }
    echo "$d/tokenizer.json: sha256 $got (pinned)"
    if [ ! -f "data/tokens/bpe$v/train.tok" ] || [ ! -f "data/tokens/bpe$v/long_persuasion.tok" ]; then
        "$TTT" data --tokenizer "$d" --out "data/tokens/bpe$v"
    fi
done
