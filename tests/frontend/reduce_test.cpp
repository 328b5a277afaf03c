// Reductions against reference loops: every op over every subset of dims of a 3-D tensor, with
// and without keepdim, in three layouts and all dtypes each op accepts; long runs (the parallel
// paths), empty inputs, NaN, and the errors.
#include <cmath>
#include <limits>

#include "tests/test_util.h"

namespace ember::testing {
namespace {

enum class Op { Sum, Mean, Prod, Amax, Amin };

// Reference: reduce (shape, values) over dims with keepdim, in long double.
std::pair<Shape, std::vector<double>> ref_reduce(Op op, const Shape& shape,
                                                 const std::vector<double>& v,
                                                 const std::vector<int64_t>& dims, bool keepdim) {
  auto reduced = [&](size_t d) {
    return dims.empty() || std::find(dims.begin(), dims.end(), int64_t(d)) != dims.end();
  };
  Shape kshape;  // keepdim shape
  for (size_t d = 0; d < shape.size(); ++d) kshape.push_back(reduced(d) ? 1 : shape[d]);
  std::vector<long double> acc(size_t(numel_of(kshape)));
  std::vector<int64_t> count(acc.size(), 0);
  for (auto& a : acc)
    a = op == Op::Prod ? 1 : op == Op::Amax ? -INFINITY : op == Op::Amin ? INFINITY : 0;
  for (int64_t i = 0; i < numel_of(shape); ++i) {
    auto idx = unravel(i, shape);
    for (size_t d = 0; d < shape.size(); ++d)
      if (reduced(d)) idx[d] = 0;
    const size_t o = size_t(ravel(idx, kshape));
    const long double x = v[size_t(i)];
    if (op == Op::Prod)
      acc[o] *= x;
    else if (op == Op::Amax)
      acc[o] = std::max(acc[o], x);
    else if (op == Op::Amin)
      acc[o] = std::min(acc[o], x);
    else
      acc[o] += x;
    ++count[o];
  }
  std::vector<double> out;
  for (size_t o = 0; o < acc.size(); ++o)
    out.push_back(op == Op::Mean ? double(acc[o] / count[o]) : double(acc[o]));
  Shape oshape;
  for (size_t d = 0; d < shape.size(); ++d)
    if (!reduced(d))
      oshape.push_back(shape[d]);
    else if (keepdim)
      oshape.push_back(1);
  return {oshape, out};
}

Tensor run(Op op, const Tensor& x, IntArrayRef dims, bool keepdim) {
  switch (op) {
    case Op::Sum:
      return x.sum(dims, keepdim);
    case Op::Mean:
      return x.mean(dims, keepdim);
    case Op::Prod:
      return x.prod(dims, keepdim);
    case Op::Amax:
      return x.amax(dims, keepdim);
    default:
      return x.amin(dims, keepdim);
  }
}

TEST(Reduce, EveryOpOverEveryDimSubsetLayoutAndDtype) {
  const Shape shape{3, 4, 5};
  const std::vector<std::vector<int64_t>> dim_sets = {{},     {0},    {1},  {2},      {0, 1},
                                                      {0, 2}, {1, 2}, {-1}, {0, 1, 2}};
  for (Op op : {Op::Sum, Op::Mean, Op::Prod, Op::Amax, Op::Amin}) {
    for (DType dtype : all_dtypes()) {
      if (op == Op::Mean && !is_floating(dtype)) continue;
      for (Layout layout : {Layout::Contiguous, Layout::Transposed, Layout::Strided}) {
        // Prod keeps to values near 1 so 60 factors stay representable.
        const bool ints = !is_floating(dtype);
        auto vals =
            op == Op::Prod ? test_values(60, 0.5, 1.5, 5) : test_values(60, -10, 10, 5, ints);
        if (op == Op::Prod && ints) vals = test_values(60, 1, 2.2, 5, true);
        if (dtype == kUInt8 || dtype == kBool)
          for (auto& v : vals) v = std::fabs(v);
        const Tensor x = with_layout(shape, vals, dtype, layout);
        for (const auto& dims : dim_sets) {
          std::vector<int64_t> wrapped;
          for (int64_t d : dims) wrapped.push_back(d < 0 ? d + 3 : d);
          for (bool keepdim : {false, true}) {
            const Tensor y = run(op, x, dims, keepdim);
            const auto [oshape, expected] = ref_reduce(op, shape, values_of(x), wrapped, keepdim);
            const bool int_result = (op == Op::Sum || op == Op::Prod) && !is_floating(dtype);
            EXPECT_EQ(y.dtype(), int_result ? kInt64 : dtype);
            // 16-bit float results round once; sums accumulate in double.
            expect_values(y, oshape, expected, tolerance(dtype) * (op == Op::Prod ? 4 : 1),
                          is_floating(dtype) ? tolerance(dtype) * 10 : 0,
                          std::string("op ") + std::to_string(int(op)) + " " + dtype_name(dtype) +
                              " " + layout_name(layout) + " dims " + std::to_string(dims.size()) +
                              (keepdim ? " keepdim" : ""));
          }
        }
      }
    }
  }
}

TEST(Reduce, LongRowsAndColumnsTakeTheParallelPathsAndStayExact) {
  // 300k elements: the full reduction splits into blocks; the columns accumulate in blocks.
  const auto vals = test_values(300000, -1, 1, 9);
  const Tensor x = from_values({600, 500}, vals, kFloat32);
  for (auto dims : {std::vector<int64_t>{}, std::vector<int64_t>{0}, std::vector<int64_t>{1}}) {
    const auto [oshape, expected] = ref_reduce(Op::Sum, {600, 500}, values_of(x), dims, false);
    expect_values(x.sum(dims), oshape, expected, 1e-6, 1e-4);
    const auto [mshape, mexp] = ref_reduce(Op::Amax, {600, 500}, values_of(x), dims, false);
    expect_values(x.amax(dims), mshape, mexp, 0);
  }
}

TEST(Reduce, FloatSumsAccumulateInDouble) {
  // 1e8, a thousand ones, -1e8: a float accumulator absorbs the ones into 1e8 (ulp 8).
  std::vector<double> v(1002, 1.0);
  v.front() = 1e8;
  v.back() = -1e8;
  EXPECT_EQ(from_values({1002}, v, kFloat32).sum().item<double>(), 1000.0);
  EXPECT_EQ(from_values({1, 1002}, v, kFloat32).sum(1).item<double>(), 1000.0);
}

TEST(Reduce, EmptyInputsGiveIdentitiesOrErrors) {
  const Tensor e = zeros({0, 4});
  expect_values(e.sum(), {}, {0}, 0);
  expect_values(e.prod(), {}, {1}, 0);
  expect_values(e.sum(0), {4}, {0, 0, 0, 0}, 0);
  EXPECT_TRUE(std::isnan(e.mean().item<double>()));
  EXPECT_EQ(e.sum(1).sizes().vec(), (Shape{0}));
  EXPECT_THROW(e.max(), ShapeError);
  EXPECT_THROW(e.amax(0), ShapeError);
  EXPECT_EQ(e.amax(1).sizes().vec(), (Shape{0}));
}

TEST(Reduce, NanPropagatesThroughMaxMinAndSum) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor x = from_values({2, 3}, {1, nan, 3, 4, 5, 6}, kFloat32);
  const auto mx = values_of(x.amax(1));
  EXPECT_TRUE(std::isnan(mx[0]));
  EXPECT_EQ(mx[1], 6);
  EXPECT_TRUE(std::isnan(x.sum().item<double>()));
  EXPECT_TRUE(std::isnan(x.min().item<double>()));
}

TEST(Reduce, MaxAndMinAlongDimReturnValuesAndFirstIndices) {
  const Tensor x = from_values({2, 4}, {3, 7, 7, 1, 5, 2, 5, 0}, kInt32);
  auto [vals, idx] = x.max(1);
  expect_values(vals, {2}, {7, 5}, 0);
  expect_values(idx, {2}, {1, 0}, 0);
  EXPECT_EQ(idx.dtype(), kInt64);
  auto [mvals, midx] = x.min(0, true);
  expect_values(mvals, {1, 4}, {3, 2, 5, 0}, 0);
  expect_values(midx, {1, 4}, {0, 1, 1, 1}, 0);
  expect_values(x.argmax(), {}, {1}, 0);
  expect_values(x.argmin(), {}, {7}, 0);
  expect_values(x.argmax(0), {4}, {1, 0, 0, 0}, 0);
  expect_values(x.t().argmax(1, true), {4, 1}, {1, 0, 0, 0}, 0);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  expect_values(from_values({3}, {1, nan, 5}, kFloat64).argmax(), {}, {1}, 0);
  EXPECT_THROW(zeros({0}).argmax(), ShapeError);
  EXPECT_THROW(x.max(2), IndexError);
}

TEST(Reduce, VarAndStdWithAndWithoutCorrection) {
  const auto vals = test_values(24, -3, 3, 4);
  const Tensor x = from_values({4, 6}, vals, kFloat64);
  for (bool unbiased : {true, false}) {
    for (int64_t dim : {0, 1}) {
      const int64_t n = dim == 0 ? 4 : 6;
      std::vector<double> var_ref;
      for (int64_t k = 0; k < (dim == 0 ? 6 : 4); ++k) {
        double mean = 0, ss = 0;
        for (int64_t i = 0; i < n; ++i) mean += vals[size_t(dim == 0 ? i * 6 + k : k * 6 + i)];
        mean /= double(n);
        for (int64_t i = 0; i < n; ++i) {
          const double d = vals[size_t(dim == 0 ? i * 6 + k : k * 6 + i)] - mean;
          ss += d * d;
        }
        var_ref.push_back(ss / double(n - (unbiased ? 1 : 0)));
      }
      const Shape oshape{dim == 0 ? 6 : 4};
      expect_values(x.var(dim, unbiased), oshape, var_ref, 1e-12);
      std::vector<double> std_ref;
      for (double v : var_ref) std_ref.push_back(std::sqrt(v));
      expect_values(x.std(dim, unbiased), oshape, std_ref, 1e-12);
    }
  }
  EXPECT_THROW(from_values({2}, {1, 2}, kInt32).var(), DTypeError);
}

TEST(Reduce, ErrorsNameTheOpAndDimension) {
  const Tensor x = ones({2, 3});
  try {
    x.sum({0, 5});
    FAIL();
  } catch (const IndexError& e) {
    EXPECT_NE(std::string(e.what()).find("sum: dimension out of range"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("got 5"), std::string::npos);
  }
  EXPECT_THROW(x.sum({1, -1}), IndexError);  // repeated dim
  EXPECT_THROW(from_values({2}, {1, 2}, kInt64).mean(), DTypeError);
}

}  // namespace
}  // namespace ember::testing
