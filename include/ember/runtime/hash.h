// FNV-1a, 64 bits: a hash of bytes that is the same in every process and on every run (graph
// hashes, kernel cache keys, cache entry checksums). Not for adversarial input.
#pragma once

#include <cstdint>
#include <string_view>

namespace ember {

inline constexpr uint64_t kFnvOffset = 14695981039346656037ull;

inline uint64_t fnv1a64(std::string_view bytes, uint64_t h = kFnvOffset) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace ember
