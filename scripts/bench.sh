#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build Release, run ember-bench (fused
# against eager: the table on the terminal, JSON and SVG in the build directory). Arguments go to
# ember-bench (--filter, --scale, --threads, --reps, --warmup, --json, --svg; --help lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build=${EMBER_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j"${EMBER_JOBS:-2}" --target ember-bench
# Threads: $EMBER_NUM_THREADS, else every core (the pool's default).
"$build/tools/ember-bench" --json "$build/ember-bench.json" "$@"
