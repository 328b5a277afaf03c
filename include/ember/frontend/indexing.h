// Tensor indexing as LibTorch writes it: x.index({Slice(1, None), 0, mask}) is Python's
// x[1:, 0, mask], and x.index_put_({...}, values) is x[...] = values.
//
// Integers select (the dim goes away), Slice slices, None inserts a size-1 dim, Ellipsis (or
// "...") stands for the dims no index names, and a tensor indexes by value: an integer tensor
// picks positions along its dim (negative counts from the end), a bool (or uint8) mask of k dims
// picks the positions where it is true over the next k dims. Basic indices (no tensors) give a
// view; tensor indices give a copy, shaped as NumPy's advanced indexing (the index tensors
// broadcast together; their dims go where the first of them is when they are adjacent, first
// otherwise). Masks have a data-dependent size, so they are eager-only (a traced function that
// reads through one runs eagerly); integer tensors trace.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <vector>

#include "ember/frontend/tensor.h"

namespace ember {
namespace indexing {

// start:stop:step; an empty bound is the end of the dim.
struct Slice {
  Slice(std::optional<int64_t> start = std::nullopt, std::optional<int64_t> stop = std::nullopt,
        int64_t step = 1)
      : start(start), stop(stop), step(step) {}
  std::optional<int64_t> start, stop;
  int64_t step;
};

struct EllipsisIndexType {};
inline constexpr EllipsisIndexType Ellipsis;
inline constexpr std::nullopt_t None = std::nullopt;

// One item of an index list.
class TensorIndex {
 public:
  enum class Kind : uint8_t { Integer, Boolean, Slice, None, Ellipsis, Tensor };

  TensorIndex(int64_t i) : kind_(Kind::Integer), integer_(i) {}  // NOLINT: implicit, as LibTorch
  TensorIndex(int i) : TensorIndex(int64_t(i)) {}                // NOLINT
  TensorIndex(bool b) : kind_(Kind::Boolean), integer_(b) {}     // NOLINT
  TensorIndex(Slice s) : kind_(Kind::Slice), slice_(s) {}        // NOLINT
  TensorIndex(std::nullopt_t) : kind_(Kind::None) {}             // NOLINT
  TensorIndex(EllipsisIndexType) : kind_(Kind::Ellipsis) {}      // NOLINT
  TensorIndex(const char* s);                                    // NOLINT: "..." only
  TensorIndex(Tensor t) : kind_(Kind::Tensor), tensor_(std::move(t)) {}  // NOLINT

  Kind kind() const { return kind_; }
  int64_t integer() const { return integer_; }
  const Slice& slice() const { return slice_; }
  const Tensor& tensor() const { return tensor_; }

 private:
  Kind kind_;
  int64_t integer_ = 0;
  Slice slice_;
  Tensor tensor_;
};

}  // namespace indexing

// x[indices] (see above).
Tensor index(const Tensor& x, const std::vector<indexing::TensorIndex>& indices);
// x with x[indices] replaced by values (added to it when accumulate; then repeated positions
// accumulate, otherwise one of them wins). values broadcast to the shape of x[indices] and are
// cast to x's dtype.
Tensor index_put(const Tensor& x, const std::vector<indexing::TensorIndex>& indices,
                 const Tensor& values, bool accumulate = false);
// The int64 coordinates [n, x.dim()] of x's non-zero elements, in row-major order. Eager only:
// the size depends on the values.
Tensor nonzero(const Tensor& x);

}  // namespace ember
