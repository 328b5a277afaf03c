// The exported model file (export_model writes it, the AOT runtime reads it): one versioned
// file with the graph, the weights, the plan and the kernels' machine code.
//
//   header:  "EMBERAOT", u32 version, u32 section count, u64 checksum of all that follows
//   table:   per section: u32 kind, u32 reserved (0), u64 offset, u64 size, u64 checksum
//   sections (each exactly once, inside the file, not overlapping, 64-byte aligned):
//     Meta     the model's name, the machine code's target and the CPU features it needs, the
//              user inputs' names, and per kernel step of the plan its entry point's symbol
//     Graph    the traced graph in the text form (for people and tools; not needed to run)
//     Plan     Plan::serialize(): inputs (the user's, then the weights), steps, guards, outputs
//     Weights  the captured tensors by value: dtype, sizes, contiguous little-endian data
//     Code     an x86-64 ELF shared object holding every kernel (position-independent)
//
// Checksums are FNV-1a 64 of the bytes. parse() checks magic, version, the file's checksum,
// every section's bounds and checksum, then every field, before anything is trusted: malformed
// bytes are a ValueError naming what is wrong.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ember/runtime/dtype.h"

namespace ember::codegen {

inline constexpr uint32_t kModelFileVersion = 1;

struct ModelFile {
  std::string name;
  std::string target;                     // triple, CPU and features the code was built for
  std::vector<std::string> cpu_features;  // what the code needs of the CPU ("avx2", "fma")
  std::vector<std::string> input_names;   // the user's inputs (the plan's first inputs)
  // (plan step, symbol in code) for every kernel step that has machine code.
  std::vector<std::pair<uint64_t, std::string>> kernels;
  std::string graph;
  std::string plan;
  struct Weight {
    DType dtype = DType::Float32;
    std::vector<int64_t> sizes;
    std::string data;
  };
  std::vector<Weight> weights;
  std::string code;

  std::string serialize() const;
  static ModelFile parse(std::string_view bytes);
  // Recomputes the checksums of a file's sections and of the file in place (where the table's
  // bounds allow): what a fuzzer does to reach the fields behind the checksums.
  static void refresh_checksums(std::string& bytes);
};

}  // namespace ember::codegen
