#!/usr/bin/env bash
# The whole test suite on a fresh machine: install what is missing, build (Release, with
# assertions of our own always on), run every test through ctest.
#
#   bash scripts/test.sh               # the suite (what CI runs)
#   bash scripts/test.sh --sanitize    # the suite built with ASan + UBSan (build-asan/), then the
#                                      # concurrency tests built with TSan (build-tsan/)
# Extra arguments go to ctest (-R NAME, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=0
if [ "${1:-}" = "--sanitize" ]; then
  sanitize=1
  shift
fi
bash scripts/setup.sh
jobs=${EMBER_JOBS:-2}
if ((!sanitize)); then
  build=${EMBER_BUILD_DIR:-build}
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
  cmake --build "$build" -j"$jobs"
  ctest --test-dir "$build" --output-on-failure -j"$jobs" "$@"
  exit 0
fi

# ASan + UBSan: every test; leaks are reported too. A failed allocation returns null (the tests
# of out-of-memory errors need malloc to fail, not ASan to abort). LLVM's JIT-compiled kernels are not
# instrumented (they are not built by this compiler); the code that calls them is.
# EMBER_NATIVE=OFF: no -march=native, so that the sanitizer runtime's checks see plain code.
suppressions="$PWD/scripts/sanitizer-suppressions"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEMBER_NATIVE=OFF \
  -DEMBER_BUILD_BENCHMARKS=OFF -DEMBER_SANITIZE=address,undefined
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:allocator_may_return_null=1" \
  LSAN_OPTIONS="suppressions=$suppressions/lsan.txt:print_suppressions=0" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  ctest --test-dir build-asan --output-on-failure -j"$jobs" -E "external_find_package" "$@"

# TSan: the tests that run threads or processes at once (compiled callers, the background tier,
# two processes on one cache, loader workers, the thread pool).
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEMBER_NATIVE=OFF \
  -DEMBER_BUILD_BENCHMARKS=OFF -DEMBER_SANITIZE=thread
cmake --build build-tsan -j"$jobs" --target jit_test disk_cache_test runtime_test nn_test tensor_test \
  ember_cache_probe
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$suppressions/tsan.txt" \
  ctest --test-dir build-tsan --output-on-failure -j"$jobs" \
  -R "SeveralThreads|QuickTier|TwoProcesses|SecondProcess|ThreadPool|Workers|ThreadCount|ParallelPaths"
