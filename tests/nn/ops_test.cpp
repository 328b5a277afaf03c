// Ops models call (masked_fill, tril/triu, split/chunk, one_hot, scaled_dot_product_attention,
// clip_grad_norm_) against reference loops, with their gradients through gradcheck.
#include <gtest/gtest.h>

#include <cmath>

#include "ember/ember.h"
#include "tests/gradcheck.h"
#include "tests/test_util.h"

namespace ember::testing {
namespace {

namespace F = nn::functional;
using Inputs = std::vector<Tensor>;

TEST(ModelOps, MaskedFillAndTriangles) {
  const Tensor x = arange(12, kFloat64).reshape({3, 4});
  const Tensor mask = tensor({true, false, false, true}, kBool);  // broadcast over rows
  std::vector<double> want = values_of(x);
  for (size_t i = 0; i < 12; ++i)
    if (i % 4 == 0 || i % 4 == 3) want[i] = -1.5;
  expect_values(masked_fill(x, mask, -1.5), {3, 4}, want, 0);
  EXPECT_THROW(masked_fill(x, ones({4}), 0), DTypeError);
  for (int64_t k : {-1, 0, 2}) {
    std::vector<double> lo = values_of(x), up = values_of(x);
    for (int64_t r = 0; r < 3; ++r)
      for (int64_t c = 0; c < 4; ++c) {
        if (c - r > k) lo[size_t(r * 4 + c)] = 0;
        if (c - r < k) up[size_t(r * 4 + c)] = 0;
      }
    expect_values(tril(x, k), {3, 4}, lo, 0, -1, "tril " + std::to_string(k));
    expect_values(triu(x, k), {3, 4}, up, 0, -1, "triu " + std::to_string(k));
  }
  expect_values(tril(ones({2, 2, 2})), {2, 2, 2}, {1, 0, 1, 1, 1, 0, 1, 1}, 0);
  EXPECT_THROW(tril(ones({3})), ShapeError);
  manual_seed(1);
  expect_gradcheck(
      [](const Inputs& a) -> Inputs {
        return {masked_fill(a[0], a[0] > 0.5, 2.0) * tril(a[0], 1) + triu(a[0], -1)};
      },
      {randn({3, 3}, kFloat64)}, "masked_fill/tril/triu");
}

TEST(ModelOps, SplitChunkOneHot) {
  const Tensor x = arange(10, kFloat32).reshape({5, 2});
  const auto parts = split(x, 2);
  ASSERT_EQ(parts.size(), 3u);
  expect_values(parts[2], {1, 2}, {8, 9}, 0);
  EXPECT_EQ(parts[1].data_ptr<float>(), x.data_ptr<float>() + 4);  // views
  const auto chunks = chunk(x, 2, 1);
  ASSERT_EQ(chunks.size(), 2u);
  expect_values(chunks[1], {5, 1}, {1, 3, 5, 7, 9}, 0);
  EXPECT_EQ(chunk(x, 3).size(), 3u);  // pieces of 2, 2, 1
  EXPECT_THROW(split(x, 0), ValueError);
  expect_values(one_hot(tensor({2, 0}, kInt64), 3), {2, 3}, {0, 0, 1, 1, 0, 0}, 0);
  EXPECT_EQ(one_hot(tensor({1, 4}, kInt64)).size(1), 5);
  EXPECT_THROW(one_hot(tensor({3}, kInt64), 3), IndexError);
  manual_seed(2);
  expect_gradcheck(
      [](const Inputs& a) -> Inputs {
        const auto p = chunk(a[0], 3, 1);
        return {p[0] * 2 + p[2].sum({1}, true), split(a[0], 1, 0)[1]};
      },
      {randn({2, 6}, kFloat64)}, "split/chunk");
}

// softmax(q k^T / sqrt(d) + mask) v, by loops.
std::vector<double> attention_reference(const Tensor& q, const Tensor& k, const Tensor& v,
                                        bool causal) {
  const int64_t s = q.size(0), t = k.size(0), d = q.size(1), e = v.size(1);
  const auto qv = values_of(q), kv = values_of(k), vv = values_of(v);
  std::vector<double> out(size_t(s * e), 0);
  for (int64_t i = 0; i < s; ++i) {
    std::vector<double> w(static_cast<size_t>(t));
    double m = -INFINITY, sum = 0;
    for (int64_t j = 0; j < t; ++j) {
      double dot = 0;
      for (int64_t c = 0; c < d; ++c) dot += qv[size_t(i * d + c)] * kv[size_t(j * d + c)];
      w[size_t(j)] = causal && j > i ? -INFINITY : dot / std::sqrt(double(d));
      m = std::max(m, w[size_t(j)]);
    }
    for (double& x : w) sum += (x = std::exp(x - m));
    for (int64_t j = 0; j < t; ++j)
      for (int64_t c = 0; c < e; ++c)
        out[size_t(i * e + c)] += w[size_t(j)] / sum * vv[size_t(j * e + c)];
  }
  return out;
}

TEST(ModelOps, ScaledDotProductAttention) {
  manual_seed(3);
  const Tensor q = randn({4, 3}, kFloat64), k = randn({4, 3}, kFloat64),
               v = randn({4, 2}, kFloat64);
  for (bool causal : {false, true})
    expect_values(F::scaled_dot_product_attention(q, k, v, {}, 0, causal), {4, 2},
                  attention_reference(q, k, v, causal), 1e-12, -1, causal ? "causal" : "full");
  // A bool mask equal to the causal one, and an additive one.
  const Tensor keep = tril(ones({4, 4}, kBool));
  expect_values(F::scaled_dot_product_attention(q, k, v, keep), {4, 2},
                attention_reference(q, k, v, true), 1e-12);
  const Tensor additive = masked_fill(zeros({4, 4}, kFloat64), logical_not(keep), -INFINITY);
  expect_values(F::scaled_dot_product_attention(q, k, v, additive), {4, 2},
                attention_reference(q, k, v, true), 1e-12);
  EXPECT_THROW(F::scaled_dot_product_attention(q, k, v, keep, 0, true), ValueError);
  expect_gradcheck(
      [](const Inputs& a) -> Inputs {
        return {F::scaled_dot_product_attention(a[0], a[1], a[2], {}, 0, true)};
      },
      {randn({2, 3, 4}, kFloat64), randn({2, 3, 4}, kFloat64), randn({2, 3, 2}, kFloat64)},
      "sdpa causal");
}

TEST(ModelOps, ClipGradNorm) {
  Tensor a = tensor({3.0, 0.0}, kFloat64).set_requires_grad(true);
  Tensor b = tensor({4.0}, kFloat64).set_requires_grad(true);
  ((a * a).sum() / 2 + (b * b).sum() / 2).backward();  // grads (3, 0) and (4): norm 5
  EXPECT_NEAR(nn::utils::clip_grad_norm_({a, b}, 1.0), 5.0, 1e-12);
  expect_values(a.grad(), {2}, {0.6, 0}, 1e-6);
  expect_values(b.grad(), {1}, {0.8}, 1e-6);
  EXPECT_NEAR(nn::utils::clip_grad_norm_({a, b}, 10.0), 1.0, 1e-5);  // below: unchanged
  expect_values(b.grad(), {1}, {0.8}, 1e-6);
}

}  // namespace
}  // namespace ember::testing
