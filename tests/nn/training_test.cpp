// nn, functional and optim as a LibTorch user writes them. The training test runs an MLP with
// LayerNorm and cross-entropy for 60 steps with SGD (momentum, Nesterov, weight decay), Adam
// (amsgrad, weight decay) and AdamW, eagerly and with the loss compiled, and compares every
// step's loss with the same model trained by a plain double-precision implementation written
// here (forward, backward and the optimizers' formulas by hand).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "ember/ember.h"
#include "tests/gradcheck.h"
#include "tests/test_util.h"

namespace ember::testing {
namespace {

namespace F = nn::functional;

struct MlpImpl : nn::Module {
  MlpImpl() : Module("Mlp") {
    fc1 = register_module("fc1", nn::Linear(6, 10));
    norm = register_module("norm", nn::LayerNorm(std::vector<int64_t>{10}));
    fc2 = register_module("fc2", nn::Linear(10, 4));
  }
  Tensor forward(const Tensor& x) { return fc2(relu(norm(fc1(x)))); }
  nn::Linear fc1{nullptr};
  nn::LayerNorm norm{nullptr};
  nn::Linear fc2{nullptr};
};
EMBER_MODULE(Mlp);

TEST(Module, NamesParametersBuffersAndModes) {
  manual_seed(1);
  Mlp net;
  const auto named = net->named_parameters();
  EXPECT_EQ(named.keys(), (std::vector<std::string>{"fc1.weight", "fc1.bias", "norm.weight",
                                                    "norm.bias", "fc2.weight", "fc2.bias"}));
  EXPECT_EQ(net->parameters().size(), 6u);
  EXPECT_EQ(net->parameters(false).size(), 0u);
  EXPECT_EQ(net->children().size(), 3u);
  EXPECT_EQ(net->modules().size(), 4u);
  ASSERT_NE(named.find("fc2.bias"), nullptr);
  EXPECT_EQ(named.find("nope"), nullptr);
  EXPECT_TRUE(named["fc1.weight"].requires_grad());
  EXPECT_EQ(named["fc1.weight"].sizes().vec(), (Shape{10, 6}));
  // train / eval reach every submodule.
  net->eval();
  EXPECT_FALSE(net->fc1->is_training());
  net->train();
  EXPECT_TRUE(net->norm->is_training());
  // Buffers and registration errors.
  nn::Module m("M");
  m.register_buffer("running_mean", zeros({3}));
  EXPECT_EQ(m.named_buffers().keys(), std::vector<std::string>{"running_mean"});
  EXPECT_FALSE(m.buffers()[0].requires_grad());
  EXPECT_THROW(m.register_parameter("running_mean", ones({2})), ValueError);
  EXPECT_THROW(m.register_parameter("a.b", ones({2})), ValueError);
  // to(dtype) converts in place: handles held elsewhere see it, and keep requiring grad.
  Tensor w = net->fc1->weight;
  net->to(kFloat64);
  EXPECT_EQ(w.dtype(), kFloat64);
  EXPECT_TRUE(w.requires_grad());
  EXPECT_THROW(net->to(kInt32), DTypeError);
  // zero_grad.
  net->forward(randn({2, 6}, kFloat64)).sum().backward();
  EXPECT_TRUE(w.grad().defined());
  net->zero_grad();
  EXPECT_FALSE(w.grad().defined());
}

TEST(Module, LayersFollowPyTorch) {
  manual_seed(2);
  nn::Linear fc(nn::LinearOptions(64, 32).bias(false));
  EXPECT_FALSE(fc->bias.defined());
  // kaiming-uniform with a = sqrt(5): U(-1/8, 1/8) for 64 inputs.
  const std::vector<double> w = values_of(fc->weight);
  double lo = 1, hi = -1, mean = 0;
  for (double v : w) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    mean += v / double(w.size());
  }
  EXPECT_GE(lo, -0.125);
  EXPECT_LE(hi, 0.125);
  EXPECT_GT(hi - lo, 0.2);  // spread over the range
  EXPECT_NEAR(mean, 0, 0.01);
  EXPECT_THROW(fc(randn({3, 5})), ShapeError);
  // Sequential, Dropout in train and eval, Embedding.
  nn::Sequential seq(nn::Linear(4, 8), nn::GELU(), nn::Dropout(0.5), nn::Linear(8, 2));
  EXPECT_EQ(seq->size(), 4u);
  EXPECT_EQ(seq->named_parameters().keys(),
            (std::vector<std::string>{"0.weight", "0.bias", "3.weight", "3.bias"}));
  const Tensor x = randn({5, 4});
  seq->eval();
  const Tensor a = seq(x), b = seq(x);
  EXPECT_TRUE(equal(a, b));  // no dropout in eval
  nn::Dropout drop(0.5);
  const Tensor kept = drop(ones({1000}));
  const std::vector<double> kv = values_of(kept);
  int zeros_seen = 0;
  for (double v : kv) {
    EXPECT_TRUE(v == 0 || v == 2);
    zeros_seen += v == 0;
  }
  EXPECT_GT(zeros_seen, 400);
  EXPECT_LT(zeros_seen, 600);
  nn::Embedding emb(10, 3);
  EXPECT_EQ(emb(tensor({{1, 2}, {3, 9}}, kInt64)).sizes().vec(), (Shape{2, 2, 3}));
  nn::ModuleList list;
  list->push_back(nn::Linear(2, 2));
  list->push_back(nn::ReLU());
  EXPECT_EQ(list->size(), 2u);
  EXPECT_NE(list->at<nn::LinearImpl>(0), nullptr);
  EXPECT_THROW(list->at<nn::LinearImpl>(1), ValueError);
  nn::ModuleDict dict;
  dict->insert("proj", nn::Linear(2, 3));
  dict->insert("act", nn::GELU());
  EXPECT_EQ(dict->keys(), (std::vector<std::string>{"proj", "act"}));
  EXPECT_TRUE(dict->contains("act"));
  EXPECT_EQ(dict->at<nn::LinearImpl>("proj")->weight.size(0), 3);
  EXPECT_EQ(dict->named_parameters().keys(),
            (std::vector<std::string>{"proj.weight", "proj.bias"}));
  EXPECT_THROW(dict->at<nn::LinearImpl>("act"), ValueError);
  EXPECT_THROW(dict->at<nn::LinearImpl>("none"), ValueError);
}

TEST(Functional, LossesAgainstReferenceLoops) {
  const Tensor logits = tensor({{1.0, 2.0, 0.5}, {0.1, -1.0, 3.0}, {2.0, 2.0, 2.0}}, kFloat64);
  const Tensor target = tensor({1, 2, -100}, kInt64);
  auto lse = [](std::vector<double> r) {
    double m = *std::max_element(r.begin(), r.end()), s = 0;
    for (double v : r) s += std::exp(v - m);
    return m + std::log(s);
  };
  const double l0 = lse({1, 2, 0.5}) - 2, l1 = lse({0.1, -1, 3}) - 3;
  expect_values(F::cross_entropy(logits, target), {}, {(l0 + l1) / 2}, 1e-12);
  expect_values(
      F::cross_entropy(logits, target, F::CrossEntropyOptions().reduction(F::Reduction::Sum)), {},
      {l0 + l1}, 1e-12);
  expect_values(
      F::cross_entropy(logits, target, F::CrossEntropyOptions().reduction(F::Reduction::None)), {3},
      {l0, l1, 0}, 1e-12);
  // Label smoothing 0.1: (1 - s) * nll + s * mean over classes of -log p.
  auto smooth = [&](std::vector<double> r, double nll) {
    double m = 0;
    for (double v : r) m += (lse(r) - v) / 3;
    return 0.9 * nll + 0.1 * m;
  };
  expect_values(F::cross_entropy(logits, target, F::CrossEntropyOptions().label_smoothing(0.1)), {},
                {(smooth({1, 2, 0.5}, l0) + smooth({0.1, -1, 3}, l1)) / 2}, 1e-12);
  // Probability targets.
  const Tensor probs = tensor({{0.2, 0.8, 0.0}, {0.5, 0.25, 0.25}, {1.0, 0.0, 0.0}}, kFloat64);
  double want = 0;
  const std::vector<std::vector<double>> rows = {{1, 2, 0.5}, {0.1, -1, 3}, {2, 2, 2}};
  const std::vector<double> pv = values_of(probs);
  for (size_t i = 0; i < 3; ++i)
    for (size_t c = 0; c < 3; ++c) want += pv[i * 3 + c] * (lse(rows[i]) - rows[i][c]) / 3;
  expect_values(F::cross_entropy(logits, probs), {}, {want}, 1e-12);
  // nll_loss on log-probabilities, mse_loss.
  expect_values(F::nll_loss(log_softmax(logits, 1), target), {}, {(l0 + l1) / 2}, 1e-12);
  expect_values(F::mse_loss(tensor({1.0, 2.0}, kFloat64), tensor({0.0, 4.0}, kFloat64)), {}, {2.5},
                1e-12);
  EXPECT_THROW(F::cross_entropy(logits, tensor({1, 2}, kInt64)), ShapeError);
  EXPECT_THROW(F::cross_entropy(logits, tensor({1.0, 2.0, 0.0}, kFloat64)), ShapeError);
  EXPECT_THROW(F::cross_entropy(logits, tensor({1, 2, 3}, kInt64)), IndexError);
  // Binary cross-entropy from logits, stable at large |x|.
  const Tensor z = tensor({-30.0, -1.0, 0.0, 2.0, 40.0}, kFloat64);
  const Tensor y = tensor({0.0, 1.0, 0.5, 1.0, 0.0}, kFloat64);
  std::vector<double> bce;
  const std::vector<double> zv = values_of(z), yv = values_of(y);
  for (size_t i = 0; i < zv.size(); ++i)
    bce.push_back(std::max(zv[i], 0.0) - zv[i] * yv[i] + std::log1p(std::exp(-std::abs(zv[i]))));
  expect_values(F::binary_cross_entropy_with_logits(z, y, F::Reduction::None), {5}, bce, 1e-12);
  EXPECT_NEAR(bce[4], 40.0, 1e-12);  // no overflow to inf
  EXPECT_THROW(F::binary_cross_entropy_with_logits(z, ones({4}, kFloat64)), ShapeError);
  manual_seed(4);
  expect_gradcheck(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        return {F::binary_cross_entropy_with_logits(x[0], x[1])};
      },
      {randn({6}, kFloat64) * 3, rand({6}, kFloat64)}, "bce_with_logits");
  // Its gradient, through gradcheck.
  manual_seed(3);
  expect_gradcheck(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        return {F::cross_entropy(x[0], x[1], F::CrossEntropyOptions().label_smoothing(0.2))};
      },
      {randn({5, 4}, kFloat64), tensor({0, 3, -100, 1, 1}, kInt64)}, "cross_entropy");
}

// ---- the double-precision reference: the Mlp above, forward and backward by hand ----

using Vec = std::vector<double>;

struct RefMlp {
  Vec w1, b1, g, beta, w2, b2;  // [10, 6], [10], [10], [10], [4, 10], [4]
  std::vector<Vec*> params() { return {&w1, &b1, &g, &beta, &w2, &b2}; }
};

// Loss and gradients (in params() order) of cross-entropy over the batch.
double ref_step(RefMlp& m, const Vec& x, const std::vector<int64_t>& t, std::vector<Vec>& grads) {
  const size_t n = t.size(), in = 6, hid = 10, out = 4;
  grads = {Vec(hid * in), Vec(hid), Vec(hid), Vec(hid), Vec(out * hid), Vec(out)};
  double loss = 0;
  for (size_t i = 0; i < n; ++i) {
    Vec h(hid), xhat(hid), y(hid), a(hid), z(out);
    for (size_t j = 0; j < hid; ++j) {
      h[j] = m.b1[j];
      for (size_t k = 0; k < in; ++k) h[j] += x[i * in + k] * m.w1[j * in + k];
    }
    double mu = 0, var = 0;
    for (double v : h) mu += v / double(hid);
    for (double v : h) var += (v - mu) * (v - mu) / double(hid);
    const double rstd = 1 / std::sqrt(var + 1e-5);
    for (size_t j = 0; j < hid; ++j) {
      xhat[j] = (h[j] - mu) * rstd;
      y[j] = xhat[j] * m.g[j] + m.beta[j];
      a[j] = y[j] > 0 ? y[j] : 0;
    }
    double zmax = -1e300;
    for (size_t c = 0; c < out; ++c) {
      z[c] = m.b2[c];
      for (size_t j = 0; j < hid; ++j) z[c] += a[j] * m.w2[c * hid + j];
      zmax = std::max(zmax, z[c]);
    }
    double se = 0;
    for (double v : z) se += std::exp(v - zmax);
    loss += (zmax + std::log(se) - z[size_t(t[i])]) / double(n);
    Vec dz(out), da(hid, 0), dxhat(hid);
    for (size_t c = 0; c < out; ++c)
      dz[c] = (std::exp(z[c] - zmax) / se - (int64_t(c) == t[i] ? 1 : 0)) / double(n);
    for (size_t c = 0; c < out; ++c) {
      grads[5][c] += dz[c];
      for (size_t j = 0; j < hid; ++j) {
        grads[4][c * hid + j] += dz[c] * a[j];
        da[j] += dz[c] * m.w2[c * hid + j];
      }
    }
    double mean_d = 0, mean_dx = 0;
    for (size_t j = 0; j < hid; ++j) {
      const double dy = y[j] > 0 ? da[j] : 0;
      grads[2][j] += dy * xhat[j];
      grads[3][j] += dy;
      dxhat[j] = dy * m.g[j];
      mean_d += dxhat[j] / double(hid);
      mean_dx += dxhat[j] * xhat[j] / double(hid);
    }
    for (size_t j = 0; j < hid; ++j) {
      const double dh = rstd * (dxhat[j] - mean_d - xhat[j] * mean_dx);
      grads[1][j] += dh;
      for (size_t k = 0; k < in; ++k) grads[0][j * in + k] += dh * x[i * in + k];
    }
  }
  return loss;
}

struct RefOptimizer {
  std::string kind;  // sgd, adam, adamw
  double lr, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, amsgrad = false;
  std::vector<Vec> s1, s2, s3;
  int64_t steps = 0;
  void step(std::vector<Vec*> params, const std::vector<Vec>& grads) {
    if (s1.empty())
      for (Vec* p : params) {
        s1.emplace_back(p->size(), 0);
        s2.emplace_back(p->size(), 0);
        s3.emplace_back(p->size(), 0);
      }
    ++steps;
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    for (size_t k = 0; k < params.size(); ++k) {
      Vec& p = *params[k];
      for (size_t i = 0; i < p.size(); ++i) {
        double g = grads[k][i];
        if (kind == "sgd") {
          g += weight_decay * p[i];
          if (momentum != 0) {
            s1[k][i] = steps == 1 ? g : momentum * s1[k][i] + (1 - dampening) * g;
            g = nesterov ? g + momentum * s1[k][i] : s1[k][i];
          }
          p[i] -= lr * g;
          continue;
        }
        if (kind == "adam") g += weight_decay * p[i];
        if (kind == "adamw") p[i] *= 1 - lr * weight_decay;
        s1[k][i] = b1 * s1[k][i] + (1 - b1) * g;
        s2[k][i] = b2 * s2[k][i] + (1 - b2) * g * g;
        double second = s2[k][i];
        if (amsgrad) second = s3[k][i] = std::max(s3[k][i], s2[k][i]);
        const double bias1 = 1 - std::pow(b1, double(steps)),
                     bias2 = 1 - std::pow(b2, double(steps));
        p[i] -= lr / bias1 * s1[k][i] / (std::sqrt(second) / std::sqrt(bias2) + eps);
      }
    }
  }
};

struct OptimizerCase {
  std::string name;
  std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)> make;
  RefOptimizer ref;
};

std::vector<OptimizerCase> setups() {
  std::vector<OptimizerCase> s;
  s.push_back({"sgd_momentum_nesterov_wd",
               [](std::vector<Tensor> p) {
                 return std::make_unique<optim::SGD>(
                     p, optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(1e-3));
               },
               {"sgd", 0.1, 0.9, 0, 1e-3, true, false, {}, {}, {}, 0}});
  s.push_back({"sgd_dampening",
               [](std::vector<Tensor> p) {
                 return std::make_unique<optim::SGD>(
                     p, optim::SGDOptions(0.05).momentum(0.8).dampening(0.3));
               },
               {"sgd", 0.05, 0.8, 0.3, 0, false, false, {}, {}, {}, 0}});
  s.push_back({"adam_amsgrad_wd",
               [](std::vector<Tensor> p) {
                 return std::make_unique<optim::Adam>(
                     p, optim::AdamOptions(0.01).amsgrad(true).weight_decay(1e-2));
               },
               {"adam", 0.01, 0, 0, 1e-2, false, true, {}, {}, {}, 0}});
  s.push_back({"adamw",
               [](std::vector<Tensor> p) {
                 return std::make_unique<optim::AdamW>(
                     p, optim::AdamWOptions(0.01).weight_decay(0.05));
               },
               {"adamw", 0.01, 0, 0, 0.05, false, false, {}, {}, {}, 0}});
  return s;
}

// How a step runs: eagerly, with the loss compiled (forward and backward plans), or the whole
// step compiled (zero_grad, loss, backward and the optimizer's update under one compile()).
enum Mode { kEager, kCompiledLoss, kCompiledStep };
const char* const kModeNames[] = {"_eager", "_compiled", "_compiled_step"};

class Training : public ::testing::TestWithParam<std::tuple<size_t, int>> {};

TEST_P(Training, SixtyStepsMatchADoublePrecisionReference) {
  const auto [which, mode] = GetParam();
  OptimizerCase setup = setups()[which];
  manual_seed(11);
  Mlp net;
  const Tensor x = randn({8, 6});
  const Tensor t = tensor({0, 3, 1, 2, 2, 0, 1, 3}, kInt64);
  RefMlp ref{values_of(net->fc1->weight), values_of(net->fc1->bias),   values_of(net->norm->weight),
             values_of(net->norm->bias),  values_of(net->fc2->weight), values_of(net->fc2->bias)};
  const Vec xv = values_of(x);
  const std::vector<int64_t> tv = {0, 3, 1, 2, 2, 0, 1, 3};
  auto optimizer = setup.make(net->parameters());
  auto loss_of = [&](const Tensor& in, const Tensor& target) {
    return F::cross_entropy(net->forward(in), target);
  };
  auto step = compile(loss_of);
  auto whole_step = compile([&](const Tensor& in, const Tensor& target) {
    optimizer->zero_grad();
    Tensor loss = loss_of(in, target);
    loss.backward();
    optimizer->step();
    return loss;
  });
  for (int i = 0; i < 60; ++i) {
    Tensor loss;
    if (mode == kCompiledStep) {
      loss = whole_step(x, t);
    } else {
      optimizer->zero_grad();
      loss = mode == kCompiledLoss ? step(x, t) : loss_of(x, t);
      loss.backward();
      optimizer->step();
    }
    std::vector<Vec> grads;
    const double want = ref_step(ref, xv, tv, grads);
    setup.ref.step(ref.params(), grads);
    ASSERT_NEAR(loss.item<double>(), want, 2e-5 * (1 + std::abs(want)))
        << setup.name << kModeNames[mode] << ", step " << i;
  }
  if (mode == kCompiledLoss) {
    EXPECT_EQ(step.stats().traces, 1);
  }
  if (mode == kCompiledStep) {
    EXPECT_EQ(whole_step.stats().traces, 1);
    EXPECT_EQ(whole_step.stats().replays, 59);
    // The state a compiled step keeps is the eager one: 60 updates counted, the gradients left
    // in grad() as backward leaves them.
    EXPECT_EQ(optimizer->state_dict().at("state.0.0.step").item<int64_t>(), 60);
    EXPECT_TRUE(net->fc2->bias.grad().defined());
  }
  // The parameters after 60 updates equal the reference's.
  const std::vector<Tensor> params = {net->fc1->weight, net->fc1->bias,   net->norm->weight,
                                      net->norm->bias,  net->fc2->weight, net->fc2->bias};
  for (size_t k = 0; k < params.size(); ++k) {
    const Vec got = values_of(params[k]), want = *ref.params()[k];
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_NEAR(got[i], want[i], 1e-4 * (1 + std::abs(want[i])))
          << setup.name << kModeNames[mode] << " param " << k << "[" << i << "]";
  }
}

INSTANTIATE_TEST_SUITE_P(Optimizers, Training,
                         ::testing::Combine(::testing::Range<size_t>(0, setups().size()),
                                            ::testing::Range(0, 3)),
                         [](const ::testing::TestParamInfo<std::tuple<size_t, int>>& info) {
                           return setups()[std::get<0>(info.param)].name +
                                  kModeNames[std::get<1>(info.param)];
                         });

// An optimizer's state through a safetensors file: training resumed from it continues exactly
// as the uninterrupted run.
TEST(Optim, StateDictRoundTripsThroughACheckpoint) {
  auto run = [](bool resume) {
    manual_seed(21);
    Mlp net;
    const Tensor x = randn({8, 6});
    const Tensor t = tensor({0, 3, 1, 2, 2, 0, 1, 3}, kInt64);
    auto opt = std::make_unique<optim::Adam>(net->parameters(), optim::AdamOptions(0.01));
    std::vector<double> losses;
    for (int i = 0; i < 10; ++i) {
      if (resume && i == 5) {  // checkpoint, then a fresh optimizer that loads it
        const std::string path =
            (std::filesystem::temp_directory_path() / "ember-optim-state.safetensors").string();
        save_safetensors(opt->state_dict(), path);
        opt = std::make_unique<optim::Adam>(net->parameters(), optim::AdamOptions(0.5));
        opt->load_state_dict(load_safetensors(path));
      }
      opt->zero_grad();
      Tensor loss = F::cross_entropy(net->forward(x), t);
      loss.backward();
      opt->step();
      losses.push_back(loss.item<double>());
    }
    return losses;
  };
  EXPECT_EQ(run(true), run(false));
  Tensor p = ones({2}).set_requires_grad(true);
  optim::SGD sgd({p}, optim::SGDOptions(0.1).momentum(0.9));
  (p * 2).sum().backward();
  sgd.step();
  Tensor q = ones({3}).set_requires_grad(true);
  optim::SGD other({q}, optim::SGDOptions(0.1).momentum(0.9));
  EXPECT_THROW(other.load_state_dict(sgd.state_dict()), ValueError);  // shapes differ
}

// The fused update kernels and the Tensor-op path (taken for a non-contiguous gradient) give the
// same parameters, for every optimizer configuration and in float32 and float64, over steps with
// several parameters of odd sizes in one fused pass.
TEST(Optim, FusedUpdatesEqualTheTensorOpPath) {
  for (const OptimizerCase& c : setups())
    for (DType dtype : {kFloat32, kFloat64}) {
      manual_seed(21);
      const Tensor w0 = randn({37, 19}, dtype), b0 = randn({19}, dtype);
      std::vector<Tensor> fused_p{w0.clone().set_requires_grad(true),
                                  b0.clone().set_requires_grad(true)};
      std::vector<Tensor> plain_p{w0.clone().set_requires_grad(true),
                                  b0.clone().set_requires_grad(true)};
      auto fused = c.make(fused_p);
      auto plain = c.make(plain_p);
      for (int step = 0; step < 5; ++step) {
        const Tensor gw = randn({19, 37}, dtype).t(), gb = randn({19}, dtype);  // gw strided
        fused_p[0].mutable_grad() = gw.contiguous();
        fused_p[1].mutable_grad() = gb.clone();
        plain_p[0].mutable_grad() = gw;
        plain_p[1].mutable_grad() = gb.expand({2, 19}).select(0, 1);  // a view: stride 0 rows
        ASSERT_FALSE(plain_p[0].grad().is_contiguous());
        fused->step();
        plain->step();
      }
      const double tol = dtype == kFloat32 ? 1e-5 : 1e-12;
      for (size_t i = 0; i < 2; ++i)
        EXPECT_TRUE(allclose(fused_p[i], plain_p[i], tol, tol))
            << c.name << " " << dtype << " param " << i;
    }
}

TEST(Optim, ErrorsAndSchedulers) {
  Tensor p = ones({2}).set_requires_grad(true);
  EXPECT_THROW(optim::SGD({p}, optim::SGDOptions(-1)), ValueError);
  EXPECT_THROW(optim::SGD({p}, optim::SGDOptions(0.1).nesterov(true)), ValueError);
  EXPECT_THROW(optim::Adam({p}, optim::AdamOptions(0.1).betas({1.0, 0.9})), ValueError);
  EXPECT_THROW(optim::SGD({ones({2})}, optim::SGDOptions(0.1)), ValueError);
  optim::SGD sgd({p}, optim::SGDOptions(1.0));
  optim::StepLR sched(sgd, 2, 0.5);
  for (int i = 0; i < 4; ++i) sched.step();
  EXPECT_DOUBLE_EQ(sgd.param_groups()[0].lr, 0.25);
  // A parameter without a gradient is left alone; zero_grad(false) keeps zeros.
  sgd.step();
  expect_values(p, {2}, {1, 1}, 0);
  (p * 3).sum().backward();
  sgd.zero_grad(false);
  expect_values(p.grad(), {2}, {0, 0}, 0);
}

}  // namespace
}  // namespace ember::testing
