// The tracer's contract: captured tensors are params read by reference, view ops keep eager's
// metadata and errors, random draws replay, reads become guards, and misuse is refused clearly.
#include "tests/test_util.h"

namespace ember::testing {
namespace {

std::vector<Tensor> run1(const TracedGraph& g, const Tensor& x) { return g.run({x}); }

TEST(Trace, CapturedTensorsAreParamsReadByReference) {
  Tensor w = from_values({2, 2}, {1, 2, 3, 4}, kFloat32);
  const TraceableFn fn = [&w](const std::vector<Tensor>& in) -> std::vector<Tensor> {
    return {matmul(in[0], w.t())};
  };
  const Tensor x = from_values({1, 2}, {1, 1}, kFloat32);
  const TracedGraph g = trace(fn, {x});
  ASSERT_EQ(g.params.size(), 1u);
  EXPECT_EQ(g.graph->inputs()[1]->kind, ir::ValueKind::Param);
  expect_values(run1(g, x)[0], {1, 2}, {3, 7}, 0);
  w.mul_(10);  // an optimizer step, in place: the graph sees it
  expect_values(run1(g, x)[0], {1, 2}, {30, 70}, 0);
}

// Eager ops run the IR node they record (one dispatch point), so the two agree: clamp once ran a
// kernel of its own eagerly and maximum/minimum when traced. Integer bounds truncate, NaN stays.
TEST(Trace, EagerAndTracedOpsAreTheSameNodes) {
  const TraceableFn fn = [](const std::vector<Tensor>& in) -> std::vector<Tensor> {
    return {in[0].clamp(-0.5, 1.5), in[0].clamp(std::nullopt, 0.25), in[1].clamp(1.7, 4.2),
            conv2d(in[2], in[3], in[4], 1, 1), std::get<1>(in[0].max(0, true))};
  };
  const Tensor x = from_values({4}, {-1.0, NAN, 0.75, 3.0}, kFloat32);
  const Tensor i = from_values({4}, {0, 1, 2, 9}, kInt64);
  manual_seed(3);
  const Tensor image = randn({1, 2, 4, 4}), weight = randn({3, 2, 3, 3}), bias = randn({3});
  const std::vector<Tensor> inputs{x, i, image, weight, bias};
  const std::vector<Tensor> eager = fn(inputs);
  expect_values(eager[0], {4}, {-0.5, NAN, 0.75, 1.5}, 0);
  expect_values(eager[1], {4}, {-1.0, NAN, 0.25, 0.25}, 0);
  expect_values(eager[2], {4}, {1, 1, 2, 4}, 0);
  expect_values(eager[4], {1}, {1}, 0);  // NaN wins max, as in PyTorch
  const TracedGraph g = trace(fn, inputs);
  const std::vector<Tensor> traced = g.run(inputs);
  for (size_t k = 0; k < eager.size(); ++k)
    expect_values(traced[k], eager[k].sizes().vec(), values_of(eager[k]), 1e-6, 1e-6,
                  "output " + std::to_string(k));
  const std::string text = ir::print(*g.graph);
  EXPECT_NE(text.find("maximum("), std::string::npos) << text;
  EXPECT_EQ(text.find("clamp("), std::string::npos) << text;
  EXPECT_NE(text.find("conv2d(%x2, %x3, %x4)"), std::string::npos) << text;  // bias inside
}

TEST(Trace, ViewOpsKeepEagerMetadataAndErrors) {
  const TraceableFn transposed_view = [](const std::vector<Tensor>& in) -> std::vector<Tensor> {
    return {in[0].t().view({6})};
  };
  EXPECT_THROW(transposed_view({ones({2, 3})}), ShapeError);
  EXPECT_THROW(trace(transposed_view, {ones({2, 3})}), ShapeError);
  const TraceableFn fn = [](const std::vector<Tensor>& in) -> std::vector<Tensor> {
    const Tensor t = in[0].t();
    EXPECT_FALSE(t.is_contiguous());
    EXPECT_EQ(t.sizes().vec(), (Shape{3, 2}));
    EXPECT_TRUE(t.contiguous().is_contiguous());
    return {t.reshape({6}), in[0].expand({4, 2, 3}).slice(0, 1, 3)};
  };
  const Tensor x = from_values({2, 3}, {0, 1, 2, 3, 4, 5}, kFloat32);
  const TracedGraph g = trace(fn, {x});
  expect_values(g.run({x})[0], {6}, {0, 3, 1, 4, 2, 5}, 0);
  EXPECT_EQ(g.run({x})[1].sizes().vec(), (Shape{2, 2, 3}));
}

TEST(Trace, RandomDrawsReplayTheEagerValues) {
  const TraceableFn fn = [](const std::vector<Tensor>& in) -> std::vector<Tensor> {
    return {in[0] + randn({3}), dropout(in[0], 0.5, true)};
  };
  const Tensor x = ones({3});
  manual_seed(5);
  const auto eager = fn({x});
  manual_seed(5);
  const TracedGraph g = trace(fn, {x});
  EXPECT_EQ(g.rng_states.size(), 2u);
  const auto replay = g.run({x});
  for (size_t i = 0; i < 2; ++i) expect_values(replay[i], {3}, values_of(eager[i]), 0);
}

TEST(Trace, ReadsBecomeGuards) {
  int reads = 0;
  const TraceableFn fn = [&reads](const std::vector<Tensor>& in) -> std::vector<Tensor> {
    const std::vector<double> v = in[0].tolist<double>();
    ++reads;
    return {in[0] * (v[0] + v[1])};
  };
  const Tensor x = from_values({2}, {1, 2}, kFloat32);
  const TracedGraph g = trace(fn, {x});
  EXPECT_EQ(reads, 1);
  int guards = 0;
  for (const auto& n : g.graph->nodes()) guards += n->op == ir::Op::Guard;
  EXPECT_EQ(guards, 2);
  expect_values(g.run({x})[0], {2}, {3, 6}, 0);
  EXPECT_THROW(g.run({from_values({2}, {1, 5}, kFloat32)}), ir::GuardFailure);
}

TEST(Trace, MisuseIsRefusedWithClearErrors) {
  // In place on a tensor made inside: the graph computes the new value (no write to apply).
  const TraceableFn in_place = [](const std::vector<Tensor>& in) -> std::vector<Tensor> {
    Tensor y = in[0] * 2;
    y.add_(1);
    return {y};
  };
  const TracedGraph g = trace(in_place, {ones({2})});
  EXPECT_TRUE(g.writes.empty());
  expect_values(g.run({full({2}, 3.0)})[0], {2}, {7, 7}, 0);
  // Through a view, or to a tensor with a live view: refused (no aliasing in the graph).
  EXPECT_THROW(trace(
                   [](const std::vector<Tensor>& in) -> std::vector<Tensor> {
                     Tensor y = in[0] * 2;
                     y.slice(0, 0, 1).add_(1);
                     return {y};
                   },
                   {ones({2})}),
               Error);
  EXPECT_THROW(trace(
                   [](const std::vector<Tensor>& in) -> std::vector<Tensor> {
                     Tensor y = in[0] * 2;
                     const Tensor v = y.slice(0, 0, 1);
                     y.add_(1);
                     return {y, v};
                   },
                   {ones({2})}),
               Error);
  Tensor escaped;
  const TraceableFn leak = [&escaped](const std::vector<Tensor>& in) -> std::vector<Tensor> {
    escaped = in[0] + 1;
    EXPECT_THROW(escaped.data_ptr<float>(), Error);
    return {escaped};
  };
  trace(leak, {ones({2})});
  EXPECT_TRUE(escaped.is_traced());
  EXPECT_THROW(escaped + 1, Error);  // a traced tensor used after its trace ended
  EXPECT_NE(to_string(escaped).find("<traced %"), std::string::npos);
  EXPECT_THROW(trace([](const std::vector<Tensor>& in)
                         -> std::vector<Tensor> { return {randint(0, 3, {2}) + in[0]}; },
                     {ones({2})}),
               Error);
}

TEST(Trace, CompositesDecomposeIntoPrimitives) {
  const TraceableFn fn = [](const std::vector<Tensor>& in) -> std::vector<Tensor> {
    return {layer_norm(softmax(gelu(in[0]), -1), {4})};
  };
  const TracedGraph g = trace(fn, {randn({3, 4})});
  const std::string text = ir::print(*g.graph);
  for (const char* composite : {"gelu", "softmax", "layer_norm"})
    EXPECT_EQ(text.find(composite), std::string::npos) << text;
  for (const char* primitive : {"erf(", "exp(", "reduce_max(", "reduce_sum(", "rsqrt("})
    EXPECT_NE(text.find(primitive), std::string::npos) << primitive;
}

}  // namespace
}  // namespace ember::testing
