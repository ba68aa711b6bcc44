#!/usr/bin/env bash
# CLI end to end on the synthetic dataset, and bad input at the command line: every failure is
# one clear line on stderr naming the file, exit code 1 (runtime) or 2 (usage), and no
# half-written output.
#   bash tests/cli_errors.sh BITCELL_BINARY SOURCE_DIR
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"

cat > "$T/small.cfg" <<'CFG'
[net]
name = small
epochs = 2
batch = 50
[dense]
units = 64
bias = 0
[bn]
[sign]
[dense]
units = 64
binary = 1
[bn]
[sign]
[dense]
units = 10
[softmax]
CFG

# ---- a real run on synthetic data: every artefact is there and consistent
if "$BC" train "$T/small.cfg" --data synthetic --out "$T/run" --quiet --threads 2 > "$T/train.out" 2> "$T/train.err"; then
    ok
    for f in model.safetensors metrics.json log.csv accuracy.svg loss.svg config.cfg; do
        [ -s "$T/run/$f" ] && ok || bad "run directory lacks $f"
    done
    grep -q '"test_accuracy"' "$T/run/metrics.json" && ok || bad "metrics.json lacks test_accuracy"
    for k in train_samples_per_s eval_samples_per_s epochs seed; do
        grep -q "\"$k\"" "$T/run/metrics.json" && ok || bad "metrics.json lacks $k"
    done
    [ "$(wc -l < "$T/run/log.csv")" -eq 3 ] && ok || bad "log.csv should have a header and 2 epochs"
    grep -q '<svg' "$T/run/accuracy.svg" && ok || bad "accuracy.svg is not SVG"
    ls "$T/run" | grep -q tmp && bad "temporary files left in the run directory" || ok
    acc=$(sed -n 's/.*test_accuracy=\([0-9.]*\).*/\1/p' "$T/train.out")
    awk -v a="$acc" 'BEGIN { exit !(a >= 0.80) }' && ok || bad "synthetic accuracy $acc < 0.80"
    # eval reproduces the accuracy recorded at the end of training
    "$BC" eval "$T/run/model.safetensors" --data synthetic > "$T/eval.out" 2>&1 && ok || bad "eval failed: $(cat "$T/eval.out")"
    eacc=$(sed -n 's/.*test_accuracy=\([0-9.]*\).*/\1/p' "$T/eval.out")
    [ "$acc" = "$eacc" ] && ok || bad "eval accuracy $eacc != training's $acc"
    "$BC" info "$T/run/model.safetensors" --network > "$T/info.out" 2>&1 && ok || bad "info failed"
    grep -q 'L3.dense.weight' "$T/info.out" && grep -q 'dataset *synthetic' "$T/info.out" && ok || bad "info output: $(head -5 "$T/info.out")"
else
    bad "training on synthetic failed: $(tail -3 "$T/train.err")"
fi

# ---- --gemm: what it resolves to is in metrics.json; BC_CPU=scalar forces the scalar path
# (auto: fp32 sgemm; bf16: the scalar bf16 kernel, which must still learn)
gemm_run() { # NAME CPU GEMM: trains 1 epoch with BC_CPU=CPU into $T/g-NAME; prints "gemm kernel accuracy"
    env BC_CPU="$2" "$BC" train "$T/small.cfg" --data synthetic --epochs 1 --train-limit 1000 --threads 2 --quiet \
        --gemm "$3" --out "$T/g-$1" > "$T/g-$1.out" 2> "$T/g-$1.err" || { echo "failed: $(tail -2 "$T/g-$1.err")"; return; }
    local j="$T/g-$1/metrics.json"
    echo "$(sed -n 's/.*"gemm":[[:space:]]*"\([a-z0-9]*\)".*/\1/p' "$j") $(sed -n 's/.*"gemm_kernel":[[:space:]]*"\([a-z0-9]*\)".*/\1/p' "$j") $(sed -n 's/.*test_accuracy=\([0-9.]*\).*/\1/p' "$T/g-$1.out")"
}
r=$(gemm_run scalar-auto scalar auto)
[ "${r% *}" = "fp32 sgemm" ] && ok || bad "BC_CPU=scalar --gemm auto gave '$r', wanted fp32 sgemm"
r=$(gemm_run scalar-bf16 scalar bf16)
[ "${r% *}" = "bf16 scalar" ] && ok || bad "BC_CPU=scalar --gemm bf16 gave '$r', wanted bf16 scalar"
awk -v a="${r##* }" 'BEGIN { exit !(a >= 0.60) }' && ok || bad "scalar bf16 training reached only '${r##* }'"
r=$(gemm_run fp32 avx512 fp32)
[ "${r% *}" = "fp32 sgemm" ] && ok || bad "--gemm fp32 gave '$r'"

# ---- usage errors: exit 2
expect 2 "unknown command" -- "$BC" frobnicate
expect 2 "gemm 'fp16'" -- "$BC" train "$T/small.cfg" --gemm fp16
expect 2 "epochs '0'" -- "$BC" train "$T/small.cfg" --epochs 0
expect 2 "lr 'abc'" -- "$BC" train "$T/small.cfg" --lr abc
expect 2 "threads '0'" -- "$BC" train "$T/small.cfg" --threads 0
expect 2 "expected one network file" -- "$BC" train
expect 2 "optimizer 'rmsprop'" -- "$BC" train "$T/small.cfg" --optimizer rmsprop --data synthetic
expect 2 "BC_THREADS" -- env BC_THREADS=lots "$BC" train "$T/small.cfg"

# ---- bad files: exit 1, the message names the file (and the line for network files)
expect 1 "nonexistent.cfg: cannot open" -- "$BC" train "$T/nonexistent.cfg" --data synthetic
printf '[net]\nname = x\n[dense]\nunitz = 5\n[softmax]\n' > "$T/typo.cfg"
expect 1 "typo.cfg:4: unknown key 'unitz'" -- "$BC" train "$T/typo.cfg" --data synthetic
printf '[dense]\nunits = 10\n[conv3d]\n[softmax]\n' > "$T/sect.cfg"
expect 1 "sect.cfg:3: unknown section" -- "$BC" train "$T/sect.cfg" --data synthetic
expect 1 "unknown dataset|not found|no dataset" -- "$BC" train "$T/small.cfg" --data imagenet
expect 2 "cifar10 needs --data-dir" -- "$BC" train "$T/small.cfg" --data cifar10

# a network whose input does not fit the data
printf '[net]\ninput = 1x28x28\n[dense]\nunits = 10\n[softmax]\n' > "$T/shape.cfg"
expect 1 "expects input 1x28x28" -- "$BC" train "$T/shape.cfg" --data synthetic --out "$T/shape-run"

# truncated and corrupt checkpoints
if [ -s "$T/run/model.safetensors" ]; then
    size=$(stat -c %s "$T/run/model.safetensors")
    head -c $((size / 2)) "$T/run/model.safetensors" > "$T/trunc.safetensors"
    expect 1 "trunc.safetensors" -- "$BC" eval "$T/trunc.safetensors" --data synthetic
    head -c 5 "$T/run/model.safetensors" > "$T/tiny.safetensors"
    expect 1 "tiny.safetensors" -- "$BC" info "$T/tiny.safetensors"
    cp "$T/run/model.safetensors" "$T/flip.safetensors"
    printf 'XXXX' | dd of="$T/flip.safetensors" bs=1 seek=20 conv=notrunc 2> /dev/null
    expect 1 "flip.safetensors" -- "$BC" eval "$T/flip.safetensors" --data synthetic
fi
head -c 1000 /dev/urandom > "$T/noise.safetensors"
expect 1 "noise.safetensors" -- "$BC" eval "$T/noise.safetensors" --data synthetic

# a truncated Fashion-MNIST copy given through --data-dir
FM=/usr/share/datasets/fashion-mnist
if [ -f "$FM/train-images-idx3-ubyte.gz" ]; then
    mkdir -p "$T/fm"
    cp "$FM"/*.gz "$T/fm/"
    zcat "$FM/t10k-images-idx3-ubyte.gz" | head -c 100000 | gzip > "$T/fm/t10k-images-idx3-ubyte.gz"
    expect 1 "t10k-images-idx3-ubyte.gz.*truncated" -- "$BC" train "$T/small.cfg" --data fashion-mnist --data-dir "$T/fm" --out "$T/fm-run"
    [ ! -e "$T/fm-run/model.safetensors" ] && ok || bad "a failed run left a checkpoint"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
