// Eager-mode benchmarks, with the baselines they are judged against measured in the same run:
// a binary op on 16M floats (output allocation included) against memcpy bandwidth, per-op
// overhead on 16-element tensors, matmul 1024^3 against calling OpenBLAS directly, and the fused
// eager composites. A summary of the ratios follows the table.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "ember/ember.h"

namespace {

constexpr int64_t kBig = 16 << 20;  // 16M elements, 64 MB in float32

// memcpy of 64 MB split across the pool's threads: the bandwidth baseline. Bytes counted are the
// bytes read plus the bytes written.
void BM_MemcpyParallel(benchmark::State& state) {
  std::vector<float> src(kBig, 1.0f), dst(kBig, 0.0f);
  for (auto _ : state) {
    ember::parallel_for(0, kBig, 1 << 16, [&](int64_t b, int64_t e) {
      std::memcpy(dst.data() + b, src.data() + b, size_t(e - b) * sizeof(float));
    });
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * 2 * kBig * int64_t(sizeof(float)));
}
BENCHMARK(BM_MemcpyParallel)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_MemcpySingleThread(benchmark::State& state) {
  std::vector<float> src(kBig, 1.0f), dst(kBig, 0.0f);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), kBig * sizeof(float));
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * 2 * kBig * int64_t(sizeof(float)));
}
BENCHMARK(BM_MemcpySingleThread)->Unit(benchmark::kMillisecond)->UseRealTime();

// c = a + b on 16M floats; the output is allocated every iteration (from the caching allocator).
void BM_EagerAdd16M(benchmark::State& state) {
  const ember::Tensor a = ember::rand({kBig}), b = ember::rand({kBig});
  for (auto _ : state) {
    ember::Tensor c = a + b;
    benchmark::DoNotOptimize(c.data_ptr());
  }
  state.SetBytesProcessed(state.iterations() * 3 * kBig * int64_t(sizeof(float)));
}
BENCHMARK(BM_EagerAdd16M)->Unit(benchmark::kMillisecond)->UseRealTime();

// The same add with the allocator's cache off: every output is fresh memory and pays its page
// faults, as an allocator without a cache would (the reason the caching allocator exists).
void BM_EagerAdd16MUncached(benchmark::State& state) {
  const ember::Tensor a = ember::rand({kBig}), b = ember::rand({kBig});
  auto& allocator = ember::CachingCpuAllocator::instance();
  allocator.set_cache_limit(0);
  for (auto _ : state) {
    ember::Tensor c = a + b;
    benchmark::DoNotOptimize(c.data_ptr());
  }
  allocator.set_cache_limit(size_t(4) << 30);
  state.SetBytesProcessed(state.iterations() * 3 * kBig * int64_t(sizeof(float)));
}
BENCHMARK(BM_EagerAdd16MUncached)->Unit(benchmark::kMillisecond)->UseRealTime();

// Dispatch overhead: everything but arithmetic, on 16-element tensors.
void BM_EagerAdd16(benchmark::State& state) {
  const ember::Tensor a = ember::rand({16}), b = ember::rand({16});
  for (auto _ : state) {
    ember::Tensor c = a + b;
    benchmark::DoNotOptimize(c.data_ptr());
  }
}
BENCHMARK(BM_EagerAdd16);

void BM_EagerMulScalar16(benchmark::State& state) {
  const ember::Tensor a = ember::rand({16});
  for (auto _ : state) {
    ember::Tensor c = a * 2.0;
    benchmark::DoNotOptimize(c.data_ptr());
  }
}
BENCHMARK(BM_EagerMulScalar16);

// The same with autograd recording: one input requires grad, so every call also records a
// backward node (what the tape costs per op, beside the dispatch above).
void BM_EagerAdd16Grad(benchmark::State& state) {
  const ember::Tensor a = ember::rand({16}).set_requires_grad(true), b = ember::rand({16});
  for (auto _ : state) {
    ember::Tensor c = a + b;
    benchmark::DoNotOptimize(c.data_ptr());
  }
}
BENCHMARK(BM_EagerAdd16Grad);

void BM_EagerMulScalar16Grad(benchmark::State& state) {
  const ember::Tensor a = ember::rand({16}).set_requires_grad(true);
  for (auto _ : state) {
    ember::Tensor c = a * 2.0;
    benchmark::DoNotOptimize(c.data_ptr());
  }
}
BENCHMARK(BM_EagerMulScalar16Grad);

// A requires-grad input under NoGradGuard: the check that nothing records.
void BM_EagerAdd16NoGradGuard(benchmark::State& state) {
  const ember::Tensor a = ember::rand({16}).set_requires_grad(true), b = ember::rand({16});
  ember::NoGradGuard no_grad;
  for (auto _ : state) {
    ember::Tensor c = a + b;
    benchmark::DoNotOptimize(c.data_ptr());
  }
}
BENCHMARK(BM_EagerAdd16NoGradGuard);

// Forward and backward of a 4-op chain on 16 elements: the tape's whole cost per step.
void BM_EagerBackward16(benchmark::State& state) {
  const ember::Tensor a = ember::rand({16}).set_requires_grad(true), b = ember::rand({16});
  for (auto _ : state) {
    ember::Tensor loss = ((a * b + 1.0).exp()).sum();
    loss.backward();
    benchmark::DoNotOptimize(a.grad().data_ptr());
  }
}
BENCHMARK(BM_EagerBackward16);

// An AdamW step over a GPT-small-like parameter set (6.3M floats in 26 tensors, most small; beyond
// the caches): the fused update (one pass over every parameter) against the same update as Tensor
// ops.
void adamw_step(benchmark::State& state, bool fused) {
  std::vector<ember::Tensor> params;
  for (int layer = 0; layer < 2; ++layer)
    for (int64_t n : {256 * 768, 768, 256 * 256, 256, 256 * 1024, 1024, 1024 * 256, 256, 256, 256,
                      256, 256, 256})
      params.push_back(ember::randn({4 * n}).set_requires_grad(true));
  for (auto& p : params) p.mutable_grad() = ember::randn({p.numel()});
  ember::optim::AdamW opt(params, ember::optim::AdamWOptions(1e-3).fused(fused));
  int64_t n = 0;
  for (const auto& p : params) n += p.numel();
  for (auto _ : state) opt.step();
  // Read p, g, m, v; write p, m, v.
  state.SetBytesProcessed(state.iterations() * 7 * n * int64_t(sizeof(float)));
}
void BM_AdamWStepFused(benchmark::State& state) { adamw_step(state, true); }
void BM_AdamWStepTensorOps(benchmark::State& state) { adamw_step(state, false); }
BENCHMARK(BM_AdamWStepFused)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_AdamWStepTensorOps)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_MatmulEmber1024(benchmark::State& state) {
  const ember::Tensor a = ember::randn({1024, 1024}), b = ember::randn({1024, 1024});
  for (auto _ : state) {
    ember::Tensor c = ember::matmul(a, b);
    benchmark::DoNotOptimize(c.data_ptr());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * 1024 * 1024 * 1024 * double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_MatmulEmber1024)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_MatmulOpenBLAS1024(benchmark::State& state) {
  const ember::Tensor a = ember::randn({1024, 1024}), b = ember::randn({1024, 1024});
  std::vector<float> c(1024 * 1024);
  openblas_set_num_threads(ember::get_num_threads());
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1024, 1024, 1024, 1.0f,
                a.data_ptr<float>(), 1024, b.data_ptr<float>(), 1024, 0.0f, c.data(), 1024);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * 1024 * 1024 * 1024 * double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_MatmulOpenBLAS1024)->Unit(benchmark::kMillisecond)->UseRealTime();

// The fused eager composites on 8192 x 1024 float32 (one read and one write of 32 MB each).
template <class F>
void composite(benchmark::State& state, F f) {
  const ember::Tensor x = ember::randn({8192, 1024});
  const ember::Tensor w = ember::randn({1024}), b = ember::randn({1024});
  for (auto _ : state) {
    ember::Tensor y = f(x, w, b);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  state.SetBytesProcessed(state.iterations() * 2 * x.numel() * int64_t(sizeof(float)));
}
void BM_EagerSoftmax(benchmark::State& s) {
  composite(s, [](auto& x, auto&, auto&) { return ember::softmax(x, -1); });
}
void BM_EagerLayerNorm(benchmark::State& s) {
  composite(s, [](auto& x, auto& w, auto& b) { return ember::layer_norm(x, {1024}, w, b); });
}
void BM_EagerGelu(benchmark::State& s) {
  composite(s, [](auto& x, auto&, auto&) { return ember::gelu(x); });
}
BENCHMARK(BM_EagerSoftmax)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_EagerLayerNorm)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_EagerGelu)->Unit(benchmark::kMillisecond)->UseRealTime();

// Keeps every run's time and byte rate to print the ratios at the end.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration && r.aggregate_name != "median") continue;
      const std::string name = r.benchmark_name().substr(0, r.benchmark_name().find('/'));
      seconds_[name] =
          r.GetAdjustedRealTime() / (r.time_unit == benchmark::kMillisecond ? 1e3 : 1e9);
      auto it = r.counters.find("bytes_per_second");
      if (it != r.counters.end()) gbps_[name] = double(it->second) / 1e9;
    }
    ConsoleReporter::ReportRuns(runs);
  }
  void Summary() const {
    auto get = [](const std::map<std::string, double>& m, const char* k) {
      auto it = m.find(k);
      return it == m.end() ? 0.0 : it->second;
    };
    // The faster of the two memcpys is the bar.
    const double memcpy_bw =
        std::max(get(gbps_, "BM_MemcpyParallel"), get(gbps_, "BM_MemcpySingleThread"));
    const double add_bw = get(gbps_, "BM_EagerAdd16M");
    std::printf("\nSummary (%d threads)\n", ember::get_num_threads());
    if (memcpy_bw > 0 && add_bw > 0)
      std::printf("  eager add 16M f32:   %.2f GB/s = %.0f%% of memcpy (%.2f GB/s; 1 GB = 1e9 B)\n",
                  add_bw, 100 * add_bw / memcpy_bw, memcpy_bw);
    const double uncached = get(seconds_, "BM_EagerAdd16MUncached");
    if (uncached > 0 && get(seconds_, "BM_EagerAdd16M") > 0)
      std::printf("  same add, cache off: %.2f ms vs %.2f ms cached (fresh huge pages each call)\n",
                  uncached * 1e3, get(seconds_, "BM_EagerAdd16M") * 1e3);
    if (get(seconds_, "BM_EagerAdd16") > 0)
      std::printf("  per-op overhead:     %.0f ns (add of two 16-element tensors)\n",
                  get(seconds_, "BM_EagerAdd16") * 1e9);
    const double mm = get(seconds_, "BM_MatmulEmber1024"),
                 blas = get(seconds_, "BM_MatmulOpenBLAS1024");
    if (mm > 0 && blas > 0)
      std::printf("  matmul 1024^3:       %.2f ms vs OpenBLAS %.2f ms (%.1f%% slower)\n", mm * 1e3,
                  blas * 1e3, 100 * (mm / blas - 1));
    const double fused = get(seconds_, "BM_AdamWStepFused"),
                 ops = get(seconds_, "BM_AdamWStepTensorOps");
    if (fused > 0 && ops > 0)
      std::printf(
          "  AdamW step 6.3M:     fused %.2f ms vs Tensor ops %.2f ms (%.1fx); %.0f%% of memcpy\n",
          fused * 1e3, ops * 1e3, ops / fused,
          memcpy_bw > 0 ? 100 * get(gbps_, "BM_AdamWStepFused") / memcpy_bw : 0.0);
  }

 private:
  std::map<std::string, double> seconds_, gbps_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.Summary();
  benchmark::Shutdown();
  return 0;
}
