#!/usr/bin/env bash
# PR-CIM part 2 (docs/REPRODUCTION.md): the variation-aware ablation. One network trained three
# ways - ordinary, noise injection only (--noise-only), hardware in the loop
# (--variation-aware) - then each run on the same Monte-Carlo chips with and without per-chip
# batch-norm calibration (--calibrate, first N training images); with --trim also with the
# SA/ADC reference trim alone and before the batch norms. Long; not part of the tests.
#   bash scripts/reproduce-cim-va.sh [mlp|vgg|convnet] [--epochs E] [--chips N] [--limit N]
#          [--calibrate N] [--trim] [--hw FILE] [--set KEY=VALUE ...]
#   defaults: mlp (mlp-bnn on fashion-mnist), the network file's epochs, 100 chips, the whole
#   test set, 500 calibration images, hw/sram65-128.ini (1-bit SAs, sigma_vth 40 mV)
#   convnet = models/convnet-bnn.cfg on mnist10k
#   BITCELL=path runs that binary instead of building build/bitcell.
# Results: runs/reproduce-cim-va/<model>[-e<epochs>][-<settings>]/{ordinary,noise,hil}/ (train) and
# .../<arm>/mc{,-cal,-trim,-cal-trim}/ (chips.csv, metrics.json); a summary table in
# .../ablation.md.
set -euo pipefail
cd "$(dirname "$0")/.."
which=mlp epochs="" chips=100 limit="" calib=500 hw=hw/sram65-128.ini sets=() tag="" cals=(none bn)
while [ $# -gt 0 ]; do
    case "$1" in
        mlp|vgg|convnet) which=$1; shift ;;
        --epochs) epochs="${2:?}"; tag="-e$2$tag"; shift 2 ;;
        --chips) chips="${2:?}"; shift 2 ;;
        --limit) limit="${2:?}"; shift 2 ;;
        --calibrate) calib="${2:?}"; shift 2 ;;
        --trim) cals=(none bn trim bn,trim); shift ;;
        --hw) hw="${2:?}"; shift 2 ;;
        --set) sets+=(--set "${2:?}"); tag="$tag-${2//[^A-Za-z0-9.]/_}"; shift 2 ;;
        *) echo "reproduce-cim-va: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
source scripts/lib_bitcell.sh
case "$which" in
    mlp) cfg=models/mlp-bnn.cfg data=fashion-mnist ;;
    vgg) cfg=models/vgg-small-bnn.cfg data=fashion-mnist ;;
    convnet) cfg=models/convnet-bnn.cfg data=mnist10k ;;
esac
name="$(basename "$cfg" .cfg)$tag"
out=runs/reproduce-cim-va/$name
ep=(); [ -n "$epochs" ] && ep=(--epochs "$epochs")
lim=(); [ -n "$limit" ] && lim=(--limit "$limit")
hwargs=(--hw "$hw" "${sets[@]}")
mkdir -p "$out"
table="$out/ablation.md"
{
    echo "| training | calibration | mean | std | min | p5 | median | max | digital |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
} > "$table.tmp"
for arm in ordinary noise hil; do
    case $arm in
        ordinary) va=() ;;
        noise) va=("${hwargs[@]}" --noise-only) ;;
        hil) va=("${hwargs[@]}" --variation-aware) ;;
    esac
    ck="$out/$arm/model.safetensors"
    [ -f "$ck" ] || $B train "$cfg" --data "$data" "${ep[@]}" "${va[@]}" --out "$out/$arm" --quiet
    for cal in "${cals[@]}"; do
        case $cal in
            none) c=(); d="$out/$arm/mc"; what=none ;;
            bn) c=(--calibrate "$calib"); d="$out/$arm/mc-cal"; what="BN, $calib images" ;;
            trim) c=(--calibrate "$calib" --calib-steps trim); d="$out/$arm/mc-trim"; what="trim, $calib images" ;;
            bn,trim) c=(--calibrate "$calib" --calib-steps bn,trim); d="$out/$arm/mc-cal-trim"; what="trim + BN, $calib images" ;;
        esac
        line=$($B mc "$ck" "${hwargs[@]}" --chips "$chips" "${lim[@]}" "${c[@]}" --quiet --out "$d" | tee "$d.log" | grep '^chips=')
        dig=$(grep -o 'digital_accuracy=[0-9.]*' "$d.log" | cut -d= -f2)
        set -- $line
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' $arm "$what" \
            "${2#mean=}" "${3#std=}" "${4#min=}" "${5#p5=}" "${6#median=}" "${7#max=}" "$dig" >> "$table.tmp"
    done
done
mv "$table.tmp" "$table"
cat "$table"
