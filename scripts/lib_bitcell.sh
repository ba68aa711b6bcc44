# Sourced by the reproduction scripts (not run on its own): sets B to the bitcell binary -
# $BITCELL when given (e.g. a copy kept fixed while the tree changes), else build/bitcell,
# installed and built in Release first. Run from the repository root.
B="${BITCELL:-}"
if [ -z "$B" ]; then
    bash scripts/install-deps.sh > /dev/null
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
    cmake --build build -j"$(nproc)" > /dev/null
    B=build/bitcell
fi
