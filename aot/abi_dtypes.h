// The C ABI's dtypes (ember_dtype, in its order) as Ember's.
#pragma once

#include <iterator>
#include <optional>

#include "ember/aot_runtime.h"
#include "ember/runtime/dtype.h"

namespace ember::aot {

inline constexpr DType kAbiDTypes[] = {DType::Float32,  DType::Float64, DType::Float16,
                                       DType::BFloat16, DType::Int64,   DType::Int32,
                                       DType::Int8,     DType::UInt8,   DType::Bool};

inline std::optional<DType> from_abi(int d) {
  if (d < 0 || size_t(d) >= std::size(kAbiDTypes)) return std::nullopt;
  return kAbiDTypes[d];
}

inline std::optional<ember_dtype> to_abi(DType d) {
  for (size_t i = 0; i < std::size(kAbiDTypes); ++i)
    if (kAbiDTypes[i] == d) return ember_dtype(i);
  return std::nullopt;
}

}  // namespace ember::aot
