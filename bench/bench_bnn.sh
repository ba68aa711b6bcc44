#!/usr/bin/env bash
# bench/bench_bnn.sh - binary-network training and inference throughput of bitcell against the
# PyTorch peer (shared/peers/torch_bnn.py), side by side in one run, with the same settings: all
# 60 000 Fashion-MNIST training images, the same epochs, batch 100, T threads; inference = the
# 10 000 test images in batches of 500.
#
#   bash bench/bench_bnn.sh [--model mlp|cnn] [--epochs E] [--threads T] [--gemm G] [--out FILE]
#
#   --model mlp   mlp-bnn (784-1024-1024-1024-10), the peer's `mlp` (default)
#   --model cnn   vgg-small-bnn, the peer's `cnn`; adds bitcell's packed engine and the
#                 kernel peaks (bc_kernel_peak): training GFLOP/s against the OpenBLAS sgemm
#                 peak, packed binary MAC/s against the XNOR-popcount peak
#   --gemm G      bitcell's binary-layer training GEMMs: auto (default), fp32 or bf16
#   defaults: E=1, T=2
#
#   --train-limit N   smoke test only: train both on the first N images (not a benchmark)
#
# Environment:
#   BITCELL=path   bitcell binary to use (default: build/bitcell, configured in Release and
#                  brought up to date with an incremental build)
#   PEER=path      the peer script (default: shared/peers/torch_bnn.py of this checkout, else
#                  /work/shared/peers/torch_bnn.py)
#   PYTHON=path    Python with torch for the peer (default: /usr/bin/python3)
#
# The peer and bitcell training runs go once each; `bitcell eval` runs 3 times and the best
# is taken for inference; the peer's inference number is the one it prints (one pass after
# training). Prints a markdown table (metric | peer | bitcell | ratio) and machine facts;
# --out FILE also writes that markdown to FILE. Exits non-zero if any command fails.
set -euo pipefail

model=mlp epochs=1 threads=2 out="" limit="" gemm=auto
usage() { sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --model)   model="${2:?--model needs a value}"; shift 2 ;;
        --epochs)  epochs="${2:?--epochs needs a value}"; shift 2 ;;
        --threads) threads="${2:?--threads needs a value}"; shift 2 ;;
        --gemm)    gemm="${2:?--gemm needs a value}"; shift 2 ;;
        --out)     out="${2:?--out needs a value}"; shift 2 ;;
        --train-limit) limit="${2:?--train-limit needs a value}"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench_bnn: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[[ "$epochs" =~ ^[1-9][0-9]*$ ]]  || { echo "bench_bnn: --epochs must be a positive integer" >&2; exit 2; }
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || { echo "bench_bnn: --threads must be a positive integer" >&2; exit 2; }
[[ -z "$limit" || "$limit" =~ ^[1-9][0-9]*$ ]] || { echo "bench_bnn: --train-limit must be a positive integer" >&2; exit 2; }
[[ "$gemm" =~ ^(auto|fp32|bf16)$ ]] || { echo "bench_bnn: --gemm must be auto, fp32 or bf16" >&2; exit 2; }
ntrain="${limit:-60000}"
case "$model" in
    mlp) cfg=models/mlp-bnn.cfg ;;
    cnn) cfg=models/vgg-small-bnn.cfg ;;
    *) echo "bench_bnn: --model must be mlp or cnn" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PYTHON="${PYTHON:-/usr/bin/python3}"
if [ -z "${PEER:-}" ]; then
    PEER="$root/shared/peers/torch_bnn.py"
    [ -f "$PEER" ] || PEER="/work/shared/peers/torch_bnn.py"
fi
[ -f "$PEER" ] || { echo "bench_bnn: peer script not found: $PEER (set PEER=path)" >&2; exit 2; }

# 1. The peer needs PyTorch.
if ! torch_version="$("$PYTHON" -c 'import torch; print(torch.__version__)' 2>/dev/null)"; then
    echo "bench_bnn: $PYTHON cannot import torch; install with scripts/install-deps.sh --bench" >&2
    exit 2
fi

# 2. bitcell, built in Release if needed.
if [ -n "${BITCELL:-}" ]; then
    [ -x "$BITCELL" ] || { echo "bench_bnn: BITCELL=$BITCELL is not an executable" >&2; exit 2; }
else
    BITCELL="$root/build/bitcell"
    # Configure once (Release); the build itself is incremental, so it only rebuilds what changed.
    if [ ! -f "$root/build/CMakeCache.txt" ]; then
        echo "bench_bnn: configuring build/ (Release) ..." >&2
        cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >&2
    fi
    echo "bench_bnn: building bitcell in build/ ..." >&2
    cmake --build "$root/build" -j "$threads" --target bitcell_cli bc_kernel_peak >&2
    [ -x "$BITCELL" ] || { echo "bench_bnn: build did not produce $BITCELL" >&2; exit 1; }
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/bench_bnn.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# kv LINE KEY: the value of KEY=value in a one-line key=value record (empty if absent).
kv() { awk -v k="$2" '{ for (i = 1; i <= NF; i++) { n = index($i, "="); if (n && substr($i, 1, n - 1) == k) { print substr($i, n + 1); exit } } }' <<<"$1"; }
# jnum FILE KEY: a number or string field of a flat JSON object (bitcell's metrics.json).
jnum() { awk -v k="\"$2\"" '{ sub(/^[ \t]+/, "") } index($0, k) == 1 { v = substr($0, length(k) + 1); sub(/^[ \t]*:[ \t]*/, "", v); sub(/,[ \t]*$/, "", v); gsub(/"/, "", v); print v; exit }' "$1"; }
need() { [ -n "$2" ] || { echo "bench_bnn: no $1 in the output above" >&2; exit 1; }; }

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

# 3. The peer: train E epochs on all 60 000 images, then one inference pass over the test set.
peer_cmd=("$PYTHON" "$PEER" "$model" "$epochs" "$threads" ${limit:+"$limit"})
echo "bench_bnn: peer: ${peer_cmd[*]}" >&2
peer_line="$("${peer_cmd[@]}" | tail -n 1)"
echo "  $peer_line" >&2
peer_train="$(kv "$peer_line" train_samples_per_s)"; need "peer train_samples_per_s" "$peer_train"
peer_eval="$(kv "$peer_line" eval_samples_per_s)";   need "peer eval_samples_per_s" "$peer_eval"
peer_acc="$(kv "$peer_line" test_acc)";              need "peer test_acc" "$peer_acc"

# 4. bitcell: the same training, then `bitcell eval` 3 times (best taken).
bc_train_cmd=("$BITCELL" train "$cfg" --data fashion-mnist --epochs "$epochs"
              --threads "$threads" --batch 100 --gemm "$gemm" --out "$tmp/run" --quiet ${limit:+--train-limit "$limit"})
echo "bench_bnn: bitcell: ${bc_train_cmd[*]}" >&2
bc_line="$("${bc_train_cmd[@]}" | tail -n 1)"
echo "  $bc_line" >&2
metrics="$tmp/run/metrics.json"
[ -f "$metrics" ] || { echo "bench_bnn: bitcell wrote no $metrics" >&2; exit 1; }
bc_train="$(jnum "$metrics" train_samples_per_s)";  need "bitcell train_samples_per_s" "$bc_train"
bc_train_eval="$(jnum "$metrics" eval_samples_per_s)"
bc_acc="$(jnum "$metrics" test_accuracy)";          need "bitcell test_accuracy" "$bc_acc"
bc_rss="$(jnum "$metrics" peak_rss_mib)";           need "bitcell peak_rss_mib" "$bc_rss"
bc_cpu="$(jnum "$metrics" cpu)"
bc_gemm="$(jnum "$metrics" gemm)" bc_gemm_kernel="$(jnum "$metrics" gemm_kernel)"
macs_f="$(jnum "$metrics" macs_float_per_sample)"
macs_b="$(jnum "$metrics" macs_binary_per_sample)"

# best_eval ENGINE: runs `bitcell eval` 3 times; sets best (samples/s) and runs (all three).
best_eval() {
    best="" runs=()
    for i in 1 2 3; do
        ev_line="$("$BITCELL" eval "$tmp/run/model.safetensors" --threads "$threads" --batch 500 --engine "$1" | tail -n 1)"
        echo "  $1 eval $i: $ev_line" >&2
        v="$(kv "$ev_line" eval_samples_per_s)"; need "bitcell $1 eval_samples_per_s" "$v"
        runs+=("$v")
        best="$(awk -v a="$v" -v b="${best:-0}" 'BEGIN { print (a + 0 > b + 0) ? a : b }')"
    done
}
best_eval float
bc_eval="$best" bc_evals=("${runs[@]}")

# The packed engine (cnn): best of 3; and the kernel peaks measured now, on this machine.
bc_packed="" packed_evals=() mismatch=""
if [ "$model" = cnn ]; then
    best_eval packed
    bc_packed="$best" packed_evals=("${runs[@]}")
    mismatch="$(kv "$("$BITCELL" eval "$tmp/run/model.safetensors" --threads "$threads" --engine both | tail -n 1)" prediction_mismatches)"
    peak_bin="${PEAK:-$(dirname "$BITCELL")/bc_kernel_peak}"
    [ -x "$peak_bin" ] || { echo "bench_bnn: no $peak_bin (build the bc_kernel_peak target or set PEAK=)" >&2; exit 1; }
    peak_out="$("$peak_bin" --threads "$threads")"
    echo "$peak_out" | sed 's/^/  peak: /' >&2
    peak_line="$(tr '\n' ' ' <<<"$peak_out")"
    sgemm_peak="$(kv "$peak_line" sgemm_gflops)"; need "sgemm_gflops" "$sgemm_peak"
    xnor_peak="$(kv "$peak_line" xnor_gmacs)";    need "xnor_gmacs" "$xnor_peak"
    bgemm_peak="$(kv "$peak_line" bgemm_gflops)" bf16_kernel="$(kv "$peak_line" bf16_kernel)"
fi

load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# 5. Machine facts.
cpu_model="$(lscpu 2>/dev/null | awk -F: '/^Model name/ { sub(/^[ \t]+/, "", $2); print $2; exit }')"
cores="$(nproc --all 2>/dev/null || nproc)"
mem_gib="$(awk '/^MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)"
bc_version="$("$BITCELL" --help 2>&1 | awk 'NR == 1 { print $2 }')"

ratio() { awk -v p="$1" -v b="$2" 'BEGIN { if (p + 0 > 0) printf "%.2f×", b / p; else print "n/a" }'; }
num() { awk -v x="$1" -v d="$2" 'BEGIN { printf "%.*f", d, x }'; }

md="$tmp/bench.md"
{
    echo "| metric | peer (PyTorch) | bitcell | ratio (bitcell / peer) |"
    echo "|---|---:|---:|---:|"
    echo "| train samples/s (batch 100, $epochs epoch(s), $ntrain images) | $(num "$peer_train" 1) | $(num "$bc_train" 1) | $(ratio "$peer_train" "$bc_train") |"
    echo "| eval samples/s (10 000 test images, batch 500) | $(num "$peer_eval" 1) | $(num "$bc_eval" 1) | $(ratio "$peer_eval" "$bc_eval") |"
    echo "| test accuracy | $(num "$peer_acc" 4) | $(num "$bc_acc" 4) | $(awk -v p="$peer_acc" -v b="$bc_acc" 'BEGIN { printf "%+.4f", b - p }') |"
    if [ "$model" = cnn ]; then
        echo "| eval samples/s, packed engine (batch 500) | $(num "$peer_eval" 1) | $(num "$bc_packed" 1) | $(ratio "$peer_eval" "$bc_packed") |"
    fi
    echo "| bitcell peak RSS, training (MiB) | – | $(num "$bc_rss" 0) | – |"
    if [ "$model" = cnn ]; then
        echo
        echo "| bitcell against this machine's peaks ($threads threads) | achieved | peak | fraction |"
        echo "|---|---:|---:|---:|"
        tg="$(awk -v f="$macs_f" -v b="$macs_b" -v s="$bc_train" 'BEGIN { printf "%.1f", 6 * (f + b) * s / 1e9 }')"
        bg="$(awk -v b="$macs_b" -v s="$bc_packed" 'BEGIN { printf "%.1f", b * s / 1e9 }')"
        echo "| training, GFLOP/s equivalent (6 x MACs x samples/s) vs OpenBLAS sgemm | $tg | $(num "$sgemm_peak" 1) | $(awk -v a="$tg" -v p="$sgemm_peak" 'BEGIN { printf "%.0f%%", 100 * a / p }') |"
        if [ -n "${bgemm_peak:-}" ]; then
            echo "| training, the same vs the bf16 GEMM ($bf16_kernel, fp32 operands packed) | $tg | $(num "$bgemm_peak" 1) | $(awk -v a="$tg" -v p="$bgemm_peak" 'BEGIN { printf "%.0f%%", 100 * a / p }') |"
        fi
        echo "| packed inference, binary GMAC/s vs XNOR-popcount kernel | $bg | $(num "$xnor_peak" 1) | $(awk -v a="$bg" -v p="$xnor_peak" 'BEGIN { printf "%.1f%%", 100 * a / p }') |"
        echo
        echo "- MACs per image: $macs_f float, $macs_b binary; float and packed engines disagree on $mismatch of 10 000 predictions"
        echo "- packed eval samples/s: best of 3 (${packed_evals[*]})"
    fi
    echo
    [ -z "$limit" ] || echo "- **smoke test: --train-limit $limit, not a benchmark**"
    echo "- threads: $threads; epochs: $epochs; batch: 100 (train), 500 (eval)"
    echo "- bitcell eval samples/s: best of 3 \`bitcell eval\` runs (${bc_evals[*]}); the end-of-training eval pass inside \`bitcell train\` gave $(num "${bc_train_eval:-0}" 1); the peer's is its single pass after training"
    echo "- machine: $cpu_model, $cores cores, $mem_gib GiB RAM; bitcell $bc_version, cpu level ${bc_cpu:-unknown}, training GEMMs ${bc_gemm:-fp32} (${bc_gemm_kernel:-sgemm}, --gemm $gemm); torch $torch_version"
    echo "- load average (1/5/15 min) before: $load_before, after: $load_after"
} >"$md"

echo
cat "$md"
if [ -n "$out" ]; then
    cp "$md" "$out"
    echo "bench_bnn: wrote $out" >&2
fi
