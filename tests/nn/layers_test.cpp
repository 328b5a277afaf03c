// The layers beyond the MLP's: Conv2d, BatchNorm2d (batch and running statistics), RMSNorm,
// MultiheadAttention, against their definitions; CosineAnnealingLR with warmup.
#include <gtest/gtest.h>

#include <cmath>

#include "ember/ember.h"
#include "tests/gradcheck.h"
#include "tests/test_util.h"

namespace ember::testing {
namespace {

TEST(Layers, Conv2dIsTheFunctionalConvWithPyTorchsInit) {
  manual_seed(1);
  nn::Conv2d conv(nn::Conv2dOptions(4, 6, 3).stride({2, 2}).padding({1, 1}).groups(2));
  EXPECT_EQ(conv->weight.sizes().vec(), (Shape{6, 2, 3, 3}));
  const double bound = 1.0 / std::sqrt(2.0 * 9);
  for (double v : values_of(conv->weight)) EXPECT_LE(std::abs(v), bound);
  const Tensor x = randn({2, 4, 7, 7});
  const Tensor want = conv2d(x, conv->weight, conv->bias, 2, 1, 1, 2);
  EXPECT_TRUE(allclose(conv(x), want));
  EXPECT_THROW(nn::Conv2d(nn::Conv2dOptions(3, 6, 3).groups(2)), ValueError);
}

TEST(Layers, BatchNorm2dTrainsOnBatchStatisticsAndEvaluatesOnRunningOnes) {
  manual_seed(2);
  nn::BatchNorm2d bn(3);
  const Tensor x = randn({4, 3, 5, 5}, kFloat32) * 2 + 1;
  const Tensor y = bn(x);
  // Per channel: mean 0 and (biased) variance 1 after normalizing.
  expect_values(y.mean({0, 2, 3}), {3}, {0, 0, 0}, 1e-5, 1e-5);
  expect_values(y.var({0, 2, 3}, false), {3}, {1, 1, 1}, 1e-3, 1e-3);
  // Running statistics: 0.9 * initial + 0.1 * batch (the variance unbiased).
  const std::vector<double> mean = values_of(x.mean({0, 2, 3})),
                            var = values_of(x.var({0, 2, 3}, true));
  std::vector<double> want_mean, want_var;
  for (size_t c = 0; c < 3; ++c) {
    want_mean.push_back(0.1 * mean[c]);
    want_var.push_back(0.9 + 0.1 * var[c]);
  }
  expect_values(bn->running_mean, {3}, want_mean, 1e-5, 1e-6);
  expect_values(bn->running_var, {3}, want_var, 1e-5, 1e-6);
  EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 1);
  bn->eval();
  const Tensor z = bn(x);
  const Tensor expected = (x - bn->running_mean.reshape({1, 3, 1, 1})) *
                          rsqrt(bn->running_var.reshape({1, 3, 1, 1}) + 1e-5);
  EXPECT_TRUE(allclose(z, expected, 1e-5, 1e-6));
  EXPECT_EQ(bn->named_buffers().keys(),
            (std::vector<std::string>{"running_mean", "running_var", "num_batches_tracked"}));
  // Its gradient in training mode.
  nn::BatchNorm2d bn64(2);
  bn64->to(kFloat64);
  expect_gradcheck(
      [&](const std::vector<Tensor>& in) -> std::vector<Tensor> { return {bn64(in[0])}; },
      {randn({3, 2, 2, 2}, kFloat64)}, "batch_norm");
}

TEST(Layers, RMSNormAndMultiheadAttention) {
  manual_seed(3);
  nn::RMSNorm rms(nn::RMSNormOptions({4}).eps(1e-6));
  const Tensor x = randn({2, 4});
  const Tensor want = x * rsqrt((x * x).mean({-1}, true) + 1e-6);
  EXPECT_TRUE(allclose(rms(x), want, 1e-5, 1e-6));
  EXPECT_THROW(rms(randn({2, 5})), ShapeError);

  nn::MultiheadAttention mha(8, 2);
  const Tensor q = randn({5, 3, 8}), kv = randn({4, 3, 8});
  auto [out, weights] = mha(q, kv, kv);
  EXPECT_EQ(out.sizes().vec(), (Shape{5, 3, 8}));
  EXPECT_EQ(weights.sizes().vec(), (Shape{3, 5, 4}));
  expect_values(weights.sum({-1}), {3, 5}, std::vector<double>(15, 1.0), 1e-5, 1e-5);
  // The same through the functional pieces, per head.
  const auto w = chunk(mha->in_proj_weight, 3, 0);
  auto heads = [&](const Tensor& t, int i, int64_t len) {
    return matmul(t, w[size_t(i)].t()).reshape({len, 3, 2, 4}).permute({1, 2, 0, 3});
  };
  const Tensor ctx = nn::functional::scaled_dot_product_attention(heads(q, 0, 5), heads(kv, 1, 4),
                                                                  heads(kv, 2, 4));
  const Tensor ref = mha->out_proj(ctx.permute({2, 0, 1, 3}).reshape({5, 3, 8}));
  EXPECT_TRUE(allclose(out, ref, 1e-5, 1e-6));
  // A causal bool mask on self-attention.
  auto [masked, mw] = mha(q, q, q, tril(ones({5, 5}, kBool)));
  EXPECT_EQ(masked.sizes().vec(), (Shape{5, 3, 8}));
  EXPECT_NEAR(mw.select(1, 0).select(1, 4).sum().item<double>(), 0, 1e-7);
  EXPECT_THROW(nn::MultiheadAttention(8, 3), ValueError);
}

TEST(Optim, CosineAnnealingWithWarmup) {
  Tensor p = ones({1}).set_requires_grad(true);
  optim::SGD sgd({p}, optim::SGDOptions(1.0));
  optim::CosineAnnealingLR sched(sgd, 4, 0.1, 2);
  EXPECT_DOUBLE_EQ(sgd.param_groups()[0].lr, 0);
  std::vector<double> lrs;
  for (int i = 0; i < 7; ++i) {
    sched.step();
    lrs.push_back(sgd.param_groups()[0].lr);
  }
  const double pi = std::acos(-1.0);
  const std::vector<double> want = {0.5,
                                    1.0,
                                    0.1 + 0.9 * (1 + std::cos(pi / 4)) / 2,
                                    0.1 + 0.9 * 0.5,
                                    0.1 + 0.9 * (1 + std::cos(3 * pi / 4)) / 2,
                                    0.1,
                                    0.1};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(lrs[i], want[i], 1e-12) << i;
}

}  // namespace
}  // namespace ember::testing
