// Autograd: every rule of the table against finite differences (float64), and the eager
// semantics PyTorch users rely on, each with its message.
#include <gtest/gtest.h>

#include "tests/gradcheck.h"
#include "tests/test_util.h"

namespace ember::testing {
namespace {

using Inputs = std::vector<Tensor>;

Tensor randn64(const Shape& s) { return randn(s, kFloat64); }
Tensor positive64(const Shape& s) { return rand(s, kFloat64) + 0.5; }

template <class F>
void check(const std::string& what, Inputs inputs, F f, double tol = 1e-5) {
  expect_gradcheck([f](const Inputs& x) -> Inputs { return {f(x)}; }, inputs, what, 3, tol);
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// ---- every rule against finite differences ----

TEST(Gradcheck, UnaryOps) {
  manual_seed(1);
  const Tensor x = randn64({3, 4}), p = positive64({3, 4});
  check("neg", {x}, [](const Inputs& a) { return -a[0]; });
  check("abs", {x}, [](const Inputs& a) { return abs(a[0]); });
  check("exp", {x}, [](const Inputs& a) { return exp(a[0]); });
  check("log", {p}, [](const Inputs& a) { return log(a[0]); });
  check("sqrt", {p}, [](const Inputs& a) { return sqrt(a[0]); });
  check("rsqrt", {p}, [](const Inputs& a) { return rsqrt(a[0]); });
  check("sin", {x}, [](const Inputs& a) { return sin(a[0]); });
  check("cos", {x}, [](const Inputs& a) { return cos(a[0]); });
  check("tanh", {x}, [](const Inputs& a) { return tanh(a[0]); });
  check("sigmoid", {x}, [](const Inputs& a) { return sigmoid(a[0]); });
  check("relu", {x}, [](const Inputs& a) { return relu(a[0]); });
  check("erf", {x}, [](const Inputs& a) { return erf(a[0]); });
  check("reciprocal", {p}, [](const Inputs& a) { return reciprocal(a[0]); });
  check("log1p", {p}, [](const Inputs& a) { return log1p(a[0]); });
  check("expm1", {x}, [](const Inputs& a) { return expm1(a[0]); });
  // Piecewise constant: a zero gradient (away from the jumps).
  check("floor_ceil_round_sign", {x * 3 + 0.25},
        [](const Inputs& a) { return floor(a[0]) + ceil(a[0]) + round(a[0]) + sign(a[0]) + a[0]; });
}

TEST(Gradcheck, BinaryOpsBroadcast) {
  manual_seed(2);
  const Tensor a = randn64({3, 4}), b = randn64({4}), c = randn64({3, 1});
  check("add", {a, b}, [](const Inputs& x) { return x[0] + x[1]; });
  check("sub", {a, c}, [](const Inputs& x) { return x[0] - x[1]; });
  check("mul", {a, b}, [](const Inputs& x) { return x[0] * x[1]; });
  check("div", {a, positive64({3, 1})}, [](const Inputs& x) { return x[0] / x[1]; });
  check("pow", {positive64({3, 4}), randn64({4})}, [](const Inputs& x) { return pow(x[0], x[1]); });
  check("pow_scalar", {positive64({3, 4})}, [](const Inputs& x) { return x[0].pow(3); });
  check("maximum", {a, b}, [](const Inputs& x) { return maximum(x[0], x[1]); });
  check("minimum", {a, c}, [](const Inputs& x) { return minimum(x[0], x[1]); });
  check("where", {a, b}, [](const Inputs& x) { return where(x[0] > 0, x[0] * 2, x[1]); });
  check("scalars", {a}, [](const Inputs& x) { return (2.0 - x[0]) * 3 / (x[0] * x[0] + 1); });
  check("cast", {a}, [](const Inputs& x) { return x[0].to(kFloat32).to(kFloat64) * 0 + x[0]; });
  check("clamp", {a}, [](const Inputs& x) { return x[0].clamp(-0.5, 0.7); });
}

TEST(Gradcheck, Reductions) {
  manual_seed(3);
  const Tensor x = randn64({3, 4, 5});
  check("sum_all", {x}, [](const Inputs& a) { return a[0].sum(); });
  check("sum_dims", {x}, [](const Inputs& a) { return a[0].sum({0, 2}); });
  check("sum_keepdim", {x}, [](const Inputs& a) { return a[0].sum({1}, true); });
  check("mean", {x}, [](const Inputs& a) { return a[0].mean({-1}); });
  check("prod", {positive64({3, 4})}, [](const Inputs& a) { return a[0].prod({1}); });
  check("prod_signs", {randn64({3, 4})}, [](const Inputs& a) { return a[0].prod(); });
  check("amax", {x}, [](const Inputs& a) { return a[0].amax({1}); });
  check("amin_all", {x}, [](const Inputs& a) { return a[0].amin(); });
  check("max_dim", {x}, [](const Inputs& a) { return std::get<0>(a[0].max(2, true)); });
  check("var", {x}, [](const Inputs& a) { return a[0].var({1}); });
  check("std", {x}, [](const Inputs& a) { return a[0].std({0, 2}, false); });
}

TEST(Gradcheck, MovementOps) {
  manual_seed(4);
  const Tensor x = randn64({2, 3, 4});
  check("reshape", {x}, [](const Inputs& a) { return a[0].reshape({4, 6}) * 2; });
  check("permute", {x}, [](const Inputs& a) { return a[0].permute({2, 0, 1}) * 2; });
  check("transpose_contiguous", {x},
        [](const Inputs& a) { return a[0].transpose(0, 2).contiguous() * 2; });
  check("expand", {randn64({3, 1})}, [](const Inputs& a) { return a[0].expand({2, 3, 4}) * 2; });
  check("slice", {x}, [](const Inputs& a) { return a[0].slice(2, 1, 3) * 2; });
  check("slice_step", {randn64({2, 9})},
        [](const Inputs& a) { return a[0].slice(1, 1, 8, 3) * 2; });
  check("select_narrow", {x},
        [](const Inputs& a) { return a[0].select(1, 2) + a[0].narrow(1, 0, 1).squeeze(1); });
  check("cat", {x, randn64({2, 2, 4})}, [](const Inputs& a) { return cat({a[0], a[1]}, 1) * 2; });
  check("stack", {x, x * 2}, [](const Inputs& a) { return stack({a[0], a[1]}, 3) * 3; });
  check("flatten_unsqueeze", {x}, [](const Inputs& a) { return a[0].flatten(1).unsqueeze(0) * 2; });
  check("clone", {x}, [](const Inputs& a) { return a[0].clone() * a[0]; });
}

TEST(Gradcheck, LinearAlgebra) {
  manual_seed(5);
  check("matmul_2d", {randn64({3, 4}), randn64({4, 5})},
        [](const Inputs& a) { return matmul(a[0], a[1]); });
  check("matmul_batched_broadcast", {randn64({2, 3, 4}), randn64({4, 5})},
        [](const Inputs& a) { return matmul(a[0], a[1]); });
  check("matmul_batch_both", {randn64({2, 1, 3, 4}), randn64({3, 4, 2})},
        [](const Inputs& a) { return matmul(a[0], a[1]); });
  check("matmul_vec_mat", {randn64({4}), randn64({4, 5})},
        [](const Inputs& a) { return matmul(a[0], a[1]); });
  check("matmul_mat_vec", {randn64({2, 3, 4}), randn64({4})},
        [](const Inputs& a) { return matmul(a[0], a[1]); });
  check("matmul_dot", {randn64({4}), randn64({4})},
        [](const Inputs& a) { return matmul(a[0], a[1]); });
}

TEST(Gradcheck, Composites) {
  manual_seed(6);
  const Tensor x = randn64({3, 5});
  check("softmax", {x}, [](const Inputs& a) { return softmax(a[0], 1); });
  check("log_softmax", {x}, [](const Inputs& a) { return log_softmax(a[0], 0); });
  check("gelu", {x}, [](const Inputs& a) { return gelu(a[0]); });
  check("gelu_tanh", {x}, [](const Inputs& a) { return gelu(a[0], "tanh"); });
  check("silu", {x}, [](const Inputs& a) { return silu(a[0]); });
  check("layer_norm", {x, randn64({5}), randn64({5})},
        [](const Inputs& a) { return layer_norm(a[0], {5}, a[1], a[2]); });
  check("layer_norm_weight_only", {randn64({2, 3, 4}), randn64({3, 4})}, [](const Inputs& a) {
    return layer_norm(a[0], {3, 4}, a[1]);
  });
  check("layer_norm_plain", {x}, [](const Inputs& a) { return layer_norm(a[0], {5}); });
  check("layer_norm_bias_only", {x, randn64({5})},
        [](const Inputs& a) { return layer_norm(a[0], {5}, {}, a[1]); });
}

TEST(Gradcheck, Indexing) {
  manual_seed(7);
  const Tensor index = tensor({2, 0, 2, 1}, kInt64);
  check("index_select", {randn64({3, 4}), index},
        [](const Inputs& a) { return index_select(a[0], 0, a[1]); });
  check("index_select_dim1", {randn64({2, 3}), index},
        [](const Inputs& a) { return index_select(a[0], 1, a[1]); });
  check("embedding", {randn64({5, 3}), tensor({{1, 4}, {1, 0}}, kInt64)},
        [](const Inputs& a) { return embedding(a[0], a[1]); });
  check("gather", {randn64({3, 4}), tensor({{0, 3}, {2, 2}}, kInt64)},
        [](const Inputs& a) { return gather(a[0], 1, a[1]); });
  check("gather_dim0", {randn64({3, 4}), tensor({{0, 2, 1}}, kInt64)},
        [](const Inputs& a) { return gather(a[0], 0, a[1]); });
  check("gather_3d_repeated",
        {randn64({2, 3, 4}), tensor({{{1, 1}, {0, 2}}, {{2, 2}, {1, 0}}}, kInt64)},
        [](const Inputs& a) { return gather(a[0], 1, a[1]); });
  check("index_add", {randn64({4, 3}), index, randn64({4, 3})},
        [](const Inputs& a) { return index_add(a[0], 0, a[1], a[2]) * a[0]; });
  check("index_add_dim1", {randn64({2, 3}), index, randn64({2, 4})},
        [](const Inputs& a) { return index_add(a[0], 1, a[1], a[2]).exp(); });
}

TEST(Gradcheck, Convolution) {
  manual_seed(9);
  check("conv2d", {randn64({2, 3, 7, 6}), randn64({4, 3, 3, 3}), randn64({4})},
        [](const Inputs& a) { return conv2d(a[0], a[1], a[2]); });
  check("conv2d_stride_padding", {randn64({1, 2, 8, 7}), randn64({3, 2, 3, 2})},
        [](const Inputs& a) {
          return conv2d(a[0], a[1], {}, {2, 3}, {1, 2});
        });
  check("conv2d_dilation", {randn64({1, 2, 9, 9}), randn64({2, 2, 3, 3})},
        [](const Inputs& a) { return conv2d(a[0], a[1], {}, 1, 2, 2); });
  check("conv2d_groups", {randn64({2, 4, 6, 6}), randn64({6, 2, 3, 3}), randn64({6})},
        [](const Inputs& a) { return conv2d(a[0], a[1], a[2], 2, 1, 1, 2); });
  check("conv2d_depthwise_unbatched", {randn64({3, 5, 5}), randn64({3, 1, 2, 2})},
        [](const Inputs& a) { return conv2d(a[0], a[1], {}, 1, 0, 1, 3); });
}

TEST(Gradcheck, Pooling) {
  manual_seed(10);
  const Tensor x = randn64({2, 3, 7, 8});
  check("max_pool2d", {x}, [](const Inputs& a) { return max_pool2d(a[0], 2); });
  check("max_pool2d_overlapping", {x}, [](const Inputs& a) { return max_pool2d(a[0], 3, 2, 1); });
  check("max_pool2d_dilation_ceil", {x}, [](const Inputs& a) {
    return max_pool2d(a[0], {2, 3}, {2, 2}, 0, 2, true);
  });
  check("avg_pool2d", {x}, [](const Inputs& a) { return avg_pool2d(a[0], 2); });
  check("avg_pool2d_padding_exclude", {x},
        [](const Inputs& a) { return avg_pool2d(a[0], 3, 2, 1, false, false); });
  check("avg_pool2d_ceil_include", {x},
        [](const Inputs& a) { return avg_pool2d(a[0], 3, 2, 1, true, true); });
  check("avg_pool2d_unbatched", {randn64({3, 6, 6})},
        [](const Inputs& a) { return avg_pool2d(a[0], 2, 1); });
}

// prod's gradient is the product of the other elements, zeros included.
TEST(Autograd, ProdGradientWithZeros) {
  Tensor x =
      tensor({{2.0, 0.0, 3.0}, {0.0, 5.0, 0.0}, {1.0, 2.0, 4.0}}, kFloat64).set_requires_grad(true);
  x.prod(1).sum().backward();
  expect_values(x.grad(), {3, 3}, {0, 6, 0, 0, 0, 0, 8, 4, 2}, 0);
}

TEST(Autograd, MaxOverADimGivesATieToTheReturnedIndex) {
  Tensor x = tensor({{1.0, 3.0, 3.0}, {2.0, 2.0, 0.0}}, kFloat64).set_requires_grad(true);
  auto [values, index] = x.max(1);
  expect_values(index, {2}, {1, 0}, 0);
  values.sum().backward();
  expect_values(x.grad(), {2, 3}, {0, 1, 0, 1, 0, 0}, 0);
  // amax shares a tie, as PyTorch's amax does.
  Tensor y = tensor({{1.0, 3.0, 3.0}}, kFloat64).set_requires_grad(true);
  y.amax({1}).sum().backward();
  expect_values(y.grad(), {1, 3}, {0, 0.5, 0.5}, 0);
}

TEST(Autograd, MaxPoolGivesATieToTheFirstMaximum) {
  Tensor x = zeros({1, 1, 2, 2}, kFloat64).set_requires_grad(true);
  max_pool2d(x, 2).sum().backward();
  expect_values(x.grad(), {1, 1, 2, 2}, {1, 0, 0, 0}, 0);
}

TEST(Gradcheck, RandomOpsAreConstants) {
  manual_seed(8);
  check("dropout", {randn64({4, 6})}, [](const Inputs& a) { return dropout(a[0], 0.5, true); });
  check("randn_plus", {randn64({4})}, [](const Inputs& a) { return a[0] * randn({4}, kFloat64); });
}

// ---- eager semantics ----

TEST(Autograd, LeavesAccumulateAndGradFnNames) {
  Tensor x = tensor({1.0, 2.0, 3.0}, kFloat64).set_requires_grad(true);
  EXPECT_TRUE(x.is_leaf());
  EXPECT_EQ(x.grad_fn_name(), "");
  Tensor y = (x * x).sum();
  EXPECT_FALSE(y.is_leaf());
  EXPECT_TRUE(y.requires_grad());
  EXPECT_EQ(y.grad_fn_name(), "ReduceSumBackward");
  y.backward();
  expect_values(x.grad(), {3}, {2, 4, 6}, 0);
  (x * 3).sum().backward();  // accumulates
  expect_values(x.grad(), {3}, {5, 7, 9}, 0);
  x.mutable_grad().zero_();
  (x * 3).sum().backward();
  expect_values(x.grad(), {3}, {3, 3, 3}, 0);
  // A tensor used twice gets both contributions.
  Tensor z = tensor({2.0}, kFloat64).set_requires_grad(true);
  (z * z * z).sum().backward();
  expect_values(z.grad(), {1}, {12}, 0);
}

TEST(Autograd, BackwardWithAGradientAndNonScalarErrors) {
  Tensor x = tensor({1.0, 2.0}, kFloat64).set_requires_grad(true);
  Tensor y = x * 2;
  EXPECT_TRUE(contains(message_of([&] { y.backward(); }),
                       "grad can be implicitly created only for scalar outputs"));
  y.backward(tensor({1.0, 10.0}));
  expect_values(x.grad(), {2}, {2, 20}, 0);
  EXPECT_TRUE(contains(message_of([&] {
                         (x * 2).backward(tensor({1.0, 2.0, 3.0}));
                       }),
                       "the gradient of output 0 has shape [3] but the output has shape [2]"));
  const Tensor c = tensor({1.0});
  EXPECT_TRUE(contains(message_of([&] { (c * 2).sum().backward(); }),
                       "element 0 of tensors does not require grad and does not have a grad_fn"));
}

TEST(Autograd, SecondBackwardNeedsRetainGraph) {
  Tensor x = tensor({1.0, 2.0}, kFloat64).set_requires_grad(true);
  Tensor y = x.exp().sum();  // exp saves its result
  y.backward(Tensor(), true);
  y.backward();  // the graph was retained once
  expect_values(x.grad(), {2}, {2 * std::exp(1.0), 2 * std::exp(2.0)}, 1e-12);
  EXPECT_TRUE(contains(message_of([&] { y.backward(); }),
                       "trying to backward through the graph a second time"));
}

TEST(Autograd, IntegerTensorsCannotRequireGrad) {
  Tensor i = tensor({1, 2}, kInt64);
  EXPECT_THROW(i.set_requires_grad(true), DTypeError);
  EXPECT_TRUE(contains(message_of([&] { i.set_requires_grad(true); }),
                       "only Tensors of floating point dtype can require gradients"));
  // Integer results of differentiable inputs do not require grad.
  Tensor x = tensor({1.5, -2.0}, kFloat64).set_requires_grad(true);
  EXPECT_FALSE(x.argmax().requires_grad());
  EXPECT_FALSE((x > 0).requires_grad());
  EXPECT_FALSE(x.to(kInt32).requires_grad());
  EXPECT_TRUE(x.to(kFloat32).requires_grad());
  EXPECT_TRUE(contains(message_of([&] { (x * 2).set_requires_grad(false); }),
                       "you can only change requires_grad flags of leaf variables"));
}

TEST(Autograd, NoGradGuardAndDetach) {
  Tensor x = tensor({1.0, 2.0}, kFloat64).set_requires_grad(true);
  {
    NoGradGuard guard;
    EXPECT_FALSE(GradMode::is_enabled());
    Tensor y = x * 2;
    EXPECT_FALSE(y.requires_grad());
    EXPECT_TRUE(y.is_leaf());
  }
  EXPECT_TRUE(GradMode::is_enabled());
  Tensor d = x.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.data_ptr<double>(), x.data_ptr<double>());  // shares storage
  Tensor y = (x * d).sum();                               // d is a constant
  y.backward();
  expect_values(x.grad(), {2}, {1, 2}, 0);
  {
    AutoGradMode off(false);
    EXPECT_FALSE((x + 1).requires_grad());
  }
}

TEST(Autograd, InPlaceModificationOfASavedTensorIsAnError) {
  Tensor x = tensor({1.0, 2.0}, kFloat64).set_requires_grad(true);
  Tensor a = x * 1;
  Tensor y = a * a;  // saves a
  a.add_(1.0);       // a's storage changes: version 1
  const std::string m = message_of([&] { y.sum().backward(); });
  EXPECT_TRUE(contains(m,
                       "one of the variables needed for gradient computation has been "
                       "modified by an inplace operation"))
      << m;
  EXPECT_TRUE(contains(m, "is at version 1; expected version 0 instead")) << m;
  // The output saved by exp, changed through a view.
  Tensor e = x.exp();
  Tensor s = e.sum();
  e.slice(0, 0, 1).fill_(0);
  EXPECT_TRUE(contains(message_of([&] { s.backward(); }), "modified by an inplace operation"));
}

TEST(Autograd, InPlaceOpsRebaseHistoryAndLeavesRefuse) {
  Tensor x = tensor({1.0, 2.0}, kFloat64).set_requires_grad(true);
  EXPECT_TRUE(
      contains(message_of([&] { x.add_(1.0); }),
               "a leaf Variable that requires grad is being used in an in-place operation"));
  {
    NoGradGuard guard;  // an optimizer's update
    x.sub_(tensor({0.5, 0.5}));
  }
  expect_values(x, {2}, {0.5, 1.5}, 0);
  Tensor y = x * 2;
  y.add_(x);  // y = 2x + x
  y.mul_(2.0);
  EXPECT_TRUE(y.requires_grad());
  y.sum().backward();
  expect_values(x.grad(), {2}, {6, 6}, 0);
}

TEST(Autograd, GradWithAllowUnusedAndNonLeafInputs) {
  Tensor x = tensor({1.0, 2.0}, kFloat64).set_requires_grad(true);
  Tensor u = tensor({5.0}, kFloat64).set_requires_grad(true);
  Tensor h = x * 3;
  Tensor y = (h * h).sum();
  EXPECT_TRUE(contains(message_of([&] {
                         autograd::grad({y}, {x, u}, {}, true);
                       }),
                       "input 1 appears to not have been used in the graph"));
  const auto g = autograd::grad({y}, {x, u, h}, {}, true, false, true);
  expect_values(g[0], {2}, {18, 36}, 0);
  EXPECT_FALSE(g[1].defined());
  expect_values(g[2], {2}, {6, 12}, 0);
  EXPECT_FALSE(x.grad().defined());  // grad() leaves .grad() alone
  Tensor c = tensor({1.0});
  EXPECT_TRUE(contains(message_of([&] { autograd::grad({y}, {c}); }), "does not require grad"));
}

TEST(Autograd, HigherOrderThroughCreateGraph) {
  Tensor x = tensor({0.5, 2.0}, kFloat64).set_requires_grad(true);
  Tensor y = (x * x * x).sum();  // y' = 3x^2, y'' = 6x
  const Tensor dx = autograd::grad({y}, {x}, {}, std::nullopt, true)[0];
  EXPECT_TRUE(dx.requires_grad());
  expect_values(dx, {2}, {0.75, 12}, 1e-12);
  const Tensor ddx = autograd::grad({dx.sum()}, {x})[0];
  expect_values(ddx, {2}, {3, 12}, 1e-12);
  // Through a rule that saves its output (exp): d2/dx2 exp(x) = exp(x).
  Tensor z = tensor({0.3}, kFloat64).set_requires_grad(true);
  const Tensor dz = autograd::grad({z.exp().sum()}, {z}, {}, std::nullopt, true)[0];
  dz.sum().backward();
  expect_values(z.grad(), {1}, {std::exp(0.3)}, 1e-12);
  // backward(create_graph) leaves a grad with history.
  Tensor w = tensor({1.5}, kFloat64).set_requires_grad(true);
  (w * w).sum().backward(Tensor(), std::nullopt, true);
  EXPECT_TRUE(w.grad().requires_grad());
  // That grad's history saves w itself: a reference cycle, as in PyTorch (whose docs say to
  // reset .grad after backward(create_graph=True)); reset here, so LeakSanitizer sees no leak.
  w.mutable_grad() = Tensor();
}

TEST(Autograd, GradientsHaveTheInputsDtypeAndOwnStorage) {
  Tensor x = tensor({1.0f, 2.0f}).set_requires_grad(true);
  (x.to(kFloat64) * 2).sum().backward();
  EXPECT_EQ(x.grad().dtype(), kFloat32);
  expect_values(x.grad(), {2}, {2, 2}, 0);
  // The gradient of a sum is an expand of the incoming one; the leaf gets a copy it may write to.
  Tensor y = tensor({1.0, 2.0, 3.0}, kFloat64).set_requires_grad(true);
  y.sum().backward();
  EXPECT_TRUE(y.grad().is_contiguous());
  y.mutable_grad().add_(1.0);
  expect_values(y.grad(), {3}, {2, 2, 2}, 0);
}

}  // namespace
}  // namespace ember::testing
