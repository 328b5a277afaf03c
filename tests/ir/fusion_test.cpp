// Fusion outcomes on traced programs after the pipeline: the kernel counts each pattern must
// reach (with the argument for each minimum), the cases that must not fuse, and that fused
// graphs still compute what eager does.
#include <gtest/gtest.h>

#include "ember/passes/fuse.h"
#include "ember/passes/pipeline.h"
#include "ember/passes/plan_memory.h"
#include "tests/test_util.h"

namespace ember::testing {
namespace {

struct Fused {
  TracedGraph traced;
  int kernels;
  std::string text;
};

Fused fuse_traced(const TraceableFn& fn, const std::vector<Tensor>& inputs) {
  Fused f{trace(fn, inputs), 0, ""};
  passes::run_pipeline(*f.traced.graph);
  ir::verify(*f.traced.graph);
  f.kernels = passes::count_kernels(*f.traced.graph);
  f.text = ir::print(*f.traced.graph);
  // Fusion only groups: the interpreter still computes eager's values.
  const auto eager = fn(inputs);
  const auto got = f.traced.run(inputs);
  for (size_t i = 0; i < got.size(); ++i)
    expect_values(got[i], eager[i].sizes().vec(), values_of(eager[i]), 1e-5, 1e-5);
  return f;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

TEST(Fusion, SoftmaxIsOneKernel) {
  const auto f = fuse_traced(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> { return {softmax(x[0], -1)}; },
      {randn({16, 64})});
  EXPECT_EQ(f.kernels, 1) << f.text;
}

TEST(Fusion, LayerNormIsOneKernel) {
  const auto f = fuse_traced(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        return {layer_norm(x[0], {64}, x[1], x[2])};
      },
      {randn({16, 64}), randn({64}), randn({64})});
  EXPECT_EQ(f.kernels, 1) << f.text;
}

TEST(Fusion, EightOpElementwiseChainIsOneKernel) {
  const auto f = fuse_traced(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        Tensor y = exp(x[0]) + x[1];
        y = tanh(y * x[1]) - x[0];
        y = sigmoid(y) / (abs(y) + 1);
        return {relu(y)};
      },
      {randn({32, 32}), randn({32})});
  EXPECT_GE(f.traced.graph->nodes().size(), 8u);
  EXPECT_EQ(f.kernels, 1) << f.text;
}

TEST(Fusion, GeluOfLinearIsOneLibraryCallWithItsEpilogue) {
  const auto f = fuse_traced(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        return {gelu(matmul(x[0], x[1]) + x[2])};
      },
      {randn({8, 16}), randn({16, 32}), randn({32})});
  EXPECT_EQ(f.kernels, 1) << f.text;
  EXPECT_EQ(count(f.text, "matmul("), 1u);
  EXPECT_NE(f.text.find("erf("), std::string::npos);
}

TEST(Fusion, MlpBlockIsThreeKernels) {
  // Minimal: two matmuls are two library calls (bias and gelu ride on the first's epilogue, the
  // second bias on the second's); log_softmax needs whole rows of the second result, which a
  // tile epilogue does not have, so it is one row-normalization kernel.
  const auto f = fuse_traced(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        const Tensor h = gelu(matmul(x[0], x[1]) + x[2]);
        return {log_softmax(matmul(h, x[3]) + x[4], -1)};
      },
      {randn({8, 16}), randn({16, 32}), randn({32}), randn({32, 10}), randn({10})});
  EXPECT_EQ(f.kernels, 3) << f.text;
}

TEST(Fusion, AttentionBlockIsSixKernels) {
  // Minimal without merging the three projections into one matmul: q, k, v projections (3
  // library calls), q @ k^T with the 1/sqrt(d) scale in its epilogue and k^T a view (1), softmax
  // over rows (1), probabilities @ v (1).
  const auto f = fuse_traced(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        const Tensor q = matmul(x[0], x[1]), k = matmul(x[0], x[2]), v = matmul(x[0], x[3]);
        const Tensor scores = matmul(q, k.transpose(-2, -1)) / 4.0;
        return {matmul(softmax(scores, -1), v)};
      },
      {randn({2, 8, 16}), randn({16, 16}), randn({16, 16}), randn({16, 16})});
  EXPECT_EQ(f.kernels, 6) << f.text;
  EXPECT_EQ(count(f.text, "matmul("), 5u);
}

TEST(Fusion, ReductionOverOtherAxesDoesNotFuse) {
  // Fusing would recompute the row sums for every column sum.
  const auto f = fuse_traced(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        return {(x[0] - x[0].sum(1, true)).sum(0)};
      },
      {randn({32, 48})});
  EXPECT_EQ(f.kernels, 2) << f.text;
}

TEST(Fusion, TranscendentalOverALargeTensorIsMaterializedNotDuplicated) {
  const auto f = fuse_traced(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        const Tensor e = exp(x[0]);
        return {e.sum(0), e.sum(1)};
      },
      {randn({256, 256})});
  EXPECT_EQ(count(f.text, "exp("), 1u) << f.text;
  EXPECT_EQ(f.kernels, 2) << f.text;
}

TEST(Fusion, CheapValueIsRecomputedInEachKernel) {
  const auto f = fuse_traced(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        const Tensor y = x[0] * 2;
        return {y.sum(), y.sum(1)};
      },
      {randn({256, 256})});
  EXPECT_EQ(count(f.text, "mul("), 2u) << f.text;
  EXPECT_EQ(f.kernels, 2) << f.text;
}

// Row kernels reduce trailing dims: a sum over the batch (a bias gradient) is its own eager
// reduction, and the elementwise work before it stays one compiled kernel.
TEST(Fusion, ReductionOverLeadingDimsRunsOnItsOwn) {
  const auto f = fuse_traced(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        return {(x[0] * x[1] + 1).sum(0)};
      },
      {randn({64, 32}), randn({64, 32})});
  EXPECT_EQ(f.kernels, 2) << f.text;
  EXPECT_NE(f.text.find("kernel k1 {\n    %3 = reduce_sum"), std::string::npos) << f.text;
}

TEST(Fusion, IndependentChainsMeetingAreOneKernel) {
  // sigmoid(y) is recorded first and starts its own kernel; where it meets the other chain the
  // two merge (65536 elements: too large to recompute a transcendental, so only a merge helps).
  const auto f = fuse_traced(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        const Tensor s = sigmoid(x[1]);
        return {exp(x[0] * 2) * s};
      },
      {randn({256, 256}), randn({256, 256})});
  EXPECT_EQ(f.kernels, 1) << f.text;
}

TEST(Fusion, KernelBlocksRoundTripThroughText) {
  const auto f = fuse_traced(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        return {softmax(matmul(x[0], x[1]), -1)};
      },
      {randn({4, 8}), randn({8, 8})});
  const auto back = ir::parse(f.text);
  ir::verify(*back);
  EXPECT_EQ(ir::print(*back), f.text);
  EXPECT_EQ(passes::count_kernels(*back), f.kernels);
}

}  // namespace
}  // namespace ember::testing

namespace ember::testing {
namespace {

passes::MemoryPlan plan_of(const TraceableFn& fn, const std::vector<Tensor>& inputs,
                           const char* what) {
  TracedGraph t = trace(fn, inputs);
  passes::run_pipeline(*t.graph);
  const passes::MemoryPlan plan = passes::plan_memory(*t.graph);
  std::printf("%s: peak intermediate bytes %lld with reuse, %lld without (%zu buffers)\n", what,
              (long long)plan.peak_bytes, (long long)plan.naive_bytes, plan.buffer_bytes.size());
  return plan;
}

TEST(MemoryPlan, MlpReusesBuffersOfDeadIntermediates) {
  const auto plan = plan_of(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        const Tensor h1 = gelu(matmul(x[0], x[1]));
        const Tensor h2 = gelu(matmul(h1, x[2]));
        return {log_softmax(matmul(h2, x[3]), -1)};
      },
      {randn({8, 64}), randn({64, 128}), randn({128, 128}), randn({128, 10})}, "mlp");
  EXPECT_GT(plan.naive_bytes, 0);
  EXPECT_LT(plan.peak_bytes, plan.naive_bytes);
}

TEST(MemoryPlan, AttentionReusesBuffersOfDeadIntermediates) {
  const auto plan = plan_of(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        const Tensor q = matmul(x[0], x[1]), k = matmul(x[0], x[2]), v = matmul(x[0], x[3]);
        return {matmul(softmax(matmul(q, k.transpose(-2, -1)) / 4.0, -1), v)};
      },
      {randn({2, 8, 16}), randn({16, 16}), randn({16, 16}), randn({16, 16})}, "attention");
  EXPECT_GT(plan.naive_bytes, 0);
  EXPECT_LT(plan.peak_bytes, plan.naive_bytes);
}

TEST(MemoryPlan, SymbolicShapesAreRefused) {
  auto g = ir::parse(R"(graph @f(%x: f32[s0, 4], %w: f32[4, 4]) -> (f32[s0, 4]) {
  %a = matmul(%x, %w) : f32[s0, 4]
  %b = matmul(%a, %w) : f32[s0, 4]
  return %b
}
)");
  passes::fuse(*g);
  EXPECT_THROW(passes::plan_memory(*g), Error);
}

}  // namespace
}  // namespace ember::testing
