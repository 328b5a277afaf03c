// Overflow-checked size arithmetic: every place that multiplies or adds sizes that came from a
// user, an IR file or a cache entry goes through these, so a huge shape is a clear ValueError
// naming the op instead of a wrapped size (and a heap overflow later).
#pragma once

#include <cstdint>

#include "ember/runtime/error.h"

namespace ember {

inline int64_t checked_add(int64_t a, int64_t b, const char* op) {
  int64_t out;
  EMBER_CHECK(!__builtin_add_overflow(a, b, &out), ValueError, op, ": integer overflow in ", a,
              " + ", b);
  return out;
}

inline int64_t checked_sub(int64_t a, int64_t b, const char* op) {
  int64_t out;
  EMBER_CHECK(!__builtin_sub_overflow(a, b, &out), ValueError, op, ": integer overflow in ", a,
              " - ", b);
  return out;
}

inline int64_t checked_mul(int64_t a, int64_t b, const char* op) {
  int64_t out;
  EMBER_CHECK(!__builtin_mul_overflow(a, b, &out), ValueError, op, ": integer overflow in ", a,
              " * ", b);
  return out;
}

}  // namespace ember
