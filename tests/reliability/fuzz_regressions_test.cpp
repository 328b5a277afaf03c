// What ember-fuzz (tools/ember_fuzz.cpp) found, each minimized reproducer as a test: the program
// compiled (and traced) must equal eager. The program seed that found each is in its comment.
#include <gtest/gtest.h>

#include <functional>

#include "ember/ember.h"
#include "tests/test_util.h"

namespace ember::testing {
namespace {

using Fn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

// fn eagerly, traced through the interpreter, and compiled (twice: trace, then replay).
void expect_backends_agree(const Fn& fn, const std::vector<Tensor>& inputs,
                           const std::string& what) {
  const std::vector<Tensor> want = fn(inputs);
  auto check = [&](const std::vector<Tensor>& got, const std::string& backend) {
    ASSERT_EQ(got.size(), want.size()) << what << " " << backend;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].dtype(), want[i].dtype()) << what << " " << backend;
      expect_values(got[i], want[i].sizes().vec(), values_of(want[i]), 1e-5, 1e-5,
                    what + " (" + backend + ") output " + std::to_string(i));
    }
  };
  check(trace(fn, inputs).run(inputs), "interpreter");
  auto f = compile([&fn](const auto&... x) { return fn(std::vector<Tensor>{x...}); });
  for (int call = 0; call < 2; ++call)
    check(call_unpacked<std::vector<Tensor>>(f, inputs), "compiled");
}

// Seeds 470, 498, 819: the decomposition reduced a zero-size dim with reduce_max, which has no
// identity; softmax over it is the empty input's shape.
TEST(FuzzRegressions, SoftmaxOverAZeroSizeDim) {
  expect_backends_agree(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        return {softmax(x[0], 2), log_softmax(x[0].narrow(1, 1, 0), 1), x[0] * 2};
      },
      {randn({3, 3, 0})}, "softmax over an empty dim");
}

// Seeds 842, 1176, 1598: a row kernel over an empty reduced dim rejected its empty input.
TEST(FuzzRegressions, SumOverAnEmptyReducedDim) {
  expect_backends_agree(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        return {sum(x[0]), sum(x[0], {1, 2, 3}, true), x[0].amax(1) + 1};
      },
      {randn({4, 4, 8, 0})}, "sum over an empty dim");
}

// Seed 1055: a view into a matmul hid the matmul's dependence on the kernel computing its
// operand, and fusion made a cycle of kernels.
TEST(FuzzRegressions, MatmulOfAViewOfAKernelValue) {
  expect_backends_agree(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        const Tensor v = x[0] / (abs(x[1]) + 1);
        return {matmul(v, x[2]) - v};
      },
      {randn({3}), randn({1}), randn({3, 1})}, "matmul of a view");
}

// Seed 1505: merging two independent kernels where one also reaches the other through a third
// (a gather) made a cycle.
TEST(FuzzRegressions, MergingKernelsThatMeetThroughAThird) {
  expect_backends_agree(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        const Tensor a = lt(x[0], x[1]), g = gelu(x[0], "tanh");
        const Tensor m = std::get<0>(max(g.slice(-1, 0, std::nullopt, 3), -1, true));
        return {where(ne(g, x[2]), m, a)};
      },
      {randn({2}), randn({1}), tensor(int64_t(0))}, "kernels meeting through a gather");
}

// Seed 2471: amin over the trailing dims without keepdim is a value per row, but broadcasting
// lines [7] up with the last dim of [7, 2, 7]: fused into the row kernel it was read per row.
TEST(FuzzRegressions, ARowValueWithoutKeepdimBroadcastsAgainstTheTrailingDims) {
  expect_backends_agree(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        return {amin(x[0], {1, 2}) * x[1], x[2].sum(-1) + x[2]};
      },
      {randn({7, 2, 7}), randn({7, 2, 7}), randn({4, 4})}, "row value broadcast");
}

// Seed 3523: a slice of an input that the kernel also loads directly was stored as a kernel
// output over its own view; the kernel then read an unwritten buffer.
TEST(FuzzRegressions, AViewOfAnInputTheKernelAlsoLoads) {
  const Tensor x = tensor({2.5f});
  expect_backends_agree(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        const Tensor s = x[0].slice(0, 0, 1, 3);
        return {eq(x[0], s), s};
      },
      {x}, "view also loaded");
  EXPECT_EQ(values_of(x), std::vector<double>{2.5});
}

// Seed 4822: a per-channel variance (leading dims reduced, kept) returned from a row kernel of
// another reduction: neither per element nor per row of that kernel.
TEST(FuzzRegressions, AReturnedBroadcastValueInsideARowKernel) {
  expect_backends_agree(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        const Tensor v = var(x[0], {-2, 0, 3}, true, true);
        return {log_softmax(x[0] + v, -1), v};
      },
      {randn({2, 16, 11, 5})}, "returned channel variance");
}

// Seed 13802: a returned select of a sliced input, in the group of a reduction of the slice, was
// made by no step: the compiled output was a 0-dim tensor with no element.
TEST(FuzzRegressions, AReturnedViewInsideAReductionKernel) {
  const Tensor x = randn({4});
  expect_backends_agree(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        const Tensor s = x[0].slice(0, 2);
        if (bool(s.amax() > 100.0)) return {s};
        return {s.select(0, 1), s.sum() * 2};
      },
      {x}, "returned view");
}

// Seed 1 of the gradient mode: an argument that requires grad but that no output depends on got a
// zero gradient from the compiled backward; eager leaves its grad() undefined, as PyTorch does.
TEST(FuzzRegressions, AnUnusedArgumentGetsNoGradient) {
  auto f = compile([](const Tensor&, const Tensor& y) { return y * 2; });
  for (int call = 0; call < 2; ++call) {
    Tensor x = randn({3, 1, 3}).requires_grad_(), y = randn({}).requires_grad_();
    f(x, y).sum().backward();
    EXPECT_FALSE(x.grad().defined());
    ASSERT_TRUE(y.grad().defined());
    EXPECT_EQ(y.grad().item<double>(), 2.0);
  }
}

// Seed 304955: the backward of a batched matmul with a 2-D weight reshaped the batch to
// {-1, n}, which has nothing to infer when n is 0 ("shape [-1, 0] is invalid for input of size 0").
TEST(FuzzRegressions, MatmulBackwardWithAnEmptyDim) {
  auto f = compile([](const Tensor& x, const Tensor& w) { return matmul(x, w); });
  for (int64_t n : {0, 3}) {
    for (bool compiled : {false, true}) {
      Tensor x = randn({8, 2, 4, 2}).requires_grad_(), w = randn({2, n}).requires_grad_();
      const Tensor y = compiled ? f(x, w) : matmul(x, w);
      ASSERT_EQ(y.sizes().vec(), (std::vector<int64_t>{8, 2, 4, n}));
      (y * y).sum().backward();
      ASSERT_TRUE(x.grad().defined() && w.grad().defined());
      // d/dx sum((x w)^2) = 2 (x w) w^T and d/dw = 2 x^T (x w), summed over the batch.
      const Tensor want_x = (matmul(x, w) * 2).matmul(w.t()).detach();
      const Tensor want_w =
          matmul(x.detach().flatten(0, 2).t(), matmul(x, w).detach().flatten(0, 2)) * 2;
      expect_values(x.grad(), {8, 2, 4, 2}, values_of(want_x), 1e-5, 1e-5, "grad x");
      expect_values(w.grad(), {2, n}, values_of(want_w), 1e-4, 1e-5, "grad w");
    }
  }
}

// ember-fuzz seeds 306000+: an expanded [1, 0] operand has row stride 0, which no BLAS layout
// allowed, and being empty it was already "contiguous", so matmul broke an internal invariant.
TEST(FuzzRegressions, MatmulOfAnExpandedEmptyOperand) {
  for (DType dt : {kFloat32, kFloat64}) {
    const Tensor a = randn({1, 0}).to(dt).expand({3, 0}), b = randn({0, 4}).to(dt);
    const Tensor bt = randn({4, 1}).to(dt).expand({4, 0});
    for (const auto& [x, y] : {std::pair{a, b}, std::pair{b.t(), a.t()}, std::pair{a, bt.t()}}) {
      const Tensor out = matmul(x, y);
      expect_values(out, {x.size(0), y.size(1)},
                    std::vector<double>(size_t(x.size(0) * y.size(1)), 0.0), 0, 0,
                    "matmul of expanded empties");
    }
    expect_backends_agree(
        [](const std::vector<Tensor>& v) -> std::vector<Tensor> {
          return {matmul(v[0].expand({2, 3, 0}), v[1]) + 1};
        },
        {randn({1, 0}).to(dt), randn({0, 4}).to(dt)}, "compiled matmul of an expanded empty");
  }
}

}  // namespace
}  // namespace ember::testing
