#!/usr/bin/env bash
# The same IQIF population network in Brian2 and in bitcell: spike trains must be identical
# (noise off), then simulation speed side by side, as a markdown table.
#   bash bench/bench_poppins.sh [--n1 32] [--n2 32] [--steps 100000] [--seed 1] [--out FILE]
# Brian2 is Debian's python3-brian (scripts/install-deps.sh --bench), run with /usr/bin/python3
# in its fastest mode, C++ standalone, one thread; bitcell runs `bitcell poppins run --no-trace`
# on one core, best of 3. BITCELL=path/to/bitcell uses an existing binary.
set -euo pipefail
cd "$(dirname "$0")/.."
n1=32 n2=32 steps=100000 seed=1 out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --n1) n1=$2; shift 2 ;;
        --n2) n2=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
        *) echo "bench_poppins.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
if [ -z "${BITCELL:-}" ]; then
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
    cmake --build build -j2 > /dev/null
    BITCELL=build/bitcell
fi
/usr/bin/python3 -c 'import brian2' 2> /dev/null || { echo "bench_poppins.sh: Brian2 is missing: scripts/install-deps.sh --bench" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

/usr/bin/python3 bench/brian_poppins.py make "$T/net.ini" --n1 "$n1" --n2 "$n2" --seed "$seed"
bc_best=""
bc_runs=""
for r in 1 2 3; do
    line=$("$BITCELL" poppins run "$T/net.ini" --steps "$steps" --no-trace --out "$T/bc")
    w=$(sed -n 's/.* wall_s=\([0-9.]*\).*/\1/p' <<< "$line")
    bc_runs="$bc_runs $w"
    if [ -z "$bc_best" ] || awk -v a="$w" -v b="$bc_best" 'BEGIN { exit !(a < b) }'; then bc_best=$w; fi
done
bc_spikes=$(sed -n 's/.* spikes=\([0-9]*\).*/\1/p' <<< "$line")
bc_sops=$(sed -n 's/.* sops=\([0-9]*\).*/\1/p' <<< "$line")
br_json=$(/usr/bin/python3 bench/brian_poppins.py run "$T/net.ini" --steps "$steps" --out "$T/brian.csv" --build-dir "$T/brian" 2> "$T/brian.err" | tail -1)
br_run=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["run_seconds"])' "$br_json")
br_total=$(/usr/bin/python3 -c 'import json,sys; print("%.2f" % json.loads(sys.argv[1])["build_and_run_seconds"])' "$br_json")
br_ver=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["brian2"])' "$br_json")
synapses=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["synapses"])' "$br_json")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# identical spike trains: (step, neuron) pairs, sorted
tail -n +2 "$T/bc/spikes.csv" | cut -d, -f1,2 | sort -t, -k1,1n -k2,2n > "$T/a"
tail -n +2 "$T/brian.csv" | sort -t, -k1,1n -k2,2n > "$T/b"
if cmp -s "$T/a" "$T/b"; then same="identical ($(wc -l < "$T/a") spikes)"; else
    same="DIFFERENT: bitcell $(wc -l < "$T/a") spikes, Brian2 $(wc -l < "$T/b"); first difference: $(diff "$T/a" "$T/b" | sed -n 2p)"
fi
sim_s=$(awk -v s="$steps" 'BEGIN { print s / 1000 }')
report=$(cat <<EOF
| metric | Brian2 $br_ver (C++ standalone, 1 thread) | bitcell (1 core) | ratio (Brian2 / bitcell time) |
|---|---:|---:|---:|
| simulation loop, $steps steps of 1 ms (s) | $br_run | $bc_best | $(awk -v a="$br_run" -v b="$bc_best" 'BEGIN { printf "%.1f×", a / b }') |
| incl. Brian2's code generation and compilation (s) | $br_total | $bc_best | $(awk -v a="$br_total" -v b="$bc_best" 'BEGIN { printf "%.0f×", a / b }') |
| real-time factor (simulated / wall time) | $(awk -v s="$sim_s" -v a="$br_run" 'BEGIN { printf "%.0f", s / a }') | $(awk -v s="$sim_s" -v a="$bc_best" 'BEGIN { printf "%.0f", s / a }') | – |

- network: two populations of $n1 and $n2 IQIF neurons (random mix of the repo's parameter sets, random constant stimulus, seed $seed), $synapses synapses (recurrent + feed-forward), noise off; spikes $bc_spikes, SOPs $bc_sops
- spike trains: $same
- bitcell wall time: best of 3 (\`bitcell poppins run --no-trace\`, the stepping loop with spike recording):$bc_runs; Brian2: \`device._last_run_time\` (its network.run loop with a SpikeMonitor)
- machine: $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1), $(nproc) cores; bitcell $("$BITCELL" --version | cut -d' ' -f2), commit $(git rev-parse --short HEAD 2> /dev/null || echo unknown)
- load average (1/5/15 min) before: $load_before, after: $load_after
EOF
)
echo "$report"
[ -n "$out" ] && echo "$report" > "$out"
[[ "$same" == identical* ]]
