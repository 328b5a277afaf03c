// Compiled kernels against eager and against hand-written loops, in one run: the f32 chain
// gelu(x*a+b)*sigmoid(x) on 16M elements (issue 5's target: >= 0.8x a hand-written -O3
// -march=native -ffast-math OpenMP loop), and softmax / layer_norm on 8192 x 1024 (>= 0.8x a
// hand-written fused loop, >= 2x eager). Compile times are printed once, before the table.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <chrono>
#include <cmath>

#include "ember/codegen/llvm_backend.h"
#include "ember/ember.h"
#include "ember/passes/fuse.h"
#include "ember/passes/pipeline.h"

namespace {

using namespace ember;
constexpr int64_t kBig = 16 << 20;

struct Compiled {
  std::shared_ptr<ir::Graph> graph;
  codegen::LoweredKernel element;
  codegen::LoweredRowKernel row;
  codegen::InnerLoopFn element_fn = nullptr;
  codegen::RowKernelFn row_fn = nullptr;
};

// Traces fn, runs the pipeline, compiles its single kernel; prints the cold compile time.
Compiled compile_single(const char* name, const TraceableFn& fn, const std::vector<Tensor>& in,
                        bool rows) {
  const auto start = std::chrono::steady_clock::now();
  Compiled c;
  c.graph = trace(fn, in).graph;
  passes::run_pipeline(*c.graph);
  if (rows) {
    c.row = codegen::lower_rows(*c.graph, 0);
    c.row_fn = codegen::compile_rows(c.row.ir);
  } else {
    c.element = codegen::lower_elementwise(*c.graph, 0);
    c.element_fn = codegen::compile_cpu(c.element.ir);
  }
  const double ms =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() * 1e3;
  std::printf("%s: trace + passes + LLVM compile %.1f ms (%d kernel)\n", name, ms,
              passes::count_kernels(*c.graph));
  return c;
}

Tensor chain_eager(const Tensor& x, double a, double b) { return gelu(x * a + b) * sigmoid(x); }

void BM_ChainEager(benchmark::State& state) {
  const Tensor x = randn({kBig});
  for (auto _ : state) benchmark::DoNotOptimize(chain_eager(x, 1.5, 0.25).data_ptr());
  state.SetBytesProcessed(state.iterations() * 2 * kBig * 4);
}
BENCHMARK(BM_ChainEager)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ChainCompiled(benchmark::State& state) {
  const Tensor x = randn({kBig});
  static const Compiled c = compile_single(
      "gelu(x*a+b)*sigmoid(x)",
      [](const std::vector<Tensor>& in) -> std::vector<Tensor> {
        return {chain_eager(in[0], 1.5, 0.25)};
      },
      {x}, false);
  for (auto _ : state) {
    Array out = Array::empty({kBig}, kFloat32);
    codegen::run_elementwise(c.element_fn, {x.array(), out}, {kBig});
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * 2 * kBig * 4);
}
BENCHMARK(BM_ChainCompiled)->Unit(benchmark::kMillisecond)->UseRealTime();

// The same chain by hand: one loop, -O3 -march=native -ffast-math, OpenMP on the pool's thread
// count.
void BM_ChainHandWritten(benchmark::State& state) {
  const Tensor x = randn({kBig});
  std::vector<float> out(kBig);
  const float* in = x.data_ptr<float>();
  const int threads = get_num_threads();
  for (auto _ : state) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < kBig; ++i) {
      const float v = in[i], t = v * 1.5f + 0.25f;
      out[size_t(i)] = 0.5f * t * (1.0f + std::erf(t * 0.70710678f)) / (1.0f + std::exp(-v));
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * 2 * kBig * 4);
}
BENCHMARK(BM_ChainHandWritten)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_SoftmaxEager(benchmark::State& state) {
  const Tensor x = randn({8192, 1024});
  for (auto _ : state) benchmark::DoNotOptimize(softmax(x, -1).data_ptr());
  state.SetBytesProcessed(state.iterations() * 2 * x.numel() * 4);
}
BENCHMARK(BM_SoftmaxEager)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_SoftmaxCompiled(benchmark::State& state) {
  const Tensor x = randn({8192, 1024});
  static const Compiled c = compile_single(
      "softmax",
      [](const std::vector<Tensor>& in) -> std::vector<Tensor> { return {softmax(in[0], -1)}; },
      {x}, true);
  for (auto _ : state) {
    Array out = Array::empty({8192, 1024}, kFloat32);
    codegen::run_rows(c.row_fn, c.row.ir, {x.array(), out}, ir::evaluate_shape(c.row.domain),
                      c.row.reduced);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * 2 * x.numel() * 4);
}
BENCHMARK(BM_SoftmaxCompiled)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_SoftmaxHandWritten(benchmark::State& state) {
  const Tensor x = randn({8192, 1024});
  std::vector<float> out(size_t(x.numel()));
  const float* in = x.data_ptr<float>();
  const int threads = get_num_threads();
  for (auto _ : state) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < 8192; ++r) {
      const float* row = in + r * 1024;
      float* o = out.data() + r * 1024;
      float mx = -INFINITY;
      for (int j = 0; j < 1024; ++j) mx = std::max(mx, row[j]);
      float sum = 0;
      for (int j = 0; j < 1024; ++j) sum += (o[j] = std::exp(row[j] - mx));
      const float inv = 1.0f / sum;
      for (int j = 0; j < 1024; ++j) o[j] *= inv;
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * 2 * x.numel() * 4);
}
BENCHMARK(BM_SoftmaxHandWritten)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
