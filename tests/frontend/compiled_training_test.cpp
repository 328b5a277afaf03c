// compile() on training steps: the joint graph's forward and backward plans give eager's
// gradients, for captured parameters and arguments, across replays and batch-size changes.
#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace ember::testing {
namespace {

struct Mlp {
  Tensor w1, b1, w2;
  Mlp() {
    manual_seed(5);
    w1 = (randn({6, 16}) * 0.3).set_requires_grad(true);
    b1 = (randn({16}) * 0.1).set_requires_grad(true);
    w2 = (randn({16, 3}) * 0.3).set_requires_grad(true);
  }
  Tensor loss(const Tensor& x, const Tensor& y) const {
    const Tensor h = gelu(matmul(x, w1) + b1);
    return ((matmul(h, w2) - y) * (matmul(h, w2) - y)).mean();
  }
  std::vector<Tensor> params() const { return {w1, b1, w2}; }
  void zero_grad() {
    for (Tensor* p : {&w1, &b1, &w2}) p->mutable_grad() = Tensor();
  }
};

// loss and the parameters' gradients, eagerly.
std::vector<Tensor> eager_step(Mlp& m, const Tensor& x, const Tensor& y) {
  m.zero_grad();
  Tensor loss = m.loss(x, y);
  loss.backward();
  return {loss.detach(), m.w1.grad(), m.b1.grad(), m.w2.grad()};
}

void expect_same(const std::vector<Tensor>& got, const std::vector<Tensor>& want,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(got[i].defined()) << what << " " << i;
    expect_values(got[i], want[i].sizes().vec(), values_of(want[i]), 1e-4, 1e-6,
                  what + " value " + std::to_string(i));
  }
}

TEST(CompiledTraining, CapturedParametersGetEagerGradients) {
  Mlp m;
  auto f = compile([&](const Tensor& x, const Tensor& y) { return m.loss(x, y); });
  for (uint64_t seed : {1, 2, 3}) {
    manual_seed(seed);
    const Tensor x = randn({8, 6}), y = randn({8, 3});
    const std::vector<Tensor> want = eager_step(m, x, y);
    m.zero_grad();
    Tensor loss = f(x, y);
    EXPECT_TRUE(loss.requires_grad());
    EXPECT_EQ(loss.grad_fn_name(), "CompiledFunctionBackward");
    loss.backward();
    expect_same({loss.detach(), m.w1.grad(), m.b1.grad(), m.w2.grad()}, want,
                "seed " + std::to_string(seed));
  }
  EXPECT_EQ(f.stats().traces, 1);
  EXPECT_EQ(f.stats().replays, 2);
  EXPECT_NE(f.describe().find("backward"), std::string::npos) << f.describe();
}

TEST(CompiledTraining, BatchSizeChangeRecompilesBothHalvesOnce) {
  Mlp m;
  auto f = compile([&](const Tensor& x, const Tensor& y) { return m.loss(x, y); });
  for (int64_t batch : {8, 16, 24, 5}) {
    manual_seed(uint64_t(batch));
    const Tensor x = randn({batch, 6}), y = randn({batch, 3});
    const std::vector<Tensor> want = eager_step(m, x, y);
    m.zero_grad();
    Tensor loss = f(x, y);
    loss.backward();
    expect_same({loss.detach(), m.w1.grad(), m.b1.grad(), m.w2.grad()}, want,
                "batch " + std::to_string(batch));
  }
  EXPECT_EQ(f.stats().traces, 2);  // batch 8, then symbolic from 16 on
  EXPECT_EQ(f.stats().replays, 2);
}

TEST(CompiledTraining, ArgumentsThatRequireGradAndSeveralOutputs) {
  auto f = compile([](const Tensor& a, const Tensor& b) {
    return std::make_tuple(softmax(a * b, -1), (a - b).exp().sum(0));
  });
  manual_seed(9);
  const Tensor a0 = randn({4, 5}), b0 = randn({5});
  auto step = [&](bool compiled) {
    Tensor a = a0.clone().set_requires_grad(true), b = b0.clone().set_requires_grad(true);
    auto [p, q] = compiled ? f(a, b) : std::make_tuple(softmax(a * b, -1), (a - b).exp().sum(0));
    const Tensor w = arange(20, kFloat32).reshape({4, 5}) / 20;
    ((p * w).sum() + (q * q).sum()).backward();
    return std::vector<Tensor>{a.grad(), b.grad()};
  };
  const std::vector<Tensor> want = step(false);
  expect_same(step(true), want, "trace");
  expect_same(step(true), want, "replay");
  // Only one output used: the other's gradient is zero.
  Tensor a = a0.clone().set_requires_grad(true), b = b0.clone().set_requires_grad(true);
  std::get<1>(f(a, b)).sum().backward();
  Tensor ae = a0.clone().set_requires_grad(true), be = b0.clone().set_requires_grad(true);
  (ae - be).exp().sum(0).sum().backward();
  expect_same({a.grad(), b.grad()}, {ae.grad(), be.grad()}, "one output");
}

TEST(CompiledTraining, GradModeAndRequiresGradArePartOfThePath) {
  Mlp m;
  auto f = compile([&](const Tensor& x, const Tensor& y) { return m.loss(x, y); });
  manual_seed(4);
  const Tensor x = randn({8, 6}), y = randn({8, 3});
  {
    NoGradGuard no_grad;
    EXPECT_FALSE(f(x, y).requires_grad());
  }
  m.zero_grad();
  Tensor loss = f(x, y);  // another path: the training one
  EXPECT_TRUE(loss.requires_grad());
  loss.backward();
  const std::vector<Tensor> want = eager_step(m, x, y);
  expect_same({m.w1.grad(), m.b1.grad(), m.w2.grad()}, {want[1], want[2], want[3]}, "train");
  {
    NoGradGuard no_grad;
    EXPECT_FALSE(f(x, y).requires_grad());  // replays the inference path
  }
  // An argument that starts requiring grad is a new entry.
  const Tensor xr = x.clone().set_requires_grad(true);
  f(xr, y).backward();
  EXPECT_TRUE(xr.grad().defined());
  EXPECT_EQ(f.stats().traces, 3);
}

TEST(CompiledTraining, BackwardSemanticsMatchEager) {
  Mlp m;
  auto f = compile([&](const Tensor& x, const Tensor& y) { return m.loss(x, y); });
  manual_seed(6);
  const Tensor x = randn({8, 6}), y = randn({8, 3});
  Tensor loss = f(x, y);
  loss.backward(Tensor(), true);
  const Tensor once = m.w1.grad().clone();
  loss.backward();  // retained once: accumulates
  expect_values(m.w1.grad(), once.sizes().vec(), values_of(once * 2), 1e-5, 1e-7, "accumulated");
  try {
    loss.backward();
    FAIL() << "a third backward ran";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("backward through the graph a second time"),
              std::string::npos)
        << e.what();
  }
  // An input the backward reads, changed in place before it runs: eager's error.
  Tensor l3 = f(x, y);
  {
    NoGradGuard no_grad;
    m.w2.mul_(0.5);  // the backward reads w2 (for the gradient of the hidden layer)
  }
  try {
    l3.backward();
    FAIL() << "a backward through a modified input ran";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("modified by an inplace operation"), std::string::npos)
        << e.what();
  }
  // Compiled backward does not record a graph of its own.
  Tensor l2 = f(x, y);
  EXPECT_THROW(autograd::grad({l2}, {m.w1}, {}, std::nullopt, true), Error);
}

}  // namespace
}  // namespace ember::testing
