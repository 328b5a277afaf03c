// libFuzzer's entry point for one fuzz target (EMBER_FUZZ_TARGET, set by tools/CMakeLists.txt).
// An Error is an accepted rejection; anything else a target raises escapes, aborts, and
// libFuzzer saves the input as a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "tools/fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ember::fuzz::Target* target = ember::fuzz::find_target(EMBER_FUZZ_TARGET);
  target->run(std::string(reinterpret_cast<const char*>(data), size));
  return 0;
}
