#!/usr/bin/env bash
# The whole test suite on a fresh machine: install what is missing, build (Release, with
# assertions of our own always on), run every test through ctest, then the sanitizer slice.
#
#   bash scripts/test.sh               # what CI runs: the suite (build/), then the slice: the IR,
#                                      # codegen and reliability tests, the harness, lit and every
#                                      # fuzz loop built with ASan + UBSan (build-asan/)
#   bash scripts/test.sh -R NAME       # extra arguments go to ctest; the slice is left out
#   bash scripts/test.sh --sanitize    # the whole suite with ASan + UBSan (build-asan/), then the
#                                      # concurrency tests built with TSan (build-tsan/)
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=0
if [ "${1:-}" = "--sanitize" ]; then
  sanitize=1
  shift
fi
bash scripts/setup.sh
jobs=${EMBER_JOBS:-2}
suppressions="$PWD/scripts/sanitizer-suppressions"

# A sanitizer build in $1 with -fsanitize=$2: -O1 with line tables (what the sanitizers' authors
# advise; it builds in a third of RelWithDebInfo's time here). EMBER_NATIVE=OFF: no
# -march=native, so that the sanitizer runtime's checks see plain code.
configure_sanitized() {
  cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
    -DEMBER_NATIVE=OFF -DEMBER_BUILD_BENCHMARKS=OFF -DEMBER_SANITIZE="$2"
}

# ASan + UBSan: leaks are reported too. A failed allocation returns null (the tests of
# out-of-memory errors need malloc to fail, not ASan to abort). LLVM's JIT-compiled kernels are not
# instrumented (they are not built by this compiler); the code that calls them is.
asan_ctest() {
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:allocator_may_return_null=1" \
    LSAN_OPTIONS="suppressions=$suppressions/lsan.txt:print_suppressions=0" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    ctest --test-dir build-asan --output-on-failure -j"$jobs" "$@"
}

if ((!sanitize)); then
  build=${EMBER_BUILD_DIR:-build}
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
  cmake --build "$build" -j"$jobs"
  ctest --test-dir "$build" --output-on-failure -j"$jobs" "$@"
  if (($# > 0)); then
    exit 0
  fi
  # The slice of the sanitizer run that fits CI's budget (about 7 minutes here): the parsers and
  # loaders under their fuzz loops (the exported-model loader's included), the differential
  # fuzzer, the hostile inputs, the harness through the interpreter, the passes and the CPU
  # backend. The rest is `--sanitize`.
  configure_sanitized build-asan address,undefined
  cmake --build build-asan -j"$jobs" --target ember-fuzz ember-opt ir_test codegen_test \
    reliability_test aot_test
  asan_ctest -L "^(fuzz|lit|ir_test|codegen_test|reliability_test|aot_test)$"
  exit 0
fi

configure_sanitized build-asan address,undefined
cmake --build build-asan -j"$jobs"
asan_ctest -E "external_find_package" "$@"

# TSan: the tests that run threads or processes at once (compiled callers, the background tier,
# two processes on one cache, loader workers, the thread pool).
configure_sanitized build-tsan thread
cmake --build build-tsan -j"$jobs" --target jit_test disk_cache_test runtime_test nn_test tensor_test \
  ember_cache_probe
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$suppressions/tsan.txt" \
  ctest --test-dir build-tsan --output-on-failure -j"$jobs" \
  -R "SeveralThreads|QuickTier|TwoProcesses|SecondProcess|ThreadPool|Workers|ThreadCount|ParallelPaths"
