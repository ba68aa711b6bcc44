#!/usr/bin/env bash
# The test command of the README: installs what is missing, builds, runs the CTest suite.
#   bash scripts/test.sh            Release build in build/, all tests
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)"
cd build && ctest --output-on-failure -j"$(nproc)"
