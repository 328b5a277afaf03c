#include "ember/runtime/dtype.h"

namespace ember {

size_t itemsize(DType dtype) {
  static constexpr size_t sizes[kNumDTypes] = {1, 1, 1, 4, 8, 2, 2, 4, 8};
  return sizes[static_cast<int>(dtype)];
}

const char* dtype_name(DType dtype) {
  static constexpr const char* names[kNumDTypes] = {
      "bool", "uint8", "int8", "int32", "int64", "float16", "bfloat16", "float32", "float64"};
  return names[static_cast<int>(dtype)];
}

std::ostream& operator<<(std::ostream& os, DType dtype) { return os << dtype_name(dtype); }

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  // Row/column order: b, u8, i8, i32, i64, f16, bf16, f32, f64.
  constexpr DType b1 = DType::Bool, u1 = DType::UInt8, i1 = DType::Int8, i4 = DType::Int32,
                  i8 = DType::Int64, f2 = DType::Float16, g2 = DType::BFloat16, f4 = DType::Float32,
                  f8 = DType::Float64;
  static constexpr DType table[kNumDTypes][kNumDTypes] = {
      /* b1 */ {b1, u1, i1, i4, i8, f2, g2, f4, f8},
      /* u1 */ {u1, u1, i4, i4, i8, f2, g2, f4, f8},
      /* i1 */ {i1, i4, i1, i4, i8, f2, g2, f4, f8},
      /* i4 */ {i4, i4, i4, i4, i8, f2, g2, f4, f8},
      /* i8 */ {i8, i8, i8, i8, i8, f2, g2, f4, f8},
      /* f2 */ {f2, f2, f2, f2, f2, f2, f4, f4, f8},
      /* g2 */ {g2, g2, g2, g2, g2, f4, g2, f4, f8},
      /* f4 */ {f4, f4, f4, f4, f4, f4, f4, f4, f8},
      /* f8 */ {f8, f8, f8, f8, f8, f8, f8, f8, f8},
  };
  return table[static_cast<int>(a)][static_cast<int>(b)];
}

}  // namespace ember
