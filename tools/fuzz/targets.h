// Fuzz targets: every parser and loader of bytes a user may not control. Each takes one input
// and must either accept it or raise an ember::Error; anything else (a crash, a hang, another
// exception, an accepted input whose printed form does not read back the same) is a finding.
// ember-fuzz --target NAME runs one as a bounded mutation loop (what ctest runs); built with
// clang and EMBER_LIBFUZZER=ON, tools/fuzz/libfuzzer_main.cpp runs it under libFuzzer.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace ember::fuzz {

// What a target raises when an input breaks one of its own invariants.
struct TargetFailure : std::logic_error {
  using std::logic_error::logic_error;
};

struct Target {
  const char* name;
  // Runs one input; returns whether it was accepted (a valid graph, entry or file), which the
  // mutation loop uses to keep inputs that go deeper.
  bool (*run)(const std::string& input);
  // Valid inputs to start from (beside the files of a corpus directory).
  std::vector<std::string> (*seeds)();
};

const std::vector<Target>& targets();
const Target* find_target(const std::string& name);
// Writes bytes to path (throws std::runtime_error naming the path where it cannot).
void write_file(const std::string& path, const std::string& bytes);
// Removes the files the file loaders' targets wrote (one per extension, per process).
void remove_scratch_files();

}  // namespace ember::fuzz
