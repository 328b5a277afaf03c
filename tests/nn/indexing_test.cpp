// cumsum, sort/argsort, topk, multinomial and tensor indexing (index, index_put_, index_copy,
// nonzero) against reference loops, eagerly, under compile(), and through gradcheck.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "ember/ember.h"
#include "tests/gradcheck.h"
#include "tests/test_util.h"

namespace ember::testing {
namespace {

using Inputs = std::vector<Tensor>;
using indexing::Ellipsis;
using indexing::None;
using indexing::Slice;

// The values of x along dim of a [rows, cols] matrix: line l (a row for dim 1, a column for 0).
std::vector<double> line(const std::vector<double>& v, int64_t rows, int64_t cols, int64_t dim,
                         int64_t l) {
  std::vector<double> out;
  if (dim == 1)
    for (int64_t c = 0; c < cols; ++c) out.push_back(v[size_t(l * cols + c)]);
  else
    for (int64_t r = 0; r < rows; ++r) out.push_back(v[size_t(r * cols + l)]);
  return out;
}

TEST(AlongDim, CumsumMatchesLoops) {
  const Tensor x = from_values({3, 5}, test_values(15, -2, 2), kFloat32);
  const auto xv = values_of(x);
  for (int64_t dim : {0, 1, -1}) {
    const int64_t d = dim < 0 ? 1 : dim;
    std::vector<double> want(15);
    for (int64_t l = 0; l < (d == 1 ? 3 : 5); ++l) {
      double acc = 0;
      const auto v = line(xv, 3, 5, d, l);
      for (size_t j = 0; j < v.size(); ++j) {
        acc += v[j];
        want[size_t(d == 1 ? l * 5 + int64_t(j) : int64_t(j) * 5 + l)] = acc;
      }
    }
    expect_values(cumsum(x, dim), {3, 5}, want, 1e-6, -1, "dim " + std::to_string(dim));
    // A strided (transposed) input gives the same sums.
    expect_values(x.t().contiguous().t().cumsum(dim), {3, 5}, want, 1e-6);
  }
  // Integer and bool inputs sum in int64, as PyTorch.
  const Tensor ints = tensor({1, 2, 3, 4}, kInt32);
  EXPECT_EQ(cumsum(ints, 0).dtype(), kInt64);
  expect_values(cumsum(ints, 0), {4}, {1, 3, 6, 10}, 0);
  expect_values(cumsum(tensor({true, false, true}, kBool), 0), {3}, {1, 1, 2}, 0);
  EXPECT_EQ(cumsum(ints, 0, kFloat64).dtype(), kFloat64);
  expect_values(cumsum(full({}, 2.5), 0), {}, {2.5}, 0);
  EXPECT_THROW(cumsum(x, 2), IndexError);
  manual_seed(5);
  expect_gradcheck(
      [](const Inputs& a) -> Inputs {
        return {a[0].cumsum(1) * a[0], cumsum(a[0], 0)};
      },
      {randn({3, 4}, kFloat64)}, "cumsum");
}

TEST(AlongDim, SortArgsortTopkMatchLoops) {
  // Ties (stable order), NaN (above every number) and a negative zero.
  const Tensor x = tensor({3.0, 1.0, NAN, 1.0, -2.0, 7.0, 0.0, 1.0, -1.0, 4.0, 4.0, -3.0}, kFloat32)
                       .reshape({2, 6});
  const auto xv = values_of(x);
  auto before = [](double a, double b) {  // ascending, NaN last
    if (std::isnan(a)) return false;
    return std::isnan(b) || a < b;
  };
  for (bool descending : {false, true})
    for (int64_t dim : {0, 1}) {
      const int64_t lines = dim == 1 ? 2 : 6, n = dim == 1 ? 6 : 2;
      std::vector<double> want_v(12), want_i(12);
      for (int64_t l = 0; l < lines; ++l) {
        const auto v = line(xv, 2, 6, dim, l);
        std::vector<int64_t> order(static_cast<size_t>(n));
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
          return descending ? before(v[size_t(b)], v[size_t(a)])
                            : before(v[size_t(a)], v[size_t(b)]);
        });
        for (int64_t j = 0; j < n; ++j) {
          const size_t at = size_t(dim == 1 ? l * 6 + j : j * 6 + l);
          want_v[at] = v[size_t(order[size_t(j)])];
          want_i[at] = double(order[size_t(j)]);
        }
      }
      const std::string what =
          std::string(descending ? "descending" : "ascending") + " dim " + std::to_string(dim);
      const auto [values, indices] = sort(x, dim, descending);
      EXPECT_EQ(indices.dtype(), kInt64);
      expect_values(indices, {2, 6}, want_i, 0, -1, what);
      expect_values(values, {2, 6}, want_v, 0, -1, what);
      expect_values(argsort(x, dim, descending), {2, 6}, want_i, 0, -1, what);
    }
  const auto [top, at] = topk(x, 3, 1);
  expect_values(at, {2, 3}, {2, 5, 0, 3, 4, 1}, 0);  // NaN is the largest; ties by position
  expect_values(top, {2, 3}, {NAN, 7, 3, 4, 4, 1}, 0);
  const auto [low, low_at] = x.topk(2, 0, false);
  expect_values(low_at, {2, 6}, {1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 1, 0}, 0);
  expect_values(low, {2, 6}, {0, 1, -1, 1, -2, -3, 3, 1, NAN, 4, 4, 7}, 0);
  EXPECT_EQ(std::get<1>(topk(x, 0, 1)).size(1), 0);
  EXPECT_THROW(topk(x, 7, 1), IndexError);
  EXPECT_THROW(sort(x, 2), IndexError);
  // Integers sort exactly (beyond 2^53).
  const int64_t big = (int64_t(1) << 60) + 1;
  expect_values(std::get<1>(sort(tensor({big, big - 1, 0}, kInt64))), {3}, {2, 1, 0}, 0);
  manual_seed(6);
  expect_gradcheck(
      [](const Inputs& a) -> Inputs {
        return {std::get<0>(sort(a[0], 1, true)) * a[0], std::get<0>(topk(a[0], 2, 0)).exp()};
      },
      {randn({3, 4}, kFloat64)}, "sort/topk");
}

TEST(AlongDim, TracedAndCompiled) {
  auto fn = [](const Inputs& a) -> Inputs {
    const auto [v, i] = a[0].sort(-1);
    const auto [t, j] = a[0].topk(2, 0);
    return {a[0].cumsum(1) + v, t * 2, i.to(kFloat32) + j.sum().to(kFloat32)};
  };
  manual_seed(7);
  const Tensor x = randn({4, 6});
  const Inputs want = fn({x});
  auto compiled = compile([&](const Tensor& a) { return fn({a}); });
  for (int rep = 0; rep < 2; ++rep) {
    const Inputs got = compiled(x);
    for (size_t k = 0; k < want.size(); ++k) EXPECT_TRUE(allclose(got[k], want[k], 1e-6, 1e-6));
  }
  // The graph holds the ops themselves.
  const std::string ir = ir::print(*trace(fn, {x}).graph);
  EXPECT_NE(ir.find("cumsum("), std::string::npos) << ir;
  EXPECT_NE(ir.find("argsort("), std::string::npos) << ir;
  EXPECT_NE(ir.find("topk("), std::string::npos) << ir;
}

TEST(AlongDim, MultinomialFrequencies) {
  manual_seed(11);
  const Tensor p = tensor({0.1, 0.0, 0.6, 0.3}, kFloat32);
  const Tensor draws = multinomial(p, 20000, true);
  EXPECT_EQ(draws.dtype(), kInt64);
  ASSERT_EQ(draws.sizes().vec(), (std::vector<int64_t>{20000}));
  std::vector<double> count(4, 0);
  for (double v : values_of(draws)) count[size_t(v)] += 1;
  EXPECT_EQ(count[1], 0);  // a zero weight is never drawn
  for (size_t c : {0u, 2u, 3u})
    EXPECT_NEAR(count[c] / 20000, values_of(p)[c], 0.015) << "category " << c;
  // Without replacement: distinct categories in each row; the first draw follows the weights.
  const Tensor w = tensor({1.0, 2.0, 0.0, 5.0, 2.0}, kFloat64).unsqueeze(0).expand({4000, 5});
  const Tensor picks = multinomial(w, 3, false);
  ASSERT_EQ(picks.sizes().vec(), (std::vector<int64_t>{4000, 3}));
  const auto pv = values_of(picks);
  std::vector<double> first(5, 0);
  for (size_t r = 0; r < 4000; ++r) {
    const double a = pv[r * 3], b = pv[r * 3 + 1], c = pv[r * 3 + 2];
    EXPECT_TRUE(a != b && b != c && a != c) << "row " << r;
    EXPECT_TRUE(a != 2 && b != 2 && c != 2) << "row " << r;  // zero weight
    first[size_t(a)] += 1;
  }
  for (size_t c : {0u, 1u, 3u, 4u}) EXPECT_NEAR(first[c] / 4000, values_of(w)[c] / 10, 0.03);
  EXPECT_THROW(multinomial(p, 0), ValueError);
  EXPECT_THROW(multinomial(p, 4, false), ValueError);  // only 3 non-zero weights
  EXPECT_THROW(multinomial(tensor({0.5, -0.1}), 1), ValueError);
  EXPECT_THROW(multinomial(ones({2, 2, 2}), 1), ShapeError);
  // Traced: every replay draws anew.
  auto sample = compile([](const Tensor& p) { return multinomial(p, 8, true); });
  const Tensor probs = softmax(arange(6, kFloat32), 0).unsqueeze(0).expand({3, 6});
  const Tensor s1 = sample(probs), s2 = sample(probs);
  EXPECT_EQ(s1.sizes().vec(), (std::vector<int64_t>{3, 8}));
  EXPECT_FALSE(equal(s1, s2));
  EXPECT_GE(s1.min().item<int64_t>(), 0);
  EXPECT_LT(s1.max().item<int64_t>(), 6);
}

// ---- indexing ----

TEST(Indexing, BasicIndicesAreViews) {
  const Tensor x = arange(24, kFloat32).reshape({2, 3, 4});
  const Tensor a = x.index({1, Slice(None, None, 2)});  // x[1, ::2]
  ASSERT_EQ(a.sizes().vec(), (std::vector<int64_t>{2, 4}));
  expect_values(a, {2, 4}, {12, 13, 14, 15, 20, 21, 22, 23}, 0);
  EXPECT_EQ(a.data_ptr<float>(), x.data_ptr<float>() + 12);
  expect_values(x.index({Ellipsis, -1}), {2, 3}, {3, 7, 11, 15, 19, 23}, 0);
  expect_values(x.index({"...", Slice(1, 3)}).sum(), {}, {138}, 0);  // (4r+1)+(4r+2), r < 6
  EXPECT_EQ(x.index({None, 0, None}).sizes().vec(), (std::vector<int64_t>{1, 1, 3, 4}));
  EXPECT_EQ(x.index({true}).sizes().vec(), (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(x.index({false}).sizes().vec(), (std::vector<int64_t>{0, 2, 3, 4}));
  EXPECT_THROW(x.index({0, 0, 0, 0}), IndexError);
  EXPECT_THROW(x.index({Ellipsis, Ellipsis}), IndexError);
  EXPECT_THROW(x.index({2}), IndexError);
  EXPECT_THROW(x.index({"..,"}), IndexError);
}

// x[i0, i1] for 2-D x and 1-D integer index tensors, by loops.
TEST(Indexing, TensorIndicesFollowNumpy) {
  const Tensor x = arange(60, kFloat32).reshape({3, 4, 5});
  const Tensor rows = tensor({2, 0, -1, 2}, kInt64), cols = tensor({4, 1}, kInt32);
  // One index: x[rows] gathers along dim 0.
  Tensor r = x.index({rows});
  ASSERT_EQ(r.sizes().vec(), (std::vector<int64_t>{4, 4, 5}));
  expect_values(r.index({Slice(), 0, 0}), {4}, {40, 0, 40, 40}, 0);
  // Adjacent indices in the middle keep their place: x[:, [0, 3], [4, 1]] -> [3, 2].
  r = x.index({Slice(), tensor({0, 3}, kInt64), cols});
  ASSERT_EQ(r.sizes().vec(), (std::vector<int64_t>{3, 2}));
  expect_values(r, {3, 2}, {4, 16, 24, 36, 44, 56}, 0);
  // Separated indices go first: x[[0, 2], :, [1, 3]] -> [2, 4].
  r = x.index({tensor({0, 2}, kInt64), Slice(), tensor({1, 3}, kInt64)});
  ASSERT_EQ(r.sizes().vec(), (std::vector<int64_t>{2, 4}));
  std::vector<double> want;
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 4; ++j)
      want.push_back(double((i == 0 ? 0 : 40) + j * 5 + (i == 0 ? 1 : 3)));
  expect_values(r, {2, 4}, want, 0);
  // Broadcast index tensors: x[rows[:, None], [0, 1]] -> [4, 2, 5].
  r = x.index({rows.unsqueeze(1), tensor({0, 1}, kInt64)});
  ASSERT_EQ(r.sizes().vec(), (std::vector<int64_t>{4, 2, 5}));
  expect_values(r.index({Slice(), Slice(), 0}), {4, 2}, {40, 45, 0, 5, 40, 45, 40, 45}, 0);
  // Boolean masks.
  const Tensor m = tensor({true, false, true}, kBool);
  expect_values(x.index({m, 0, 0}), {2}, {0, 40}, 0);
  const Tensor big = x.sum({2}) > 100.0;  // [3, 4]
  const Tensor picked = x.index({big});
  EXPECT_EQ(picked.size(0), (big.to(kInt64).sum().item<int64_t>()));
  EXPECT_EQ(picked.size(1), 5);
  expect_values(nonzero(tensor({0, 3, 0, 1}, kInt32)), {2, 1}, {1, 3}, 0);
  expect_values(nonzero(tensor({1.0, 0.0, 0.0, 2.0}).reshape({2, 2})), {2, 2}, {0, 0, 1, 1}, 0);
  EXPECT_THROW(x.index({tensor({3}, kInt64)}), IndexError);
  EXPECT_THROW(x.index({tensor({-4}, kInt64)}), IndexError);
  EXPECT_THROW(x.index({tensor({0.0})}), IndexError);
  EXPECT_THROW(x.index({tensor({true, false}, kBool)}), IndexError);
  EXPECT_THROW(x.index({tensor({0, 1}, kInt64), tensor({0, 1, 2}, kInt64)}), IndexError);
  manual_seed(8);
  expect_gradcheck(
      [](const Inputs& a) -> Inputs {
        const Tensor idx = tensor({1, 0, 1, 2}, kInt64);
        return {a[0].index({idx, Slice(1)}) * 2, a[0].index({Slice(), tensor({2, 0}, kInt64)})};
      },
      {randn({3, 3}, kFloat64)}, "index");
}

TEST(Indexing, IndexPutWritesInPlace) {
  Tensor x = zeros({3, 4});
  x.index_put_({1}, 5.0);                                               // x[1] = 5
  x.index_put_({Slice(), tensor({0, 3}, kInt64)}, tensor({1.0, 2.0}));  // x[:, [0, 3]] = [1, 2]
  expect_values(x, {3, 4}, {1, 0, 0, 2, 1, 5, 5, 2, 1, 0, 0, 2}, 0);
  x.index_put_({x > 1.5}, -1.0);  // x[x > 1.5] = -1: a whole-tensor mask
  expect_values(x, {3, 4}, {1, 0, 0, -1, 1, -1, -1, -1, 1, 0, 0, -1}, 0);
  x.index_put_({tensor({true, false, true}, kBool), 1}, tensor({7.0, 8.0}));
  expect_values(x.select(1, 1), {3}, {7, -1, 8}, 0);
  // accumulate: repeated positions add up.
  Tensor acc = zeros({4}, kFloat64);
  acc.index_put_({tensor({0, 2, 0, 0}, kInt64)}, ones({4}, kFloat64), true);
  expect_values(acc, {4}, {3, 0, 1, 0}, 0);
  Tensor ints = zeros({2, 2}, kInt64);
  ints.index_put_({Ellipsis, 0}, 9);
  expect_values(ints, {2, 2}, {9, 0, 9, 0}, 0);
  EXPECT_THROW(x.index_put_({0}, ones({3})), ShapeError);
  // masked_fill_ in place.
  Tensor y = arange(4, kFloat32);
  y.masked_fill_(y > 1.5, 0.5);
  expect_values(y, {4}, {0, 1, 0.5, 0.5}, 0);
  // index_copy: the last of a repeated index wins.
  expect_values(index_copy(zeros({3}), 0, tensor({2, 0, 2}, kInt64), tensor({1.0, 2.0, 3.0})), {3},
                {2, 0, 3}, 0);
  // Out of place, differentiable in the input and the values.
  manual_seed(9);
  expect_gradcheck(
      [](const Inputs& a) -> Inputs {
        return {index_put(a[0], {Slice(), tensor({2, 0}, kInt64)}, a[1] * 3),
                index_put(a[0], {tensor({1, 1}, kInt64)}, a[1].sum(), true),
                index_copy(a[0], 1, tensor({1}, kInt64), a[1].slice(1, 0, 1))};
      },
      {randn({3, 3}, kFloat64), randn({3, 2}, kFloat64)}, "index_put");
  // An in-place write into a tensor autograd records.
  const Tensor w = randn({3}, kFloat64).set_requires_grad(true);
  Tensor h = w * 2;
  h.index_put_({tensor({0}, kInt64)}, 0.0);
  h.sum().backward();
  expect_values(w.grad(), {3}, {0, 2, 2}, 0);
}

TEST(Indexing, TracedIntegerIndicesCompile) {
  auto fn = [](const Inputs& a) -> Inputs {
    const Tensor picked = a[0].index({a[1], Slice(None, 2)});
    return {picked * 2, index_put(a[0], {Slice(), a[1].slice(0, 0, 2)}, ones({}) * 7)};
  };
  const Tensor x = arange(20, kFloat32).reshape({4, 5}), idx = tensor({3, -1, 0}, kInt64);
  const Inputs want = fn({x, idx});
  auto compiled = compile([&](const Tensor& a, const Tensor& i) { return fn({a, i}); });
  for (int rep = 0; rep < 2; ++rep) {
    const Inputs got = compiled(x, idx);
    ASSERT_EQ(got.size(), want.size());
    for (size_t k = 0; k < want.size(); ++k) EXPECT_TRUE(equal(got[k], want[k])) << k;
  }
  // A mask read has a data-dependent size: that call runs eagerly, and right.
  auto masked = compile([](const Tensor& a) { return a.index({a > 10.0}); });
  expect_values(masked(x), {9}, {11, 12, 13, 14, 15, 16, 17, 18, 19}, 0);
}

}  // namespace
}  // namespace ember::testing
