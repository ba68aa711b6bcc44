#!/usr/bin/env bash
# The main job of the README: train the binary MLP on Fashion-MNIST, then run it on Monte-Carlo
# populations of simulated SRAM CIM chips (65 nm-like preset) and print the accuracy spread.
#   bash scripts/demo.sh [extra `bitcell train` options, e.g. --epochs 3]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)" > /dev/null
out=runs/demo-mlp-bnn
./build/bitcell train models/mlp-bnn.cfg --data fashion-mnist --out "$out" "$@"
./build/bitcell eval "$out/model.safetensors"
# 50 chips x the first 1 000 test images each: 1-bit sense amplifiers (the preset), then the
# same chips read by 8-bit ADCs. --chips 100 without --limit is the full (slower) run.
echo
echo "== on 50 simulated chips: 128x128 arrays, sigma(Vth) 40 mV, 1-bit sense amplifiers"
./build/bitcell mc "$out/model.safetensors" --hw hw/sram65-128.ini --chips 50 --limit 1000 --out "$out/mc-sa"
echo
echo "== the same SA chips, each calibrated first: batch norms re-estimated on 500 training images"
./build/bitcell mc "$out/model.safetensors" --hw hw/sram65-128.ini --chips 50 --limit 1000 --calibrate 500 --out "$out/mc-sa-cal"
echo
echo "== the same chips read by 8-bit ADCs"
./build/bitcell mc "$out/model.safetensors" --hw hw/sram65-128.ini --set kind=adc --chips 50 --limit 1000 --out "$out/mc-adc"
echo
echo "run directory $out: model.safetensors, metrics.json, log.csv, accuracy.svg, loss.svg, config.cfg;"
echo "Monte-Carlo results in $out/mc-sa, mc-sa-cal (with calibration.safetensors) and mc-adc:"
echo "chips.csv, metrics.json, histogram.svg, hw.ini"
