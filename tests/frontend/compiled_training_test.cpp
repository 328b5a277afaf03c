// compile() on training steps: the joint graph's forward and backward plans give eager's
// gradients, for captured parameters and arguments, across replays and batch-size changes.
#include <gtest/gtest.h>

#include "ember/optim/optim.h"
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

// A loss averaged by hand over the batch (sum / double(B)): the batch size is a number in both
// the forward and the backward graph (the gradient's 1 / B), evaluated per call.
TEST(CompiledTraining, ALossDividedByTheBatchSizeStaysSymbolic) {
  Mlp m;
  auto loss = [&](const Tensor& x, const Tensor& y) {
    const Tensor d = matmul(gelu(matmul(x, m.w1) + m.b1), m.w2) - y;
    return (d * d).sum() / double(x.size(0));
  };
  auto f = compile(loss);
  for (int64_t batch : {8, 16, 24, 5}) {
    manual_seed(uint64_t(batch));
    const Tensor x = randn({batch, 6}), y = randn({batch, 3});
    m.zero_grad();
    Tensor want = loss(x, y);
    want.backward();
    const std::vector<Tensor> grads = {want.detach(), m.w1.grad(), m.b1.grad(), m.w2.grad()};
    m.zero_grad();
    Tensor got = f(x, y);
    got.backward();
    expect_same({got.detach(), m.w1.grad(), m.b1.grad(), m.w2.grad()}, grads,
                "batch " + std::to_string(batch));
  }
  EXPECT_EQ(f.stats().traces, 2) << f.recompile_reasons().back();
}

// Slices of a symbolic dim in a training step (differences of neighbouring rows): the gradient
// pads back by sizes of the symbols, so the step stays shape-generic.
TEST(CompiledTraining, SlicesOfTheBatchDimStaySymbolicInTheBackward) {
  Mlp m;
  auto loss = [&](const Tensor& x) {
    const int64_t b = x.size(0);
    const Tensor h = gelu(matmul(x, m.w1) + m.b1);
    const Tensor d = h.slice(0, 1, b) - h.slice(0, 0, b - 1);
    return (d * d).mean() + h.select(0, -1).sum();
  };
  auto f = compile(loss);
  for (int64_t batch : {8, 16, 24, 5}) {
    manual_seed(uint64_t(batch));
    const Tensor x = randn({batch, 6});
    m.zero_grad();
    Tensor want = loss(x);
    want.backward();
    const std::vector<Tensor> grads = {want.detach(), m.w1.grad(), m.b1.grad()};
    m.zero_grad();
    Tensor got = f(x);
    got.backward();
    expect_same({got.detach(), m.w1.grad(), m.b1.grad()}, grads, "batch " + std::to_string(batch));
  }
  EXPECT_EQ(f.stats().traces, 2) << f.recompile_reasons().back();
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

// ---- writes: in-place updates and grad() assignments inside a compiled function ----

TEST(CompiledWrites, CapturedTensorsAndArgumentsAreUpdatedEveryCall) {
  Tensor counter = zeros({}, kInt64), acc = zeros({3});
  auto f = compile([&](const Tensor& x, const Tensor& y) {
    counter.add_(1);
    acc.add_(x * 2);
    Tensor z = y.clone();
    z.mul_(3);       // a tensor made inside: no write to apply
    Tensor arg = y;  // the caller's tensor (a handle shares it)
    arg.add_(-1);
    return z + acc.sum();
  });
  Tensor y = full({3}, 10.0);
  const Tensor x = arange(3, kFloat32);
  for (int call = 1; call <= 4; ++call) {
    const Tensor out = f(x, y);
    EXPECT_EQ(counter.item<int64_t>(), call);
    expect_values(acc, {3}, {0, 2.0 * call, 4.0 * call}, 0);
    expect_values(y, {3}, {10.0 - call, 10.0 - call, 10.0 - call}, 0);
    const double before = 11.0 - call;  // y when the call began
    expect_values(out, {3},
                  {3 * before + 6.0 * call, 3 * before + 6.0 * call, 3 * before + 6.0 * call},
                  1e-6);
  }
  EXPECT_EQ(f.stats().traces, 1);
  EXPECT_EQ(f.stats().eager_calls, 0);
}

// A whole step under compile(): zero_grad, loss, backward, and SGD's update, with the learning
// rate changed between calls by a scheduler; every call equals the same eager step.
TEST(CompiledWrites, AWholeTrainingStepEqualsEagerAndSeesTheLearningRate) {
  Mlp eager_m, compiled_m;
  optim::SGD eager_opt(eager_m.params(), optim::SGDOptions(0.1).momentum(0.9));
  optim::SGD compiled_opt(compiled_m.params(), optim::SGDOptions(0.1).momentum(0.9));
  optim::StepLR eager_sched(eager_opt, 2, 0.5), compiled_sched(compiled_opt, 2, 0.5);
  auto step = [](Mlp& m, optim::Optimizer& opt, const Tensor& x, const Tensor& y) {
    opt.zero_grad();
    Tensor loss = m.loss(x, y);
    loss.backward();
    opt.step();
    return loss;
  };
  auto compiled = compile(
      [&](const Tensor& x, const Tensor& y) { return step(compiled_m, compiled_opt, x, y); });
  manual_seed(9);
  for (int i = 0; i < 6; ++i) {
    const Tensor x = randn({8, 6}), y = randn({8, 3});
    const Tensor want = step(eager_m, eager_opt, x, y), got = compiled(x, y);
    EXPECT_NEAR(got.item<double>(), want.item<double>(), 1e-5) << "step " << i;
    EXPECT_FALSE(got.requires_grad());
    const auto e = eager_m.params(), c = compiled_m.params();
    for (size_t k = 0; k < e.size(); ++k) {
      EXPECT_TRUE(allclose(c[k], e[k], 1e-5, 1e-6)) << "param " << k << " step " << i;
      EXPECT_TRUE(allclose(c[k].grad(), e[k].grad(), 1e-5, 1e-6)) << "grad " << k;
    }
    eager_sched.step();
    compiled_sched.step();
  }
  EXPECT_EQ(compiled.stats().traces, 1);
  EXPECT_EQ(compiled.stats().eager_calls, 0);
}

// Gradients accumulated over calls (no zero_grad inside): the first call finds no grad(), later
// ones accumulate into it, as eagerly; and a compiled function reading grad() reads the current
// tensor each time.
TEST(CompiledWrites, GradientsAccumulateAndAreReadLive) {
  Mlp eager_m, compiled_m;
  auto backward_only = [](Mlp& m, const Tensor& x, const Tensor& y) {
    Tensor loss = m.loss(x, y);
    loss.backward();
    return loss;
  };
  auto compiled =
      compile([&](const Tensor& x, const Tensor& y) { return backward_only(compiled_m, x, y); });
  auto grad_norm = compile([&]() { return compiled_m.w1.grad().pow(2).sum(); });
  manual_seed(4);
  for (int i = 0; i < 4; ++i) {
    const Tensor x = randn({5, 6}), y = randn({5, 3});
    backward_only(eager_m, x, y);
    compiled(x, y);
    EXPECT_TRUE(allclose(compiled_m.w1.grad(), eager_m.w1.grad(), 1e-5, 1e-6)) << "call " << i;
    EXPECT_NEAR(grad_norm().item<double>(), eager_m.w1.grad().pow(2).sum().item<double>(),
                1e-4 * (1 + eager_m.w1.grad().pow(2).sum().item<double>()));
  }
  // The first call (no grad() yet) and the later ones (accumulating) are two paths.
  EXPECT_EQ(compiled.stats().traces, 2);
  EXPECT_EQ(compiled.stats().eager_calls, 0);
  EXPECT_EQ(grad_norm.stats().eager_calls, 0);
}

// A movement of a computed value that is returned and also feeds a kernel (a reshaped gradient
// that an update reads): the returned view holds the value, not a store of uninitialized memory.
TEST(CompiledWrites, AViewOfAComputedValueThatIsReturnedHoldsItsValue) {
  auto fn = [](const Tensor& x, const Tensor& p) {
    const Tensor r = x.sum({0}, true).reshape({8});
    const Tensor t = matmul(x.t(), x).t();
    return std::make_tuple(r, p - r * 0.05, t, t * 2 + 1);
  };
  manual_seed(2);
  const Tensor x = randn({6, 8}), p = randn({8});
  auto f = compile(fn);
  const auto got = f(x, p), want = fn(x, p);
  EXPECT_TRUE(allclose(std::get<0>(got), std::get<0>(want), 1e-5, 1e-5));
  EXPECT_TRUE(allclose(std::get<1>(got), std::get<1>(want), 1e-5, 1e-5));
  EXPECT_TRUE(allclose(std::get<2>(got), std::get<2>(want), 1e-5, 1e-5));
  EXPECT_TRUE(allclose(std::get<3>(got), std::get<3>(want), 1e-5, 1e-5));
}

}  // namespace
}  // namespace ember::testing
