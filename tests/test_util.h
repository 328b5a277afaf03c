// Helpers the tests share: tensors built from plain double vectors without Ember's kernels, the
// logical values of any tensor, layouts that hold the same values in non-contiguous memory, and
// comparison with a tolerance fitting the dtype.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "ember/ember.h"

namespace ember::testing {

// Row-major values of t, whatever its strides, read through the raw pointer.
inline std::vector<double> values_of(const Tensor& t) {
  std::vector<double> out;
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    int64_t rest = i, offset = 0;
    for (int64_t d = t.dim() - 1; d >= 0; --d) {
      offset += (rest % t.sizes()[size_t(d)]) * t.strides()[size_t(d)];
      rest /= t.sizes()[size_t(d)];
    }
    out.push_back(dispatch_dtype(t.dtype(), [&]<class T>() {
      return double(compute_t<T>(static_cast<const T*>(t.data_ptr())[offset]));
    }));
  }
  return out;
}

// A contiguous tensor holding values (converted as a static_cast would).
inline Tensor from_values(const Shape& shape, const std::vector<double>& values, DType dtype) {
  Tensor t = empty(shape, dtype);
  EXPECT_EQ(int64_t(values.size()), t.numel());
  dispatch_dtype(dtype, [&]<class T>() {
    T* p = static_cast<T*>(t.data_ptr());
    for (size_t i = 0; i < values.size(); ++i) p[i] = T(compute_t<T>(values[i]));
  });
  return t;
}

enum class Layout { Contiguous, Transposed, Strided };
inline const char* layout_name(Layout l) {
  return l == Layout::Contiguous   ? "contiguous"
         : l == Layout::Transposed ? "transposed"
                                   : "strided";
}

// The same logical tensor in another memory layout: Transposed stores it with reversed dims
// (permuted back, so strides are descending in reverse), Strided takes every other element of a
// larger buffer along the last dim.
inline Tensor with_layout(const Shape& shape, const std::vector<double>& values, DType dtype,
                          Layout layout) {
  if (layout == Layout::Contiguous || shape.empty()) return from_values(shape, values, dtype);
  const int64_t nd = int64_t(shape.size());
  if (layout == Layout::Transposed) {
    Shape rev(shape.rbegin(), shape.rend());
    std::vector<double> rv(values.size());
    // rev-tensor element at reversed index = original element.
    const Shape st = contiguous_strides(shape), rst = contiguous_strides(rev);
    for (size_t i = 0; i < values.size(); ++i) {
      int64_t off = 0;
      for (int64_t d = 0; d < nd; ++d)
        off += ((int64_t(i) / st[size_t(d)]) % shape[size_t(d)]) * rst[size_t(nd - 1 - d)];
      rv[size_t(off)] = values[i];
    }
    std::vector<int64_t> perm;
    for (int64_t d = nd - 1; d >= 0; --d) perm.push_back(d);
    return from_values(rev, rv, dtype).permute(perm);
  }
  Shape wide = shape;
  wide.back() *= 2;
  std::vector<double> wv(values.size() * 2, -777.0);
  for (size_t i = 0; i < values.size(); ++i) wv[2 * i] = values[i];
  return from_values(wide, wv, dtype).slice(nd - 1, 0, std::nullopt, 2);
}

// Relative tolerance that fits a dtype's precision.
inline double tolerance(DType dtype) {
  switch (dtype) {
    case kFloat16:
      return 2e-3;
    case kBFloat16:
      return 1.6e-2;
    case kFloat32:
      return 2e-5;
    case kFloat64:
      return 1e-12;
    default:
      return 0;
  }
}

// The value a double rounds to in dtype (what a perfect kernel would store).
inline double round_to(double v, DType dtype) {
  return dispatch_dtype(dtype, [&]<class T>() {
    if constexpr (std::is_floating_point_v<compute_t<T>>)
      return double(compute_t<T>(T(compute_t<T>(v))));
    else
      return v;
  });
}

inline void expect_values(const Tensor& actual, const Shape& shape,
                          const std::vector<double>& expected, double rtol, double atol = -1,
                          const std::string& what = "") {
  ASSERT_EQ(actual.sizes().vec(), shape) << what;
  const std::vector<double> got = values_of(actual);
  ASSERT_EQ(got.size(), expected.size()) << what;
  if (atol < 0) atol = rtol;
  for (size_t i = 0; i < got.size(); ++i) {
    const double e = expected[i], g = got[i];
    if (std::isnan(e)) {
      EXPECT_TRUE(std::isnan(g)) << what << " element " << i << ": expected nan, got " << g;
    } else if (std::isinf(e)) {
      EXPECT_EQ(g, e) << what << " element " << i;
    } else {
      EXPECT_LE(std::fabs(g - e), atol + rtol * std::fabs(e))
          << what << " element " << i << ": expected " << e << ", got " << g;
    }
  }
}

// Deterministic pseudo-random values in [lo, hi) (a tiny LCG: the tests do not lean on Ember's
// own generator for their inputs).
inline std::vector<double> test_values(size_t n, double lo, double hi, uint64_t seed = 1,
                                       bool integers = false) {
  std::vector<double> v(n);
  uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (auto& x : v) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    const double u = double(s >> 11) * 0x1.0p-53;
    x = lo + (hi - lo) * u;
    if (integers) x = std::floor(x);
  }
  return v;
}

// f throws an ErrorType whose message contains `part` (and nothing else escapes).
template <class ErrorType, class F>
void expect_error(F&& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "expected an error containing \"" << part << "\", but nothing was thrown";
  } catch (const ErrorType& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << part;
  }
}

inline std::vector<DType> all_dtypes() {
  return {kBool, kUInt8, kInt8, kInt32, kInt64, kFloat16, kBFloat16, kFloat32, kFloat64};
}
inline std::vector<DType> float_dtypes() { return {kFloat16, kBFloat16, kFloat32, kFloat64}; }

// Row-major multi-index helpers for reference loops.
inline std::vector<int64_t> unravel(int64_t i, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = i % shape[d];
    i /= shape[d];
  }
  return idx;
}
inline int64_t ravel(const std::vector<int64_t>& idx, const Shape& shape) {
  int64_t i = 0;
  for (size_t d = 0; d < shape.size(); ++d) i = i * shape[d] + idx[d];
  return i;
}
// The element of (shape, values) that broadcasting maps out_idx (of a larger rank) onto.
inline double broadcast_at(const Shape& shape, const std::vector<double>& values,
                           const std::vector<int64_t>& out_idx) {
  std::vector<int64_t> idx(shape.size());
  const size_t lead = out_idx.size() - shape.size();
  for (size_t d = 0; d < shape.size(); ++d) idx[d] = shape[d] == 1 ? 0 : out_idx[lead + d];
  return values[size_t(ravel(idx, shape))];
}

}  // namespace ember::testing
