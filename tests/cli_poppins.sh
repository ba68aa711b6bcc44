#!/usr/bin/env bash
# bitcell poppins end to end: a run writes every artefact and its spikes follow the stimulus
# schedule; the avoidance agent runs and is thread-independent; bad processor files and
# schedules fail with "file:line", exit 1; usage errors exit 2; nothing half-written remains.
#   bash tests/cli_poppins.sh BITCELL_BINARY SOURCE_DIR
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
P="$SRC/hw/poppins-avoid.ini"

# ---- run: artefacts, and spikes only where the schedule drives
printf 'step,population,neuron,current\n0,sensors,0,40\n0,sensors,1,40\n100,sensors,0,0\n100,sensors,1,0\n' > "$T/stim.csv"
if "$BC" poppins run "$P" --steps 300 --stimulus "$T/stim.csv" --out "$T/run" > "$T/run.out" 2> "$T/run.err"; then
    ok
    for f in spikes.csv trace.csv raster.svg trace.svg metrics.json processor.ini; do
        [ -s "$T/run/$f" ] && ok || bad "run directory lacks $f"
    done
    ls "$T/run" | grep -q tmp && bad "temporary files left in the run directory" || ok
    [ "$(wc -l < "$T/run/trace.csv")" -eq 301 ] && ok || bad "trace.csv should have a header and 300 steps"
    # right sensors (2, 3) never driven: silent; left sensors fire, and only while driven
    awk -F, 'NR > 1 && ($2 == 2 || $2 == 3) { n++ } END { exit n > 0 }' "$T/run/spikes.csv" && ok || bad "undriven sensors fired"
    awk -F, 'NR > 1 && $2 == 0 { n++; if ($1 > 110) late++ } END { exit !(n > 10 && late == 0) }' "$T/run/spikes.csv" && ok || bad "sensor 0 spikes do not follow the schedule"
    # an obstacle on the left makes "turn right" (decision 4-7) win over "turn left" (0-3)
    awk -F, 'NR > 1 && $3 == "decision" { if ($4 >= 4) r++; else l++ } END { exit !(r > 3 * l && r > 5) }' "$T/run/spikes.csv" && ok || bad "the right-turn group did not win"
    for k in sops energy_pJ realtime_factor spikes; do grep -q "\"$k\"" "$T/run/metrics.json" && ok || bad "metrics.json lacks $k"; done
    sops=$(sed -n 's/.* sops=\([0-9]*\).*/\1/p' "$T/run.out")
    e=$(sed -n 's/.* energy_pJ=\([0-9.]*\).*/\1/p' "$T/run.out")
    awk -v s="$sops" -v e="$e" 'BEGIN { exit !(s > 0 && (e - s * 13.2) < 0.1 && (s * 13.2 - e) < 0.1) }' && ok || bad "energy $e != sops $sops x 13.2"
    "$BC" poppins run "$P" --steps 300 --stimulus "$T/stim.csv" --out "$T/run2" --pj-per-sop 2 > "$T/run2.out" 2>&1
    cmp -s "$T/run/spikes.csv" "$T/run2/spikes.csv" && ok || bad "two identical runs differ"
    grep -q "energy_pJ=$((sops * 2))\.0" "$T/run2.out" && ok || bad "--pj-per-sop 2: $(cat "$T/run2.out")"
    # the recorded processor file runs again
    "$BC" poppins run "$T/run/processor.ini" --steps 300 --stimulus "$T/stim.csv" --out "$T/run3" > /dev/null 2>&1 &&
        cmp -s "$T/run/spikes.csv" "$T/run3/spikes.csv" && ok || bad "processor.ini does not reproduce the run"
else
    bad "poppins run failed: $(tail -3 "$T/run.err")"
fi

# ---- avoid: a few short episodes, same results at 1 and 2 threads
if "$BC" poppins avoid --episodes 6 --episode-s 5 --seed 2 --threads 1 --plot 2 --out "$T/av1" --quiet > "$T/av1.out" 2> "$T/av.err" &&
   "$BC" poppins avoid "$P" --episodes 6 --episode-s 5 --seed 2 --threads 2 --plot 0 --out "$T/av2" --quiet > "$T/av2.out" 2>> "$T/av.err"; then
    ok
    cmp -s "$T/av1/episodes.csv" "$T/av2/episodes.csv" && ok || bad "avoid: episodes.csv differs between 1 and 2 threads"
    for f in episodes.csv metrics.json trajectory_0.svg trajectory_1.svg; do [ -s "$T/av1/$f" ] && ok || bad "avoid lacks $f"; done
    grep -q 'collision_free_rate=' "$T/av1.out" && ok || bad "avoid output: $(cat "$T/av1.out")"
else
    bad "poppins avoid failed: $(tail -3 "$T/av.err")"
fi

# ---- usage errors: exit 2
expect 2 "expected run or avoid" -- "$BC" poppins
expect 2 "unknown subcommand 'walk'" -- "$BC" poppins walk
expect 2 "--steps N is required" -- "$BC" poppins run "$P"
expect 2 "steps '0'" -- "$BC" poppins run "$P" --steps 0
expect 2 "expected one processor file" -- "$BC" poppins run --steps 5
expect 2 "episodes 'x'" -- "$BC" poppins avoid --episodes x
expect 2 "window '40'" -- "$BC" poppins avoid --window 40
expect 2 "trace-neurons" -- "$BC" poppins run "$P" --steps 5 --trace-neurons 99 --out "$T/x"
"$BC" poppins --help | grep -q "processor file" && ok || bad "poppins --help"

# ---- bad files: exit 1, file:line, no run directory contents
expect 1 "nonexistent.ini: cannot open" -- "$BC" poppins run "$T/nonexistent.ini" --steps 5
printf '[chip]\nweight_bits = 8\n[population]\nneurons = 2\nweights = 1 2\nweights = 3 200\n' > "$T/w.ini"
expect 1 "w.ini:6: weight 200 \(row 2, column 2\) does not fit weight_bits = 8" -- "$BC" poppins run "$T/w.ini" --steps 5 --out "$T/bad1"
[ ! -e "$T/bad1" ] && ok || bad "a failed run created its run directory"
printf '[population]\nneuronz = 2\n' > "$T/k.ini"
expect 1 "k.ini:2: unknown key 'neuronz'" -- "$BC" poppins run "$T/k.ini" --steps 5
printf '[chip]\nmax_neurons = 2\n[population]\nneurons = 3\n' > "$T/m.ini"
expect 1 "m.ini:4: neurons = 3 exceeds the chip's max_neurons = 2" -- "$BC" poppins run "$T/m.ini" --steps 5
head -c 300 /dev/urandom > "$T/noise.ini"
expect 1 "noise.ini" -- "$BC" poppins run "$T/noise.ini" --steps 5
printf '0,sensors,9,40\n' > "$T/bad.csv"
expect 1 "bad.csv:1: neuron '9'" -- "$BC" poppins run "$P" --steps 5 --stimulus "$T/bad.csv"
printf '[population]\nneurons = 3\n' > "$T/odd.ini"
expect 1 "two populations" -- "$BC" poppins avoid "$T/odd.ini" --episodes 1

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
