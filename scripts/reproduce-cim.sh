#!/usr/bin/env bash
# PR-CIM part 1 (docs/REPRODUCTION.md): Fashion-MNIST binary networks on Monte-Carlo
# populations of simulated SRAM CIM chips - accuracy against sigma(Vth) and against the rows
# read at once. Long (hours on 2 cores); not part of the test suite.
#   bash scripts/reproduce-cim.sh [mlp|vgg|all] [--chips N] [--limit N]
#   defaults: all, 100 chips, the first 500 test images (the 10 000 take 20x longer)
#   BITCELL=path runs that binary instead of building build/bitcell (e.g. a copy kept fixed
#   while the tree changes).
# Results: runs/reproduce-cim/<model>/{train,sigma-*,rows-*}/ (sweep.csv, sweep.svg, chips.csv, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
which=all chips=100 limit=500
while [ $# -gt 0 ]; do
    case "$1" in
        mlp|vgg|all) which=$1; shift ;;
        --chips) chips="${2:?}"; shift 2 ;;
        --limit) limit="${2:?}"; shift 2 ;;
        *) echo "reproduce-cim: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
source scripts/lib_bitcell.sh
out=runs/reproduce-cim

# sweep CKPT OUTDIR [bitcell sweep options]
sweep() {
    local ck=$1 o=$2
    shift 2
    $B sweep "$ck" --hw hw/sram65-128.ini --chips "$chips" --limit "$limit" --quiet --out "$o" "$@"
}

# model NAME CFG EPOCHS: train once (kept), then the sweeps.
model() {
    local name=$1 cfg=$2 epochs=$3 d="$out/$1"
    local ck="$d/train/model.safetensors"
    [ -f "$ck" ] || $B train "$cfg" --data fashion-mnist --epochs "$epochs" --out "$d/train" --quiet
    local sub=(--set model=subthreshold --set kind=adc) adc=(--set kind=adc)
    # sigma(Vth) on the 65 nm-like preset: its 1-bit SAs; an 8-bit ADC (a level per cell);
    # the ADC with a sub-threshold read (log-normal currents: their mean grows with sigma).
    sweep "$ck" "$d/sigma-sa" --vary sigma_vth_mV=0:60:20
    sweep "$ck" "$d/sigma-adc" "${adc[@]}" --vary sigma_vth_mV=0:240:60
    sweep "$ck" "$d/sigma-adc-sub" "${sub[@]}" --vary sigma_vth_mV=0:30:5
    # Rows read at once: SAs at the preset's variation; the sub-threshold ADC at 10 mV.
    sweep "$ck" "$d/rows-sa" --vary rows_on=32:128:32
    sweep "$ck" "$d/rows-adc-sub" "${sub[@]}" --set sigma_vth_mV=10 --vary rows_on=32:128:32
}
[ "$which" = vgg ] || model mlp-bnn models/mlp-bnn.cfg 10
[ "$which" = mlp ] || model vgg-small-bnn models/vgg-small-bnn.cfg 4
echo "results in $out/*/*/sweep.csv"
