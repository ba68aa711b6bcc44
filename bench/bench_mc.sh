#!/usr/bin/env bash
# bench/bench_mc.sh - Monte-Carlo throughput of the CIM executor against the same network's
# digital inference, in one run: chip x test-image evaluations per second of `bitcell mc`
# beside `bitcell eval` (float engine, best of 3) on the same checkpoint, data, batch and
# threads.
#
#   bash bench/bench_mc.sh CKPT [--hw FILE] [--chips N] [--threads T] [--set KEY=VALUE ...]
#
#   defaults: --hw hw/sram65-128.ini, --chips 10, --threads 2
#
# Environment: BITCELL=path (default build/bitcell, brought up to date in Release).
# Prints a markdown table (metric | value) and the machine's load before and after.
set -euo pipefail
hw=hw/sram65-128.ini chips=10 threads=2 sets=() ckpt=""
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --hw) hw="${2:?--hw needs a value}"; shift 2 ;;
        --chips) chips="${2:?--chips needs a value}"; shift 2 ;;
        --threads) threads="${2:?--threads needs a value}"; shift 2 ;;
        --set) sets+=(--set "${2:?--set needs a value}"); shift 2 ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "bench_mc: unknown option '$1' (see --help)" >&2; exit 2 ;;
        *) ckpt="$1"; shift ;;
    esac
done
[ -n "$ckpt" ] || { echo "bench_mc: a checkpoint is required (see --help)" >&2; exit 2; }
[[ "$chips" =~ ^[1-9][0-9]*$ ]] || { echo "bench_mc: --chips must be a positive integer" >&2; exit 2; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ -z "${BITCELL:-}" ]; then
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
    cmake --build build -j"$(nproc)" > /dev/null
    BITCELL=build/bitcell
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
load0=$(cut -d' ' -f1 /proc/loadavg)
best=0
for _ in 1 2 3; do
    r=$("$BITCELL" eval "$ckpt" --threads "$threads" | grep -oE 'eval_samples_per_s=[0-9.]+' | cut -d= -f2)
    best=$(awk -v a="$best" -v b="$r" 'BEGIN { print (b > a ? b : a) }')
done
"$BITCELL" mc "$ckpt" --hw "$hw" --chips "$chips" --threads "$threads" --quiet --out "$tmp/mc" "${sets[@]}" > "$tmp/mc.out"
mc=$(grep -oE 'chip_evals_per_s=[0-9.]+' "$tmp/mc.out" | cut -d= -f2)
acc=$(grep -oE '^chips=.*' "$tmp/mc.out")
load1=$(cut -d' ' -f1 /proc/loadavg)
echo "| metric | value |"
echo "|---|---:|"
echo "| digital inference, float engine (samples/s, best of 3) | $best |"
echo "| Monte-Carlo, chip x image evaluations/s ($chips chips) | $mc |"
echo "| cost of one chip / digital inference | $(awk -v a="$best" -v b="$mc" 'BEGIN { printf "%.2f", a / b }') |"
echo
echo "checkpoint $ckpt, hw $hw ${sets[*]:-}, threads $threads, cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $load0 -> $load1"
echo "mc: $acc"
