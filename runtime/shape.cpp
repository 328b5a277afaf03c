#include "ember/runtime/shape.h"

#include <algorithm>
#include <climits>

namespace ember {

Shape contiguous_strides(IntArrayRef sizes) {
  Shape strides(sizes.size());
  int64_t stride = 1;
  for (size_t i = sizes.size(); i-- > 0;) {
    strides[i] = stride;
    // Saturates where the product no longer fits: only an empty tensor (a zero size elsewhere)
    // can have such sizes, since a non-empty one fails the numel check.
    if (__builtin_mul_overflow(stride, std::max<int64_t>(sizes[i], 1), &stride)) stride = INT64_MAX;
  }
  return strides;
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  const int64_t range = std::max<int64_t>(ndim, 1);
  EMBER_CHECK(dim >= -range && dim < range, IndexError, op,
              ": dimension out of range (expected to be in range of [", -range, ", ", range - 1,
              "], but got ", dim, ")");
  return dim < 0 ? dim + range : dim;
}

std::vector<int64_t> wrap_dims(IntArrayRef dims, int64_t ndim, const char* op) {
  std::vector<int64_t> out;
  if (dims.empty()) {
    for (int64_t d = 0; d < ndim; ++d) out.push_back(d);
    return out;
  }
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, ndim, op);
    EMBER_CHECK(std::find(out.begin(), out.end(), w) == out.end(), IndexError, op, ": dim ", w,
                " appears multiple times in the list of dims");
    out.push_back(w);
  }
  std::sort(out.begin(), out.end());
  if (ndim == 0) out.clear();  // dim 0 / -1 of a scalar names no real dimension
  return out;
}

Shape broadcast_shapes(IntArrayRef a, IntArrayRef b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    EMBER_CHECK(da == db || da == 1 || db == 1, ShapeError, op, ": shapes ", shape_str(a), " and ",
                shape_str(b), " cannot be broadcast together (the size of dimension ", i, " is ",
                da, " in one and ", db, " in the other)");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

void check_sizes(IntArrayRef sizes, const char* op) {
  for (size_t i = 0; i < sizes.size(); ++i)
    EMBER_CHECK(sizes[i] >= 0, ValueError, op, ": negative size ", sizes[i], " in dimension ", i,
                " of shape ", shape_str(sizes));
  int64_t n = 1;
  bool overflow = false;
  for (int64_t s : sizes) overflow |= __builtin_mul_overflow(n, s, &n);
  const bool has_zero = std::find(sizes.begin(), sizes.end(), 0) != sizes.end();
  EMBER_CHECK(!overflow || has_zero, ValueError, op, ": shape ", shape_str(sizes),
              " has more elements than int64 can count");
}

}  // namespace ember
