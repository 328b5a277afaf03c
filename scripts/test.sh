#!/usr/bin/env bash
# The whole test suite on a fresh machine: install what is missing, build (Release, with
# assertions of our own always on), run every test through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build=${EMBER_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j"${EMBER_JOBS:-2}"
ctest --test-dir "$build" --output-on-failure -j"${EMBER_JOBS:-2}" "$@"
