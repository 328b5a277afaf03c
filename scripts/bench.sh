#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build Release, run the benchmark
# tables (eager kernels against memory bandwidth and OpenBLAS, the tracer's cost per op, and
# compiled against eager and hand-written loops, until ember-bench lands).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build=${EMBER_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j"${EMBER_JOBS:-2}" --target ember_eager_bench ember_trace_bench \
  ember_compile_bench
EMBER_NUM_THREADS=${EMBER_NUM_THREADS:-2} "$build/benchmarks/ember_eager_bench" "$@"
"$build/benchmarks/ember_trace_bench"
EMBER_NUM_THREADS=${EMBER_NUM_THREADS:-2} "$build/benchmarks/ember_compile_bench"
