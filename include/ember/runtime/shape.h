// Shapes and the small index arithmetic every op shares: a non-owning list of sizes that accepts
// {2, 3}-style lists, contiguous strides, dimension wrapping and broadcasting, each checked with
// PyTorch's error messages.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

#include "ember/runtime/error.h"
#include "ember/runtime/small_vector.h"

namespace ember {

// Sizes or strides; inline up to 6 dims, so creating a tensor allocates no metadata.
using Shape = SmallVector<int64_t, 6>;

// A view of a list of int64_t, as LibTorch's IntArrayRef: built from {1, 2} lists, vectors, spans
// or a single value (so sum(1) reads as sum({1})). It never owns; a braced list lives until the end
// of the full expression, which is the length of the call it is passed to.
class IntArrayRef {
 public:
  constexpr IntArrayRef() = default;
  constexpr IntArrayRef(const int64_t& one) : data_(&one), size_(1) {}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winit-list-lifetime"  // intended: see the class comment
#endif
  constexpr IntArrayRef(std::initializer_list<int64_t> list)
      : data_(list.begin()), size_(list.size()) {}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
  IntArrayRef(const std::vector<int64_t>& v) : data_(v.data()), size_(v.size()) {}
  IntArrayRef(const Shape& v) : data_(v.data()), size_(v.size()) {}
  constexpr IntArrayRef(std::span<const int64_t> s) : data_(s.data()), size_(s.size()) {}
  template <size_t N>
  constexpr IntArrayRef(const std::array<int64_t, N>& a) : data_(a.data()), size_(N) {}
  constexpr IntArrayRef(const int64_t* data, size_t size) : data_(data), size_(size) {}

  constexpr const int64_t* begin() const { return data_; }
  constexpr const int64_t* end() const { return data_ + size_; }
  constexpr const int64_t* data() const { return data_; }
  constexpr size_t size() const { return size_; }
  constexpr bool empty() const { return size_ == 0; }
  constexpr int64_t operator[](size_t i) const { return data_[i]; }
  constexpr int64_t back() const { return data_[size_ - 1]; }
  Shape vec() const { return Shape(data_, data_ + size_); }
  operator std::span<const int64_t>() const { return {data_, size_}; }

 private:
  const int64_t* data_ = nullptr;
  size_t size_ = 0;
};

inline detail::ShapeText shape_str(IntArrayRef dims) { return {std::span<const int64_t>(dims)}; }
inline detail::ShapeText shape_str(const Shape& dims) {
  return {std::span<const int64_t>(dims.data(), dims.size())};
}
// Prints "[2, 3]", as LibTorch prints sizes().
inline std::ostream& operator<<(std::ostream& os, IntArrayRef dims) {
  return os << shape_str(dims);
}

// Product of the sizes (1 for a 0-dim shape); ValueError when it does not fit int64 (a shape
// with a zero size has 0 elements whatever the others are).
inline int64_t numel_of(IntArrayRef sizes) {
  int64_t n = 1;
  bool overflow = false;
  for (int64_t s : sizes) overflow |= __builtin_mul_overflow(n, s, &n);
  if (overflow) [[unlikely]] {
    for (int64_t s : sizes)
      if (s == 0) return 0;
    throw ValueError(
        detail::concat("shape ", shape_str(sizes), " has more elements than int64 can count"));
  }
  return n;
}

// The number of elements of [start, end) taken every step (step > 0), without overflowing.
inline int64_t slice_length(int64_t start, int64_t end, int64_t step) {
  return end <= start ? 0 : (end - start - 1) / step + 1;
}

// Row-major strides, in elements.
Shape contiguous_strides(IntArrayRef sizes);

// Maps a possibly negative dim into [0, ndim) or throws IndexError naming the op; a 0-dim tensor
// accepts dims -1 and 0, as in PyTorch.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);

// Sorted, wrapped, duplicate-free dims; an empty list means every dim.
std::vector<int64_t> wrap_dims(IntArrayRef dims, int64_t ndim, const char* op);

// The broadcast of two shapes (numpy rules) or ShapeError naming the op and both shapes.
Shape broadcast_shapes(IntArrayRef a, IntArrayRef b, const char* op);

// Checks that every size is non-negative and that the element count fits int64.
void check_sizes(IntArrayRef sizes, const char* op);

}  // namespace ember
