// ember-bench's optional LibTorch column: the same workloads in LibTorch eager, where CMake found
// LibTorch (Debian's libtorch-dev); otherwise a note saying why the column is missing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ember_bench {

struct TorchTiming {
  bool available = false;
  std::string note;  // why there is no figure
  double median_ms = 0, min_ms = 0, max_ms = 0;
};

// Times `workload` (one of ember-bench's names) in LibTorch eager on inputs of the given shapes
// (weights derived from them as ember-bench derives its own), on `threads` threads.
TorchTiming time_libtorch(const std::string& workload,
                          const std::vector<std::vector<int64_t>>& input_shapes, int threads,
                          int warmup, int reps);

// "LibTorch 1.13.1", or the reason there is no LibTorch column.
std::string libtorch_description();

}  // namespace ember_bench
