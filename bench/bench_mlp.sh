#!/usr/bin/env bash
# bench/bench_mlp.sh - kept for existing commands: bench_bnn.sh --model mlp (see its --help).
exec bash "$(dirname "${BASH_SOURCE[0]}")/bench_bnn.sh" --model mlp "$@"
