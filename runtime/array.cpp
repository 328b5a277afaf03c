#include "ember/runtime/array.h"

namespace ember {

Array::Array(std::shared_ptr<Storage> storage, DType dtype, Shape sizes, Shape strides,
             int64_t offset)
    : storage_(std::move(storage)),
      dtype_(dtype),
      sizes_(std::move(sizes)),
      strides_(std::move(strides)),
      offset_(offset),
      numel_(numel_of(sizes_)) {
  EMBER_INTERNAL_ASSERT(sizes_.size() == strides_.size());
}

Array Array::empty(IntArrayRef sizes, DType dtype, Device device) {
  check_sizes(sizes, "empty");
  const int64_t n = numel_of(sizes);
  int64_t nbytes;
  EMBER_CHECK(!__builtin_mul_overflow(n, int64_t(ember::itemsize(dtype)), &nbytes), ValueError,
              "empty: shape ", shape_str(sizes), " of ", dtype,
              " needs more bytes than int64 "
              "can count");
  auto storage = Storage::allocate(size_t(nbytes), device);
  return Array(std::move(storage), dtype, sizes.vec(), contiguous_strides(sizes), 0);
}

Array Array::scalar(double value, DType dtype) {
  Array a = empty({}, dtype);
  dispatch_dtype(dtype, [&]<class T>() { *a.data_as<T>() = T(compute_t<T>(value)); });
  return a;
}

Array Array::scalar_int(int64_t value, DType dtype) {
  Array a = empty({}, dtype);
  dispatch_dtype(dtype, [&]<class T>() {
    if constexpr (std::is_same_v<T, bool>)
      *a.data_as<T>() = value != 0;
    else if constexpr (std::is_integral_v<T>)
      *a.data_as<T>() = T(uint64_t(value));  // wraps, as integer casts do
    else
      *a.data_as<T>() = T(compute_t<T>(double(value)));
  });
  return a;
}

bool Array::is_contiguous() const {
  int64_t expected = 1;
  for (size_t i = sizes_.size(); i-- > 0;) {
    if (sizes_[i] == 1) continue;
    if (strides_[i] != expected) return false;
    expected *= sizes_[i];
  }
  return true;
}

Array Array::as_strided(Shape sizes, Shape strides, int64_t offset) const {
  return Array(storage_, dtype_, std::move(sizes), std::move(strides), offset);
}

double Array::element_as_double(int64_t flat_index) const {
  int64_t offset = 0;
  for (size_t i = sizes_.size(); i-- > 0;) {
    offset += (flat_index % sizes_[i]) * strides_[i];
    flat_index /= sizes_[i];
  }
  return dispatch_dtype(
      dtype_, [&]<class T>() -> double { return double(compute_t<T>(data_as<T>()[offset])); });
}

}  // namespace ember
