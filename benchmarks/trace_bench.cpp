// Tracing cost: time per recorded op when tracing a chain of elementwise ops, and an MLP block
// whose ops include promotion casts, constants and a composite's decomposition. The figure that
// matters is the "ns/op" counter: total trace time over the number of nodes the graph got.
#include <benchmark/benchmark.h>

#include "ember/ember.h"

namespace {

void BM_TraceElementwiseChain(benchmark::State& state) {
  const int64_t n = state.range(0);
  const ember::Tensor x = ember::randn({64, 64}), y = ember::randn({64, 64});
  const ember::TraceableFn fn = [n](const std::vector<ember::Tensor>& in) {
    ember::Tensor a = in[0];
    for (int64_t i = 0; i < n; ++i) a = (i % 2) ? a * in[1] : a + in[1];
    return std::vector<ember::Tensor>{a};
  };
  size_t nodes = 0;
  for (auto _ : state) {
    ember::TracedGraph g = ember::trace(fn, {x, y});
    nodes = g.graph->nodes().size();
    benchmark::DoNotOptimize(g.graph.get());
  }
  state.counters["nodes"] = double(nodes);
  state.counters["ns/op"] = benchmark::Counter(
      double(nodes), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_TraceElementwiseChain)->Arg(16)->Arg(256);

void BM_TraceMlpBlock(benchmark::State& state) {
  const ember::Tensor x = ember::randn({32, 64}), w1 = ember::randn({64, 128}),
                      b1 = ember::randn({128}), w2 = ember::randn({128, 10});
  const ember::TraceableFn fn = [&](const std::vector<ember::Tensor>& in) {
    const ember::Tensor h = ember::gelu(ember::matmul(in[0], w1) + b1);
    return std::vector<ember::Tensor>{ember::log_softmax(ember::matmul(h, w2), -1)};
  };
  size_t nodes = 0;
  for (auto _ : state) {
    ember::TracedGraph g = ember::trace(fn, {x});
    nodes = g.graph->nodes().size();
    benchmark::DoNotOptimize(g.graph.get());
  }
  state.counters["nodes"] = double(nodes);
  state.counters["ns/op"] = benchmark::Counter(
      double(nodes), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_TraceMlpBlock);

}  // namespace

BENCHMARK_MAIN();
