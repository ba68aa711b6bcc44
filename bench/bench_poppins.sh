#!/usr/bin/env bash
# The same IQIF population network in Brian2 and in bitcell: spike trains must be identical
# (noise off), then simulation speed side by side, as a markdown table.
#   bash bench/bench_poppins.sh [--n1 32] [--n2 32] [--steps 100000] [--seed 1] [--out FILE]
# Brian2 is Debian's python3-brian (scripts/install-deps.sh --bench), run with /usr/bin/python3
# in its fastest mode, C++ standalone, one thread; bitcell runs `bitcell poppins run --no-trace`
# on one core. After Brian2's build, three rounds alternate a bitcell run and a run of Brian2's
# compiled program, and each side's best round counts: CPU time of the loop (Brian2's own
# measure, std::clock) and its wall time. BITCELL=path/to/bitcell uses an existing binary.
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
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
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
br_json=$(/usr/bin/python3 bench/brian_poppins.py run "$T/net.ini" --steps "$steps" --out "$T/brian.csv" --build-dir "$T/brian" 2> "$T/brian.err" | tail -1)
json() { /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$br_json" "$1"; }
br_total=$(printf '%.2f' "$(json build_and_run_seconds)")
br_ver=$(json brian2)
synapses=$(json synapses)
# min A B: the smaller of two decimals
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a + 0 < b + 0) ? a : b }'; }
bc_cpu="" bc_wall="" br_cpu="" br_wall="" bc_runs="" br_runs=""
for r in 1 2 3; do
    line=$("$BITCELL" poppins run "$T/net.ini" --steps "$steps" --no-trace --out "$T/bc")
    w=$(sed -n 's/.* wall_s=\([0-9.]*\).*/\1/p' <<< "$line")
    c=$(sed -n 's/.* cpu_s=\([0-9.]*\).*/\1/p' <<< "$line")
    bc_wall=$(min "$w" "$bc_wall") bc_cpu=$(min "$c" "$bc_cpu") bc_runs="$bc_runs $c/$w"
    (cd "$T/brian" && ./main > /dev/null)
    c=$(cut -d' ' -f1 "$T/brian/results/last_run_info.txt")
    w=$(cat "$T/brian/loop_wall_seconds.txt")
    br_wall=$(min "$w" "$br_wall") br_cpu=$(min "$c" "$br_cpu") br_runs="$br_runs $c/$w"
done
bc_spikes=$(sed -n 's/.* spikes=\([0-9]*\).*/\1/p' <<< "$line")
bc_sops=$(sed -n 's/.* sops=\([0-9]*\).*/\1/p' <<< "$line")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# identical spike trains: (step, neuron) pairs, sorted
tail -n +2 "$T/bc/spikes.csv" | cut -d, -f1,2 | sort -t, -k1,1n -k2,2n > "$T/a"
tail -n +2 "$T/brian.csv" | sort -t, -k1,1n -k2,2n > "$T/b"
if cmp -s "$T/a" "$T/b"; then same="identical ($(wc -l < "$T/a") spikes)"; else
    same="DIFFERENT: bitcell $(wc -l < "$T/a") spikes, Brian2 $(wc -l < "$T/b"); first difference: $(diff "$T/a" "$T/b" | sed -n 2p)"
fi
sim_s=$(awk -v s="$steps" 'BEGIN { print s / 1000 }')
ratio() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { printf f, a / b }'; }
report=$(cat <<EOF
| metric | Brian2 $br_ver (C++ standalone, 1 thread) | bitcell (1 core) | ratio (Brian2 / bitcell time) |
|---|---:|---:|---:|
| simulation loop, $steps steps of 1 ms: CPU time (s) | $br_cpu | $bc_cpu | $(ratio "$br_cpu" "$bc_cpu" "%.1f×") |
| simulation loop: wall time (s) | $br_wall | $bc_wall | $(ratio "$br_wall" "$bc_wall" "%.1f×") |
| incl. Brian2's code generation and compilation (s) | $br_total | $bc_wall | $(ratio "$br_total" "$bc_wall" "%.0f×") |
| real-time factor (simulated / loop wall time) | $(ratio "$sim_s" "$br_wall" "%.0f") | $(ratio "$sim_s" "$bc_wall" "%.0f") | – |

- network: two populations of $n1 and $n2 IQIF neurons (random mix of the repo's parameter sets, random constant stimulus, seed $seed), $synapses synapses (recurrent + feed-forward), noise off; spikes $bc_spikes, SOPs $bc_sops
- spike trains: $same
- times: best of 3 alternating rounds, each side's loop with spike recording; bitcell: \`bitcell poppins run --no-trace\` (cpu_s/wall_s):$bc_runs; Brian2: its compiled program's network.run with a SpikeMonitor (\`device._last_run_time\`, i.e. std::clock, / wall clock around the same call):$br_runs
- machine: $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1), $(nproc) cores; bitcell $("$BITCELL" --version | cut -d' ' -f2), commit $(git rev-parse --short HEAD 2> /dev/null || echo unknown)
- load average (1/5/15 min) before: $load_before, after: $load_after
EOF
)
echo "$report"
[ -n "$out" ] && echo "$report" > "$out"
[[ "$same" == identical* ]]
