#!/usr/bin/env bash
# PR-CIM part 1 (docs/REPRODUCTION.md): Fashion-MNIST binary networks on Monte-Carlo
# populations of simulated SRAM CIM chips - accuracy against sigma(Vth) and against the rows
# read at once. Long (hours on 2 cores); not part of the test suite.
#   bash scripts/reproduce-cim.sh [mlp|vgg|all] [--chips N] [--limit N]
#   defaults: all, 100 chips, all 10 000 test images for mlp-bnn, 1 000 for vgg-small-bnn
# Results: runs/reproduce-cim/<model>/{train,sweep-*}/ (sweep.csv, sweep.svg, chips.csv, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
which=all chips=100 vgg_limit=1000
while [ $# -gt 0 ]; do
    case "$1" in
        mlp|vgg|all) which=$1; shift ;;
        --chips) chips="${2:?}"; shift 2 ;;
        --limit) vgg_limit="${2:?}"; shift 2 ;;
        *) echo "reproduce-cim: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
bash scripts/install-deps.sh > /dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)" > /dev/null
B=build/bitcell
out=runs/reproduce-cim

# model NAME CFG EPOCHS LIMIT: train once (kept), then the sweeps.
model() {
    local name=$1 cfg=$2 epochs=$3 limit=$4 d="$out/$1"
    local ck="$d/train/model.safetensors" lim=()
    [ "$limit" -gt 0 ] && lim=(--limit "$limit")
    [ -f "$ck" ] || $B train "$cfg" --data fashion-mnist --epochs "$epochs" --out "$d/train" --quiet
    # sigma(Vth) on the 65 nm-like preset: its 1-bit SAs, and an 8-bit ADC (a level per cell).
    $B sweep "$ck" --hw hw/sram65-128.ini --vary sigma_vth_mV=0:60:10 --chips "$chips" "${lim[@]}" --quiet --out "$d/sweep-sigma-sa"
    $B sweep "$ck" --hw hw/sram65-128.ini --set kind=adc --vary sigma_vth_mV=0:120:20 --chips "$chips" "${lim[@]}" --quiet --out "$d/sweep-sigma-adc"
    # Rows read at once, at the preset's variation, both readouts.
    $B sweep "$ck" --hw hw/sram65-128.ini --vary rows_on=16:128:16 --chips "$chips" "${lim[@]}" --quiet --out "$d/sweep-rows-sa"
    $B sweep "$ck" --hw hw/sram65-128.ini --set kind=adc --vary rows_on=16:128:16 --chips "$chips" "${lim[@]}" --quiet --out "$d/sweep-rows-adc"
}
[ "$which" = vgg ] || model mlp-bnn models/mlp-bnn.cfg 10 0
[ "$which" = mlp ] || model vgg-small-bnn models/vgg-small-bnn.cfg 12 "$vgg_limit"
echo "results in $out/*/sweep-*/sweep.csv"
