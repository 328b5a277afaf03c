// Built when CMake did not find LibTorch: the column is absent, and says so.
#include "tools/libtorch_column.h"

namespace ember_bench {

TorchTiming time_libtorch(const std::string&, const std::vector<std::vector<int64_t>>&, int, int,
                          int) {
  return {false, libtorch_description()};
}

std::string libtorch_description() {
  return "no LibTorch column: LibTorch was not found when this was built (install libtorch-dev "
         "and reconfigure)";
}

}  // namespace ember_bench
