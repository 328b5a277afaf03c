// ember::compile against eager and against hand-written loops, in one run (2 threads in the
// README's figures): the f32 chain gelu(x*a+b)*sigmoid(x) on 16M elements, softmax and layer_norm
// on 8192 x 1024 (issue 5's bars: >= 0.8x the hand-written -O3 -march=native -ffast-math OpenMP
// loop, >= 2x eager), the cold compile of a ~20-op graph, the call overhead of a replay (cache hit
// plus guard check) for a 2-input graph, and, in child processes of this binary, the warm start
// of a function whose kernels are in the disk cache.
#include <benchmark/benchmark.h>
#include <omp.h>
#include <stdlib.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "ember/codegen/llvm_backend.h"
#include "ember/ember.h"

namespace {

using namespace ember;
constexpr int64_t kBig = 16 << 20, kRows = 8192, kCols = 1024;

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// ---- gelu(x*a+b)*sigmoid(x) ----

Tensor chain(const Tensor& x) { return gelu(x * 1.5 + 0.25) * sigmoid(x); }

void BM_ChainEager(benchmark::State& state) {
  const Tensor x = randn({kBig});
  for (auto _ : state) benchmark::DoNotOptimize(chain(x).data_ptr());
  state.SetBytesProcessed(state.iterations() * 2 * kBig * 4);
}
BENCHMARK(BM_ChainEager)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ChainCompiled(benchmark::State& state) {
  const Tensor x = randn({kBig});
  auto f = compile(chain);
  f(x);
  codegen::wait_for_background_compiles();  // time the optimized tier
  for (auto _ : state) benchmark::DoNotOptimize(f(x).data_ptr());
  state.SetBytesProcessed(state.iterations() * 2 * kBig * 4);
}
BENCHMARK(BM_ChainCompiled)->Unit(benchmark::kMillisecond)->UseRealTime();

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

// ---- softmax over rows ----

Tensor softmax_rows(const Tensor& x) { return softmax(x, -1); }

void BM_SoftmaxEager(benchmark::State& state) {
  const Tensor x = randn({kRows, kCols});
  for (auto _ : state) benchmark::DoNotOptimize(softmax_rows(x).data_ptr());
  state.SetBytesProcessed(state.iterations() * 2 * x.numel() * 4);
}
BENCHMARK(BM_SoftmaxEager)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_SoftmaxCompiled(benchmark::State& state) {
  const Tensor x = randn({kRows, kCols});
  auto f = compile(softmax_rows);
  f(x);
  codegen::wait_for_background_compiles();
  for (auto _ : state) benchmark::DoNotOptimize(f(x).data_ptr());
  state.SetBytesProcessed(state.iterations() * 2 * x.numel() * 4);
}
BENCHMARK(BM_SoftmaxCompiled)->Unit(benchmark::kMillisecond)->UseRealTime();

// A hand-written fused loop over the rows of x: row_fn(input row, output row), OpenMP on the
// pool's thread count.
template <class RowFn>
void hand_written_rows(benchmark::State& state, const Tensor& x, RowFn row_fn) {
  std::vector<float> out(size_t(x.numel()));
  const float* in = x.data_ptr<float>();
  const int threads = get_num_threads();
  for (auto _ : state) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < kRows; ++r) row_fn(in + r * kCols, out.data() + r * kCols);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * 2 * x.numel() * 4);
}

void BM_SoftmaxHandWritten(benchmark::State& state) {
  hand_written_rows(state, randn({kRows, kCols}), [](const float* row, float* o) {
    float mx = -INFINITY;
    for (int64_t j = 0; j < kCols; ++j) mx = std::max(mx, row[j]);
    float sum = 0;
    for (int64_t j = 0; j < kCols; ++j) sum += (o[j] = std::exp(row[j] - mx));
    const float inv = 1.0f / sum;
    for (int64_t j = 0; j < kCols; ++j) o[j] *= inv;
  });
}
BENCHMARK(BM_SoftmaxHandWritten)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- layer_norm over rows, with weight and bias ----

void BM_LayerNormEager(benchmark::State& state) {
  const Tensor x = randn({kRows, kCols}), w = randn({kCols}), b = randn({kCols});
  for (auto _ : state) benchmark::DoNotOptimize(layer_norm(x, {kCols}, w, b, 1e-5).data_ptr());
  state.SetBytesProcessed(state.iterations() * 2 * x.numel() * 4);
}
BENCHMARK(BM_LayerNormEager)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_LayerNormCompiled(benchmark::State& state) {
  const Tensor x = randn({kRows, kCols}), w = randn({kCols}), b = randn({kCols});
  auto f = compile([&](const Tensor& in) { return layer_norm(in, {kCols}, w, b, 1e-5); });
  f(x);
  codegen::wait_for_background_compiles();
  for (auto _ : state) benchmark::DoNotOptimize(f(x).data_ptr());
  state.SetBytesProcessed(state.iterations() * 2 * x.numel() * 4);
}
BENCHMARK(BM_LayerNormCompiled)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_LayerNormHandWritten(benchmark::State& state) {
  const Tensor w = randn({kCols}), b = randn({kCols});
  const float *pw = w.data_ptr<float>(), *pb = b.data_ptr<float>();
  hand_written_rows(state, randn({kRows, kCols}), [&](const float* row, float* o) {
    float sum = 0;
    for (int64_t j = 0; j < kCols; ++j) sum += row[j];
    const float mean = sum / float(kCols);
    float sq = 0;
    for (int64_t j = 0; j < kCols; ++j) sq += (row[j] - mean) * (row[j] - mean);
    const float inv = 1.0f / std::sqrt(sq / float(kCols) + 1e-5f);
    for (int64_t j = 0; j < kCols; ++j) o[j] = (row[j] - mean) * inv * pw[j] + pb[j];
  });
}
BENCHMARK(BM_LayerNormHandWritten)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- compile latency and call overhead ----

// A ~20-op graph: an MLP-style block with a normalization and activations (3 kernels and a
// matmul). `k` appears in every kernel, so a new k makes every compile cold (nothing in the
// memory or disk cache).
Tensor twenty_ops(const Tensor& x, const Tensor& w, double k) {
  const Tensor h = matmul(x, w) * k + 0.5;
  const Tensor a = gelu(h) + tanh(h) * k;
  const Tensor n = layer_norm(a * k, {64}, Tensor(), Tensor(), 1e-5);
  return softmax(n * (2 * k) - x.mean(-1, true), -1) + sigmoid(n) * k;
}

void BM_CompileCold(benchmark::State& state) {
  const Tensor x = randn({32, 64}), w = randn({64, 64});
  CompileOptions options;
  options.disk_cache = false;
  double k = 1 + 1e-3 * double(codegen::cpu_compile_count());
  for (auto _ : state) {
    k += 1e-6;
    auto f = compile([&, k](const Tensor& in) { return twenty_ops(in, w, k); }, options);
    benchmark::DoNotOptimize(f(x).data_ptr());
    state.PauseTiming();  // the optimized tiers compile in the background: not timed, and not
    codegen::wait_for_background_compiles();  // left to slow the next iteration down
    state.ResumeTiming();
  }
}
BENCHMARK(BM_CompileCold)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(10);

// A replay of a 2-input, 1-kernel graph on 16 elements: signature, entry lookup, guards, plan.
void BM_ReplayCall(benchmark::State& state) {
  const Tensor x = randn({16}), y = randn({16});
  auto f = compile([](const Tensor& a, const Tensor& b) { return a * b + 1; });
  f(x, y);
  codegen::wait_for_background_compiles();
  for (auto _ : state) benchmark::DoNotOptimize(f(x, y).data_ptr());
}
BENCHMARK(BM_ReplayCall)->Unit(benchmark::kNanosecond)->UseRealTime();

// The dispatch alone: a 2-input function whose plan launches nothing (it returns its first
// input), so the time is the signature, the entry lookup, the guard checks and the plan's
// bookkeeping.
void BM_ReplayDispatch(benchmark::State& state) {
  const Tensor x = randn({16}), y = randn({16});
  auto f = compile([](const Tensor& a, const Tensor& b) { return std::make_tuple(a, b); });
  f(x, y);
  codegen::wait_for_background_compiles();
  for (auto _ : state) benchmark::DoNotOptimize(std::get<0>(f(x, y)).data_ptr());
}
BENCHMARK(BM_ReplayDispatch)->Unit(benchmark::kNanosecond)->UseRealTime();

// A replay whose plan checks a guard: the data-dependent branch of
// `if (bool(x.sum() > 0))` (the sum, the comparison, the guard, then the branch's kernel).
void BM_ReplayWithGuard(benchmark::State& state) {
  const Tensor x = randn({16}).abs(), y = randn({16});
  auto f = compile([](const Tensor& a, const Tensor& b) {
    if (bool(a.sum() > 0)) return a * b + 1;
    return a - b;
  });
  f(x, y);
  codegen::wait_for_background_compiles();
  for (auto _ : state) benchmark::DoNotOptimize(f(x, y).data_ptr());
}
BENCHMARK(BM_ReplayWithGuard)->Unit(benchmark::kNanosecond)->UseRealTime();

// The same computation eagerly (two ops), for scale.
void BM_EagerCall(benchmark::State& state) {
  const Tensor x = randn({16}), y = randn({16});
  for (auto _ : state) benchmark::DoNotOptimize((x * y + 1).data_ptr());
}
BENCHMARK(BM_EagerCall)->Unit(benchmark::kNanosecond)->UseRealTime();

// ---- warm start: a new process whose kernels are in the disk cache ----

// In a child: the first call of a compiled twenty_ops (trace, passes, plan, kernels loaded from
// the disk cache), timed after the JIT itself has started (its one-time set-up is reported
// apart).
int warm_start_child() {
  const auto start = std::chrono::steady_clock::now();
  auto warm_jit = compile([](const Tensor& x) { return x + 1; });
  warm_jit(ones({4}));
  codegen::wait_for_background_compiles();
  const double jit_start = ms_since(start);
  const int64_t compiles = codegen::cpu_compile_count(), hits = codegen::cpu_disk_cache_hits();
  manual_seed(1);
  const Tensor x = randn({32, 64}), w = randn({64, 64});
  const auto t0 = std::chrono::steady_clock::now();
  auto f = compile([&](const Tensor& in) { return twenty_ops(in, w, 1.0); });
  benchmark::DoNotOptimize(f(x).data_ptr());
  const double first_call = ms_since(t0);
  codegen::wait_for_background_compiles();  // the optimized tiers, counted and cached
  std::printf("%.3f %.3f %lld %lld\n", first_call, jit_start,
              static_cast<long long>(codegen::cpu_compile_count() - compiles),
              static_cast<long long>(codegen::cpu_disk_cache_hits() - hits));
  return 0;
}

void report_warm_start(const char* self) {
  namespace fs = std::filesystem;
  std::string dir = (fs::temp_directory_path() / "ember-bench-cache-XXXXXX").string();
  if (!mkdtemp(dir.data())) return;
  const std::string cmd =
      "EMBER_CACHE_DIR='" + dir + "' '" + std::string(self) + "' --warm-start-child";
  double first_call[3] = {}, jit_start[3] = {};
  long long compiles[3] = {}, hits[3] = {};
  for (int run = 0; run < 3; ++run) {  // run 0 fills the cache; runs 1 and 2 start warm
    FILE* p = popen(cmd.c_str(), "r");
    if (!p || std::fscanf(p, "%lf %lf %lld %lld", &first_call[run], &jit_start[run], &compiles[run],
                          &hits[run]) != 4) {
      std::printf("warm start: the child process failed\n");
      if (p) pclose(p);
      fs::remove_all(dir);
      return;
    }
    pclose(p);
  }
  std::printf(
      "twenty_ops first call in a new process: cold %.2f ms (%lld kernels compiled); warm from "
      "the disk cache %.2f / %.2f ms (%lld / %lld compiled, %lld / %lld loaded); JIT start-up "
      "%.2f ms apart\n",
      first_call[0], compiles[0], first_call[1], first_call[2], compiles[1], compiles[2], hits[1],
      hits[2], jit_start[1]);
  fs::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--warm-start-child") == 0) return warm_start_child();
  // The warm-start report runs unless a benchmark filter leaves it out.
  bool warm_start = true;
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--benchmark_filter=", 19) == 0)
      warm_start = std::strstr(argv[i], "Warm") != nullptr;
  if (warm_start) report_warm_start(argv[0]);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
