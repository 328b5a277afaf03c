// Element types. Float16 and BFloat16 are stored as 16 bits and computed in float32 (loads widen,
// stores round to nearest even). Type promotion follows PyTorch's table, with one difference:
// Ember has no int16, so uint8 with int8 promotes to int32 (PyTorch gives int16).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <ostream>

#include "ember/runtime/error.h"

// The 16-bit conversions sit inside every f16/bf16 kernel's inner loop, where a call would stop
// vectorization.
#if defined(__GNUC__)
#define EMBER_ALWAYS_INLINE [[gnu::always_inline]] inline
#else
#define EMBER_ALWAYS_INLINE inline
#endif

namespace ember {

enum class DType : uint8_t {
  Bool,
  UInt8,
  Int8,
  Int32,
  Int64,
  Float16,
  BFloat16,
  Float32,
  Float64,
};
inline constexpr int kNumDTypes = 9;

inline constexpr DType kBool = DType::Bool;
inline constexpr DType kUInt8 = DType::UInt8;
inline constexpr DType kInt8 = DType::Int8;
inline constexpr DType kInt32 = DType::Int32;
inline constexpr DType kInt64 = DType::Int64;
inline constexpr DType kFloat16 = DType::Float16;
inline constexpr DType kBFloat16 = DType::BFloat16;
inline constexpr DType kFloat32 = DType::Float32;
inline constexpr DType kFloat64 = DType::Float64;

// IEEE binary16.
struct Half {
  uint16_t bits = 0;
  Half() = default;
  Half(float f) : bits(from_float(f)) {}
  operator float() const { return to_float(bits); }

  EMBER_ALWAYS_INLINE static uint16_t from_float(float f) {
    const uint32_t x = std::bit_cast<uint32_t>(f);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t abs = x & 0x7fffffffu;
    if (abs >= 0x7f800000u) return uint16_t(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
    if (abs >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds past 65504: infinity
    if (abs < 0x38800000u) {  // subnormal half (or zero): add the magic that aligns the mantissa
      const float magic = std::bit_cast<float>(0x3f000000u);  // 0.5: shifts into half subnormals
      const float v = std::bit_cast<float>(abs) + magic;
      return uint16_t(sign | (std::bit_cast<uint32_t>(v) - 0x3f000000u));
    }
    const uint32_t odd = (abs >> 13) & 1u;
    return uint16_t(sign | ((abs - 0x38000000u + 0xfffu + odd) >> 13));
  }
  EMBER_ALWAYS_INLINE static float to_float(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    const uint32_t man = h & 0x3ffu;
    if (exp == 0) {  // zero or subnormal: man * 2^-24
      const float v = float(man) * std::bit_cast<float>(0x33800000u);
      return std::bit_cast<float>(sign | std::bit_cast<uint32_t>(v));
    }
    if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (man << 13));
    return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (man << 13));
  }
};

// bfloat16: the upper half of a float32.
struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  BFloat16(float f) : bits(from_float(f)) {}
  operator float() const { return to_float(bits); }

  EMBER_ALWAYS_INLINE static uint16_t from_float(float f) {
    const uint32_t x = std::bit_cast<uint32_t>(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40u);  // quiet NaN
    return uint16_t((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
  }
  EMBER_ALWAYS_INLINE static float to_float(uint16_t b) {
    return std::bit_cast<float>(uint32_t(b) << 16);
  }
};

// The C++ type that stores each dtype, and the type its arithmetic runs in.
template <DType D>
struct StorageOf;
#define EMBER_STORAGE_OF(D, T) \
  template <>                  \
  struct StorageOf<D> {        \
    using type = T;            \
  };
EMBER_STORAGE_OF(DType::Bool, bool)
EMBER_STORAGE_OF(DType::UInt8, uint8_t)
EMBER_STORAGE_OF(DType::Int8, int8_t)
EMBER_STORAGE_OF(DType::Int32, int32_t)
EMBER_STORAGE_OF(DType::Int64, int64_t)
EMBER_STORAGE_OF(DType::Float16, Half)
EMBER_STORAGE_OF(DType::BFloat16, BFloat16)
EMBER_STORAGE_OF(DType::Float32, float)
EMBER_STORAGE_OF(DType::Float64, double)
#undef EMBER_STORAGE_OF

template <class T>
struct ComputeOf {
  using type = T;
};
template <>
struct ComputeOf<Half> {
  using type = float;
};
template <>
struct ComputeOf<BFloat16> {
  using type = float;
};
template <class T>
using compute_t = typename ComputeOf<T>::type;

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<bool>() {
  return DType::Bool;
}
template <>
constexpr DType dtype_of<uint8_t>() {
  return DType::UInt8;
}
template <>
constexpr DType dtype_of<int8_t>() {
  return DType::Int8;
}
template <>
constexpr DType dtype_of<int32_t>() {
  return DType::Int32;
}
template <>
constexpr DType dtype_of<int64_t>() {
  return DType::Int64;
}
template <>
constexpr DType dtype_of<Half>() {
  return DType::Float16;
}
template <>
constexpr DType dtype_of<BFloat16>() {
  return DType::BFloat16;
}
template <>
constexpr DType dtype_of<float>() {
  return DType::Float32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::Float64;
}

size_t itemsize(DType dtype);
const char* dtype_name(DType dtype);  // "float32", as torch.float32 prints without its prefix
std::ostream& operator<<(std::ostream& os, DType dtype);

constexpr bool is_floating(DType d) { return d >= DType::Float16; }
constexpr bool is_integral(DType d, bool include_bool) {
  return (d >= DType::UInt8 && d <= DType::Int64) || (include_bool && d == DType::Bool);
}

// The promoted type of two tensor dtypes (torch.promote_types).
DType promote_types(DType a, DType b);

// Calls f.template operator()<T>() with T the storage type of dtype; the switch every kernel
// uses to leave the dtype world for a template.
template <class F>
decltype(auto) dispatch_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::Bool:
      return f.template operator()<bool>();
    case DType::UInt8:
      return f.template operator()<uint8_t>();
    case DType::Int8:
      return f.template operator()<int8_t>();
    case DType::Int32:
      return f.template operator()<int32_t>();
    case DType::Int64:
      return f.template operator()<int64_t>();
    case DType::Float16:
      return f.template operator()<Half>();
    case DType::BFloat16:
      return f.template operator()<BFloat16>();
    case DType::Float32:
      return f.template operator()<float>();
    case DType::Float64:
      return f.template operator()<double>();
  }
  throw InternalError("dispatch_dtype: unknown dtype");
}

}  // namespace ember
