// Scalar semantics the eager kernels share: two's-complement wraparound for integer arithmetic
// (signed overflow is undefined in C++, defined as wrapping in PyTorch) and NaN-propagating
// max/min.
#pragma once

#include <type_traits>

namespace ember::kernels {

template <class C>
constexpr bool is_wrapping_int = std::is_integral_v<C> && !std::is_same_v<C, bool>;

template <class C>
inline C wrap_add(C a, C b) {
  if constexpr (is_wrapping_int<C>)
    return C(std::make_unsigned_t<C>(a) + std::make_unsigned_t<C>(b));
  else
    return C(a + b);
}
template <class C>
inline C wrap_sub(C a, C b) {
  if constexpr (is_wrapping_int<C>)
    return C(std::make_unsigned_t<C>(a) - std::make_unsigned_t<C>(b));
  else
    return C(a - b);
}
template <class C>
inline C wrap_mul(C a, C b) {
  if constexpr (is_wrapping_int<C>)
    return C(std::make_unsigned_t<C>(a) * std::make_unsigned_t<C>(b));
  else
    return C(a * b);
}

template <class C>
inline C nan_max(C a, C b) {
  if constexpr (std::is_floating_point_v<C>) {
    if (a != a) return a;
    if (b != b) return b;
  }
  return a > b ? a : b;
}
template <class C>
inline C nan_min(C a, C b) {
  if constexpr (std::is_floating_point_v<C>) {
    if (a != a) return a;
    if (b != b) return b;
  }
  return a < b ? a : b;
}

}  // namespace ember::kernels
