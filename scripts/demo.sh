#!/usr/bin/env bash
# The main job of the README: train the binary MLP on Fashion-MNIST and show the result.
#   bash scripts/demo.sh [extra `bitcell train` options, e.g. --epochs 3]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)" > /dev/null
out=runs/demo-mlp-bnn
./build/bitcell train models/mlp-bnn.cfg --data fashion-mnist --out "$out" "$@"
./build/bitcell eval "$out/model.safetensors"
echo
echo "run directory $out: model.safetensors, metrics.json, log.csv, accuracy.svg, loss.svg, config.cfg"
