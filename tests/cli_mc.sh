#!/usr/bin/env bash
# bitcell mc / sweep end to end on the synthetic dataset: an ideal chip population equals the
# digital network, a varied one runs and writes every artefact, a sweep writes its curve; bad
# hardware files and options fail with one clear line and exit 1 (runtime) or 2 (usage).
#   bash tests/cli_mc.sh BITCELL_BINARY SOURCE_DIR
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
val() { grep -oE "(^| )$1=[^ ]+" "$2" | head -1 | sed 's/.*=//'; }

cat > "$T/net.cfg" <<'CFG'
[net]
name = small
epochs = 3
batch = 50
[dense]
units = 64
bias = 0
[bn]
[sign]
[dense]
units = 200
binary = 1
[bn]
[sign]
[dense]
units = 10
[softmax]
CFG
"$BC" train "$T/net.cfg" --data synthetic --out "$T/run" --quiet --threads 2 > /dev/null 2>&1 || { echo "FAIL: training" >&2; exit 1; }
CK="$T/run/model.safetensors"

# Ideal chips: every chip is the digital network.
if "$BC" mc "$CK" --hw "$SRC/hw/ideal-128.ini" --chips 3 --quiet --out "$T/ideal" > "$T/ideal.out" 2> "$T/ideal.err"; then
    d=$(val digital_accuracy "$T/ideal.out"); mn=$(val min "$T/ideal.out"); mx=$(val max "$T/ideal.out")
    [ -n "$d" ] && [ "$d" = "$mn" ] && [ "$d" = "$mx" ] && ok || bad "ideal chips: digital $d, min $mn, max $mx"
    grep -q "cim_layer=3 rows=64 cols=200 groups=1" "$T/ideal.out" && ok || bad "mapping line: $(cat "$T/ideal.out")"
else
    bad "mc ideal: $(cat "$T/ideal.err")"
fi

# A varied population, a small array read 16 rows at a time through 1-bit SAs.
if "$BC" mc "$CK" --hw "$SRC/hw/sram65-128.ini" --chips 5 --set rows_on=16 --set sigma_vth_mV=60 --quiet \
        --out "$T/mc" > "$T/mc.out" 2> "$T/mc.err"; then
    for f in chips.csv metrics.json histogram.svg hw.ini; do [ -s "$T/mc/$f" ] && ok || bad "mc: no $f"; done
    [ "$(wc -l < "$T/mc/chips.csv")" -eq 6 ] && ok || bad "chips.csv has $(wc -l < "$T/mc/chips.csv") lines"
    grep -q "^rows_on = 16$" "$T/mc/hw.ini" && grep -q "^sigma_vth_mV = 60$" "$T/mc/hw.ini" && ok || bad "hw.ini lacks the --set values"
    grep -q '"p5"' "$T/mc/metrics.json" && ok || bad "metrics.json lacks p5"
    # The same chips again: the same accuracies (chips are re-created from their index).
    "$BC" mc "$CK" --hw "$SRC/hw/sram65-128.ini" --chips 2 --first-chip 3 --set rows_on=16 --set sigma_vth_mV=60 --quiet \
        --threads 1 --out "$T/mc2" > /dev/null 2>&1
    [ "$(sed -n 2,3p "$T/mc2/chips.csv")" = "$(sed -n 5,6p "$T/mc/chips.csv")" ] && ok || bad "chips 3-4 not re-created"
else
    bad "mc: $(cat "$T/mc.err")"
fi

# A sweep: three values, the curve and the per-chip table.
if "$BC" sweep "$CK" --hw "$SRC/hw/sram65-128.ini" --vary sigma_vth_mV=0:80:40 --chips 2 --quiet --out "$T/sw" \
        > "$T/sw.out" 2> "$T/sw.err"; then
    [ "$(wc -l < "$T/sw/sweep.csv")" -eq 4 ] && [ "$(wc -l < "$T/sw/chips.csv")" -eq 7 ] && ok || bad "sweep tables"
    [ -s "$T/sw/sweep.svg" ] && ok || bad "no sweep.svg"
else
    bad "sweep: $(cat "$T/sw.err")"
fi

# Variation-aware training: the binary layer trains on SA chips; the run records how.
if "$BC" train "$T/net.cfg" --data synthetic --epochs 1 --hw "$SRC/hw/sram65-128.ini" --set rows_on=16 \
        --variation-aware --redraw-every 2 --out "$T/hil" --quiet --threads 2 > "$T/hil.out" 2> "$T/hil.err"; then
    grep -q '"variation_aware":.*"hardware-in-the-loop"' "$T/hil/metrics.json" && ok || bad "hil metrics.json"
    grep -q '"redraw_every":.*2' "$T/hil/metrics.json" && ok || bad "hil metrics.json lacks redraw_every"
else
    bad "train --variation-aware: $(cat "$T/hil.err")"
fi
# Calibration reads training images only: a data directory without the test split serves
# calibrate, while mc (which tests) names the missing test file. Tiny 8x8 IDX files.
mkdir -p "$T/fm"
{ printf '\x00\x00\x08\x03\x00\x00\x00\x64\x00\x00\x00\x08\x00\x00\x00\x08'
  LC_ALL=C awk 'BEGIN { for (i = 0; i < 6400; i++) printf "%c", (i * 37 + int(i / 64) * 11) % 251 }'; } > "$T/fm/train-images-idx3-ubyte"
{ printf '\x00\x00\x08\x01\x00\x00\x00\x64'
  LC_ALL=C awk 'BEGIN { for (i = 0; i < 100; i++) printf "%c", i % 10 }'; } > "$T/fm/train-labels-idx1-ubyte"
CAL=(--hw "$SRC/hw/sram65-128.ini" --set rows_on=16 --chips 3)
if "$BC" calibrate "$CK" "${CAL[@]}" --calibrate 60 --data fashion-mnist --data-dir "$T/fm" --quiet \
        --out "$T/cal.safetensors" > "$T/cal.out" 2> "$T/cal.err"; then
    grep -q "calibrated chips=3" "$T/cal.out" && [ -s "$T/cal.safetensors" ] && ok || bad "calibrate output"
    # Applying the saved calibrations equals calibrating in the run (same images, same chips).
    "$BC" mc "$CK" "${CAL[@]}" --calibration "$T/cal.safetensors" --quiet --out "$T/mcc1" > /dev/null 2> "$T/mcc1.err" || bad "mc --calibration: $(cat "$T/mcc1.err")"
    "$BC" mc "$CK" "${CAL[@]}" --calibrate 60 --quiet --out "$T/mcc2" > /dev/null 2> "$T/mcc2.err" || bad "mc --calibrate: $(cat "$T/mcc2.err")"
    [ -s "$T/mcc1/chips.csv" ] && [ -s "$T/mcc2/calibration.safetensors" ] && ok || bad "calibrated mc artefacts"
    # (mcc2 calibrates on synthetic training images, cal.safetensors on the IDX ones.)
    "$BC" mc "$CK" "${CAL[@]}" --quiet --out "$T/mcc0" > /dev/null 2>&1
    ! cmp -s "$T/mcc0/chips.csv" "$T/mcc1/chips.csv" && ok || bad "calibration changed no chip's result"
else
    bad "calibrate: $(cat "$T/cal.err")"
fi
# The reference trim: saved beside the statistics ("trim.<chip>" tensors) and re-applied
# exactly - the saved file reproduces the in-run calibration chip for chip.
if "$BC" calibrate "$CK" "${CAL[@]}" --calibrate 60 --calib-steps bn,trim --quiet --out "$T/trim.safetensors" \
        > /dev/null 2> "$T/trim.err"; then
    grep -q '"trim.2"' "$T/trim.safetensors" && ok || bad "calibration file without trims"
    "$BC" mc "$CK" "${CAL[@]}" --calibrate 60 --calib-steps bn,trim --quiet --out "$T/mct1" > /dev/null 2>&1
    "$BC" mc "$CK" "${CAL[@]}" --calibration "$T/trim.safetensors" --quiet --out "$T/mct2" > /dev/null 2>&1
    [ -s "$T/mct1/chips.csv" ] && cmp -s "$T/mct1/chips.csv" "$T/mct2/chips.csv" && ok || bad "saved trims give other results"
    "$BC" mc "$CK" "${CAL[@]}" --calibrate 60 --quiet --out "$T/mct0" > /dev/null 2>&1
    ! cmp -s "$T/mct0/chips.csv" "$T/mct1/chips.csv" && ok || bad "the trim changed no chip's result: the check above cannot fail"
    grep -q 'reference trim, then batch-norm' "$T/mct1/metrics.json" && ok || bad "metrics.json does not name the trim"
else
    bad "calibrate --calib-steps bn,trim: $(cat "$T/trim.err")"
fi
expect 2 "--calib-steps takes bn, trim or bn,trim" -- "$BC" mc "$CK" "${CAL[@]}" --calibrate 5 --calib-steps all
expect 2 "--calib-steps needs --calibrate" -- "$BC" mc "$CK" "${CAL[@]}" --calib-steps trim
expect 1 "t10k-images-idx3-ubyte" -- "$BC" mc "$CK" "${CAL[@]}" --calibrate 60 --data fashion-mnist --data-dir "$T/fm"
expect 2 "cal.safetensors: was made for other hardware" -- "$BC" mc "$CK" --hw "$SRC/hw/sram65-128.ini" --chips 3 --calibration "$T/cal.safetensors"
expect 1 "junk.cal: " -- "$BC" mc "$CK" "${CAL[@]}" --calibration "$(printf 'x' > "$T/junk.cal"; echo "$T/junk.cal")"
expect 2 "--calibrate N" -- "$BC" calibrate "$CK" "${CAL[@]}"
expect 2 "exclude each other" -- "$BC" mc "$CK" "${CAL[@]}" --calibrate 5 --calibration "$T/cal.safetensors"
expect 2 "--hw needs --variation-aware" -- "$BC" train "$T/net.cfg" --data synthetic --hw "$SRC/hw/sram65-128.ini"
expect 2 "need --hw FILE" -- "$BC" train "$T/net.cfg" --data synthetic --variation-aware
printf '[net]\nepochs = 1\n[dense]\nunits = 16\n[relu]\n[dense]\nunits = 10\n[softmax]\n' > "$T/float.cfg"
expect 2 "no binary layer with ±1 input" -- "$BC" train "$T/float.cfg" --data synthetic --hw "$SRC/hw/sram65-128.ini" --variation-aware --out "$T/never-va"
[ ! -e "$T/never-va/model.safetensors" ] && ok || bad "a refused variation-aware run wrote a checkpoint"
expect 2 "--redraw-every" -- "$BC" train "$T/net.cfg" --data synthetic --hw "$SRC/hw/sram65-128.ini" --variation-aware --redraw-every 0

# Bad input.
printf '[macro]\nrows = 64\nrows_on = 65\n' > "$T/bad.ini"
expect 1 "bad.ini:3: rows_on = 65 is more than the array's rows = 64" -- "$BC" mc "$CK" --hw "$T/bad.ini" --chips 1
printf '[macro]\nrows = -1\n' > "$T/neg.ini"
expect 1 "neg.ini:2: rows '-1'" -- "$BC" mc "$CK" --hw "$T/neg.ini" --chips 1
printf '[macro]\nwordlines = 4\n' > "$T/key.ini"
expect 1 "key.ini:2: unknown key 'wordlines' in \[macro\]" -- "$BC" mc "$CK" --hw "$T/key.ini" --chips 1
expect 1 "nothere.ini" -- "$BC" mc "$CK" --hw "$T/nothere.ini" --chips 1
expect 2 "--hw FILE is required" -- "$BC" mc "$CK" --chips 1
expect 2 "--chips" -- "$BC" mc "$CK" --hw "$SRC/hw/ideal-128.ini" --chips 0
expect 2 "unknown hardware key 'rowz'" -- "$BC" mc "$CK" --hw "$SRC/hw/ideal-128.ini" --set rowz=3
expect 2 "rows_on = 300 is more than" -- "$BC" mc "$CK" --hw "$SRC/hw/ideal-128.ini" --set rows_on=300
expect 2 "expected KEY=START:STOP:STEP" -- "$BC" sweep "$CK" --hw "$SRC/hw/ideal-128.ini" --vary sigma_vth_mV=0:10
expect 2 "unknown hardware key 'sigma'" -- "$BC" sweep "$CK" --hw "$SRC/hw/ideal-128.ini" --vary sigma=0:10:5
expect 2 "rows_on = 256 is more than" -- "$BC" sweep "$CK" --hw "$SRC/hw/ideal-128.ini" --vary rows_on=128:256:128 --out "$T/never"
[ ! -e "$T/never/sweep.csv" ] && ok || bad "a refused sweep wrote output"
printf 'not a checkpoint' > "$T/junk.safetensors"
expect 1 "junk.safetensors" -- "$BC" mc "$T/junk.safetensors" --hw "$SRC/hw/ideal-128.ini" --chips 1

echo "cli_mc: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
