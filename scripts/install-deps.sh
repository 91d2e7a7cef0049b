#!/bin/sh
# install-deps.sh: installs the Debian packages that building and testing need, when missing.
# Safe to run repeatedly: it only calls apt-get when something is absent.
set -e
# libdnnl-dev: oneDNN, the float32 GEMM and bf16 matmul of the fast path (docs/gemm.md);
# libblis-openmp-dev, libxsmm-dev: only for the GEMM library benchmark (make bench-gemm)
PKGS="gcc make libc6-dev libcjson-dev libopenblas-dev libpcre2-dev libutf8proc-dev pkg-config python3-numpy python3-matplotlib nodejs
      libdnnl-dev libblis-openmp-dev libxsmm-dev"
# libutf8proc-dev: Unicode normalization (NFC, NFKC) and character classes of tokenizer.json files
# openmpi-bin, libopenmpi-dev: data-parallel training across processes (docs/distributed.md)
PKGS="$PKGS openmpi-bin libopenmpi-dev"
# python3-torch: Debian's PyTorch, for ttt.torch and its tests (tests/python/test_torch.py);
# python3-pytest runs the Python tests (tests/python, from tests/test_python.c)
PKGS="$PKGS python3-torch python3-pytest"
# libmicrohttpd-dev: the HTTP server of ttt serve; curl: its tests drive it (tests/test_serve.c)
PKGS="$PKGS libmicrohttpd-dev curl"
# chromium, fonts-dejavu-core: headless Chromium loads the page of ttt serve, and a screenshot
# shows the streamed text (tests/test_serve_web.c, driven by npm playwright-core)
PKGS="$PKGS chromium fonts-dejavu-core"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends $missing; } >"$log" 2>&1; then
    cat "$log"
    echo "install-deps: apt-get failed (output above)" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"
echo "install-deps: done"
