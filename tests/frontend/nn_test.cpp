// The neural-network composites against reference loops: softmax and log_softmax along every dim,
// layer_norm with and without affine parameters, conv2d over strides, padding, dilation and
// groups, both pools, and dropout's statistics.
#include <cmath>
#include <limits>

#include "tests/test_util.h"

namespace ember::testing {
namespace {

std::vector<double> ref_softmax(const Shape& shape, const std::vector<double>& v, int64_t dim,
                                bool log) {
  std::vector<double> out(v.size());
  const int64_t n = shape[size_t(dim)];
  for (int64_t i = 0; i < numel_of(shape); ++i) {
    auto idx = unravel(i, shape);
    if (idx[size_t(dim)] != 0) continue;
    double mx = -INFINITY, sum = 0;
    for (int64_t k = 0; k < n; ++k) {
      idx[size_t(dim)] = k;
      mx = std::max(mx, v[size_t(ravel(idx, shape))]);
    }
    for (int64_t k = 0; k < n; ++k) {
      idx[size_t(dim)] = k;
      sum += std::exp(v[size_t(ravel(idx, shape))] - mx);
    }
    for (int64_t k = 0; k < n; ++k) {
      idx[size_t(dim)] = k;
      const size_t o = size_t(ravel(idx, shape));
      out[o] = log ? v[o] - mx - std::log(sum) : std::exp(v[o] - mx) / sum;
    }
  }
  return out;
}

TEST(Softmax, EveryDimLayoutAndFloatDtype) {
  const Shape shape{3, 4, 5};
  for (DType dtype : float_dtypes()) {
    for (Layout layout : {Layout::Contiguous, Layout::Transposed, Layout::Strided}) {
      const Tensor x = with_layout(shape, test_values(60, -6, 6, 31), dtype, layout);
      for (int64_t dim : {0, 1, 2, -1}) {
        const int64_t d = dim < 0 ? dim + 3 : dim;
        for (bool log : {false, true}) {
          const Tensor y = log ? log_softmax(x, dim) : softmax(x, dim);
          EXPECT_EQ(y.dtype(), dtype);
          const double tol = tolerance(dtype);
          expect_values(y, shape, ref_softmax(shape, values_of(x), d, log), tol, tol,
                        std::string(log ? "log_softmax " : "softmax ") + dtype_name(dtype) + " " +
                            layout_name(layout) + " dim " + std::to_string(dim));
        }
      }
    }
  }
}

TEST(Softmax, LongRowsAndExtremeValues) {
  const auto vals = test_values(8 * 3000, -50, 50, 2);
  const Tensor x = from_values({8, 3000}, vals, kFloat32);
  expect_values(softmax(x, 1), {8, 3000}, ref_softmax({8, 3000}, values_of(x), 1, false), 1e-5,
                1e-12);
  // Large logits do not overflow; a row of -inf gives NaN as in PyTorch.
  const Tensor big = from_values({2, 2}, {1000, 1000, -INFINITY, -INFINITY}, kFloat32);
  const auto y = values_of(softmax(big, 1));
  EXPECT_NEAR(y[0], 0.5, 1e-7);
  EXPECT_TRUE(std::isnan(y[2]));
  EXPECT_THROW(softmax(from_values({2}, {1, 2}, kInt64), 0), DTypeError);
  EXPECT_THROW(softmax(x, 2), IndexError);
}

TEST(LayerNorm, WithAndWithoutAffineOverOneAndTwoDims) {
  const Shape shape{4, 3, 8};
  const auto vals = test_values(96, -4, 4, 41);
  for (DType dtype : float_dtypes()) {
    for (Layout layout : {Layout::Contiguous, Layout::Transposed}) {
      const Tensor x = with_layout(shape, vals, dtype, layout);
      const auto xv = values_of(x);
      for (int nd : {1, 2}) {
        const Shape norm = nd == 1 ? Shape{8} : Shape{3, 8};
        const int64_t n = numel_of(norm);
        const auto wv = test_values(size_t(n), 0.5, 1.5, 42),
                   bv = test_values(size_t(n), -1, 1, 43);
        const Tensor w = from_values(norm, wv, dtype), b = from_values(norm, bv, dtype);
        for (bool affine : {false, true}) {
          std::vector<double> expected(xv.size());
          for (size_t r = 0; r < xv.size() / size_t(n); ++r) {
            double mean = 0, var = 0;
            for (int64_t i = 0; i < n; ++i) mean += xv[r * size_t(n) + size_t(i)];
            mean /= double(n);
            for (int64_t i = 0; i < n; ++i)
              var += std::pow(xv[r * size_t(n) + size_t(i)] - mean, 2);
            var /= double(n);
            for (int64_t i = 0; i < n; ++i) {
              double y = (xv[r * size_t(n) + size_t(i)] - mean) / std::sqrt(var + 1e-5);
              if (affine) y = y * values_of(w)[size_t(i)] + values_of(b)[size_t(i)];
              expected[r * size_t(n) + size_t(i)] = y;
            }
          }
          const Tensor y = affine ? layer_norm(x, norm, w, b) : layer_norm(x, norm);
          const double tol = tolerance(dtype) * 2;
          expect_values(y, shape, expected, tol, tol,
                        std::string(dtype_name(dtype)) + " " + layout_name(layout));
        }
      }
    }
  }
}

TEST(LayerNorm, ShapeErrors) {
  const Tensor x = ones({2, 3});
  try {
    layer_norm(x, {4});
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("[2, 3]"), std::string::npos);
  }
  EXPECT_THROW(layer_norm(x, {3}, ones({4})), ShapeError);
  EXPECT_THROW(layer_norm(from_values({3}, {1, 2, 3}, kInt32), {3}), DTypeError);
}

// Reference convolution (cross-correlation, as PyTorch) in double.
std::vector<double> ref_conv(const Shape& xs, const std::vector<double>& x, const Shape& ws,
                             const std::vector<double>& w, const std::vector<double>& b, int64_t s,
                             int64_t p, int64_t d, int64_t g, Shape& out_shape) {
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], O = ws[0], kh = ws[2], kw = ws[3];
  const int64_t Ho = (H + 2 * p - d * (kh - 1) - 1) / s + 1,
                Wo = (W + 2 * p - d * (kw - 1) - 1) / s + 1;
  out_shape = {N, O, Ho, Wo};
  std::vector<double> out;
  const int64_t Cg = C / g, Og = O / g;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow) {
          double acc = b.empty() ? 0 : b[size_t(o)];
          const int64_t grp = o / Og;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t ih = oh * s - p + i * d, iw = ow * s - p + j * d;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                acc += x[size_t(((n * C + grp * Cg + c) * H + ih) * W + iw)] *
                       w[size_t(((o * Cg + c) * kh + i) * kw + j)];
              }
          out.push_back(acc);
        }
  return out;
}

TEST(Conv2d, StridePaddingDilationGroupsAndBias) {
  struct Case {
    int64_t s, p, d, g, k;
    bool bias;
  };
  for (const Case c :
       {Case{1, 0, 1, 1, 3, true}, Case{2, 1, 1, 1, 3, false}, Case{1, 2, 2, 1, 3, true},
        Case{1, 1, 1, 2, 3, true}, Case{1, 0, 1, 4, 1, false}, Case{1, 0, 1, 1, 1, true},
        Case{3, 0, 1, 1, 2, true}}) {
    // Batches of one (float32 through oneDNN's own threads, when built with it), two, and three
    // (split across the thread pool with a remainder).
    for (const auto& [dtype, batch] : std::vector<std::pair<DType, int64_t>>{
             {kFloat32, 1}, {kFloat32, 2}, {kFloat32, 3}, {kFloat64, 2}, {kBFloat16, 2}}) {
      const Shape xs{batch, 4, 7, 6}, ws{4, 4 / c.g, c.k, c.k};
      const Tensor x = from_values(xs, test_values(size_t(numel_of(xs)), -1, 1, 51), dtype);
      const Tensor w = from_values(ws, test_values(size_t(numel_of(ws)), -1, 1, 52), dtype);
      const Tensor b = from_values({4}, {0.5, -0.25, 1, 2}, dtype);
      Shape out_shape;
      const auto expected =
          ref_conv(xs, values_of(x), ws, values_of(w),
                   c.bias ? values_of(b) : std::vector<double>{}, c.s, c.p, c.d, c.g, out_shape);
      const Tensor y = conv2d(x, w, c.bias ? b : Tensor(), c.s, c.p, c.d, c.g);
      const double tol = dtype == kFloat32 ? 1e-5 : tolerance(dtype) * 2;
      expect_values(y, out_shape, expected, tol, tol,
                    "conv s" + std::to_string(c.s) + " p" + std::to_string(c.p) + " d" +
                        std::to_string(c.d) + " g" + std::to_string(c.g) + " " + dtype_name(dtype) +
                        " batch " + std::to_string(batch));
    }
  }
  // Unbatched input, asymmetric stride, non-contiguous input.
  const Tensor x = from_values({3, 5, 5}, test_values(75, -1, 1, 53), kFloat64);
  const Tensor w = from_values({2, 3, 2, 2}, test_values(24, -1, 1, 54), kFloat64);
  Shape out_shape;
  const auto expected =
      ref_conv({1, 3, 5, 5}, values_of(x), {2, 3, 2, 2}, values_of(w), {}, 1, 0, 1, 1, out_shape);
  expect_values(conv2d(x.transpose(1, 2).transpose(1, 2), w), {2, 4, 4}, expected, 1e-12);
  EXPECT_EQ(conv2d(ones({1, 1, 5, 8}), ones({1, 1, 1, 1}), {}, {1, 2}).sizes().vec(),
            (Shape{1, 1, 5, 4}));
}

TEST(Conv2d, Errors) {
  const Tensor x = ones({1, 3, 5, 5});
  try {
    conv2d(x, ones({8, 4, 3, 3}));
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("expected input [1, 3, 5, 5] to have 4 channels"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(conv2d(ones({3, 5}), ones({1, 3, 1, 1})), ShapeError);
  EXPECT_THROW(conv2d(x, ones({2, 3, 7, 7})), ShapeError);
  EXPECT_THROW(conv2d(x, ones({2, 3, 1, 1}), {}, 0), ValueError);
  EXPECT_THROW(conv2d(x, ones({2, 3, 1, 1}), ones({3})), ShapeError);
  EXPECT_THROW(conv2d(x, ones({3, 1, 1, 1}), {}, 1, 0, 1, 2), ShapeError);
}

TEST(Pool2d, MaxAndAverageAgainstReference) {
  const Shape xs{2, 3, 7, 6};
  const Tensor x = from_values(xs, test_values(size_t(numel_of(xs)), -5, 5, 61), kFloat32);
  const auto xv = values_of(x);
  struct Case {
    int64_t k, s, p;
    bool ceil, include_pad;
  };
  for (const Case c :
       {Case{2, 2, 0, false, true}, Case{3, 2, 1, false, true}, Case{3, 2, 1, true, false},
        Case{2, 1, 0, false, true}, Case{3, 3, 1, true, true}}) {
    auto out_size = [&](int64_t n) {
      int64_t o = (n + 2 * c.p - c.k + (c.ceil ? c.s - 1 : 0)) / c.s + 1;
      if (c.ceil && (o - 1) * c.s >= n + c.p) --o;
      return o;
    };
    const int64_t Ho = out_size(7), Wo = out_size(6);
    std::vector<double> emax, eavg;
    for (int64_t plane = 0; plane < 6; ++plane)
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow) {
          double mx = -INFINITY, sum = 0;
          int64_t count = 0;
          const int64_t h0 = oh * c.s - c.p, w0 = ow * c.s - c.p;
          const int64_t h1 = std::min(h0 + c.k, 7 + c.p), w1 = std::min(w0 + c.k, 6 + c.p);
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) {
              if (ih < 0 || ih >= 7 || iw < 0 || iw >= 6) continue;
              const double v = xv[size_t((plane * 7 + ih) * 6 + iw)];
              mx = std::max(mx, v);
              sum += v;
              ++count;
            }
          emax.push_back(mx);
          eavg.push_back(sum / double(c.include_pad ? (h1 - h0) * (w1 - w0) : count));
        }
    const Shape os{2, 3, Ho, Wo};
    expect_values(max_pool2d(x, c.k, c.s, c.p, 1, c.ceil), os, emax, 0, 0, "max_pool2d");
    expect_values(avg_pool2d(x, c.k, c.s, c.p, c.ceil, c.include_pad), os, eavg, 1e-6, 1e-6,
                  "avg_pool2d");
  }
  // Dilation, unbatched input, and the default stride (= kernel): windows {2i, 2i + 2}.
  const auto v = test_values(25, 0, 1, 1);
  std::vector<double> dilated;
  for (int oh = 0; oh < 2; ++oh)
    for (int ow = 0; ow < 2; ++ow)
      dilated.push_back(
          std::max({v[size_t(10 * oh + 2 * ow)], v[size_t(10 * oh + 2 * ow + 2)],
                    v[size_t(10 * oh + 10 + 2 * ow)], v[size_t(10 * oh + 12 + 2 * ow)]}));
  expect_values(max_pool2d(from_values({1, 5, 5}, v, kFloat64), 2, {}, 0, 2), {1, 2, 2}, dilated,
                0);
  EXPECT_THROW(max_pool2d(x, 2, 2, 2), ValueError);
  EXPECT_THROW(max_pool2d(ones({5, 5}), 2), ShapeError);
  // A NaN wins its windows only (float32 and float64 take the rows-at-a-time path).
  for (DType dtype : {kFloat32, kFloat64}) {
    std::vector<double> values(16, 1);
    values[5] = NAN;  // row 1, column 1: the first window
    values[15] = -INFINITY;
    const Tensor y = max_pool2d(from_values({1, 1, 4, 4}, values, dtype), 2);
    const auto got = values_of(y);
    EXPECT_TRUE(std::isnan(got[0])) << dtype_name(dtype);
    EXPECT_EQ(got[1], 1.0);
    EXPECT_EQ(got[3], 1.0);
  }
}

TEST(Dropout, ZeroesAboutPAndScalesTheRest) {
  manual_seed(123);
  const Tensor x = ones({100000});
  const Tensor y = dropout(x, 0.25, true);
  const auto v = values_of(y);
  int64_t zeros_count = 0;
  for (double e : v) {
    if (e == 0)
      ++zeros_count;
    else
      EXPECT_NEAR(e, 1.0 / 0.75, 1e-6);
  }
  EXPECT_NEAR(double(zeros_count) / 100000.0, 0.25, 0.01);
  EXPECT_EQ(dropout(x, 0.25, false).data_ptr(), x.data_ptr());
  EXPECT_EQ(dropout(x, 1.0, true).sum().item<double>(), 0.0);
  EXPECT_THROW(dropout(x, 1.5, true), ValueError);
}

}  // namespace
}  // namespace ember::testing
