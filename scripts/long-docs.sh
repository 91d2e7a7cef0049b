#!/bin/sh
# long-docs.sh: the training file of the long-document study (issue 20, docs/data.md): the long
# coherent texts of the training split -- the books (Treasury of David, the King James Bible,
# the four Austen novels) and the State of the Union addresses 1790-1999 -- without the
# dictionaries (FOLDOC, the Jargon File, the Devil's Dictionary), the fortune collections and the
# 2,000-word Brown samples, tokenized with a vocabulary of make data-bpe into
# data/tokens/bpe<N>/long_train.tok (its list beside it, long_train.list), every document wrapped
# as BOS doc EOS as in the other token files. Then, for the training lengths of the study, how
# many windows of L+1 tokens fit inside documents (what ttt train --doc-windows draws) and the
# share of the file's tokens they cover. A second run only prints the numbers.
#   scripts/long-docs.sh [TTT] [VOCAB]      (defaults: build/ttt, 4096)
set -eu
TTT=${1:-build/ttt}
V=${2:-4096}
TOK=data/tok/bpe$V
OUTD=data/tokens/bpe$V
[ -f data/splits/train.list ] || { echo "long-docs.sh: data/splits/train.list is missing: run make data first" >&2; exit 1; }
[ -f "$TOK/tokenizer.json" ] || { echo "long-docs.sh: $TOK/tokenizer.json is missing: run make data-bpe first" >&2; exit 1; }
mkdir -p "$OUTD"
LIST=$OUTD/long_train.list
# the lists hold paths relative to their own directory: ../text/x from data/splits/ is
# ../../text/x from data/tokens/bpe<N>/
grep -E '/(tdavid|kjv)\.txt$|/austen/|/sotu/' data/splits/train.list | sed 's|^\.\./|../../|' > "$LIST.tmp"
n=$(wc -l < "$LIST.tmp")
# 1 + 1 + 4 books and 211 speeches: a different count means the split changed
[ "$n" = 217 ] || { echo "long-docs.sh: $n long documents in data/splits/train.list, expected 217 (6 books, 211 speeches)" >&2; exit 1; }
mv "$LIST.tmp" "$LIST"
if [ ! -f "$OUTD/long_train.tok" ] || [ "$LIST" -nt "$OUTD/long_train.tok" ]; then
    "$TTT" tokenize --tokenizer "$TOK" --input-list "$LIST" --output "$OUTD/long_train.tok"
fi
/usr/bin/python3 - "$OUTD/long_train.tok" <<'EOF'
import struct, sys
f = open(sys.argv[1], "rb")
h = f.read(128)
width, n_tok, n_docs = struct.unpack_from("<I", h, 12)[0], *struct.unpack_from("<qq", h, 16)
f.seek(128 + n_tok * width)
starts = list(struct.unpack("<%dq" % n_docs, f.read(8 * n_docs))) + [n_tok]
lens = [b - a for a, b in zip(starts, starts[1:])]
print("%s: %d documents, %d tokens, longest %d" % (sys.argv[1], n_docs, n_tok, max(lens)))
for L in (2048, 8192):
    w = sum(n // (L + 1) for n in lens)
    print("  windows of %d+1 inside documents: %d (%.1f%% of the tokens, from %d documents)"
          % (L, w, 100.0 * w * (L + 1) / n_tok, sum(1 for n in lens if n > L)))
EOF
